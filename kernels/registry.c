/*
 * registry.c - the one table of every kernel qbench has, and selection of
 * the best one this CPU runs (capped by QB_FORCE_ISA). Kernels of another
 * architecture are listed with no code, so `qbench kernels` and sweeps can
 * say why they do not run here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

#if defined(__x86_64__)
#define X86(f) f
#else
#define X86(f) NULL
#endif
#if defined(__aarch64__)
#define ARM(f) f
#else
#define ARM(f) NULL
#endif
#define ANY(f) f

/* Feature sets per ISA. */
#define REQ_AVX2 (QB_CPU_AVX2 | QB_CPU_FMA | QB_CPU_F16C | QB_CPU_POPCNT)
#define REQ_VNNI (REQ_AVX2 | QB_CPU_AVX512F | QB_CPU_AVX512BW | QB_CPU_AVX512VL | QB_CPU_AVX512VNNI)
#define REQ_NEON QB_CPU_NEON

/* X(op, function, layout, precision, isa, required features, flags, build)
 * The function is the kernel's name; layout##_size and layout##_pack pack
 * its weights. Within one (op, precision, isa), later rows are preferred. */
#define QB_KERNEL_LIST(X)                                                                          \
    X(GEMM, qb_gemm_f32__scalar, qb_gemm_f32__scalar, FP32, SCALAR, 0, 0, ANY)                     \
    X(GEMM, qb_gemm_f16__scalar, qb_gemm_f16__scalar, FP16, SCALAR, 0, 0, ANY)                     \
    X(GEMM, qb_gemm_i8t__scalar, qb_gemm_i8__scalar, INT8_TENSOR, SCALAR, 0, 0, ANY)               \
    X(GEMM, qb_gemm_i8c__scalar, qb_gemm_i8__scalar, INT8_CHANNEL, SCALAR, 0, 0, ANY)              \
    X(GEMM, qb_gemm_i4__scalar, qb_gemm_i4__scalar, INT4, SCALAR, 0, 0, ANY)                       \
    X(GEMM, qb_gemm_b1__scalar, qb_gemm_b1__scalar, BINARY, SCALAR, 0, 0, ANY)                     \
    X(DWCONV3X3, qb_dwconv3x3_f32__scalar, qb_dwconv3x3_f32__scalar, FP32, SCALAR, 0, 0, ANY)      \
    X(DWCONV3X3, qb_dwconv3x3_i8__scalar, qb_dwconv3x3_i8__scalar, INT8_CHANNEL, SCALAR, 0, 0, ANY) \
    X(GEMM, qb_gemm_f32__avx2, qb_gemm_f32__avx2, FP32, AVX2, REQ_AVX2, 0, X86)                    \
    X(GEMM, qb_gemm_f16__avx2, qb_gemm_f16__avx2, FP16, AVX2, REQ_AVX2, 0, X86)                    \
    X(GEMM, qb_gemm_i8t__avx2, qb_gemm_i8__avx2, INT8_TENSOR, AVX2, REQ_AVX2, 0, X86)              \
    X(GEMM, qb_gemm_i8c__avx2, qb_gemm_i8__avx2, INT8_CHANNEL, AVX2, REQ_AVX2, 0, X86)             \
    X(GEMM, qb_gemm_i4__avx2, qb_gemm_i4__avx2, INT4, AVX2, REQ_AVX2, 0, X86)                      \
    X(GEMM, qb_gemm_b1__avx2, qb_gemm_b1__avx2, BINARY, AVX2, REQ_AVX2, 0, X86)                    \
    X(DWCONV3X3, qb_dwconv3x3_f32__avx2, qb_dwconv3x3_f32__avx2, FP32, AVX2, REQ_AVX2, 0, X86)     \
    X(DWCONV3X3, qb_dwconv3x3_i8__avx2, qb_dwconv3x3_i8__avx2, INT8_CHANNEL, AVX2, REQ_AVX2, 0, X86) \
    X(GEMM, qb_gemm_f32__vnni, qb_gemm_f32__vnni, FP32, VNNI, REQ_VNNI, 0, X86)                    \
    X(GEMM, qb_gemm_f16__vnni, qb_gemm_f16__vnni, FP16, VNNI, REQ_VNNI, 0, X86)                    \
    X(GEMM, qb_gemm_i8t__vnni, qb_gemm_i8__vnni, INT8_TENSOR, VNNI, REQ_VNNI, 0, X86)              \
    X(GEMM, qb_gemm_i8c__vnni, qb_gemm_i8__vnni, INT8_CHANNEL, VNNI, REQ_VNNI, 0, X86)             \
    X(GEMM, qb_gemm_i4__vnni, qb_gemm_i4__vnni, INT4, VNNI, REQ_VNNI, 0, X86)                      \
    X(GEMM, qb_gemm_b1__vnni, qb_gemm_b1__vnni, BINARY, VNNI, REQ_VNNI | QB_CPU_AVX512VPOPCNTDQ, 0, X86) \
    X(DWCONV3X3, qb_dwconv3x3_f32__vnni, qb_dwconv3x3_f32__vnni, FP32, VNNI, REQ_VNNI, 0, X86)     \
    X(DWCONV3X3, qb_dwconv3x3_i8__vnni, qb_dwconv3x3_i8__vnni, INT8_CHANNEL, VNNI, REQ_VNNI, 0, X86) \
    X(GEMM, qb_gemm_f32__neon, qb_gemm_f32__neon, FP32, NEON, REQ_NEON, 0, ARM)                    \
    X(GEMM, qb_gemm_f16__neon, qb_gemm_f16__neon, FP16, NEON, REQ_NEON, 0, ARM)                    \
    X(GEMM, qb_gemm_f16__neonfp16, qb_gemm_f16__neonfp16, FP16, NEON, REQ_NEON | QB_CPU_FP16,      \
      QB_KF_HALF_ARITH, ARM)                                                                        \
    X(GEMM, qb_gemm_i8t__neon, qb_gemm_i8__neon, INT8_TENSOR, NEON, REQ_NEON, 0, ARM)              \
    X(GEMM, qb_gemm_i8c__neon, qb_gemm_i8__neon, INT8_CHANNEL, NEON, REQ_NEON, 0, ARM)             \
    X(GEMM, qb_gemm_i8t__neondot, qb_gemm_i8__neondot, INT8_TENSOR, NEON, REQ_NEON | QB_CPU_DOTPROD, 0, ARM) \
    X(GEMM, qb_gemm_i8c__neondot, qb_gemm_i8__neondot, INT8_CHANNEL, NEON, REQ_NEON | QB_CPU_DOTPROD, 0, ARM) \
    X(GEMM, qb_gemm_i4__neon, qb_gemm_i4__neon, INT4, NEON, REQ_NEON, 0, ARM)                      \
    X(GEMM, qb_gemm_i4__neondot, qb_gemm_i4__neondot, INT4, NEON, REQ_NEON | QB_CPU_DOTPROD, 0, ARM) \
    X(GEMM, qb_gemm_b1__neon, qb_gemm_b1__neon, BINARY, NEON, REQ_NEON, 0, ARM)                    \
    X(DWCONV3X3, qb_dwconv3x3_f32__neon, qb_dwconv3x3_f32__neon, FP32, NEON, REQ_NEON, 0, ARM)     \
    X(DWCONV3X3, qb_dwconv3x3_i8__neon, qb_dwconv3x3_i8__neon, INT8_CHANNEL, NEON, REQ_NEON, 0, ARM)

/* Prototypes of every function named above (duplicates are harmless). */
#define DECL_GEMM(fn) void fn(const qb_packed *, const qb_gemm_args *);
#define DECL_DWCONV3X3(fn) void fn(const qb_packed *, const qb_dw_args *);
#define QB_DECLARE(op, fn, layout, prec, isa, req, flags, build)                                   \
    DECL_##op(fn) size_t layout##_size(int, int, int);                                             \
    void layout##_pack(const qb_weights *, void *);
QB_KERNEL_LIST(QB_DECLARE)

#define RUN_GEMM(f) {.gemm = f}
#define RUN_DWCONV3X3(f) {.dw = f}
#define QB_ENTRY(op, fn, layout, prec, isa, req, flags, build)                                     \
    {#fn,  QB_OP_##op, QB_PREC_##prec, QB_ISA_##isa, req, flags, build(layout##_size),             \
     build(layout##_pack), RUN_##op(build(fn))},

static const qb_kernel table[] = {QB_KERNEL_LIST(QB_ENTRY)};
#define TABLE_LEN ((int)(sizeof table / sizeof table[0]))

const qb_kernel *qb_kernels(int *n)
{
    *n = TABLE_LEN;
    return table;
}

const qb_kernel *qb_kernel_find(const char *name)
{
    for (int i = 0; i < TABLE_LEN; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

const qb_kernel *qb_kernel_get(qb_op op, qb_precision prec, qb_isa isa)
{
    const qb_kernel *best = NULL;
    for (int i = 0; i < TABLE_LEN; i++) {
        const qb_kernel *k = &table[i];
        if (k->op != op || k->prec != prec || k->isa != isa)
            continue;
        if (!best || qb_kernel_available(k, NULL, 0))
            best = k; /* the last runnable variant, else the first listed */
    }
    return best;
}

static const char *arch_name(void)
{
#if defined(__x86_64__)
    return "x86-64";
#elif defined(__aarch64__)
    return "AArch64";
#else
    return "this architecture";
#endif
}

int qb_kernel_available(const qb_kernel *k, char *why, size_t len)
{
    if (!k->run.gemm) {
        if (why)
            snprintf(why, len, "not built for %s", arch_name());
        return 0;
    }
    unsigned missing = k->requires & ~qb_cpu_features();
    if (missing) {
        if (why) {
            char names[160];
            qb_cpu_feature_names(missing, names, sizeof names);
            snprintf(why, len, "CPU lacks %s", names);
        }
        return 0;
    }
    if (why && len)
        why[0] = 0;
    return 1;
}

int qb_forced_isa(void)
{
    const char *s = getenv("QB_FORCE_ISA");
    if (!s || !*s)
        return -1;
    int isa = qb_isa_parse(s);
    return isa < 0 ? -2 : isa;
}

/* May a kernel of ISA isa run under the cap? x86 lineage scalar < avx2 <
 * vnni; AArch64 lineage scalar < neon. */
static int under_cap(qb_isa isa, int cap)
{
    if (cap < 0 || isa == QB_ISA_SCALAR || (int)isa == cap)
        return 1;
    return cap == QB_ISA_VNNI && isa == QB_ISA_AVX2;
}

static int isa_rank(qb_isa isa)
{
    return isa == QB_ISA_VNNI ? 2 : isa == QB_ISA_SCALAR ? 0 : 1;
}

const qb_kernel *qb_kernel_select(qb_op op, qb_precision prec)
{
    int cap = qb_forced_isa();
    if (cap == -2)
        cap = QB_ISA_SCALAR; /* an invalid cap is refused by the CLI; be safe here */
    const qb_kernel *best = NULL;
    for (int i = 0; i < TABLE_LEN; i++) {
        const qb_kernel *k = &table[i];
        if (k->op != op || k->prec != prec || !under_cap(k->isa, cap) || !qb_kernel_available(k, NULL, 0))
            continue;
        if (!best || isa_rank(k->isa) >= isa_rank(best->isa))
            best = k;
    }
    return best;
}
