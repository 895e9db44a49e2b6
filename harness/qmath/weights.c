/*
 * weights.c - symmetric weight quantizers: int8 per tensor or per output
 * channel (q in [-127, 127], scale = max|w| / 127), int4 per group of G
 * along K (q in [-7, 7], scale = max|w| / 7 per group), and binary
 * (alpha = mean |w| per output channel; the signs are the weights).
 * q = clamp(rne(w / scale)) with w / scale in float. Zero rows or groups
 * get scale 1; NaN weights become 0, +-Inf saturate; both are counted in
 * the warning, which names nothing (the caller names the tensor).
 */
#include <math.h>
#include <stddef.h>

#include "harness/qmath/quant.h"
#include "kernels/quantize.h"

int qb_int4_ngroups(int k, int group)
{
    if (group <= 0 || k <= 0)
        return 1;
    return (k + group - 1) / group;
}

/* max |w| over the finite values of w[0..n) */
static float absmax(const float *w, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(w[i]);
        if (isfinite(a) && a > m)
            m = a;
    }
    return m;
}

static size_t count_nonfinite(const float *w, size_t n, size_t *nan)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(w[i]))
            (*nan)++;
        else if (isinf(w[i]))
            c++;
    }
    return c;
}

/* scale = m / levels, or 1 (and *zero += 1) when that is not positive */
static float scale_of(float m, float levels, size_t *zero)
{
    float s = m / levels;
    if (!(s > 0) || !isfinite(s)) {
        (*zero)++;
        return 1;
    }
    return s;
}

/* q = clamp(rne(w / s), -lim, lim), NaN -> 0: QuantizeLinear with zero
 * point 0 (kernels/quantize.h) */
static void quant_span(const float *w, size_t n, float s, int lim, int8_t *q)
{
    qb_quantize_i8(w, n, s, 0, -lim, lim, q);
}

static int report(char *warn, size_t len, size_t zero, const char *what, size_t nan, size_t inf)
{
    int ret = 0;
    if (zero) {
        qb_msg_append(warn, len, "%zu all-zero %s (scale 1)", zero, what);
        ret = 1;
    }
    if (nan || inf) {
        qb_msg_append(warn, len, "%zu NaN weights (quantized to 0) and %zu Inf weights (saturated)", nan, inf);
        ret = 1;
    }
    return ret;
}

int qb_quant_w_int8(const float *w, int n, int k, int per_channel, int8_t *q, float *scale, char *warn, size_t len)
{
    size_t zero = 0, nan = 0, inf = 0;
    size_t kk = k > 0 ? (size_t)k : 0, nn = n > 0 ? (size_t)n : 0;
    inf = count_nonfinite(w, nn * kk, &nan);
    if (per_channel) {
        for (size_t r = 0; r < nn; r++) {
            scale[r] = scale_of(absmax(w + r * kk, kk), 127.0f, &zero);
            quant_span(w + r * kk, kk, scale[r], 127, q + r * kk);
        }
        return report(warn, len, zero, zero == 1 ? "row" : "rows", nan, inf);
    }
    scale[0] = scale_of(absmax(w, nn * kk), 127.0f, &zero);
    quant_span(w, nn * kk, scale[0], 127, q);
    return report(warn, len, zero, "tensor", nan, inf);
}

int qb_quant_w_int4(const float *w, int n, int k, int group, int8_t *q, float *scale, char *warn, size_t len)
{
    size_t zero = 0, nan = 0, inf = 0;
    size_t kk = k > 0 ? (size_t)k : 0, nn = n > 0 ? (size_t)n : 0;
    int ng = qb_int4_ngroups(k, group);
    size_t g_len = group <= 0 || (size_t)group > kk ? kk : (size_t)group;
    inf = count_nonfinite(w, nn * kk, &nan);
    for (size_t r = 0; r < nn; r++) {
        for (int g = 0; g < ng; g++) {
            size_t start = (size_t)g * g_len;
            size_t cnt = start + g_len <= kk ? g_len : kk - start;
            const float *src = w + r * kk + start;
            float s = scale_of(absmax(src, cnt), 7.0f, &zero);
            scale[r * (size_t)ng + (size_t)g] = s;
            quant_span(src, cnt, s, 7, q + r * kk + start);
        }
    }
    return report(warn, len, zero, zero == 1 ? "group" : "groups", nan, inf);
}

void qb_quant_w_binary(const float *w, int n, int k, float *alpha)
{
    size_t kk = k > 0 ? (size_t)k : 0;
    for (int r = 0; r < n; r++) {
        double sum = 0;
        for (size_t i = 0; i < kk; i++) {
            float a = fabsf(w[(size_t)r * kk + i]);
            if (isfinite(a))
                sum += a;
        }
        alpha[r] = kk ? (float)(sum / (double)kk) : 0.0f;
    }
}
