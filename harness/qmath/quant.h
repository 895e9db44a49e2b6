/*
 * quant.h - the quantization arithmetic of qbench: activation quantization
 * parameters, the four PTQ calibrators (observers), quantize / dequantize /
 * fake-quant with its straight-through-estimator mask, and the weight
 * quantizers (int8 per tensor or per channel, int4 per group, binary).
 * Pure C, deterministic, no I/O: warnings go into caller buffers and name
 * nothing (the caller prefixes the tensor name).
 *
 * Warning buffers (char *warn, size_t len): messages are APPENDED to the
 * NUL-terminated text already in warn, "; "-separated and truncated to len,
 * so one buffer can collect the warnings of several calls; the caller
 * starts it as "" (warn may be NULL, or len 0, to discard warnings).
 *
 * Files: qparams.c (qparams, quantize, fake quant), method.c (method and
 *        calibrator names),
 *        observer.c (the calibrators), weights.c (weight quantizers).
 *
 * Activation format (int8, as ONNX QuantizeLinear):
 *   q = clamp(rne(x / scale) + zero, qmin, qmax),  x' = scale * (q - zero)
 * with x / scale computed in float and rne = round half to even.
 *   asymmetric: qmin -128, qmax 127, zero = clamp(rne(-128 - lo/scale)),
 *               scale = (hi - lo) / 255 over a range with lo <= 0 <= hi
 *   symmetric:  qmin -127, qmax 127, zero 0, scale = max(|lo|, |hi|) / 127
 *
 * Calibrators (qb_observer_range; pass 1 collects min/max of the finite
 * values, pass 2 a histogram over the pass-1 range; "bins" defaults to 2048):
 *   minmax      [min, max] extended to include 0.
 *   percentile  histogram of x over [min, max]; lo is the (100-p)-th and hi
 *               the p-th percentile (rank r = p/100 * N, linear
 *               interpolation inside the bin that holds rank r), then
 *               extended to include 0. p defaults to 99.99.
 *   mse         histogram of x over [min, max], every value assumed uniform
 *               inside its bin. For each candidate range the expected
 *               squared error of the actual int8 quantizer (qparams from
 *               qb_qparams_from_range: float scale, rounded zero point) is
 *               integrated exactly: rounding error inside the representable
 *               range, clipping error outside it. Candidates (bins of them,
 *               f = i/bins for i = bins..1):
 *                 symmetric:             [-f*M, f*M], M = max(|min|, |max|)
 *                 asymmetric, min >= 0:  [0, f*max]
 *                 asymmetric, max <= 0:  [f*min, 0]
 *                 asymmetric, mixed:     [f*min, f*max], then up to 3
 *                   rounds of coordinate descent: each end rescanned over
 *                   the same grid (f*min, resp. f*max) with the other fixed
 *               The smallest expected error wins; ties keep the larger range.
 *   kl          TensorRT's entropy calibrator (its published pseudocode,
 *               details as in MXNet's and TVM's port): histogram of |x| with `bins` bins over
 *               [0, M]. L quantization levels: 256 when the quantizer is
 *               asymmetric and the data one-signed (all 256 int8 codes lie
 *               on one side of 0), else 128 (the codes 0..127 of one sign
 *               of a symmetric quantizer); but mixed-sign data under the
 *               asymmetric quantizer, shorter side of extent m, gets per
 *               candidate T the codes that quantizer puts on [0, T],
 *               255 T / (T + min(m, T)) + 1 (about 250 for a HardSwish
 *               output, 128 for a range symmetric about 0). For i = L .. bins
 *               (L = 128 in the mixed-sign case): P = hist[0..i)
 *               with the outliers sum(hist[i..bins)) added to P[i-1];
 *               Q = hist[0..i) merged into L runs of consecutive bins,
 *               level l covering [floor(l i / L), floor((l+1) i / L)) (the
 *               remainder spread evenly; MXNet's port puts it all into the
 *               last level, which made thresholds erratic), every level's
 *               count spread evenly over its bins where P is non-zero, and
 *               Q = 0 where P = 0; both smoothed (zero bins get eps = 1e-4, non-zero
 *               bins lose eps * zeros / nonzeros; a candidate whose Q would
 *               become non-positive is skipped); KL(P || Q) of the
 *               normalised distributions. The first minimum gives
 *               T = i * M / bins, and the range is [-T, T] intersected with
 *               [min, max] (so ReLU outputs get [0, T]), extended to 0.
 *               Clipping guard (not in TensorRT): when the expected squared
 *               error at T (clipping + rounding on the |x| histogram, as
 *               ptq-mse computes it; quantizer [-T, T], [0, T] with 256
 *               levels, or [-min(m, T), T] asymmetric in the mixed-sign
 *               case) exceeds that at T = M, T becomes the smallest
 *               larger candidate i * M / bins whose error does not (KL
 *               charges a clipped outlier for its count, not its distance,
 *               and clips high-energy outlier channels).
 * symmetric = 1 then makes every range [-m, m] with m = max(|lo|, |hi|).
 */
#ifndef QB_QUANT_H
#define QB_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "harness/qmath/method.h" /* qb_calib */

/* ---- activation quantization parameters ---- */

/* Activation quantization parameters: q = clamp(rne(x / scale) + zero, qmin, qmax). */
typedef struct qb_qparams {
    float scale;     /* real value of one step, > 0 and finite */
    int32_t zero;    /* zero point: the code of the real value 0 */
    int32_t qmin;    /* smallest code (-128 asymmetric, -127 symmetric) */
    int32_t qmax;    /* largest code (127) */
} qb_qparams;

/* ---- observers (calibration) ---- */

typedef struct qb_observer qb_observer; /* opaque */

/* percentile: e.g. 99.99 (used by PERCENTILE only; <= 0 gives 99.99, values
 * are clamped to [50, 100]); bins: histogram bins (2048 default when <= 0).
 * NULL on OOM or an unknown kind. */
qb_observer *qb_observer_new(qb_calib kind, double percentile, int bins);
void qb_observer_free(qb_observer *o);
/* running min/max; counts and skips NaN/Inf */
void qb_observer_pass1(qb_observer *o, const float *x, size_t n);
/* percentile, mse, kl: histogram needed */
int qb_observer_needs_pass2(const qb_observer *o);
/* Histogram over the pass-1 range (fixed at the first pass-2 call); values
 * outside it are counted in the end bins (and reported by range). NaN/Inf
 * skipped. A no-op for minmax. */
void qb_observer_pass2(qb_observer *o, const float *x, size_t n);
/* The chosen clipping range, always containing 0 (lo <= 0 <= hi). symmetric: lo = -hi.
 * Returns 0, or 1 with a warning in warn (no finite values seen, zero range,
 * NaN/Inf skipped: say how many; pass 2 missing: minmax used). */
int qb_observer_range(const qb_observer *o, int symmetric, float *lo, float *hi, char *warn, size_t len);
/* The observer's kind. */
qb_calib qb_observer_kind(const qb_observer *o);
/* Pass-1 statistics: min and max of the finite values (0 when none), and
 * how many finite and non-finite values were seen (any pointer may be NULL). */
void qb_observer_stats(const qb_observer *o, float *min, float *max, uint64_t *finite, uint64_t *nonfinite);

/* ---- qparams, quantize, dequantize, fake quant ---- */

/* int8 qparams for a range: asymmetric -> [-128,127] with zero point; symmetric -> zero 0, [-127,127].
 * The range is first extended to include 0. Zero-width or non-finite ranges
 * give a usable scale (never 0, never NaN: scale 1 for a zero-width range,
 * non-finite bounds replaced by 0) and return 1 with a warning. */
int qb_qparams_from_range(float lo, float hi, int symmetric, qb_qparams *qp, char *warn, size_t len);
/* round half to even (like ONNX QuantizeLinear), saturating; NaN -> zero point */
int8_t qb_quantize1(float x, const qb_qparams *qp);
void qb_quantize(const float *x, size_t n, const qb_qparams *qp, int8_t *q);
/* scale * (q - zero) */
void qb_dequantize(const int8_t *q, size_t n, const qb_qparams *qp, float *x);
/* Fake quantization for QAT: dequantize(quantize(x)). */
float qb_fake_quant(float x, const qb_qparams *qp);
/* The clipped STE mask: 1 if x is inside the representable range, i.e.
 * qmin <= rne(x / scale) + zero <= qmax before saturation (as PyTorch's
 * fake_quantize backward); 0 outside and for NaN. */
int qb_fake_quant_pass(float x, const qb_qparams *qp);

/* ---- weights ---- */

/* Weights (N x K row-major), symmetric. int8: q in [-127,127], scale per channel (N) or per tensor (1);
 * all-zero rows get scale 1 (no division by zero). int4: q in [-7,7] (never -8), group G along K (0 = per channel),
 * scale[n * ngroups + g]; binary: alpha[n] = mean |w| of row n. Return 0, or 1 with a warning (zero rows,
 * NaN/Inf weights: name nothing, say how many; NaN weights quantize to 0). Scales are
 * max|w| / 127 (int8) or max|w| / 7 (int4) over the finite weights of the
 * channel / tensor / group; +-Inf weights saturate to +-127 (+-7). */
int qb_quant_w_int8(const float *w, int n, int k, int per_channel, int8_t *q, float *scale, char *warn, size_t len);
int qb_quant_w_int4(const float *w, int n, int k, int group, int8_t *q, float *scale, char *warn, size_t len);
/* alpha[n] = sum of |w| over the finite weights of row n, divided by k (NaN/Inf count as 0). */
void qb_quant_w_binary(const float *w, int n, int k, float *alpha);
/* ceil(k/group), 1 when group <= 0 (or group >= k) */
int qb_int4_ngroups(int k, int group);

/* ---- messages ---- */

/* Append a formatted message to buf (NULL or len 0: nothing), separated
 * from earlier text by "; ", truncated to fit. */
void qb_msg_append(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
