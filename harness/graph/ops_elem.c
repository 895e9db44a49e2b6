/*
 * ops_elem.c - element-wise operators: Add, Sub, Mul, Div, Pow with numpy
 * broadcasting (float32 fast path, Pow by a broadcast 2 as x * x; every
 * other numeric type too: integers
 * wrap around and divide truncating, float16/double go through double),
 * and the activations Relu, Clip (every numeric type), Sigmoid,
 * HardSigmoid, HardSwish, Tanh, LeakyRelu, Sqrt, plus Identity and Dropout
 * (a copy: inference, or training mode with ratio 0; mask all true).
 * The float32 binary operators run in chunks of output elements on the
 * threads (par.h); one of two 4-D inputs may be read through a nearest
 * upsampling that then does not run (qb_elem_read_upsampled).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QB_ELEM_AVX512 1
#endif

#include "harness/graph/ops.h"
#include "harness/graph/par.h"
#include "kernels/expf.h"
#include "kernels/kernels.h"

/* ---- binary with broadcasting ---- */

typedef struct bin_state {
    int rank;                  /* output rank (at least 1) */
    int64_t dims[QB_MAX_DIMS]; /* output shape */
    int64_t sa[QB_MAX_DIMS];   /* A's element strides per output dim (0: broadcast) */
    int64_t sb[QB_MAX_DIMS];   /* B's element strides per output dim */
    int up_k;                  /* float32 4-D NCHW: the input read through a nearest upsampling
                                * (qb_elem_read_upsampled), or -1 */
    int up_src;                /* ... the upsampling's input tensor */
    int64_t up_rh, up_rw;      /* ... output rows and columns per source row and column */
} bin_state;

static void bcast_strides(int r, const qb_tensor *t, int64_t *s)
{
    int64_t acc = 1;
    for (int i = r - 1; i >= 0; i--) {
        int ti = i - (r - t->ndim);
        int64_t d = ti >= 0 ? t->dims[ti] : 1;
        s[i] = d == 1 ? 0 : acc;
        acc *= d;
    }
}

/* Output dims of size 1 dropped and adjacent dims merged where both
 * inputs step through them as through one (each input's stride of the
 * outer dim is its stride of the inner one times the inner size: both
 * contiguous, or both broadcast). A per-channel [C,1,1] operand of an
 * N x C x H x W tensor is then C runs of H*W elements against one value
 * each, two tensors of one shape one run. The element order is unchanged. */
static void coalesce(bin_state *s)
{
    int r = 0;
    for (int i = 0; i < s->rank; i++) {
        if (s->dims[i] == 1)
            continue;
        if (r > 0 && s->sa[r - 1] == s->sa[i] * s->dims[i] && s->sb[r - 1] == s->sb[i] * s->dims[i]) {
            s->dims[r - 1] *= s->dims[i];
            s->sa[r - 1] = s->sa[i];
            s->sb[r - 1] = s->sb[i];
            continue;
        }
        s->dims[r] = s->dims[i], s->sa[r] = s->sa[i], s->sb[r] = s->sb[i];
        r++;
    }
    if (r == 0) { /* one element */
        s->dims[0] = 1, s->sa[0] = s->sb[0] = 0;
        r = 1;
    }
    s->rank = r;
}

static int bin_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *a = qb_need_in(g, n, 0, e), *b = a ? qb_need_in(g, n, 1, e) : NULL;
    if (!b)
        return -1;
    bin_state *s = calloc(1, sizeof *s);
    n->state = s;
    s->up_k = -1;
    if (qb_broadcast(a->ndim, a->dims, b->ndim, b->dims, &s->rank, s->dims)) {
        char x[128], y[128];
        qb_shape_str(a->ndim, a->dims, x, sizeof x);
        qb_shape_str(b->ndim, b->dims, y, sizeof y);
        QB_NODE_ERR(e, g, n, "shapes %s and %s do not broadcast", x, y);
        return -1;
    }
    qb_dtype dt = a->dtype;
    if (dt == QB_DT_BOOL || b->dtype == QB_DT_BOOL) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "element type bool is not supported (numeric types only)");
        return -1;
    }
    if (strcmp(n->op, "Pow") && b->dtype != dt) {
        QB_NODE_ERR(e, g, n, "inputs are %s and %s", qb_dtype_name(dt), qb_dtype_name(b->dtype));
        return -1;
    }
    qb_set_out(g, n, 0, dt, s->rank, s->dims);
    if (s->rank == 0) {
        s->rank = 1;
        s->dims[0] = 1;
    }
    bcast_strides(s->rank, a, s->sa);
    bcast_strides(s->rank, b, s->sb);
    coalesce(s);
    return 0;
}


enum { B_ADD, B_SUB, B_MUL, B_DIV, B_POW };

static inline float fop(int op, float x, float y)
{
    switch (op) {
    case B_ADD: return x + y;
    case B_SUB: return x - y;
    case B_MUL: return x * y;
    case B_DIV: return x / y;
    default: return powf(x, y);
    }
}

static inline int64_t iop(int op, int64_t x, int64_t y)
{
    /* two's complement wrap-around, like the int64 arithmetic ONNX runtimes do */
    switch (op) {
    case B_ADD: return (int64_t)((uint64_t)x + (uint64_t)y);
    case B_SUB: return (int64_t)((uint64_t)x - (uint64_t)y);
    case B_MUL: return (int64_t)((uint64_t)x * (uint64_t)y);
    case B_DIV: return y == 0 || (y == -1 && x == INT64_MIN) ? 0 : x / y;
    default: {
        uint64_t r = 1;
        for (int64_t k = 0; k < y && k < 64; k++)
            r *= (uint64_t)x;
        return (int64_t)r;
    }
    }
}

static inline double dop(int op, double x, double y)
{
    switch (op) {
    case B_ADD: return x + y;
    case B_SUB: return x - y;
    case B_MUL: return x * y;
    case B_DIV: return x / y;
    default: return pow(x, y);
    }
}

/* c[j] = a[j*ia] op b[j*ib], j < n, float32 (not Pow): inlined with
 * constant op and strides, so each case is its own loop (vectorised with
 * SSE2 where the strides are 0 or 1). */
static inline __attribute__((always_inline)) void span_f32(int op, float *c, const float *a, int64_t ia,
                                                           const float *b, int64_t ib, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        c[j] = fop(op, a[j * ia], b[j * ib]);
}

/* span_f32 for op, one loop per case of ia, ib in {0, 1} and a general one. */
#define SPAN_CASES(FN, OP)                                                                                            \
    (ia == 1 && ib == 1   ? FN(OP, c, a, 1, b, 1, n)                                                                  \
     : ia == 1 && ib == 0 ? FN(OP, c, a, 1, b, 0, n)                                                                  \
     : ia == 0 && ib == 1 ? FN(OP, c, a, 0, b, 1, n)                                                                  \
                          : FN(OP, c, a, ia, b, ib, n))

static void span_f32_plain(int op, float *c, const float *a, int64_t ia, const float *b, int64_t ib, int64_t n)
{
    switch (op) {
    case B_ADD: SPAN_CASES(span_f32, B_ADD); break;
    case B_SUB: SPAN_CASES(span_f32, B_SUB); break;
    case B_MUL: SPAN_CASES(span_f32, B_MUL); break;
    default: SPAN_CASES(span_f32, B_DIV); break;
    }
}

#ifdef QB_ELEM_AVX512
static int elem_avx512_off; /* qb_elem_avx512(0): the plain loops only (tests) */
static int elem_avx2_only;  /* qb_elem_avx2_only(1): the AVX2 loops, not AVX-512 (tests) */

/* AVX-512F usable (checked once), allowed by the ISA cap (QB_FORCE_ISA
 * unset or vnni, as the kernels and nhwc_ops.c) and not turned off. */
static int elem_avx512(void)
{
    static int ok = -1;
    if (ok < 0)
        ok = qb_avx512_allowed(QB_CPU_AVX512F);
    return ok && !elem_avx512_off && !elem_avx2_only;
}

__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) __m512 op512(int op, __m512 x, __m512 y)
{
    switch (op) {
    case B_ADD: return _mm512_add_ps(x, y);
    case B_SUB: return _mm512_sub_ps(x, y);
    case B_MUL: return _mm512_mul_ps(x, y);
    default: return _mm512_div_ps(x, y);
    }
}

/* span_f32 with ia, ib in {0, 1}, 16 floats a step, the tail masked (the
 * same IEEE operation per element: the same bits). */
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
span_f32_512(int op, float *c, const float *a, int64_t ia, const float *b, int64_t ib, int64_t n)
{
    const __m512 va = _mm512_set1_ps(a[0]), vb = _mm512_set1_ps(b[0]);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(c + j, op512(op, ia ? _mm512_loadu_ps(a + j) : va, ib ? _mm512_loadu_ps(b + j) : vb));
    if (j < n) {
        __mmask16 m = (__mmask16)((1u << (n - j)) - 1);
        __m512 x = ia ? _mm512_maskz_loadu_ps(m, a + j) : va, y = ib ? _mm512_maskz_loadu_ps(m, b + j) : vb;
        _mm512_mask_storeu_ps(c + j, m, op512(op, x, y));
    }
}

#define SPAN_CASES_512(FN, OP)                                                                                        \
    (ia == 1 && ib == 1 ? FN(OP, c, a, 1, b, 1, n) : ia == 1 ? FN(OP, c, a, 1, b, 0, n) : FN(OP, c, a, 0, b, 1, n))

__attribute__((target("avx512f"))) static void span_f32_avx512(int op, float *c, const float *a, int64_t ia,
                                                               const float *b, int64_t ib, int64_t n)
{
    switch (op) {
    case B_ADD: SPAN_CASES_512(span_f32_512, B_ADD); break;
    case B_SUB: SPAN_CASES_512(span_f32_512, B_SUB); break;
    case B_MUL: SPAN_CASES_512(span_f32_512, B_MUL); break;
    default: SPAN_CASES_512(span_f32_512, B_DIV); break;
    }
}
#endif

#ifdef QB_ELEM_AVX512
/* Rows [r0, r1) of bin_up_rows with AVX-512 (rw divides 16), op and the
 * operand order (uk: the upsampled input's place) constants: 16 output
 * values a step, the upsampled operand's 16 / rw source values spread by
 * a permute, the other loaded, the operation, one store. */
__attribute__((target("avx512f"), always_inline)) static inline void
up_rows_512(const int op, const int uk, float *c, const float *o, const float *src, int64_t W, int64_t rw, int64_t ih,
            int64_t iw, int64_t H, int64_t rh, int64_t r0, int64_t r1)
{
    const __m512i idx = _mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                          (unsigned)__builtin_ctzll((unsigned long long)rw));
    const int64_t ls = 16 / rw; /* source values a step */
    const __mmask16 tm = (__mmask16)((1u << (W % 16)) - 1), tl = (__mmask16)((1u << (W % 16 + rw - 1) / rw) - 1);
    int64_t sr = r0 / H * ih + r0 % H / rh, ry = r0 % H % rh;
    for (int64_t r = r0; r < r1; r++) {
        const float *sp = src + sr * iw, *po = o + r * W;
        float *pc = c + r * W;
        int64_t x = 0;
        for (; x + 16 <= W; x += 16, sp += ls) {
            const __m512 u = _mm512_permutexvar_ps(idx, _mm512_loadu_ps(sp)), v = _mm512_loadu_ps(po + x);
            _mm512_storeu_ps(pc + x, uk == 0 ? op512(op, u, v) : op512(op, v, u));
        }
        if (x < W) {
            const __m512 u = _mm512_permutexvar_ps(idx, _mm512_maskz_loadu_ps(tl, sp)),
                         v = _mm512_maskz_loadu_ps(tm, po + x);
            _mm512_mask_storeu_ps(pc + x, tm, uk == 0 ? op512(op, u, v) : op512(op, v, u));
        }
        if (++ry == rh) /* (rh divides H: a plane's last row is its source's last) */
            ry = 0, sr++;
    }
}

#define UP_ROWS_512(OP)                                                                                               \
    (uk == 0 ? up_rows_512(OP, 0, c, o, src, W, rw, ih, iw, H, rh, r0, r1)                                            \
             : up_rows_512(OP, 1, c, o, src, W, rw, ih, iw, H, rh, r0, r1))

__attribute__((target("avx512f"))) static void up_rows_avx512(int op, int uk, float *c, const float *o,
                                                              const float *src, int64_t W, int64_t rw, int64_t ih,
                                                              int64_t iw, int64_t H, int64_t rh, int64_t r0,
                                                              int64_t r1)
{
    switch (op) {
    case B_ADD: UP_ROWS_512(B_ADD); break;
    case B_SUB: UP_ROWS_512(B_SUB); break;
    case B_MUL: UP_ROWS_512(B_MUL); break;
    default: UP_ROWS_512(B_DIV); break;
    }
}
#endif

#ifdef QB_ELEM_AVX512
/* ---- the same loops 8 floats wide, where AVX-512 is not allowed ---- */

/* AVX2 usable (checked once) under the ISA cap and not turned off with
 * AVX-512 (qb_elem_avx512(0): the plain loops). */
static int elem_avx2(void)
{
    static int ok = -1;
    if (ok < 0)
        ok = qb_avx2_allowed();
    return ok && !elem_avx512_off;
}

__attribute__((target("avx2"))) static inline __attribute__((always_inline)) __m256 op256(int op, __m256 x, __m256 y)
{
    switch (op) {
    case B_ADD: return _mm256_add_ps(x, y);
    case B_SUB: return _mm256_sub_ps(x, y);
    case B_MUL: return _mm256_mul_ps(x, y);
    default: return _mm256_div_ps(x, y);
    }
}

/* The first min(left, 8) lanes as a maskload / maskstore mask. */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) __m256i lanes8(int64_t left)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(left < 8 ? left : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* span_f32_512 8 floats a step (the same IEEE operation per element). */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void
span_f32_256(int op, float *c, const float *a, int64_t ia, const float *b, int64_t ib, int64_t n)
{
    const __m256 va = _mm256_set1_ps(a[0]), vb = _mm256_set1_ps(b[0]);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(c + j, op256(op, ia ? _mm256_loadu_ps(a + j) : va, ib ? _mm256_loadu_ps(b + j) : vb));
    if (j < n) {
        const __m256i m = lanes8(n - j);
        __m256 x = ia ? _mm256_maskload_ps(a + j, m) : va, y = ib ? _mm256_maskload_ps(b + j, m) : vb;
        _mm256_maskstore_ps(c + j, m, op256(op, x, y));
    }
}

__attribute__((target("avx2"))) static void span_f32_avx2(int op, float *c, const float *a, int64_t ia,
                                                          const float *b, int64_t ib, int64_t n)
{
    switch (op) {
    case B_ADD: SPAN_CASES_512(span_f32_256, B_ADD); break;
    case B_SUB: SPAN_CASES_512(span_f32_256, B_SUB); break;
    case B_MUL: SPAN_CASES_512(span_f32_256, B_MUL); break;
    default: SPAN_CASES_512(span_f32_256, B_DIV); break;
    }
}

/* up_rows_512 8 values a step (rw divides 8): the upsampled operand's 8 /
 * rw source values spread by vpermps, the other loaded, the operation in
 * its operand order, one store (the tail masked). */
__attribute__((target("avx2"), always_inline)) static inline void
up_rows_256(const int op, const int uk, float *c, const float *o, const float *src, int64_t W, int64_t rw, int64_t ih,
            int64_t iw, int64_t H, int64_t rh, int64_t r0, int64_t r1)
{
    const __m256i idx = _mm256_srli_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                          (int)__builtin_ctzll((unsigned long long)rw));
    const int64_t ls = 8 / rw; /* source values a step */
    const __m256i tm = lanes8(W % 8), tl = lanes8((W % 8 + rw - 1) / rw);
    int64_t sr = r0 / H * ih + r0 % H / rh, ry = r0 % H % rh;
    for (int64_t r = r0; r < r1; r++) {
        const float *sp = src + sr * iw, *po = o + r * W;
        float *pc = c + r * W;
        int64_t x = 0;
        for (; x + 8 <= W; x += 8, sp += ls) {
            const __m256 u = _mm256_permutevar8x32_ps(_mm256_maskload_ps(sp, lanes8(ls)), idx),
                         v = _mm256_loadu_ps(po + x);
            _mm256_storeu_ps(pc + x, uk == 0 ? op256(op, u, v) : op256(op, v, u));
        }
        if (x < W) {
            const __m256 u = _mm256_permutevar8x32_ps(_mm256_maskload_ps(sp, tl), idx),
                         v = _mm256_maskload_ps(po + x, tm);
            _mm256_maskstore_ps(pc + x, tm, uk == 0 ? op256(op, u, v) : op256(op, v, u));
        }
        if (++ry == rh) /* (rh divides H: a plane's last row is its source's last) */
            ry = 0, sr++;
    }
}

#define UP_ROWS_256(OP)                                                                                               \
    (uk == 0 ? up_rows_256(OP, 0, c, o, src, W, rw, ih, iw, H, rh, r0, r1)                                            \
             : up_rows_256(OP, 1, c, o, src, W, rw, ih, iw, H, rh, r0, r1))

__attribute__((target("avx2"))) static void up_rows_avx2(int op, int uk, float *c, const float *o, const float *src,
                                                         int64_t W, int64_t rw, int64_t ih, int64_t iw, int64_t H,
                                                         int64_t rh, int64_t r0, int64_t r1)
{
    switch (op) {
    case B_ADD: UP_ROWS_256(B_ADD); break;
    case B_SUB: UP_ROWS_256(B_SUB); break;
    case B_MUL: UP_ROWS_256(B_MUL); break;
    default: UP_ROWS_256(B_DIV); break;
    }
}
#endif

void qb_elem_avx2_only(int on)
{
#ifdef QB_ELEM_AVX512
    elem_avx2_only = on;
#else
    (void)on;
#endif
}

void qb_elem_avx512(int on)
{
#ifdef QB_ELEM_AVX512
    elem_avx512_off = !on;
#else
    (void)on;
#endif
}

/* One run of float32 Add/Sub/Mul/Div (op < B_POW): AVX-512 (else AVX2)
 * where it runs and the strides are 0 or 1 (not both 0), else the plain
 * loops. */
static void span_f32_run(int op, float *c, const float *a, int64_t ia, const float *b, int64_t ib, int64_t n)
{
#ifdef QB_ELEM_AVX512
    if ((ia | ib) == 1 && (ia & ~1) == 0 && (ib & ~1) == 0 && elem_avx512()) {
        span_f32_avx512(op, c, a, ia, b, ib, n);
        return;
    }
    if ((ia | ib) == 1 && (ia & ~1) == 0 && (ib & ~1) == 0 && elem_avx2()) {
        span_f32_avx2(op, c, a, ia, b, ib, n);
        return;
    }
#endif
    span_f32_plain(op, c, a, ia, b, ib, n);
}

/* The output tensor n may write over: the input of n's output shape (not
 * broadcast, so element j is read only to write element j) of a float32
 * Add/Sub/Mul/Div, the first such input; the data input of a copying
 * operator (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout:
 * qb_op_copy_run), which then skips its copy (a view); else -1 (an
 * input read through its upsampling is not one: qb_elem_read_upsampled). exec.c
 * plans the output there when that input is a runtime value read last by
 * n and of the output's size. */
int qb_elem_inplace_input(const qb_graph *g, const qb_node *n)
{
    if (n->def && n->def->run == qb_op_copy_run && n->nin >= 1 && n->nout >= 1 && n->out[0] >= 0 && n->in[0] >= 0 &&
        qb_in(g, n, 0)->dtype == qb_out(g, n, 0)->dtype)
        return n->in[0];
    if (n->nin != 2 || n->nout != 1 || n->out[0] < 0 || !n->def || n->def->prepare != bin_prepare ||
        !strcmp(n->op, "Pow"))
        return -1;
    const qb_tensor *y = qb_out(g, n, 0);
    if (y->dtype != QB_DT_FLOAT)
        return -1;
    const bin_state *s = n->state;
    for (int k = 0; k < 2; k++) {
        const qb_tensor *t = qb_in(g, n, k);
        if (s && s->up_k == k) /* read through its upsampling: never written */
            continue;
        if (t && t->dtype == QB_DT_FLOAT && t->ndim == y->ndim && !memcmp(t->dims, y->dims, y->ndim * sizeof *y->dims))
            return n->in[k];
    }
    return -1;
}

/* Elements [e0, e1) of C in output order (outer rows of inner elements):
 * each row's span from A and B at their broadcast offsets. */
typedef struct bin_job {
    const bin_state *s;       /* shapes and strides */
    const qb_tensor *a, *b;   /* inputs */
    qb_tensor *c;             /* output */
    int op;                   /* B_* */
    const qb_tensor *up;      /* s->up_k >= 0: the upsampling's input */
} bin_job;

static void bin_elems(void *ctx, int64_t e0, int64_t e1)
{
    const bin_job *jb = ctx;
    const bin_state *s = jb->s;
    const qb_tensor *a = jb->a, *b = jb->b;
    qb_tensor *c = jb->c;
    int op = jb->op, r = s->rank;
    int64_t inner = s->dims[r - 1], ia = s->sa[r - 1], ib = s->sb[r - 1];
    int64_t idx[QB_MAX_DIMS] = {0}, oa = 0, ob = 0, o = e0 / inner, j0 = e0 % inner;
    { /* the outer index of row o */
        int64_t q = o;
        for (int d = r - 2; d >= 0; d--) {
            idx[d] = q % s->dims[d];
            q /= s->dims[d];
            oa += idx[d] * s->sa[d];
            ob += idx[d] * s->sb[d];
        }
    }
    int64_t oc = o * inner;
    int fast_f = c->dtype == QB_DT_FLOAT && b->dtype == QB_DT_FLOAT;
    /* integers: int64 arithmetic wrapped to the element width (uint8 200+100 = 44),
     * division truncates; Pow of an integer base with a float exponent and every
     * float16/double case go through double and are rounded into the output type */
    int int_op = qb_dtype_is_int(c->dtype) && qb_dtype_is_int(b->dtype);
    for (int64_t e = e0; e < e1; o++, j0 = 0) {
        int64_t j1 = inner < j0 + (e1 - e) ? inner : j0 + (e1 - e), len = j1 - j0;
        int64_t pa0 = oa + j0 * ia, pb0 = ob + j0 * ib, pc0 = oc + j0;
        if (fast_f) {
            const float *pa = (const float *)a->data + pa0, *pb = (const float *)b->data + pb0;
            float *pc = (float *)c->data + pc0;
            if (op != B_POW) {
                span_f32_run(op, pc, pa, ia, pb, ib, len);
            } else if (ib == 0 && pb[0] == 2.0f) { /* a LayerNorm's x^2: x * x (correctly rounded; powf is within 1 ulp) */
                span_f32_run(B_MUL, pc, pa, ia, pa, ia, len);
            } else {
                for (int64_t j = 0; j < len; j++)
                    pc[j] = fop(op, pa[j * ia], pb[j * ib]);
            }
        } else if (int_op && op == B_DIV && c->dtype == QB_DT_UINT64) { /* unsigned above 2^63 */
            for (int64_t j = 0; j < len; j++) {
                uint64_t x = (uint64_t)qb_int_at(a, pa0 + j * ia), y = (uint64_t)qb_int_at(b, pb0 + j * ib);
                qb_set_i(c, pc0 + j, (int64_t)(y ? x / y : 0));
            }
        } else if (int_op) {
            for (int64_t j = 0; j < len; j++)
                qb_set_i(c, pc0 + j, iop(op, qb_int_at(a, pa0 + j * ia), qb_int_at(b, pb0 + j * ib)));
        } else {
            for (int64_t j = 0; j < len; j++)
                qb_set_d(c, pc0 + j, dop(op, qb_get_d(a, pa0 + j * ia), qb_get_d(b, pb0 + j * ib)));
        }
        e += len;
        oc += inner;
        for (int d = r - 2; d >= 0; d--) { /* odometer over the outer dims */
            idx[d]++;
            oa += s->sa[d];
            ob += s->sb[d];
            if (idx[d] < s->dims[d])
                break;
            oa -= s->sa[d] * idx[d];
            ob -= s->sb[d] * idx[d];
            idx[d] = 0;
        }
    }
}

#define UP_ROW_MAX 4096 /* widest output row read through an upsampling (bin_up_rows' row on the stack) */
#define UP_ROW_MIN 32   /* narrowest: det's 20-value rows took longer read through (0.011 ms) than upsampled by the
                         * Resize and added (0.009) */

/* Source row sr (iw values) upsampled by rw into row (iw * rw values):
 * row[x] = sr[x / rw]. */
static void up_row(float *restrict row, const float *restrict sr, int64_t iw, int64_t rw)
{
    int64_t x = 0;
    for (int64_t sx = 0; sx < iw; sx++)
        for (int64_t t = 0; t < rw; t++)
            row[x++] = sr[sx];
}

/* Output rows [r0, r1) (N*C*H rows of W) of an Add/Sub/Mul/Div whose input
 * s->up_k is read through its upsampling: each row's source row upsampled
 * into a row on the stack (once for the rh rows that share it), then the
 * span of the two rows in the operator's operand order (span_f32_run: the
 * same operation per element as on the materialised Resize). */
static void bin_up_rows(void *ctx, int64_t r0, int64_t r1)
{
    const bin_job *jb = ctx;
    const bin_state *s = jb->s;
    const qb_tensor *c = jb->c, *src = jb->up;
    const int64_t H = c->dims[2], W = c->dims[3], rh = s->up_rh, rw = s->up_rw, ih = H / rh, iw = W / rw;
    const float *o = (const float *)(s->up_k == 0 ? jb->b : jb->a)->data; /* the other input */
#ifdef QB_ELEM_AVX512
    if (16 % rw == 0 && elem_avx512()) {
        up_rows_avx512(jb->op, s->up_k, (float *)c->data, o, (const float *)src->data, W, rw, ih, iw, H, rh, r0, r1);
        return;
    }
    if (8 % rw == 0 && elem_avx2()) {
        up_rows_avx2(jb->op, s->up_k, (float *)c->data, o, (const float *)src->data, W, rw, ih, iw, H, rh, r0, r1);
        return;
    }
#endif
    float row[UP_ROW_MAX];
    int64_t have = -1, sr = r0 / H * ih + r0 % H / rh, ry = r0 % H % rh; /* the source row in row; row r's source row
                                                                          * and its place among that row's rh rows */
    for (int64_t r = r0; r < r1; r++) {
        const float *sp = (const float *)src->data + sr * iw;
        if (rw > 1 && sr != have)
            up_row(row, sp, iw, rw), have = sr;
        const float *u = rw > 1 ? row : sp;
        float *pc = (float *)c->data + r * W;
        const float *po = o + r * W;
        if (s->up_k == 0)
            span_f32_run(jb->op, pc, u, 1, po, 1, W);
        else
            span_f32_run(jb->op, pc, po, 1, u, 1, W);
        if (++ry == rh) /* (rh divides H: a plane's last row is its source's last) */
            ry = 0, sr++;
    }
}

int qb_elem_read_upsampled(qb_graph *g, qb_node *n, int k, int src, int64_t rh, int64_t rw)
{
    static const char *const ops[] = {"Add", "Sub", "Mul", "Div"};
    int known = 0;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        known |= !strcmp(n->op, ops[i]);
    if (!known || !n->def || n->def->prepare != bin_prepare || !n->state || n->nin != 2 || k < 0 || k > 1 ||
        n->nout != 1 || n->out[0] < 0 || rh < 1 || rw < 1)
        return 0;
    const qb_tensor *y = qb_out(g, n, 0), *x = g->tensors[src];
    for (int i = 0; i < 2; i++) { /* both inputs float32 of the output's 4-D shape */
        const qb_tensor *t = qb_in(g, n, i);
        if (!t || t->dtype != QB_DT_FLOAT || t->ndim != 4 || memcmp(t->dims, y->dims, 4 * sizeof *y->dims))
            return 0;
    }
    if (y->dtype != QB_DT_FLOAT || x->dtype != QB_DT_FLOAT || x->ndim != 4 || x->dims[0] != y->dims[0] ||
        x->dims[1] != y->dims[1] || x->dims[2] * rh != y->dims[2] || x->dims[3] * rw != y->dims[3] ||
        y->dims[3] > UP_ROW_MAX || y->dims[3] < UP_ROW_MIN)
        return 0;
    bin_state *s = n->state;
    s->up_k = k, s->up_src = src, s->up_rh = rh, s->up_rw = rw;
    return 1;
}

/* float32 outputs in chunks of elements on the threads (each element
 * computed alone: the same bits); other types one piece. An input read
 * through its upsampling: in chunks of rows (bin_up_rows). */
static void bin_run(qb_graph *g, qb_node *n, int op)
{
    (void)g;
    const bin_state *s = n->state;
    bin_job jb = {s, qb_in(g, n, 0), qb_in(g, n, 1), qb_out(g, n, 0), op, NULL};
    if (s->up_k >= 0) {
        jb.up = g->tensors[s->up_src];
        const int64_t rows = jb.c->dims[0] * jb.c->dims[1] * jb.c->dims[2];
        qb_gpar_for(rows, qb_gpar_chunk(rows, jb.c->dims[3], 1), bin_up_rows, &jb);
        return;
    }
    int64_t total = 1;
    for (int i = 0; i < s->rank; i++)
        total *= s->dims[i];
    int fast_f = jb.c->dtype == QB_DT_FLOAT && jb.b->dtype == QB_DT_FLOAT;
    qb_gpar_for(total, fast_f ? qb_gpar_chunk(total, 1, 16) : total, bin_elems, &jb);
}

static void add_run(qb_graph *g, qb_node *n, void *s) { (void)s; bin_run(g, n, B_ADD); }
static void sub_run(qb_graph *g, qb_node *n, void *s) { (void)s; bin_run(g, n, B_SUB); }
static void mul_run(qb_graph *g, qb_node *n, void *s) { (void)s; bin_run(g, n, B_MUL); }
static void div_run(qb_graph *g, qb_node *n, void *s) { (void)s; bin_run(g, n, B_DIV); }
static void pow_run(qb_graph *g, qb_node *n, void *s) { (void)s; bin_run(g, n, B_POW); }

/* ---- unary ---- */

static int un_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    int copy = !strcmp(n->op, "Identity") || !strcmp(n->op, "Dropout") ||
               (!strcmp(n->op, "Clip") && x->dtype != QB_DT_BOOL); /* Clip: every numeric type */
    if (!copy && x->dtype != QB_DT_FLOAT) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "element type %s is not supported (float32 only)", qb_dtype_name(x->dtype));
        return -1;
    }
    if (!strcmp(n->op, "Dropout")) {
        qb_tensor *tm = qb_in(g, n, 2), *rt = qb_in(g, n, 1);
        if (tm && tm->kind != QB_T_CONST) {
            QB_NODE_ERR(e, g, n, "training_mode must be a constant");
            return -1;
        }
        /* training mode is an identity (all-true mask) only with ratio 0 */
        if (qb_attr_int(n, "is_test", 1) == 0 || (tm && qb_int_at(tm, 0))) {
            if (rt && (rt->kind != QB_T_CONST || qb_tensor_count(rt) != 1)) {
                QB_NODE_ERR(e, g, n, "training mode needs a constant scalar ratio");
                return -1;
            }
            double ratio = rt ? qb_get_d(rt, 0) : 0.5;
            if (ratio != 0) {
                QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR,
                                    "training mode with ratio %g is not supported: its mask is random (it "
                                    "cannot reproduce numpy's generator); ratio 0 is supported", ratio);
                return -1;
            }
        }
        if (n->nout > 1 && n->out[1] >= 0) {
            qb_set_out(g, n, 1, QB_DT_BOOL, x->ndim, x->dims);
        }
    }
    qb_set_out(g, n, 0, x->dtype, x->ndim, x->dims);
    return 0;
}

#define UNARY(fname, expr)                                        \
    static void fname(qb_graph *g, qb_node *n, void *scratch)     \
    {                                                             \
        (void)scratch;                                            \
        const qb_tensor *xt = qb_in(g, n, 0);                     \
        const float *x = xt->data;                                \
        float *y = qb_out(g, n, 0)->data;                         \
        int64_t cnt = qb_tensor_count(xt);                        \
        for (int64_t i = 0; i < cnt; i++) {                       \
            float v = x[i];                                       \
            y[i] = (expr);                                        \
        }                                                         \
    }

UNARY(relu_run, v > 0 ? v : 0)
UNARY(tanh_run, tanhf(v))
UNARY(sqrt_run, sqrtf(v))

/* Through the vector exp (kernels/expf.h): the same bits as the fused
 * chains' Sigmoid (fuse_elem.c). */
static void sigmoid_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *xt = qb_in(g, n, 0);
    qb_sigmoid_f32(xt->data, qb_out(g, n, 0)->data, (size_t)qb_tensor_count(xt));
}

static void leaky_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    float alpha = qb_attr_float(n, "alpha", 0.01f);
    const qb_tensor *xt = qb_in(g, n, 0);
    const float *x = xt->data;
    float *y = qb_out(g, n, 0)->data;
    for (int64_t i = 0, c = qb_tensor_count(xt); i < c; i++) /* a select on the bits: vectorizes */
        y[i] = qb_leaky_relu(x[i], alpha);
}

static void hsig_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    float alpha = qb_attr_float(n, "alpha", 0.2f), beta = qb_attr_float(n, "beta", 0.5f);
    const qb_tensor *xt = qb_in(g, n, 0);
    const float *x = xt->data;
    float *y = qb_out(g, n, 0)->data;
    for (int64_t i = 0, c = qb_tensor_count(xt); i < c; i++) {
        float v = alpha * x[i] + beta;
        y[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

static void hswish_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *xt = qb_in(g, n, 0);
    const float *x = xt->data;
    float *y = qb_out(g, n, 0)->data;
    for (int64_t i = 0, c = qb_tensor_count(xt); i < c; i++) {
        float v = x[i] / 6.0f + 0.5f;
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        y[i] = x[i] * v;
    }
}

static void clip_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    float lo = -INFINITY, hi = INFINITY;
    if (g->opset < 11) {
        lo = qb_attr_float(n, "min", -INFINITY);
        hi = qb_attr_float(n, "max", INFINITY);
    } else {
        const qb_tensor *tl = qb_in(g, n, 1), *th = qb_in(g, n, 2);
        if (tl && tl->dtype == QB_DT_FLOAT)
            lo = ((const float *)tl->data)[0];
        if (th && th->dtype == QB_DT_FLOAT)
            hi = ((const float *)th->data)[0];
    }
    const qb_tensor *xt = qb_in(g, n, 0);
    qb_tensor *yt = qb_out(g, n, 0);
    if (xt->dtype != QB_DT_FLOAT) {
        const qb_tensor *tl = qb_in(g, n, 1), *th = qb_in(g, n, 2);
        if (qb_dtype_is_int(xt->dtype)) { /* exact: no bound means the type's own range */
            for (int64_t i = 0, c = qb_tensor_count(xt); i < c; i++) {
                int64_t v = qb_int_at(xt, i);
                if (tl && v < qb_int_at(tl, 0))
                    v = qb_int_at(tl, 0);
                if (th && v > qb_int_at(th, 0))
                    v = qb_int_at(th, 0);
                qb_set_i(yt, i, v);
            }
        } else {
            double dl = tl ? qb_get_d(tl, 0) : lo, dh = th ? qb_get_d(th, 0) : hi;
            for (int64_t i = 0, c = qb_tensor_count(xt); i < c; i++) {
                double v = qb_get_d(xt, i);
                v = v < dl ? dl : v;
                qb_set_d(yt, i, v > dh ? dh : v);
            }
        }
        return;
    }
    const float *x = xt->data;
    float *y = yt->data;
    for (int64_t i = 0, c = qb_tensor_count(xt); i < c; i++) {
        float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
}

static int clip_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    if (un_prepare(g, n, e))
        return -1;
    for (int i = 1; i < 3; i++) {
        qb_tensor *t = qb_in(g, n, i);
        qb_tensor *x = qb_in(g, n, 0);
        if (t && (qb_tensor_count(t) != 1 || t->dtype != x->dtype)) {
            QB_NODE_ERR(e, g, n, "min/max input '%s' must be a %s scalar like the input", t->name,
                        qb_dtype_name(x->dtype));
            return -1;
        }

    }
    return 0;
}

const qb_opdef qb_ops_elem[] = {
    {"Add", bin_prepare, add_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Sub", bin_prepare, sub_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Mul", bin_prepare, mul_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Div", bin_prepare, div_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Pow", bin_prepare, pow_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Relu", un_prepare, relu_run, NULL, QB_OPF_ZERO_SIZE, 0},
    {"Clip", clip_prepare, clip_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Sigmoid", un_prepare, sigmoid_run, NULL, QB_OPF_ZERO_SIZE, 0},
    {"HardSigmoid", un_prepare, hsig_run, NULL, QB_OPF_ZERO_SIZE, 0},
    {"HardSwish", un_prepare, hswish_run, NULL, QB_OPF_ZERO_SIZE, 0},
    {"Tanh", un_prepare, tanh_run, NULL, QB_OPF_ZERO_SIZE, 0},
    {"LeakyRelu", un_prepare, leaky_run, NULL, QB_OPF_ZERO_SIZE, 0},
    {"Sqrt", un_prepare, sqrt_run, NULL, QB_OPF_ZERO_SIZE, 0},
    {"Identity", un_prepare, qb_op_copy_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Dropout", un_prepare, qb_op_copy_run, NULL, QB_OPF_ANY_DTYPE, 1u << 1 | 1u << 2},
    {NULL, NULL, NULL, NULL, 0, 0},
};
