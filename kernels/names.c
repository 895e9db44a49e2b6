/*
 * names.c - the exact vocabulary strings of docs/design.md for
 * precisions (with their traits table), ISAs and kernel families, and
 * their parsers.
 */
#include <string.h>

#include "kernels/kernels.h"

/* A variant (runs_as another precision: the same kernels and formats,
 * another calibration) is one row here and its name in docs/design.md. */
static const qb_precision_traits precision_traits[] = {
    [QB_PREC_FP32] = {.name = "fp32", .weight_bits = 32, .act = QB_ACT_F32, .calibrated = 0, .family = "f32",
                      .runs_as = QB_PREC_FP32},
    [QB_PREC_FP16] = {.name = "fp16", .weight_bits = 16, .act = QB_ACT_F32, .calibrated = 0, .family = "f16",
                      .runs_as = QB_PREC_FP16},
    [QB_PREC_INT8_TENSOR] = {.name = "int8-tensor", .weight_bits = 8, .act = QB_ACT_I8, .calibrated = 1,
                             .family = "i8t", .runs_as = QB_PREC_INT8_TENSOR},
    [QB_PREC_INT8_CHANNEL] = {.name = "int8-channel", .weight_bits = 8, .act = QB_ACT_I8, .calibrated = 1,
                              .family = "i8c", .runs_as = QB_PREC_INT8_CHANNEL},
    [QB_PREC_INT4] = {.name = "int4", .weight_bits = 4, .act = QB_ACT_I8, .calibrated = 1, .family = "i4",
                      .runs_as = QB_PREC_INT4},
    [QB_PREC_BINARY] = {.name = "binary", .weight_bits = 1, .act = QB_ACT_SIGN, .calibrated = 1, .family = "b1",
                        .runs_as = QB_PREC_BINARY},
    [QB_PREC_MIXED] = {.name = "mixed", .weight_bits = 0, .act = QB_ACT_PER_LAYER, .calibrated = 1, .family = NULL,
                       .runs_as = QB_PREC_MIXED},
};
_Static_assert(sizeof precision_traits / sizeof precision_traits[0] == QB_PREC_COUNT, "one row per precision");

static const qb_precision_traits unknown_precision = {.name = "?", .act = QB_ACT_F32, .runs_as = QB_PREC_COUNT};

static const char *const isa_names[QB_ISA_COUNT] = {
    [QB_ISA_SCALAR] = "scalar",
    [QB_ISA_AVX2] = "avx2",
    [QB_ISA_VNNI] = "vnni",
    [QB_ISA_NEON] = "neon",
};

static const char *const op_names[QB_OP_COUNT] = {
    [QB_OP_GEMM] = "gemm",
    [QB_OP_DWCONV] = "dwconv",
};

const qb_precision_traits *qb_precision_traits_of(qb_precision p)
{
    return (unsigned)p < QB_PREC_COUNT && precision_traits[p].name ? &precision_traits[p] : &unknown_precision;
}

const char *qb_precision_name(qb_precision p)
{
    return qb_precision_traits_of(p)->name;
}

const char *qb_isa_name(qb_isa i)
{
    return (unsigned)i < QB_ISA_COUNT ? isa_names[i] : "?";
}

const char *qb_op_name(qb_op o)
{
    return (unsigned)o < QB_OP_COUNT ? op_names[o] : "?";
}

int qb_precision_parse(const char *s)
{
    for (int i = 0; i < QB_PREC_COUNT; i++)
        if (s && strcmp(s, precision_traits[i].name) == 0)
            return i;
    return -1;
}

int qb_isa_parse(const char *s)
{
    for (int i = 0; i < QB_ISA_COUNT; i++)
        if (s && strcmp(s, isa_names[i]) == 0)
            return i;
    return -1;
}

/* The names of n table rows, space separated, into a per-thread buffer. */
#define QB_NAME_LIST(count, name_of)                                                                         \
    _Thread_local static char list[256];                                                                    \
    if (!list[0])                                                                                           \
        for (int i = 0; i < (count); i++) {                                                                 \
            if (i)                                                                                          \
                strcat(list, " ");                                                                          \
            strcat(list, name_of);                                                                          \
        }                                                                                                   \
    return list

const char *qb_precision_list(void)
{
    QB_NAME_LIST(QB_PREC_COUNT, precision_traits[i].name);
}

const char *qb_isa_list(void)
{
    QB_NAME_LIST(QB_ISA_COUNT, isa_names[i]);
}
