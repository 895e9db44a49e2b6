/*
 * dw_geom.h - the window geometry every depthwise kernel shares (static
 * inline, plain C, so each ISA's file and the SIMDe build may include it):
 * which taps of an output pixel fall inside the image, and which output
 * pixels have their whole window inside it. Along one axis, output o reads
 * input i = o * stride - pad + k * dil for taps k = 0 .. taps-1; the taps
 * inside [0, size) are one contiguous range since i grows with k.
 */
#ifndef QB_DW_GEOM_H
#define QB_DW_GEOM_H

#include "kernels/kernels.h"

/* Taps [*k0, *k1) of output o lie inside [0, size) (empty: *k0 == *k1). */
static inline void qb_dw_taps(int o, int stride, int pad, int dil, int taps, int size, int *k0, int *k1)
{
    long i0 = (long)o * stride - pad; /* input of tap 0 */
    long lo = i0 >= 0 ? 0 : (-i0 + dil - 1) / dil;
    long hi = i0 >= size ? 0 : (size - i0 + dil - 1) / dil; /* first tap at or past size */
    if (hi > taps)
        hi = taps;
    if (lo > hi)
        lo = hi;
    *k0 = (int)lo;
    *k1 = (int)hi;
}

/* Outputs [*lo, *hi) within [0, out) whose every tap lies inside [0, size). */
static inline void qb_dw_inner(int size, int stride, int pad, int dil, int taps, int out, int *lo, int *hi)
{
    long span = (long)(taps - 1) * dil; /* input rows a window covers, minus one */
    long l = (pad + stride - 1) / stride;
    long h = size - 1 - span + pad >= 0 ? (size - 1 - span + pad) / stride + 1 : 0;
    *lo = (int)(l < out ? l : out);
    *hi = (int)(h < *lo ? *lo : h > out ? out : h);
}

/* Nonzero for the shape the 3x3 fast paths serve: 3x3, dilation 1, the
 * same stride (1 or 2) along both axes. */
static inline int qb_dw_is3x3(const qb_dw_args *a)
{
    return a->kh == 3 && a->kw == 3 && a->dil_h == 1 && a->dil_w == 1 && a->stride_h == a->stride_w &&
           (a->stride_h == 1 || a->stride_h == 2);
}

#endif
