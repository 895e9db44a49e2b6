/*
 * bn.c - BatchNormalization per channel over batch and pixels. Training:
 * batch mean and population variance (in double), running statistics
 * updated as running*momentum + batch*(1-momentum) (the ONNX convention,
 * population variance as in harness/graph); inference: running
 * statistics. Backward uses the cached normalised input.
 */
#include <math.h>

#include "harness/train/layers.h"

void qb_bn_fwd(qb_layer *L, const float *x, float *y, int B, int training)
{
    int C = L->in_c;
    size_t P = (size_t)L->in_h * L->in_w;
    for (int c = 0; c < C; c++) {
        float mean, invstd;
        if (training) {
            double s = 0, s2 = 0;
            for (int b = 0; b < B; b++) {
                const float *xc = x + ((size_t)b * C + c) * P;
                for (size_t p = 0; p < P; p++)
                    s += xc[p];
            }
            double m = s / ((double)B * P);
            for (int b = 0; b < B; b++) {
                const float *xc = x + ((size_t)b * C + c) * P;
                for (size_t p = 0; p < P; p++)
                    s2 += (xc[p] - m) * (xc[p] - m);
            }
            double var = s2 / ((double)B * P);
            mean = (float)m;
            invstd = (float)(1.0 / sqrt(var + L->eps));
            L->bn_invstd[c] = invstd;
            L->run_mean[c] = L->run_mean[c] * L->momentum + mean * (1 - L->momentum);
            L->run_var[c] = L->run_var[c] * L->momentum + (float)var * (1 - L->momentum);
        } else {
            mean = L->run_mean[c];
            invstd = 1.0f / sqrtf(L->run_var[c] + L->eps);
        }
        float gm = L->w[c], bt = L->b[c];
        for (int b = 0; b < B; b++) {
            size_t off = ((size_t)b * C + c) * P;
            for (size_t p = 0; p < P; p++) {
                float xh = (x[off + p] - mean) * invstd;
                if (training)
                    L->bn_xhat[off + p] = xh;
                y[off + p] = xh * gm + bt;
            }
        }
    }
}

void qb_bn_bwd(qb_layer *L, const float *dy, float *dx, int B)
{
    int C = L->in_c;
    size_t P = (size_t)L->in_h * L->in_w;
    double N = (double)B * P;
    for (int c = 0; c < C; c++) {
        double sdy = 0, sdyx = 0;
        for (int b = 0; b < B; b++) {
            size_t off = ((size_t)b * C + c) * P;
            for (size_t p = 0; p < P; p++) {
                sdy += dy[off + p];
                sdyx += (double)dy[off + p] * L->bn_xhat[off + p];
            }
        }
        L->db[c] = (float)sdy;
        L->dw[c] = (float)sdyx;
        if (!dx)
            continue;
        double k = (double)L->w[c] * L->bn_invstd[c] / N;
        for (int b = 0; b < B; b++) {
            size_t off = ((size_t)b * C + c) * P;
            for (size_t p = 0; p < P; p++)
                dx[off + p] = (float)(k * (N * dy[off + p] - sdy - L->bn_xhat[off + p] * sdyx));
        }
    }
}
