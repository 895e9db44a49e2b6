/*
 * ops_qlinear.c - ONNX's integer operators on quantized tensors:
 * MatMulInteger and QLinearMatMul (numpy matmul: 1-D promotion, batch
 * broadcast; zero points and scales per tensor, per row of A or per
 * column of B), ConvInteger and QLinearConv (1-3 spatial dims, groups,
 * pads, auto_pad, strides, dilations; weight zero point and scale per
 * tensor or per output channel). int8 and uint8 operands in any mix.
 *
 * Exact integer arithmetic: (x - x_zero_point) * (w - w_zero_point)
 * accumulated in int32 (wrapping, as ONNX allows overflow only there),
 * padding contributes 0 (as padding with the zero point). Operands less
 * their zero points lie in [-255, 255] and are held as int16, so the dot
 * products vectorize (pmaddwd-style int16 x int16 -> int32). QLinear*
 * requantize as ONNX's reference does: multiplier = (s_x * s_w) / s_y in
 * float32, y = saturate(rint(acc * multiplier) + y_zero_point) with the
 * product in double and rounding half to even.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

/* Sum of a[k] * b[k] for |a|, |b| <= 255, wrapped to 32 bits: exact int32
 * sums over chunks of 32768 products (each below 2^31 in magnitude, so no
 * signed overflow), the chunks added modulo 2^32. */
static uint32_t dot16(const int16_t *a, const int16_t *b, int64_t n)
{
    uint32_t acc = 0;
    for (int64_t k0 = 0; k0 < n; k0 += 32768) {
        int64_t k1 = n - k0 < 32768 ? n : k0 + 32768;
        int32_t sum = 0;
        for (int64_t k = k0; k < k1; k++)
            sum += a[k] * b[k];
        acc += (uint32_t)sum;
    }
    return acc;
}

/* Where a zero point or scale of a matmul operand lives: one value, or
 * one per row of A / column of B, possibly per batch matrix. */
typedef struct qvec {
    int per;                 /* 0: one value; 1: a vector of len per matrix */
    int64_t len;             /* M (per row of A) or N (per column of B) */
    int nb;                  /* the operand's batch rank */
    int64_t dims[QB_MAX_DIMS]; /* the operand's batch dims */
    int64_t st[QB_MAX_DIMS]; /* the parameter's stride in vectors per batch dim (0: shared) */
} qvec;

/* Element index of the parameter for operand matrix mi, row/column r. */
static int64_t qvec_at(const qvec *v, int64_t mi, int64_t r)
{
    if (!v->per)
        return 0;
    int64_t off = 0;
    for (int d = v->nb - 1; d >= 0; d--) {
        off += mi % v->dims[d] * v->st[d];
        mi /= v->dims[d];
    }
    return off * v->len + r;
}

typedef struct qmm_state {
    int64_t m, n, k;            /* each product: [m x k] . [k x n] */
    int64_t batch;              /* output matrices */
    int nb;                     /* output batch rank */
    int64_t bdims[QB_MAX_DIMS]; /* output batch dims */
    int64_t sa[QB_MAX_DIMS], sb[QB_MAX_DIMS]; /* batch strides of A and B in matrices (0: broadcast) */
    int64_t na, nbm;            /* matrices in A and in B */
    qvec za, zb, sca, scb;      /* zero points and scales of A and B */
    int qlinear;                /* QLinearMatMul (else MatMulInteger) */
    int ia, ib, iza, izb;       /* input indices of A, B and their zero points */
    int32_t lo, hi;             /* QLinearMatMul output range */
} qmm_state;

/* Check zero point or scale t (input i) of operand x (rank r, matrix dims
 * md[0] x md[1]): one value; a 1-D vector of len (per row: rows = 1, per
 * column: rows = 0); or x's rank with [..., len, 1] / [..., 1, len]
 * whose batch dims are x's or 1. */
static int qvec_setup(qb_graph *g, qb_node *n, int i, qb_dtype want, const qb_tensor *x, int r, const int64_t *xd,
                      int rows, int64_t len, qvec *v, qb_err *e)
{
    const qb_tensor *t = qb_in(g, n, i);
    memset(v, 0, sizeof *v);
    if (!t)
        return 0;
    if (t->dtype != want) {
        QB_NODE_ERR(e, g, n, "input %d '%s' is %s, expected %s (like '%s')", i, t->name, qb_dtype_name(t->dtype),
                    qb_dtype_name(want), x->name);
        return -1;
    }
    v->len = len;
    v->nb = r - 2;
    memcpy(v->dims, xd, (size_t)(r - 2) * sizeof *xd);
    if (qb_tensor_count(t) == 1)
        return 0;
    v->per = 1;
    if (t->ndim == 1 && t->dims[0] == len)
        return 0; /* the same vector for every matrix */
    int ok = t->ndim == x->ndim && x->ndim >= 2 && t->dims[t->ndim - 2] == (rows ? len : 1) &&
             t->dims[t->ndim - 1] == (rows ? 1 : len);
    int64_t acc = 1;
    for (int d = r - 3; ok && d >= 0; d--) {
        ok = t->dims[d] == xd[d] || t->dims[d] == 1;
        v->st[d] = t->dims[d] == 1 ? 0 : acc;
        acc *= t->dims[d];
    }
    if (!ok) {
        char sh[128], xs[128];
        qb_shape_str(t->ndim, t->dims, sh, sizeof sh);
        qb_shape_str(x->ndim, x->dims, xs, sizeof xs);
        QB_NODE_ERR(e, g, n, "input %d '%s' has shape %s: expected one value, %lld values or shape [..., %s] for "
                    "'%s' of shape %s", i, t->name, sh, (long long)len, rows ? "M, 1" : "1, N", x->name, xs);
        return -1;
    }
    return 0;
}

/* What QLinearMatMul and QLinearConv share: their scales (inputs 1, 4
 * and 6) present, the output type of y_zero_point (input 7; uint8
 * without one) into *yt and its range into lo, hi. 0, or -1 with e. */
static int qlinear_output(qb_graph *g, qb_node *n, qb_dtype *yt, int32_t *lo, int32_t *hi, qb_err *e)
{
    for (int i = 1; i < 7; i += i == 4 ? 2 : 3) /* the scales 1, 4 and 6 */
        if (!qb_need_in(g, n, i, e))
            return -1;
    const qb_tensor *yz = qb_in(g, n, 7);
    *yt = yz ? yz->dtype : QB_DT_UINT8;
    if (qb_qrange(*yt, lo, hi)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "y_zero_point '%s' is %s; the element type must be uint8 or int8", yz->name,
                            qb_dtype_name(*yt));
        return -1;
    }
    return 0;
}

static int qmm_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qmm_state *s = calloc(1, sizeof *s);
    n->state = s;
    s->qlinear = !strcmp(n->op, "QLinearMatMul");
    s->ia = 0, s->ib = s->qlinear ? 3 : 1, s->iza = 2, s->izb = s->qlinear ? 5 : 3;
    qb_tensor *A = qb_need_in(g, n, s->ia, e), *B = A ? qb_need_in(g, n, s->ib, e) : NULL;
    if (!B)
        return -1;
    for (int j = 0; j < 2; j++) {
        const qb_tensor *t = j ? B : A;
        if ((t->dtype != QB_DT_UINT8 && t->dtype != QB_DT_INT8) || !t->ndim) {
            QB_NODE_ERR(e, g, n, "input '%s' is a %s tensor of rank %d; it must be int8 or uint8 of rank at least 1",
                        t->name, qb_dtype_name(t->dtype), t->ndim);
            return -1;
        }
    }
    int ra = A->ndim, rb = B->ndim;
    int64_t ad[QB_MAX_DIMS + 1], bd[QB_MAX_DIMS + 1];
    if (ra == 1)
        ad[0] = 1, ad[1] = A->dims[0], ra = 2;
    else
        memcpy(ad, A->dims, ra * sizeof *ad);
    if (rb == 1)
        bd[0] = B->dims[0], bd[1] = 1, rb = 2;
    else
        memcpy(bd, B->dims, rb * sizeof *bd);
    s->m = ad[ra - 2], s->k = ad[ra - 1], s->n = bd[rb - 1];
    int64_t bdims[QB_MAX_DIMS];
    if (bd[rb - 2] != s->k || qb_broadcast(ra - 2, ad, rb - 2, bd, &s->nb, bdims)) {
        char x[128], y[128];
        qb_shape_str(A->ndim, A->dims, x, sizeof x);
        qb_shape_str(B->ndim, B->dims, y, sizeof y);
        QB_NODE_ERR(e, g, n, "cannot multiply %s by %s", x, y);
        return -1;
    }
    s->batch = 1;
    int64_t acc_a = 1, acc_b = 1;
    for (int i = s->nb - 1; i >= 0; i--) {
        int ja = i - (s->nb - (ra - 2)), jb = i - (s->nb - (rb - 2));
        int64_t da = ja >= 0 ? ad[ja] : 1, db = jb >= 0 ? bd[jb] : 1;
        s->sa[i] = da == 1 ? 0 : acc_a;
        s->sb[i] = db == 1 ? 0 : acc_b;
        acc_a *= da, acc_b *= db;
        s->bdims[i] = bdims[i];
        s->batch *= bdims[i];
    }
    s->na = acc_a, s->nbm = acc_b;
    if (qvec_setup(g, n, s->iza, A->dtype, A, ra, ad, 1, s->m, &s->za, e) ||
        qvec_setup(g, n, s->izb, B->dtype, B, rb, bd, 0, s->n, &s->zb, e))
        return -1;
    qb_dtype yt = QB_DT_INT32;
    if (s->qlinear) {
        if (qlinear_output(g, n, &yt, &s->lo, &s->hi, e))
            return -1;
        if (qvec_setup(g, n, 1, QB_DT_FLOAT, A, ra, ad, 1, s->m, &s->sca, e) ||
            qvec_setup(g, n, 4, QB_DT_FLOAT, B, rb, bd, 0, s->n, &s->scb, e) ||
            qb_qparam_check(g, n, 6, QB_DT_FLOAT, 0, 1, e) || qb_qparam_check(g, n, 7, yt, 0, 0, e))
            return -1;
    }
    int64_t od[QB_MAX_DIMS];
    int r = 0;
    for (int i = 0; i < s->nb; i++)
        od[r++] = bdims[i];
    if (A->ndim > 1)
        od[r++] = s->m;
    if (B->ndim > 1)
        od[r++] = s->n;
    qb_set_out(g, n, 0, yt, r, od);
    /* scratch: scales of A's rows and B's columns, A - za and B - zb transposed as int16 */
    n->scratch = (size_t)(s->na * s->m + s->nbm * s->n) * 4 + (size_t)(s->na * s->m * s->k + s->nbm * s->k * s->n) * 2;
    return 0;
}

static void qmm_run(qb_graph *g, qb_node *n, void *scratch)
{
    const qmm_state *s = n->state;
    const qb_tensor *A = qb_in(g, n, s->ia), *B = qb_in(g, n, s->ib), *za = qb_in(g, n, s->iza),
                    *zb = qb_in(g, n, s->izb);
    qb_tensor *Y = qb_out(g, n, 0);
    int64_t mk = s->m * s->k, kn = s->k * s->n, mn = s->m * s->n;
    float *fa = scratch, *fb = fa + s->na * s->m;
    int16_t *a = (int16_t *)(fb + s->nbm * s->n), *bt = a + s->na * mk;
    for (int64_t mi = 0; mi < s->na; mi++)
        for (int64_t i = 0; i < s->m; i++) {
            int32_t z = za ? (int32_t)qb_int_at(za, qvec_at(&s->za, mi, i)) : 0;
            for (int64_t kk = 0; kk < s->k; kk++)
                a[mi * mk + i * s->k + kk] = (int16_t)(qb_int_at(A, mi * mk + i * s->k + kk) - z);
            if (s->qlinear)
                fa[mi * s->m + i] = ((const float *)qb_in(g, n, 1)->data)[qvec_at(&s->sca, mi, i)];
        }
    for (int64_t mi = 0; mi < s->nbm; mi++)
        for (int64_t j = 0; j < s->n; j++) {
            int32_t z = zb ? (int32_t)qb_int_at(zb, qvec_at(&s->zb, mi, j)) : 0;
            for (int64_t kk = 0; kk < s->k; kk++)
                bt[mi * kn + j * s->k + kk] = (int16_t)(qb_int_at(B, mi * kn + kk * s->n + j) - z);
            if (s->qlinear)
                fb[mi * s->n + j] = ((const float *)qb_in(g, n, 4)->data)[qvec_at(&s->scb, mi, j)];
        }
    float ys = s->qlinear ? *(const float *)qb_in(g, n, 6)->data : 0.0f;
    const qb_tensor *yz = s->qlinear ? qb_in(g, n, 7) : NULL;
    int32_t yzp = yz ? (int32_t)qb_int_at(yz, 0) : 0;
    int64_t idx[QB_MAX_DIMS] = {0}, oa = 0, ob = 0;
    for (int64_t bi = 0; bi < s->batch; bi++) {
        const int16_t *pa = a + oa * mk, *pb = bt + ob * kn;
        for (int64_t i = 0; i < s->m; i++)
            for (int64_t j = 0; j < s->n; j++) {
                uint32_t acc = dot16(pa + i * s->k, pb + j * s->k, s->k); /* int32, wrapping */
                int64_t o = bi * mn + i * s->n + j;
                if (!s->qlinear) {
                    ((int32_t *)Y->data)[o] = (int32_t)acc;
                    continue;
                }
                float mult = (fa[oa * s->m + i] * fb[ob * s->n + j]) / ys;
                qb_set_i(Y, o, qb_qround((double)(int32_t)acc * (double)mult, yzp, s->lo, s->hi));
            }
        for (int d = s->nb - 1; d >= 0; d--) { /* odometer over the output batch */
            idx[d]++;
            oa += s->sa[d];
            ob += s->sb[d];
            if (idx[d] < s->bdims[d])
                break;
            oa -= s->sa[d] * idx[d];
            ob -= s->sb[d] * idx[d];
            idx[d] = 0;
        }
    }
}

static int64_t qmm_macs(const qb_graph *g, const qb_node *n)
{
    (void)g;
    const qmm_state *s = n->state;
    return s ? s->batch * s->m * s->n * s->k : 0;
}

/* ---- ConvInteger / QLinearConv ---- */

typedef struct qconv_state {
    int nsp;                 /* spatial dims (1..3), held as 3 with leading ones */
    int64_t nimg, c, cout;   /* batch, input and output channels */
    int64_t group;           /* groups */
    int64_t in[3], out[3];   /* input and output spatial sizes */
    int64_t k[3], st[3], dl[3], pb[3]; /* kernel, strides, dilations, leading pads */
    int64_t kg;              /* K per group: Cin/group * kernel volume */
    int64_t pix;             /* output pixels per image */
    int qlinear;             /* QLinearConv (else ConvInteger) */
    int ix, iw, ixz, iwz;    /* input indices of x, w and their zero points */
    int32_t lo, hi;          /* QLinearConv output range */
} qconv_state;

/* Geometry from x, w and the attributes (strides, dilations, pads,
 * auto_pad, kernel_shape), as Conv does. */
static int qconv_geometry(qb_graph *g, qb_node *n, const qb_tensor *x, const qb_tensor *w, qconv_state *s, qb_err *e)
{
    s->nsp = x->ndim - 2;
    s->group = qb_attr_int(n, "group", 1);
    const int64_t *ks = NULL, *st = NULL, *dl = NULL, *pd = NULL;
    int nk = qb_attr_ints(n, "kernel_shape", &ks), nst = qb_attr_ints(n, "strides", &st),
        ndl = qb_attr_ints(n, "dilations", &dl), npd = qb_attr_ints(n, "pads", &pd);
    char xs[128], ws[128];
    qb_shape_str(x->ndim, x->dims, xs, sizeof xs);
    qb_shape_str(w->ndim, w->dims, ws, sizeof ws);
    if (s->nsp < 1 || s->nsp > 3 || w->ndim != x->ndim || s->group < 1 || x->dims[1] % s->group ||
        w->dims[0] % s->group || w->dims[1] * s->group != x->dims[1]) {
        QB_NODE_ERR(e, g, n, "input %s, weights %s and group %lld do not match (rank 3 to 5)", xs, ws,
                    (long long)s->group);
        return -1;
    }
    if ((nk >= 0 && nk != s->nsp) || (nst >= 0 && nst != s->nsp) || (ndl >= 0 && ndl != s->nsp) ||
        (npd >= 0 && npd != 2 * s->nsp)) {
        QB_NODE_ERR(e, g, n, "kernel_shape, strides, dilations or pads do not match %d spatial dims", s->nsp);
        return -1;
    }
    const char *ap = qb_attr_str(n, "auto_pad", "NOTSET");
    int same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER");
    if (!same && strcmp(ap, "VALID") && strcmp(ap, "NOTSET")) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR, "auto_pad '%s' is not supported", ap);
        return -1;
    }
    s->nimg = x->dims[0], s->c = x->dims[1], s->cout = w->dims[0];
    s->pix = 1;
    s->kg = w->dims[1];
    const int64_t lim = (int64_t)1 << 24;
    for (int i = 0; i < 3; i++) {
        int j = i - (3 - s->nsp); /* model's spatial dim, or < 0 for a leading one */
        s->in[i] = j >= 0 ? x->dims[2 + j] : 1;
        s->k[i] = j >= 0 ? w->dims[2 + j] : 1;
        s->st[i] = j >= 0 && nst >= 0 ? st[j] : 1;
        s->dl[i] = j >= 0 && ndl >= 0 ? dl[j] : 1;
        int64_t pe = 0;
        s->pb[i] = 0;
        if (j >= 0 && nk >= 0 && ks[j] != s->k[i]) {
            QB_NODE_ERR(e, g, n, "kernel_shape does not match the weights %s", ws);
            return -1;
        }
        if (s->k[i] < 1 || s->st[i] < 1 || s->dl[i] < 1 || s->k[i] > lim || s->st[i] > lim || s->dl[i] > lim) {
            QB_NODE_ERR(e, g, n, "kernel, stride and dilation must be in 1..2^24");
            return -1;
        }
        int64_t ek = (s->k[i] - 1) * s->dl[i] + 1;
        if (j >= 0 && same) {
            int64_t o = (s->in[i] + s->st[i] - 1) / s->st[i], tot = (o - 1) * s->st[i] + ek - s->in[i];
            tot = tot < 0 ? 0 : tot;
            s->pb[i] = !strcmp(ap, "SAME_UPPER") ? tot / 2 : tot - tot / 2;
            pe = tot - s->pb[i];
        } else if (j >= 0 && npd >= 0 && !strcmp(ap, "NOTSET")) {
            s->pb[i] = pd[j], pe = pd[s->nsp + j];
            if (s->pb[i] < 0 || pe < 0 || s->pb[i] > lim || pe > lim) {
                QB_NODE_ERR(e, g, n, "pads must be in 0..2^24");
                return -1;
            }
        }
        int64_t span = s->in[i] + s->pb[i] + pe - ek;
        if (span < 0) {
            QB_NODE_ERR(e, g, n, "the kernel is larger than the padded input %s", xs);
            return -1;
        }
        s->out[i] = span / s->st[i] + 1;
        s->pix *= s->out[i];
        s->kg *= s->k[i];
    }
    if (s->kg > INT32_MAX / 2 || s->pix > INT32_MAX / 2) {
        QB_NODE_ERR(e, g, n, "too large");
        return -1;
    }
    return 0;
}

static int qconv_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qconv_state *s = calloc(1, sizeof *s);
    n->state = s;
    s->qlinear = !strcmp(n->op, "QLinearConv");
    s->ix = 0, s->iw = s->qlinear ? 3 : 1, s->ixz = 2, s->iwz = s->qlinear ? 5 : 3;
    qb_tensor *x = qb_need_in(g, n, s->ix, e), *w = x ? qb_need_in(g, n, s->iw, e) : NULL;
    if (!w)
        return -1;
    for (int j = 0; j < 2; j++) {
        const qb_tensor *t = j ? w : x;
        if (t->dtype != QB_DT_UINT8 && t->dtype != QB_DT_INT8) {
            QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                                "input '%s' is %s; the element type must be int8 or uint8", t->name,
                                qb_dtype_name(t->dtype));
            return -1;
        }
    }
    if (qconv_geometry(g, n, x, w, s, e) || qb_qparam_check(g, n, s->ixz, x->dtype, 0, 0, e) ||
        qb_qparam_check(g, n, s->iwz, w->dtype, s->cout, 0, e))
        return -1;
    qb_dtype yt = QB_DT_INT32;
    if (s->qlinear) {
        if (qlinear_output(g, n, &yt, &s->lo, &s->hi, e))
            return -1;
        const qb_tensor *B = qb_in(g, n, 8);
        if (qb_qparam_check(g, n, 1, QB_DT_FLOAT, 0, 0, e) || qb_qparam_check(g, n, 4, QB_DT_FLOAT, s->cout, 0, e) ||
            qb_qparam_check(g, n, 6, QB_DT_FLOAT, 0, 1, e) || qb_qparam_check(g, n, 7, yt, 0, 0, e))
            return -1;
        if (B && (B->dtype != QB_DT_INT32 || B->ndim != 1 || B->dims[0] != s->cout)) {
            char sh[128];
            qb_shape_str(B->ndim, B->dims, sh, sizeof sh);
            QB_NODE_ERR(e, g, n, "bias '%s' is %s of shape %s; it must be int32 with %lld elements", B->name,
                        qb_dtype_name(B->dtype), sh, (long long)s->cout);
            return -1;
        }
    }
    int64_t dims[QB_MAX_DIMS] = {s->nimg, s->cout};
    for (int i = 0; i < s->nsp; i++)
        dims[2 + i] = s->out[3 - s->nsp + i];
    qb_set_out(g, n, 0, yt, x->ndim, dims);
    /* scratch: x - x_zero_point and w - w_zero_point as int16, one image-group's im2col */
    n->scratch = (size_t)(qb_tensor_count(x) + qb_tensor_count(w) + s->pix * s->kg) * 2;
    return 0;
}

/* col[p][(c, kz, ky, kx)] for one image and group from x (zero point
 * already subtracted); taps in the padding are 0. */
static void qim2col(const int16_t *x, const qconv_state *s, int64_t cg, int16_t *col)
{
    int64_t ihw = s->in[1] * s->in[2], ivol = s->in[0] * ihw, p = 0;
    for (int64_t oz = 0; oz < s->out[0]; oz++)
        for (int64_t oy = 0; oy < s->out[1]; oy++)
            for (int64_t ox = 0; ox < s->out[2]; ox++, p++) {
                int16_t *row = col + p * s->kg;
                for (int64_t c = 0; c < cg; c++)
                    for (int64_t kz = 0; kz < s->k[0]; kz++) {
                        int64_t iz = oz * s->st[0] - s->pb[0] + kz * s->dl[0];
                        for (int64_t ky = 0; ky < s->k[1]; ky++) {
                            int64_t iy = oy * s->st[1] - s->pb[1] + ky * s->dl[1];
                            for (int64_t kx = 0; kx < s->k[2]; kx++) {
                                int64_t ix = ox * s->st[2] - s->pb[2] + kx * s->dl[2];
                                int in = iz >= 0 && iz < s->in[0] && iy >= 0 && iy < s->in[1] && ix >= 0 &&
                                         ix < s->in[2];
                                *row++ = in ? x[c * ivol + (iz * s->in[1] + iy) * s->in[2] + ix] : 0;
                            }
                        }
                    }
            }
}

static void qconv_run(qb_graph *g, qb_node *n, void *scratch)
{
    const qconv_state *s = n->state;
    const qb_tensor *xt = qb_in(g, n, s->ix), *wt = qb_in(g, n, s->iw), *xz = qb_in(g, n, s->ixz),
                    *wz = qb_in(g, n, s->iwz), *B = s->qlinear ? qb_in(g, n, 8) : NULL;
    qb_tensor *Y = qb_out(g, n, 0);
    int64_t nx = qb_tensor_count(xt), nw = qb_tensor_count(wt);
    int16_t *x = scratch, *w = x + nx, *col = w + nw;
    int32_t xzp = xz ? (int32_t)qb_int_at(xz, 0) : 0;
    int per_ch = wz && qb_tensor_count(wz) != 1;
    for (int64_t i = 0; i < nx; i++)
        x[i] = (int16_t)(qb_int_at(xt, i) - xzp);
    for (int64_t i = 0; i < nw; i++)
        w[i] = (int16_t)(qb_int_at(wt, i) - (wz ? qb_int_at(wz, per_ch ? i / s->kg : 0) : 0));
    float xs = 0, ys = 0;
    const float *ws = NULL;
    int ws_per = 0;
    int32_t yzp = 0;
    if (s->qlinear) {
        xs = *(const float *)qb_in(g, n, 1)->data;
        ws = qb_in(g, n, 4)->data;
        ws_per = qb_tensor_count(qb_in(g, n, 4)) != 1;
        ys = *(const float *)qb_in(g, n, 6)->data;
        yzp = qb_in(g, n, 7) ? (int32_t)qb_int_at(qb_in(g, n, 7), 0) : 0;
    }
    int64_t cg = s->c / s->group, cog = s->cout / s->group, ivol = s->in[0] * s->in[1] * s->in[2];
    for (int64_t b = 0; b < s->nimg; b++)
        for (int64_t gi = 0; gi < s->group; gi++) {
            qim2col(x + (b * s->c + gi * cg) * ivol, s, cg, col);
            for (int64_t co = gi * cog; co < (gi + 1) * cog; co++) {
                const int16_t *wr = w + co * s->kg;
                uint32_t bias = B ? (uint32_t)((const int32_t *)B->data)[co] : 0;
                float mult = s->qlinear ? (xs * ws[ws_per ? co : 0]) / ys : 0.0f;
                int64_t o = (b * s->cout + co) * s->pix;
                for (int64_t p = 0; p < s->pix; p++) {
                    uint32_t acc = bias + dot16(col + p * s->kg, wr, s->kg); /* int32, wrapping */
                    if (s->qlinear)
                        qb_set_i(Y, o + p, qb_qround((double)(int32_t)acc * (double)mult, yzp, s->lo, s->hi));
                    else
                        ((int32_t *)Y->data)[o + p] = (int32_t)acc;
                }
            }
        }
}

static int64_t qconv_macs(const qb_graph *g, const qb_node *n)
{
    (void)g;
    const qconv_state *s = n->state;
    return s ? s->nimg * s->pix * s->cout * s->kg : 0;
}

const qb_opdef qb_ops_qlinear[] = {
    {"MatMulInteger", qmm_prepare, qmm_run, qmm_macs, QB_OPF_ANY_DTYPE, 0},
    {"QLinearMatMul", qmm_prepare, qmm_run, qmm_macs, QB_OPF_ANY_DTYPE, 0},
    {"ConvInteger", qconv_prepare, qconv_run, qconv_macs, QB_OPF_ANY_DTYPE, 0},
    {"QLinearConv", qconv_prepare, qconv_run, qconv_macs, QB_OPF_ANY_DTYPE, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
