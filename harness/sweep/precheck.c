/*
 * precheck.c - the checks before a sweep's first cell (precheck.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/data/dataset.h"
#include "harness/graph/graph.h"
#include "harness/measure/energy.h"
#include "harness/quant/plan_apply.h"
#include "harness/sweep/precheck.h"
#include "harness/train/train.h"

/* A relative energy table not found here is looked up beside the binary
 * (./qbench or build/qbench in the repository), so sweeps started from
 * another directory find the default table. */
static void find_energy_table(qb_scenario *sc)
{
    if (sc->energy_model[0] == '/' || !access(sc->energy_model, R_OK))
        return;
    char exe[1024], cand[1600];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[k > 0 ? k : 0] = 0;
    char *slash = strrchr(exe, '/');
    for (int up = 0; slash && up < 2; up++) {
        *slash = 0;
        snprintf(cand, sizeof cand, "%s/%s", exe, sc->energy_model);
        if (!access(cand, R_OK)) {
            snprintf(sc->energy_model, sizeof sc->energy_model, "%.500s", cand);
            return;
        }
        slash = strrchr(exe, '/');
    }
}

/* Could `mkdir -p dir` succeed and files be written there? The nearest
 * existing ancestor must be a writable directory. Nothing is created.
 * 0, or -1 with the reason in why. */
static int dir_writable(const char *dir, char *why, size_t len)
{
    char p[1200];
    snprintf(p, sizeof p, "%s", dir[0] ? dir : ".");
    for (;;) {
        struct stat sb;
        if (!stat(p, &sb)) {
            if (!S_ISDIR(sb.st_mode)) {
                snprintf(why, len, "%.500s is not a directory", p);
                return -1;
            }
            if (access(p, W_OK | X_OK)) {
                snprintf(why, len, "%.500s: %s", p, strerror(errno));
                return -1;
            }
            return 0;
        }
        if (errno != ENOENT) {
            snprintf(why, len, "%.500s: %s", p, strerror(errno));
            return -1;
        }
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/') /* trailing slashes */
            p[--n] = 0;
        char *slash = strrchr(p, '/');
        if (!slash)
            snprintf(p, sizeof p, ".");
        else if (slash == p)
            p[1] = 0; /* "/" */
        else
            *slash = 0;
    }
}

/* The layer plan of model m (plan = FILE) against the model file at path
 * (its input spec applied to symbolic dimensions): a layer name or
 * pattern that names no layer is an error; a model whose layers cannot
 * be listed without its data is left to the cell. */
static int check_plan(const qb_scenario *sc, const qb_sc_model *m, const char *path, char *err, size_t errlen)
{
    qb_err e;
    qb_layer_plan lp;
    if (qb_layer_plan_load(m->plan, &lp, &e)) {
        snprintf(err, errlen, "%s:%d: model %s: %.600s", sc->file, m->line, m->name, e.msg);
        return -1;
    }
    qb_graph *g = qb_onnx_load(path, &e);
    int rc = 0;
    if (g) {
        qb_tensor *in = g->ninputs >= 1 ? g->tensors[g->inputs[0]] : NULL;
        for (int i = 1; in && in->ndim == m->ndim && i < m->ndim; i++)
            if (in->sym[i] || in->dims[i] <= 0)
                in->dims[i] = m->dims[i], in->sym[i] = 0, in->has_shape = 1;
        rc = qb_layer_plan_check(&lp, g, path, &e);
        qb_graph_free(g);
    }
    if (rc == -1)
        snprintf(err, errlen, "%s:%d: model %s: plan: %.600s", sc->file, m->line, m->name, e.msg);
    qb_layer_plan_free(&lp);
    return rc == -1 ? -1 : 0;
}

/* One model of the plan: its ONNX file, data folder and dataset; *writes
 * is set when a run would write into the model cache (a zoo model not
 * trained yet). */
static int check_model(const qb_scenario *sc, const qb_sc_model *m, int *writes, char *err, size_t errlen)
{
    char why[700];
    if (m->onnx[0]) {
        struct stat sb;
        int missing = stat(m->onnx, &sb);
        if (missing || S_ISDIR(sb.st_mode)) {
            snprintf(err, errlen, "%s:%d: model %s: onnx %.400s: %s", sc->file, m->line, m->name, m->onnx,
                     missing ? strerror(errno) : "is a directory");
            return -1;
        }
        qb_err e;
        qb_load_shapes = m->shapes.n ? &m->shapes : NULL; /* its shape = lines */
        qb_graph *g = qb_onnx_load(m->onnx, &e);
        qb_load_shapes = NULL;
        if (!g) {
            snprintf(err, errlen, "%s:%d: model %s: %.600s", sc->file, m->line, m->name, e.msg);
            return -1;
        }
        qb_graph_free(g);
        if (m->plan[0] && check_plan(sc, m, m->onnx, err, errlen))
            return -1;
    }
    if (m->data_dir[0]) {
        struct stat sb;
        int missing = stat(m->data_dir, &sb);
        if (missing || !S_ISDIR(sb.st_mode)) {
            snprintf(err, errlen, "%s:%d: model %s: data_dir %.400s: %s", sc->file, m->line, m->name, m->data_dir,
                     missing ? strerror(errno) : "not a directory");
            return -1;
        }
    }
    const char *dir = m->data_dir[0] ? m->data_dir : NULL;
    if (m->dataset[0] && strcmp(m->dataset, "none")) {
        qb_dataset d;
        if (qb_dataset_open(m->dataset, dir, QB_SPLIT_TEST, &d, why, sizeof why)) {
            snprintf(err, errlen, "%s:%d: model %s: dataset %s: %s", sc->file, m->line, m->name, m->dataset, why);
            return -1;
        }
        qb_dataset_free(&d);
    }
    if (m->zoo[0]) {
        qb_zoo_job job;
        char path[1400];
        if (qb_zoo_job_init(&job, m->zoo, m->dataset, dir, NULL)) {
            snprintf(err, errlen, "%s:%d: model %s: zoo %s on dataset %s: no such training recipe", sc->file,
                     m->line, m->name, m->zoo, m->dataset);
            return -1;
        }
        qb_zoo_cache_path(&job, path, sizeof path);
        if (access(path, R_OK))
            *writes = 1;
        else if (m->plan[0] && check_plan(sc, m, path, err, errlen)) /* not trained yet: checked when it is */
            return -1;
    }
    return 0;
}

int qb_sweep_precheck(qb_scenario *sc, const qb_plan *plan, const char *dir, char *err, size_t errlen)
{
    char why[700];
    find_energy_table(sc);
    qb_energy_table et; /* FILE:LINE messages of its own */
    if (qb_energy_load(sc->energy_model, &et, err, errlen))
        return -1;
    int used[QB_SC_MAX_MODELS] = {0}, cache_writes = 0;
    for (int i = 0; i < plan->n; i++) {
        const qb_cell *c = &plan->cells[i];
        if (sc->models[c->model].kernel[0])
            continue;
        used[c->model] = 1;
        if (c->prec != QB_PREC_FP32) /* the quantized-model cache */
            cache_writes = 1;
    }
    for (int k = 0; k < sc->nmodels; k++)
        if (used[k] && check_model(sc, &sc->models[k], &cache_writes, err, errlen))
            return -1;
    if (cache_writes && dir_writable(qb_zoo_cache_dir(), why, sizeof why)) {
        snprintf(err, errlen, "model cache %.400s: cannot write there: %s (set QB_MODEL_CACHE)", qb_zoo_cache_dir(),
                 why);
        return -1;
    }
    if (dir_writable(dir, why, sizeof why)) {
        snprintf(err, errlen, "output directory %.400s: cannot create or write: %s", dir, why);
        return -1;
    }
    return 0;
}
