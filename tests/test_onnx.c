/*
 * test_onnx.c - the ONNX backend node tests (Debian's libonnx-testdata) as
 * conformance suite: for every case directory (model.onnx plus
 * test_data_set_N directories of input_N.pb and output_N.pb) whose operators qbench
 * supports, run the model on each data set and compare every output
 * within rtol 1e-4 / atol 1e-5 (float32, float16, double; integer and
 * bool outputs exactly). A case is skipped when qbench reports an error
 * of an unsupported kind (qb_err.kind: an operator, element type,
 * attribute, shape, run-time input or model feature qbench does not
 * implement; never decided by the message's wording), when its expected
 * output has a type qbench does not compute, or when it is on the
 * known_bad list below; any other error fails it. -v lists why. Ends with
 * "N passed, N failed, N skipped", the skips counted by kind and their
 * reasons grouped (each reason once, with its count and the cases); exit
 * 1 if any failed. Float inputs are read-only mappings (protect_inputs):
 * the graph reads them in place and must neither write nor over-read them.
 * Usage: test_onnx [-v] [-k FILTER] [-x CASE] DIR...  (-x: exactly that case;
 * every failure prints the command that runs it alone: "repro: ...")
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/graph/ops.h"

#define RTOL 1e-4
#define ATOL 1e-5
#define MAXT 16

static int verbose;
static const char *self; /* argv[0], for the repro line of a failure */
static const char *exact; /* -x CASE: run only the case of that name */

/* Skip reasons, grouped: the reason without file names and node names. */
typedef struct skip_group {
    char reason[256];  /* normalized reason */
    int count;         /* cases skipped for it */
    char cases[512];   /* their names, comma separated (truncated with "...") */
} skip_group;
static skip_group *groups;
static int ngroups;
/* Skips by kind: QB_ERR_UNSUPPORTED_* of the error, and two of the runner's own. */
enum { SKIP_KNOWN_BAD = QB_ERR_KIND_COUNT, SKIP_OUTPUT_TYPE, SKIP_NO_DATA, SKIP_KINDS };
static int kind_count[SKIP_KINDS];

static const char *skip_kind_name(int k)
{
    return k == SKIP_KNOWN_BAD ? "expected output wrong in this ONNX release"
           : k == SKIP_OUTPUT_TYPE ? "expected output of another type"
           : k == SKIP_NO_DATA ? "no test data"
                               : qb_err_kind_name((qb_err_kind)k);
}

/* The reason of a skip message without the path prefix, the node name and
 * the list of supported operators. */
static void normalize(const char *msg, char *out, size_t len)
{
    const char *p = msg, *q;
    while ((q = strstr(p, ": ")) && (strchr(p, '/') && strchr(p, '/') < q))
        p = q + 2; /* "/path/model.onnx: " prefixes */
    if (!strncmp(p, "node '", 6) && (q = strstr(p, ": ")))
        p = q + 2; /* "node 'x' (Op): " */
    snprintf(out, len, "%s", p);
    char *cut = strstr(out, "; supported:");
    if (cut)
        *cut = 0;
    /* names in quotes ('x') become '' so that one reason groups the cases */
    for (char *a = strchr(out, '\''), *b; a && (b = strchr(a + 1, '\'')); a = strchr(a + 2, '\''))
        memmove(a + 1, b, strlen(b) + 1);
}

static void add_skip(const char *name, const char *msg, int kind)
{
    kind_count[kind]++;
    char r[256];
    normalize(msg, r, sizeof r);
    int i = 0;
    while (i < ngroups && strcmp(groups[i].reason, r))
        i++;
    if (i == ngroups) {
        skip_group *ng = realloc(groups, (ngroups + 1) * sizeof *groups);
        if (!ng)
            return;
        groups = ng;
        memset(&groups[ngroups], 0, sizeof *groups);
        snprintf(groups[ngroups++].reason, sizeof r, "%s", r);
    }
    skip_group *sg = &groups[i];
    size_t l = strlen(sg->cases);
    if (l + strlen(name) + 8 < sizeof sg->cases)
        snprintf(sg->cases + l, sizeof sg->cases - l, "%s%s", l ? ", " : "", name);
    else if (!strstr(sg->cases, "..."))
        snprintf(sg->cases + l, sizeof sg->cases - l, ", ...");
    sg->count++;
}

static int by_count(const void *a, const void *b)
{
    const skip_group *x = a, *y = b;
    return x->count != y->count ? y->count - x->count : strcmp(x->reason, y->reason);
}

/* Cases whose expected outputs are wrong in this ONNX release (1.12):
 * skipped with the reason, never counted as passes. */
static const struct {
    const char *prefix; /* case name prefix */
    const char *why;    /* the reason, measured */
} known_bad[] = {
    {"test_hannwindow", "the expected output of ONNX 1.12 was computed with pi = 3.1415 (w[8] of 10 is sin^2(0.8 pi) "
                        "= 0.345491, the file says 0.345562); qbench computes the model with its own pi constant"},
    {"test_hammingwindow", "the expected output of ONNX 1.12 was computed with pi = 3.1415 (see test_hannwindow)"},
    {"test_blackmanwindow", "the expected output of ONNX 1.12 was computed with pi = 3.1415 (see test_hannwindow)"},
};

/* 2 (skip, kind recorded) for an error of an unsupported kind, else 1 (fail). */
static int classify(const qb_err *e, int *kind)
{
    if (e->kind == QB_ERR_INVALID)
        return 1;
    *kind = (int)e->kind;
    return 2;
}

static int load_set(const char *dir, const char *prefix, qb_tensor *t, int *n, qb_err *e)
{
    *n = 0;
    for (int i = 0; i < MAXT; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s_%d.pb", dir, prefix, i);
        struct stat st;
        if (stat(p, &st))
            break;
        if (qb_tensor_load_pb(p, &t[i], e))
            return -1;
        (*n)++;
    }
    return 0;
}

static void free_set(qb_tensor *t, int n)
{
    for (int i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].data);
    }
}

/* Read-only copies of the inputs: qbench reads a float input from the
 * caller's buffer in place (qb_graph_run), so each one lives in its own
 * mapping, aligned to QB_DATA_ALIGN, write-protected (a node writing its
 * graph input faults) and ending at most QB_DATA_ALIGN - 1 bytes past the
 * data (a read beyond the 64-byte line of the last value faults). */
typedef struct ro_input {
    void *map;  /* the mapping, or NULL when the tensor kept its heap copy */
    size_t len; /* its length */
} ro_input;

static int protect_inputs(qb_tensor *t, int n, ro_input *ro)
{
    long page = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < n; i++) {
        ro[i].map = NULL;
        size_t bytes = (size_t)qb_tensor_count(&t[i]) * qb_dtype_size(t[i].dtype);
        size_t used = (bytes + QB_DATA_ALIGN - 1) / QB_DATA_ALIGN * QB_DATA_ALIGN;
        if (!used || t[i].dtype != QB_DT_FLOAT)
            continue;
        size_t len = (used + (size_t)page - 1) / (size_t)page * (size_t)page;
        char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return -1;
        char *at = m + len - used;
        memcpy(at, t[i].data, bytes);
        if (mprotect(m, len, PROT_READ)) {
            munmap(m, len);
            return -1;
        }
        free(t[i].data);
        t[i].data = at;
        ro[i].map = m;
        ro[i].len = len;
    }
    return 0;
}

static void free_inputs(qb_tensor *t, int n, const ro_input *ro)
{
    for (int i = 0; i < n; i++)
        if (ro[i].map) {
            munmap(ro[i].map, ro[i].len);
            t[i].data = NULL;
        }
    free_set(t, n);
}

/* 0 pass, 1 fail, 2 skip; why filled for fail/skip, *kind for skip. */
static int run_case(const char *root, const char *name, char *why, size_t wl, int *kind)
{
    for (size_t i = 0; i < sizeof known_bad / sizeof known_bad[0]; i++)
        if (!strncmp(name, known_bad[i].prefix, strlen(known_bad[i].prefix))) {
            snprintf(why, wl, "%s", known_bad[i].why);
            *kind = SKIP_KNOWN_BAD;
            return 2;
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/model.onnx", root, name);
    qb_err e = {0};
    qb_graph *g = qb_onnx_load(path, &e);
    if (!g) {
        snprintf(why, wl, "%s", e.msg);
        return classify(&e, kind);
    }
    qb_graph_free(g);
    g = NULL;
    int sets = 0;
    for (int s = 0;; s++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s/test_data_set_%d", root, name, s);
        struct stat st;
        if (stat(dir, &st))
            break;
        sets++;
        qb_tensor in[MAXT], out[MAXT];
        ro_input ro[MAXT];
        int nin = 0, nout = 0, rc = 0;
        memset(in, 0, sizeof in);
        memset(out, 0, sizeof out);
        memset(ro, 0, sizeof ro);
        if (load_set(dir, "input", in, &nin, &e) || load_set(dir, "output", out, &nout, &e)) {
            snprintf(why, wl, "%s", e.msg);
            rc = classify(&e, kind);
            goto done;
        }
        if (protect_inputs(in, nin, ro)) {
            snprintf(why, wl, "cannot map the inputs read-only");
            rc = 1;
            goto done;
        }
        g = qb_onnx_load(path, &e);
        if (!g || qb_graph_prepare(g, in, nin, -1, &e) || qb_graph_run(g, in, nin, &e)) {
            snprintf(why, wl, "%s", e.msg);
            rc = classify(&e, kind);
            goto done;
        }
        if (g->noutputs != nout) {
            snprintf(why, wl, "%d outputs, expected %d", g->noutputs, nout);
            rc = 1;
            goto done;
        }
        for (int i = 0; i < nout && !rc; i++) {
            const qb_tensor *y = g->tensors[g->outputs[i]];
            int same = y->ndim == out[i].ndim;
            for (int k = 0; same && k < y->ndim; k++)
                same = y->dims[k] == out[i].dims[k];
            if (same && y->dtype != out[i].dtype) {
                snprintf(why, wl, "output %d is %s, qbench computes %s", i, qb_dtype_name(out[i].dtype),
                         qb_dtype_name(y->dtype));
                *kind = SKIP_OUTPUT_TYPE;
                rc = 2;
                break;
            }
            if (!same) {
                char a[128], b[128];
                qb_shape_str(y->ndim, y->dims, a, sizeof a);
                qb_shape_str(out[i].ndim, out[i].dims, b, sizeof b);
                snprintf(why, wl, "set %d output %d: shape %s, expected %s", s, i, a, b);
                rc = 1;
                break;
            }
            if (qb_dtype_is_int(y->dtype)) { /* integers and bool: exact */
                if (memcmp(y->data, out[i].data, (size_t)qb_tensor_count(y) * qb_dtype_size(y->dtype))) {
                    snprintf(why, wl, "set %d output %d: integer values differ", s, i);
                    rc = 1;
                }
                continue;
            }
            for (int64_t j = 0, c = qb_tensor_count(y); j < c; j++) { /* float32, float16, double */
                double p = qb_get_d(y, j), q = qb_get_d(&out[i], j);
                int ok = (isnan(p) && isnan(q)) || p == q || fabs(p - q) <= ATOL + RTOL * fabs(q);
                if (!ok) {
                    snprintf(why, wl, "set %d output %d element %lld: %.9g, expected %.9g", s, i, (long long)j, p, q);
                    rc = 1;
                    break;
                }
            }
        }
    done:
        qb_graph_free(g);
        g = NULL;
        free_inputs(in, nin, ro);
        free_set(out, nout);
        if (rc)
            return rc;
    }
    if (!sets) {
        snprintf(why, wl, "no test data sets");
        *kind = SKIP_NO_DATA;
        return 2;
    }
    return 0;
}

static void run_dir(const char *root, const char *filter, int *pass, int *fail, int *skip)
{
    struct dirent **ents;
    int ne = scandir(root, &ents, NULL, alphasort);
    if (ne < 0) {
        printf("FAIL %s: cannot read the directory (install libonnx-testdata)\n", root);
        (*fail)++;
        return;
    }
    for (int i = 0; i < ne; i++) {
        const char *nm = ents[i]->d_name;
        if (strncmp(nm, "test_", 5) || (filter && !strstr(nm, filter)) || (exact && strcmp(nm, exact))) {
            free(ents[i]);
            continue;
        }
        char why[1024] = "";
        int kind = 0;
        int rc = run_case(root, nm, why, sizeof why, &kind);
        if (rc == 0) {
            (*pass)++;
            if (verbose)
                printf("PASS %s\n", nm);
        } else if (rc == 1) {
            (*fail)++;
            printf("FAIL %s: %s\n", nm, why);
            printf("repro: %s -v -x %s %s\n", self, nm, root);
        } else {
            (*skip)++;
            add_skip(nm, why, kind);
            if (verbose)
                printf("SKIP %s (%s): %s\n", nm, skip_kind_name(kind), why);
        }
        free(ents[i]);
    }
    free(ents);
}

int main(int argc, char **argv)
{
    int a = 1;
    self = argv[0];
    const char *filter = NULL;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (!strcmp(argv[a], "-v"))
            verbose = 1;
        else if (!strcmp(argv[a], "-k") && a + 1 < argc)
            filter = argv[++a];
        else if (!strcmp(argv[a], "-x") && a + 1 < argc)
            exact = argv[++a];
        else
            break;
    }
    if (a >= argc) {
        fprintf(stderr, "usage: test_onnx [-v] [-k FILTER] [-x CASE] DIR...\n");
        return 2;
    }
    int pass = 0, fail = 0, skip = 0;
    for (; a < argc; a++) {
        int p = 0, f = 0, s = 0;
        run_dir(argv[a], filter, &p, &f, &s);
        printf("%s: %d passed, %d failed, %d skipped\n", argv[a], p, f, s);
        pass += p, fail += f, skip += s;
    }
    if (ngroups) {
        printf("skipped, by kind:");
        for (int k = 1, first = 1; k < SKIP_KINDS; k++)
            if (kind_count[k]) {
                printf("%s %d %s", first ? "" : ",", kind_count[k], skip_kind_name(k));
                first = 0;
            }
        printf("\n");
        qsort(groups, ngroups, sizeof *groups, by_count);
        printf("skipped, by reason:\n");
        for (int i = 0; i < ngroups; i++)
            printf("%5d  %s  [%s]\n", groups[i].count, groups[i].reason, groups[i].cases);
    }
    free(groups);
    printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);
    return fail ? 1 : 0;
}
