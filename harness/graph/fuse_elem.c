/*
 * fuse_elem.c - element-wise chains run as one pass: a run of float32
 * element-wise nodes, each with one runtime input (the previous node's
 * output, read by nothing else) and otherwise constants that are scalars
 * or per-channel (axis 1) values, becomes one node that streams the input
 * once in blocks that stay in L1 and applies every step to a block before
 * the next (vectorised where the step is: add, sub, mul, div, clip, relu,
 * hard sigmoid/swish, leaky relu, max and min; with AVX-512 a chain of
 * such steps runs on 128 values held in registers, loaded and stored
 * once: steps_regs_avx512). One value may be kept aside and
 * multiplied or added back, which covers the exported activation
 * patterns x * clip(x + 3, 0, 6) / 6 (HardSwish), x * sigmoid(x) (SiLU /
 * Swish) and x * hardsigmoid(x).
 *
 * Every step computes exactly what the operator it replaces computes
 * (the same float operations in the same order, no contraction), so the
 * fused graph's outputs are bit-identical to the unfused one's. The IR
 * keeps every node (export is unchanged): the first node of a chain runs
 * the chain and writes the last node's output (write_to), the others are
 * marked fused into it and skipped. QB_NO_ELEM_FUSION=1 (or
 * g->no_elem_fusion) turns the pass off (tests compare both).
 *
 * A chain whose input only it reads, written by an fp32 Conv, runs inside
 * that Conv (qb_fuse_conv_epilogues, ops_conv.c): on each block of NHWC
 * output pixels right after the kernel wrote it, while it is in cache,
 * instead of a pass over the whole map; the same steps, so the same bits.
 * A chain that is one Add of a constant and a Relu after a ConvTranspose
 * whose windows tile the output 2x2 runs in its col2im's stores
 * (ops_convt.c, qb_elem_chain_add_relu): the same two operations. Any
 * float chain after a direct-path ConvTranspose (few columns: det's last
 * head conv, then Add and Sigmoid) runs on each pair of output rows right
 * after they are written (qb_elem_chain_apply_plane): the same steps.
 *
 * int8 chains: between an int8 quantized conv and int8 convs of one input
 * grid (exec.c), a chain maps each int8 value through a 256-entry table
 * per channel (one table without per-channel steps): table[q] =
 * QuantizeLinear(steps(DequantizeLinear(q))), the float path's own
 * arithmetic on the only 256 values the input can take, so bit-identical.
 * Such a chain whose input only it reads runs inside the int8 conv too
 * (qlayer.c): its tables on each block of int8 codes right after the
 * kernel requantized them, so neither the conv's codes nor a pass over
 * them remain; after an int8 conv with float output, the float chain
 * runs on each dequantized block, or, without per-channel steps, maps
 * each int8 code to its result through one table of 256 floats
 * (qb_elem_chain_set_dq: steps(DequantizeLinear(q)), the same bits).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/lut_i8.h"
#include "harness/graph/ops.h"
#include "harness/graph/par.h"
#include "kernels/expf.h"
#include "kernels/kernels.h"
#include "kernels/quantize.h"

#define FE_MAX_STEPS 32
#define FE_BLOCK 512 /* elements per block (2 KiB, L1-resident) */

/* One step of a chain. */
typedef enum fe_code {
    FE_ADD,       /* v + k */
    FE_SUB,       /* v - k */
    FE_RSUB,      /* k - v */
    FE_MUL,       /* v * k */
    FE_DIV,       /* v / k */
    FE_RDIV,      /* k / v */
    FE_RELU,      /* v > 0 ? v : 0 */
    FE_CLIP,      /* clamp to [a, b] as Clip does */
    FE_SIGMOID,   /* 1 / (1 + exp(-v)) */
    FE_HSIG,      /* clamp(a * v + b, 0, 1) */
    FE_HSWISH,    /* v * clamp(v / 6 + 0.5, 0, 1) */
    FE_TANH,      /* tanh(v) */
    FE_LEAKY,     /* v >= 0 ? v : a * v */
    FE_MAX,       /* Max(v, k) or Max(k, v) (k_first), NaNs as ops_minmax.c */
    FE_MIN,       /* Min likewise */
    FE_SAVE,      /* keep v aside */
    FE_MUL_SAVED, /* saved * v */
    FE_ADD_SAVED, /* saved + v */
} fe_code;

typedef struct fe_step {
    fe_code code;       /* what it computes */
    float a, b;         /* scalar operand k (a); Clip bounds (a, b); alpha, beta */
    const float *per_c; /* per-channel operand k (one per channel; a constant's data), or NULL */
    int k_first;        /* binary: the constant is the operator's first input (k op v) */
} fe_step;

typedef struct fe_chain {
    int nsteps;                 /* steps in order */
    fe_step steps[FE_MAX_STEPS];
    int64_t planes, inner;      /* the input as planes of inner elements (per-channel: N*C planes) */
    int64_t total;              /* elements (the last plane may be shorter) */
    int64_t channels;           /* C (per-channel steps: plane p is channel p % C), 1 if none */
    int x, y;                   /* input and output tensors */
    int nhwc;                   /* the tensors are NHWC (between convolutions): channel = index % C */
    float *tiled[FE_MAX_STEPS]; /* NHWC: per-channel operands repeated over a tile of inner elements */
    int8_t *lut;                /* int8 chain (between quantized convs): lut_c tables of 256 outputs (and 4
                                 * bytes of room for the 32-bit gathers), or NULL */
    int64_t lut_c;              /* tables (C with per-channel steps, else 1): element i uses table i % lut_c */
    int32_t *lut_at;            /* lut_c > 1: lut_c + 16 entries, k -> (k % lut_c) * 256 + 128 (the gathers'
                                 * table offsets of 16 elements from one whose channel is k) */
    int pat;                    /* the steps form an affine / exported-HardSwish pattern (fe_pattern: FE_PAT_*
                                 * bits) run by one straight-line AVX-512 loop (steps_pat_avx512), 0 if not */
    int64_t epi_c;              /* run in a conv's epilogue (qb_fuse_conv_epilogues): channels per pixel, else 0 */
    uint8_t *dq_planes;         /* after an int8 conv with float output, no per-channel steps
                                 * (qb_elem_chain_set_dq): the 256 floats steps(DequantizeLinear(q)) as four
                                 * planes of 256 bytes (plane k: byte k of entry q + 128), or NULL */
    void *orig_state;           /* the first node's own prepared state (freed with the chain) */
    void (*orig_free)(void *);  /* its free function, NULL for free() */
} fe_chain;

static void chain_free(void *p)
{
    fe_chain *c = p;
    if (!c)
        return;
    qb_node_state_free(c->orig_state, c->orig_free);
    for (int s = 0; s < FE_MAX_STEPS; s++)
        free(c->tiled[s]);
    free(c->lut);
    free(c->lut_at);
    free(c->dq_planes);
    free(c);
}

/* ---- running ---- */

/* The step loops are inlined twice (apply_steps): a plain copy (SSE2 on
 * x86-64) and, where AVX-512F runs and QB_FORCE_ISA allows it, an
 * AVX-512 copy that the compiler vectorizes 16 floats wide. Each element
 * gets the same correctly rounded float operations in both (no
 * contraction), so the same bits. */
#define FE_INLINE static inline __attribute__((always_inline))

/* v = Max or Min (is_min) of v and k (one value, or per element: kv), in
 * the node's input order (k_first: the constant is its first input). */
FE_INLINE void minmax_step(float *restrict v, const float *k, const float *restrict kv, int n, int is_min, int k_first)
{
    /* one loop per case, each free of branches: they vectorize */
    if (kv && k_first)
        for (int i = 0; i < n; i++)
            v[i] = qb_minmax_f32(kv[i], v[i], is_min);
    else if (kv)
        for (int i = 0; i < n; i++)
            v[i] = qb_minmax_f32(v[i], kv[i], is_min);
    else if (k_first && is_min)
        for (int i = 0; i < n; i++)
            v[i] = qb_minmax_f32(*k, v[i], 1);
    else if (k_first)
        for (int i = 0; i < n; i++)
            v[i] = qb_minmax_f32(*k, v[i], 0);
    else if (is_min)
        for (int i = 0; i < n; i++)
            v[i] = qb_minmax_f32(v[i], *k, 1);
    else
        for (int i = 0; i < n; i++)
            v[i] = qb_minmax_f32(v[i], *k, 0);
}

/* One binary step with a per-element operand kv[] (NHWC per-channel). */
FE_INLINE void vector_step(const fe_step *st, const float *restrict kv, float *restrict v, int n)
{
    switch (st->code) {
    case FE_ADD: for (int i = 0; i < n; i++) v[i] = st->k_first ? kv[i] + v[i] : v[i] + kv[i]; break;
    case FE_SUB: for (int i = 0; i < n; i++) v[i] = v[i] - kv[i]; break;
    case FE_RSUB: for (int i = 0; i < n; i++) v[i] = kv[i] - v[i]; break;
    case FE_MUL: for (int i = 0; i < n; i++) v[i] = st->k_first ? kv[i] * v[i] : v[i] * kv[i]; break;
    case FE_DIV: for (int i = 0; i < n; i++) v[i] = v[i] / kv[i]; break;
    case FE_RDIV: for (int i = 0; i < n; i++) v[i] = kv[i] / v[i]; break;
    case FE_MAX:
    case FE_MIN: minmax_step(v, NULL, kv, n, st->code == FE_MIN, st->k_first); break;
    default: break;
    }
}

/* The steps on n elements in v: of channel ch (NCHW), or starting at
 * offset off of the tile (NHWC); save: n floats of room. */
FE_INLINE void steps_body(const fe_chain *c, int64_t ch, int64_t off, float *restrict v, float *restrict save, int n)
{
    for (int s = 0; s < c->nsteps; s++) {
        const fe_step *st = &c->steps[s];
        if (st->per_c && c->nhwc) {
            vector_step(st, c->tiled[s] + off, v, n);
            continue;
        }
        float k = st->per_c ? st->per_c[ch] : st->a, lo = st->a, hi = st->b;
        switch (st->code) {
        case FE_ADD: for (int i = 0; i < n; i++) v[i] = st->k_first ? k + v[i] : v[i] + k; break;
        case FE_SUB: for (int i = 0; i < n; i++) v[i] = v[i] - k; break;
        case FE_RSUB: for (int i = 0; i < n; i++) v[i] = k - v[i]; break;
        case FE_MUL: for (int i = 0; i < n; i++) v[i] = st->k_first ? k * v[i] : v[i] * k; break;
        case FE_DIV: for (int i = 0; i < n; i++) v[i] = v[i] / k; break;
        case FE_RDIV: for (int i = 0; i < n; i++) v[i] = k / v[i]; break;
        case FE_RELU: for (int i = 0; i < n; i++) v[i] = v[i] > 0 ? v[i] : 0; break;
        case FE_CLIP:
            for (int i = 0; i < n; i++) {
                float t = v[i] < lo ? lo : v[i];
                v[i] = t > hi ? hi : t;
            }
            break;
        case FE_SIGMOID: qb_sigmoid_f32(v, v, (size_t)n); break; /* the vector exp, as ops_elem.c */
        case FE_HSIG:
            for (int i = 0; i < n; i++) {
                float t = lo * v[i] + hi;
                v[i] = t < 0 ? 0 : t > 1 ? 1 : t;
            }
            break;
        case FE_HSWISH:
            for (int i = 0; i < n; i++) {
                float t = v[i] / 6.0f + 0.5f;
                t = t < 0 ? 0 : t > 1 ? 1 : t;
                v[i] = v[i] * t;
            }
            break;
        case FE_TANH: for (int i = 0; i < n; i++) v[i] = tanhf(v[i]); break;
        case FE_LEAKY: for (int i = 0; i < n; i++) v[i] = qb_leaky_relu(v[i], lo); break; /* as ops_elem.c */
        case FE_MAX:
        case FE_MIN: minmax_step(v, &k, NULL, n, st->code == FE_MIN, st->k_first); break;
        case FE_SAVE: memcpy(save, v, (size_t)n * sizeof *v); break;
        case FE_MUL_SAVED: for (int i = 0; i < n; i++) v[i] = st->k_first ? save[i] * v[i] : v[i] * save[i]; break;
        case FE_ADD_SAVED: for (int i = 0; i < n; i++) v[i] = st->k_first ? save[i] + v[i] : v[i] + save[i]; break;
        }
    }
}

static void apply_steps_plain(const fe_chain *c, int64_t ch, int64_t off, float *restrict v, float *restrict save,
                              int n)
{
    steps_body(c, ch, off, v, save, n);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define FE_AVX512 1
#ifdef __clang__ /* clang takes no tuning options in target(); it vectorizes 512 bits wide there anyway */
#define FE_AVX512_TARGET "avx512f"
#else
#define FE_AVX512_TARGET "avx512f,prefer-vector-width=512"
#endif
__attribute__((target(FE_AVX512_TARGET))) static void
apply_steps_avx512(const fe_chain *c, int64_t ch, int64_t off, float *restrict v, float *restrict save, int n)
{
    steps_body(c, ch, off, v, save, n);
}

/* The same loops 8 floats wide, for CPUs without AVX-512 (and under
 * QB_FORCE_ISA=avx2; the plain copy's SSE2 is 4 wide): the same
 * operations per element (no FMA in the target, no contraction), so the
 * same bits. */
__attribute__((target("avx2"))) static void apply_steps_avx2(const fe_chain *c, int64_t ch, int64_t off,
                                                             float *restrict v, float *restrict save, int n)
{
    steps_body(c, ch, off, v, save, n);
}
#endif

static int fe_avx512_off; /* qb_elem_chain_avx512(0): the plain copy only (tests) */
static int fe_avx2_only;  /* qb_elem_chain_avx2_only(1): the AVX2 copy of the step loops, no AVX-512 (tests) */

void qb_elem_chain_avx512(int on) { fe_avx512_off = !on; }
void qb_elem_chain_avx2_only(int on) { fe_avx2_only = on; }

/* The AVX-512 copy may run: the CPU has AVX-512F (checked once), the ISA
 * cap allows it (QB_FORCE_ISA unset or vnni: an avx2 run measures an
 * AVX2 machine) and tests did not turn it off. */
static int fe_avx512(void)
{
#ifdef FE_AVX512
    static int ok = -1;
    if (ok < 0)
        ok = qb_avx512_allowed(QB_CPU_AVX512F);
    return ok && !fe_avx512_off && !fe_avx2_only;
#else
    return 0;
#endif
}

/* The AVX2 copy of the step loops may run (where fe_avx512 does not): AVX2
 * on this CPU under the ISA cap (unset, avx2 or vnni), not turned off. */
static int fe_avx2(void)
{
#ifdef FE_AVX512
    static int ok = -1;
    if (ok < 0)
        ok = qb_avx2_allowed();
    return ok && !fe_avx512_off;
#else
    return 0;
#endif
}

/* ---- affine / HardSwish patterns in one straight-line loop (AVX-512) ----
 * PP-OCR's fp32 convs end in v * a + b, the exported HardSwish
 * t = v * clip(v + k, lo, hi) / d, then t * c + e (BN folded as Mul/Add
 * around the activation): nine steps that the register path dispatches
 * one at a time for every 128 values (a switch a step, the constants
 * broadcast again), about 2.5 times the time of the same operations
 * written out in one loop. A chain whose steps are exactly such a pattern
 * (scalar operands only) runs in one loop over 16 values, every
 * operation the step's own in the step's order (Add and Mul of a
 * non-NaN constant commute bit for bit, as does the NaN of the runtime
 * operand; the saved-value product keeps its operand order), so the same
 * bits. */
enum {
    FE_PAT_PRE = 1,   /* v * a + b first (steps Mul, Add) */
    FE_PAT_HS = 2,    /* then SAVE, Add k, Clip, Mul by the saved value, Div d */
    FE_PAT_POST = 4,  /* then v * c + e (Mul, Add) */
    FE_PAT_SFIRST = 8 /* the HardSwish product is saved * t (else t * saved) */
};

/* Step s of c is the scalar (non-NaN constant) step code. */
static int pat_step(const fe_chain *c, int s, fe_code code)
{
    const fe_step *st = &c->steps[s];
    return s < c->nsteps && st->code == code && !st->per_c && !isnan(st->a) && (code != FE_CLIP || !isnan(st->b));
}

/* FE_PAT_* bits of c's steps, 0 if they are no such pattern. */
static int fe_pattern(const fe_chain *c)
{
    int s = 0, pat = 0;
    if (pat_step(c, s, FE_MUL) && pat_step(c, s + 1, FE_ADD))
        pat |= FE_PAT_PRE, s += 2;
    if (s + 4 < c->nsteps && c->steps[s].code == FE_SAVE && pat_step(c, s + 1, FE_ADD) &&
        pat_step(c, s + 2, FE_CLIP) && c->steps[s + 3].code == FE_MUL_SAVED && pat_step(c, s + 4, FE_DIV)) {
        pat |= FE_PAT_HS | (c->steps[s + 3].k_first ? FE_PAT_SFIRST : 0);
        s += 5;
    }
    if (pat_step(c, s, FE_MUL) && pat_step(c, s + 1, FE_ADD))
        pat |= FE_PAT_POST, s += 2;
    return s == c->nsteps && (pat & (FE_PAT_PRE | FE_PAT_HS | FE_PAT_POST)) ? pat : 0;
}

#ifdef FE_AVX512
/* ---- the chain in registers (AVX-512) ----
 * A chain whose steps all have a register form (every step but Sigmoid
 * and Tanh) runs on 16 FE_R values at a time held in registers: the
 * values are loaded once, every step applied to the registers, and
 * stored once, instead of each step being a pass over the 2 KiB block (a
 * load and a store a value a step: rec fp32's eight-step affine +
 * HardSwish + affine chains after its convs). Each
 * register form computes what steps_body's loop computes for every
 * element (the selects as compares and blends of the same predicates,
 * vmaxps/vminps where their operand rule is the C select's), so the same
 * bits. */

/* Every step of c has a register form. */
static int fe_regs_ok(const fe_chain *c)
{
    for (int s = 0; s < c->nsteps; s++)
        if (c->steps[s].code == FE_SIGMOID || c->steps[s].code == FE_TANH)
            return 0;
    return 1;
}

/* qb_minmax_f32(y, a, is_min) on sixteen lanes: a where y is a number
 * and a is NaN or beyond y, else y. */
__attribute__((target("avx512f"))) static inline __m512 minmax16(__m512 y, __m512 a, int is_min)
{
    __mmask16 beyond = is_min ? _mm512_cmp_ps_mask(a, y, _CMP_LT_OQ) : _mm512_cmp_ps_mask(a, y, _CMP_GT_OQ);
    __mmask16 m = _mm512_cmp_ps_mask(y, y, _CMP_EQ_OQ) & (_mm512_cmp_ps_mask(a, a, _CMP_NEQ_UQ) | beyond);
    return _mm512_mask_blend_ps(m, y, a);
}

#define FE_R 8 /* registers of 16 values a chunk */

/* One step on the FE_R registers r, the switch outside the register loop
 * (one dispatch a step a chunk); k: the constant operand (one value),
 * kv: per-channel operands of NHWC elements (FE_R x 16 values, masked
 * by mk) or NULL; sv: the saved value. */
__attribute__((target("avx512f"))) static inline void step_regs(const fe_step *st, __m512 *r, __m512 k,
                                                                const float *kv, const __mmask16 *mk, __m512 *sv)
{
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    __m512 kk[FE_R];
#pragma GCC unroll 8
    for (int j = 0; j < FE_R; j++)
        kk[j] = kv ? _mm512_maskz_loadu_ps(mk[j], kv + 16 * j) : k;
#define FE_EACH(expr)                                                                                                 \
    do {                                                                                                              \
        _Pragma("GCC unroll 8") for (int j = 0; j < FE_R; j++) r[j] = (expr);                                         \
    } while (0)
    switch (st->code) {
    case FE_ADD:
        if (st->k_first)
            FE_EACH(_mm512_add_ps(kk[j], r[j]));
        else
            FE_EACH(_mm512_add_ps(r[j], kk[j]));
        break;
    case FE_SUB: FE_EACH(_mm512_sub_ps(r[j], kk[j])); break;
    case FE_RSUB: FE_EACH(_mm512_sub_ps(kk[j], r[j])); break;
    case FE_MUL:
        if (st->k_first)
            FE_EACH(_mm512_mul_ps(kk[j], r[j]));
        else
            FE_EACH(_mm512_mul_ps(r[j], kk[j]));
        break;
    case FE_DIV: FE_EACH(_mm512_div_ps(r[j], kk[j])); break;
    case FE_RDIV: FE_EACH(_mm512_div_ps(kk[j], r[j])); break;
    case FE_RELU: FE_EACH(_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(r[j], zero, _CMP_GT_OQ), r[j])); break; /* v > 0 ? v : 0 */
    case FE_CLIP: { /* vmaxps(a, b) is a > b ? a : b, b on NaN: lo > v ? lo : v is v < lo ? lo : v; then hi < t ? hi : t */
        const __m512 lo = _mm512_set1_ps(st->a), hi = _mm512_set1_ps(st->b);
        FE_EACH(_mm512_min_ps(hi, _mm512_max_ps(lo, r[j])));
        break;
    }
    case FE_HSIG: { /* t < 0 ? 0 : t > 1 ? 1 : t */
        const __m512 al = _mm512_set1_ps(st->a), be = _mm512_set1_ps(st->b);
        FE_EACH(_mm512_min_ps(one, _mm512_max_ps(zero, _mm512_add_ps(_mm512_mul_ps(al, r[j]), be))));
        break;
    }
    case FE_HSWISH: {
        const __m512 six = _mm512_set1_ps(6.0f), half = _mm512_set1_ps(0.5f);
        FE_EACH(_mm512_mul_ps(r[j], _mm512_min_ps(one, _mm512_max_ps(zero, _mm512_add_ps(_mm512_div_ps(r[j], six), half)))));
        break;
    }
    case FE_LEAKY: { /* qb_leaky_relu: v where its bits are +0..+Inf or -0, else alpha * v */
        const __m512 al = _mm512_set1_ps(st->a);
        const __m512i inf = _mm512_set1_epi32(0x7f800000), nz = _mm512_set1_epi32((int32_t)0x80000000u);
        FE_EACH(_mm512_mask_blend_ps(_mm512_cmple_epu32_mask(_mm512_castps_si512(r[j]), inf) |
                                         _mm512_cmpeq_epi32_mask(_mm512_castps_si512(r[j]), nz),
                                     _mm512_mul_ps(al, r[j]), r[j]));
        break;
    }
    case FE_MAX:
    case FE_MIN: {
        const int is_min = st->code == FE_MIN;
        if (st->k_first)
            FE_EACH(minmax16(kk[j], r[j], is_min));
        else
            FE_EACH(minmax16(r[j], kk[j], is_min));
        break;
    }
    case FE_SAVE:
#pragma GCC unroll 8
        for (int j = 0; j < FE_R; j++)
            sv[j] = r[j];
        break;
    case FE_MUL_SAVED:
        if (st->k_first)
            FE_EACH(_mm512_mul_ps(sv[j], r[j]));
        else
            FE_EACH(_mm512_mul_ps(r[j], sv[j]));
        break;
    case FE_ADD_SAVED:
        if (st->k_first)
            FE_EACH(_mm512_add_ps(sv[j], r[j]));
        else
            FE_EACH(_mm512_add_ps(r[j], sv[j]));
        break;
    default: break; /* Sigmoid and Tanh never come here (fe_regs_ok) */
    }
#undef FE_EACH
}

/* The pattern pat of c (k: its constants in step order) on n values. */
__attribute__((target("avx512f"), always_inline)) static inline void pat_loop(const float *k, const float *x, float *y,
                                                                              int n, const int pat)
{
    const __m512 a = _mm512_set1_ps(k[0]), b = _mm512_set1_ps(k[1]), hk = _mm512_set1_ps(k[2]);
    const __m512 lo = _mm512_set1_ps(k[3]), hi = _mm512_set1_ps(k[4]), d = _mm512_set1_ps(k[5]);
    const __m512 c = _mm512_set1_ps(k[6]), e = _mm512_set1_ps(k[7]);
    for (int i = 0; i < n; i += 16) {
        int left = n - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        if (pat & FE_PAT_PRE)
            v = _mm512_add_ps(_mm512_mul_ps(v, a), b);
        if (pat & FE_PAT_HS) {
            __m512 t = _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_add_ps(v, hk)));
            v = _mm512_div_ps((pat & FE_PAT_SFIRST) ? _mm512_mul_ps(v, t) : _mm512_mul_ps(t, v), d);
        }
        if (pat & FE_PAT_POST)
            v = _mm512_add_ps(_mm512_mul_ps(v, c), e);
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

/* c's pattern (c->pat) on n values from x to y (x == y allowed). */
__attribute__((target("avx512f"))) static void steps_pat_avx512(const fe_chain *c, const float *x, float *y, int n)
{
    float k[8] = {0}; /* a, b, the HardSwish's k, lo, hi and d, c, e */
    int s = 0;
    if (c->pat & FE_PAT_PRE)
        k[0] = c->steps[0].a, k[1] = c->steps[1].a, s = 2;
    if (c->pat & FE_PAT_HS)
        k[2] = c->steps[s + 1].a, k[3] = c->steps[s + 2].a, k[4] = c->steps[s + 2].b, k[5] = c->steps[s + 4].a, s += 5;
    if (c->pat & FE_PAT_POST)
        k[6] = c->steps[s].a, k[7] = c->steps[s + 1].a;
    switch (c->pat) { /* one copy per pattern: the bits constant inside */
    case FE_PAT_PRE: pat_loop(k, x, y, n, FE_PAT_PRE); break;
    case FE_PAT_PRE | FE_PAT_POST: pat_loop(k, x, y, n, FE_PAT_PRE | FE_PAT_POST); break;
    case FE_PAT_HS: pat_loop(k, x, y, n, FE_PAT_HS); break;
    case FE_PAT_HS | FE_PAT_SFIRST: pat_loop(k, x, y, n, FE_PAT_HS | FE_PAT_SFIRST); break;
    case FE_PAT_PRE | FE_PAT_HS: pat_loop(k, x, y, n, FE_PAT_PRE | FE_PAT_HS); break;
    case FE_PAT_PRE | FE_PAT_HS | FE_PAT_SFIRST: pat_loop(k, x, y, n, FE_PAT_PRE | FE_PAT_HS | FE_PAT_SFIRST); break;
    case FE_PAT_HS | FE_PAT_POST: pat_loop(k, x, y, n, FE_PAT_HS | FE_PAT_POST); break;
    case FE_PAT_HS | FE_PAT_POST | FE_PAT_SFIRST: pat_loop(k, x, y, n, FE_PAT_HS | FE_PAT_POST | FE_PAT_SFIRST); break;
    case FE_PAT_PRE | FE_PAT_HS | FE_PAT_POST: pat_loop(k, x, y, n, FE_PAT_PRE | FE_PAT_HS | FE_PAT_POST); break;
    default: pat_loop(k, x, y, n, FE_PAT_PRE | FE_PAT_HS | FE_PAT_POST | FE_PAT_SFIRST); break;
    }
}
/* The steps of c on n values from x to y (x == y allowed), 16 FE_R at a
 * time in registers (the last ones masked; eight measured better than
 * four: rec fp32's chains 0.157 -> 0.134 of the GEMM's time, a few
 * values kept on the stack); ch and off as apply_steps. */
__attribute__((target("avx512f"))) static void steps_regs_avx512(const fe_chain *c, int64_t ch, int64_t off,
                                                                 const float *x, float *y, int n)
{
    if (c->pat) {
        steps_pat_avx512(c, x, y, n);
        return;
    }
    for (int i = 0; i < n; i += 16 * FE_R) {
        __mmask16 mk[FE_R];
        __m512 r[FE_R], sv[FE_R];
#pragma GCC unroll 8
        for (int j = 0; j < FE_R; j++) {
            int left = n - i - 16 * j;
            mk[j] = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
            r[j] = _mm512_maskz_loadu_ps(mk[j], x + i + 16 * j);
            sv[j] = r[j];
        }
        for (int s = 0; s < c->nsteps; s++) {
            const fe_step *st = &c->steps[s];
            const int tiled = st->per_c && c->nhwc; /* per-channel operands of NHWC elements: from the tile */
            step_regs(st, r, _mm512_set1_ps(tiled ? 0.0f : st->per_c ? st->per_c[ch] : st->a),
                      tiled ? c->tiled[s] + off + i : NULL, mk, sv);
        }
#pragma GCC unroll 8
        for (int j = 0; j < FE_R; j++)
            _mm512_mask_storeu_ps(y + i + 16 * j, mk[j], r[j]);
    }
}
#endif

/* The chain's registers path runs (AVX-512 allowed and every step has a
 * register form). */
static int fe_regs(const fe_chain *c)
{
#ifdef FE_AVX512
    return fe_avx512() && fe_regs_ok(c);
#else
    (void)c;
    return 0;
#endif
}

static void apply_steps(const fe_chain *c, int64_t ch, int64_t off, float *restrict v, float *restrict save, int n)
{
#ifdef FE_AVX512
    if (fe_avx512() && fe_regs_ok(c)) {
        steps_regs_avx512(c, ch, off, v, v, n);
        return;
    }
    if (fe_avx512()) {
        apply_steps_avx512(c, ch, off, v, save, n);
        return;
    }
    if (fe_avx2()) {
        apply_steps_avx2(c, ch, off, v, save, n);
        return;
    }
#endif
    apply_steps_plain(c, ch, off, v, save, n);
}

#ifdef FE_AVX512
static int fe_vbmi(void)
{
    static int ok = -1;
    if (ok < 0)
        ok = (qb_cpu_features() & QB_CPU_AVX512VBMI) != 0;
    return ok && fe_avx512();
}

/* n codes through one table, 64 a step (VBMI byte permutes, lut_i8.h;
 * the tail masked). In place allowed. */
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static void lut1_vbmi(const int8_t *lut, const int8_t *x,
                                                                             int8_t *y, int64_t n)
{
    __m512i t[4];
    qb_lut_i8_load(lut, t);
    for (int64_t i = 0; i < n; i += 64) {
        __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (n - i)) - 1;
        _mm512_mask_storeu_epi8(y + i, m, qb_lut_i8_vbmi(t, _mm512_maskz_loadu_epi8(m, x + i)));
    }
}

/* lut1_vbmi without AVX-512, 32 codes a step (qb_lut_i8_avx2's byte
 * shuffles of the table's rows, lut_i8.h; the tail through a 32-byte
 * buffer): the table's own bytes, as the plain loop. In place allowed. */
__attribute__((target("avx2"))) static void lut1_avx2(const int8_t *lut, const int8_t *x, int8_t *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        _mm256_storeu_si256((__m256i *)(void *)(y + i),
                            qb_lut_i8_avx2(lut, _mm256_loadu_si256((const __m256i *)(const void *)(x + i))));
    if (i < n) {
        int8_t t[32] = {0};
        memcpy(t, x + i, (size_t)(n - i));
        _mm256_storeu_si256((__m256i *)(void *)t, qb_lut_i8_avx2(lut, _mm256_loadu_si256((const __m256i *)(void *)t)));
        memcpy(y + i, t, (size_t)(n - i));
    }
}

/* n codes (whole pixels of C > 1 channels from a pixel's first) through
 * per-channel tables, 16 a step: each code plus its table's offset (at)
 * indexes a 32-bit gather whose low byte is the entry; the tail scalar.
 * In place allowed (a step reads its codes before it writes). */
__attribute__((target("avx512f"))) static void lutc_gather(const int8_t *lut, int64_t C, const int32_t *at,
                                                            const int8_t *x, int8_t *y, int64_t n)
{
    int64_t i = 0, k = 0, step = 16 % C; /* k: the channel of element i */
    for (; i + 16 <= n; i += 16) {
        __m512i idx = _mm512_add_epi32(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(x + i))),
                                       _mm512_loadu_si512(at + k));
        __m512i v = _mm512_i32gather_epi32(idx, (const void *)lut, 1);
        _mm_storeu_si128((__m128i *)(void *)(y + i), _mm512_cvtepi32_epi8(v));
        k += step;
        k -= k >= C ? C : 0;
    }
    for (; i < n; i++, k = k + 1 < C ? k + 1 : 0)
        y[i] = lut[k * 256 + 128 + x[i]];
}
#endif

typedef struct fe_job {
    const fe_chain *c; /* the chain */
    const float *x;    /* input */
    float *y;          /* output */
} fe_job;

static void chain_planes(void *ctx, int64_t p0, int64_t p1)
{
    const fe_job *j = ctx;
    const fe_chain *c = j->c;
    float v[FE_BLOCK] __attribute__((aligned(64))), save[FE_BLOCK] __attribute__((aligned(64)));
    const int regs = fe_regs(c);
    for (int64_t p = p0; p < p1; p++) {
        const float *x = j->x + p * c->inner;
        float *y = j->y + p * c->inner;
        int64_t len = c->total - p * c->inner < c->inner ? c->total - p * c->inner : c->inner;
        for (int64_t o = 0; o < len; o += FE_BLOCK) {
            int n = len - o < FE_BLOCK ? (int)(len - o) : FE_BLOCK;
#ifdef FE_AVX512
            if (regs) { /* straight from x to y */
                steps_regs_avx512(c, c->nhwc ? 0 : p % c->channels, o, x + o, y + o, n);
                continue;
            }
#endif
            memcpy(v, x + o, (size_t)n * sizeof *v);
            apply_steps(c, c->nhwc ? 0 : p % c->channels, o, v, save, n);
            memcpy(y + o, v, (size_t)n * sizeof *v);
        }
    }
}

/* int8 chain: pixels [p0, p1) of lut_c channels through the tables
 * (in place allowed: each element is read before it is written). */
static void chain_pixels_i8(void *ctx, int64_t p0, int64_t p1)
{
    const fe_job *j = ctx;
    const fe_chain *c = j->c;
    const int64_t C = c->lut_c;
    const uint8_t *lut = (const uint8_t *)c->lut + 128; /* locals: the int8 stores may alias anything */
    const int8_t *x = (const int8_t *)(const void *)j->x;
    int8_t *y = (int8_t *)(void *)j->y;
#ifdef FE_AVX512
    if (C == 1 && fe_vbmi()) {
        lut1_vbmi(c->lut, x + p0, y + p0, p1 - p0);
        return;
    }
    if (C > 1 && fe_avx512()) {
        lutc_gather(c->lut, C, c->lut_at, x + p0 * C, y + p0 * C, (p1 - p0) * C);
        return;
    }
    if (C == 1 && fe_avx2()) {
        lut1_avx2(c->lut, x + p0, y + p0, p1 - p0);
        return;
    }
#endif
    if (C == 1) {
        for (int64_t i = p0; i < p1; i++)
            y[i] = (int8_t)lut[x[i]];
        return;
    }
    for (int64_t i = p0 * C; i < p1 * C; i += C) {
        const uint8_t *t = lut;
        int64_t ch = 0;
        for (; ch + 4 <= C; ch += 4, t += 1024) {
            uint8_t a = t[x[i + ch]], b = t[256 + x[i + ch + 1]], d = t[512 + x[i + ch + 2]], e = t[768 + x[i + ch + 3]];
            y[i + ch] = (int8_t)a, y[i + ch + 1] = (int8_t)b, y[i + ch + 2] = (int8_t)d, y[i + ch + 3] = (int8_t)e;
        }
        for (; ch < C; ch++, t += 256)
            y[i + ch] = (int8_t)t[x[i + ch]];
    }
}

static void chain_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const fe_chain *c = n->state;
    fe_job j = {c, g->tensors[c->x]->data, g->tensors[c->y]->data};
    if (c->lut) {
        int64_t pix = c->total / c->lut_c;
        qb_gpar_for(pix, qb_gpar_chunk(pix, c->lut_c, 64), chain_pixels_i8, &j);
        return;
    }
    qb_gpar_for(c->planes, qb_gpar_chunk(c->planes, c->inner * c->nsteps, 1), chain_planes, &j);
}

/* What a chain's first node runs instead of its operator. */
static const qb_opdef chain_def = {.name = "(element-wise chain)", .run = chain_run};

/* ---- finding chains ---- */

/* Consumers of tensor t among the nodes still run (count; the first two in u). */
static int consumers(const qb_graph *g, int t, int *u)
{
    int c = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const qb_node *n = &g->nodes[i];
        if (n->folded)
            continue;
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] == t) {
                if (c < 2)
                    u[c] = i;
                c++;
                break;
            }
    }
    return c;
}

static int is_graph_output(const qb_graph *g, int t)
{
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == t)
            return 1;
    return 0;
}

static int same_shape(const qb_tensor *a, const qb_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i])
            return 0;
    return 1;
}

/* A constant float operand k of x's shape: 1 (one value), 2 (one value per
 * channel, x's axis 1), or 0 (anything else). */
static int const_kind(const qb_tensor *k, const qb_tensor *x)
{
    if (k->kind != QB_T_CONST || k->dtype != QB_DT_FLOAT || k->ndim > x->ndim)
        return 0;
    int64_t cnt = qb_tensor_count(k);
    if (cnt == 1)
        return 1;
    if (x->ndim < 2 || cnt != x->dims[1])
        return 0;
    for (int i = 0; i < k->ndim; i++) {
        int xi = i + (x->ndim - k->ndim);
        if (k->dims[i] != 1 && xi != 1)
            return 0;
    }
    return 2;
}

/* Node n as one step on its runtime input: 1 with *st and the input's
 * tensor in *xin, or 0 if it is not such a node. */
static int as_step(const qb_graph *g, const qb_node *n, fe_step *st, int *xin)
{
    if (n->folded || n->fused_into >= 0 || n->write_to >= 0 || n->def == &chain_def || n->nout < 1 || n->out[0] < 0)
        return 0;
    for (int j = 1; j < n->nout; j++)
        if (n->out[j] >= 0)
            return 0;
    const qb_tensor *y = qb_out(g, n, 0);
    if (y->dtype != QB_DT_FLOAT || n->domain)
        return 0;
    memset(st, 0, sizeof *st);
    static const struct { const char *op; fe_code code; } bins[] = {
        {"Add", FE_ADD}, {"Sub", FE_SUB}, {"Mul", FE_MUL}, {"Div", FE_DIV}, {"Max", FE_MAX}, {"Min", FE_MIN}};
    for (size_t b = 0; b < sizeof bins / sizeof bins[0]; b++) {
        if (strcmp(n->op, bins[b].op))
            continue;
        const qb_tensor *a0 = qb_in(g, n, 0), *a1 = qb_in(g, n, 1);
        if (n->nin != 2 || !a0 || !a1 || a0->dtype != QB_DT_FLOAT || a1->dtype != QB_DT_FLOAT)
            return 0;
        int first_const = a0->kind == QB_T_CONST, second_const = a1->kind == QB_T_CONST;
        if (first_const == second_const)
            return 0;
        const qb_tensor *x = first_const ? a1 : a0, *k = first_const ? a0 : a1;
        int kind = const_kind(k, x);
        if (!kind || !same_shape(x, y))
            return 0;
        st->code = bins[b].code;
        st->k_first = first_const;
        if (first_const && st->code == FE_SUB)
            st->code = FE_RSUB;
        if (first_const && st->code == FE_DIV)
            st->code = FE_RDIV;
        st->a = ((const float *)k->data)[0];
        st->per_c = kind == 2 ? k->data : NULL;
        *xin = first_const ? n->in[1] : n->in[0];
        return 1;
    }
    const qb_tensor *x = qb_in(g, n, 0);
    if (!x || x->dtype != QB_DT_FLOAT || x->kind == QB_T_CONST || !same_shape(x, y))
        return 0;
    *xin = n->in[0];
    if (!strcmp(n->op, "Relu")) {
        st->code = FE_RELU;
    } else if (!strcmp(n->op, "Sigmoid")) {
        st->code = FE_SIGMOID;
    } else if (!strcmp(n->op, "Tanh")) {
        st->code = FE_TANH;
    } else if (!strcmp(n->op, "HardSwish")) {
        st->code = FE_HSWISH;
    } else if (!strcmp(n->op, "HardSigmoid")) {
        st->code = FE_HSIG;
        st->a = qb_attr_float(n, "alpha", 0.2f);
        st->b = qb_attr_float(n, "beta", 0.5f);
    } else if (!strcmp(n->op, "LeakyRelu")) {
        st->code = FE_LEAKY;
        st->a = qb_attr_float(n, "alpha", 0.01f);
    } else if (!strcmp(n->op, "Clip")) {
        st->code = FE_CLIP;
        st->a = -INFINITY, st->b = INFINITY;
        if (g->opset < 11) {
            st->a = qb_attr_float(n, "min", -INFINITY);
            st->b = qb_attr_float(n, "max", INFINITY);
        } else {
            const qb_tensor *tl = qb_in(g, n, 1), *th = qb_in(g, n, 2);
            if ((tl && (tl->kind != QB_T_CONST || tl->dtype != QB_DT_FLOAT)) ||
                (th && (th->kind != QB_T_CONST || th->dtype != QB_DT_FLOAT)))
                return 0;
            if (tl)
                st->a = ((const float *)tl->data)[0];
            if (th)
                st->b = ((const float *)th->data)[0];
        }
    } else {
        return 0;
    }
    return 1;
}

/* m = Mul or Add of t (kept aside) and s (both runtime, same shape): the
 * step that combines them; 0 if m is not that. */
static int as_combine(const qb_graph *g, const qb_node *m, int t, int s, fe_step *st)
{
    if (m->folded || m->fused_into >= 0 || m->write_to >= 0 || m->nin != 2 || m->nout != 1 || m->domain)
        return 0;
    int mul = !strcmp(m->op, "Mul");
    if (!mul && strcmp(m->op, "Add"))
        return 0;
    if (!((m->in[0] == t && m->in[1] == s) || (m->in[0] == s && m->in[1] == t)))
        return 0;
    const qb_tensor *y = qb_out(g, m, 0);
    if (!y || y->dtype != QB_DT_FLOAT || !same_shape(y, g->tensors[t]))
        return 0;
    memset(st, 0, sizeof *st);
    st->code = mul ? FE_MUL_SAVED : FE_ADD_SAVED;
    st->k_first = m->in[0] == t;
    return 1;
}

/* Extend the chain c (value cur, last node *last) as far as it goes;
 * members[] collects the nodes taken. */
static void grow(qb_graph *g, fe_chain *c, int *cur, int *members, int *nmem)
{
    for (;;) {
        int t = *cur, u[2];
        if (is_graph_output(g, t) || c->nsteps >= FE_MAX_STEPS - 1)
            return;
        int uses = consumers(g, t, u);
        fe_step st;
        int xin;
        if (uses == 1) {
            if (!as_step(g, &g->nodes[u[0]], &st, &xin) || xin != t)
                return;
            c->steps[c->nsteps++] = st;
            members[(*nmem)++] = u[0];
            *cur = g->nodes[u[0]].out[0];
            continue;
        }
        if (uses != 2)
            return;
        /* t kept aside: one consumer starts a sub-chain whose end the other combines with t */
        for (int side = 0; side < 2; side++) {
            int s0 = u[side], m = u[1 - side];
            fe_step sub[FE_MAX_STEPS];
            int nsub = 0, subm[FE_MAX_STEPS], v = t, node = s0;
            while (nsub < FE_MAX_STEPS && as_step(g, &g->nodes[node], &sub[nsub], &xin) && xin == v) {
                subm[nsub++] = node;
                v = g->nodes[node].out[0];
                int uu[2];
                if (is_graph_output(g, v) || consumers(g, v, uu) != 1)
                    break;
                node = uu[0];
                if (node == m)
                    break;
            }
            int uu[2];
            if (!nsub || v == t || is_graph_output(g, v) || consumers(g, v, uu) != 1 || uu[0] != m ||
                c->nsteps + nsub + 2 > FE_MAX_STEPS || !as_combine(g, &g->nodes[m], t, v, &st))
                continue;
            c->steps[c->nsteps++] = (fe_step){.code = FE_SAVE};
            for (int k = 0; k < nsub; k++) {
                c->steps[c->nsteps++] = sub[k];
                members[(*nmem)++] = subm[k];
            }
            c->steps[c->nsteps++] = st;
            members[(*nmem)++] = m;
            *cur = g->nodes[m].out[0];
            break;
        }
        if (*cur == t)
            return;
    }
}

int qb_fuse_elementwise(qb_graph *g)
{
    const char *env = getenv("QB_NO_ELEM_FUSION");
    if (g->no_elem_fusion || (env && *env && strcmp(env, "0")))
        return 0;
    int made = 0, *members = malloc((size_t)(g->nnodes + 1) * sizeof *members);
    if (!members)
        return 0;
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *n = &g->nodes[i];
        fe_step st;
        int xin;
        if (!as_step(g, n, &st, &xin))
            continue;
        fe_chain *c = calloc(1, sizeof *c);
        if (!c)
            break;
        /* from n's input (which may start a pattern, e.g. SiLU of a graph
         * input), else from n alone */
        int cur = xin, nmem = 0;
        grow(g, c, &cur, members, &nmem);
        if (!c->nsteps) {
            c->steps[c->nsteps++] = st;
            members[nmem++] = i;
            cur = n->out[0];
            grow(g, c, &cur, members, &nmem);
        }
        int head = members[0];
        for (int k = 1; k < nmem; k++)
            head = members[k] < head ? members[k] : head;
        if (head != i) { /* cannot happen in topological order; keep it safe */
            free(c);
            continue;
        }
        const qb_tensor *x = g->tensors[xin];
        c->x = xin;
        c->y = cur;
        c->channels = 1;
        c->total = qb_tensor_count(x);
        c->inner = FE_BLOCK; /* flat: planes of one block each (the threads' unit) */
        c->planes = (c->total + FE_BLOCK - 1) / FE_BLOCK;
        for (int s = 0; s < c->nsteps; s++)
            if (c->steps[s].per_c) {
                c->channels = x->dims[1];
                c->planes = x->dims[0] * x->dims[1];
                c->inner = c->planes ? qb_tensor_count(x) / c->planes : 0;
                break;
            }
        c->pat = fe_pattern(c);
        c->orig_state = n->state;
        c->orig_free = n->free_state;
        n->state = c;
        n->free_state = chain_free;
        n->def = &chain_def;
        n->scratch = 0;
        if (cur != n->out[0])
            n->write_to = cur;
        for (int k = 0; k < nmem; k++)
            if (members[k] != i)
                g->nodes[members[k]].fused_into = i;
        made++;
    }
    free(members);
    return made;
}

int qb_elem_chain_input(const qb_graph *g, const qb_node *n)
{
    (void)g;
    return n->def == &chain_def ? ((const fe_chain *)n->state)->x : -1;
}

int qb_elem_chain_set_nhwc(qb_graph *g, qb_node *n, qb_err *e)
{
    fe_chain *c = n->state;
    const qb_tensor *x = g->tensors[c->x];
    int64_t C = x->ndim >= 2 ? x->dims[1] : 1;
    c->nhwc = 1;
    int per_c = 0;
    for (int s = 0; s < c->nsteps; s++)
        per_c |= c->steps[s].per_c != NULL;
    if (!per_c || C < 1)
        return 0; /* no channel in sight: the flat blocks stand */
    /* tiles of whole pixels: blocks never cross a tile, so element i of a
     * block at offset o has channel (o + i) % C */
    int64_t T = C <= FE_BLOCK ? FE_BLOCK / C * C : C;
    c->inner = T;
    c->planes = (c->total + T - 1) / T;
    c->channels = 1;
    for (int s = 0; s < c->nsteps; s++) {
        if (!c->steps[s].per_c)
            continue;
        c->tiled[s] = malloc((size_t)T * sizeof(float));
        if (!c->tiled[s]) {
            QB_NODE_ERR(e, g, n, "out of memory");
            return -1;
        }
        for (int64_t i = 0; i < T; i++)
            c->tiled[s][i] = c->steps[s].per_c[i % C];
    }
    return 0;
}

int qb_elem_chain_set_int8(qb_graph *g, qb_node *n, float in_scale, int32_t in_zero, float out_scale,
                           int32_t out_zero, qb_err *e)
{
    fe_chain *c = n->state;
    const qb_tensor *x = g->tensors[c->x];
    int per_c = 0;
    for (int s = 0; s < c->nsteps; s++)
        per_c |= c->steps[s].per_c != NULL;
    c->lut_c = per_c ? x->dims[1] : 1;
    free(c->lut);
    free(c->lut_at);
    c->lut = malloc((size_t)c->lut_c * 256 + 4);
    c->lut_at = c->lut_c > 1 ? malloc((size_t)(c->lut_c + 16) * sizeof *c->lut_at) : NULL;
    if (!c->lut || (c->lut_c > 1 && !c->lut_at)) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    memset(c->lut + c->lut_c * 256, 0, 4);
    for (int64_t k = 0; c->lut_at && k < c->lut_c + 16; k++)
        c->lut_at[k] = (int32_t)(k % c->lut_c * 256 + 128);
    fe_chain flat = *c; /* per-channel operands read by channel, not from the NHWC tiles */
    flat.nhwc = 0;
    float v[256], save[256];
    int8_t codes[256];
    for (int q = -128; q < 128; q++)
        codes[q + 128] = (int8_t)q;
    for (int64_t ch = 0; ch < c->lut_c; ch++) { /* DequantizeLinear, the chain, QuantizeLinear (kernels/quantize.h) */
        qb_dequantize_i8(codes, 256, in_scale, in_zero, v);
        apply_steps(&flat, ch, 0, v, save, 256);
        qb_quantize_i8(v, 256, out_scale, out_zero, -128, 127, c->lut + ch * 256);
    }
    return 0;
}

/* ---- chains run in a convolution's epilogue ---- */

#ifdef FE_AVX512
/* n int8 codes to floats through the float table's byte planes p (1024
 * bytes), 64 a step: each plane looked up with VBMI byte permutes
 * (lut_i8.h), the four bytes of an entry interleaved back into floats.
 * The codes are first permuted so that the interleave (within 128-bit
 * lanes) leaves 16 consecutive floats in each register. */
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static void dq_vbmi(const uint8_t *p, const int8_t *x, float *y,
                                                                          int64_t n)
{
    __m512i t[4][4];
    for (int k = 0; k < 4; k++)
        qb_lut_i8_load(p + 256 * k, t[k]);
    /* byte 16 L + 4 j + i of the permuted codes is code 16 j + 4 L + i: after the two interleaves
     * register j, lane L, dword i holds entry 16 j + 4 L + i */
    _Alignas(64) uint8_t perm[64];
    for (int b = 0; b < 64; b++)
        perm[b] = (uint8_t)(16 * (b / 4 % 4) + 4 * (b / 16) + b % 4);
    const __m512i pv = _mm512_load_si512((const void *)perm);
    for (int64_t i = 0; i < n; i += 64) {
        const int64_t r = n - i;
        const __mmask64 m = r >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << r) - 1;
        __m512i q = _mm512_permutexvar_epi8(pv, _mm512_maskz_loadu_epi8(m, x + i));
        __m512i b0 = qb_lut_i8_vbmi(t[0], q), b1 = qb_lut_i8_vbmi(t[1], q);
        __m512i b2 = qb_lut_i8_vbmi(t[2], q), b3 = qb_lut_i8_vbmi(t[3], q);
        __m512i l01 = _mm512_unpacklo_epi8(b0, b1), h01 = _mm512_unpackhi_epi8(b0, b1);
        __m512i l23 = _mm512_unpacklo_epi8(b2, b3), h23 = _mm512_unpackhi_epi8(b2, b3);
        __m512i f[4] = {_mm512_unpacklo_epi16(l01, l23), _mm512_unpackhi_epi16(l01, l23),
                        _mm512_unpacklo_epi16(h01, h23), _mm512_unpackhi_epi16(h01, h23)};
        if (r >= 64) {
            for (int j = 0; j < 4; j++)
                _mm512_storeu_si512((void *)(y + i + 16 * j), f[j]);
            continue;
        }
        for (int j = 0; j < 4 && 16 * j < r; j++) {
            int64_t left = r - 16 * j;
            __mmask16 mj = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
            _mm512_mask_storeu_epi32(y + i + 16 * j, mj, f[j]);
        }
    }
}
#endif

int qb_elem_chain_set_dq(qb_graph *g, qb_node *n, float scale, int32_t zero, qb_err *e)
{
    fe_chain *c = n->state;
    for (int s = 0; s < c->nsteps; s++)
        if (c->steps[s].per_c)
            return 0;
    free(c->dq_planes);
    c->dq_planes = malloc(1024);
    if (!c->dq_planes) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    fe_chain flat = *c;
    flat.nhwc = 0;
    float v[256], save[256];
    int8_t codes[256];
    for (int q = -128; q < 128; q++)
        codes[q + 128] = (int8_t)q;
    qb_dequantize_i8(codes, 256, scale, zero, v); /* as the conv dequantizes its codes (qlayer.c) */
    apply_steps(&flat, 0, 0, v, save, 256);
    for (int q = 0; q < 256; q++) {
        uint8_t b[4];
        memcpy(b, &v[q], 4);
        for (int k = 0; k < 4; k++)
            c->dq_planes[256 * k + q] = b[k];
    }
    return 1;
}

int qb_elem_chain_apply_dq(const qb_node *n, const int8_t *x, float *y, int64_t count)
{
    const fe_chain *c = n->state;
#ifdef FE_AVX512
    if (c->dq_planes && fe_vbmi()) {
        dq_vbmi(c->dq_planes, x, y, count);
        return 1;
    }
#endif
    (void)c, (void)x, (void)y, (void)count;
    return 0;
}

void qb_elem_chain_apply_nhwc(const qb_node *n, float *y, int64_t pixels)
{
    const fe_chain *c = n->state;
    /* tiles of c->inner elements start at pixels (qb_elem_chain_set_nhwc),
     * so element o + b of a tile has channel (o + b) % C, the tiled
     * operands' index b; chains without per-channel steps ignore it */
    const int64_t T = c->inner, total = pixels * c->epi_c;
    float save[FE_BLOCK] __attribute__((aligned(64)));
    for (int64_t o = 0; o < total; o += T) {
        int64_t len = total - o < T ? total - o : T;
        for (int64_t b = 0; b < len; b += FE_BLOCK) {
            int k = len - b < FE_BLOCK ? (int)(len - b) : FE_BLOCK;
            apply_steps(c, 0, b, y + o + b, save, k);
        }
    }
}

void qb_elem_chain_apply_i8(const qb_node *n, int8_t *y, int64_t pixels)
{
    const fe_chain *c = n->state;
    fe_job j = {c, (const float *)(const void *)y, (float *)(void *)y};
    chain_pixels_i8(&j, 0, c->lut_c == 1 ? pixels * c->epi_c : pixels); /* one table: its "pixels" are elements */
}

int qb_elem_chain_planes_ok(const qb_node *n)
{
    if (n->def != &chain_def)
        return 0;
    const fe_chain *c = n->state;
    return !c->nhwc && !c->lut;
}

void qb_elem_chain_apply_plane(const qb_node *n, int64_t ch, float *y, int64_t count)
{
    const fe_chain *c = n->state;
    float save[FE_BLOCK] __attribute__((aligned(64)));
    for (int64_t b = 0; b < count; b += FE_BLOCK) /* the chain pass's blocks: the same steps per element */
        apply_steps(c, ch, 0, y + b, save, count - b < FE_BLOCK ? (int)(count - b) : FE_BLOCK);
}

int qb_elem_chain_add_relu(const qb_node *n, const float **per_c, float *k, int *k_first)
{
    if (n->def != &chain_def)
        return 0;
    const fe_chain *c = n->state;
    if (c->nsteps != 2 || c->nhwc || c->lut || c->steps[0].code != FE_ADD || c->steps[1].code != FE_RELU)
        return 0;
    *per_c = c->steps[0].per_c, *k = c->steps[0].a, *k_first = c->steps[0].k_first;
    return 1;
}

/* Chain heads whose input is written only for them by a Conv are run by
 * that Conv on each block of output pixels while it is in cache
 * (qb_conv_set_epilogue decides which convs can: fp32 ones, and int8
 * quantized ones on their dequantized floats or, for an int8 chain, on
 * their int8 codes through its tables): the Conv writes the chain's
 * output, the chain's first node is marked fused into it.
 * QB_NO_INT8_EPILOGUE=1 keeps the quantized convs' chains as their own
 * passes (the fp32 ones still fuse). */
int qb_fuse_conv_epilogues(qb_graph *g, qb_err *e)
{
    const char *env = getenv("QB_NO_CONV_EPILOGUE"), *env8 = getenv("QB_NO_INT8_EPILOGUE");
    if (g->no_conv_epilogue || (env && *env && strcmp(env, "0")))
        return 0;
    int no_q = env8 && *env8 && strcmp(env8, "0");
    int made = 0;
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *h = &g->nodes[i];
        if (h->folded || h->fused_into >= 0 || h->def != &chain_def)
            continue;
        fe_chain *c = h->state;
        int x = c->x;
        if (g->tensors[x]->kind != QB_T_VALUE || is_graph_output(g, x))
            continue;
        int p = g->tensors[x]->producer;
        if (p >= 0 && g->nodes[p].fused_into >= 0)
            p = g->nodes[p].fused_into; /* a Relu/Clip done by the conv */
        if (p < 0 || p >= i)
            continue;
        qb_node *conv = &g->nodes[p];
        int convt = !strcmp(conv->op, "ConvTranspose"); /* 2x2 tiles: one Add + Relu; direct: any float chain */
        if (conv->folded || (strcmp(conv->op, "Conv") && !convt) ||
            (conv->write_to >= 0 ? conv->write_to : conv->out[0]) != x || (no_q && conv->q) ||
            (c->lut && !conv->q) || (convt && (c->lut || c->nhwc || conv->q)))
            continue;
        int only = 1; /* x read by the chain's own nodes only */
        for (int j = 0; j < g->nnodes && only; j++) {
            const qb_node *r = &g->nodes[j];
            if (r->folded || j == i || r->fused_into == i)
                continue;
            for (int k = 0; k < r->nin; k++)
                only &= r->in[k] != x;
        }
        if (!only)
            continue;
        int rc = convt ? qb_convt_set_epilogue(g, conv, i) : qb_conv_set_epilogue(g, conv, i, c->nhwc, c->lut != NULL, e);
        if (rc < 0)
            return -1;
        if (!rc)
            continue;
        if (convt) {
            conv->epi_in = x, conv->write_to = c->y, h->fused_into = p;
            made++;
            continue;
        }
        if (!c->lut && !c->nhwc && qb_elem_chain_set_nhwc(g, h, e)) /* tiles of whole pixels for the per-channel steps */
            return -1;
        /* an int8 conv's float output: the float chain as one table of the 256 codes */
        if (!c->lut && conv->q && qb_precision_is_int8(conv->q->run_prec) &&
            qb_elem_chain_set_dq(g, h, conv->q->out_scale, conv->q->out_zero, e) < 0)
            return -1;
        c->epi_c = g->tensors[x]->dims[1];
        conv->epi_in = x; /* what the conv itself computes: its QDQ export and readers of the layer output */
        conv->write_to = c->y;
        h->fused_into = p;
        made++;
    }
    return made;
}

/* ---- x + x * s: a squeeze-excite residual on NCHW planes ----
 *
 * A float Mul of a map x (N x C x H x W) and a runtime N x C x 1 x 1 s
 * whose output only an Add of it and x reads (PP-OCRv4 det's RSE blocks:
 * x + x * hardsigmoid(conv(GAP(x)))) runs as one pass in the Add: per
 * element the Mul's product and the Add's sum in the operators' operand
 * order, so the same bits; the product map is never written or read. */

typedef struct ma_state {
    int x, s;                  /* the map and the per-channel factors */
    int s_first, t_first;      /* Mul(s, x) rather than Mul(x, s); Add(t, x) rather than Add(x, t) */
    int64_t planes, hw, c;     /* N * C planes of hw floats, C channels */
    void *orig_state;          /* the Add's own prepared state (freed with this) */
    void (*orig_free)(void *); /* its free function, NULL for free() */
} ma_state;

static void ma_free(void *p)
{
    ma_state *m = p;
    if (!m)
        return;
    qb_node_state_free(m->orig_state, m->orig_free);
    free(m);
}

typedef struct ma_job {
    const ma_state *m; /* the fusion */
    const float *x;    /* the map */
    const float *s;    /* the factors, one per plane */
    float *y;          /* the Add's output */
} ma_job;

FE_INLINE void ma_body(const ma_job *j, int64_t p0, int64_t p1)
{
    const int64_t hw = j->m->hw;
    const int sf = j->m->s_first, tf = j->m->t_first;
    for (int64_t p = p0; p < p1; p++) {
        const float *restrict x = j->x + p * hw;
        float *restrict y = j->y + p * hw;
        const float k = j->s[p];
        /* one branch-free loop per operand order (each vectorizes) */
        if (!sf && !tf)
            for (int64_t i = 0; i < hw; i++)
                y[i] = x[i] + x[i] * k;
        else if (!sf)
            for (int64_t i = 0; i < hw; i++)
                y[i] = x[i] * k + x[i];
        else if (!tf)
            for (int64_t i = 0; i < hw; i++)
                y[i] = x[i] + k * x[i];
        else
            for (int64_t i = 0; i < hw; i++)
                y[i] = k * x[i] + x[i];
    }
}

static void ma_planes_plain(const ma_job *j, int64_t p0, int64_t p1) { ma_body(j, p0, p1); }

#ifdef FE_AVX512
__attribute__((target(FE_AVX512_TARGET))) static void ma_planes_avx512(const ma_job *j, int64_t p0, int64_t p1)
{
    ma_body(j, p0, p1);
}
#endif

static void ma_planes(void *ctx, int64_t p0, int64_t p1)
{
#ifdef FE_AVX512
    if (fe_avx512()) {
        ma_planes_avx512(ctx, p0, p1);
        return;
    }
#endif
    ma_planes_plain(ctx, p0, p1);
}

static void ma_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const ma_state *m = n->state;
    ma_job j = {m, g->tensors[m->x]->data, g->tensors[m->s]->data, qb_out(g, n, 0)->data};
    qb_gpar_for(m->planes, qb_gpar_chunk(m->planes, m->hw, 1), ma_planes, &j);
}

/* What the Add of a fused x + x * s runs instead of its operator. */
static const qb_opdef ma_def = {.name = "(x + x * s)", .run = ma_run};

/* t is a runtime float32 tensor of N x C x 1 x 1 (one value per plane of x). */
static int per_plane(const qb_tensor *t, const qb_tensor *x)
{
    return t->kind != QB_T_CONST && t->dtype == QB_DT_FLOAT && t->ndim == 4 && t->dims[0] == x->dims[0] &&
           t->dims[1] == x->dims[1] && t->dims[2] == 1 && t->dims[3] == 1;
}

int qb_fuse_mul_add(qb_graph *g)
{
    const char *env = getenv("QB_NO_MULADD_FUSION");
    if (g->no_elem_fusion || (env && *env && strcmp(env, "0")))
        return 0;
    const qb_opdef *mul = qb_op_find("Mul"), *add = qb_op_find("Add");
    int made = 0;
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *m = &g->nodes[i];
        if (m->folded || m->fused_into >= 0 || m->write_to >= 0 || m->def != mul || m->nin != 2 || m->nout != 1 ||
            m->out[0] < 0 || m->in[0] < 0 || m->in[1] < 0 || m->domain)
            continue;
        const qb_tensor *t = qb_out(g, m, 0);
        int k = 0; /* the map's input */
        while (k < 2 && !(qb_in(g, m, k)->ndim == 4 && same_shape(qb_in(g, m, k), t) && per_plane(qb_in(g, m, 1 - k), t)))
            k++;
        int u[2];
        if (k == 2 || t->dtype != QB_DT_FLOAT || qb_in(g, m, k)->dtype != QB_DT_FLOAT ||
            qb_in(g, m, k)->kind == QB_T_CONST || is_graph_output(g, m->out[0]) || consumers(g, m->out[0], u) != 1)
            continue;
        qb_node *a = &g->nodes[u[0]];
        int x = m->in[k];
        if (a->folded || a->fused_into >= 0 || a->write_to >= 0 || a->def != add || a->nin != 2 || a->nout != 1 ||
            a->out[0] < 0 || a->domain || !((a->in[0] == x && a->in[1] == m->out[0]) || (a->in[1] == x && a->in[0] == m->out[0])) ||
            !same_shape(qb_out(g, a, 0), t) || qb_out(g, a, 0)->dtype != QB_DT_FLOAT)
            continue;
        ma_state *st = calloc(1, sizeof *st);
        if (!st)
            break;
        st->x = x;
        st->s = m->in[1 - k];
        st->s_first = k == 1;
        st->t_first = a->in[0] == m->out[0];
        st->c = t->dims[1];
        st->planes = t->dims[0] * t->dims[1];
        st->hw = t->dims[2] * t->dims[3];
        st->orig_state = a->state;
        st->orig_free = a->free_state;
        a->state = st;
        a->free_state = ma_free;
        a->def = &ma_def;
        a->scratch = 0;
        m->fused_into = (int)(a - g->nodes);
        made++;
    }
    return made;
}

/* ---- a bias row added before a Softmax ----
 *
 * A float Add of a runtime x and a constant row b (b's dims all 1 but the
 * last, x's last dim, no broadcast of x) whose output only a Softmax
 * along contiguous rows of that length reads, directly or through
 * copying nodes (the Flatten upgrade.c puts before an opset < 13
 * Softmax; Reshape, Squeeze...), runs inside the Softmax: each row's
 * x_i + b_i in the Add's operand order, then the same softmax
 * (qb_softmax_row_bias: the same bits), the sums never written to
 * memory and read back (PP-OCRv4 rec's classifier bias before its
 * 40 x 6625 Softmax). The Add and the copies are fused into the
 * Softmax. Only Add(x, b): Add(b, x) differs in a NaN's payload. */
int qb_fuse_bias_softmax(qb_graph *g)
{
    const char *env = getenv("QB_NO_SOFTMAX_BIAS_FUSION");
    if (g->no_elem_fusion || (env && *env && strcmp(env, "0")))
        return 0;
    const qb_opdef *softmax = qb_op_find("Softmax"), *add = qb_op_find("Add");
    int made = 0, members[8];
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *s = &g->nodes[i];
        if (s->folded || s->fused_into >= 0 || s->write_to >= 0 || s->def != softmax || s->nin < 1 || s->in[0] < 0 ||
            s->domain)
            continue;
        int t = s->in[0], nmem = 0, u[2], ok = 1;
        for (;;) { /* back through single-reader copies to their source */
            int p = g->tensors[t]->producer;
            if (p < 0 || p >= i || is_graph_output(g, t) || consumers(g, t, u) != 1) {
                ok = 0;
                break;
            }
            qb_node *c = &g->nodes[p];
            if (c->folded || c->fused_into >= 0 || c->write_to >= 0 || c->nout != 1 || c->domain) {
                ok = 0;
                break;
            }
            if (c->def != add) {
                if (c->def->run != qb_op_copy_run || nmem == 7 || c->nin < 1 || c->in[0] < 0 ||
                    qb_in(g, c, 0)->dtype != QB_DT_FLOAT) {
                    ok = 0;
                    break;
                }
                members[nmem++] = p;
                t = c->in[0];
                continue;
            }
            members[nmem++] = p;
            break;
        }
        if (!ok)
            continue;
        qb_node *a = &g->nodes[members[nmem - 1]];
        if (a->nin != 2 || a->in[0] < 0 || a->in[1] < 0)
            continue;
        const qb_tensor *x = qb_in(g, a, 0), *b = qb_in(g, a, 1), *y = qb_out(g, a, 0);
        if (x->kind == QB_T_CONST || x->dtype != QB_DT_FLOAT || !same_shape(x, y) || y->ndim < 1 ||
            b->kind != QB_T_CONST || b->dtype != QB_DT_FLOAT || b->ndim > y->ndim ||
            qb_tensor_count(b) != y->dims[y->ndim - 1])
            continue;
        for (int d = 0; d + 1 < b->ndim; d++)
            ok &= b->dims[d] == 1;
        if (!ok || !qb_softmax_fuse_bias(g, s, a->in[0], b->data, y->dims[y->ndim - 1]))
            continue;
        for (int k = 0; k < nmem; k++)
            g->nodes[members[k]].fused_into = i;
        made++;
    }
    return made;
}
