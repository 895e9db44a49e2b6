/*
 * mm.c - the matrix products of training on the fp32 GEMM kernel
 * (C = A . B^T + bias with B packed for the kernel), and a blocked
 * transpose. qb_mm_nt splits a large product into fixed blocks (rows of
 * C, and columns when C has few rows) chosen from the shape alone and
 * runs them on all threads: each block is the same kernel call whatever
 * the thread count, so the results are bit-identical for 1 or N threads.
 */
#include <stdlib.h>
#include <string.h>
#ifdef __SSE__
#include <xmmintrin.h>
#endif

#include "harness/train/layers.h"
#include "harness/train/par.h"

#define MM_ROWS 96        /* rows of C per block (a multiple of every kernel's row tile) */
#define MM_COLS 256       /* columns of C per block when C has few rows */
#define MM_SERIAL (1L << 18) /* products below this many MACs run as one call */

/* 4x4 block of src (rows ls apart) transposed into dst (rows ld apart). */
static inline void t4x4(const float *src, size_t ls, float *dst, size_t ld)
{
#ifdef __SSE__
    __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + ls), r2 = _mm_loadu_ps(src + 2 * ls),
           r3 = _mm_loadu_ps(src + 3 * ls);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(dst, r0);
    _mm_storeu_ps(dst + ld, r1);
    _mm_storeu_ps(dst + 2 * ld, r2);
    _mm_storeu_ps(dst + 3 * ld, r3);
#else
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            dst[j * ld + i] = src[i * ls + j];
#endif
}

void qb_transpose(const float *src, int r, int c, float *dst)
{
    enum { T = 32 };
    for (int i0 = 0; i0 < r; i0 += T)
        for (int j0 = 0; j0 < c; j0 += T) {
            int i1 = i0 + T < r ? i0 + T : r, j1 = j0 + T < c ? j0 + T : c;
            int i4 = i0 + (i1 - i0) / 4 * 4, j4 = j0 + (j1 - j0) / 4 * 4;
            for (int i = i0; i < i4; i += 4) {
                for (int j = j0; j < j4; j += 4)
                    t4x4(src + (size_t)i * c + j, (size_t)c, dst + (size_t)j * r + i, (size_t)r);
                for (int j = j4; j < j1; j++)
                    for (int ii = i; ii < i + 4; ii++)
                        dst[(size_t)j * r + ii] = src[(size_t)ii * c + j];
            }
            for (int i = i4; i < i1; i++)
                for (int j = j0; j < j1; j++)
                    dst[(size_t)j * r + i] = src[(size_t)i * c + j];
        }
}

/* The fp32 GEMM kernel of this CPU (selected once, before any thread). */
static const qb_kernel *kernel(void)
{
    static const qb_kernel *kern;
    static int done;
    if (!done) {
#pragma omp critical(qb_mm_select)
        if (!done) {
            kern = qb_kernel_select(QB_OP_GEMM, QB_PREC_FP32);
            __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
        }
    }
    return kern;
}

int qb_mm_prepare(qb_mm_w *w, int n, int k, const float *b, const float *bias)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    w->k = k;
    w->b = b;
    w->bias = bias;
    const qb_kernel *kern = n > 0 && k > 0 ? kernel() : NULL;
    if (!kern)
        return -1;
    qb_weights qw = {.n = n, .k = k, .f32 = b, .bias_f32 = bias};
    char err[128];
    if (qb_pack(kern, &qw, &w->p, err, sizeof err))
        return -1;
    w->kern = kern;
    return 0;
}

void qb_mm_apply(const qb_mm_w *w, int m, const float *a, size_t lda, float *c, size_t ldc)
{
    if (m <= 0 || w->n <= 0)
        return;
    if (w->kern) {
        qb_gemm_args ga = {.m = m, .a = a, .lda = lda, .c = c, .ldc = ldc,
                           .f_min = -__builtin_inff(), .f_max = __builtin_inff()};
        w->kern->run.gemm(&w->p, &ga);
        return;
    }
    /* no kernel or out of memory while packing: plain loops */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < w->n; j++) {
            float s = 0;
            for (int p = 0; p < w->k; p++)
                s += a[(size_t)i * lda + p] * w->b[(size_t)j * w->k + p];
            c[(size_t)i * ldc + j] = s + (w->bias ? w->bias[j] : 0.0f);
        }
}

void qb_mm_release(qb_mm_w *w)
{
    if (w->kern)
        qb_packed_free(&w->p);
    memset(w, 0, sizeof *w);
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
    long macs = (long)m * n * k;
    /* the decomposition: a function of (m, n, k) only */
    int cols = macs < MM_SERIAL || m >= 2 * MM_ROWS || n <= MM_COLS ? n : MM_COLS;
    int rows = macs < MM_SERIAL ? m : MM_ROWS;
    int ncb = (n + cols - 1) / cols, nrb = (m + rows - 1) / rows;
    qb_mm_w one;
    int par = ncb * nrb > 1 && qb_par_threads() > 1;
    (void)par;
    if (ncb == 1) { /* B packed once, row blocks on the threads */
        qb_mm_prepare(&one, n, k, b, bias);
#pragma omp parallel for schedule(dynamic, 1) if (par)
        for (int t = 0; t < nrb; t++) {
            int i0 = t * rows, mi = m - i0 < rows ? m - i0 : rows;
            qb_mm_apply(&one, mi, a + (size_t)i0 * k, (size_t)k, c + (size_t)i0 * n, (size_t)n);
        }
        qb_mm_release(&one);
        return;
    }
    /* column blocks (few rows): each packs its part of B and runs all rows */
#pragma omp parallel for schedule(dynamic, 1) if (par)
    for (int jb = 0; jb < ncb; jb++) {
        int j0 = jb * cols, nj = n - j0 < cols ? n - j0 : cols;
        qb_mm_w w;
        qb_mm_prepare(&w, nj, k, b + (size_t)j0 * k, bias ? bias + j0 : NULL);
        for (int i0 = 0; i0 < m; i0 += rows)
            qb_mm_apply(&w, m - i0 < rows ? m - i0 : rows, a + (size_t)i0 * k, (size_t)k, c + (size_t)i0 * n + j0,
                        (size_t)n);
        qb_mm_release(&w);
    }
}

void qb_train_set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
#else
    (void)n;
#endif
}

int qb_train_threads(void) { return qb_par_threads(); }

int qb_train_cfg_threads(const qb_train_cfg *cfg)
{
#ifdef _OPENMP
    if (cfg->threads > 0)
        return cfg->threads;
    const char *env = getenv("OMP_NUM_THREADS"); /* the user's count (its first level) */
    int n = env ? atoi(env) : 0;
    return n > 0 ? n : omp_get_num_procs();
#else
    (void)cfg;
    return 1;
#endif
}
