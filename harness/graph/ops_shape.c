/*
 * ops_shape.c - operators that move data without arithmetic: Reshape,
 * Flatten, Squeeze, Unsqueeze, Transpose, Concat, Gather, Slice, and the
 * shape arithmetic exporters emit (Shape, Cast, CastLike, Constant). Element-type
 * generic, so they also fold int64 shape tensors at prepare time.
 */
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

/* n 4-byte elements from src every is elements to dst, contiguous (a
 * constant-size memcpy: one move each, no call). */
static void gather32(char *dst, const char *src, int64_t n, int64_t is)
{
    for (int64_t j = 0; j < n; j++)
        memcpy(dst + 4 * j, src + 4 * j * is, 4);
}

/* Copy an N-d strided view (src strides in elements, may be negative) into
 * a dense dst of shape dims. */

/* n bytes from s to d (apart): runs of 16 to 64 bytes as two fixed-size
 * copies that may overlap inside [0, n) (inlined: a libc memcpy call per
 * run cost more than its bytes: PP-OCRv4 rec's attention Transposes and
 * Slices move runs of 15 floats); the same bytes. */
static inline void copy_run(char *restrict d, const char *restrict s, size_t n)
{
    if (n >= 16 && n <= 32) {
        memcpy(d, s, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n > 32 && n <= 64) {
        memcpy(d, s, 32);
        memcpy(d + n - 32, s + n - 32, 32);
    } else {
        memcpy(d, s, n);
    }
}

static void copy_nd(char *dst, const char *src, int rank, const int64_t *dims, const int64_t *sstr, size_t es)
{
    if (rank == 0) {
        memcpy(dst, src, es);
        return;
    }
    int64_t total = qb_shape_count(rank, dims);
    if (total <= 0)
        return;
    int64_t idx[QB_MAX_DIMS] = {0}, off = 0, inner = dims[rank - 1], is = sstr[rank - 1];
    for (int64_t o = 0; o < total; o += inner) {
        if (is == 1)
            copy_run(dst, src + off * (int64_t)es, inner * es);
        else if (es == 4) /* float, int32: a typed gather, not a memcpy call per element */
            gather32(dst, src + off * 4, inner, is);
        else
            for (int64_t j = 0; j < inner; j++)
                memcpy(dst + j * es, src + (off + j * is) * (int64_t)es, es);
        dst += inner * es;
        for (int d = rank - 2; d >= 0; d--) {
            idx[d]++;
            off += sstr[d];
            if (idx[d] < dims[d])
                break;
            off -= sstr[d] * idx[d];
            idx[d] = 0;
        }
    }
}

static void dense_strides(int rank, const int64_t *dims, int64_t *s)
{
    int64_t acc = 1;
    for (int i = rank - 1; i >= 0; i--) {
        s[i] = acc;
        acc *= dims[i];
    }
}

static int need_const(qb_graph *g, qb_node *n, int i, const char *what, qb_tensor **out, qb_err *e)
{
    qb_tensor *t = qb_in(g, n, i);
    *out = t;
    if (!t)
        return 0;
    if (t->kind != QB_T_CONST) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_DYNAMIC,
                            "%s '%s' must be constant (computed from initializers only)", what, t->name);
        return -1;
    }
    if (t->dtype != QB_DT_INT64 && t->dtype != QB_DT_INT32) {
        QB_NODE_ERR(e, g, n, "%s '%s' must be int64 or int32, not %s", what, t->name, qb_dtype_name(t->dtype));
        return -1;
    }
    return 0;
}

/* Output 0 = input 0 (unless they share storage); an optional second
 * output (Dropout's mask) is all true. Reshape-like ops, Identity, Dropout. */
void qb_op_copy_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    if (x->data != y->data)
        memcpy(y->data, x->data, (size_t)qb_tensor_count(x) * qb_dtype_size(x->dtype));
    qb_tensor *mask = qb_out(g, n, 1);
    if (mask)
        memset(mask->data, 1, (size_t)qb_tensor_count(mask));
}

/* ---- Reshape ---- */
static int reshape_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *s = NULL;
    if (!x)
        return -1;
    int64_t dims[QB_MAX_DIMS];
    int r;
    const int64_t *av = NULL;
    if (g->opset < 5 || (!qb_in(g, n, 1) && (r = qb_attr_ints(n, "shape", &av)) >= 0)) {
        r = qb_attr_ints(n, "shape", &av);
        if (r < 0) {
            QB_NODE_ERR(e, g, n, "has no shape");
            return -1;
        }
    } else {
        if (need_const(g, n, 1, "shape", &s, e))
            return -1;
        if (!s) {
            QB_NODE_ERR(e, g, n, "has no shape input");
            return -1;
        }
        r = (int)qb_tensor_count(s);
    }
    if (r > QB_MAX_DIMS) {
        QB_NODE_ERR(e, g, n, "target rank %d is above %d", r, QB_MAX_DIMS);
        return -1;
    }
    int allowzero = (int)qb_attr_int(n, "allowzero", 0), neg = -1;
    int64_t known = 1, total = qb_tensor_count(x);
    for (int i = 0; i < r; i++) {
        int64_t v = s ? qb_int_at(s, i) : av[i];
        if (v == 0 && !allowzero) {
            if (i >= x->ndim) {
                QB_NODE_ERR(e, g, n, "shape has 0 at %d beyond the input's rank", i);
                return -1;
            }
            v = x->dims[i];
        }
        if (v == -1) {
            if (neg >= 0) {
                QB_NODE_ERR(e, g, n, "shape has more than one -1");
                return -1;
            }
            neg = i;
            v = 1;
        } else if (v < 0 || v > ((int64_t)1 << 31)) {
            QB_NODE_ERR(e, g, n, "shape has an invalid dimension %lld", (long long)v);
            return -1;
        }
        dims[i] = v;
        known = known > ((int64_t)1 << 31) ? known : known * v;
    }
    if (known > ((int64_t)1 << 31)) {
        QB_NODE_ERR(e, g, n, "target shape has too many elements");
        return -1;
    }
    if (neg >= 0)
        dims[neg] = known ? total / known : 0;
    if (qb_shape_count(r, dims) != total) {
        char a[128], b[128];
        qb_shape_str(x->ndim, x->dims, a, sizeof a);
        qb_shape_str(r, dims, b, sizeof b);
        QB_NODE_ERR(e, g, n, "cannot reshape %s into %s", a, b);
        return -1;
    }
    qb_set_out(g, n, 0, x->dtype, r, dims);
    return 0;
}

/* ---- Flatten ---- */
static int flatten_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    int64_t a = qb_attr_int(n, "axis", 1);
    if (a < 0)
        a += x->ndim;
    if (a < 0 || a > x->ndim) {
        QB_NODE_ERR(e, g, n, "axis %lld is out of range for rank %d", (long long)qb_attr_int(n, "axis", 1), x->ndim);
        return -1;
    }
    int64_t d[2] = {1, 1};
    for (int i = 0; i < x->ndim; i++)
        d[i >= a] *= x->dims[i];
    qb_set_out(g, n, 0, x->dtype, 2, d);
    return 0;
}

/* axes from an INTS attribute (old opsets) or a constant input (opset 13). */
static int get_axes(qb_graph *g, qb_node *n, int64_t *axes, int *na, qb_err *e)
{
    const int64_t *av;
    int k = qb_attr_ints(n, "axes", &av);
    *na = 0;
    if (k >= 0) {
        if (k > QB_MAX_DIMS) {
            QB_NODE_ERR(e, g, n, "too many axes");
            return -1;
        }
        memcpy(axes, av, k * sizeof *av);
        *na = k;
        return 0;
    }
    qb_tensor *t;
    if (need_const(g, n, 1, "axes", &t, e))
        return -1;
    if (t) {
        int64_t c = qb_tensor_count(t);
        if (c > QB_MAX_DIMS) {
            QB_NODE_ERR(e, g, n, "too many axes");
            return -1;
        }
        for (int i = 0; i < c; i++)
            axes[i] = qb_int_at(t, i);
        *na = (int)c;
    }
    return 0;
}

static int squeeze_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    int64_t axes[QB_MAX_DIMS], dims[QB_MAX_DIMS];
    int na, drop[QB_MAX_DIMS] = {0}, r = 0;
    if (!x || get_axes(g, n, axes, &na, e))
        return -1;
    for (int i = 0; i < na; i++) {
        int a = qb_axis(axes[i], x->ndim);
        if (a < 0 || x->dims[a] != 1) {
            QB_NODE_ERR(e, g, n, "cannot squeeze axis %lld", (long long)axes[i]);
            return -1;
        }
        drop[a] = 1;
    }
    for (int i = 0; i < x->ndim; i++)
        if (!(na ? drop[i] : x->dims[i] == 1))
            dims[r++] = x->dims[i];
    qb_set_out(g, n, 0, x->dtype, r, dims);
    return 0;
}

static int unsqueeze_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    int64_t axes[QB_MAX_DIMS], dims[QB_MAX_DIMS];
    int na, add[QB_MAX_DIMS] = {0};
    if (!x || get_axes(g, n, axes, &na, e))
        return -1;
    int r = x->ndim + na;
    if (!na || r > QB_MAX_DIMS) {
        QB_NODE_ERR(e, g, n, "needs 1 to %d axes", QB_MAX_DIMS - x->ndim);
        return -1;
    }
    for (int i = 0; i < na; i++) {
        int a = qb_axis(axes[i], r);
        if (a < 0 || add[a]) {
            QB_NODE_ERR(e, g, n, "invalid or repeated axis %lld", (long long)axes[i]);
            return -1;
        }
        add[a] = 1;
    }
    for (int i = 0, k = 0; i < r; i++)
        dims[i] = add[i] ? 1 : x->dims[k++];
    qb_set_out(g, n, 0, x->dtype, r, dims);
    return 0;
}

/* ---- Transpose ---- */
typedef struct perm_state {
    int64_t sstr[QB_MAX_DIMS]; /* input strides in output dim order */
} perm_state;

static int transpose_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    const int64_t *pv;
    int np = qb_attr_ints(n, "perm", &pv), r = x->ndim, seen[QB_MAX_DIMS] = {0};
    int64_t perm[QB_MAX_DIMS], dims[QB_MAX_DIMS], str[QB_MAX_DIMS];
    if (np >= 0 && np != r) {
        QB_NODE_ERR(e, g, n, "perm has %d entries for rank %d", np, r);
        return -1;
    }
    for (int i = 0; i < r; i++)
        perm[i] = np < 0 ? r - 1 - i : pv[i];
    dense_strides(r, x->dims, str);
    perm_state *s = calloc(1, sizeof *s);
    n->state = s;
    for (int i = 0; i < r; i++) {
        int p = qb_axis(perm[i], r);
        if (p < 0 || seen[p]++) {
            QB_NODE_ERR(e, g, n, "perm is not a permutation");
            return -1;
        }
        dims[i] = x->dims[p];
        s->sstr[i] = str[p];
    }
    qb_set_out(g, n, 0, x->dtype, r, dims);
    return 0;
}

static void transpose_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    const perm_state *s = n->state;
    copy_nd(y->data, x->data, y->ndim, y->dims, s->sstr, qb_dtype_size(x->dtype));
}

/* ---- Concat ---- */
static int concat_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    int a = qb_axis(qb_attr_int(n, "axis", g->opset < 4 ? 1 : 0), x->ndim);
    if (a < 0 || !qb_node_attr(n, "axis")) {
        QB_NODE_ERR(e, g, n, "axis missing or out of range for rank %d", x->ndim);
        return -1;
    }
    int64_t dims[QB_MAX_DIMS];
    memcpy(dims, x->dims, sizeof dims);
    dims[a] = 0;
    for (int i = 0; i < n->nin; i++) {
        qb_tensor *t = qb_need_in(g, n, i, e);
        if (!t)
            return -1;
        int ok = t->ndim == x->ndim && t->dtype == x->dtype;
        for (int k = 0; ok && k < x->ndim; k++)
            ok = k == a || t->dims[k] == x->dims[k];
        if (!ok) {
            QB_NODE_ERR(e, g, n, "input '%s' does not match the first input's type and shape", t->name);
            return -1;
        }
        dims[a] += t->dims[a];
    }
    qb_set_out(g, n, 0, x->dtype, x->ndim, dims);
    n->state = malloc(sizeof(int));
    *(int *)n->state = a;
    return 0;
}

static void concat_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    int a = *(int *)n->state;
    qb_tensor *y = qb_out(g, n, 0);
    size_t es = qb_dtype_size(y->dtype);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < a; i++)
        outer *= y->dims[i];
    for (int i = a + 1; i < y->ndim; i++)
        inner *= y->dims[i];
    size_t yrow = (size_t)(y->dims[a] * inner) * es, off = 0;
    for (int i = 0; i < n->nin; i++) {
        const qb_tensor *t = qb_in(g, n, i);
        size_t row = (size_t)(t->dims[a] * inner) * es;
        for (int64_t o = 0; o < outer; o++)
            memcpy((char *)y->data + o * yrow + off, (const char *)t->data + o * row, row);
        off += row;
    }
}

/* ---- Shape ---- */
static int shape_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    int64_t r = x->ndim, st = qb_attr_int(n, "start", 0), en = qb_attr_int(n, "end", r);
    if (st < 0)
        st += r;
    if (en < 0)
        en += r;
    st = st < 0 ? 0 : st > r ? r : st;
    en = en < 0 ? 0 : en > r ? r : en;
    int64_t d = en > st ? en - st : 0;
    qb_set_out(g, n, 0, QB_DT_INT64, 1, &d);
    int64_t *s = malloc(sizeof *s);
    *s = st;
    n->state = s;
    /* the shape is known now: make the node constant whatever its input */
    qb_tensor *y = qb_out(g, n, 0);
    y->data = calloc(d + 1, sizeof(int64_t));
    y->kind = QB_T_CONST;
    for (int64_t i = 0; i < d; i++)
        ((int64_t *)y->data)[i] = x->dims[st + i];
    n->folded = 1;
    return 0;
}

static void shape_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    int64_t st = *(int64_t *)n->state;
    for (int64_t i = 0; i < y->dims[0]; i++)
        ((int64_t *)y->data)[i] = x->dims[st + i];
}

/* ---- Gather ---- */
typedef struct gather_state {
    int axis; /* normalized axis */
} gather_state;

static int gather_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *ind;
    if (!x || need_const(g, n, 1, "indices", &ind, e))
        return -1;
    if (!ind) {
        QB_NODE_ERR(e, g, n, "has no indices");
        return -1;
    }
    int a = qb_axis(qb_attr_int(n, "axis", 0), x->ndim);
    if (a < 0 || x->ndim - 1 + ind->ndim > QB_MAX_DIMS) {
        QB_NODE_ERR(e, g, n, "axis out of range or result rank too large");
        return -1;
    }
    for (int64_t i = 0, c = qb_tensor_count(ind); i < c; i++) {
        int64_t v = qb_int_at(ind, i);
        if (v < -x->dims[a] || v >= x->dims[a]) {
            QB_NODE_ERR(e, g, n, "index %lld is out of range for dimension %lld", (long long)v, (long long)x->dims[a]);
            return -1;
        }
    }
    int64_t dims[QB_MAX_DIMS];
    int r = 0;
    for (int i = 0; i < a; i++)
        dims[r++] = x->dims[i];
    for (int i = 0; i < ind->ndim; i++)
        dims[r++] = ind->dims[i];
    for (int i = a + 1; i < x->ndim; i++)
        dims[r++] = x->dims[i];
    qb_set_out(g, n, 0, x->dtype, r, dims);
    gather_state *s = malloc(sizeof *s);
    s->axis = a;
    n->state = s;
    return 0;
}

static void gather_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0), *ind = qb_in(g, n, 1);
    qb_tensor *y = qb_out(g, n, 0);
    int a = ((gather_state *)n->state)->axis;
    size_t es = qb_dtype_size(x->dtype);
    int64_t outer = 1, inner = 1, ni = qb_tensor_count(ind);
    for (int i = 0; i < a; i++)
        outer *= x->dims[i];
    for (int i = a + 1; i < x->ndim; i++)
        inner *= x->dims[i];
    char *dst = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < ni; k++) {
            int64_t v = qb_int_at(ind, k);
            if (v < 0)
                v += x->dims[a];
            memcpy(dst, (const char *)x->data + ((o * x->dims[a] + v) * inner) * es, inner * es);
            dst += inner * es;
        }
}

/* ---- Slice ---- */
typedef struct slice_state {
    int64_t start[QB_MAX_DIMS]; /* first index per input dim */
    int64_t step[QB_MAX_DIMS];  /* step per input dim */
} slice_state;

static int slice_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    int64_t st[QB_MAX_DIMS], en[QB_MAX_DIMS], ax[QB_MAX_DIMS], sp[QB_MAX_DIMS];
    int k;
    if (g->opset < 10) {
        const int64_t *a, *b, *c;
        k = qb_attr_ints(n, "starts", &a);
        if (k < 0 || k > QB_MAX_DIMS || qb_attr_ints(n, "ends", &b) != k) {
            QB_NODE_ERR(e, g, n, "starts/ends missing or of different lengths");
            return -1;
        }
        int kc = qb_attr_ints(n, "axes", &c);
        for (int i = 0; i < k; i++) {
            st[i] = a[i], en[i] = b[i], sp[i] = 1;
            ax[i] = kc == k ? c[i] : i;
        }
    } else {
        qb_tensor *ts, *te, *ta, *tp;
        if (need_const(g, n, 1, "starts", &ts, e) || need_const(g, n, 2, "ends", &te, e) ||
            need_const(g, n, 3, "axes", &ta, e) || need_const(g, n, 4, "steps", &tp, e))
            return -1;
        if (!ts || !te || qb_tensor_count(ts) != qb_tensor_count(te) || qb_tensor_count(ts) > QB_MAX_DIMS ||
            (ta && qb_tensor_count(ta) != qb_tensor_count(ts)) || (tp && qb_tensor_count(tp) != qb_tensor_count(ts))) {
            QB_NODE_ERR(e, g, n, "starts, ends, axes and steps must have the same length");
            return -1;
        }
        k = (int)qb_tensor_count(ts);
        for (int i = 0; i < k; i++) {
            st[i] = qb_int_at(ts, i), en[i] = qb_int_at(te, i);
            ax[i] = ta ? qb_int_at(ta, i) : i;
            sp[i] = tp ? qb_int_at(tp, i) : 1;
        }
    }
    slice_state *s = calloc(1, sizeof *s);
    n->state = s;
    int64_t dims[QB_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        s->start[i] = 0, s->step[i] = 1;
        dims[i] = x->dims[i];
    }
    for (int i = 0; i < k; i++) {
        int a = qb_axis(ax[i], x->ndim);
        if (a < 0 || sp[i] == 0) {
            QB_NODE_ERR(e, g, n, "axis %lld out of range or step 0", (long long)ax[i]);
            return -1;
        }
        int64_t d = x->dims[a], b = st[i], f = en[i], p = sp[i];
        if (b < 0)
            b += d;
        if (f < 0)
            f += d;
        if (p > 0) {
            b = b < 0 ? 0 : b > d ? d : b;
            f = f < 0 ? 0 : f > d ? d : f;
            dims[a] = f > b ? (f - b + p - 1) / p : 0;
        } else {
            b = b < 0 ? -1 : b > d - 1 ? d - 1 : b;
            f = f < -1 ? -1 : f > d - 1 ? d - 1 : f;
            dims[a] = b > f ? (b - f + (-p) - 1) / (-p) : 0;
        }
        s->start[a] = b, s->step[a] = p;
    }
    qb_set_out(g, n, 0, x->dtype, x->ndim, dims);
    return 0;
}

static void slice_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    const slice_state *s = n->state;
    if (qb_tensor_count(y) == 0)
        return;
    int64_t str[QB_MAX_DIMS], sstr[QB_MAX_DIMS], off = 0;
    dense_strides(x->ndim, x->dims, str);
    for (int i = 0; i < x->ndim; i++) {
        sstr[i] = str[i] * s->step[i];
        off += str[i] * s->start[i];
    }
    size_t es = qb_dtype_size(x->dtype);
    copy_nd(y->data, (const char *)x->data + off * (int64_t)es, y->ndim, y->dims, sstr, es);
}

/* ---- Cast ---- */
static int cast_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    int to = (int)qb_attr_int(n, "to", 0);
    if (!qb_dtype_size(to)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE, "cast to element type %d%s is not supported", to,
                    to == 16 ? " (bfloat16)" : to == 8 ? " (string)" : "");
        return -1;
    }
    qb_set_out(g, n, 0, to, x->ndim, x->dims);
    return 0;
}

/* CastLike: Cast to the element type of input 1 */
static int castlike_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *like = x ? qb_need_in(g, n, 1, e) : NULL;
    if (!like)
        return -1;
    qb_set_out(g, n, 0, like->dtype, x->ndim, x->dims);
    return 0;
}

static void cast_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    int64_t c = qb_tensor_count(x);
    if (x->dtype == y->dtype) {
        if (x->data != y->data)
            memcpy(y->data, x->data, (size_t)c * qb_dtype_size(x->dtype));
    } else if (x->dtype == QB_DT_FLOAT && y->dtype == QB_DT_FLOAT16) { /* round to nearest even */
        for (int64_t i = 0; i < c; i++)
            ((uint16_t *)y->data)[i] = qb_f32_to_f16(((const float *)x->data)[i]);
    } else if (x->dtype == QB_DT_FLOAT16 && y->dtype == QB_DT_FLOAT) {
        for (int64_t i = 0; i < c; i++)
            ((float *)y->data)[i] = qb_f16_to_f32(((const uint16_t *)x->data)[i]);
    } else if (qb_dtype_is_int(x->dtype) && qb_dtype_is_int(y->dtype)) { /* wraps to the width, like numpy */
        for (int64_t i = 0; i < c; i++)
            qb_set_i(y, i, qb_int_at(x, i));
    } else { /* through double; float to int truncates toward zero (saturating, NaN -> 0) */
        for (int64_t i = 0; i < c; i++)
            qb_set_d(y, i, qb_get_d(x, i));
    }
}

/* ---- Constant ---- */
static int constant_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    const qb_attr *a = n->nattr == 1 ? &n->attr[0] : NULL;
    if (!a) {
        QB_NODE_ERR(e, g, n, "needs exactly one value attribute");
        return -1;
    }
    int64_t one = 1;
    if (!strcmp(a->name, "value") && a->t) {
        qb_set_out(g, n, 0, a->t->dtype, a->t->ndim, a->t->dims);
    } else if (!strcmp(a->name, "value_float") && a->type == QB_ATTR_FLOAT) {
        qb_set_out(g, n, 0, QB_DT_FLOAT, 0, NULL);
    } else if (!strcmp(a->name, "value_int") && a->type == QB_ATTR_INT) {
        qb_set_out(g, n, 0, QB_DT_INT64, 0, NULL);
    } else if (!strcmp(a->name, "value_floats") && a->type == QB_ATTR_FLOATS) {
        one = a->n;
        qb_set_out(g, n, 0, QB_DT_FLOAT, 1, &one);
    } else if (!strcmp(a->name, "value_ints") && a->type == QB_ATTR_INTS) {
        one = a->n;
        qb_set_out(g, n, 0, QB_DT_INT64, 1, &one);
    } else {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR, "attribute '%s' is not supported", a->name);
        return -1;
    }
    return 0;
}

static void constant_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_attr *a = &n->attr[0];
    qb_tensor *y = qb_out(g, n, 0);
    if (a->t)
        memcpy(y->data, a->t->data, (size_t)qb_tensor_count(a->t) * qb_dtype_size(a->t->dtype));
    else if (a->type == QB_ATTR_FLOAT)
        *(float *)y->data = a->f;
    else if (a->type == QB_ATTR_INT)
        *(int64_t *)y->data = a->i;
    else if (a->type == QB_ATTR_FLOATS)
        memcpy(y->data, a->floats, a->n * sizeof(float));
    else
        memcpy(y->data, a->ints, a->n * sizeof(int64_t));
}

const qb_opdef qb_ops_shape[] = {
    {"Reshape", reshape_prepare, qb_op_copy_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Flatten", flatten_prepare, qb_op_copy_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Squeeze", squeeze_prepare, qb_op_copy_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Unsqueeze", unsqueeze_prepare, qb_op_copy_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Transpose", transpose_prepare, transpose_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"Concat", concat_prepare, concat_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Shape", shape_prepare, shape_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Gather", gather_prepare, gather_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"Slice", slice_prepare, slice_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"Cast", cast_prepare, cast_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"CastLike", castlike_prepare, cast_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {"Constant", constant_prepare, constant_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
