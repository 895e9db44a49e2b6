/*
 * gemm_f32.c - NEON fp32 GEMM (qb_gemm_f32__neon), the fp32 weights of the
 * float engine in gemm_float.h: register-blocked micro-kernel of up to
 * 8 rows x 8 columns (16 accumulators): per step of 4 k, one vector of 4
 * activations per row and vfmaq_laneq_f32 against the 8 weights of each k.
 * Every output still sums k = 0..K-1 in order (fused multiply-adds), then
 * bias, then clamp.
 * Packed layout: panels of 8 output channels; panel p holds, for each k of
 * K rounded up to 4, the 8 weights W[8p + 0..7][k] (zeros past N and K).
 */
#include "kernels/neon/gemm_float.h"

size_t qb_gemm_f32__neon_size(int n, int k, int group) { return qb_nf_size(n, k, group, QB_NF_KU, 0); }

void qb_gemm_f32__neon_pack(const qb_weights *w, void *dst) { qb_nf_pack(w, dst, QB_NF_KU, 0); }

void qb_gemm_f32__neon(const qb_packed *p, const qb_gemm_args *a) { qb_nf_gemm(p, a, 0); }
