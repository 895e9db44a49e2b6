/*
 * gemm_f16.c - NEON GEMM with IEEE binary16 weights and fp32 activations
 * (qb_gemm_f16__neon): the binary16 weights of the float engine in
 * gemm_float.h. The weights are widened exactly with vcvt_f32_f16 (base
 * ARMv8-A) and everything else is the fp32 kernel: micro-tiles of up to
 * 8 rows x 8 columns, vfmaq_laneq_f32 over 4 k per step, every output
 * summed k = 0..K-1 in order in fp32, then bias, then clamp.
 * Packed layout: panels of 8 output channels; panel p holds, for each k of
 * K rounded up to 4, the 8 binary16 weights W[8p + 0..7][k] (rounded to
 * nearest even by qb_f32_to_f16, as the reference; zeros past N and K).
 */
#include "kernels/neon/gemm_float.h"

size_t qb_gemm_f16__neon_size(int n, int k, int group) { return qb_nf_size(n, k, group, QB_NF_KU, 1); }

void qb_gemm_f16__neon_pack(const qb_weights *w, void *dst) { qb_nf_pack(w, dst, QB_NF_KU, 1); }

void qb_gemm_f16__neon(const qb_packed *p, const qb_gemm_args *a) { qb_nf_gemm(p, a, 1); }
