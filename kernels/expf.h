/*
 * expf.h - exp of float32 arrays, sigmoid arrays and softmax rows for the
 * engine's Sigmoid (plain and in element-wise chains) and Softmax
 * (kernels/expf.c):
 * one polynomial, evaluated the same way on every ISA, so results are
 * bit-identical across ISAs and thread counts.
 *
 *   n = rne(x * log2(e)); r = x - n * C1 - n * C2 (C1 + C2 = ln 2, C1 exact
 *   in 9 bits); p = 1 + r + r^2 * P(r), P of degree 5 (Cephes expf);
 *   exp(x) = p * 2^floor(n/2) * 2^(n - floor(n/2)) (no scale overflows).
 *   x >= 88.72283935546875 gives +Inf (as libm's expf), x < -87.33654 gives
 *   0 (libm: subnormals, below FLT_MIN; products into the subnormal range
 *   cost a microcode assist each, 3x slower here), NaN stays NaN.
 *
 * Accuracy against glibc's expf (correctly rounded in practice): within
 * QB_EXPF_ULP units in the last place over the normal range, absolute
 * error below FLT_MIN (1.2e-38) where libm's result is subnormal
 * (tests/test_expf.c).
 * qb_expf1 is the reference; qb_expf_array (AVX-512F, AVX2 or SSE2 on
 * x86-64, the reference elsewhere) is bit-identical to it.
 */
#ifndef QB_EXPF_H
#define QB_EXPF_H

#include <stddef.h>

/* Largest distance in ulps from libm's expf for normal results. */
#define QB_EXPF_ULP 2 /* measured: 1 (tests/test_expf.c prints it) */

/* exp(x), the reference. */
float qb_expf1(float x);
/* y[i] = exp(x[i]) for n values (x == y allowed). */
void qb_expf_array(const float *x, float *y, size_t n);

/* Largest distance in ulps of qb_sigmoid1 / qb_sigmoid_f32 from libm's
 * 1 / (1 + expf(-x)) for normal results (below FLT_MIN: absolute error
 * under FLT_MIN; tests/test_expf.c prints the measured worst). */
#define QB_SIGMOID_ULP 4 /* measured: 4, where exp(-x) is large (1 / e carries its error whole) */
/* 1 / (1 + qb_expf1(-x)), the reference for qb_sigmoid_f32. */
float qb_sigmoid1(float x);
/* y[i] = qb_sigmoid1(x[i]) for n values (x == y allowed), bit-identical to
 * it: the exp through qb_expf_array's vector loops, in chunks that stay in
 * L1, the add and the IEEE division in plain loops. */
void qb_sigmoid_f32(const float *x, float *y, size_t n);

/* Softmax of one row of n values (x == y allowed): m = max (NaN skipped),
 * e_i = qb_expf1(x_i - m), s_l the sum of e_i over i % 16 == l,
 * i < n - n % 16, folded in halves (s_l += s_(l+8), then s_l += s_(l+4),
 * s_l += s_(l+2), sum = s_0 + s_1: one AVX-512 register's or four SSE
 * registers' lanes), then the last n % 16 added in order; y_i = e_i / sum.
 * The same bits on every ISA (AVX-512F, AVX2, SSE2, scalar). */
void qb_softmax_row(const float *x, float *y, size_t n);
void qb_softmax_row__scalar(const float *x, float *y, size_t n);
/* qb_softmax_row of the sums x_i + b_i (float adds, in that operand
 * order), the same bits as the adds into y and qb_softmax_row(y, y, n):
 * a bias Add fused into a Softmax (x == y allowed, b must not overlap y). */
void qb_softmax_row_bias(const float *x, const float *b, float *y, size_t n);

/* on = 0: not the AVX-512 loops (tests compare the paths). */
void qb_expf_avx512(int on);
/* on = 0: not the AVX2 loops (taken where AVX-512 is not: a CPU without
 * it or QB_FORCE_ISA=avx2); with both off, the SSE2 loops. */
void qb_expf_avx2(int on);

#endif
