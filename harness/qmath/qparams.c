/*
 * qparams.c - activation quantization parameters from a range, quantize /
 * dequantize (round half to even, saturating, as ONNX QuantizeLinear and
 * DequantizeLinear), fake quantization and its clipped straight-through
 * mask for QAT, and the message helper.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "harness/qmath/quant.h"
#include "kernels/quantize.h" /* QuantizeLinear / DequantizeLinear */

void qb_msg_append(char *buf, size_t len, const char *fmt, ...)
{
    if (!buf || len == 0)
        return;
    size_t used = strnlen(buf, len);
    if (used >= len - 1)
        return;
    if (used > 0) {
        int w = snprintf(buf + used, len - used, "; ");
        if (w < 0)
            return;
        used += (size_t)w;
        if (used >= len - 1)
            return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

int qb_qparams_from_range(float lo, float hi, int symmetric, qb_qparams *qp, char *warn, size_t len)
{
    int ret = 0;
    if (!isfinite(lo) || !isfinite(hi)) {
        qb_msg_append(warn, len, "non-finite range [%g, %g]: non-finite bounds replaced by 0", lo, hi);
        if (!isfinite(lo))
            lo = 0;
        if (!isfinite(hi))
            hi = 0;
        ret = 1;
    }
    if (lo > 0)
        lo = 0;
    if (hi < 0)
        hi = 0;
    if (symmetric) {
        double m = fmax(-(double)lo, (double)hi);
        float s = (float)(m / 127.0);
        qp->zero = 0;
        qp->qmin = -127;
        qp->qmax = 127;
        if (!(s > 0) || !isfinite(s)) {
            qb_msg_append(warn, len, "zero-width range [%g, %g]: scale 1 used", lo, hi);
            s = 1;
            ret = 1;
        }
        qp->scale = s;
        return ret;
    }
    qp->qmin = -128;
    qp->qmax = 127;
    float s = (float)(((double)hi - (double)lo) / 255.0);
    if (!(s > 0) || !isfinite(s)) {
        qb_msg_append(warn, len, "zero-width range [%g, %g]: scale 1 used", lo, hi);
        qp->scale = 1;
        qp->zero = 0;
        return 1;
    }
    /* zero = rne(qmin - lo / scale): the code that represents 0 exactly */
    double z = nearbyint(-128.0 - (double)lo / (double)s);
    if (z < -128)
        z = -128;
    if (z > 127)
        z = 127;
    qp->scale = s;
    qp->zero = (int32_t)z;
    return ret;
}

int8_t qb_quantize1(float x, const qb_qparams *qp)
{
    return qb_quantize1_i8(x, qp->scale, qp->zero, qp->qmin, qp->qmax);
}

void qb_quantize(const float *x, size_t n, const qb_qparams *qp, int8_t *q)
{
    qb_quantize_i8(x, n, qp->scale, qp->zero, qp->qmin, qp->qmax, q);
}

void qb_dequantize(const int8_t *q, size_t n, const qb_qparams *qp, float *x)
{
    qb_dequantize_i8(q, n, qp->scale, qp->zero, x);
}

float qb_fake_quant(float x, const qb_qparams *qp)
{
    return (float)((int32_t)qb_quantize1(x, qp) - qp->zero) * qp->scale;
}

int qb_fake_quant_pass(float x, const qb_qparams *qp)
{
    if (isnan(x / qp->scale))
        return 0;
    /* the code before saturation (kernels/quantize.h: beyond +-256 it is
     * out of [qmin, qmax] either way) */
    int32_t v = qb_quantize_rne(x, qp->scale) + qp->zero;
    return v >= qp->qmin && v <= qp->qmax;
}
