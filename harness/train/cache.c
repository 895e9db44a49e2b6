/*
 * cache.c - trained zoo models cached under one directory, the same
 * whatever the current directory: $QB_MODEL_CACHE, else datasets/models/
 * of the checkout the binary belongs to, else $XDG_CACHE_HOME/qbench
 * (~/.cache/qbench): one ONNX file per recipe, named
 * MODEL-DATASET-HASH.onnx with HASH the FNV-1a hash of the recipe line
 * (zoo_train.c). A cached file is reused only when it loads and the
 * recipe line in its metadata equals the job's exactly (so a hash
 * collision, a truncated file or an older code version retrains); it is
 * written through a temporary file and a rename, so an interrupted run
 * leaves no half model behind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/data/files.h"
#include "harness/graph/graph.h"
#include "harness/train/train.h"

/* Is dir a qbench checkout (has Makefile, harness/main.c and datasets/)? */
static int is_checkout(const char *dir)
{
    char p[1200];
    static const char *const marks[] = {"Makefile", "harness/main.c", "datasets"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, marks[i]);
        if (access(p, F_OK))
            return 0;
    }
    return 1;
}

const char *qb_zoo_cache_dir(void)
{
    static char dir[1100]; /* rebuilt on every call: QB_MODEL_CACHE may change */
    const char *env = getenv("QB_MODEL_CACHE");
    if (env && *env) {
        snprintf(dir, sizeof dir, "%s", env);
        return dir;
    }
    /* the checkout the binary was built in: ./qbench or build/qbench */
    char exe[1024];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[k > 0 ? k : 0] = 0;
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash)
            break;
        *slash = 0;
        if (exe[0] && is_checkout(exe)) {
            snprintf(dir, sizeof dir, "%s/datasets/models", exe);
            return dir;
        }
    }
    /* an installed binary: the user's cache directory */
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/qbench", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/qbench", home);
    else
        snprintf(dir, sizeof dir, "datasets/models");
    return dir;
}

/* Characters safe in a file name; others become '_'. */
static void safe(const char *s, char *out, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++) {
        char c = s[i];
        out[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ? c : '_';
    }
    out[i] = 0;
}

void qb_zoo_cache_path(const qb_zoo_job *job, char *path, size_t len)
{
    char line[1024], m[64], d[64];
    qb_zoo_recipe_line(job, line, sizeof line);
    safe(job->model, m, sizeof m);
    safe(job->dataset, d, sizeof d);
    snprintf(path, len, "%s/%s-%s-%016llx.onnx", qb_zoo_cache_dir(), m, d, (unsigned long long)qb_fnv1a(QB_FNV_OFFSET, line, strlen(line)));
}

/* mkdir -p dir. 0, or -1 with err. */
static int mkdirs(const char *dir, char *err, size_t errlen)
{
    if (qb_mkdir_p(dir)) {
        snprintf(err, errlen, "%s: cannot create the model cache directory: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Does path hold a model trained with the recipe line? */
static int fresh(const char *path, const char *line)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fclose(f);
    qb_err e;
    qb_graph *g = qb_onnx_load(path, &e);
    if (!g)
        return 0;
    const char *r = qb_graph_get_meta(g, "qbench.recipe");
    int ok = r && !strcmp(r, line);
    qb_graph_free(g);
    return ok;
}

int qb_zoo_cached_job(const qb_zoo_job *job, int force, char *path_out, size_t len, char *err, size_t errlen)
{
    char line[1024];
    qb_zoo_recipe_line(job, line, sizeof line);
    qb_zoo_cache_path(job, path_out, len);
    if (!force && fresh(path_out, line)) {
        if (job->cfg.verbose)
            fprintf(stderr, "qbench train: cached %s\n", path_out);
        return 0;
    }
    if (mkdirs(qb_zoo_cache_dir(), err, errlen))
        return -1;
    return qb_zoo_train(job, path_out, NULL, NULL, err, errlen);
}

int qb_zoo_cached(const char *model, const char *dataset, const char *data_dir, const qb_train_cfg *cfg_or_NULL,
                  char *path_out, size_t len, int verbose, char *err, size_t errlen)
{
    qb_zoo_job job;
    if (qb_zoo_job_init(&job, model, dataset, data_dir, cfg_or_NULL)) {
        snprintf(err, errlen, "unknown model '%s' (models: %s)", model, qb_zoo_names());
        return -1;
    }
    job.cfg.verbose = verbose;
    return qb_zoo_cached_job(&job, 0, path_out, len, err, errlen);
}
