/*
 * emulated.c - the table of SIMDe-emulated VNNI kernels for the tests: the
 * kernels/vnni/ sources compiled a second time with -DQB_SIMDE and no
 * AVX-512 flags (symbols suffixed _simde), with the same names, families,
 * precisions and ISA as their registry rows (the VNNI rows of
 * kernels/kernel_list.inc, so a new VNNI kernel is emulated without a
 * line here), requiring nothing of the CPU, so tests/test_kernels.c runs
 * them as "NAME (simde)" on any x86-64 host. Other architectures have no
 * emulated kernels.
 */
#include <stddef.h>

#include "tests/emulated.h"

#if defined(__x86_64__)

#define EMU_GEMM(fn) void fn##_simde(const qb_packed *, const qb_gemm_args *);
#define EMU_DWCONV(fn) void fn##_simde(const qb_packed *, const qb_dw_args *);
#define RUN_GEMM(fn) {.gemm = fn##_simde}
#define RUN_DWCONV(fn) {.dw = fn##_simde}

/* Rows of other ISAs expand to nothing. */
#define EMU_DECL_SCALAR(op, fn, layout)
#define EMU_DECL_AVX2(op, fn, layout)
#define EMU_DECL_NEON(op, fn, layout)
#define EMU_DECL_VNNI(op, fn, layout)                                                              \
    EMU_##op(fn) size_t layout##_size_simde(int, int, int);                                        \
    void layout##_pack_simde(const qb_weights *, void *);
#define QB_KERNEL(op, fn, layout, prec, isa, req, flags) EMU_DECL_##isa(op, fn, layout)
#include "kernels/kernel_list.inc"
#undef QB_KERNEL

#define EMU_ROW_SCALAR(op, fn, layout, prec, flags)
#define EMU_ROW_AVX2(op, fn, layout, prec, flags)
#define EMU_ROW_NEON(op, fn, layout, prec, flags)
#define EMU_ROW_VNNI(op, fn, layout, prec, flags)                                                  \
    {#fn, QB_OP_##op, QB_PREC_##prec, QB_ISA_VNNI, 0, flags, layout##_size_simde,                  \
     layout##_pack_simde, RUN_##op(fn)},
#define QB_KERNEL(op, fn, layout, prec, isa, req, flags) EMU_ROW_##isa(op, fn, layout, prec, flags)
static const qb_kernel table[] = {
#include "kernels/kernel_list.inc"
};
#undef QB_KERNEL

const qb_kernel *qb_emulated_kernels(int *n)
{
    *n = (int)(sizeof table / sizeof table[0]);
    return table;
}

#else

const qb_kernel *qb_emulated_kernels(int *n)
{
    *n = 0;
    return NULL;
}

#endif
