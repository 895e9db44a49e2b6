/*
 * dense.c - fully-connected layer y = x . W^T + b (W: out x in) and its
 * backward pass, all three products on the fp32 GEMM kernel.
 */
#include <stdlib.h>
#include <string.h>

#include "harness/train/layers.h"

void qb_dense_fwd(qb_layer *L, const float *x, float *y, int B)
{
    int in = L->in_c * L->in_h * L->in_w, out = L->out_c;
    qb_mm_nt(B, out, in, x, L->w, L->b, y);
}

void qb_dense_bwd(qb_layer *L, const float *x, const float *dy, float *dx, int B)
{
    int in = L->in_c * L->in_h * L->in_w, out = L->out_c;
    float *dyT = L->scratch;                      /* out x B */
    float *xT = dyT + (size_t)out * B;            /* in x B */
    float *wT = xT + (size_t)in * B;              /* in x out */
    qb_transpose(dy, B, out, dyT);
    qb_transpose(x, B, in, xT);
    qb_mm_nt(out, in, B, dyT, xT, NULL, L->dw);   /* dW = dY^T . X */
    for (int o = 0; o < out; o++) {
        float s = 0;
        for (int b = 0; b < B; b++)
            s += dyT[(size_t)o * B + b];
        L->db[o] = s;
    }
    if (dx) {
        qb_transpose(L->w, out, in, wT);
        qb_mm_nt(B, in, out, dy, wT, NULL, dx);   /* dX = dY . W */
    }
}
