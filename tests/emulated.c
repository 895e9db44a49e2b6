/*
 * emulated.c - the table of SIMDe-emulated VNNI kernels for the tests: the
 * kernels/vnni/ sources compiled a second time with -DQB_SIMDE and no
 * AVX-512 flags (symbols suffixed _simde), with the same names, families,
 * precisions and ISA as their registry rows, requiring nothing of the CPU,
 * so tests/test_kernels.c runs them as "NAME (simde)" on any x86-64 host.
 * Other architectures have no emulated kernels.
 */
#include <stddef.h>

#include "tests/emulated.h"

#if defined(__x86_64__)

#define EMU_GEMM(fn) void fn##_simde(const qb_packed *, const qb_gemm_args *);
#define EMU_DWCONV3X3(fn) void fn##_simde(const qb_packed *, const qb_dw_args *);
#define RUN_GEMM(fn) {.gemm = fn##_simde}
#define RUN_DWCONV3X3(fn) {.dw = fn##_simde}

/* X(op, function, layout, precision): the rows of kernels/registry.c with
 * isa vnni. */
#define QB_EMULATED_LIST(X)                                                                        \
    X(GEMM, qb_gemm_f32__vnni, qb_gemm_f32__vnni, FP32)                                            \
    X(GEMM, qb_gemm_f16__vnni, qb_gemm_f16__vnni, FP16)                                            \
    X(GEMM, qb_gemm_i8t__vnni, qb_gemm_i8__vnni, INT8_TENSOR)                                      \
    X(GEMM, qb_gemm_i8c__vnni, qb_gemm_i8__vnni, INT8_CHANNEL)                                     \
    X(GEMM, qb_gemm_i4__vnni, qb_gemm_i4__vnni, INT4)                                              \
    X(GEMM, qb_gemm_b1__vnni, qb_gemm_b1__vnni, BINARY)                                            \
    X(DWCONV3X3, qb_dwconv3x3_f32__vnni, qb_dwconv3x3_f32__vnni, FP32)                             \
    X(DWCONV3X3, qb_dwconv3x3_i8__vnni, qb_dwconv3x3_i8__vnni, INT8_CHANNEL)

#define EMU_DECLARE(op, fn, layout, prec)                                                          \
    EMU_##op(fn) size_t layout##_size_simde(int, int, int);                                        \
    void layout##_pack_simde(const qb_weights *, void *);
QB_EMULATED_LIST(EMU_DECLARE)

#define EMU_ENTRY(op, fn, layout, prec)                                                            \
    {#fn, QB_OP_##op, QB_PREC_##prec, QB_ISA_VNNI, 0, 0, layout##_size_simde, layout##_pack_simde,   \
     RUN_##op(fn)},

static const qb_kernel table[] = {QB_EMULATED_LIST(EMU_ENTRY)};

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
