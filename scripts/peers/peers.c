/*
 * peers.c - single-thread timings of peer libraries on qbench's GEMM shapes,
 * for scripts/bench-peers (not part of qbench, which never links these).
 *
 * C[M x N] = A[M x K] . W[N x K]^T, as in qbench:
 *   openblas sgemm       cblas_sgemm(RowMajor, NoTrans, Trans): B = W
 *   openblas sgemv       y = W x (RowMajor, NoTrans on N x K), one call per
 *                        row of A (only for M <= 16)
 *   onednn f32           matmul, src M x K, weights K x N given as tag ba
 *                        (that is W), reordered once into the layout the
 *                        primitive asks for (tag any)
 *   onednn u8s8s8        the same in int8: u8 src with zero point 128, s8
 *   onednn s8s8s8        (u8) or s8 (no zero point) x s8 weights, per-channel
 *                        output scales, s8 dst (-I avx2: weights in 7 bits,
 *                        oneDNN's remedy for vpmaddubsw saturation)
 *   xnnpack f32-fc       xnn_create_fully_connected_nc_f32, kernel N x K
 *   xnnpack qs8-fc       xnn_create_fully_connected_nc_qs8 (per-tensor
 *                        weight scale in this XNNPACK version)
 *   xnnpack qc8-conv1x1  per-channel int8 via a 1x1 qc8 convolution over a
 *                        1 x M image (a GEMM in XNNPACK, kernel N x K)
 * Primitive/operator creation and weight packing are not timed (like qbench's
 * pre-packing). XNNPACK operators are set up once; only xnn_run_operator is
 * timed (the API allows re-running a set-up operator).
 *
 * Timing as `qbench gemm`: one warm-up run, one run to size the loop, then
 * max(5, ~0.5 s) timed runs (or -r N), median. The process CPU time of the
 * loop must not exceed its wall time by more than 25% (else the peer used
 * more than one thread and is refused). Afterwards each peer's output is
 * compared at 64 sample points with a naive reference (fp32: relative to
 * sum |a*w|; int8: +-1 for the library's rounding); a wrong peer is refused.
 *
 * Which peers are compiled in is decided by scripts/bench-peers
 * (-DQB_PEER_OPENBLAS=1 -lopenblas, -DQB_PEER_ONEDNN=1 -ldnnl,
 * -DQB_PEER_XNNPACK=1 -lXNNPACK -lpthreadpool); each also needs its header.
 *
 * usage: peers [-r REPS] [-P openblas,onednn,xnnpack] [-I avx2|vnni] MxNxK...
 *   -I avx2 caps OpenBLAS (OPENBLAS_CORETYPE=Haswell) and oneDNN
 *   (dnnl_set_max_cpu_isa) to AVX2 and names them openblas@avx2 and
 *   onednn@avx2; -I vnni caps them to AVX-512 with VNNI (SkylakeX,
 *   avx512_core_vnni: no AMX), named @vnni. XNNPACK has no such switch and
 *   is skipped (this version never goes beyond AVX-512 anyway).
 * Output: CSV peer,op,m,n,k,median_ms,gops on stdout; context on stderr.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(QB_PEER_OPENBLAS) && QB_PEER_OPENBLAS && __has_include(<cblas.h>)
#include <cblas.h>
#define HAVE_OPENBLAS 1
#else
#define HAVE_OPENBLAS 0
#endif
#if defined(QB_PEER_ONEDNN) && QB_PEER_ONEDNN && __has_include(<dnnl.h>)
#include <dnnl.h>
#define HAVE_ONEDNN 1
#else
#define HAVE_ONEDNN 0
#endif
#if defined(QB_PEER_XNNPACK) && QB_PEER_XNNPACK && __has_include(<xnnpack.h>)
#include <xnnpack.h>
#define HAVE_XNNPACK 1
#else
#define HAVE_XNNPACK 0
#endif

#define NSAMPLES 64

static const char *g_tag = ""; /* "" or "@avx2" / "@vnni" */
static int g_cap;              /* -I: 0 none, 1 avx2, 2 vnni (AVX-512 VNNI) */

/* Inputs of one shape, generated once per shape and number type. */
typedef struct data {
    int m, n, k;      /* shape */
    float *af, *wf;   /* fp32: A (M x K), W (N x K); NULL until made */
    int8_t *a8, *w8;  /* int8: A in [-128,127], W in [-127,127] ([-63,63] for -I avx2) */
    uint8_t *au8;     /* a8 + 128 (for u8 src with zero point 128) */
    float *chscale;   /* int8: N per-channel output scales */
    float tscale;     /* int8: per-tensor output scale */
    int si[NSAMPLES]; /* sample rows checked */
    int sj[NSAMPLES]; /* sample columns checked */
} data;

/* One peer operation ready to run on one shape. */
typedef struct bench {
    const char *peer;            /* library, e.g. "openblas" (plus "@avx2") */
    const char *op;              /* its operation, e.g. "sgemm" */
    int is_int8;                 /* output kind: 0 float (M x N), 1 int8 */
    int per_channel;             /* int8: 1 per-channel scales, 0 per-tensor */
    void *ctx;                   /* peer state */
    void (*run)(void *ctx);      /* computes C once */
    const void *(*out)(void *);  /* C, row-major M x N (float or int8) */
    void (*destroy)(void *ctx);  /* frees ctx */
} bench;


/* ---- small utilities ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *xalloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "peers: out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    return p;
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(g_rng >> 33);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

__attribute__((unused)) static char *tagged(const char *peer)
{
    static char buf[8][40];
    static int next;
    char *b = buf[next++ & 7];
    snprintf(b, sizeof buf[0], "%s%s", peer, g_tag);
    return b;
}

/* ---- inputs ---- */

static void data_init(data *d, int m, int n, int k)
{
    memset(d, 0, sizeof *d);
    d->m = m;
    d->n = n;
    d->k = k;
    g_rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)m << 40 ^ (uint64_t)n << 20 ^ (uint64_t)k);
    d->si[0] = 0, d->sj[0] = 0;
    d->si[1] = m - 1, d->sj[1] = n - 1;
    d->si[2] = 0, d->sj[2] = n - 1;
    d->si[3] = m - 1, d->sj[3] = 0;
    for (int s = 4; s < NSAMPLES; s++) {
        d->si[s] = (int)(rnd() % (uint32_t)m);
        d->sj[s] = (int)(rnd() % (uint32_t)n);
    }
}

static void data_make_f32(data *d)
{
    if (d->af)
        return;
    size_t na = (size_t)d->m * d->k, nw = (size_t)d->n * d->k;
    d->af = xalloc(na * sizeof(float));
    d->wf = xalloc(nw * sizeof(float));
    for (size_t i = 0; i < na; i++)
        d->af[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
    for (size_t i = 0; i < nw; i++)
        d->wf[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
}

static void data_make_i8(data *d)
{
    if (d->a8)
        return;
    size_t na = (size_t)d->m * d->k, nw = (size_t)d->n * d->k;
    d->a8 = xalloc(na);
    d->au8 = xalloc(na);
    d->w8 = xalloc(nw);
    d->chscale = xalloc((size_t)d->n * sizeof(float));
    for (size_t i = 0; i < na; i++) {
        d->a8[i] = (int8_t)((int)(rnd() % 256) - 128);
        d->au8[i] = (uint8_t)(d->a8[i] + 128);
    }
    /* Without VNNI, oneDNN multiplies u8 x s8 pairs with vpmaddubsw, whose
     * 16-bit sums saturate; its documented remedy is 7-bit weights, so the
     * AVX2-capped run uses W in [-63, 63]. */
    int wmax = g_cap == 1 ? 63 : 127;
    for (size_t i = 0; i < nw; i++)
        d->w8[i] = (int8_t)((int)(rnd() % (uint32_t)(2 * wmax + 1)) - wmax);
    /* std(acc) ~ sqrt(K) * 73.9 * wmax / sqrt(3): map it to about 30 output
     * steps so that most outputs are not saturated and the check means
     * something */
    d->tscale = (float)(30.0 / (sqrt((double)d->k) * 73.9 * wmax / sqrt(3.0)));
    for (int j = 0; j < d->n; j++)
        d->chscale[j] = d->tscale * (0.5f + (float)(j % 7) / 6.0f);
}

static void data_free_f32(data *d)
{
    free(d->af);
    free(d->wf);
    d->af = d->wf = NULL;
}

static void data_free_i8(data *d)
{
    free(d->a8);
    free(d->au8);
    free(d->w8);
    free(d->chscale);
    d->a8 = d->w8 = NULL;
    d->au8 = NULL;
    d->chscale = NULL;
}

/* ---- checks against a naive reference ---- */

/* 0 if the sample points match; else -1 with a message. */
static int check_output(const bench *b, const data *d, char *msg, size_t len)
{
    const void *c = b->out(b->ctx);
    int saturated = 0;
    for (int s = 0; s < NSAMPLES; s++) {
        int i = d->si[s], j = d->sj[s];
        if (!b->is_int8) {
            const float *a = d->af + (size_t)i * d->k, *w = d->wf + (size_t)j * d->k;
            double ref = 0, mag = 0;
            for (int p = 0; p < d->k; p++) {
                ref += (double)a[p] * w[p];
                mag += fabs((double)a[p] * w[p]);
            }
            double got = ((const float *)c)[(size_t)i * d->n + j];
            if (!(fabs(got - ref) <= 2e-4 * mag + 1e-5)) {
                snprintf(msg, len, "C[%d][%d] = %.6g, reference %.6g", i, j, got, ref);
                return -1;
            }
        } else {
            const int8_t *a = d->a8 + (size_t)i * d->k, *w = d->w8 + (size_t)j * d->k;
            int64_t acc = 0;
            for (int p = 0; p < d->k; p++)
                acc += (int32_t)a[p] * w[p];
            double scale = b->per_channel ? d->chscale[j] : d->tscale;
            double ref = nearbyint((double)acc * scale);
            ref = ref < -128 ? -128 : ref > 127 ? 127 : ref;
            saturated += ref == -128 || ref == 127;
            int got = ((const int8_t *)c)[(size_t)i * d->n + j];
            if (fabs(got - ref) > 1) {
                snprintf(msg, len, "C[%d][%d] = %d, reference %.0f (acc %lld)", i, j, got, ref,
                         (long long)acc);
                return -1;
            }
        }
    }
    if (saturated > NSAMPLES / 2) {
        snprintf(msg, len, "%d of %d sample outputs saturated: check too weak", saturated, NSAMPLES);
        return -1;
    }
    return 0;
}

/* ---- OpenBLAS ---- */

#if HAVE_OPENBLAS
typedef struct blas_ctx {
    const data *d; /* inputs */
    float *c;      /* output M x N */
} blas_ctx;

static void blas_sgemm_run(void *p)
{
    blas_ctx *x = p;
    const data *d = x->d;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->m, d->n, d->k, 1.0f, d->af, d->k, d->wf,
                d->k, 0.0f, x->c, d->n);
}

static void blas_sgemv_run(void *p)
{
    blas_ctx *x = p;
    const data *d = x->d;
    for (int i = 0; i < d->m; i++)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, d->n, d->k, 1.0f, d->wf, d->k, d->af + (size_t)i * d->k,
                    1, 0.0f, x->c + (size_t)i * d->n, 1);
}

static const void *blas_out(void *p)
{
    return ((blas_ctx *)p)->c;
}

static void blas_destroy(void *p)
{
    blas_ctx *x = p;
    free(x->c);
    free(x);
}

static int blas_make(bench *b, const data *d, int gemv)
{
    blas_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    x->d = d;
    x->c = xalloc((size_t)d->m * d->n * sizeof(float));
    *b = (bench){.peer = tagged("openblas"), .op = gemv ? "sgemv" : "sgemm", .ctx = x,
                 .run = gemv ? blas_sgemv_run : blas_sgemm_run, .out = blas_out, .destroy = blas_destroy};
    return 0;
}
#endif

/* ---- oneDNN ---- */

#if HAVE_ONEDNN
static dnnl_engine_t g_eng;
static dnnl_stream_t g_strm;

typedef struct dnnl_ctx {
    dnnl_primitive_t mm;          /* the matmul */
    dnnl_memory_t src, wei, dst;  /* its arguments (wei in its own layout) */
    void *c;                      /* dst buffer, M x N */
} dnnl_ctx;

#define DNNL_TRY(call)                                                                             \
    do {                                                                                           \
        dnnl_status_t st_ = (call);                                                                \
        if (st_ != dnnl_success) {                                                                 \
            fprintf(stderr, "peers: onednn %s: %s failed (status %d)\n", opname, #call, (int)st_); \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

static void dnnl_run(void *p)
{
    dnnl_ctx *x = p;
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, x->src}, {DNNL_ARG_WEIGHTS, x->wei}, {DNNL_ARG_DST, x->dst}};
    if (dnnl_primitive_execute(x->mm, g_strm, 3, args) != dnnl_success ||
        dnnl_stream_wait(g_strm) != dnnl_success) {
        fprintf(stderr, "peers: onednn matmul execution failed\n");
        exit(2);
    }
}

static const void *dnnl_out(void *p)
{
    return ((dnnl_ctx *)p)->c;
}

static void dnnl_destroy(void *p)
{
    dnnl_ctx *x = p;
    if (x->mm)
        dnnl_primitive_destroy(x->mm);
    if (x->src)
        dnnl_memory_destroy(x->src);
    if (x->wei)
        dnnl_memory_destroy(x->wei);
    if (x->dst)
        dnnl_memory_destroy(x->dst);
    free(x->c);
    free(x);
}

/* kind: 0 f32, 1 u8s8s8, 2 s8s8s8 */
static int dnnl_make(bench *b, const data *d, int kind)
{
    static const char *names[] = {"f32", "u8s8s8", "s8s8s8"};
    const char *opname = names[kind];
    dnnl_ctx *x = calloc(1, sizeof *x);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t user_w = NULL;
    if (!x)
        return -1;
    dnnl_dims_t sdims = {d->m, d->k}, wdims = {d->k, d->n}, ddims = {d->m, d->n};
    dnnl_data_type_t st = kind == 0 ? dnnl_f32 : kind == 1 ? dnnl_u8 : dnnl_s8;
    dnnl_data_type_t wt = kind == 0 ? dnnl_f32 : dnnl_s8;
    dnnl_data_type_t dt = kind == 0 ? dnnl_f32 : dnnl_s8;
    dnnl_memory_desc_t smd, wmd_any, wmd_user, dmd;
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&smd, 2, sdims, st, dnnl_ab));
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&wmd_any, 2, wdims, wt, dnnl_format_tag_any));
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&wmd_user, 2, wdims, wt, dnnl_ba)); /* = W, N x K */
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&dmd, 2, ddims, dt, dnnl_ab));
    dnnl_matmul_desc_t md;
    DNNL_TRY(dnnl_matmul_desc_init(&md, &smd, &wmd_any, NULL, &dmd));
    DNNL_TRY(dnnl_primitive_attr_create(&attr));
    if (kind != 0)
        DNNL_TRY(dnnl_primitive_attr_set_output_scales(attr, d->n, 1 << 1, d->chscale));
    if (kind == 1) {
        int32_t zp = 128;
        DNNL_TRY(dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &zp));
    }
    DNNL_TRY(dnnl_primitive_desc_create(&pd, &md, attr, g_eng, NULL));
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    fprintf(stderr, "peers: onednn%s %s %dx%dx%d: implementation %s\n", g_tag, opname, d->m, d->n, d->k,
            impl);
    DNNL_TRY(dnnl_primitive_create(&x->mm, pd));
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    size_t celem = (size_t)d->m * d->n;
    x->c = xalloc(celem * (kind == 0 ? sizeof(float) : 1));
    DNNL_TRY(dnnl_memory_create(&x->src, &smd, g_eng, kind == 0 ? (void *)d->af : kind == 1 ? (void *)d->au8 : (void *)d->a8));
    DNNL_TRY(dnnl_memory_create(&x->dst, &dmd, g_eng, x->c));
    DNNL_TRY(dnnl_memory_create(&x->wei, wmd, g_eng, DNNL_MEMORY_ALLOCATE));
    /* weights: reorder W (as K x N, tag ba) into the primitive's layout, once */
    DNNL_TRY(dnnl_memory_create(&user_w, &wmd_user, g_eng, kind == 0 ? (void *)d->wf : (void *)d->w8));
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&rpd, &wmd_user, g_eng, wmd, g_eng, NULL));
    DNNL_TRY(dnnl_primitive_create(&reorder, rpd));
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, user_w}, {DNNL_ARG_TO, x->wei}};
    DNNL_TRY(dnnl_primitive_execute(reorder, g_strm, 2, rargs));
    DNNL_TRY(dnnl_stream_wait(g_strm));
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(user_w);
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    *b = (bench){.peer = tagged("onednn"), .op = opname, .is_int8 = kind != 0, .per_channel = 1, .ctx = x,
                 .run = dnnl_run, .out = dnnl_out, .destroy = dnnl_destroy};
    return 0;
fail:
    if (reorder)
        dnnl_primitive_destroy(reorder);
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    if (user_w)
        dnnl_memory_destroy(user_w);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    dnnl_destroy(x);
    return -1;
}
#endif

/* ---- XNNPACK ---- */

#if HAVE_XNNPACK
typedef struct xnn_ctx {
    xnn_operator_t op; /* the operator, set up for A and C */
    void *c;           /* output M x N */
} xnn_ctx;

static void xnn_run(void *p)
{
    xnn_ctx *x = p;
    if (xnn_run_operator(x->op, NULL) != xnn_status_success) {
        fprintf(stderr, "peers: xnnpack run failed\n");
        exit(2);
    }
}

static const void *xnn_out(void *p)
{
    return ((xnn_ctx *)p)->c;
}

static void xnn_destroy(void *p)
{
    xnn_ctx *x = p;
    if (x->op)
        xnn_delete_operator(x->op);
    free(x->c);
    free(x);
}

/* kind: 0 f32-fc, 1 qs8-fc, 2 qc8-conv1x1 */
static int xnn_make(bench *b, const data *d, int kind)
{
    static const char *names[] = {"f32-fc", "qs8-fc", "qc8-conv1x1"};
    xnn_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    size_t celem = (size_t)d->m * d->n;
    x->c = xalloc(celem * (kind == 0 ? sizeof(float) : 1));
    enum xnn_status s;
    if (kind == 0) {
        s = xnn_create_fully_connected_nc_f32(d->k, d->n, d->k, d->n, d->wf, NULL, -INFINITY, INFINITY, 0, &x->op);
        if (s == xnn_status_success)
            s = xnn_setup_fully_connected_nc_f32(x->op, d->m, d->af, x->c, NULL);
    } else if (kind == 1) {
        /* real multiplier = input_scale * kernel_scale / output_scale */
        s = xnn_create_fully_connected_nc_qs8(d->k, d->n, d->k, d->n, 0, 1.0f, d->tscale, d->w8, NULL, 0, 1.0f,
                                              -128, 127, 0, &x->op);
        if (s == xnn_status_success)
            s = xnn_setup_fully_connected_nc_qs8(x->op, d->m, d->a8, x->c, NULL);
    } else {
        s = xnn_create_convolution2d_nhwc_qc8(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, d->k, d->n, d->k, d->n, 0, 1.0f,
                                              d->chscale, d->w8, NULL, 0, 1.0f, -128, 127, 0, &x->op);
        if (s == xnn_status_success)
            s = xnn_setup_convolution2d_nhwc_qc8(x->op, 1, 1, d->m, d->a8, x->c, NULL);
    }
    if (s != xnn_status_success) {
        fprintf(stderr, "peers: xnnpack %s %dx%dx%d: create/setup failed (status %d)\n", names[kind], d->m, d->n,
                d->k, (int)s);
        xnn_destroy(x);
        return -1;
    }
    *b = (bench){.peer = "xnnpack", .op = names[kind], .is_int8 = kind != 0, .per_channel = kind == 2,
                 .ctx = x, .run = xnn_run, .out = xnn_out, .destroy = xnn_destroy};
    return 0;
}
#endif

/* ---- timing ---- */

static int g_fixed_reps; /* -r */

/* Times b, checks it, prints its CSV row. Returns 0, or -1 if refused. */
static int measure(bench *b, const data *d)
{
    char msg[256];
    b->run(b->ctx); /* warm-up */
    double t0 = now();
    b->run(b->ctx);
    double once = now() - t0;
    int reps = g_fixed_reps;
    if (!reps) { /* at least 5 runs and about 0.5 s, as qbench gemm */
        reps = once > 0 ? (int)(0.5 / once) : 1000;
        reps = reps < 5 ? 5 : reps > 10000 ? 10000 : reps;
    }
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (!t)
        return -1;
    double w0 = now(), c0 = cpu_now();
    for (int r = 0; r < reps; r++) {
        double s = now();
        b->run(b->ctx);
        t[r] = now() - s;
    }
    double cores = (cpu_now() - c0) / (now() - w0);
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    free(t);
    double gops = 2.0 * d->m * (double)d->n * d->k / med * 1e-9;
    if (check_output(b, d, msg, sizeof msg)) {
        fprintf(stderr, "peers: REFUSED %s %s %dx%dx%d: wrong result: %s\n", b->peer, b->op, d->m, d->n, d->k, msg);
        return -1;
    }
    if (cores > 1.25) {
        fprintf(stderr, "peers: REFUSED %s %s %dx%dx%d: used %.2f cores, not one\n", b->peer, b->op, d->m, d->n,
                d->k, cores);
        return -1;
    }
    /* one core here: ~200 GFLOP/s fp32 with AVX-512 FMA; int8 with AMX can
     * go far higher, but not beyond ~2048 ops/cycle */
    double ceiling = b->is_int8 ? 12000 : 400;
    if (gops > ceiling || gops < 0.05)
        fprintf(stderr, "peers: WARNING %s %s %dx%dx%d: %.1f GOP/s is implausible for one core\n", b->peer, b->op,
                d->m, d->n, d->k, gops);
    printf("%s,%s,%d,%d,%d,%.6f,%.3f\n", b->peer, b->op, d->m, d->n, d->k, med * 1e3, gops);
    fflush(stdout);
    return 0;
}

__attribute__((unused)) static void run_one(bench *b, const data *d, int made)
{
    if (made)
        return;
    measure(b, d);
    b->destroy(b->ctx);
}

static int parse_shape(const char *s, int *m, int *n, int *k)
{
    char extra;
    if (sscanf(s, "%dx%dx%d%c", m, n, k, &extra) != 3 || *m < 1 || *n < 1 || *k < 1)
        return -1;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: peers [-r REPS] [-P openblas,onednn,xnnpack] [-I avx2|vnni] MxNxK...\n");
    exit(2);
}

/* Single thread everywhere: OpenMP (oneDNN) and OpenBLAS read their
 * environment when they are loaded, before main, so set it and re-exec. */
static void ensure_env(char **argv)
{
    int again = 0;
    const char *vars[] = {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (!v || strcmp(v, "1")) {
            setenv(vars[i], "1", 1);
            again = 1;
        }
    }
    if (g_cap && !getenv("OPENBLAS_CORETYPE")) {
        setenv("OPENBLAS_CORETYPE", g_cap == 1 ? "Haswell" : "SkylakeX", 1);
        again = 1;
    }
    if (again && !getenv("QB_PEERS_REEXEC")) {
        setenv("QB_PEERS_REEXEC", "1", 1);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "peers: warning: could not re-exec with single-thread settings\n");
    }
}

int main(int argc, char **argv)
{
    const char *peers = "openblas,onednn,xnnpack";
    int first = 1;
    while (first < argc && argv[first][0] == '-') {
        if (!strcmp(argv[first], "-r") && first + 1 < argc) {
            g_fixed_reps = atoi(argv[first + 1]);
            if (g_fixed_reps < 1)
                usage();
        } else if (!strcmp(argv[first], "-P") && first + 1 < argc) {
            peers = argv[first + 1];
        } else if (!strcmp(argv[first], "-I") && first + 1 < argc) {
            if (!strcmp(argv[first + 1], "avx2"))
                g_cap = 1, g_tag = "@avx2";
            else if (!strcmp(argv[first + 1], "vnni"))
                g_cap = 2, g_tag = "@vnni";
            else
                usage();
        } else {
            usage();
        }
        first += 2;
    }
    if (first >= argc)
        usage();
    ensure_env(argv);
    int use_blas = strstr(peers, "openblas") != NULL;
    int use_dnnl = strstr(peers, "onednn") != NULL;
    int use_xnn = strstr(peers, "xnnpack") != NULL;

#if HAVE_OPENBLAS
    if (use_blas) {
        openblas_set_num_threads(1);
        fprintf(stderr, "peers: openblas%s: core %s, %s\n", g_tag, openblas_get_corename(), openblas_get_config());
    }
#else
    if (use_blas)
        fprintf(stderr, "peers: skipping openblas: not built in (libopenblas-dev missing)\n");
    use_blas = 0;
#endif
#if HAVE_ONEDNN
    if (use_dnnl) {
        if (g_cap && dnnl_set_max_cpu_isa(g_cap == 1 ? dnnl_cpu_isa_avx2 : dnnl_cpu_isa_avx512_core_vnni) !=
                         dnnl_success)
            fprintf(stderr, "peers: warning: could not cap onednn to %s\n", g_tag + 1);
        if (dnnl_engine_create(&g_eng, dnnl_cpu, 0) != dnnl_success ||
            dnnl_stream_create(&g_strm, g_eng, dnnl_stream_default_flags) != dnnl_success) {
            fprintf(stderr, "peers: skipping onednn: no CPU engine\n");
            use_dnnl = 0;
        } else {
            const dnnl_version_t *v = dnnl_version();
            fprintf(stderr, "peers: onednn%s: version %d.%d.%d, max ISA 0x%x\n", g_tag, v->major, v->minor, v->patch,
                    (unsigned)dnnl_get_effective_cpu_isa());
        }
    }
#else
    if (use_dnnl)
        fprintf(stderr, "peers: skipping onednn: not built in (libdnnl-dev missing)\n");
    use_dnnl = 0;
#endif
#if HAVE_XNNPACK
    if (use_xnn && g_cap) {
        fprintf(stderr, "peers: skipping xnnpack%s: XNNPACK cannot be capped to an ISA\n", g_tag);
        use_xnn = 0;
    }
    if (use_xnn && xnn_initialize(NULL) != xnn_status_success) {
        fprintf(stderr, "peers: skipping xnnpack: xnn_initialize failed (unsupported CPU?)\n");
        use_xnn = 0;
    }
#else
    if (use_xnn)
        fprintf(stderr, "peers: skipping xnnpack: not built in (libxnnpack-dev missing)\n");
    use_xnn = 0;
#endif

    printf("peer,op,m,n,k,median_ms,gops\n");
    fflush(stdout);
    for (int a = first; a < argc; a++) {
        int m, n, k;
        if (parse_shape(argv[a], &m, &n, &k)) {
            fprintf(stderr, "peers: bad shape '%s' (want MxNxK)\n", argv[a]);
            return 2;
        }
        data d;
        data_init(&d, m, n, k);
        bench b;
        /* fp32 */
        if (use_blas || use_dnnl || use_xnn)
            data_make_f32(&d);
#if HAVE_OPENBLAS
        if (use_blas) {
            run_one(&b, &d, blas_make(&b, &d, 0));
            if (m <= 16)
                run_one(&b, &d, blas_make(&b, &d, 1));
        }
#endif
#if HAVE_ONEDNN
        if (use_dnnl)
            run_one(&b, &d, dnnl_make(&b, &d, 0));
#endif
#if HAVE_XNNPACK
        if (use_xnn)
            run_one(&b, &d, xnn_make(&b, &d, 0));
#endif
        data_free_f32(&d);
        /* int8 */
        if (use_dnnl || use_xnn)
            data_make_i8(&d);
#if HAVE_ONEDNN
        if (use_dnnl) {
            run_one(&b, &d, dnnl_make(&b, &d, 1));
            run_one(&b, &d, dnnl_make(&b, &d, 2));
        }
#endif
#if HAVE_XNNPACK
        if (use_xnn) {
            run_one(&b, &d, xnn_make(&b, &d, 1));
            run_one(&b, &d, xnn_make(&b, &d, 2));
        }
#endif
        data_free_i8(&d);
        (void)b;
    }
    return 0;
}
