/*
 * par.c - row chunks, column chunks (few rows) and OpenMP loops of the
 * model engine (see par.h).
 */
#include "harness/graph/par.h"

#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int qb_gpar_whole;
int64_t qb_gpar_conv_block = 256 * 1024;
long qb_gpar_regions;

/* The thread count was asked for: 1 yes, 0 no, -1 not looked at yet. */
static int asked = -1;

void qb_gpar_set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n > 0 ? n : 1);
#else
    (void)n;
#endif
    asked = 1;
}

/* qb_gpar_chunk with its least work per chunk as an argument. */
static int64_t chunk_of(int64_t n, int64_t row_work, int64_t align, int64_t min_work)
{
    if (n <= 0)
        return 1;
    if (row_work < 1)
        row_work = 1;
    if (align < 1)
        align = 1;
    int64_t rows = (min_work + row_work - 1) / row_work;
    int64_t fewest = (n + QB_GPAR_MAX_CHUNKS - 1) / QB_GPAR_MAX_CHUNKS;
    if (rows < fewest)
        rows = fewest;
    rows = (rows + align - 1) / align * align;
    return rows < n ? rows : n;
}

int64_t qb_gpar_chunk(int64_t n, int64_t row_work, int64_t align)
{
    return chunk_of(n, row_work, align, QB_GPAR_MIN_WORK);
}

int qb_gpar_threads(void)
{
#ifdef _OPENMP
    if (asked < 0) {
        const char *env = getenv("OMP_NUM_THREADS");
        asked = env && *env;
    }
    return !asked || omp_in_parallel() ? 1 : omp_get_max_threads();
#else
    return 1;
#endif
}

void qb_gpar_for(int64_t n, int64_t chunk, qb_gpar_body body, void *ctx)
{
    if (n <= 0)
        return;
    if (qb_gpar_whole || chunk >= n || chunk < 1) {
        body(ctx, 0, n);
        return;
    }
    int64_t nc = (n + chunk - 1) / chunk;
    if (qb_gpar_threads() < 2) {
        for (int64_t i = 0; i < nc; i++)
            body(ctx, i * chunk, i * chunk + chunk < n ? i * chunk + chunk : n);
        return;
    }
    __atomic_fetch_add(&qb_gpar_regions, 1, __ATOMIC_RELAXED);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < nc; i++)
        body(ctx, i * chunk, i * chunk + chunk < n ? i * chunk + chunk : n);
}

size_t qb_gpar_a_size(const qb_kernel *k)
{
    switch (k->prec) {
    case QB_PREC_FP32:
    case QB_PREC_FP16: return sizeof(float);
    case QB_PREC_BINARY: return sizeof(uint64_t);
    default: return 1; /* int8-*, int4 */
    }
}

size_t qb_gpar_c_size(const qb_kernel *k, const qb_gemm_args *a)
{
    if (qb_precision_is_int8(k->prec))
        return a->out_i32 ? sizeof(int32_t) : 1;
    return sizeof(float);
}

size_t qb_gpar_dw_size(const qb_kernel *k) { return k->prec == QB_PREC_FP32 ? sizeof(float) : 1; }

void qb_gpar_gemm_rows(const qb_packed *p, const qb_gemm_args *a, int64_t i0, int64_t i1, qb_gemm_args *out)
{
    *out = *a;
    out->m = (int)(i1 - i0);
    out->a = (const char *)a->a + (size_t)i0 * a->lda * qb_gpar_a_size(p->kernel);
    out->c = (char *)a->c + (size_t)i0 * a->ldc * qb_gpar_c_size(p->kernel, a);
}

void qb_gpar_dw_rows(const qb_dw_args *a, int oy0, int oy1, size_t es_x, size_t es_y, qb_dw_args *out)
{
    *out = *a;
    /* the first input row the chunk reads (rows above it are either
     * padding for every output of the chunk, or not read at all) */
    int iy_lo = oy0 * a->stride_h - a->pad_t;
    iy_lo = iy_lo < 0 ? 0 : iy_lo > a->h ? a->h : iy_lo;
    size_t row_x = (size_t)a->w * a->c, row_y = (size_t)a->out_w * a->c;
    out->x = (const char *)a->x + (size_t)iy_lo * row_x * es_x;
    out->h = a->h - iy_lo;
    /* local input row of local output row j, tap ky: j*s - pad_t' + ky*d
     * = (oy0 + j)*s - pad_t + ky*d - iy_lo, the global row minus iy_lo; it
     * is outside [0, h') exactly when the global row is outside [0, h) */
    out->pad_t = a->pad_t - oy0 * a->stride_h + iy_lo;
    out->y = (char *)a->y + (size_t)oy0 * row_y * es_y;
    out->out_h = oy1 - oy0;
}

int qb_gpar_gemm_cols(const qb_packed *p, const qb_gemm_args *a, int64_t n0, int64_t n1, qb_packed *pv,
                      qb_gemm_args *out)
{
    if (qb_packed_columns(p, (int)n0, (int)n1, pv))
        return -1;
    *out = *a;
    out->c = (char *)a->c + (size_t)n0 * qb_gpar_c_size(p->kernel, a);
    if (p->kernel->prec == QB_PREC_INT8_CHANNEL)
        out->rq = a->rq + n0;
    return 0;
}

int64_t qb_gpar_col_chunk(const qb_packed *p, int m)
{
    if (!(p->kernel->flags & QB_KF_COLUMNS) || m < 1 || p->n <= QB_PACK_COLS || qb_gpar_threads() < 2)
        return 0; /* one thread: one call (the same bits as the slices, test_kernels), no per-slice A pack */
    int64_t rows = qb_gpar_chunk(m, (int64_t)p->n * p->k, QB_GPAR_ALIGN);
    if (rows < m)
        return 0; /* several row chunks: split M */
    int64_t cols = chunk_of(p->n, (int64_t)m * p->k, QB_PACK_COLS, QB_GPAR_MIN_COL_WORK);
    return cols < p->n ? cols : 0;
}

typedef struct gemm_job {
    const qb_packed *p;    /* packed weights and kernel */
    const qb_gemm_args *a; /* the whole call */
} gemm_job;

static void gemm_body(void *ctx, int64_t i0, int64_t i1)
{
    const gemm_job *j = ctx;
    qb_gemm_args a;
    qb_gpar_gemm_rows(j->p, j->a, i0, i1, &a);
    j->p->kernel->run.gemm(j->p, &a);
}

static void gemm_cols_body(void *ctx, int64_t n0, int64_t n1)
{
    const gemm_job *j = ctx;
    qb_packed pv;
    qb_gemm_args a;
    if (qb_gpar_gemm_cols(j->p, j->a, n0, n1, &pv, &a) == 0) /* chunks of qb_gpar_col_chunk always slice */
        pv.kernel->run.gemm(&pv, &a);
}

void qb_gpar_gemm(const qb_packed *p, const qb_gemm_args *a)
{
    gemm_job j = {p, a};
    int64_t cols = qb_gpar_col_chunk(p, a->m);
    if (cols > 0)
        qb_gpar_for(p->n, cols, gemm_cols_body, &j);
    else
        qb_gpar_for(a->m, qb_gpar_chunk(a->m, (int64_t)p->n * p->k, QB_GPAR_ALIGN), gemm_body, &j);
}

typedef struct dw_job {
    const qb_packed *p;  /* packed weights and kernel */
    const qb_dw_args *a; /* the whole call */
    size_t es;           /* element bytes of x and y */
} dw_job;

static void dw_body(void *ctx, int64_t i0, int64_t i1)
{
    const dw_job *j = ctx;
    qb_dw_args a;
    qb_gpar_dw_rows(j->a, (int)i0, (int)i1, j->es, j->es, &a);
    j->p->kernel->run.dw(j->p, &a);
}

void qb_gpar_dw(const qb_packed *p, const qb_dw_args *a)
{
    dw_job j = {p, a, qb_gpar_dw_size(p->kernel)};
    /* one thread: one call (the chunks would only repeat the kernel's per-call set-up) */
    int64_t chunk = qb_gpar_threads() < 2 ? a->out_h : qb_gpar_chunk(a->out_h, (int64_t)a->out_w * a->c * a->kh * a->kw, 1);
    qb_gpar_for(a->out_h, chunk, dw_body, &j);
}
