/*
 * qat.c - quantization-aware training driver (see qat.h).
 *
 * Cache: <cache>/<model file name>-<precision>-<hash>.onnx and the
 * same name + ".ranges", a text file whose first line is the recipe line
 * (hashed into the name) and then one line per quantized layer: "lo hi
 * threshold". The ranges file is renamed into place last, so a model is
 * reused only when both exist and the recipe line matches exactly. The
 * measured fine-tuning time is kept beside them (+ ".seconds"), so a
 * reused model still has its training cost (the cost-aware search's
 * QAT candidate).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/io/atomic.h"
#include "harness/data/files.h"
#include "harness/measure/timer.h"
#include "harness/quant/qat.h"
#include "harness/train/fakequant.h"
#include "harness/train/train.h"

void qb_qat_defaults(qb_qat_opts *q)
{
    memset(q, 0, sizeof *q);
    q->batch = 64;
}

/* Effective epochs and learning rate of a precision. */
static void recipe(const qb_pipeline_opts *o, const qb_qat_opts *q, int *epochs, float *lr)
{
    int bin = o->prec == QB_PREC_BINARY;
    *epochs = q->epochs > 0 ? q->epochs : bin ? 6 : 3;
    *lr = q->lr > 0 ? q->lr : bin ? 0.01f : o->prec == QB_PREC_INT4 ? 0.002f : 0.001f;
}

/* The step hook: epoch phases, then the fake-quant weights. */
typedef struct qat_ctx {
    qb_fq *fq;          /* fake quantization state */
    int observe_epochs; /* observers follow the data before this epoch */
    int freeze_epoch;   /* BN frozen from this epoch */
    int verbose;        /* progress */
} qat_ctx;

static void step_hook(qb_net *net, int phase, int epoch, void *ctx)
{
    qat_ctx *c = ctx;
    if (phase == QB_STEP_EPOCH) {
        c->fq->observe = epoch < c->observe_epochs;
        qb_fq_freeze_bn(net, epoch >= c->freeze_epoch);
        if (c->verbose)
            fprintf(stderr, "qat: epoch %d: observers %s, BN %s\n", epoch + 1, c->fq->observe ? "on" : "frozen",
                    epoch >= c->freeze_epoch ? "frozen and folded" : "training");
        return;
    }
    qb_fq_step(net, phase, epoch, c->fq);
}

static int write_ranges(const char *path, const char *line, const qb_fq *f, char *err, size_t errlen)
{
    qb_atomic a;
    if (qb_atomic_open(&a, path, err, errlen))
        return -1;
    fprintf(a.f, "%s\n", line);
    for (int j = 0; j < f->nl; j++)
        fprintf(a.f, "%.9g %.9g %.9g\n", (double)f->lo[j], (double)f->hi[j], (double)f->thr[j]);
    return qb_atomic_commit(&a, err, errlen);
}

/* The fine-tuning time beside the model (path + ".seconds"), written
 * before the ranges file that makes the cache entry valid. All 17
 * digits: a reuse reads back the very double the first run priced and
 * printed (with "%.3f" a time at a .x5 boundary printed 25.2 s first
 * and 25.1 s on reuse). */
static int write_seconds(const char *path, double seconds, char *err, size_t errlen)
{
    char sp[1100];
    snprintf(sp, sizeof sp, "%s.seconds", path);
    qb_atomic a;
    if (qb_atomic_open(&a, sp, err, errlen))
        return -1;
    fprintf(a.f, "%.17g\n", seconds);
    return qb_atomic_commit(&a, err, errlen);
}

double qb_qat_recorded_seconds(const char *path)
{
    char sp[1100];
    snprintf(sp, sizeof sp, "%s.seconds", path);
    FILE *f = fopen(sp, "r");
    double s = NAN;
    if (f && (fscanf(f, "%lf", &s) != 1 || !(s >= 0)))
        s = NAN;
    if (f)
        fclose(f);
    return s;
}

int qb_qat_ranges_match(const char *path, const char *line)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[1024] = "";
    int ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    buf[strcspn(buf, "\n")] = 0;
    return ok && !strcmp(buf, line);
}

int qb_qat_model(const qb_pipeline_opts *o, const qb_qat_opts *q, qb_pipeline_data *d, char *path, size_t len,
                 double *seconds, qb_err *e)
{
    *seconds = 0;
    if (!d->train.labels || !d->train_idx) {
        qb_errf(e, "%s: quantization-aware training needs a labelled training set (not -d none)", o->model);
        return -1;
    }
    int epochs;
    float lr;
    recipe(o, q, &epochs, &lr);
    char line[1024], ranges[1100];
    snprintf(line, sizeof line,
             "qbench-qat v1 model=%016llx dataset=%s prec=%s epochs=%d lr=%g batch=%d seed=%llu group=%d ends=%d "
             "val=%d",
             (unsigned long long)qb_file_hash(o->model), o->dataset, qb_precision_name(o->prec), epochs, (double)lr,
             q->batch, (unsigned long long)o->seed, o->qo.group, o->qo.binary_ends_int8, d->n_val);
    const char *base = strrchr(o->model, '/');
    base = base ? base + 1 : o->model;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && !strcmp(dot, ".onnx"))
        *dot = 0;
    char defdir[1024];
    snprintf(defdir, sizeof defdir, "%s/qat", qb_zoo_cache_dir());
    const char *dir = q->cache ? q->cache : defdir;
    snprintf(path, len, "%s/%s-%s-%016llx.onnx", dir, stem, qb_precision_name(o->prec),
             (unsigned long long)qb_fnv1a(QB_FNV_OFFSET, line, strlen(line)));
    snprintf(ranges, sizeof ranges, "%s.ranges", path);
    struct stat st;
    if (!q->force && !stat(path, &st) && qb_qat_ranges_match(ranges, line)) {
        if (o->verbose)
            fprintf(stderr, "qat: reusing %s\n", path);
        return 0;
    }
    char err[2400] = "";
    qb_net net;
    memset(&net, 0, sizeof net);
    int rc = qb_net_import(d->model, o->seed, &net, err, sizeof err); /* the model parsed once (pipeline data) */
    if (rc) {
        qb_errf(e, "%s", err);
        return -1;
    }
    qb_fq fq;
    memset(&fq, 0, sizeof fq);
    qb_precision plan[QB_NET_MAX_LAYERS];
    int nq = 0;
    for (int i = 0; i < net.n; i++)
        if (net.layers[i].kind == QB_L_DENSE || net.layers[i].kind == QB_L_CONV)
            plan[nq++] = o->prec;
    if (o->prec == QB_PREC_BINARY && o->qo.binary_ends_int8 && nq > 0)
        plan[0] = plan[nq - 1] = QB_PREC_INT8_CHANNEL;
    qb_train_cfg cfg;
    qb_train_cfg_default(&cfg);
    cfg.epochs = epochs;
    cfg.lr = lr;
    cfg.batch = q->batch;
    cfg.seed = o->seed;
    cfg.weight_decay = o->prec == QB_PREC_BINARY ? 0.0f : 5e-5f;
    cfg.verbose = o->verbose;
    qat_ctx ctx = {.fq = &fq, .observe_epochs = epochs / 2 > 1 ? epochs / 2 : 1,
                   .freeze_epoch = epochs >= 2 ? epochs - 1 : epochs, .verbose = o->verbose};
    rc = -1;
    if (qb_net_alloc(&net, q->batch, err, sizeof err) || qb_fq_init(&fq, &net, plan, o->qo.group, err, sizeof err)) {
        qb_errf(e, "%s: %s", o->model, err);
        goto out;
    }
    qb_fq_attach(&fq, &net, &cfg);
    cfg.step_hook = step_hook;
    cfg.step_ctx = &ctx;
    double t0 = qb_now();
    if (o->verbose)
        fprintf(stderr, "qat: fine-tuning %s for %s: %d epochs, lr %g, %d training images\n", o->model,
                qb_precision_name(o->prec), epochs, (double)lr, d->n_train);
    if (qb_train(&net, &d->train, d->train_idx, d->n_train, &d->norm, &cfg, NULL, err, sizeof err)) {
        qb_errf(e, "%s: %s", o->model, err);
        goto out;
    }
    *seconds = qb_now() - t0;
    if (o->verbose) { /* validation accuracy of the fake-quantized network */
        fq.observe = 0;
        qb_fq_step(&net, QB_STEP_BEGIN, 0, &fq);
        double acc = qb_evaluate(&net, &d->train, d->val_idx, d->n_val, &d->norm);
        qb_fq_step(&net, QB_STEP_GRADS, 0, &fq);
        fprintf(stderr, "qat: validation accuracy with fake quantization %.2f%% (%.1f s)\n", acc, *seconds);
    }
    net.hook = NULL;
    qb_fq_freeze_bn(&net, 0);
    for (int i = 0; i < net.n; i++) /* the exported model is plain fp32: padding back to zeros */
        net.layers[i].pad_value = 0.0f;
    qb_graph *out = qb_net_export(&net, stem, err, sizeof err);
    if (!out) {
        qb_errf(e, "%s: %s", o->model, err);
        goto out;
    }
    if (qb_mkdir_p(dir)) {
        qb_errf(e, "%s: cannot create the QAT cache directory: %s", dir, strerror(errno));
        qb_graph_free(out);
        goto out;
    }
    rc = qb_onnx_save(out, path, e);
    qb_graph_free(out);
    if (!rc && write_seconds(path, *seconds, err, sizeof err)) {
        qb_errf(e, "%s", err);
        rc = -1;
    }
    if (!rc && write_ranges(ranges, line, &fq, err, sizeof err)) {
        qb_errf(e, "%s", err);
        rc = -1;
    }
    if (!rc && o->verbose)
        fprintf(stderr, "qat: wrote %s\n", path);
out:
    qb_fq_free(&fq);
    qb_net_free(&net);
    return rc;
}

int qb_qat_apply_ranges(const char *path, qb_calibration *c, qb_err *e)
{
    char rp[1100], buf[1024];
    snprintf(rp, sizeof rp, "%s.ranges", path);
    FILE *f = fopen(rp, "r");
    if (!f) {
        qb_errf(e, "%s: cannot read the QAT ranges: %s", rp, strerror(errno));
        return -1;
    }
    int i = 0, rc = 0;
    if (!fgets(buf, sizeof buf, f))
        rc = -1;
    while (!rc && fgets(buf, sizeof buf, f)) {
        float lo, hi, t;
        if (sscanf(buf, "%f %f %f", &lo, &hi, &t) != 3 || i >= c->n) {
            rc = -1;
            break;
        }
        qb_layer_info *l = &c->layers[i++];
        char warn[256] = "";
        if (!(lo < hi) || !isfinite(lo) || !isfinite(hi)) /* never observed: keep the calibrated range */
            continue;
        qb_qparams_from_range(lo, hi, c->symmetric, &l->in_qp, warn, sizeof warn);
        l->in_mean = t;
    }
    fclose(f);
    if (rc || i != c->n) {
        qb_errf(e, "%s: line %d: expected %d lines 'lo hi threshold' after the recipe line", rp, i + 2, c->n);
        return -1;
    }
    return 0;
}
