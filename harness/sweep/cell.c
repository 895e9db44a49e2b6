/*
 * cell.c - run one sweep cell (cell.h).
 *
 * What runs today: fp32 cells of ONNX models on the model engine
 * (latency with the measurement loop, counters through PAPI or the
 * cachegrind child, modelled and RAPL energy, accuracy against the FP32
 * reference on the dispatcher's ISA), for ONNX files and zoo models
 * (trained once into the model cache, qb_zoo_cached); kernel shapes of
 * every precision (kcell.c); every other precision and method of a
 * model through the quantization engine, the quantized model built once
 * per (model, precision, method) and cached (qcell.c). Cells on an ISA
 * this CPU (or this build) lacks are `unsupported` rows with the reason.
 * Threads: model cells run on qb_gpar_set_threads(threads), the thread
 * count of the model engine's row chunks (harness/graph/par.h: same bits
 * for any thread count); a kernel cell is one single-threaded call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/data/dataset.h"
#include "harness/eval/compare.h"
#include "harness/eval/metrics.h"
#include "harness/eval/runner.h"
#include "harness/graph/par.h"
#include "harness/measure/counters.h"
#include "harness/measure/energy.h"
#include "harness/measure/loop.h"
#include "harness/measure/memory.h"
#include "harness/quant/pipeline.h"
#include "harness/report/metrics_row.h"
#include "harness/report/status.h"
#include "harness/sweep/cell.h"
#include "harness/sweep/kcell.h"
#include "harness/sweep/qcell.h"
#include "harness/train/train.h"

#define REF_BATCH 100              /* batch of the reference run */
#define COLD_BYTES (32u << 20)     /* cold cache: input buffers spanning at least this */
#define MAX_BUFS 1024              /* ... but at most this many */
#define PAPI_RUNS 20               /* inferences counted with PAPI */
#define CG_EXTRA 2                 /* cachegrind: the second run has this many more inferences */


static void set_status(qb_result_row *row, qb_status status)
{
    snprintf(row->status, sizeof row->status, "%s", qb_status_name(status));
}

/* ---- caches across cells of one model ---- */

/* The evaluation dataset of the last model. */
static struct {
    char key[QB_SC_NAME + QB_SC_PATH + 2]; /* name and dir */
    int ok;                                /* loaded */
    qb_dataset d;                          /* its test part */
    qb_norm norm;                          /* normalisation */
} ds;

/* FP32 reference outputs of the last model. */
static struct {
    char model[QB_SC_NAME];   /* model name */
    int n;                    /* samples */
    int64_t outs;             /* floats per sample */
    float *logits;            /* n x outs */
} ref;

/* The energy table of the scenario. */
static struct {
    char path[QB_SC_PATH];    /* loaded from */
    int ok;                   /* loaded without error */
    char err[400];            /* else why */
    qb_energy_table t;        /* the table */
} etab;

/* Cachegrind failures per ISA (the next cells on that ISA would fail alike). */
static char cg_fail[QB_ISA_COUNT][400];

/* The data folder of the last model with data = DIR: the FP32 model and
 * the folder's inputs, split as its quantized models were calibrated (the
 * first calib_samples, at most half) and evaluated (up to eval_samples
 * others). */
static struct {
    char key[QB_SC_NAME + QB_SC_PATH + 300]; /* model name, folder and spec */
    int ok;                                  /* opened */
    qb_pipeline_data d;                      /* model and samples */
    qb_preproc pp;                           /* the scenario's preprocess spec */
} fold;

static int model_file(const qb_sc_model *m, char *path, size_t len, char *err, size_t errlen);

/* Every load of m's model file (its cells, its quantized copies, its data
 * folder's input shapes) sees m's shape = lines, as a verb's --shape. */
static void use_shapes(const qb_sc_model *m)
{
    qb_load_shapes = m->shapes.n ? &m->shapes : NULL;
}

/* The evaluation samples of m's data folder; NULL with err. */
static const qb_samples *folder_of(const qb_sc_model *m, const qb_scenario *sc, char *err, size_t errlen)
{
    use_shapes(m);
    char key[sizeof fold.key];
    snprintf(key, sizeof key, "%s\n%s\n%s", m->name, m->data, m->preprocess);
    if (fold.ok && !strcmp(fold.key, key))
        return &fold.d.eval;
    if (fold.ok)
        qb_pipeline_data_close(&fold.d);
    memset(&fold, 0, sizeof fold);
    char path[QB_SC_PATH + 64];
    if (model_file(m, path, sizeof path, err, errlen))
        return NULL;
    qb_pipeline_opts o;
    qb_pipeline_defaults(&o);
    o.model = path;
    o.data = m->data;
    if (sc->calib_samples > 0)
        o.calib = sc->calib_samples;
    o.limit = sc->eval_samples;
    qb_err e;
    if (m->preprocess[0]) {
        qb_preproc_defaults(&fold.pp);
        if (qb_preproc_parse(m->preprocess, "preprocess", &fold.pp, &e)) {
            snprintf(err, errlen, "%.590s", e.msg);
            return NULL;
        }
        o.pp = &fold.pp;
    }
    if (qb_pipeline_data_open(&o, &fold.d, &e)) {
        snprintf(err, errlen, "%.590s", e.msg);
        return NULL;
    }
    snprintf(fold.key, sizeof fold.key, "%s", key);
    fold.ok = 1;
    return &fold.d.eval;
}

void qb_cell_reset(void)
{
    if (fold.ok)
        qb_pipeline_data_close(&fold.d);
    memset(&fold, 0, sizeof fold);
    if (ds.ok)
        qb_dataset_free(&ds.d);
    memset(&ds, 0, sizeof ds);
    free(ref.logits);
    memset(&ref, 0, sizeof ref);
}

static const qb_dataset *dataset_of(const qb_sc_model *m, const qb_norm **norm, char *err, size_t errlen)
{
    char key[sizeof ds.key];
    snprintf(key, sizeof key, "%s\n%s", m->dataset, m->data_dir);
    if (ds.ok && !strcmp(ds.key, key)) {
        *norm = &ds.norm;
        return &ds.d;
    }
    if (ds.ok)
        qb_dataset_free(&ds.d);
    memset(&ds, 0, sizeof ds);
    const char *dir = m->data_dir[0] ? m->data_dir : NULL;
    if (qb_dataset_open(m->dataset, dir, QB_SPLIT_TEST, &ds.d, err, errlen) ||
        qb_dataset_norm(m->dataset, dir, &ds.norm, err, errlen)) {
        qb_dataset_free(&ds.d);
        memset(&ds, 0, sizeof ds);
        return NULL;
    }
    snprintf(ds.key, sizeof ds.key, "%s", key);
    ds.ok = 1;
    *norm = &ds.norm;
    return &ds.d;
}

/* ---- the model ---- */

/* The FP32 model file of m: the zoo model (trained once with the zoo's
 * default recipe into datasets/models/, progress shown only when it
 * trains) or the scenario's ONNX path. 0, or -1 with err. */
static int model_file(const qb_sc_model *m, char *path, size_t len, char *err, size_t errlen)
{
    if (m->zoo[0]) {
        const char *dir = m->data_dir[0] ? m->data_dir : NULL;
        qb_zoo_job job;
        int verbose = 1;
        if (!qb_zoo_job_init(&job, m->zoo, m->dataset, dir, NULL)) {
            qb_zoo_cache_path(&job, path, len);
            verbose = access(path, R_OK) != 0;
        }
        /* training uses every core, whatever the cell's thread count (the
         * zoo recipe's threads = 0) */
        return qb_zoo_cached(m->zoo, m->dataset, dir, NULL, path, len, verbose, err, errlen) ? -1 : 0;
    }
    snprintf(path, len, "%s", m->onnx);
    return 0;
}

/* Load the model file at path; apply m's input spec. NULL with err. */
static qb_graph *load_path(const qb_sc_model *m, const char *path, double *file_bytes, char *err, size_t errlen)
{
    qb_err e;
    qb_graph *g = qb_onnx_load(path, &e);
    if (!g) {
        snprintf(err, errlen, "%.580s", e.msg);
        return NULL;
    }
    struct stat sb;
    *file_bytes = stat(path, &sb) ? NAN : (double)sb.st_size;
    if (m->ndim && g->ninputs >= 1) {
        qb_tensor *in = g->tensors[g->inputs[0]];
        if (in->ndim != m->ndim) {
            snprintf(err, errlen, "%.300s: input '%s' has rank %d, the scenario's input spec rank %d", path, in->name,
                     in->ndim, m->ndim);
            qb_graph_free(g);
            return NULL;
        }
        for (int i = 1; i < m->ndim; i++) {
            if (!in->sym[i] && in->dims[i] > 0 && in->dims[i] != m->dims[i]) {
                snprintf(err, errlen, "%.300s: input '%s' dimension %d is %lld, the input spec says %lld", path,
                         in->name, i, (long long)in->dims[i], m->dims[i]);
                qb_graph_free(g);
                return NULL;
            }
            in->dims[i] = m->dims[i];
            in->sym[i] = 0;
        }
        in->has_shape = 1;
    }
    return g;
}

/* The FP32 model of m. NULL with err. */
static qb_graph *load_model(const qb_sc_model *m, double *file_bytes, char *err, size_t errlen)
{
    char path[QB_SC_PATH + 64];
    if (model_file(m, path, sizeof path, err, errlen))
        return NULL;
    return load_path(m, path, file_bytes, err, errlen);
}

/* The graph a cell runs: the model in the cell's precision and method.
 * Used by qb_cell_run (build = 1: a quantized model missing from the
 * quantized-model cache is built there, harness/sweep/qcell.c) and by the
 * cachegrind child (build = 0: it loads what the parent built), so both
 * measure the same graph. *file_bytes: size of the model file. NULL with
 * err. */
static qb_graph *cell_graph(const qb_cell *cell, const qb_scenario *sc, int build, double *file_bytes,
                            qb_qcell_info *qi, char *err, size_t errlen)
{
    const qb_sc_model *m = &sc->models[cell->model];
    memset(qi, 0, sizeof *qi);
    use_shapes(m);
    if (cell->prec == QB_PREC_FP32)
        return load_model(m, file_bytes, err, errlen);
    char fp32[QB_SC_PATH + 64], qpath[1400], ms[96];
    if (model_file(m, fp32, sizeof fp32, err, errlen) ||
        qb_qcell_model(fp32, m->name, m->dataset, m->data_dir, m->data, m->preprocess, cell->prec,
                       qb_method_str(cell->method, cell->repairs, ms, sizeof ms), sc->calib_samples, m->plan, build,
                       qpath, sizeof qpath, qi, err, errlen))
        return NULL;
    return load_path(m, qpath, file_bytes, err, errlen);
}

/* Bytes of the model's constant tensors (its weights, before folding). */
static double const_bytes(const qb_graph *g)
{
    double b = 0;
    for (int i = 0; i < g->ntensors; i++)
        if (g->tensors[i]->kind == QB_T_CONST)
            b += (double)qb_tensor_count(g->tensors[i]) * (double)qb_dtype_size(g->tensors[i]->dtype);
    return b;
}

/* Does this CPU and build run the ISA for the precision? */
static int isa_runs(qb_isa isa, qb_precision p, char *why, size_t len)
{
    qb_precision kp = p == QB_PREC_MIXED ? QB_PREC_INT8_CHANNEL : qb_precision_runs_as(p);
    const qb_kernel *k = qb_kernel_get(QB_OP_GEMM, kp, isa);
    if (!k) {
#if defined(__x86_64__)
        const char *arch = "an x86-64 build";
#elif defined(__aarch64__)
        const char *arch = "an AArch64 build";
#else
        const char *arch = "this build";
#endif
        snprintf(why, len, "no %s %s kernel in %s", qb_isa_name(isa), qb_precision_name(kp), arch);
        return 0;
    }
    return qb_kernel_available(k, why, len);
}

/* One inference on rotating input buffers. */
typedef struct infer_ctx {
    qb_runner *r;  /* prepared model */
    float **bufs;  /* input buffers */
    int nbufs;     /* how many (1: hot) */
    qb_err e;      /* error of a failed run */
} infer_ctx;

static int infer(void *ctx, long iter)
{
    infer_ctx *c = ctx;
    c->r->in[0].data = c->bufs[iter % c->nbufs];
    return qb_graph_run(c->r->g, c->r->in, c->r->nin, &c->e);
}

/* Fill n buffers of batch inputs: dataset samples in order, or seeded
 * normal values. NULL on allocation failure. */
static float **make_bufs(const qb_runner *r, const qb_samples *s, int n)
{
    float **b = calloc((size_t)n, sizeof *b);
    if (!b)
        return NULL;
    for (int i = 0; i < n; i++) {
        b[i] = qb_data_alloc((size_t)r->batch * r->sample * sizeof(float)); /* aligned: read in place */
        if (!b[i]) {
            while (i--)
                free(b[i]);
            free(b);
            return NULL;
        }
        int from = s->n > 0 ? (i * r->batch) % s->n : 0, count = r->batch;
        if (s->n > 0 && from + count > s->n)
            count = s->n - from;
        qb_samples_fill(s, from, count, r->batch, b[i]);
    }
    return b;
}

static void free_bufs(float **b, int n)
{
    for (int i = 0; b && i < n; i++)
        free(b[i]);
    free(b);
}

/* How many input buffers a timing rotates through: one hot, or as many
 * as span COLD_BYTES (at least 2, at most MAX_BUFS). */
static int buf_count(const qb_scenario *sc, const qb_runner *r)
{
    size_t batch_bytes = (size_t)r->batch * r->sample * sizeof(float);
    int nbufs = sc->cache == QB_CACHE_HOT ? 1 : (int)((COLD_BYTES + batch_bytes - 1) / batch_bytes);
    if (nbufs < 2 && sc->cache != QB_CACHE_HOT)
        nbufs = 2;
    return nbufs > MAX_BUFS ? MAX_BUFS : nbufs;
}

/* FNV-1a 64 of the count of input buffers and the values of the first
 * and the last (cheap next to hashing 32 MiB per round): which inputs a
 * round timed (every round of a cell must time the same ones). */
static uint64_t bufs_hash(float *const *b, int n, const qb_runner *r)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)n;
    h *= 0x100000001b3ull;
    size_t bytes = (size_t)r->batch * r->sample * sizeof(float);
    for (int i = 0; b && n > 0 && i < 2; i++) {
        const unsigned char *p = (const unsigned char *)b[i ? n - 1 : 0];
        for (size_t k = 0; k < bytes; k++) {
            h ^= p[k];
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

/* The cell's evaluation inputs (*s, for accuracy) and the inputs its
 * timing rotates through (*fill): the data folder's evaluation inputs
 * (fs, data = DIR), the dataset's first eval_samples test images (the
 * timing cycles through the whole test split), or seeded values. The one
 * definition for the first round (qb_cell_run) and every later round
 * (qb_cell_retime), so all rounds time the same inputs. 0, or -1 with why. */
static int cell_inputs(const qb_sc_model *m, const qb_scenario *sc, const qb_runner *r, const qb_samples *fs,
                       qb_samples *s, qb_samples *fill, char *why, size_t len)
{
    *s = (qb_samples){.sample = r->sample, .seed = 1};
    if (fs) {
        *s = *fs;
    } else if (m->dataset[0]) {
        const qb_norm *norm;
        const qb_dataset *d = dataset_of(m, &norm, why, len);
        if (!d)
            return -1;
        if (qb_dataset_sample_size(d) != r->sample) {
            snprintf(why, len, "%s: the model takes %zu values per sample, %s images have %zu", m->name, r->sample,
                     d->name, qb_dataset_sample_size(d));
            return -1;
        }
        s->d = d;
        s->norm = norm;
        s->n = sc->eval_samples < d->n ? sc->eval_samples : d->n;
    }
    *fill = *s;
    if (fill->d && fill->n == 0)
        fill->n = fill->d->n;
    return 0;
}

/* ---- counters ---- */

static void self_exe(char *buf, size_t len)
{
    ssize_t k = readlink("/proc/self/exe", buf, len - 1);
    buf[k > 0 ? k : 0] = 0;
}

static void count(const qb_cell *cell, const qb_scenario *sc, qb_measure_fn fn, void *ctx, qb_result_row *row,
                  qb_counters *out)
{
    qb_counters c;
    qb_counters_init(&c);
    char papi_why[400] = "", cg_why[400] = "";
    int done = 0;
    if (sc->counters == QB_COUNTERS_OFF) {
        snprintf(c.note, sizeof c.note, "counters: off in the scenario (counters = none)");
        done = 1;
    }
    if (!done && (sc->counters == QB_COUNTERS_AUTO || sc->counters == QB_COUNTERS_PAPI))
        done = qb_papi_count(fn, ctx, PAPI_RUNS, &c, papi_why, sizeof papi_why) == 0;
    if (!done && (sc->counters == QB_COUNTERS_AUTO || sc->counters == QB_COUNTERS_CACHEGRIND)) {
        if (cg_fail[cell->isa][0]) {
            snprintf(cg_why, sizeof cg_why, "%s", cg_fail[cell->isa]);
        } else {
            char exe[PATH_MAX], few[16], many[16];
            self_exe(exe, sizeof exe);
            snprintf(few, sizeof few, "%d", 1);
            snprintf(many, sizeof many, "%d", 1 + CG_EXTRA);
            char *argv[] = {exe, "sweep", (char *)sc->file, "--cell", (char *)cell->id, "--counters-child", few,
                            sc->cache == QB_CACHE_HOT ? "--hot" : NULL, NULL};
            qb_cg_totals t1, t2;
            int ok = qb_cachegrind_run(argv, &t1, cg_why, sizeof cg_why) == 0;
            argv[6] = many;
            ok = ok && qb_cachegrind_run(argv, &t2, cg_why, sizeof cg_why) == 0;
            if (ok) {
                qb_cachegrind_counters(&t1, &t2, CG_EXTRA, &c);
                done = 1;
            } else {
                if (cell->isa == QB_ISA_VNNI && !strstr(cg_why, "AVX-512"))
                    snprintf(cg_fail[cell->isa], sizeof cg_fail[0],
                             "valgrind does not emulate AVX-512, so vnni kernels cannot run under it: %.300s", cg_why);
                else
                    snprintf(cg_fail[cell->isa], sizeof cg_fail[0], "%.390s", cg_why);
                snprintf(cg_why, sizeof cg_why, "%s", cg_fail[cell->isa]);
            }
        }
    }
    if (!done) {
        snprintf(c.note, sizeof c.note, "no counters: %s%.200s%s%.260s", papi_why[0] ? "papi: " : "", papi_why,
                 papi_why[0] && cg_why[0] ? "; " : "", cg_why);
        snprintf(c.source, sizeof c.source, "none");
    }
    snprintf(row->counters_source, sizeof row->counters_source, "%s", c.source);
    row->cycles = c.cycles;
    row->instructions = c.instructions;
    row->l1d_misses = c.l1d_misses;
    row->l2_misses = c.l2_misses;
    row->llc_misses = c.llc_misses;
    qb_result_note(row, "%s", c.note);
    *out = c;
}

/* ---- accuracy ---- */

/* Reference outputs of the model (fp32, dispatcher's ISA), kept across
 * the cells of one model; 0 or -1. */
static int reference(const qb_sc_model *m, const qb_samples *s, char *err, size_t errlen)
{
    if (ref.logits && !strcmp(ref.model, m->name) && ref.n == s->n)
        return 0;
    free(ref.logits);
    memset(&ref, 0, sizeof ref);
    double fb;
    qb_graph *g = load_model(m, &fb, err, errlen);
    if (!g)
        return -1;
    qb_err e;
    int64_t outs = 0;
    int rc = qb_reference_outputs(g, s, REF_BATCH, -1, &ref.logits, &outs, &e);
    qb_graph_free(g);
    if (rc) {
        snprintf(err, errlen, "reference: %.560s", e.msg);
        ref.logits = NULL;
        return -1;
    }
    snprintf(ref.model, sizeof ref.model, "%s", m->name);
    ref.n = s->n;
    ref.outs = outs;
    return 0;
}

/* The accuracy columns of the cell's runner (just timed) against the reference. */
static void accuracy(const qb_sc_model *m, const qb_scenario *sc, qb_runner *r, const qb_samples *s,
                     qb_result_row *row)
{
    char err[600];
    if ((!s->d && !s->x) || sc->eval_samples == 0 || s->n == 0)
        return;
    if (reference(m, s, err, sizeof err)) {
        qb_result_note(row, "accuracy not measured: %s", err);
        return;
    }
    if (r->outs != ref.outs) {
        qb_result_note(row, "accuracy not measured: %s", "output size differs from the reference");
        return;
    }
    qb_err e;
    qb_metrics mt;
    r->in[0].data = r->x;
    if (qb_compare_runner(r, s, ref.logits, ref.outs, &mt, &e)) {
        qb_result_note(row, "accuracy not measured: %s", e.msg);
        return;
    }
    qb_row_set_metrics(row, &mt);
    if (isinf(mt.sqnr_db))
        qb_result_note(row, "outputs bit-identical to the FP32 reference (SQNR infinite, left empty)");
}

/* ---- energy ---- */

static const qb_energy_table *energy_table(const qb_scenario *sc)
{
    if (strcmp(etab.path, sc->energy_model)) {
        snprintf(etab.path, sizeof etab.path, "%s", sc->energy_model);
        etab.ok = qb_energy_load(sc->energy_model, &etab.t, etab.err, sizeof etab.err) == 0;
    }
    return etab.ok ? &etab.t : NULL;
}

/* Modelled energy into the row (energy_source set by the caller). */
/* by_prec: MACs per precision (mixed models: each layer at its own), or
 * NULL: all `macs` at p. */
static void model_energy(const qb_scenario *sc, qb_precision p, double macs, const double *by_prec, double wbytes,
                         double abytes, const qb_counters *c, qb_result_row *row)
{
    const qb_energy_table *et = energy_table(sc);
    if (!et) {
        qb_result_note(row, "energy model: %s", etab.err);
        return;
    }
    qb_energy_work w = {.weight_bytes = wbytes, .activation_bytes = abytes, .counters = c};
    if (by_prec)
        memcpy(w.macs, by_prec, sizeof w.macs);
    else
        w.macs[p] = macs;
    char en[300];
    row->energy_mj_model = qb_energy_model(et, &w, en, sizeof en);
    qb_result_note(row, "%s", en);
}

static void energy_source(qb_result_row *row)
{
    if (!isnan(row->energy_mj_measured))
        snprintf(row->energy_source, sizeof row->energy_source, isnan(row->energy_mj_model) ? "rapl" : "rapl+model");
    else if (!isnan(row->energy_mj_model))
        snprintf(row->energy_source, sizeof row->energy_source, "model");
}

void qb_cell_latency(const qb_robust *rb, long calls_per_sample, int noisy, int attempts, const qb_scenario *sc,
                     int batch, qb_result_row *row)
{
    row->iterations = (double)rb->n;
    row->calls_per_sample = (double)calls_per_sample;
    row->latency_ms_min = rb->min * 1e3;
    row->latency_ms_median = rb->median * 1e3;
    row->latency_ms_mean = rb->mean * 1e3;
    row->latency_ms_p5 = rb->p5 * 1e3;
    row->latency_ms_p95 = rb->p95 * 1e3;
    row->latency_ms_p99 = rb->p99 * 1e3;
    row->latency_ms_stddev = rb->stddev * 1e3;
    row->latency_cv = rb->mean > 0 ? rb->stddev / rb->mean : NAN;
    row->latency_ms_iqr = rb->iqr * 1e3;
    row->latency_ms_mad = rb->mad * 1e3;
    row->latency_robust_cv = rb->robust_cv;
    row->latency_ms_ci_low = rb->ci_low * 1e3;
    row->latency_ms_ci_high = rb->ci_high * 1e3;
    row->latency_outliers = (double)rb->outliers;
    row->throughput_ips = rb->median > 0 ? batch / rb->median : NAN;
    set_status(row, noisy ? QB_STATUS_NOISY : QB_STATUS_OK);
    if (rb->blocks > 1)
        qb_result_note(row, "timed in %zu rounds: median's 95%% interval +-%.1f%% (between rounds +-%.1f%%, pooled samples "
                      "+-%.1f%%)", rb->blocks, rb->ci_rel * 100, rb->ci_between_rel * 100, rb->ci_within_rel * 100);
    if (noisy)
        qb_result_note(row, "median's 95%% interval +-%.1f%% wider than +-%.1f%% after %d %s", rb->ci_rel * 100,
                 sc->ci_threshold * 100, attempts, rb->blocks > 1 ? "rounds" : "attempts");
    else if (attempts > 1 && rb->blocks <= 1)
        qb_result_note(row, "measured %d times (median's 95%% interval wider than +-%.1f%% before)", attempts,
                 sc->ci_threshold * 100);
}

/* The latency columns of one measurement; with rounds > 1 a provisional
 * value of the first round (the sweep sets the final one from every
 * round, qb_cell_latency), so no status note yet. */
static void set_latency(const qb_measure_result *mr, const qb_scenario *sc, int batch, qb_result_row *row)
{
    if (sc->rounds > 1)
        qb_cell_latency(&mr->rob, mr->calls_per_sample, 0, 1, sc, batch, row);
    else
        qb_cell_latency(&mr->rob, mr->calls_per_sample, mr->noisy, mr->attempts, sc, batch, row);
}

/* The measurement settings of one round: with rounds > 1 the cell's
 * iterations and minimum time are split between the rounds, and a noisy
 * round is not re-measured (extra rounds are, qb_cell_retime). */
static qb_measure_cfg measure_cfg(const qb_scenario *sc, const qb_samples_kept *keep)
{
    int rounds = sc->rounds > 1 ? sc->rounds : 1;
    return (qb_measure_cfg){.warmup = sc->warmup, .iterations = (sc->iterations + rounds - 1) / rounds,
                            .min_time_s = sc->min_time_s / rounds,
                            .max_iterations = (sc->max_iterations + rounds - 1) / rounds,
                            .ci_threshold = sc->ci_threshold, .retries = rounds > 1 ? 0 : sc->retries,
                            .keep_samples = keep != NULL};
}

/* Hand the kept samples to the caller (or free them). */
static void keep_samples(qb_measure_result *mr, int batch, qb_samples_kept *keep)
{
    if (keep) {
        keep->x = mr->samples;
        keep->n = mr->rob.n;
        keep->calls_per_sample = mr->calls_per_sample;
        keep->batch = batch;
        mr->samples = NULL;
    }
    qb_measure_result_free(mr);
}

/* The cell's own peak resident set: the high-water mark was reset at the
 * start of the cell (lifetime peak, said in the note, where it cannot be). */
static void set_peak(int reset_ok, qb_result_row *row)
{
    long kb = qb_mem_peak_kb();
    if (kb >= 0) {
        row->peak_rss_kb = (double)kb;
        if (!reset_ok)
            qb_result_note(row, "peak_rss_kb is the process's lifetime peak (the high-water mark could not be reset)");
        return;
    }
    struct rusage ru;
    if (!getrusage(RUSAGE_SELF, &ru)) {
        row->peak_rss_kb = (double)ru.ru_maxrss;
        qb_result_note(row, "peak_rss_kb is the process's lifetime peak (no /proc/self/status)");
    }
}

/* A kernel microbenchmark cell (gemm = / dwconv = shapes). */
static int kernel_cell(const qb_cell *cell, const qb_scenario *sc, const qb_sc_model *m, qb_result_row *row,
                       qb_samples_kept *keep)
{
    char why[600];
    const qb_kernel *k = qb_kcell_kernel(m, cell->prec, cell->isa);
    if (!k) {
        set_status(row, QB_STATUS_FAILED);
        qb_result_note(row, "no %s %s kernel on %s in the registry", m->kernel, qb_precision_name(cell->prec),
                 qb_isa_name(cell->isa));
        return 0;
    }
    if (!qb_kernel_available(k, why, sizeof why)) {
        set_status(row, QB_STATUS_UNSUPPORTED);
        qb_result_note(row, "%s cannot run here: %s", k->name, why);
        return 0;
    }
    double macs;
    char mem_why[200];
    int reset_ok = qb_mem_reset_peak(mem_why, sizeof mem_why) == 0;
    void *kc = qb_kcell_open(m, k, &macs, why, sizeof why);
    if (!kc) {
        set_status(row, QB_STATUS_FAILED);
        qb_result_note(row, "%s", why);
        return 0;
    }
    if (qb_kcell_check(kc, why, sizeof why)) {
        set_status(row, QB_STATUS_FAILED);
        qb_result_note(row, "%s: %s", k->name, why);
        qb_kcell_close(kc);
        return 0;
    }
    qb_result_note(row, "kernel %s on seeded data, checked against scalar; hot caches; method is a label only", k->name);
    if (cell->batch != 1)
        qb_result_note(row, "batch %d does not apply to a kernel shape (timed per call)", cell->batch);
    if (cell->threads != 1)
        qb_result_note(row, "threads %d does not apply to a kernel shape (one single-threaded call)", cell->threads);
    qb_measure_cfg mc = measure_cfg(sc, keep);
    qb_measure_result mr;
    if (qb_measure(&mc, qb_kcell_fn, kc, &mr, why, sizeof why)) {
        set_status(row, QB_STATUS_FAILED);
        qb_result_note(row, "%s", why);
        qb_kcell_close(kc);
        return 0;
    }
    set_latency(&mr, sc, 1, row);
    keep_samples(&mr, 1, keep);
    row->macs = macs;
    int is_dw = !strcmp(m->kernel, "dwconv");
    int n = (int)(is_dw ? m->shape[2] : m->shape[1]), kk = is_dw ? 9 : (int)m->shape[2];
    row->weight_bytes = (double)k->packed_size(n, kk, m->group);
    int int_in = qb_precision_traits_of(cell->prec)->act == QB_ACT_I8;
    double in_elems = is_dw ? (double)m->shape[0] * m->shape[1] * m->shape[2] : (double)m->shape[0] * m->shape[2];
    double out_elems = is_dw ? macs / 9 : (double)m->shape[0] * m->shape[1];
    double abytes = in_elems * (int_in ? 1 : 4) + out_elems * (qb_precision_is_int8(cell->prec) ? 1 : 4);
    qb_counters c;
    count(cell, sc, qb_kcell_fn, kc, row, &c);
    model_energy(sc, cell->prec, macs, NULL, row->weight_bytes, abytes, &c, row);
    energy_source(row);
    set_peak(reset_ok, row);
    qb_kcell_close(kc);
    return 0;
}

/* ---- the cell ---- */

int qb_cell_run(const qb_cell *cell, const qb_scenario *sc, qb_result_row *row, qb_samples_kept *samples)
{
    if (samples)
        *samples = (qb_samples_kept){0};
    const qb_sc_model *m = &sc->models[cell->model];
    snprintf(row->model, sizeof row->model, "%s", m->name);
    snprintf(row->dataset, sizeof row->dataset, "%s", m->data[0] ? m->data : m->dataset);
    snprintf(row->precision, sizeof row->precision, "%s", qb_precision_name(cell->prec));
    qb_method_str(cell->method, cell->repairs, row->method, sizeof row->method);
    snprintf(row->isa, sizeof row->isa, "%s", qb_isa_name(cell->isa));
    row->threads = cell->threads;
    row->batch = cell->batch;
    char why[600];
    if (!isa_runs(cell->isa, cell->prec, why, sizeof why)) {
        set_status(row, QB_STATUS_UNSUPPORTED);
        qb_result_note(row, "%s kernels cannot run here: %s", qb_isa_name(cell->isa), why);
        return 0;
    }
    qb_gpar_set_threads(cell->threads); /* OpenMP threads of the model engine (and of training) */
    if (m->kernel[0])
        return kernel_cell(cell, sc, m, row, samples);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cell->threads > cores)
        qb_result_note(row, "oversubscribed: %d threads on %ld online CPUs", cell->threads, cores);
#ifndef _OPENMP /* (the Makefile builds with OpenMP: only other builds get here) */
    if (cell->threads > 1) {
        set_status(row, QB_STATUS_FAILED);
        qb_result_note(row, "threads=%d: this qbench was built without OpenMP", cell->threads);
        return 0;
    }
#endif
    double file_bytes = NAN;
    qb_qcell_info qi;
    qb_graph *g = cell_graph(cell, sc, 1, &file_bytes, &qi, why, sizeof why);
    if (!g) {
        set_status(row, QB_STATUS_FAILED);
        qb_result_note(row, "%s", why);
        return 0;
    }
    if (cell->prec != QB_PREC_FP32) {
        if (qi.calib_seconds > 0)
            qb_result_note(row, "calibration %.3f s%s", qi.calib_seconds, qi.reused ? " (when built; model reused)" : "");
        if (qi.qat_seconds > 0)
            qb_result_note(row, "QAT fine-tuning %.1f s%s", qi.qat_seconds, qi.reused ? " (when built)" : "");
        if (qi.plan[0])
            qb_result_note(row, "plan %s", qi.plan);
        snprintf(row->plan, sizeof row->plan, "%s", qi.plan_name);
        snprintf(row->plan_hash, sizeof row->plan_hash, "%s", qi.plan_hash);
    }
    row->model_bytes = file_bytes;
    /* the cell's peak memory counts from here: the model loaded (and
     * built, for a quantized model not in the cache) is resident already */
    char mem_why[200];
    int reset_ok = qb_mem_reset_peak(mem_why, sizeof mem_why) == 0;
    double wbytes = const_bytes(g);
    qb_runner r;
    qb_err e;
    const qb_samples *fs = NULL; /* data = DIR: the folder's evaluation inputs */
    if (m->data[0] && !(fs = folder_of(m, sc, why, sizeof why))) {
        set_status(row, QB_STATUS_FAILED);
        qb_result_note(row, "%s", why);
        qb_graph_free(g);
        return 0;
    }
    if (qb_runner_open_on(&r, g, cell->batch, cell->isa, fs, &e)) {
        set_status(row, QB_STATUS_FAILED);
        qb_result_note(row, "%s", e.msg);
        return 0;
    }
    if (r.batch != cell->batch)
        qb_result_note(row, "the model's fixed batch %d was used", r.batch);
    row->weight_bytes = wbytes;
    row->arena_bytes = (double)r.g->arena_bytes;
    double macs = 0, macs_by_prec[QB_PREC_COUNT] = {0};
    for (int i = 0; i < r.g->nnodes; i++)
        if (!r.g->nodes[i].folded && r.g->nodes[i].fused_into < 0) {
            const qb_node *nd = &r.g->nodes[i];
            double k = (double)qb_node_macs(r.g, nd);
            macs += k;
            macs_by_prec[nd->q ? nd->q->run_prec : QB_PREC_FP32] += k; /* a layer left in fp32 counts as fp32 */
        }
    row->macs = macs;

    /* inputs: the data folder's evaluation inputs, the dataset's test images (or seeded values) */
    qb_samples s, fill;
    if (cell_inputs(m, sc, &r, fs, &s, &fill, why, sizeof why)) {
        set_status(row, QB_STATUS_FAILED);
        qb_result_note(row, "%s", why);
        qb_runner_close(&r);
        return 0;
    }
    int nbufs = buf_count(sc, &r);
    infer_ctx ic = {.r = &r, .nbufs = nbufs};
    ic.bufs = make_bufs(&r, &fill, nbufs);
    if (!ic.bufs) {
        set_status(row, QB_STATUS_FAILED);
        qb_result_note(row, "out of memory for %d input buffers", nbufs);
        qb_runner_close(&r);
        return 0;
    }

    /* latency (and RAPL around it) */
    qb_measure_cfg mc = measure_cfg(sc, samples);
    qb_measure_result mr;
    static qb_rapl rapl;
    static int rapl_state; /* 0 untried, 1 ok, -1 unreadable */
    char rapl_why[300];
    if (!rapl_state)
        rapl_state = qb_rapl_open(&rapl, rapl_why, sizeof rapl_why) ? -1 : 1;
    double rb[8], ra[8];
    double rapl0 = rapl_state > 0 ? qb_rapl_read(&rapl, rb) : NAN;
    if (qb_measure(&mc, infer, &ic, &mr, why, sizeof why)) {
        set_status(row, QB_STATUS_FAILED);
        qb_result_note(row, "%s", ic.e.msg[0] ? ic.e.msg : why);
        free_bufs(ic.bufs, nbufs);
        qb_runner_close(&r);
        return 0;
    }
    double rapl1 = rapl_state > 0 ? qb_rapl_read(&rapl, ra) : NAN;
    set_latency(&mr, sc, r.batch, row);
    keep_samples(&mr, r.batch, samples);
    if (samples)
        samples->inputs_hash = bufs_hash(ic.bufs, nbufs, &r);
    if (!isnan(rapl0) && !isnan(rapl1) && mr.calls > 0)
        row->energy_mj_measured = qb_rapl_delta(&rapl, rb, ra) * 1e-3 / (double)mr.calls;

    /* accuracy against the FP32 reference */
    accuracy(m, sc, &r, &s, row);

    /* counters, then the energy model from them */
    qb_counters c;
    count(cell, sc, infer, &ic, row, &c);
    /* mixed: the sum over layers at each layer's precision */
    model_energy(sc, cell->prec, macs, cell->prec == QB_PREC_MIXED ? macs_by_prec : NULL, wbytes,
                 (double)r.g->arena_bytes, &c, row);
    energy_source(row);

    set_peak(reset_ok, row);
    free_bufs(ic.bufs, nbufs);
    qb_runner_close(&r);
    return 0;
}

int qb_cell_retime(const qb_cell *cell, const qb_scenario *sc, qb_samples_kept *samples, char *err, size_t errlen)
{
    const qb_sc_model *m = &sc->models[cell->model];
    qb_gpar_set_threads(cell->threads);
    qb_measure_cfg mc = measure_cfg(sc, samples);
    qb_measure_result mr;
    if (m->kernel[0]) {
        const qb_kernel *k = qb_kcell_kernel(m, cell->prec, cell->isa);
        double macs;
        void *kc = k ? qb_kcell_open(m, k, &macs, err, errlen) : NULL;
        if (!kc) {
            if (!k)
                snprintf(err, errlen, "no such kernel");
            return -1;
        }
        int rc = qb_measure(&mc, qb_kcell_fn, kc, &mr, err, errlen);
        qb_kcell_close(kc);
        if (rc)
            return -1;
        keep_samples(&mr, 1, samples);
        return 0;
    }
    double fb;
    qb_qcell_info qi;
    qb_graph *g = cell_graph(cell, sc, 0, &fb, &qi, err, errlen);
    if (!g)
        return -1;
    /* the same model inputs and the same timed inputs as the first round
     * (qb_cell_run): the data folder's, with every other input bound */
    const qb_samples *fs = NULL;
    if (m->data[0] && !(fs = folder_of(m, sc, err, errlen))) {
        qb_graph_free(g);
        return -1;
    }
    qb_runner r;
    qb_err e;
    if (qb_runner_open_on(&r, g, cell->batch, cell->isa, fs, &e)) {
        snprintf(err, errlen, "%s", e.msg);
        return -1;
    }
    qb_samples s, fill;
    if (cell_inputs(m, sc, &r, fs, &s, &fill, err, errlen)) {
        qb_runner_close(&r);
        return -1;
    }
    int nbufs = buf_count(sc, &r);
    infer_ctx ic = {.r = &r, .nbufs = nbufs};
    ic.bufs = make_bufs(&r, &fill, nbufs);
    int rc = -1;
    if (!ic.bufs)
        snprintf(err, errlen, "out of memory for %d input buffers", nbufs);
    else if (qb_measure(&mc, infer, &ic, &mr, err, errlen)) {
        if (ic.e.msg[0])
            snprintf(err, errlen, "%s", ic.e.msg);
    } else {
        keep_samples(&mr, r.batch, samples);
        if (samples)
            samples->inputs_hash = bufs_hash(ic.bufs, nbufs, &r);
        rc = 0;
    }
    free_bufs(ic.bufs, nbufs);
    qb_runner_close(&r);
    return rc;
}

int qb_cell_child(const qb_cell *cell, const qb_scenario *sc, int runs)
{
    const qb_sc_model *m = &sc->models[cell->model];
    char why[600];
    qb_gpar_set_threads(cell->threads); /* OpenMP threads of the model engine (and of training) */
    if (m->kernel[0]) {
        const qb_kernel *k = qb_kcell_kernel(m, cell->prec, cell->isa);
        if (k && !qb_kernel_available(k, why, sizeof why)) {
            fprintf(stderr, "qbench sweep: %s: %s cannot run here: %s\n", cell->id, k->name, why);
            return 2;
        }
        double macs;
        void *kc = k ? qb_kcell_open(m, k, &macs, why, sizeof why) : NULL;
        if (!kc) {
            fprintf(stderr, "qbench sweep: %s: %s\n", cell->id, k ? why : "no such kernel");
            return 2;
        }
        for (int i = 0; i < runs; i++)
            qb_kcell_fn(kc, i);
        qb_kcell_close(kc);
        return 0;
    }
    double fb;
    qb_qcell_info qi;
    qb_graph *g = cell_graph(cell, sc, 0, &fb, &qi, why, sizeof why);
    if (!g) {
        fprintf(stderr, "qbench sweep: %s: %s\n", cell->id, why);
        return 2;
    }
    qb_runner r;
    qb_err e;
    const qb_samples *fs = m->data[0] ? folder_of(m, sc, why, sizeof why) : NULL;
    if (m->data[0] && !fs) {
        fprintf(stderr, "qbench sweep: %s: %s\n", cell->id, why);
        qb_graph_free(g);
        return 2;
    }
    if (qb_runner_open_on(&r, g, cell->batch, cell->isa, fs, &e)) {
        fprintf(stderr, "qbench sweep: %s\n", e.msg);
        return 2;
    }
    /* seeded inputs (the data folder's with data = DIR): values do not
     * change the fp32 path's memory traffic; as many buffers whatever
     * `runs` is, so the two children of one measurement differ only by
     * the extra inferences */
    qb_samples s = fs ? *fs : (qb_samples){.sample = r.sample, .seed = 1};
    infer_ctx ic = {.r = &r, .nbufs = sc->cache == QB_CACHE_HOT ? 1 : 1 + CG_EXTRA};
    ic.bufs = make_bufs(&r, &s, ic.nbufs);
    int rc = 0;
    for (int i = 0; ic.bufs && i < runs && !rc; i++)
        if (infer(&ic, i)) {
            fprintf(stderr, "qbench sweep: %s\n", ic.e.msg);
            rc = 2;
        }
    if (!ic.bufs) {
        fprintf(stderr, "qbench sweep: out of memory\n");
        rc = 2;
    }
    free_bufs(ic.bufs, ic.nbufs);
    qb_runner_close(&r);
    return rc;
}
