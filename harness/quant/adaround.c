/*
 * adaround.c - AdaRound (Nagel et al., "Up or Down? Adaptive Rounding for
 * Post-Training Quantization", ICML 2020): each weight of a layer is
 * rounded down or up as learned on the calibration data, not to nearest.
 *
 * Per layer, with the quantizer's own scale s (max |w| / qmax per row or
 * group, qlayer.c's grid) and V a free variable per weight:
 *   h(V) = clamp(sigmoid(V) (zeta - gamma) + gamma, 0, 1), zeta 1.1, gamma -0.1
 *   W~   = s (floor(W / s) + h(V))
 *   loss = (1 / samples) sum over the layer's outputs of (W~ x - W x)^2
 *          + lambda sum (1 - |2 h - 1|^beta)
 * (the reconstruction as in the authors' BRECQ code: squared error summed
 * over a sample's outputs, mean over samples; x the FP32 inputs; the
 * output before the activation). lambda 0.01; the first 20% of the
 * iterations without the regularizer, then beta annealed linearly from 20
 * to 2. Adam (lr 0.01) on V, V started where h = the fractional part
 * (W~ = W). The gradient is exact and closed-form: with G = sum x x^T
 * (k x k) it is 2 (W~ - W) G s / samples, so an iteration costs n k^2
 * whatever the number of samples; layers with k > 2 x rows keep the input
 * rows A instead (all of them up to 1024 rows, else mini-batches of 256). (The training engine's
 * backward passes are not used: the quantized graph's layers are
 * BN-folded graph nodes, not training-engine layers, and for one linear
 * layer this gradient is the whole backward pass.) Final weights: floor +
 * (h >= 0.5); kept only when their MSE is below nearest rounding's.
 * Weights on the grid's bound (|w| / s = qmax, those that set the scale)
 * keep their nearest value, so the quantizer finds the same scale again.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/measure/timer.h"
#include "harness/quant/repairs.h"
#include "harness/train/train.h"

#define ZETA 1.1
#define GAMMA (-0.1)

/* Output MSE (per sample) of the weight error d (n x k): sum_o d_o G d_o^T / samples, or with rows A. */
static double mse_of(const double *d, int n, int k, const double *G, const float *A, long m, double samples)
{
    double tot = 0;
    if (G) {
        double *t = malloc((size_t)k * sizeof *t);
        for (int o = 0; o < n; o++) {
            const double *dr = d + (size_t)o * k;
            for (int i = 0; i < k; i++) {
                double s = 0;
                const double *gr = G + (size_t)i * k;
                for (int j = 0; j < k; j++)
                    s += gr[j] * dr[j];
                t[i] = s;
            }
            for (int i = 0; i < k; i++)
                tot += dr[i] * t[i];
        }
        free(t);
    } else {
        for (long r = 0; r < m; r++)
            for (int o = 0; o < n; o++) {
                double s = 0;
                for (int j = 0; j < k; j++)
                    s += (double)A[r * k + j] * d[(size_t)o * k + j];
                tot += s * s;
            }
    }
    return tot / samples;
}

/* splitmix64 step */
static uint64_t mix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void qb_adaround_layer(const float *w, int n, int k, const float *scale, int group, int qmax, const double *G,
                       const float *A, long m, int iters, uint64_t seed, int8_t *q, double *mse0, double *mse1)
{
    size_t nk = (size_t)n * k;
    int glen = group > 0 && group < k ? group : k, ng = (k + glen - 1) / glen;
    double *base = malloc(nk * sizeof *base), *sv = malloc(nk * sizeof *sv), *V = malloc(nk * sizeof *V);
    double *mom = calloc(nk, sizeof *mom), *vel = calloc(nk, sizeof *vel), *d = calloc(nk + 1, sizeof *d);
    double *grad = malloc(nk * sizeof *grad);
    unsigned char *fixed = malloc(nk + 1);
    int8_t *qn = malloc(nk + 1);
    double samples = (double)m; /* m: samples for G, rows for A (one row per sample for Gemm) */
    /* float copies for the GEMM kernel: G (k x k), d, its product; A^T and E for the rows */
    float *Gf = G ? malloc((size_t)k * k * sizeof *Gf) : NULL, *df = malloc(nk * sizeof *df + 4);
    float *gf = malloc(nk * sizeof *gf + 4);
    int rows_all = !G && m <= 1024;
    float *At = rows_all ? malloc((size_t)m * k * sizeof *At) : NULL, *E = rows_all ? malloc((size_t)m * n * sizeof *E) : NULL;
    float *Et = rows_all ? malloc((size_t)m * n * sizeof *Et) : NULL;
    if (!base || !sv || !V || !mom || !vel || !d || !grad || !fixed || !qn || (G && !Gf) || !df || !gf ||
        (rows_all && (!At || !E || !Et))) {
        for (size_t i = 0; i < nk; i++) /* out of memory: nearest */
            q[i] = (int8_t)fmax(-qmax, fmin(qmax, nearbyint(w[i] / scale[(i / k) * ng + (i % k) / glen])));
        goto out;
    }
    if (Gf)
        for (size_t i = 0; i < (size_t)k * k; i++)
            Gf[i] = (float)G[i];
    if (At)
        qb_transpose(A, (int)m, k, At);
    for (size_t i = 0; i < nk; i++) {
        double s = scale[(i / k) * ng + (i % k) / glen], x = w[i] / s;
        sv[i] = s;
        double fl = floor(x), r = x - fl;
        qn[i] = (int8_t)fmax(-qmax, fmin(qmax, nearbyint(x)));
        fixed[i] = fabs(x) >= qmax - 1e-3 || fl >= qmax || fl < -qmax || !isfinite(x);
        base[i] = fl;
        if (r < 1e-4)
            r = 1e-4;
        if (r > 1 - 1e-4)
            r = 1 - 1e-4;
        V[i] = -log((ZETA - GAMMA) / (r - GAMMA) - 1);
    }
    for (size_t i = 0; i < nk; i++)
        d[i] = qn[i] * sv[i] - w[i];
    double e0 = mse_of(d, n, k, G, A, m, samples);
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, lambda = 0.01;
    int warm = iters / 5;
    long batch = 256;
    uint64_t rng = seed;
    for (int it = 0; it < iters; it++) {
        double beta = it < warm ? 20 : 20 - 18.0 * (it - warm) / (iters - warm > 1 ? iters - warm - 1 : 1);
        for (size_t i = 0; i < nk; i++) {
            double sg = 1 / (1 + exp(-V[i])), h = fmin(1, fmax(0, sg * (ZETA - GAMMA) + GAMMA));
            d[i] = fixed[i] ? qn[i] * sv[i] - w[i] : (base[i] + h) * sv[i] - w[i];
        }
        for (size_t i = 0; i < nk; i++)
            df[i] = (float)d[i];
        if (G) { /* grad_W = 2 d G / samples (G symmetric: d G = d G^T, the fp32 GEMM kernel) */
            qb_mm_nt(n, k, k, df, Gf, NULL, gf);
            for (size_t i = 0; i < nk; i++)
                grad[i] = 2 * (double)gf[i] / samples;
        } else if (m <= 1024) { /* all rows: E = A d^T (m x n), grad = 2 E^T A / m */
            qb_mm_nt((int)m, n, k, A, df, NULL, E);
            qb_transpose(E, (int)m, n, Et);
            qb_mm_nt(n, k, (int)m, Et, At, NULL, gf);
            for (size_t i = 0; i < nk; i++)
                grad[i] = 2 * (double)gf[i] / (double)m;
        } else { /* a mini-batch of rows */
            memset(grad, 0, nk * sizeof *grad);
            for (long b = 0; b < batch; b++) {
                const float *a = A + (long)(mix(&rng) % (uint64_t)m) * k;
                for (int o = 0; o < n; o++) {
                    double s = 0;
                    for (int j = 0; j < k; j++)
                        s += (double)a[j] * d[(size_t)o * k + j];
                    for (int j = 0; j < k; j++)
                        grad[(size_t)o * k + j] += 2 * s * a[j] / batch;
                }
            }
        }
        for (size_t i = 0; i < nk; i++) {
            if (fixed[i])
                continue;
            double sg = 1 / (1 + exp(-V[i])), hr = sg * (ZETA - GAMMA) + GAMMA;
            if (hr <= 0 || hr >= 1)
                continue; /* clamped: no gradient */
            double gh = grad[i] * sv[i];
            if (it >= warm) {
                double u = 2 * hr - 1;
                gh += lambda * -beta * pow(fabs(u), beta - 1) * (u > 0 ? 1 : u < 0 ? -1 : 0) * 2;
            }
            double gv = gh * (ZETA - GAMMA) * sg * (1 - sg);
            mom[i] = b1 * mom[i] + (1 - b1) * gv;
            vel[i] = b2 * vel[i] + (1 - b2) * gv * gv;
            double mh = mom[i] / (1 - pow(b1, it + 1)), vh = vel[i] / (1 - pow(b2, it + 1));
            V[i] -= lr * mh / (sqrt(vh) + eps);
        }
    }
    for (size_t i = 0; i < nk; i++) {
        double sg = 1 / (1 + exp(-V[i])), h = fmin(1, fmax(0, sg * (ZETA - GAMMA) + GAMMA));
        double v = fixed[i] ? qn[i] : base[i] + (h >= 0.5);
        q[i] = (int8_t)fmax(-qmax, fmin(qmax, v));
        d[i] = q[i] * sv[i] - w[i];
    }
    double e1 = mse_of(d, n, k, G, A, m, samples);
    if (!(e1 < e0)) { /* no better than nearest on these samples: keep nearest */
        memcpy(q, qn, nk);
        e1 = e0;
    }
    if (mse0)
        *mse0 = e0;
    if (mse1)
        *mse1 = e1;
out:
    free(Gf), free(df), free(gf), free(At), free(E), free(Et);
    free(base), free(sv), free(V), free(mom), free(vel), free(d), free(grad), free(fixed), free(qn);
}

int qb_layer_grid(const qb_wview *v, qb_precision p, int group, float *scale, int *ngroups, int *qmax)
{
    p = qb_precision_runs_as(p);
    if (v->depthwise && p == QB_PREC_INT4)
        p = QB_PREC_INT8_CHANNEL; /* what runs (qlayer.c) */
    if (p != QB_PREC_INT4 && p != QB_PREC_INT8_CHANNEL && p != QB_PREC_INT8_TENSOR)
        return -1;
    size_t nk = (size_t)v->n * v->k;
    float *w = malloc(nk * sizeof *w + 1);
    int8_t *q = malloc(nk + 1);
    if (!w || !q) {
        free(w), free(q);
        return -1;
    }
    qb_wview_rows(v, w);
    int g = p == QB_PREC_INT4 && v->taps == 1 ? group : 0;
    if (p == QB_PREC_INT4) {
        qb_quant_w_int4(w, v->n, v->k, g, q, scale, NULL, 0);
        *ngroups = qb_int4_ngroups(v->k, g);
        *qmax = 7;
    } else {
        float s1 = 0;
        qb_quant_w_int8(w, v->n, v->k, p == QB_PREC_INT8_CHANNEL, q, p == QB_PREC_INT8_CHANNEL ? scale : &s1, NULL, 0);
        if (p == QB_PREC_INT8_TENSOR)
            for (int o = 0; o < v->n; o++)
                scale[o] = s1;
        *ngroups = 1;
        *qmax = 127;
    }
    free(w), free(q);
    return 0;
}

/* Input statistics per layer: the Gram matrix, or the rows. */
typedef struct ada_ctx {
    double **G;      /* layer -> k x k (depthwise: cin blocks of taps x taps), or NULL */
    float **A;       /* layer -> rows (when G is NULL) */
    long *rows;      /* layer -> rows stored / added (depthwise: positions) */
    long *cap;       /* layer -> row capacity of A */
} ada_ctx;

static void add_rows(void *vctx, int layer, int grp, const float *a, int len)
{
    ada_ctx *cx = vctx;
    if (cx->G[layer]) {
        double *G = cx->G[layer] + (size_t)grp * len * len;
        for (int i = 0; i < len; i++) {
            double ai = a[i];
            if (ai == 0)
                continue;
            double *gr = G + (size_t)i * len;
            for (int j = 0; j < len; j++)
                gr[j] += ai * a[j];
        }
        if (grp == 0)
            cx->rows[layer]++;
    } else if (cx->A[layer] && cx->rows[layer] < cx->cap[layer]) {
        memcpy(cx->A[layer] + (size_t)cx->rows[layer] * len, a, (size_t)len * sizeof *a);
        cx->rows[layer]++;
    }
}

int qb_adaround(qb_graph *g, const qb_calibration *cal, const qb_precision *plan, const qb_quant_opts *o,
                const qb_samples *s, int batch, int iters, qb_adaround_report *rep, qb_err *e)
{
    double t0 = qb_now();
    memset(rep, 0, sizeof *rep);
    rep->iters = iters;
    int n = cal->n, rc = -1;
    int *nodes = calloc((size_t)n + 1, sizeof *nodes);
    ada_ctx cx = {.G = calloc((size_t)n + 1, sizeof *cx.G), .A = calloc((size_t)n + 1, sizeof *cx.A),
                  .rows = calloc((size_t)n + 1, sizeof *cx.rows), .cap = calloc((size_t)n + 1, sizeof *cx.cap)};
    if (!nodes || !cx.G || !cx.A || !cx.rows || !cx.cap)
        goto oom;
    for (int i = 0; i < n; i++) {
        qb_wview v;
        nodes[i] = qb_layer_node(g, &cal->layers[i]);
        if (nodes[i] < 0 || qb_wview_of(g, nodes[i], &v) || qb_attr_float(&g->nodes[nodes[i]], "alpha", 1.0f) != 1.0f ||
            (qb_precision_runs_as(plan[i]) != QB_PREC_INT4 && qb_precision_runs_as(plan[i]) != QB_PREC_INT8_CHANNEL &&
             qb_precision_runs_as(plan[i]) != QB_PREC_INT8_TENSOR)) {
            nodes[i] = -1;
            continue;
        }
        long per = cal->layers[i].macs / ((long)v.n * v.k > 0 ? (long)v.n * v.k : 1); /* rows per sample */
        long m = per * s->n;
        if (v.depthwise || v.k <= 2 * m) {
            size_t len = v.depthwise ? (size_t)v.cin * v.k * v.k : (size_t)v.k * v.k;
            if (!(cx.G[i] = calloc(len, sizeof **cx.G)))
                goto oom;
        } else {
            cx.cap[i] = m;
            if (!(cx.A[i] = malloc((size_t)m * v.k * sizeof **cx.A)))
                goto oom;
        }
    }
    if (qb_layer_inputs(g, nodes, n, s, batch, add_rows, &cx, e))
        goto out;
    for (int i = 0; i < n; i++) {
        qb_wview v;
        if (nodes[i] < 0 || qb_wview_of(g, nodes[i], &v))
            continue;
        size_t nk = (size_t)v.n * v.k;
        int ngr, qmax;
        float *w = malloc(nk * sizeof *w + 1), *scale = malloc(((size_t)v.n * (v.k + 1)) * sizeof *scale + 4);
        int8_t *q = malloc(nk + 1);
        if (!w || !scale || !q) {
            free(w), free(scale), free(q);
            goto oom;
        }
        qb_wview_rows(&v, w);
        if (qb_layer_grid(&v, plan[i], o->group, scale, &ngr, &qmax)) {
            free(w), free(scale), free(q);
            continue;
        }
        int grp = ngr > 1 ? (v.k + ngr - 1) / ngr : 0;
        double e0 = 0, e1 = 0;
        if (v.depthwise) { /* every channel its own 1 x taps layer with its own Gram block */
            for (int c = 0; c < v.n; c++) {
                double a0, a1;
                qb_adaround_layer(w + (size_t)c * v.k, 1, v.k, scale + c, 0, qmax,
                                  cx.G[i] + (size_t)c * v.k * v.k, NULL, s->n, iters, 1000 + (uint64_t)i * 7919 + c,
                                  q + (size_t)c * v.k, &a0, &a1);
                e0 += a0, e1 += a1;
            }
        } else {
            qb_adaround_layer(w, v.n, v.k, scale, grp, qmax, cx.G[i], cx.A[i], cx.G[i] ? s->n : cx.rows[i], iters,
                              1000 + (uint64_t)i * 7919, q, &e0, &e1);
        }
        int glen = grp > 0 ? grp : v.k;
        for (int oo = 0; oo < v.n; oo++)
            for (int j = 0; j < v.k; j++) {
                size_t at = (size_t)oo * v.k + j;
                float nw = (float)q[at] * scale[(size_t)oo * ngr + j / glen];
                float ref = w[at] / scale[(size_t)oo * ngr + j / glen];
                rep->flipped += q[at] != (int8_t)fmaxf(-qmax, fminf(qmax, nearbyintf(ref)));
                *qb_wv_at(&v, oo, j) = nw;
            }
        rep->layers++;
        rep->mse_nearest += e0;
        rep->mse_ada += e1;
        free(w), free(scale), free(q);
    }
    rc = 0;
    goto out;
oom:
    qb_errf(e, "%s: out of memory", g->file);
out:
    for (int i = 0; i < n; i++) {
        if (cx.G)
            free(cx.G[i]);
        if (cx.A)
            free(cx.A[i]);
    }
    free(cx.G), free(cx.A), free(cx.rows), free(cx.cap), free(nodes);
    rep->seconds = qb_now() - t0;
    return rc;
}
