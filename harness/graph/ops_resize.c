/*
 * ops_resize.c - Resize (opsets 10 to 17) and the older Upsample on float
 * tensors of any rank: modes nearest (round_prefer_floor/ceil, floor,
 * ceil), linear and cubic (cubic_coeff_a, exclude_outside); coordinate
 * transformations half_pixel, pytorch_half_pixel, align_corners,
 * asymmetric, tf_half_pixel_for_nn and tf_crop_and_resize (roi,
 * extrapolation_value); output from scales or sizes. Scales, sizes and roi
 * must be constant. Coordinates are computed in float as onnxruntime
 * does; the interpolation is separable: one pass per resized axis, each
 * output element a weighted sum of 1, 2 or 4 taps of a table built at
 * prepare (taps clamped to the edge, as the ONNX reference pads).
 * Nearest axes that only copy (no extrapolation) gather rows directly
 * (integer upsampling: each value repeated), and nearest over the last two
 * axes is one pass whose repeated rows are memcpy'd (planes split across
 * threads; doubling with SSE2 unpacks).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "harness/graph/ops.h"
#include "harness/graph/par.h"

enum { NEAREST, LINEAR, CUBIC };
enum { HALF_PIXEL, PYTORCH_HALF_PIXEL, ALIGN_CORNERS, ASYMMETRIC, TF_HALF_PIXEL_FOR_NN, TF_CROP_AND_RESIZE };
enum { ROUND_PREFER_FLOOR, ROUND_PREFER_CEIL, FLOOR, CEIL, SIMPLE /* opset < 11: floor, ceil when downsampling */ };

typedef struct axis_plan {
    int64_t out;     /* output length */
    int taps;        /* 1, 2 or 4 */
    int64_t *idx;    /* out x taps source indices; -1: the extrapolation value */
    float *w;        /* out x taps weights */
    int copy;        /* one tap, never the extrapolation value: every output is a copy of an input */
    int64_t rep;     /* copy, and output o is input o / rep (integer upsampling); else 0 */
} axis_plan;

typedef struct resize_state {
    int rank;                      /* tensor rank */
    int active[QB_MAX_DIMS];       /* axes that are resampled, in pass order */
    int nactive;                   /* how many */
    axis_plan ax[QB_MAX_DIMS];     /* per axis */
    float extrapolation;           /* tf_crop_and_resize: value outside the roi */
    size_t buf_elems;              /* largest intermediate (elements) */
} resize_state;

static void resize_free(void *p)
{
    resize_state *s = p;
    for (int i = 0; s && i < s->rank; i++) {
        free(s->ax[i].idx);
        free(s->ax[i].w);
    }
    free(s);
}

static int name_index(const char *v, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(v, names[i]))
            return i;
    return -1;
}

/* Float coordinate in the input of output index x; out is the resized
 * length in * scale, not rounded (as the ONNX reference and onnxruntime). */
static float original(int ctm, int64_t x, float scale, int64_t in, float out, float roi_start, float roi_end)
{
    float fx = (float)x;
    switch (ctm) {
    case HALF_PIXEL: return (fx + 0.5f) / scale - 0.5f;
    case PYTORCH_HALF_PIXEL: return out > 1 ? (fx + 0.5f) / scale - 0.5f : 0.0f;
    case ALIGN_CORNERS: return out == 1 ? 0.0f : fx * (float)(in - 1) / (out - 1);
    case ASYMMETRIC: return fx / scale;
    case TF_HALF_PIXEL_FOR_NN: return (fx + 0.5f) / scale;
    default: /* tf_crop_and_resize */
        return out > 1 ? roi_start * (float)(in - 1) + fx * (roi_end - roi_start) * (float)(in - 1) / (out - 1)
                       : 0.5f * (roi_start + roi_end) * (float)(in - 1);
    }
}

static int64_t nearest(int nm, float x, int down)
{
    switch (nm) {
    case ROUND_PREFER_FLOOR: return (int64_t)ceilf(x - 0.5f);
    case ROUND_PREFER_CEIL: return (int64_t)floorf(x + 0.5f);
    case FLOOR: return (int64_t)floorf(x);
    case CEIL: return (int64_t)ceilf(x);
    default: return down ? (int64_t)ceilf(x) : (int64_t)x;
    }
}

static void cubic_coeffs(float r, float a, float *c)
{
    c[0] = ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a;
    c[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
    c[2] = ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1;
    c[3] = ((a * ((1 - r) + 1) - 5 * a) * ((1 - r) + 1) + 8 * a) * ((1 - r) + 1) - 4 * a;
}

static void plan_axis(axis_plan *p, int mode, int ctm, int nm, float a, int exclude, float scale, int64_t in,
                      float rs, float re)
{
    int T = mode == NEAREST ? 1 : mode == LINEAR ? 2 : 4;
    p->taps = T;
    p->idx = malloc((size_t)(p->out * T + 1) * sizeof *p->idx);
    p->w = malloc((size_t)(p->out * T + 1) * sizeof *p->w);
    for (int64_t o = 0; o < p->out; o++) {
        int64_t *ix = p->idx + o * T;
        float *w = p->w + o * T, x = original(ctm, o, scale, in, scale * (float)in, rs, re);
        if (ctm == TF_CROP_AND_RESIZE && (x < 0 || x > (float)(in - 1))) {
            for (int t = 0; t < T; t++)
                ix[t] = -1, w[t] = t == 0;
            continue;
        }
        if (mode == NEAREST) {
            int64_t i = nearest(nm, x, scale < 1.0f);
            ix[0] = i < 0 ? 0 : i >= in ? in - 1 : i;
            w[0] = 1;
        } else if (mode == LINEAR) {
            float xc = x < 0 ? 0 : x > (float)(in - 1) ? (float)(in - 1) : x;
            int64_t i0 = (int64_t)xc, i1 = i0 + 1 < in ? i0 + 1 : in - 1;
            ix[0] = i0, ix[1] = i1;
            w[1] = xc - (float)i0;
            w[0] = 1.0f - w[1];
        } else {
            float fl = floorf(x), sum = 0;
            int64_t i = (int64_t)fl;
            cubic_coeffs(x - fl, a, w);
            for (int t = 0; t < 4; t++) {
                int64_t k = i - 1 + t;
                if (exclude && (k < 0 || k >= in))
                    w[t] = 0;
                sum += w[t];
                ix[t] = k < 0 ? 0 : k >= in ? in - 1 : k;
            }
            if (exclude && sum != 0)
                for (int t = 0; t < 4; t++)
                    w[t] /= sum;
        }
    }
}

/* p->copy and p->rep of a planned axis of in input values. */
static void plan_copies(axis_plan *p, int64_t in)
{
    p->copy = p->taps == 1;
    for (int64_t o = 0; o < p->out && p->copy; o++)
        p->copy = p->idx[o] >= 0;
    int64_t r = p->out / (in > 0 ? in : 1);
    p->rep = p->copy && r >= 1 && p->out == in * r ? r : 0;
    for (int64_t o = 0; o < p->out && p->rep; o++)
        if (p->idx[o] != o / r)
            p->rep = 0;
}

static int resize_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    if (x->dtype != QB_DT_FLOAT) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "element type %s is not supported (float32 only)", qb_dtype_name(x->dtype));
        return -1;
    }
    if (qb_tensor_count(x) == 0) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_SHAPE,
                            "input '%s' is zero-sized; zero-sized tensors are not supported by Resize", x->name);
        return -1;
    }
    int r = x->ndim, upsample = !strcmp(n->op, "Upsample"), old = upsample || g->opset < 11;
    static const char *const modes[] = {"nearest", "linear", "cubic", NULL};
    static const char *const ctms[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                       "tf_half_pixel_for_nn", "tf_crop_and_resize", NULL};
    static const char *const nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil", NULL};
    const char *ms = qb_attr_str(n, "mode", "nearest");
    int mode = !strcmp(ms, "bilinear") ? LINEAR : name_index(ms, modes);
    int ctm = old ? ASYMMETRIC : name_index(qb_attr_str(n, "coordinate_transformation_mode", "half_pixel"), ctms);
    int nm = old ? SIMPLE : name_index(qb_attr_str(n, "nearest_mode", "round_prefer_floor"), nms);
    if (mode < 0 || ctm < 0 || nm < 0 || (old && mode == CUBIC)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR,
                            "mode '%s', coordinate_transformation_mode '%s' or nearest_mode '%s' is not supported", ms,
                            qb_attr_str(n, "coordinate_transformation_mode", "half_pixel"),
                            qb_attr_str(n, "nearest_mode", "round_prefer_floor"));
        return -1;
    }
    if (qb_attr_int(n, "antialias", 0) || qb_node_attr(n, "axes") || qb_node_attr(n, "keep_aspect_ratio_policy")) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR,
                            "the opset-18 attributes antialias, axes and keep_aspect_ratio_policy are not supported");
        return -1;
    }
    /* inputs: Upsample (X, scales) or attribute scales; Resize-10 (X, scales); Resize-11+ (X, roi, scales, sizes) */
    qb_tensor *troi = NULL, *tsc = NULL, *tsz = NULL;
    if (old) {
        tsc = qb_in(g, n, 1);
    } else {
        troi = qb_in(g, n, 1), tsc = qb_in(g, n, 2), tsz = qb_in(g, n, 3);
    }
    if (tsc && qb_tensor_count(tsc) == 0)
        tsc = NULL;
    if (tsz && qb_tensor_count(tsz) == 0)
        tsz = NULL;
    if ((troi && troi->kind != QB_T_CONST) || (tsc && tsc->kind != QB_T_CONST) || (tsz && tsz->kind != QB_T_CONST)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_DYNAMIC,
                            "roi, scales and sizes must be constant (computed from initializers only)");
        return -1;
    }
    float scales[QB_MAX_DIMS];
    int64_t out[QB_MAX_DIMS];
    const float *asc = NULL;
    if (upsample && !tsc && qb_node_attr(n, "scales")) { /* Upsample-7 */
        const qb_attr *sa = qb_node_attr(n, "scales");
        if (sa->type != QB_ATTR_FLOATS || sa->n != r) {
            QB_NODE_ERR(e, g, n, "attribute scales must have %d values", r);
            return -1;
        }
        asc = sa->floats;
    }
    if (tsz) {
        if (!qb_dtype_is_int(tsz->dtype) || qb_tensor_count(tsz) != r) {
            QB_NODE_ERR(e, g, n, "sizes must be %d integers", r);
            return -1;
        }
        for (int i = 0; i < r; i++) {
            out[i] = qb_int_at(tsz, i);
            if (out[i] <= 0) {
                QB_NODE_ERR(e, g, n, "sizes[%d] = %lld must be positive", i, (long long)out[i]);
                return -1;
            }
            scales[i] = (float)out[i] / (float)x->dims[i];
        }
    } else if (tsc || asc) {
        if (tsc && (tsc->dtype != QB_DT_FLOAT || qb_tensor_count(tsc) != r)) {
            QB_NODE_ERR(e, g, n, "scales must be %d float32 values", r);
            return -1;
        }
        for (int i = 0; i < r; i++) {
            scales[i] = tsc ? ((const float *)tsc->data)[i] : asc[i];
            if (!(scales[i] > 0) || !isfinite(scales[i])) {
                QB_NODE_ERR(e, g, n, "scales[%d] = %g must be positive", i, scales[i]);
                return -1;
            }
            out[i] = (int64_t)(scales[i] * (float)x->dims[i]);
            if (out[i] < 1) {
                QB_NODE_ERR(e, g, n, "scales[%d] = %g makes axis %d empty", i, scales[i], i);
                return -1;
            }
        }
    } else {
        QB_NODE_ERR(e, g, n, "needs scales or sizes");
        return -1;
    }
    float rs[QB_MAX_DIMS], re[QB_MAX_DIMS];
    for (int i = 0; i < r; i++)
        rs[i] = 0, re[i] = 1;
    if (ctm == TF_CROP_AND_RESIZE) {
        if (!troi || qb_tensor_count(troi) != 2 * r) {
            QB_NODE_ERR(e, g, n, "tf_crop_and_resize needs roi with %d values", 2 * r);
            return -1;
        }
        for (int i = 0; i < r; i++)
            rs[i] = (float)qb_get_d(troi, i), re[i] = (float)qb_get_d(troi, r + i);
    }
    resize_state *s = calloc(1, sizeof *s);
    n->state = s;
    n->free_state = resize_free;
    s->rank = r;
    s->extrapolation = qb_attr_float(n, "extrapolation_value", 0.0f);
    float a = qb_attr_float(n, "cubic_coeff_a", -0.75f);
    int exclude = (int)qb_attr_int(n, "exclude_outside", 0);
    int64_t cur[QB_MAX_DIMS];
    memcpy(cur, x->dims, sizeof cur);
    s->buf_elems = 1;
    for (int i = 0; i < r; i++) {
        s->ax[i].out = out[i];
        if (out[i] == x->dims[i] && scales[i] == 1.0f && ctm != TF_CROP_AND_RESIZE)
            continue; /* the identity */
        plan_axis(&s->ax[i], mode, ctm, nm, a, exclude, scales[i], x->dims[i], rs[i], re[i]);
        plan_copies(&s->ax[i], x->dims[i]);
        s->active[s->nactive++] = i;
        cur[i] = out[i];
        int64_t c = qb_shape_count(r, cur);
        if (c < 0) {
            QB_NODE_ERR(e, g, n, "the output is too large");
            return -1;
        }
        if ((size_t)c > s->buf_elems)
            s->buf_elems = (size_t)c;
    }
    n->scratch = s->nactive > 1 ? 2 * s->buf_elems * sizeof(float) : 0;
    qb_set_out(g, n, 0, QB_DT_FLOAT, r, out);
    return 0;
}

/* One row of a copy axis (p->copy): dst[o] = src[idx[o]], each input
 * value repeated p->rep times when the axis is an integer upsampling. */
static void copy_row(const axis_plan *p, const float *src, float *dst)
{
    if (p->rep == 2) {
        int64_t i = 0;
#if defined(__SSE2__)
        for (; i + 4 <= p->out / 2; i += 4) { /* four values, each twice: one load, two stores */
            __m128 v = _mm_loadu_ps(src + i);
            _mm_storeu_ps(dst + 2 * i, _mm_unpacklo_ps(v, v));
            _mm_storeu_ps(dst + 2 * i + 4, _mm_unpackhi_ps(v, v));
        }
#endif
        for (; i < p->out / 2; i++)
            dst[2 * i] = dst[2 * i + 1] = src[i];
    } else if (p->rep) {
        for (int64_t i = 0, r = p->rep; i < p->out / r; i++)
            for (int64_t t = 0; t < r; t++)
                dst[i * r + t] = src[i];
    } else {
        for (int64_t o = 0; o < p->out; o++)
            dst[o] = src[p->idx[o]];
    }
}

/* Both of the last two axes copy axes (nearest, no extrapolation): one
 * pass over (outer, ih, iw) -> (outer, oh, ow); an output row reading the
 * previous output row's source row is a memcpy of it. Copies only: the
 * same values as the two passes. */
typedef struct copy_hw_job {
    const axis_plan *ph, *pw; /* the plans of the last two axes */
    const float *src;         /* input, (outer, ih, iw) */
    float *dst;               /* output, (outer, oh, ow) */
    int64_t ih, iw;           /* input plane */
} copy_hw_job;

/* Planes [b0, b1) of copy_hw. */
static void copy_hw_planes(void *ctx, int64_t b0, int64_t b1)
{
    const copy_hw_job *j = ctx;
    const axis_plan *ph = j->ph, *pw = j->pw;
    const float *src = j->src;
    float *dst = j->dst;
    const int64_t oh = ph->out, ow = pw->out, ih = j->ih, iw = j->iw;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t oy = 0; oy < oh; oy++) {
            float *d = dst + (b * oh + oy) * ow;
            if (oy > 0 && ph->idx[oy] == ph->idx[oy - 1])
                memcpy(d, d - ow, (size_t)ow * sizeof *d);
            else
                copy_row(pw, src + (b * ih + ph->idx[oy]) * iw, d);
        }
}

static void copy_hw(const axis_plan *ph, const axis_plan *pw, const float *src, float *dst, int64_t outer, int64_t ih,
                    int64_t iw)
{
    copy_hw_job j = {ph, pw, src, dst, ih, iw};
    qb_gpar_for(outer, qb_gpar_chunk(outer, ph->out * pw->out, 1), copy_hw_planes, &j);
}

/* One pass along axis a: src has dims (outer, in, inner), dst (outer, out, inner). */
static void pass(const axis_plan *p, const float *src, float *dst, int64_t outer, int64_t in, int64_t inner, float extra)
{
    int T = p->taps;
    for (int64_t b = 0; b < outer; b++) {
        const float *sb = src + b * in * inner;
        float *db = dst + b * p->out * inner;
        if (inner == 1 && p->copy) { /* nearest on the last axis */
            copy_row(p, sb, db);
            continue;
        }
        if (inner == 1) { /* the last axis: one gather per element (the same sums as below), no memcpy per float */
            for (int64_t o = 0; o < p->out; o++) {
                const int64_t *ix = p->idx + o * T;
                const float *w = p->w + o * T;
                db[o] = ix[0] < 0   ? extra
                        : T == 1 ? sb[ix[0]]
                        : T == 2 ? w[0] * sb[ix[0]] + w[1] * sb[ix[1]]
                                 : w[0] * sb[ix[0]] + w[1] * sb[ix[1]] + w[2] * sb[ix[2]] + w[3] * sb[ix[3]];
            }
            continue;
        }
        for (int64_t o = 0; o < p->out; o++) {
            const int64_t *ix = p->idx + o * T;
            const float *w = p->w + o * T;
            float *d = db + o * inner;
            if (ix[0] < 0) {
                for (int64_t j = 0; j < inner; j++)
                    d[j] = extra;
                continue;
            }
            if (T == 1) {
                memcpy(d, sb + ix[0] * inner, (size_t)inner * sizeof *d);
            } else if (T == 2) {
                const float *s0 = sb + ix[0] * inner, *s1 = sb + ix[1] * inner;
                for (int64_t j = 0; j < inner; j++)
                    d[j] = w[0] * s0[j] + w[1] * s1[j];
            } else {
                const float *s0 = sb + ix[0] * inner, *s1 = sb + ix[1] * inner, *s2 = sb + ix[2] * inner,
                            *s3 = sb + ix[3] * inner;
                for (int64_t j = 0; j < inner; j++)
                    d[j] = w[0] * s0[j] + w[1] * s1[j] + w[2] * s2[j] + w[3] * s3[j];
            }
        }
    }
}

static void resize_run(qb_graph *g, qb_node *n, void *scratch)
{
    const resize_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    if (!s->nactive) {
        memcpy(y->data, x->data, (size_t)qb_tensor_count(x) * sizeof(float));
        return;
    }
    int64_t cur[QB_MAX_DIMS];
    memcpy(cur, x->dims, sizeof cur);
    const float *src = x->data;
    int r = s->rank;
    if (s->nactive == 2 && r >= 2 && s->active[0] == r - 2 && s->active[1] == r - 1 && s->ax[r - 2].copy &&
        s->ax[r - 1].copy) { /* nearest over the last two axes (FPN upsampling) */
        copy_hw(&s->ax[r - 2], &s->ax[r - 1], src, y->data, qb_shape_count(r - 2, cur), cur[r - 2], cur[r - 1]);
        return;
    }
    float *bufs[2] = {scratch, scratch ? (float *)scratch + s->buf_elems : NULL};
    for (int k = 0; k < s->nactive; k++) {
        int a = s->active[k];
        int64_t outer = 1, inner = 1;
        for (int i = 0; i < a; i++)
            outer *= cur[i];
        for (int i = a + 1; i < s->rank; i++)
            inner *= cur[i];
        float *dst = k == s->nactive - 1 ? (float *)y->data : bufs[k & 1];
        pass(&s->ax[a], src, dst, outer, cur[a], inner, s->extrapolation);
        cur[a] = s->ax[a].out;
        src = dst;
    }
}

int qb_resize_upsampling(const qb_graph *g, const qb_node *n, int64_t *rh, int64_t *rw)
{
    if (n->folded || n->fused_into >= 0 || (n->def != &qb_ops_resize[0] && n->def != &qb_ops_resize[1]) || !n->state)
        return 0;
    const resize_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    if (s->rank != 4 || !s->nactive || !x || x->dtype != QB_DT_FLOAT)
        return 0;
    for (int k = 0; k < s->nactive; k++)
        if (s->active[k] < 2 || !s->ax[s->active[k]].rep)
            return 0;
    *rh = s->ax[2].rep ? s->ax[2].rep : 1;
    *rw = s->ax[3].rep ? s->ax[3].rep : 1;
    return 1;
}

const qb_opdef qb_ops_resize[] = {
    {"Resize", resize_prepare, resize_run, NULL, QB_OPF_ZERO_SIZE /* an empty roi or scales */, 1u << 1 | 1u << 2 | 1u << 3},
    {"Upsample", resize_prepare, resize_run, NULL, 0, 1u << 1},
    {NULL, NULL, NULL, NULL, 0, 0},
};
