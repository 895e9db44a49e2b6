/*
 * mm.c - the matrix products of training on the fp32 GEMM kernel
 * (C = A . W^T + b with W packed per call), and a blocked transpose.
 */
#include <stdlib.h>

#include "harness/train/train.h"
#include "kernels/kernels.h"

void qb_transpose(const float *src, int r, int c, float *dst)
{
    enum { T = 32 };
    for (int i0 = 0; i0 < r; i0 += T)
        for (int j0 = 0; j0 < c; j0 += T) {
            int i1 = i0 + T < r ? i0 + T : r, j1 = j0 + T < c ? j0 + T : c;
            for (int i = i0; i < i1; i++)
                for (int j = j0; j < j1; j++)
                    dst[(size_t)j * r + i] = src[(size_t)i * c + j];
        }
}

/* Plain loop, used only if packing fails (out of memory). */
static void mm_loop(int m, int n, int k, const float *a, const float *b, const float *bias, float *c)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0;
            for (int p = 0; p < k; p++)
                s += a[(size_t)i * k + p] * b[(size_t)j * k + p];
            c[(size_t)i * n + j] = s + (bias ? bias[j] : 0.0f);
        }
}

void qb_mm_nt(int m, int n, int k, const float *a, const float *b, const float *bias, float *c)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                c[(size_t)i * n + j] = bias ? bias[j] : 0.0f;
        return;
    }
    static const qb_kernel *kern;
    if (!kern)
        kern = qb_kernel_select(QB_OP_GEMM, QB_PREC_FP32);
    qb_weights w = {.n = n, .k = k, .f32 = b, .bias_f32 = bias};
    qb_packed p;
    char err[128];
    if (!kern || qb_pack(kern, &w, &p, err, sizeof err)) {
        mm_loop(m, n, k, a, b, bias, c);
        return;
    }
    qb_gemm_args ga = {.m = m, .a = a, .lda = (size_t)k, .c = c, .ldc = (size_t)n,
                       .f_min = -__builtin_inff(), .f_max = __builtin_inff()};
    kern->run.gemm(&p, &ga);
    qb_packed_free(&p);
}
