/*
 * names.c - the exact vocabulary strings of docs/design.md for
 * precisions, ISAs and kernel families, and their parsers.
 */
#include <string.h>

#include "kernels/kernels.h"

static const char *const precision_names[QB_PREC_COUNT] = {
    [QB_PREC_FP32] = "fp32",
    [QB_PREC_FP16] = "fp16",
    [QB_PREC_INT8_TENSOR] = "int8-tensor",
    [QB_PREC_INT8_CHANNEL] = "int8-channel",
    [QB_PREC_INT4] = "int4",
    [QB_PREC_BINARY] = "binary",
    [QB_PREC_MIXED] = "mixed",
};

static const char *const isa_names[QB_ISA_COUNT] = {
    [QB_ISA_SCALAR] = "scalar",
    [QB_ISA_AVX2] = "avx2",
    [QB_ISA_VNNI] = "vnni",
    [QB_ISA_NEON] = "neon",
};

static const char *const op_names[QB_OP_COUNT] = {
    [QB_OP_GEMM] = "gemm",
    [QB_OP_DWCONV3X3] = "dwconv3x3",
};

const char *qb_precision_name(qb_precision p)
{
    return (unsigned)p < QB_PREC_COUNT ? precision_names[p] : "?";
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
        if (s && strcmp(s, precision_names[i]) == 0)
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
