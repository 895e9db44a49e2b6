/*
 * pool.c - MaxPool (first maximum on ties, padding never selected),
 * AveragePool (padding not counted, ONNX count_include_pad=0) and
 * GlobalAveragePool, forward and backward.
 */
#include <string.h>

#include "harness/train/layers.h"
#include "harness/train/par.h"

/* 2x2 max-pool, stride 2, no padding, of one plane (the zoo's case). */
static void max2x2(const float *restrict xc, float *restrict yc, int32_t *restrict ac, int W, int OH, int OW)
{
    for (int oy = 0; oy < OH; oy++) {
        const float *r0 = xc + (size_t)2 * oy * W, *r1 = r0 + W;
        for (int ox = 0; ox < OW; ox++) {
            int j = 2 * ox, a = 2 * oy * W + j;
            float best = r0[j];
            if (r0[j + 1] > best) {
                best = r0[j + 1];
                a = 2 * oy * W + j + 1;
            }
            if (r1[j] > best) {
                best = r1[j];
                a = (2 * oy + 1) * W + j;
            }
            if (r1[j + 1] > best) {
                best = r1[j + 1];
                a = (2 * oy + 1) * W + j + 1;
            }
            yc[oy * OW + ox] = best;
            ac[oy * OW + ox] = a;
        }
    }
}

void qb_pool_fwd(qb_layer *L, const float *x, float *y, int B)
{
    int C = L->in_c, H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    int par = qb_par_worth((size_t)B * C * H * W);
    (void)par;
    if (L->kind == QB_L_GAP) {
#pragma omp parallel for schedule(static) if (par)
        for (size_t bc = 0; bc < (size_t)B * C; bc++) {
            double s = 0;
            for (int p = 0; p < H * W; p++)
                s += x[bc * H * W + p];
            y[bc] = (float)(s / (H * W));
        }
        return;
    }
    if (L->kind == QB_L_MAXPOOL && L->pad == 0 && L->k == 2 && L->stride == 2) {
#pragma omp parallel for schedule(static) if (par)
        for (size_t bc = 0; bc < (size_t)B * C; bc++)
            max2x2(x + bc * H * W, y + bc * OH * OW, L->argmax + bc * OH * OW, W, OH, OW);
        return;
    }
    if (L->kind == QB_L_MAXPOOL && L->pad == 0) { /* every window inside the input */
        int k = L->k, st = L->stride;
#pragma omp parallel for schedule(static) if (par)
        for (size_t bc = 0; bc < (size_t)B * C; bc++) {
            const float *xc = x + bc * H * W;
            float *yc = y + bc * OH * OW;
            int32_t *ac = L->argmax + bc * OH * OW;
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    int a = oy * st * W + ox * st;
                    float best = xc[a];
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int j = (oy * st + ky) * W + ox * st + kx;
                            if (xc[j] > best) {
                                best = xc[j];
                                a = j;
                            }
                        }
                    yc[oy * OW + ox] = best;
                    ac[oy * OW + ox] = a;
                }
        }
        return;
    }
#pragma omp parallel for schedule(static) if (par)
    for (size_t bc = 0; bc < (size_t)B * C; bc++) {
        const float *xc = x + bc * H * W;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                size_t o = bc * OH * OW + (size_t)oy * OW + ox;
                float best = 0, sum = 0;
                int arg = -1, cnt = 0;
                for (int ky = 0; ky < L->k; ky++) {
                    int iy = oy * L->stride - L->pad + ky;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int kx = 0; kx < L->k; kx++) {
                        int ix = ox * L->stride - L->pad + kx;
                        if (ix < 0 || ix >= W)
                            continue;
                        float v = xc[iy * W + ix];
                        if (arg < 0 || v > best) {
                            best = v;
                            arg = iy * W + ix;
                        }
                        sum += v;
                        cnt++;
                    }
                }
                if (L->kind == QB_L_MAXPOOL) {
                    y[o] = best;
                    L->argmax[o] = arg;
                } else {
                    y[o] = cnt ? sum / (float)cnt : 0.0f;
                }
            }
    }
}

void qb_pool_bwd(qb_layer *L, const float *dy, float *dx, int B)
{
    int C = L->in_c, H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    int par = qb_par_worth((size_t)B * C * H * W);
    (void)par;
#pragma omp parallel for schedule(static) if (par)
    for (size_t bc = 0; bc < (size_t)B * C; bc++) {
        float *dxc = dx + bc * H * W;
        memset(dxc, 0, sizeof(float) * (size_t)H * W);
        if (L->kind == QB_L_GAP) {
            float g = dy[bc] / (float)(H * W);
            for (int p = 0; p < H * W; p++)
                dxc[p] = g;
            continue;
        }
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                size_t o = bc * OH * OW + (size_t)oy * OW + ox;
                if (L->kind == QB_L_MAXPOOL) {
                    if (L->argmax[o] >= 0)
                        dxc[L->argmax[o]] += dy[o];
                    continue;
                }
                int y0 = oy * L->stride - L->pad, x0 = ox * L->stride - L->pad;
                int ya = y0 < 0 ? 0 : y0, yb = y0 + L->k > H ? H : y0 + L->k;
                int xa = x0 < 0 ? 0 : x0, xb = x0 + L->k > W ? W : x0 + L->k;
                int cnt = (yb - ya) * (xb - xa);
                if (cnt <= 0)
                    continue;
                float g = dy[o] / (float)cnt;
                for (int iy = ya; iy < yb; iy++)
                    for (int ix = xa; ix < xb; ix++)
                        dxc[iy * W + ix] += g;
            }
    }
}
