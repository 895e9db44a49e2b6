/*
 * kernels.h - the public contract of qbench's compute kernels.
 *
 * Precisions, ISAs, CPU features, the packed-weight format shared by every
 * ISA, the argument blocks of the two kernel families (GEMM with bias and
 * depthwise convolution), the requantization arithmetic, and the registry
 * through which the harness finds a kernel.
 *
 * GEMM:   C[M x N] = A[M x K] . W[N x K]^T + b    (row-major, NHWC friendly)
 * DWCONV: y[oy][ox][c] = sum_{ky,kx} x[oy*sh - pt + ky*dh][ox*sw - pl + kx*dw][c]
 *                        * w[c][ky][kx] + b[c]   (NHWC, any kh x kw, stride,
 *                        dilation, zero padding; taps outside the image skipped)
 *
 * Number formats, identical on every ISA:
 *   fp32          A float, W float, C float.
 *   fp16          A float, W IEEE binary16 (round to nearest even from fp32),
 *                 products accumulated in fp32, C float.
 *   int8-tensor   A int8 with zero point a_zero, W int8 symmetric in
 *   int8-channel  [-127, 127], int32 accumulation, bias int32 (scale
 *                 s_a*s_w), requantized to int8 with c_zero and one
 *                 (tensor) or N (channel) fixed-point multipliers, then
 *                 saturated to [c_min, c_max]. Or raw int32 (out_i32).
 *   int4          A int8 with zero point, W signed 4-bit [-8, 7] packed two
 *                 per byte, a float scale per group of G along K (G = 0:
 *                 one group of K, i.e. per channel). Each group's integer
 *                 dot product is exact; groups are combined in order with
 *                 fmaf: acc = fmaf((float)isum_g, scale[n][g], acc), then
 *                 C = fmaf(acc, a_scale, bias[n]). Bit-exact across ISAs.
 *   binary        A and W are sign bits (1 = negative) packed along K into
 *                 uint64 words, bit j of word i is element 64*i + j; pad
 *                 bits zero. dot = K - 2*popcount(a ^ w) (exact), then
 *                 C = fmaf((float)dot, alpha[n], bias[n]). Bit-exact.
 */
#ifndef QB_KERNELS_H
#define QB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ---- vocabulary (exact strings in docs/design.md) ---- */

typedef enum qb_precision {
    QB_PREC_FP32,
    QB_PREC_FP16,
    QB_PREC_INT8_TENSOR,
    QB_PREC_INT8_CHANNEL,
    QB_PREC_INT4,
    QB_PREC_BINARY,
    QB_PREC_MIXED, /* a per-layer plan; no kernel of its own */
    QB_PREC_COUNT
} qb_precision;

typedef enum qb_isa {
    QB_ISA_SCALAR,
    QB_ISA_AVX2,
    QB_ISA_VNNI,
    QB_ISA_NEON,
    QB_ISA_COUNT
} qb_isa;

typedef enum qb_op {
    QB_OP_GEMM,      /* C = A . W^T + b */
    QB_OP_DWCONV,    /* depthwise convolution, NHWC, any window */
    QB_OP_COUNT
} qb_op;
/* The former name (the family was 3x3 only), kept while other branches move. */
#define QB_OP_DWCONV3X3 QB_OP_DWCONV

/* Largest depthwise window (kh * kw) a kernel accepts: kernels keep a tap
 * list of this many entries on the stack. */
#define QB_DW_MAX_TAPS 1024

/* The operand type of a precision's activations (A). */
typedef enum qb_act_type {
    QB_ACT_F32,       /* float */
    QB_ACT_I8,        /* int8 with a zero point (needs activation scales) */
    QB_ACT_SIGN,      /* sign bits (binary) */
    QB_ACT_PER_LAYER, /* mixed: whatever each layer's precision takes */
} qb_act_type;

/* Everything qbench knows about a precision: one row per value of
 * qb_precision in kernels/names.c (the only place a precision's name or
 * properties are written down). */
typedef struct qb_precision_traits {
    const char *name;    /* the exact vocabulary string (CLI, CSV, scenarios) */
    int weight_bits;     /* bits per weight: 32 16 8 4 1; 0 = per layer (mixed) */
    qb_act_type act;     /* activation operand type */
    int calibrated;      /* 1: needs a quantization method (ptq-* or qat), 0: method none */
    const char *family;  /* kernel-name tag (qb_gemm_<family>__isa): f32 f16 i8t i8c i4 b1; NULL: none */
    qb_precision runs_as; /* the precision whose kernels, weight format, quantized layer and export it uses:
                             itself, or for a variant (a different calibration of the same arithmetic) its base */
    int act_symmetric;   /* 1: activation ranges calibrated symmetric (zero point 0) whatever --symmetric says */
} qb_precision_traits;

/* The traits of p (a row with name "?" for a value out of range). */
const qb_precision_traits *qb_precision_traits_of(qb_precision p);
/* int8 weights and activations (int8-tensor, int8-channel). */
static inline int qb_precision_is_int8(qb_precision p) { return qb_precision_traits_of(p)->weight_bits == 8; }
/* The precision whose kernels and formats p uses (p itself unless p is a variant). */
static inline qb_precision qb_precision_runs_as(qb_precision p) { return qb_precision_traits_of(p)->runs_as; }
/* Float weights and activations, no quantization method (fp32, fp16). */
static inline int qb_precision_is_float(qb_precision p) { return !qb_precision_traits_of(p)->calibrated; }

const char *qb_precision_name(qb_precision p);
const char *qb_isa_name(qb_isa i);
const char *qb_op_name(qb_op o);
/* Parse an exact name; returns -1 when unknown. */
int qb_precision_parse(const char *s);
int qb_isa_parse(const char *s);
/* Every name, space separated, in enum order ("fp32 fp16 ... mixed", "scalar avx2 vnni neon"). */
const char *qb_precision_list(void);
const char *qb_isa_list(void);

/* ---- CPU features (kernels/cpu.c) ---- */

enum {
    QB_CPU_SSE42 = 1u << 0,
    QB_CPU_POPCNT = 1u << 1,
    QB_CPU_AVX2 = 1u << 2,  /* CPUID bit and OS YMM state (XCR0 1-2) */
    QB_CPU_FMA = 1u << 3,
    QB_CPU_F16C = 1u << 4,
    QB_CPU_AVX512F = 1u << 5, /* CPUID bit and OS ZMM state (XCR0 5-7) */
    QB_CPU_AVX512BW = 1u << 6,
    QB_CPU_AVX512VL = 1u << 7,
    QB_CPU_AVX512VNNI = 1u << 8,
    QB_CPU_AVX512VPOPCNTDQ = 1u << 9,
    QB_CPU_NEON = 1u << 10,    /* AArch64 Advanced SIMD */
    QB_CPU_DOTPROD = 1u << 11, /* FEAT_DotProd (sdot/udot) */
    QB_CPU_FP16 = 1u << 12,    /* FEAT_FP16 (half-precision arithmetic) */
    QB_CPU_AVX512VBMI = 1u << 13, /* byte permutes (vpermb, vpermi2b): the engine's int8 tables */
    QB_CPU_EMULATED = 1u << 31 /* never set by hardware: marks SIMDe builds */
};

/* The features every kernel of an ISA needs (rows of kernel_list.inc may
 * add more). */
#define QB_REQ_AVX2 (QB_CPU_AVX2 | QB_CPU_FMA | QB_CPU_F16C | QB_CPU_POPCNT)
#define QB_REQ_VNNI (QB_REQ_AVX2 | QB_CPU_AVX512F | QB_CPU_AVX512BW | QB_CPU_AVX512VL | QB_CPU_AVX512VNNI)
#define QB_REQ_NEON QB_CPU_NEON

/* Features the CPU and OS provide, detected once. */
unsigned qb_cpu_features(void);
/* Space-separated names of the bits in mask ("avx2 fma f16c ..."). */
void qb_cpu_feature_names(unsigned mask, char *buf, size_t len);
/* CPU model string (x86 brand string, or /proc/cpuinfo on AArch64). */
const char *qb_cpu_model(void);

/* ---- IEEE binary16 (kernels/scalar/fp16.c), round to nearest even ---- */

uint16_t qb_f32_to_f16(float f);
float qb_f16_to_f32(uint16_t h);

/* ---- requantization: the same integer arithmetic on every ISA ----
 *
 * out = clamp(c_zero + round(acc * multiplier / 2^rshift), c_min, c_max)
 * where round is half AWAY FROM ZERO, computed exactly as
 *   r = (|acc| * multiplier + 2^(rshift-1)) >> rshift;  r = acc < 0 ? -r : r
 * in unsigned 64-bit arithmetic (|acc| <= 2^31, multiplier < 2^31, so the
 * product < 2^62 and r < 2^31). multiplier is in [2^30, 2^31) and rshift in
 * [31, 62], i.e. real multipliers in [2^-32, 1); smaller real multipliers
 * are represented with a smaller multiplier at rshift 62.
 */
typedef struct qb_requant {
    int32_t multiplier; /* fixed-point mantissa, < 2^31 */
    int32_t rshift;     /* right shift, 31..62 */
} qb_requant;

/* Fixed-point form of a real multiplier in (0, 1). Returns 0, or -1 if
 * real is not finite or not in (0, 1) (the caller must widen the output
 * scale). */
int qb_requant_from_real(double real, qb_requant *rq);
/* The rounding step above, without zero point and clamp. */
int32_t qb_requant_round(int32_t acc, qb_requant rq);
/* The whole step: zero point added, saturated to [lo, hi]. */
int8_t qb_requant_apply(int32_t acc, qb_requant rq, int32_t zero, int32_t lo, int32_t hi);

/* ---- weights, logical form (what the quantizer produces) ---- */

/* int8 depthwise: the call parameters a model layer keeps fixed, given at
 * pack time (qb_weights.dw) so that a kernel may lay out its per-call
 * constants once (biases with the input offset folded in, rounding
 * constants, arranged weights). Optional: a kernel checks that a call's
 * parameters match what it packed and derives them per call when not. */
typedef struct qb_dw_fixed {
    int kh;               /* window height (the window width is k / kh) */
    int32_t x_zero;       /* input zero point */
    const qb_requant *rq; /* the n channels' multipliers */
} qb_dw_fixed;

/* int8 GEMM: the call parameters a model layer keeps fixed, given at
 * pack time (qb_weights.gq) so that a kernel may lay out its per-call
 * constants once (the column terms bias - a_zero * wsum, the
 * requantization constants of each panel). Optional, as qb_dw_fixed: a
 * kernel checks that a call's parameters match what it packed and derives
 * them per call when not. */
typedef struct qb_gemm_fixed {
    int32_t a_zero;       /* activation zero point */
    const qb_requant *rq; /* the n channels' multipliers (per_channel), else one */
    int per_channel;      /* rq holds n multipliers (int8-channel calls) */
    int32_t c_zero;       /* output zero point */
} qb_gemm_fixed;

typedef struct qb_weights {
    int n;                   /* output channels (rows of W) */
    int k;                   /* reduction length (columns of W); dw: taps kh * kw */
    int group;               /* int4: group size along K, 0 = per channel */
    const float *f32;        /* fp32, fp16, binary (sign used): N x K */
    const int8_t *i8;        /* int8-*: N x K in [-127,127]; int4: [-8,7] */
    const float *scale;      /* int4: N x ngroups; binary: alpha[N] */
    const float *bias_f32;   /* float-output precisions: N, or NULL (zero) */
    const int32_t *bias_i32; /* int8-*: N in accumulator units, or NULL */
    const qb_dw_fixed *dw;   /* int8 depthwise: fixed call parameters, or NULL */
    const qb_gemm_fixed *gq; /* int8 GEMM: fixed call parameters, or NULL */
} qb_weights;

/* Weights packed once for one kernel. Common parts are laid out by
 * qb_pack() the same way for every ISA; w is in the kernel's own layout. */
typedef struct qb_packed {
    const struct qb_kernel *kernel; /* the kernel whose layout w is in */
    int n, k;                       /* logical shape */
    int group;                      /* int4 group size (K when per channel) */
    int ngroups;                    /* int4: ceil(K / group); else 1 */
    void *w;                        /* kernel-private layout, 64-byte aligned */
    float *bias_f32;                /* N float biases (zeros if none given) */
    int32_t *bias_i32;              /* int8-*: N int32 biases (zeros if none) */
    int32_t *wsum;                  /* int8-*: N row sums of W; int4: N x ngroups group sums */
    float *scale;                   /* int4: N x ngroups scales; binary: N alphas */
    void *block;                    /* the single allocation behind all of the above */
} qb_packed;

/* ---- call arguments ---- */

typedef struct qb_gemm_args {
    int m;                   /* rows of A and C (batch x pixels) */
    const void *a;           /* float (fp32, fp16), int8 (int8-*, int4), uint64 words (binary) */
    size_t lda;              /* elements (binary: uint64 words) between rows of A */
    void *c;                 /* float (fp32, fp16, int4, binary), int8 or int32 (int8-*) */
    size_t ldc;              /* elements between rows of C */
    int32_t a_zero;          /* int8-*, int4: activation zero point */
    float a_scale;           /* int4: activation scale */
    const qb_requant *rq;    /* int8-*: 1 (tensor) or N (channel) multipliers */
    int32_t c_zero;          /* int8-*: output zero point */
    int32_t c_min, c_max;    /* int8-*: saturation bounds, within [-128, 127] */
    int out_i32;             /* int8-*: nonzero = C is int32 acc + bias, no requant */
    float f_min, f_max;      /* float outputs: clamp (-INF/INF for none) */
    /* fp32 and int8 kernels with QB_KF_A_TAPS, else NULL: A's K is a_ntaps
     * segments of K / a_ntaps elements, segment t of row i read from
     * a + i * lda + a_taps[t] (elements; a direct convolution: one
     * segment per window row, rows of A the output pixels). int8: the
     * row sums of the a_zero / -128 compensation run over the segments;
     * the VNNI kernel is fastest with segments of a multiple of 4 bytes
     * (others are gathered into a contiguous copy first) */
    const ptrdiff_t *a_taps;
    int a_ntaps;             /* segments of a_taps (K a multiple of it) */
    /* int8 kernels with QB_KF_A_RUNS, else 0: rows of A come in runs of
     * a_run rows, lda apart within a run, a_run_ld between the first rows
     * of two runs: row i at a + (i / a_run) * a_run_ld + (i % a_run) * lda
     * (then + a_taps[t]; a direct conv's output rows narrower than its
     * padded copy in one call). 0: row i at a + i * lda. C is not affected. */
    int a_run;
    size_t a_run_ld;         /* a_run: elements between the first rows of two runs */
} qb_gemm_args;

/* Where row i of A starts, in elements from a (qb_gemm_args.a_run). */
static inline size_t qb_gemm_a_row(const qb_gemm_args *a, int i)
{
    return a->a_run > 0 ? (size_t)(i / a->a_run) * a->a_run_ld + (size_t)(i % a->a_run) * a->lda
                        : (size_t)i * a->lda;
}

typedef struct qb_dw_args {
    int h, w, c;             /* input height, width, channels (NHWC, one image) */
    int kh, kw;              /* window height and width; kh * kw = the packed k */
    int stride_h, stride_w;  /* strides, >= 1 */
    int dil_h, dil_w;        /* dilations, >= 1 */
    int pad_t, pad_l;        /* zero padding before (top, left), >= 0 */
    int out_h, out_w;        /* output size: caller chooses (sets bottom/right pad) */
    const void *x;           /* float or int8 input, h x w x c */
    void *y;                 /* float or int8 output, out_h x out_w x c */
    int32_t x_zero;          /* int8: input zero point (value of padding) */
    const qb_requant *rq;    /* int8: c multipliers */
    int32_t y_zero;          /* int8: output zero point */
    int32_t y_min, y_max;    /* int8: saturation bounds */
    float f_min, f_max;      /* fp32: clamp */
} qb_dw_args;

/* ---- kernels and the registry ---- */

/* Kernel properties (qb_kernel.flags). */
enum {
    /* Float kernel that rounds activations to fp16 and accumulates in fp16
     * (NEON FEAT_FP16): compared with the looser "fp16-arith" tolerance. */
    QB_KF_HALF_ARITH = 1u << 0,
    /* GEMM whose packed layout is panel-major in N: columns [n0, n1) of a
     * pack, n0 a multiple of QB_PACK_COLS, are a pack of n1 - n0 columns
     * packed_size(n0, k, group) bytes into w (qb_packed_columns). */
    QB_KF_COLUMNS = 1u << 1,
    /* fp32 or int8 GEMM that reads A through qb_gemm_args.a_taps (direct conv). */
    QB_KF_A_TAPS = 1u << 2,
    /* int8 GEMM that reads A's rows in runs (qb_gemm_args.a_run). */
    QB_KF_A_RUNS = 1u << 3,
};
/* Column slices of a QB_KF_COLUMNS pack start at multiples of this (a
 * multiple of every such kernel's panel width). */
#define QB_PACK_COLS 64

typedef struct qb_kernel {
    const char *name;  /* e.g. "qb_gemm_i8c__avx2": family, type, ISA */
    qb_op op;          /* which family */
    qb_precision prec; /* number format */
    qb_isa isa;        /* instruction set */
    unsigned requires; /* QB_CPU_* bits the CPU must have */
    unsigned flags;    /* QB_KF_* properties */
    /* Bytes of the kernel-private weight layout for n x k (group: int4). */
    size_t (*packed_size)(int n, int k, int group);
    /* Fill dst (packed_size bytes, 64-byte aligned, zeroed) from w. */
    void (*pack)(const qb_weights *w, void *dst);
    union {
        void (*gemm)(const qb_packed *p, const qb_gemm_args *a);
        void (*dw)(const qb_packed *p, const qb_dw_args *a);
    } run;
} qb_kernel;

/* Every kernel, scalar first; count in *n. */
const qb_kernel *qb_kernels(int *n);
/* Exact name lookup, NULL if absent. */
const qb_kernel *qb_kernel_find(const char *name);
/* The kernel for (op, prec, isa), NULL if none exists. */
const qb_kernel *qb_kernel_get(qb_op op, qb_precision prec, qb_isa isa);
/* Nonzero if this CPU can run k; else why not in why (may be NULL). */
int qb_kernel_available(const qb_kernel *k, char *why, size_t len);
/* The best kernel this CPU runs for (op, prec), capped by QB_FORCE_ISA. */
const qb_kernel *qb_kernel_select(qb_op op, qb_precision prec);
/* The ISA cap from QB_FORCE_ISA, or -1 when unset. Invalid values: -2. */
int qb_forced_isa(void);
/* Nonzero if the CPU has every feature of need (QB_CPU_*) and the ISA cap
 * allows AVX-512 (QB_FORCE_ISA unset or vnni: an avx2 run measures an
 * AVX2 machine, the engine's own loops as the kernels). */
int qb_avx512_allowed(unsigned need);
/* Nonzero if the CPU has AVX2 and the ISA cap allows it (QB_FORCE_ISA
 * unset, avx2 or vnni): the engine's AVX2 loops where AVX-512 may not run. */
int qb_avx2_allowed(void);

/* Pack w for kernel k. Returns 0, or -1 with a reason in err (bad shape,
 * weight out of range, allocation failure). Free with qb_packed_free. */
int qb_pack(const qb_kernel *k, const qb_weights *w, qb_packed *out, char *err, size_t errlen);
void qb_packed_free(qb_packed *p);
/* Bytes of qb_pack_into's block for n x k weights without int4 groups,
 * 0 for a bad shape. */
size_t qb_pack_bytes(const qb_kernel *k, int n, int k_len);
/* qb_pack into the caller's block buf (bytes >= qb_pack_bytes, 64-byte
 * aligned; no int4 groups): out->block NULL, nothing to free (weights
 * packed per run, e.g. a MatMul's B that is a graph tensor). */
int qb_pack_into(const qb_kernel *k, const qb_weights *w, void *buf, size_t bytes, qb_packed *out, char *err,
                 size_t errlen);
/* view = columns [n0, n1) of p, sharing p's memory (view->block NULL:
 * nothing to free): w, biases, weight sums and scales offset. Needs
 * QB_KF_COLUMNS, n0 a multiple of QB_PACK_COLS, n1 a multiple of it or
 * p->n, n0 < n1 <= p->n; else returns -1. The call's C (and rq when per
 * channel) must be offset by n0 columns too (qb_gpar_gemm_cols). */
int qb_packed_columns(const qb_packed *p, int n0, int n1, qb_packed *view);

/* Binary activations: sign bits of m rows of k floats (x < 0 -> 1, and
 * -0.0f counts as negative), rows ldw words apart, pad bits zero. */
void qb_binary_pack_rows(const float *x, int m, int k, size_t ldx, uint64_t *bits, size_t ldw);
/* Words per packed row of k bits. */
static inline size_t qb_binary_words(int k) { return ((size_t)k + 63) / 64; }

#endif
