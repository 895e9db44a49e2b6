/*
 * registry.c - the one table of every kernel qbench has, and selection of
 * the best one this CPU runs (capped by QB_FORCE_ISA), built from the one
 * kernel list (kernels/kernel_list.inc). Kernels of another architecture
 * are listed with no code, so `qbench kernels` and sweeps can say why they
 * do not run here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

/* Code is built for the ISAs of this architecture only; the other rows
 * are listed with NULL functions. */
#if defined(__x86_64__)
#define BUILD_AVX2(f) f
#define BUILD_VNNI(f) f
#else
#define BUILD_AVX2(f) NULL
#define BUILD_VNNI(f) NULL
#endif
#if defined(__aarch64__)
#define BUILD_NEON(f) f
#else
#define BUILD_NEON(f) NULL
#endif
#define BUILD_SCALAR(f) f

/* Prototypes of every function in the list (duplicates are harmless). */
#define DECL_GEMM(fn) void fn(const qb_packed *, const qb_gemm_args *);
#define DECL_DWCONV(fn) void fn(const qb_packed *, const qb_dw_args *);
#define QB_KERNEL(op, fn, layout, prec, isa, req, flags)                                           \
    DECL_##op(fn) size_t layout##_size(int, int, int);                                             \
    void layout##_pack(const qb_weights *, void *);
#include "kernels/kernel_list.inc"
#undef QB_KERNEL

#define RUN_GEMM(f) {.gemm = f}
#define RUN_DWCONV(f) {.dw = f}
#define QB_KERNEL(op, fn, layout, prec, isa, req, flags)                                           \
    {#fn,  QB_OP_##op, QB_PREC_##prec, QB_ISA_##isa, req, flags, BUILD_##isa(layout##_size),       \
     BUILD_##isa(layout##_pack), RUN_##op(BUILD_##isa(fn))},

static const qb_kernel table[] = {
#include "kernels/kernel_list.inc"
};
#undef QB_KERNEL
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

int qb_avx512_allowed(unsigned need)
{
    int cap = qb_forced_isa();
    return (qb_cpu_features() & need) == need && (cap == -1 || cap == QB_ISA_VNNI);
}

int qb_avx2_allowed(void)
{
    int cap = qb_forced_isa();
    return (qb_cpu_features() & QB_CPU_AVX2) && (cap == -1 || cap == QB_ISA_AVX2 || cap == QB_ISA_VNNI);
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
