/*
 * bn.c - BatchNormalization per channel over batch and pixels, one
 * channel per parallel iteration, optionally fused with the ReLU/ReLU6
 * that follows it (net.c decides; one pass over memory less each way).
 * Training: batch mean and population variance from shifted sums (per
 * plane in eight float partial sums, combined in double, a fixed order),
 * running statistics updated as running*momentum + batch*(1-momentum)
 * (the ONNX convention, population variance as in harness/graph);
 * inference: running statistics. Backward recomputes the normalised input
 * from the input and the batch mean and 1/std kept by the forward pass.
 */
#include <math.h>

#include "harness/train/layers.h"
#include "harness/train/par.h"

/* y = act(xh * gamma + beta), xh = (x - mean) * invstd, over one plane;
 * act clamps to [0, hi] when hi >= 0. */
static void norm_plane(const float *restrict x, float *restrict y, size_t P, float mean, float invstd, float gm,
                       float bt, float hi)
{
    if (hi >= 0) {
        for (size_t p = 0; p < P; p++) {
            float v = (x[p] - mean) * invstd * gm + bt;
            v = v > 0 ? v : 0.0f;
            y[p] = v < hi ? v : hi;
        }
    } else {
        for (size_t p = 0; p < P; p++)
            y[p] = (x[p] - mean) * invstd * gm + bt;
    }
}

/* Sums of (x - k) and (x - k)^2 over one plane, eight float partials. */
static void shifted_sums(const float *restrict x, size_t n, float k, double *s1, double *s2)
{
    float a[8] = {0}, q[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            float v = x[i + j] - k;
            a[j] += v;
            q[j] += v * v;
        }
    double t1 = 0, t2 = 0;
    for (int j = 0; j < 8; j++) {
        t1 += a[j];
        t2 += q[j];
    }
    for (; i < n; i++) {
        double v = (double)x[i] - k;
        t1 += v;
        t2 += v * v;
    }
    *s1 += t1;
    *s2 += t2;
}

/* Backward sums over one plane: sum g and sum g*xh, g = dy masked by the
 * fused activation's output y (0 < y < hi) when hi >= 0. */
static inline __attribute__((always_inline)) void grad_sums_t(const float *restrict x, const float *restrict y,
                                                               const float *restrict dy, size_t n, float mean,
                                                               float invstd, float hi, double *sg, double *sgx,
                                                               const int act)
{
    float a[8] = {0}, q[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            float g = dy[i + j];
            if (act)
                g = y[i + j] > 0 && y[i + j] < hi ? g : 0.0f;
            a[j] += g;
            q[j] += g * ((x[i + j] - mean) * invstd);
        }
    double t1 = 0, t2 = 0;
    for (int j = 0; j < 8; j++) {
        t1 += a[j];
        t2 += q[j];
    }
    for (; i < n; i++) {
        float g = dy[i];
        if (act)
            g = y[i] > 0 && y[i] < hi ? g : 0.0f;
        t1 += g;
        t2 += (double)g * ((x[i] - mean) * invstd);
    }
    *sg += t1;
    *sgx += t2;
}

/* dx = a g - m0 - m1 xh over one plane (g masked as in grad_sums). */
static inline __attribute__((always_inline)) void grad_plane_t(const float *restrict x, const float *restrict y,
                                                                const float *restrict dy, float *restrict dx,
                                                                size_t n, float mean, float invstd, float hi,
                                                                float a, float m0, float m1, const int act)
{
    for (size_t i = 0; i < n; i++) {
        float g = dy[i];
        if (act)
            g = y[i] > 0 && y[i] < hi ? g : 0.0f;
        dx[i] = a * g - m0 - m1 * ((x[i] - mean) * invstd);
    }
}

/* The two variants of the helpers above, the branch folded away. */
static void grad_sums(const float *x, const float *y, const float *dy, size_t n, float mean, float invstd,
                      float hi, double *sg, double *sgx)
{
    if (hi >= 0)
        grad_sums_t(x, y, dy, n, mean, invstd, hi, sg, sgx, 1);
    else
        grad_sums_t(x, y, dy, n, mean, invstd, hi, sg, sgx, 0);
}

static void grad_plane(const float *x, const float *y, const float *dy, float *dx, size_t n, float mean,
                       float invstd, float hi, float a, float m0, float m1)
{
    if (hi >= 0)
        grad_plane_t(x, y, dy, dx, n, mean, invstd, hi, a, m0, m1, 1);
    else
        grad_plane_t(x, y, dy, dx, n, mean, invstd, hi, a, m0, m1, 0);
}

void qb_bn_fwd(qb_layer *L, const float *x, float *y, int B, int training, float act_hi)
{
    int C = L->in_c;
    size_t P = (size_t)L->in_h * L->in_w;
    int par = qb_par_worth((size_t)B * C * P);
    (void)par;
#pragma omp parallel for schedule(static) if (par)
    for (int c = 0; c < C; c++) {
        float mean, invstd;
        if (training && !L->bn_frozen) {
            double s1 = 0, s2 = 0;
            float k = x[(size_t)c * P]; /* shift: sample 0's first value */
            for (int b = 0; b < B; b++)
                shifted_sums(x + ((size_t)b * C + c) * P, P, k, &s1, &s2);
            double n = (double)B * P, dm = s1 / n;
            double var = s2 / n - dm * dm;
            var = var > 0 ? var : 0;
            mean = (float)(k + dm);
            invstd = (float)(1.0 / sqrt(var + L->eps));
            L->bn_mean[c] = mean;
            L->bn_invstd[c] = invstd;
            L->run_mean[c] = L->run_mean[c] * L->momentum + mean * (1 - L->momentum);
            L->run_var[c] = L->run_var[c] * L->momentum + (float)var * (1 - L->momentum);
        } else {
            mean = L->run_mean[c];
            invstd = 1.0f / sqrtf(L->run_var[c] + L->eps);
            if (training) { /* frozen (QAT): an affine map whose backward needs these */
                L->bn_mean[c] = mean;
                L->bn_invstd[c] = invstd;
            }
        }
        for (int b = 0; b < B; b++) {
            size_t off = ((size_t)b * C + c) * P;
            norm_plane(x + off, y + off, P, mean, invstd, L->w[c], L->b[c], act_hi);
        }
    }
}

void qb_bn_bwd(qb_layer *L, const float *x, const float *y, const float *dy, float *dx, int B, float act_hi)
{
    int C = L->in_c;
    size_t P = (size_t)L->in_h * L->in_w;
    double N = (double)B * P;
    int par = qb_par_worth((size_t)B * C * P);
    (void)par;
#pragma omp parallel for schedule(static) if (par)
    for (int c = 0; c < C; c++) {
        double sdy = 0, sdyx = 0;
        float mean = L->bn_mean[c], invstd = L->bn_invstd[c];
        for (int b = 0; b < B; b++) {
            size_t off = ((size_t)b * C + c) * P;
            grad_sums(x + off, act_hi >= 0 ? y + off : NULL, dy + off, P, mean, invstd, act_hi, &sdy, &sdyx);
        }
        L->db[c] = (float)sdy;
        L->dw[c] = (float)sdyx;
        if (!dx)
            continue;
        /* dx = k (N g - sum g - xh sum g xh), k = gamma invstd / N */
        double k = (double)L->w[c] * invstd / N;
        float a = (float)(k * N), m0 = (float)(k * sdy), m1 = (float)(k * sdyx);
        if (L->bn_frozen) /* fixed statistics: dx = gamma invstd g */
            m0 = m1 = 0.0f;
        for (int b = 0; b < B; b++) {
            size_t off = ((size_t)b * C + c) * P;
            grad_plane(x + off, act_hi >= 0 ? y + off : NULL, dy + off, dx + off, P, mean, invstd, act_hi, a, m0,
                       m1);
        }
    }
}
