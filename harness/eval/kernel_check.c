/*
 * kernel_check.c - kernel-vs-reference comparator (see kernel_check.h).
 * Generates weights, activations, biases and requantization parameters from
 * a seed, packs the weights, poisons the outputs, runs the kernel and the
 * scalar reference and compares element by element.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/eval/kernel_check.h"

#define POISON_BYTE 0x5a
#define POISON_WORD 0x5a5a5a5au

typedef struct rng {
    uint64_t s; /* xorshift64* state, never zero */
} rng;

static uint64_t next(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dull;
}

static int irange(rng *r, int lo, int hi) { return lo + (int)(next(r) % (uint64_t)(hi - lo + 1)); }
static float frange(rng *r, float lo, float hi) { return lo + (hi - lo) * (float)((next(r) >> 40) * 0x1p-24); }

/* An integer at one of the two ends of [lo, hi] (3 times in 4 when
 * filling extremes), or uniform within. */
static int ipick(rng *r, qb_fill f, int lo, int hi)
{
    if (f == QB_FILL_EXTREME && (next(r) & 3))
        return (next(r) & 1) ? lo : hi;
    return irange(r, lo, hi);
}

static float fpick(rng *r, qb_fill f, float big)
{
    if (f == QB_FILL_EXTREME && (next(r) & 1))
        return (next(r) & 1) ? big : -0.0f;
    return frange(r, -1, 1);
}

double qb_check_tolerance(const qb_kernel *k, int K)
{
    if (!qb_precision_is_float(k->prec))
        return 0.0; /* integer and integer-exact paths are bit-exact */
    return 2.0 * (K + 2) * ((k->flags & QB_KF_HALF_ARITH) ? 0x1p-11 : 0x1p-24);
}

struct qb_kcase {
    const qb_kernel *kn;  /* kernel under test */
    const qb_kernel *ref; /* scalar reference of the same family */
    qb_check_case c;      /* the case */
    qb_weights w;         /* logical weights (points into the buffers below) */
    qb_packed pk;         /* weights packed for kn */
    qb_gemm_args ga;      /* GEMM call (op gemm) */
    qb_dw_args da;        /* depthwise call (op dwconv) */
    int rows, cols;       /* output rows and valid columns */
    size_t ld;            /* output elements between rows */
    int elem;             /* bytes per output element */
    int is_float;         /* float outputs (tolerance) or integer (exact) */
    void (*gemm)(const qb_packed *, const qb_gemm_args *); /* runs kn's packed weights, or NULL: kn itself */
    size_t lda_f;         /* floats between rows of af */
    float *wf;            /* float weights (fp32, fp16, binary) */
    int8_t *wi;           /* int8 / int4 weights */
    float *scale;         /* int4 scales or binary alphas */
    float *bf;            /* float bias */
    int32_t *bi;          /* int32 bias */
    void *a;              /* activations as the kernel takes them */
    float *af;            /* float activations before binary packing */
    qb_requant *rq;       /* requantization per channel */
    qb_dw_fixed dwf;      /* int8 dw: the call's fixed parameters, given at pack time (w.dw) */
    void *c_ref, *c_out;  /* outputs */
};

void qb_kcase_free(qb_kcase *kc)
{
    if (!kc)
        return;
    qb_packed_free(&kc->pk);
    free(kc->wf); free(kc->wi); free(kc->scale); free(kc->bf); free(kc->bi);
    free(kc->a); free(kc->af); free(kc->rq); free(kc->c_ref); free(kc->c_out);
    free(kc);
}

/* Weights, biases and scales for n outputs of k inputs. */
static int make_weights(qb_kcase *kc, int n, int k, rng *g)
{
    const qb_check_case *c = &kc->c;
    qb_precision p = kc->kn->prec;
    size_t nk = (size_t)n * k;
    int group = (p == QB_PREC_INT4 && c->group) ? c->group : k;
    size_t nsc = (size_t)n * ((k + group - 1) / group);
    kc->bf = malloc(sizeof(float) * n);
    kc->bi = malloc(sizeof(int32_t) * n);
    kc->scale = malloc(sizeof(float) * nsc);
    if (!kc->bf || !kc->bi || !kc->scale)
        return -1;
    if (qb_precision_traits_of(p)->act == QB_ACT_I8) {
        int lo = p == QB_PREC_INT4 ? -8 : -127, hi = p == QB_PREC_INT4 ? 7 : 127;
        if (!(kc->wi = malloc(nk)))
            return -1;
        for (size_t i = 0; i < nk; i++)
            kc->wi[i] = (int8_t)ipick(g, c->fill, lo, hi);
    } else {
        if (!(kc->wf = malloc(nk * sizeof(float))))
            return -1;
        for (size_t i = 0; i < nk; i++)
            kc->wf[i] = fpick(g, c->fill, 65504.0f);
    }
    for (int j = 0; j < n; j++) {
        kc->bf[j] = frange(g, -1, 1);
        kc->bi[j] = irange(g, -40000, 40000);
    }
    for (size_t i = 0; i < nsc; i++)
        kc->scale[i] = frange(g, 0.001f, 0.05f);
    kc->w = (qb_weights){.n = n, .k = k, .group = p == QB_PREC_INT4 ? c->group : 0, .f32 = kc->wf,
                         .i8 = kc->wi, .scale = kc->scale, .bias_f32 = kc->bf, .bias_i32 = kc->bi};
    return 0;
}

/* Requantization multipliers that keep most outputs inside int8; with
 * extreme fill, also multipliers next to 1 and next to 0; a third of them
 * with 14 or 20 trailing zero bits. */
static int make_requant(qb_kcase *kc, int n, int taps, rng *g)
{
    if (!(kc->rq = calloc((size_t)n, sizeof *kc->rq)))
        return -1;
    double base = 40.0 / (sqrt((double)taps) * 128.0 * 73.0);
    for (int j = 0; j < n; j++) {
        double real = base * frange(g, 0.5f, 2.0f);
        if (kc->c.rq_fast == 2)
            real *= 0x1p-9;
        else if (kc->c.fill == QB_FILL_EXTREME && (next(g) & 1) && !kc->c.rq_fast)
            real = (next(g) & 1) ? 0.999999 : 1e-10;
        if (qb_requant_from_real(real < 1.0 ? real : 0.999, &kc->rq[j]))
            return -1;
        /* every third channel: trailing zero bits, as multipliers made from
         * float scales often have (vnni.h's qb_rqf_reduce rescales them) */
        if (j % 3 == 1 && !kc->c.rq_fast)
            kc->rq[j].multiplier &= (int32_t)(~0u << (j % 2 ? 14 : 20));
    }
    return 0;
}

/* Activations: int8 for int8/int4, float (bits for binary) otherwise. */
static int make_activations(qb_kcase *kc, int rows, size_t ld_i8, size_t count_f, rng *g)
{
    qb_precision p = kc->kn->prec;
    if (qb_precision_traits_of(p)->act == QB_ACT_I8) {
        int8_t *ai = malloc(count_f ? count_f : 1);
        if (!ai)
            return -1;
        for (size_t i = 0; i < count_f; i++)
            ai[i] = (int8_t)ipick(g, kc->c.fill, -128, 127);
        kc->a = ai;
        return 0;
    }
    float *af = malloc(sizeof(float) * (count_f ? count_f : 1));
    if (!af)
        return -1;
    for (size_t i = 0; i < count_f; i++)
        af[i] = fpick(g, kc->c.fill, 1000.0f);
    if (p != QB_PREC_BINARY) {
        kc->a = af;
        return 0;
    }
    kc->af = af;
    if (!(kc->a = calloc((size_t)rows * ld_i8, sizeof(uint64_t))))
        return -1;
    qb_binary_pack_rows(af, rows, kc->c.k, kc->lda_f, kc->a, ld_i8);
    return 0;
}

static int setup_gemm(qb_kcase *kc, rng *g)
{
    const qb_check_case *c = &kc->c;
    qb_precision p = kc->kn->prec;
    int i8 = qb_precision_is_int8(p);
    int out32 = i8 && c->out_i32;
    size_t lda = (p == QB_PREC_BINARY ? qb_binary_words(c->k) : (size_t)c->k) + (size_t)c->lda_extra;
    kc->lda_f = (size_t)c->k + (size_t)c->lda_extra;
    kc->rows = c->m;
    kc->cols = c->n;
    kc->ld = (size_t)c->n + (size_t)c->ldc_extra;
    kc->elem = i8 && !out32 ? 1 : 4;
    kc->is_float = !i8;
    if (make_weights(kc, c->n, c->k, g) || (i8 && make_requant(kc, c->n, c->k, g)))
        return -1;
    if (make_activations(kc, c->m, lda, (size_t)c->m * (p == QB_PREC_BINARY ? kc->lda_f : lda), g))
        return -1;
    kc->ga = (qb_gemm_args){.m = c->m, .a = kc->a, .lda = lda, .ldc = kc->ld, .f_min = -INFINITY,
                            .f_max = INFINITY, .c_min = -128, .c_max = 127, .out_i32 = out32, .rq = kc->rq};
    kc->ga.a_zero = ipick(g, c->fill, -128, 127);
    kc->ga.a_scale = frange(g, 0.001f, 0.1f);
    kc->ga.c_zero = irange(g, -20, 20);
    if (c->relu) {
        kc->ga.c_min = kc->ga.c_zero;
        kc->ga.f_min = 0.0f;
        kc->ga.f_max = 6.0f;
    }
    return 0;
}

/* Output size of a depthwise case along one axis (< 1: no output). */
static int dw_out(int size, int k, int s, int d, int p0, int p1)
{
    long span = (long)(k - 1) * d + 1;
    return size + p0 + p1 < span ? 0 : (int)((size + p0 + p1 - span) / s + 1);
}

int qb_check_dw_out(const qb_check_case *c, int *oh, int *ow)
{
    if (c->kh < 1 || c->kw < 1 || c->sh < 1 || c->sw < 1 || c->dh < 1 || c->dw < 1 || c->pad_t < 0 || c->pad_l < 0 ||
        c->pad_b < 0 || c->pad_r < 0 || (long)c->kh * c->kw > QB_DW_MAX_TAPS)
        return -1;
    *oh = dw_out(c->h, c->kh, c->sh, c->dh, c->pad_t, c->pad_b);
    *ow = dw_out(c->w, c->kw, c->sw, c->dw, c->pad_l, c->pad_r);
    return *oh < 1 || *ow < 1 ? -1 : 0;
}

static int setup_dw(qb_kcase *kc, rng *g)
{
    const qb_check_case *c = &kc->c;
    int i8 = qb_precision_is_int8(kc->kn->prec), C = c->n, taps = c->kh * c->kw, oh, ow;
    if (qb_check_dw_out(c, &oh, &ow))
        return -1;
    kc->rows = oh * ow;
    kc->cols = C;
    kc->ld = (size_t)C;
    kc->elem = i8 ? 1 : 4;
    kc->is_float = !i8;
    kc->lda_f = (size_t)taps;
    if (make_weights(kc, C, taps, g) || (i8 && make_requant(kc, C, taps, g)))
        return -1;
    if (make_activations(kc, 1, 0, (size_t)c->h * c->w * C, g))
        return -1;
    kc->da = (qb_dw_args){.h = c->h, .w = c->w, .c = C, .kh = c->kh, .kw = c->kw, .stride_h = c->sh,
                          .stride_w = c->sw, .dil_h = c->dh, .dil_w = c->dw, .pad_t = c->pad_t, .pad_l = c->pad_l,
                          .out_h = oh, .out_w = ow, .x = kc->a, .rq = kc->rq,
                          .y_min = -128, .y_max = 127, .f_min = -INFINITY, .f_max = INFINITY};
    kc->da.x_zero = ipick(g, c->fill, -128, 127);
    kc->da.y_zero = c->rq_fast == 2 ? 30000 : irange(g, -20, 20);
    if (i8) { /* packed as the engine packs a layer: constants laid out once */
        kc->dwf = (qb_dw_fixed){.kh = c->kh, .x_zero = kc->da.x_zero, .rq = kc->rq};
        kc->w.dw = &kc->dwf;
    }
    if (c->relu) {
        kc->da.y_min = kc->da.y_zero;
        kc->da.f_min = 0.0f;
        kc->da.f_max = 6.0f;
    }
    return 0;
}

qb_kcase *qb_kcase_new(const qb_kernel *kn, const qb_check_case *c, char *err, size_t errlen)
{
    qb_kcase *kc = calloc(1, sizeof *kc);
    if (!kc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    kc->kn = kn;
    kc->ref = qb_kernel_get(kn->op, kn->prec, QB_ISA_SCALAR);
    kc->c = *c;
    if (kn->op == QB_OP_DWCONV)
        kc->c.k = c->kh * c->kw;
    rng g = {c->seed * 2 + 1};
    int bad = kn->op == QB_OP_GEMM ? setup_gemm(kc, &g) : setup_dw(kc, &g);
    size_t bytes = (size_t)kc->rows * kc->ld * kc->elem;
    if (!bad) {
        kc->c_out = malloc(bytes ? bytes : 1);
        kc->c_ref = malloc(bytes ? bytes : 1);
        bad = !kc->c_out || !kc->c_ref;
    }
    if (bad) {
        snprintf(err, errlen, "%s: cannot set up the case (shape or memory)", kn->name);
        qb_kcase_free(kc);
        return NULL;
    }
    if (qb_pack(kn, &kc->w, &kc->pk, err, errlen)) {
        qb_kcase_free(kc);
        return NULL;
    }
    memset(kc->c_out, POISON_BYTE, bytes);
    return kc;
}

static void run_into(qb_kcase *kc, const qb_packed *p, void *out)
{
    if (kc->kn->op == QB_OP_GEMM) {
        kc->ga.c = out;
        if (kc->gemm && p == &kc->pk)
            kc->gemm(p, &kc->ga);
        else
            p->kernel->run.gemm(p, &kc->ga);
    } else {
        kc->da.y = out;
        p->kernel->run.dw(p, &kc->da);
    }
}

void qb_kcase_set_gemm(qb_kcase *kc, void (*gemm)(const qb_packed *p, const qb_gemm_args *a)) { kc->gemm = gemm; }

void qb_kcase_run(qb_kcase *kc) { run_into(kc, &kc->pk, kc->c_out); }

/* sum |a * w| + |b| for output (row, col): the scale of float rounding. */
static double magnitude(const qb_kcase *kc, int row, int col)
{
    const qb_check_case *c = &kc->c;
    const float *af = kc->af ? kc->af : kc->a;
    double s = fabs(kc->bf[col]);
    if (kc->kn->op == QB_OP_GEMM) {
        for (int l = 0; l < c->k; l++) {
            double wv = kc->wf[(size_t)col * c->k + l];
            if (kc->kn->prec == QB_PREC_FP16)
                wv = qb_f16_to_f32(qb_f32_to_f16((float)wv));
            s += fabs(af[(size_t)row * kc->lda_f + l] * wv);
        }
        return s;
    }
    int oy = row / kc->da.out_w, ox = row % kc->da.out_w;
    for (int ky = 0; ky < c->kh; ky++)
        for (int kx = 0; kx < c->kw; kx++) {
            int iy = oy * c->sh - c->pad_t + ky * c->dh, ix = ox * c->sw - c->pad_l + kx * c->dw;
            if (iy >= 0 && iy < c->h && ix >= 0 && ix < c->w)
                s += fabs(af[((size_t)iy * c->w + ix) * c->n + col] * kc->wf[(size_t)col * c->k + ky * c->kw + kx]);
        }
    return s;
}

static double value(const qb_kcase *kc, const void *buf, size_t at)
{
    if (kc->is_float)
        return ((const float *)buf)[at];
    return kc->elem == 4 ? ((const int32_t *)buf)[at] : ((const int8_t *)buf)[at];
}

static int is_poison(const qb_kcase *kc, const void *buf, size_t at)
{
    if (kc->elem == 1)
        return ((const uint8_t *)buf)[at] == POISON_BYTE;
    return ((const uint32_t *)buf)[at] == POISON_WORD;
}

/* int8 depthwise, packed with the call's fixed parameters (kc->w.dw):
 * the same bytes from the kernel packed without them (constants derived
 * per call) and packed with other ones (x_zero, then one multiplier,
 * changed: the kernel must notice and derive them per call). Returns the
 * outputs that differ, the first in msg. */
static long dw_variants(qb_kcase *kc, char *msg, size_t len)
{
    size_t bytes = (size_t)kc->rows * kc->ld;
    qb_requant *other = malloc((size_t)kc->c.n * sizeof *other);
    if (!other) {
        snprintf(msg, len, "out of memory");
        return 1;
    }
    memcpy(other, kc->rq, (size_t)kc->c.n * sizeof *other);
    other[kc->c.n - 1].multiplier ^= 1 << 28; /* stays in [2^30, 2^31) */
    const qb_dw_fixed shifted = {.kh = kc->dwf.kh, .x_zero = kc->dwf.x_zero ^ 1, .rq = kc->rq};
    const qb_dw_fixed remul = {.kh = kc->dwf.kh, .x_zero = kc->dwf.x_zero, .rq = other};
    const qb_dw_fixed *vs[3] = {NULL, &shifted, &remul};
    const char *what[3] = {"packed without fixed parameters", "packed for another x_zero",
                           "packed for another multiplier"};
    long bad = 0;
    for (int v = 0; v < 3 && !bad; v++) {
        qb_weights w = kc->w;
        w.dw = vs[v];
        qb_packed p;
        char err[256];
        if (qb_pack(kc->kn, &w, &p, err, sizeof err)) {
            snprintf(msg, len, "%s: pack (%s) failed: %s", kc->kn->name, what[v], err);
            bad = 1;
            break;
        }
        memset(kc->c_out, POISON_BYTE, bytes);
        run_into(kc, &p, kc->c_out);
        qb_packed_free(&p);
        for (size_t i = 0; i < bytes; i++)
            if (((int8_t *)kc->c_out)[i] != ((int8_t *)kc->c_ref)[i] && !bad++)
                snprintf(msg, len, "%s (%s): y[%zu][%zu] = %d, reference %d", kc->kn->name, what[v], i / kc->ld,
                         i % kc->ld, ((int8_t *)kc->c_out)[i], ((int8_t *)kc->c_ref)[i]);
    }
    free(other);
    return bad;
}

int qb_kcase_compare(qb_kcase *kc, qb_check_result *r)
{
    memset(r, 0, sizeof *r);
    qb_packed pr;
    char err[256];
    if (qb_pack(kc->ref, &kc->w, &pr, err, sizeof err)) {
        snprintf(r->msg, sizeof r->msg, "reference pack failed: %s", err);
        return -1;
    }
    size_t bytes = (size_t)kc->rows * kc->ld * kc->elem;
    memset(kc->c_ref, POISON_BYTE, bytes);
    memset(kc->c_out, POISON_BYTE, bytes);
    run_into(kc, &pr, kc->c_ref);
    qb_packed_free(&pr);
    qb_kcase_run(kc);

    double tol = qb_check_tolerance(kc->kn, kc->c.k), maxe = 0;
    long bad = 0, zeros = 0, nonzero_ref = 0;
    for (int i = 0; i < kc->rows; i++)
        for (size_t j = 0; j < kc->ld; j++) {
            size_t at = (size_t)i * kc->ld + j;
            if ((int)j >= kc->cols) { /* padding between rows must stay poisoned */
                if (!is_poison(kc, kc->c_out, at) && !bad++)
                    snprintf(r->msg, sizeof r->msg, "%s wrote C[%d][%zu], beyond the %d columns",
                             kc->kn->name, i, j, kc->cols);
                continue;
            }
            double ref = value(kc, kc->c_ref, at), out = value(kc, kc->c_out, at);
            int unwritten = kc->is_float && is_poison(kc, kc->c_out, at);
            nonzero_ref += ref != 0;
            zeros += out == 0 && ref != 0;
            double e = fabs(out - ref);
            if (isnan(out) != isnan(ref) || unwritten)
                e = INFINITY;
            else if (isnan(e))
                e = 0; /* both NaN */
            if (e > maxe)
                maxe = e;
            double lim = (tol > 0 && e > 0) ? tol * magnitude(kc, i, (int)j) : 0.0;
            if (e > lim && !bad++)
                snprintf(r->msg, sizeof r->msg, "%s: C[%d][%zu] = %.9g, reference %.9g (|diff| %.3g > %.3g)%s",
                         kc->kn->name, i, j, out, ref, e, lim, unwritten ? " (never written)" : "");
        }
    if (!bad && nonzero_ref && zeros == nonzero_ref) {
        bad = nonzero_ref;
        snprintf(r->msg, sizeof r->msg, "%s: every output is zero where the reference is not", kc->kn->name);
    }
    if (!bad && kc->w.dw)
        bad = dw_variants(kc, r->msg, sizeof r->msg);
    r->max_err = maxe;
    r->tol_used = tol;
    r->mismatches = bad;
    r->pass = bad == 0;
    if (bad) {
        char repro[256];
        qb_check_repro(kc->kn, &kc->c, repro, sizeof repro);
        size_t len = strlen(r->msg);
        snprintf(r->msg + len, sizeof r->msg - len, " [%ld bad] repro: %s", bad, repro);
    }
    return bad ? 1 : 0;
}

void qb_check_repro(const qb_kernel *k, const qb_check_case *c, char *buf, size_t len)
{
    int n;
    if (k->op == QB_OP_GEMM) {
        n = snprintf(buf, len, "qbench gemm -p %s -i %s -s %dx%dx%d", qb_precision_name(k->prec),
                     qb_isa_name(k->isa), c->m, c->n, c->k);
        if (n > 0 && (size_t)n < len && k->prec == QB_PREC_INT4 && c->group)
            n += snprintf(buf + n, len - n, " -g %d", c->group);
        if (n > 0 && (size_t)n < len && c->out_i32 && qb_precision_is_int8(k->prec))
            n += snprintf(buf + n, len - n, " --out-i32");
        if (n > 0 && (size_t)n < len && c->lda_extra)
            n += snprintf(buf + n, len - n, " --lda-extra %d", c->lda_extra);
        if (n > 0 && (size_t)n < len && c->ldc_extra)
            n += snprintf(buf + n, len - n, " --ldc-extra %d", c->ldc_extra);
    } else {
        n = snprintf(buf, len, "qbench dwconv -p %s -i %s -s %dx%dx%d -k %dx%d --stride %dx%d --dilation %dx%d "
                     "--pad %d,%d,%d,%d", qb_precision_name(k->prec), qb_isa_name(k->isa), c->h, c->w, c->n, c->kh,
                     c->kw, c->sh, c->sw, c->dh, c->dw, c->pad_t, c->pad_l, c->pad_b, c->pad_r);
    }
    if (n > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - n, "%s%s --seed %llu --check", c->relu ? " --relu" : "",
                      c->fill == QB_FILL_EXTREME ? " --fill extreme" : "", (unsigned long long)c->seed);
    if (n > 0 && (size_t)n < len && c->rq_fast)
        snprintf(buf + n, len - n, " --rq-fast %d", c->rq_fast);
}

int qb_check_kernel(const qb_kernel *kn, const qb_check_case *c, qb_check_result *r)
{
    char err[256];
    memset(r, 0, sizeof *r);
    if (!kn->run.gemm) {
        snprintf(r->msg, sizeof r->msg, "%s: not built into this binary", kn->name);
        return -1;
    }
    qb_kcase *kc = qb_kcase_new(kn, c, err, sizeof err);
    if (!kc) {
        snprintf(r->msg, sizeof r->msg, "%s", err);
        return -1;
    }
    int rc = qb_kcase_compare(kc, r);
    qb_kcase_free(kc);
    return rc;
}
