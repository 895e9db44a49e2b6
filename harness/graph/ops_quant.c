/*
 * ops_quant.c - ONNX's linear quantization operators, on runtime tensors
 * or folded at prepare time: QuantizeLinear and DequantizeLinear (per
 * tensor, or per axis with `axis` and 1-D scale / zero point) and
 * DynamicQuantizeLinear (uint8, range widened to include 0). They compute
 * what ONNX's reference implementation computes: float32 arithmetic
 * (x / scale, (x - zero_point) * scale), round half to even, saturation
 * to the output type. Also the rounding and parameter-check helpers
 * shared with ops_qlinear.c (declared in ops.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"
#include "kernels/quantize.h"

int qb_qrange(qb_dtype t, int32_t *lo, int32_t *hi)
{
    switch (t) {
    case QB_DT_UINT8: *lo = 0, *hi = 255; return 0;
    case QB_DT_INT8: *lo = -128, *hi = 127; return 0;
    default: return -1;
    }
}

int32_t qb_qround(double v, int32_t zp, int32_t lo, int32_t hi)
{
    /* nearbyint rounds half to even in the default rounding mode; NaN
     * (0/0, NaN inputs) gives the zero point, infinities saturate */
    double r = v != v ? 0.0 : nearbyint(v);
    r += zp;
    return r < lo ? lo : r > hi ? hi : (int32_t)r;
}

int qb_qparam_check(qb_graph *g, qb_node *n, int i, qb_dtype want, int64_t per_len, int divisor, qb_err *e)
{
    const qb_tensor *t = qb_in(g, n, i);
    if (!t)
        return 0;
    if (t->dtype != want) {
        QB_NODE_ERR(e, g, n, "input %d '%s' is %s, expected %s", i, t->name, qb_dtype_name(t->dtype),
                    qb_dtype_name(want));
        return -1;
    }
    int64_t c = qb_tensor_count(t);
    if (c != 1 && !(per_len > 0 && t->ndim == 1 && t->dims[0] == per_len)) {
        char sh[128];
        qb_shape_str(t->ndim, t->dims, sh, sizeof sh);
        if (per_len > 0)
            QB_NODE_ERR(e, g, n, "input %d '%s' has shape %s: expected one value or a 1-D tensor of %lld", i, t->name,
                        sh, (long long)per_len);
        else
            QB_NODE_ERR(e, g, n, "input %d '%s' has shape %s: expected one value (per tensor)", i, t->name, sh);
        return -1;
    }
    if (divisor && t->kind == QB_T_CONST)
        for (int64_t k = 0; k < c; k++) {
            float s = ((const float *)t->data)[k];
            if (s == 0 || !isfinite(s)) {
                QB_NODE_ERR(e, g, n, "scale '%s' element %lld is %g: it divides, it must be finite and nonzero",
                            t->name, (long long)k, s);
                return -1;
            }
        }
    return 0;
}

/* ---- QuantizeLinear / DequantizeLinear ---- */

typedef struct q_state {
    int per_axis;   /* 1-D scale and zero point along `axis` */
    int64_t axlen;  /* size of that axis */
    int64_t inner;  /* elements after it (one channel's run) */
    int32_t lo, hi; /* QuantizeLinear: output range */
} q_state;

/* Common part: x's type among allowed, scale float32 (one value or one
 * per element of `axis`), optional zero point of type zt (QB_DT_UNDEF:
 * int8 or uint8). */
static int q_prepare(qb_graph *g, qb_node *n, int quantize, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *s = x ? qb_need_in(g, n, 1, e) : NULL, *z = qb_in(g, n, 2);
    if (!s)
        return -1;
    if (qb_attr_int(n, "block_size", 0)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR, "blocked quantization (block_size) is not supported");
        return -1;
    }
    int xok = quantize ? x->dtype == QB_DT_FLOAT || x->dtype == QB_DT_INT32
                       : x->dtype == QB_DT_INT8 || x->dtype == QB_DT_UINT8 || x->dtype == QB_DT_INT32;
    if (!xok) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "input '%s' is %s; the element type must be %s", x->name, qb_dtype_name(x->dtype),
                            quantize ? "float32 or int32" : "int8, uint8 or int32");
        return -1;
    }
    q_state *st = calloc(1, sizeof *st);
    n->state = st;
    int axis = qb_axis(qb_attr_int(n, "axis", 1), x->ndim);
    st->per_axis = qb_tensor_count(s) != 1;
    if (st->per_axis) {
        if (axis < 0 || x->ndim == 0) {
            QB_NODE_ERR(e, g, n, "axis %lld is out of range for input '%s' of rank %d", (long long)qb_attr_int(n, "axis", 1),
                        x->name, x->ndim);
            return -1;
        }
        st->axlen = x->dims[axis];
        st->inner = qb_shape_count(x->ndim - axis - 1, x->dims + axis + 1);
    }
    if (qb_qparam_check(g, n, 1, QB_DT_FLOAT, st->per_axis ? st->axlen : 0, quantize, e))
        return -1;
    qb_dtype zt = z ? z->dtype : QB_DT_UINT8;
    if (quantize) {
        int64_t od = qb_attr_int(n, "output_dtype", 0);
        if (od && (od != QB_DT_UINT8 && od != QB_DT_INT8)) {
            QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                                "output_dtype %lld is not supported (uint8 or int8)", (long long)od);
            return -1;
        }
        if (od && z && od != (int64_t)z->dtype) {
            QB_NODE_ERR(e, g, n, "output_dtype %lld differs from the zero point's type %s", (long long)od,
                        qb_dtype_name(z->dtype));
            return -1;
        }
        if (od && !z)
            zt = (qb_dtype)od;
        if (qb_qrange(zt, &st->lo, &st->hi)) {
            QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                                "zero point '%s' is %s; the element type must be uint8 or int8", z->name,
                                qb_dtype_name(zt));
            return -1;
        }
    } else if (z && z->dtype != x->dtype) {
        QB_NODE_ERR(e, g, n, "zero point '%s' is %s but the input is %s (they must be the same type)", z->name,
                    qb_dtype_name(z->dtype), qb_dtype_name(x->dtype));
        return -1;
    }
    if (z && (qb_qparam_check(g, n, 2, zt, st->per_axis ? st->axlen : 0, 0, e)))
        return -1;
    if (z && qb_tensor_count(z) != qb_tensor_count(s)) {
        QB_NODE_ERR(e, g, n, "scale '%s' and zero point '%s' have different sizes", s->name, z->name);
        return -1;
    }
    qb_set_out(g, n, 0, quantize ? zt : QB_DT_FLOAT, x->ndim, x->dims);
    return 0;
}

static int quant_prepare(qb_graph *g, qb_node *n, qb_err *e) { return q_prepare(g, n, 1, e); }
static int dequant_prepare(qb_graph *g, qb_node *n, qb_err *e) { return q_prepare(g, n, 0, e); }

/* Elements that share one scale and zero point: all of them (per
 * tensor), or one channel's run of `inner` (per axis). */
static int64_t q_run_len(const q_state *st, int64_t cnt)
{
    return st->per_axis ? st->inner : cnt;
}

/* y = saturate(round(x / scale) + zero_point): float32 x divided in
 * float32 (kernels/quantize.h, the one QuantizeLinear of qbench), int32 x
 * in double (as numpy promotes int32 / float32). */
static void quant_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const q_state *st = n->state;
    const qb_tensor *x = qb_in(g, n, 0), *z = qb_in(g, n, 2);
    const float *s = qb_in(g, n, 1)->data;
    qb_tensor *y = qb_out(g, n, 0);
    int64_t cnt = qb_tensor_count(x), run = q_run_len(st, cnt);
    if (x->dtype == QB_DT_FLOAT) {
        for (int64_t o = 0; run > 0 && o < cnt; o += run) {
            int64_t c = st->per_axis ? o / st->inner % st->axlen : 0;
            int32_t zp = z ? (int32_t)qb_int_at(z, c) : 0;
            const float *xs = (const float *)x->data + o;
            if (y->dtype == QB_DT_INT8)
                qb_quantize_i8(xs, (size_t)run, s[c], zp, st->lo, st->hi, (int8_t *)y->data + o);
            else
                qb_quantize_u8(xs, (size_t)run, s[c], zp, (uint8_t *)y->data + o);
        }
        return;
    }
    for (int64_t i = 0; i < cnt; i++) {
        int64_t c = st->per_axis ? i / st->inner % st->axlen : 0;
        double v = x->dtype == QB_DT_FLOAT ? (double)(((const float *)x->data)[i] / s[c])
                                           : (double)((const int32_t *)x->data)[i] / (double)s[c];
        qb_set_i(y, i, qb_qround(v, z ? (int32_t)qb_int_at(z, c) : 0, st->lo, st->hi));
    }
}

/* y = (float(x) - float(zero_point)) * scale, in float32 (int8 and
 * uint8 x: kernels/quantize.h; x - zero_point is exact there). */
static void dequant_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const q_state *st = n->state;
    const qb_tensor *x = qb_in(g, n, 0), *z = qb_in(g, n, 2);
    const float *s = qb_in(g, n, 1)->data;
    float *y = qb_out(g, n, 0)->data;
    int64_t cnt = qb_tensor_count(x), run = q_run_len(st, cnt);
    if (x->dtype == QB_DT_INT8 || x->dtype == QB_DT_UINT8) {
        for (int64_t o = 0; run > 0 && o < cnt; o += run) {
            int64_t c = st->per_axis ? o / st->inner % st->axlen : 0;
            int32_t zp = z ? (int32_t)qb_int_at(z, c) : 0;
            if (x->dtype == QB_DT_INT8)
                qb_dequantize_i8((const int8_t *)x->data + o, (size_t)run, s[c], zp, y + o);
            else
                qb_dequantize_u8((const uint8_t *)x->data + o, (size_t)run, s[c], zp, y + o);
        }
        return;
    }
    for (int64_t i = 0; i < cnt; i++) {
        int64_t c = st->per_axis ? i / st->inner % st->axlen : 0;
        float zp = z ? (float)qb_int_at(z, c) : 0.0f;
        y[i] = ((float)qb_int_at(x, i) - zp) * s[c];
    }
}

/* ---- DynamicQuantizeLinear ---- */

static int dynq_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    if (x->dtype != QB_DT_FLOAT) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "input '%s' is %s; the element type must be float32", x->name, qb_dtype_name(x->dtype));
        return -1;
    }
    qb_set_out(g, n, 0, QB_DT_UINT8, x->ndim, x->dims);
    qb_set_out(g, n, 1, QB_DT_FLOAT, 0, NULL);
    qb_set_out(g, n, 2, QB_DT_UINT8, 0, NULL);
    return 0;
}

/* As ONNX's reference: min and max widened to include 0 (NaN elements
 * are left out), scale = (max - min) / 255 (1 when max == min, i.e. every
 * element is 0), zero point = rint(clip(0 - min / scale, 0, 255)), then
 * y = saturate(rint(x / scale) + zero point); all in float32. */
static void dynq_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *xt = qb_in(g, n, 0);
    const float *x = xt->data;
    int64_t cnt = qb_tensor_count(xt);
    float mn = 0.0f, mx = 0.0f;
    for (int64_t i = 0; i < cnt; i++) {
        mn = x[i] < mn ? x[i] : mn;
        mx = x[i] > mx ? x[i] : mx;
    }
    float scale = mx == mn ? 1.0f : (mx - mn) / 255.0f;
    float izp = 0.0f - mn / scale;
    izp = izp != izp ? 0.0f : izp < 0.0f ? 0.0f : izp > 255.0f ? 255.0f : izp;
    int32_t zp = (int32_t)nearbyintf(izp);
    uint8_t *y = qb_out(g, n, 0)->data;
    qb_quantize_u8(x, (size_t)cnt, scale, zp, y);
    qb_tensor *ys = qb_out(g, n, 1), *yz = qb_out(g, n, 2);
    if (ys)
        *(float *)ys->data = scale;
    if (yz)
        *(uint8_t *)yz->data = (uint8_t)zp;
}

const qb_opdef qb_ops_quant[] = {
    {"QuantizeLinear", quant_prepare, quant_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"DequantizeLinear", dequant_prepare, dequant_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"DynamicQuantizeLinear", dynq_prepare, dynq_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
