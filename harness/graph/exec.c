/*
 * exec.c - the executor (float32 fast path; Add/Sub/Mul/Div/Pow, Clip,
 * MaxPool, Cast and the data-movement ops also on other element types):
 * binds input shapes, runs every operator's shape inference, folds nodes whose inputs are all constant (Shape,
 * Gather, Slice, Cast, Concat ... around Reshape), plans one arena for all
 * runtime tensors and scratch (first fit over live ranges, so buffers are
 * reused and a run allocates nothing), and runs the plan.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/graph/ops.h"
#include "harness/graph/qlayer.h"
#include "harness/graph/prof_clock.h"

#define ALIGN QB_DATA_ALIGN

/* Every operator table (ops.h), one per line. */
static const qb_opdef *const tables[] = {
    qb_ops_elem,
    qb_ops_shape,
    qb_ops_conv,
    qb_ops_gemm,
    qb_ops_reduce,
    qb_ops_qbench,  /* qdq */
    qb_ops_quant,   /* qops (registered by qdq) */
    qb_ops_qlinear, /* qops */
    qb_ops_minmax,  /* qops */
    qb_ops_unary,
    qb_ops_logic,
    qb_ops_arith,
    qb_ops_reduce_acc,
    qb_ops_select,
    qb_ops_softmax,
    qb_ops_layout,
    qb_ops_gen,
    qb_ops_norm,
    qb_ops_index,
    qb_ops_scatter,
    qb_ops_loss,
    qb_ops_einsum,
    qb_ops_pad,     /* public edge models */
    qb_ops_resize,
    qb_ops_convt,
    qb_ops_control,
    qb_ops_rnn,
    qb_ops_pool_global,
    qb_ops_det,
};

const qb_opdef *qb_op_find(const char *op)
{
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const qb_opdef *d = tables[t]; d->name; d++)
            if (!strcmp(d->name, op))
                return d;
    return NULL;
}

const char *qb_supported_ops(void)
{
    static char buf[8192];
    if (!buf[0]) {
        size_t o = 0;
        for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
            for (const qb_opdef *d = tables[t]; d->name && o < sizeof buf; d++)
                o += snprintf(buf + o, sizeof buf - o, "%s%s", o ? ", " : "", d->name);
    }
    return buf;
}

double qb_now_ms(void) { return qb_prof_ms(); }

void qb_set_out(qb_graph *g, qb_node *n, int i, qb_dtype dt, int ndim, const int64_t *dims)
{
    qb_tensor *t = qb_out(g, n, i);
    if (!t)
        return;
    t->dtype = dt;
    t->ndim = ndim;
    for (int k = 0; k < ndim; k++)
        t->dims[k] = dims[k];
    t->has_shape = 1;
}

qb_tensor *qb_need_in(qb_graph *g, qb_node *n, int i, qb_err *e)
{
    qb_tensor *t = qb_in(g, n, i);
    if (!t)
        QB_NODE_ERR(e, g, n, "input %d is missing", i);
    return t;
}

int qb_axis(int64_t a, int r)
{
    if (a < 0)
        a += r;
    return a < 0 || a >= (r ? r : 1) ? -1 : (int)a;
}

void qb_axis_split(const qb_tensor *x, int a, int64_t *outer, int64_t *len, int64_t *inner)
{
    *outer = *inner = 1;
    for (int d = 0; d < x->ndim; d++)
        if (d < a)
            *outer *= x->dims[d];
        else if (d > a)
            *inner *= x->dims[d];
    if (len)
        *len = x->ndim ? x->dims[a] : 1;
}

int64_t qb_int_at(const qb_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case QB_DT_INT64: return ((const int64_t *)t->data)[i];
    case QB_DT_INT32: return ((const int32_t *)t->data)[i];
    case QB_DT_INT8: return ((const int8_t *)t->data)[i];
    case QB_DT_UINT8: case QB_DT_BOOL: return ((const uint8_t *)t->data)[i];
    case QB_DT_UINT32: return ((const uint32_t *)t->data)[i];
    case QB_DT_UINT64: return (int64_t)((const uint64_t *)t->data)[i];
    case QB_DT_FLOAT: case QB_DT_FLOAT16: case QB_DT_DOUBLE: {
        double f = qb_get_d(t, i);
        return f != f ? 0 : f <= -9.2e18 ? INT64_MIN : f >= 9.2e18 ? INT64_MAX : (int64_t)f;
    }
    default: return 0;
    }
}

int qb_dtype_is_int(qb_dtype t)
{
    return t != QB_DT_FLOAT && t != QB_DT_FLOAT16 && t != QB_DT_DOUBLE;
}

double qb_get_d(const qb_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case QB_DT_FLOAT: return ((const float *)t->data)[i];
    case QB_DT_FLOAT16: return qb_f16_to_f32(((const uint16_t *)t->data)[i]);
    case QB_DT_DOUBLE: return ((const double *)t->data)[i];
    case QB_DT_UINT64: return (double)((const uint64_t *)t->data)[i];
    default: return (double)qb_int_at(t, i);
    }
}

void qb_set_i(qb_tensor *t, int64_t i, int64_t v)
{
    switch (t->dtype) {
    case QB_DT_FLOAT: ((float *)t->data)[i] = (float)v; break;
    case QB_DT_FLOAT16: ((uint16_t *)t->data)[i] = qb_f32_to_f16((float)v); break;
    case QB_DT_DOUBLE: ((double *)t->data)[i] = (double)v; break;
    case QB_DT_INT64: case QB_DT_UINT64: ((int64_t *)t->data)[i] = v; break;
    case QB_DT_INT32: case QB_DT_UINT32: ((uint32_t *)t->data)[i] = (uint32_t)v; break;
    case QB_DT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    default: ((uint8_t *)t->data)[i] = (uint8_t)v; break; /* int8, uint8: two's complement wrap */
    }
}

/* double -> float16 rounded once to nearest even: go through float
 * rounded to odd (float has 13 more bits, so no double rounding). */
static uint16_t d_to_f16(double v)
{
    float f = (float)v;
    if (isfinite(f) && (double)f != v) {
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        if (!(u & 1))
            f = nextafterf(f, v > f ? INFINITY : -INFINITY);
    }
    return qb_f32_to_f16(f);
}

void qb_set_d(qb_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case QB_DT_FLOAT: ((float *)t->data)[i] = (float)v; break;
    case QB_DT_FLOAT16: ((uint16_t *)t->data)[i] = d_to_f16(v); break;
    case QB_DT_DOUBLE: ((double *)t->data)[i] = v; break;
    case QB_DT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    case QB_DT_UINT64:
        ((uint64_t *)t->data)[i] = v != v || v <= 0 ? 0 : v >= 1.8e19 ? UINT64_MAX : (uint64_t)v;
        break;
    default: /* out-of-range float to int is undefined in C: saturate, NaN -> 0 */
        qb_set_i(t, i, v != v ? 0 : v <= -9.2e18 ? INT64_MIN : v >= 9.2e18 ? INT64_MAX : (int64_t)v);
        break;
    }
}

int qb_broadcast(int na, const int64_t *a, int nb, const int64_t *b, int *nout, int64_t *out)
{
    int r = na > nb ? na : nb;
    for (int i = 0; i < r; i++) {
        int64_t da = i - (r - na) >= 0 ? a[i - (r - na)] : 1;
        int64_t db = i - (r - nb) >= 0 ? b[i - (r - nb)] : 1;
        if (da != db && da != 1 && db != 1)
            return -1;
        out[i] = da == 1 ? db : da;
    }
    *nout = r;
    return 0;
}

int64_t qb_node_macs(const qb_graph *g, const qb_node *n)
{
    return n->def && n->def->macs ? n->def->macs(g, n) : 0;
}

static size_t tensor_bytes(const qb_tensor *t)
{
    int64_t c = qb_tensor_count(t);
    return c < 0 ? 0 : (size_t)c * qb_dtype_size(t->dtype);
}

/* ---- arena planning: first fit among the blocks live at the moment ---- */
typedef struct live_block {
    size_t off, size; /* byte range */
    int until;        /* node index after which it is free */
} live_block;

typedef struct planner {
    live_block *b; /* live blocks, sorted by offset */
    int n, cap;    /* count / capacity */
    size_t top;    /* arena size so far */
} planner;

static size_t plan_alloc(planner *p, size_t size, int until)
{
    size = (size + ALIGN - 1) / ALIGN * ALIGN;
    if (!size)
        size = ALIGN;
    size_t off = 0;
    int at = 0;
    for (; at < p->n; at++) {
        if (p->b[at].off >= off + size)
            break;
        if (p->b[at].off + p->b[at].size > off)
            off = p->b[at].off + p->b[at].size;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 32;
        p->b = realloc(p->b, p->cap * sizeof *p->b);
    }
    memmove(p->b + at + 1, p->b + at, (p->n - at) * sizeof *p->b);
    p->b[at] = (live_block){off, size, until};
    p->n++;
    if (off + size > p->top)
        p->top = off + size;
    return off;
}

/* The live block at off now lives until `until` too; 0 if none is there. */
static int plan_extend(planner *p, size_t off, int until)
{
    for (int i = 0; i < p->n; i++)
        if (p->b[i].off == off) {
            if (p->b[i].until < until)
                p->b[i].until = until;
            return 1;
        }
    return 0;
}

static void plan_release(planner *p, int step)
{
    int j = 0;
    for (int i = 0; i < p->n; i++)
        if (p->b[i].until > step)
            p->b[j++] = p->b[i];
    p->n = j;
}

/* Tensor ti is read only as a Dropout's ratio (input 1). */
/* Tensor ti is read only as inputs whose values are needed when
 * preparing (qb_opdef.value_inputs: a Dropout ratio, Range's bounds ...). */
static int only_value_input(const qb_graph *g, int ti)
{
    int uses = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nin; j++)
            if (g->nodes[i].in[j] == ti) {
                if (j >= 32 || !g->nodes[i].def || !(g->nodes[i].def->value_inputs & (1u << j)))
                    return 0;
                uses++;
            }
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == ti)
            return 0;
    return uses > 0;
}

static int bind_inputs(qb_graph *g, const qb_tensor *in, int nin, qb_err *e)
{
    if (nin && nin != g->ninputs) {
        qb_errf(e, "%s: the model has %d inputs, %d given", g->file, g->ninputs, nin);
        return -1;
    }
    for (int i = 0; i < g->ninputs; i++) {
        qb_tensor *t = g->tensors[g->inputs[i]];
        if (nin) {
            const qb_tensor *s = &in[i];
            if (t->has_shape && s->ndim != t->ndim) {
                char a[128], b[128];
                qb_shape_str(t->ndim, t->dims, a, sizeof a);
                qb_shape_str(s->ndim, s->dims, b, sizeof b);
                qb_errf(e, "%s: input '%s' has shape %s, the model expects rank %d (%s)", g->file, t->name, b, t->ndim,
                        a);
                return -1;
            }
            for (int k = 0; t->has_shape && k < t->ndim; k++)
                if (!t->sym[k] && t->dims[k] != s->dims[k]) {
                    char a[128], b[128];
                    qb_shape_str(t->ndim, t->dims, a, sizeof a);
                    qb_shape_str(s->ndim, s->dims, b, sizeof b);
                    qb_errf(e, "%s: input '%s' has shape %s, the model expects %s", g->file, t->name, b, a);
                    return -1;
                }
            if (s->data && s->dtype != t->dtype) {
                qb_errf(e, "%s: input '%s' is %s, the model expects %s", g->file, t->name, qb_dtype_name(s->dtype),
                        qb_dtype_name(t->dtype));
                return -1;
            }
            t->ndim = s->ndim;
            memcpy(t->dims, s->dims, sizeof t->dims);
            t->has_shape = 1;
            if (qb_tensor_count(t) < 0) {
                qb_errf(e, "%s: input '%s': the product of its dimensions overflows", g->file, t->name);
                return -1;
            }
        } else {
            if (!t->has_shape) {
                qb_errf(e, "%s: input '%s' has no declared shape; give it with --shape", g->file, t->name);
                return -1;
            }
            if (qb_input_symbolic(g, e)) /* names the input and the dimension */
                return -1;
        }
        if ((t->dtype != QB_DT_FLOAT && !g->runtime_ints) || (nin && in[i].data && only_value_input(g, g->inputs[i]))) {
            /* integer, float16 and double inputs (shapes, indices, casts) and
             * float inputs read only for their values (a Dropout ratio) are
             * bound as constants */
            if (!nin || !in[i].data) {
                qb_errf(e, "%s: input '%s' is %s: its values are needed to prepare the graph", g->file, t->name,
                        qb_dtype_name(t->dtype));
                return -1;
            }
            size_t bytes = tensor_bytes(t);
            t->data = malloc(bytes ? bytes : 1);
            if (!t->data) {
                qb_errf(e, "%s: out of memory", g->file);
                return -1;
            }
            memcpy(t->data, in[i].data, bytes);
            t->kind = QB_T_CONST;
        }
    }
    return 0;
}

static int fold(qb_graph *g, qb_node *n, qb_err *e)
{
    for (int j = 0; j < n->nout; j++) {
        qb_tensor *t = qb_out(g, n, j);
        if (!t)
            continue;
        size_t b = tensor_bytes(t);
        t->data = calloc(b ? b : 1, 1);
        if (!t->data) {
            QB_NODE_ERR(e, g, n, "out of memory");
            return -1;
        }
        t->kind = QB_T_CONST;
    }
    void *scratch = n->scratch ? malloc(n->scratch) : NULL;
    if (n->scratch && !scratch) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->def->run(g, n, scratch);
    free(scratch);
    n->folded = 1;
    return 0;
}

static int count_uses(const qb_graph *g, int t)
{
    int c = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nin; j++)
            c += g->nodes[i].in[j] == t && !g->nodes[i].folded;
    for (int i = 0; i < g->noutputs; i++)
        c += g->outputs[i] == t;
    return c;
}

/* A Relu or a Clip with constant bounds right after a node that can clamp
 * its own output (Conv, Gemm/MatMul on the kernel) is done by that node:
 * it writes the activation's output tensor and the activation is skipped.
 * The IR keeps both nodes, so export is unchanged. */
static void fuse_activations(qb_graph *g)
{
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *n = &g->nodes[i];
        if (n->folded || !n->can_clamp || n->out[0] < 0 || count_uses(g, n->out[0]) != 1)
            continue;
        for (int j = i + 1; j < g->nnodes; j++) {
            qb_node *a = &g->nodes[j];
            if (a->folded || a->nin < 1 || a->in[0] != n->out[0])
                continue;
            float lo = -INFINITY, hi = INFINITY;
            if (!strcmp(a->op, "Relu")) {
                lo = 0.0f;
            } else if (!strcmp(a->op, "Clip")) {
                const qb_tensor *tl = qb_in(g, a, 1), *th = qb_in(g, a, 2);
                if ((tl && tl->kind != QB_T_CONST) || (th && th->kind != QB_T_CONST))
                    break;
                if (g->opset < 11) {
                    lo = qb_attr_float(a, "min", -INFINITY);
                    hi = qb_attr_float(a, "max", INFINITY);
                } else {
                    lo = tl ? ((const float *)tl->data)[0] : -INFINITY;
                    hi = th ? ((const float *)th->data)[0] : INFINITY;
                }
                if (lo != lo || hi != hi || lo > hi)
                    break;
            } else {
                break;
            }
            n->f_min = lo;
            n->f_max = hi;
            n->write_to = a->out[0];
            a->fused_into = i;
            break;
        }
    }
}

/* A nearest integer upsampling (Resize/Upsample of H and W only,
 * qb_resize_upsampling) whose output one Concat writing int8 from NCHW
 * inputs (qb_nhwc_quantize_out) reads, and nothing else, is read through
 * by that Concat (qb_nhwc_read_upsampled): it takes each value from the
 * smaller input, so the Resize is not run (fused into the reader) and its
 * output is never written. The same values, so the same int8 codes.
 * So is one read by a float32 Add/Sub/Mul/Div of one 4-D shape
 * (qb_elem_read_upsampled: each source row upsampled into a row on the
 * stack, then the operator's span; the same values, the same bits).
 * QB_NO_UPSAMPLE_FUSION=1 turns it off (tests compare). */
static void fuse_upsampling(qb_graph *g)
{
    const char *env = getenv("QB_NO_UPSAMPLE_FUSION");
    if (env && *env && strcmp(env, "0"))
        return;
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *r = &g->nodes[i];
        int64_t rh, rw;
        if (r->nout < 1 || r->out[0] < 0 || r->in[0] < 0 || !qb_resize_upsampling(g, r, &rh, &rw) ||
            count_uses(g, r->out[0]) != 1)
            continue;
        for (int j = i + 1; j < g->nnodes; j++) {
            qb_node *c = &g->nodes[j];
            int k = 0;
            while (k < c->nin && c->in[k] != r->out[0])
                k++;
            if (c->folded || k == c->nin)
                continue;
            if (c->fused_into < 0 && (qb_nhwc_read_upsampled(g, c, k, r->in[0], rh, rw) ||
                                      qb_elem_read_upsampled(g, c, k, r->in[0], rh, rw)))
                r->fused_into = j;
            break;
        }
    }
}

/* The node that writes tensor t at run time (a fused activation's output
 * is written by the node it is fused into), or -1. */
static int writer(const qb_graph *g, int t)
{
    int p = g->tensors[t]->producer;
    if (p >= 0 && g->nodes[p].fused_into >= 0)
        p = g->nodes[p].fused_into;
    return p;
}

/* The output tensor a node writes at run time (a fused activation's). */
static int written(const qb_node *n)
{
    return n->write_to >= 0 ? n->write_to : n->out[0];
}

/* t is 4-D with one pixel per image: its NHWC and NCHW layouts are the same. */
static int one_pixel(const qb_tensor *t) { return t->ndim == 4 && t->dims[2] * t->dims[3] == 1; }

/* Which 4-D tensors stay NHWC: outputs of Convs, of element-wise chains
 * (fuse_elem.c) and of the NHWC operators (nhwc_ops.c: pools, Concat,
 * Add/Sub/Mul of one shape) whose data inputs are all NHWC, read only by
 * Convs (as their data input, where NHWC costs nothing more:
 * qb_conv_nhwc_input_fast), by ConvTransposes (their data input), by chains and NHWC operators whose own output
 * stays NHWC, and by GlobalAveragePool (its output is the same in both
 * layouts). Start from every candidate and drop the ones that break a
 * rule until none does. nhwc[t] = 1 for those tensors. */
static void nhwc_tensors(const qb_graph *g, char *nhwc, const int *rse_k)
{
    for (int i = 0; i < g->nnodes; i++) {
        const qb_node *n = &g->nodes[i];
        if (n->folded || n->fused_into >= 0)
            continue;
        int chain_x = qb_elem_chain_input(g, n);
        int role = qb_nhwc_role(g, n);
        if (strcmp(n->op, "Conv") && chain_x < 0 && role != 1 && role != 3)
            continue;
        int t = written(n);
        if (t >= 0 && g->tensors[t]->ndim == 4 && (chain_x < 0 || g->tensors[chain_x]->ndim == 4))
            nhwc[t] = 1;
    }
    for (int k = 0; k < g->noutputs; k++)
        nhwc[g->outputs[k]] = 0;
    for (int changed = 1; changed;) {
        changed = 0;
        for (int t = 0; t < g->ntensors; t++) {
            if (!nhwc[t])
                continue;
            int w = writer(g, t), ok = w >= 0;
            if (ok) {
                const qb_node *wn = &g->nodes[w];
                int wx = qb_elem_chain_input(g, wn);
                if (wx >= 0)
                    ok = nhwc[wx];
                else if (qb_nhwc_role(g, wn) == 1 || qb_nhwc_role(g, wn) == 3)
                    for (int k = 0; k < wn->nin; k++) /* (N x C x 1 x 1 is the same in both layouts) */
                        ok &= wn->in[k] < 0 || g->tensors[wn->in[k]]->kind == QB_T_CONST || nhwc[wn->in[k]] ||
                              one_pixel(g->tensors[wn->in[k]]);
                else
                    ok = !strcmp(wn->op, "Conv");
            }
            for (int j = 0; j < g->nnodes && ok; j++) {
                const qb_node *c = &g->nodes[j];
                if (c->folded)
                    continue;
                for (int k = 0; k < c->nin && ok; k++) {
                    if (c->in[k] != t)
                        continue;
                    int h = c->fused_into >= 0 ? c->fused_into : j;
                    int hx = qb_elem_chain_input(g, &g->nodes[h]), role = c->fused_into < 0 ? qb_nhwc_role(g, c) : 0;
                    if (rse_k[h] >= 0 && t == rse_k[g->nnodes + 1 + h]) /* x + x * s from int8 codes (rse_input) */
                        ok = 1;
                    else if (hx >= 0) /* read inside a chain: as its input, the chain's output NHWC too */
                        ok = hx == t && nhwc[written(&g->nodes[h])];
                    else if (role == 1)
                        ok = nhwc[written(c)];
                    else if (role == 2 || role == 3) /* reads NHWC, writes what its readers want */
                        ok = k == 0;
                    else if (!strcmp(c->op, "ConvTranspose")) /* its GEMM's A (ops_convt.c) */
                        ok = c->fused_into < 0 && k == 0 && qb_convt_nhwc_input_ok(c);
                    else
                        ok = c->fused_into < 0 && k == 0 && !strcmp(c->op, "Conv") && qb_conv_nhwc_input_fast(c);
                }
            }
            if (!ok) {
                nhwc[t] = 0;
                changed = 1;
            }
        }
    }
}

/* The int8 quantized conv reading tensor u as its NHWC data input if
 * every reader of u is one of those, all in one input grid; else -1. */
static int int8_conv_readers(const qb_graph *g, int u)
{
    int first = -1;
    for (int j = 0; j < g->nnodes; j++) {
        const qb_node *r = &g->nodes[j];
        if (r->folded)
            continue;
        for (int k = 0; k < r->nin; k++) {
            if (r->in[k] != u)
                continue;
            if (k != 0 || r->fused_into >= 0 || strcmp(r->op, "Conv") || !r->q ||
                (r->q->run_prec != QB_PREC_INT8_TENSOR && r->q->run_prec != QB_PREC_INT8_CHANNEL))
                return -1;
            if (first >= 0 && (g->nodes[first].q->in_scale != r->q->in_scale ||
                               g->nodes[first].q->in_zero != r->q->in_zero))
                return -1;
            if (first < 0)
                first = j;
        }
    }
    return first;
}

/* The int8 quantized conv (in_grid: its index; *pool: the pool) reading
 * the output of the one MaxPool that reads tensor u, if that pool is the
 * only reader of u, reads and writes NHWC, and only int8 convs of one
 * input grid read it; else -1. An element-wise chain ahead of such a pool
 * maps into that grid and the pool takes the int8 maximum as it is:
 * QuantizeLinear is non-decreasing, so max then quantize (the float
 * path) equals quantize then max. */
static int int8_pool_convs(const qb_graph *g, int u, const char *nhwc, int *pool)
{
    int mp = -1;
    for (int j = 0; j < g->nnodes; j++) {
        const qb_node *r = &g->nodes[j];
        if (r->folded)
            continue;
        for (int k = 0; k < r->nin; k++) {
            if (r->in[k] != u)
                continue;
            if (mp >= 0 || k != 0 || r->fused_into >= 0 || strcmp(r->op, "MaxPool") || qb_nhwc_role(g, r) != 3)
                return -1;
            mp = j;
        }
    }
    if (mp < 0 || !nhwc[written(&g->nodes[mp])])
        return -1;
    if (pool)
        *pool = mp;
    return int8_conv_readers(g, written(&g->nodes[mp]));
}

/* The int8 quantized Gemm that alone reads, as its A, the output of the
 * one Flatten (axis 1, not fused) that alone reads 4-D tensor t, neither
 * a graph output; else -1. Such a Gemm can read t as int8 NHWC pixels
 * (qb_gemm_set_int8_nhwc_input: its weights' columns permuted). */
static int int8_flatten_gemm(const qb_graph *g, int t)
{
    int f = -1, gm = -1;
    if (g->tensors[t]->ndim != 4)
        return -1;
    for (int pass = 0; pass < 2; pass++, t = f >= 0 ? g->nodes[f].out[0] : -1) {
        int r = -1;
        for (int k = 0; k < g->noutputs; k++)
            if (g->outputs[k] == t)
                return -1;
        for (int j = 0; j < g->nnodes; j++) {
            const qb_node *c = &g->nodes[j];
            for (int k = 0; k < c->nin && !c->folded; k++)
                if (c->in[k] == t) {
                    if (r >= 0 || k != 0 || c->fused_into >= 0)
                        return -1;
                    r = j;
                }
        }
        if (r < 0)
            return -1;
        const qb_node *c = &g->nodes[r];
        if (pass == 0 && (strcmp(c->op, "Flatten") || c->nout != 1 || qb_attr_int(c, "axis", 1) != 1))
            return -1;
        if (pass == 1 && (strcmp(c->op, "Gemm") || !c->q || !qb_precision_is_int8(c->q->run_prec) ||
                          qb_attr_int(c, "transA", 0)))
            return -1;
        *(pass ? &gm : &f) = r;
    }
    return gm;
}

/* c, a reader of int8 quantized conv p's NHWC output: -1 unless it can
 * take it as int8. A MaxPool or AveragePool (NHWC input, 2-D): the index
 * of the conv reading its output if only int8 quantized convs in one input
 * grid read it (the pool writes int8 in that grid), else -2 (it writes
 * floats). A
 * GlobalAveragePool: -2 (floats). An element-wise chain whose input is
 * p's output (c its first node or a member): the conv reading its output
 * if only int8 convs of one grid do (it maps int8 to int8 through its
 * tables), else -1. */
static int int8_maxpool(const qb_graph *g, const qb_node *p, const qb_node *c, const char *nhwc)
{
    if (p->q->run_prec != QB_PREC_INT8_TENSOR && p->q->run_prec != QB_PREC_INT8_CHANNEL)
        return -1;
    const qb_node *h = c->fused_into >= 0 ? &g->nodes[c->fused_into] : c; /* a chain member: its chain */
    if (qb_elem_chain_input(g, h) == written(p)) {
        if (!nhwc[written(p)] || !nhwc[written(h)])
            return -1;
        int to = int8_conv_readers(g, written(h));
        return to >= 0 ? to : int8_pool_convs(g, written(h), nhwc, NULL);
    }
    if (!strcmp(c->op, "GlobalAveragePool") && c->fused_into < 0 && qb_nhwc_role(g, c) == 2 && c->in[0] == written(p))
        return -2;
    if ((strcmp(c->op, "MaxPool") && strcmp(c->op, "AveragePool")) || c->fused_into >= 0 || qb_nhwc_role(g, c) != 3)
        return -1;
    /* NCHW output into a Flatten and an int8 Gemm: int8 NHWC in the Gemm's grid */
    int to = nhwc[written(c)] ? int8_conv_readers(g, written(c)) : int8_flatten_gemm(g, written(c));
    return to >= 0 ? to : -2;
}

/* The int8 quantized conv whose input grid a Concat or Add/Sub/Mul of
 * one shape (qb_nhwc_role 1) writes its output in (qb_nhwc_quantize_out):
 * every reader of its output is an int8 conv of one grid reading it as
 * its NHWC data input where that costs nothing (qb_conv_nhwc_input_fast),
 * and the output is no graph output; else -1. */
static int int8_out_conv(const qb_graph *g, const qb_node *n)
{
    if (qb_nhwc_role(g, n) != 1)
        return -1;
    int t = written(n), to = int8_conv_readers(g, t);
    for (int k = 0; k < g->noutputs && to >= 0; k++)
        if (g->outputs[k] == t)
            to = -1;
    for (int j = 0; j < g->nnodes && to >= 0; j++)
        if (!g->nodes[j].folded && g->nodes[j].nin > 0 && g->nodes[j].in[0] == t &&
            !qb_conv_nhwc_input_fast(&g->nodes[j]))
            to = -1;
    return to;
}

/* The only runtime node reading tensor t (not a graph output), or -1. */
static int only_reader(const qb_graph *g, int t)
{
    int r = -1;
    for (int k = 0; k < g->noutputs; k++)
        if (g->outputs[k] == t)
            return -1;
    for (int j = 0; j < g->nnodes; j++)
        for (int k = 0; k < g->nodes[j].nin; k++)
            if (!g->nodes[j].folded && g->nodes[j].in[k] == t) {
                if (r >= 0 && r != j)
                    return -1;
                r = j;
            }
    return r;
}

/* Node i with its original operator (op) of two 4-D float inputs, not
 * fused into another: the Add/Mul of an x + x * s pattern. */
static int plain_binary(const qb_graph *g, int i, const char *op)
{
    const qb_node *n = i >= 0 ? &g->nodes[i] : NULL;
    return n && !n->folded && n->fused_into < 0 && n->write_to < 0 && !n->domain && n->nin == 2 && n->nout == 1 &&
           n->in[0] >= 0 && n->in[1] >= 0 && !strcmp(n->op, op) && n->def == qb_op_find(op);
}

/* a = Add(x, Mul(x, s)) (any operand order, the Mul read by nothing else,
 * the Add not fused), x the output of an int8 quantized conv read
 * otherwise only by GlobalAveragePools (int8 on NHWC), not a graph
 * output, of a's shape, s N x C x 1 x 1: 1 with *mul, *xt, *st, else 0. */
static int rse_add(const qb_graph *g, int a, int *mul, int *xt, int *st)
{
    if (!plain_binary(g, a, "Add"))
        return 0;
    const qb_tensor *y = qb_out(g, &g->nodes[a], 0);
    for (int ka = 0; ka < 2; ka++) {
        int x = g->nodes[a].in[ka], mt = g->nodes[a].in[1 - ka], m = g->tensors[mt]->producer;
        if (x == mt || !plain_binary(g, m, "Mul") || only_reader(g, mt) != a)
            continue;
        const qb_node *mn = &g->nodes[m];
        int km = mn->in[0] == x ? 0 : mn->in[1] == x ? 1 : -1;
        if (km < 0 || mn->in[1 - km] == x)
            continue;
        const qb_tensor *xv = g->tensors[x], *sv = g->tensors[mn->in[1 - km]];
        int w = writer(g, x);
        if (xv->kind != QB_T_VALUE || xv->dtype != QB_DT_FLOAT || xv->ndim != 4 || sv->ndim != 4 || !y ||
            y->dtype != QB_DT_FLOAT || y->ndim != 4 || sv->dtype != QB_DT_FLOAT || sv->dims[0] != y->dims[0] ||
            sv->dims[1] != y->dims[1] || sv->dims[2] != 1 || sv->dims[3] != 1 || w < 0 ||
            strcmp(g->nodes[w].op, "Conv") || !g->nodes[w].q ||
            (g->nodes[w].q->run_prec != QB_PREC_INT8_TENSOR && g->nodes[w].q->run_prec != QB_PREC_INT8_CHANNEL))
            continue;
        int ok = 1;
        for (int d = 0; d < 4; d++)
            ok &= xv->dims[d] == y->dims[d];
        for (int j = 0; j < g->noutputs; j++)
            ok &= g->outputs[j] != x;
        for (int j = 0; j < g->nnodes && ok; j++) /* x's other readers: GlobalAveragePools (int8 on NHWC) */
            for (int q = 0; q < g->nodes[j].nin && ok; q++)
                if (!g->nodes[j].folded && g->nodes[j].in[q] == x && j != m && j != a)
                    ok = q == 0 && g->nodes[j].fused_into < 0 && !strcmp(g->nodes[j].op, "GlobalAveragePool") &&
                         qb_nhwc_role(g, &g->nodes[j]) == 2;
        if (!ok)
            continue;
        *mul = m, *xt = x, *st = mn->in[1 - km];
        return 1;
    }
    return 0;
}

/* A Concat or Add/Sub/Mul o writing int8 for convs of one grid
 * (int8_out_conv) whose input k is a = Add(x, Mul(x, s)) (rse_add) read
 * by nothing else: det's RSE block ahead of an FPN sum. Then the Mul and
 * the Add are fused into o, which takes x as int8 codes (the conv hands
 * them on: no float map, no NCHW planes) and computes x + x * s per
 * element from them (qb_nhwc_rse_input). Returns k with *mul, *add, *xt,
 * *st; else, if o is itself such an Add whose output stays float
 * (its own host: the Mul fused into it, qb_nhwc_rse_self), 2 with *add =
 * -1; else -1. */
static int rse_input(const qb_graph *g, int o, int *mul, int *add, int *xt, int *st)
{
    const qb_node *n = &g->nodes[o];
    if (n->folded || n->fused_into >= 0)
        return -1;
    if (int8_out_conv(g, n) < 0) {
        *add = -1;
        return rse_add(g, o, mul, xt, st) ? 2 : -1;
    }
    if (n->nin != 2 && strcmp(n->op, "Concat"))
        return -1;
    for (int k = 0; k < n->nin; k++) {
        int a = g->tensors[n->in[k]]->producer;
        if (a < 0 || only_reader(g, g->nodes[a].out[0]) != o || !rse_add(g, a, mul, xt, st))
            continue;
        int ok = 1;
        for (int d = 0; d < 4 && n->op[0] != 'C'; d++) /* an Add/Sub/Mul of one shape, not of one value per channel */
            ok &= g->tensors[n->in[1 - k]]->dims[d] == g->tensors[n->in[k]]->dims[d];
        if (!ok)
            continue;
        *add = a;
        return k;
    }
    return -1;
}

int qb_graph_int8_links(const qb_graph *g)
{
    const char *nl = getenv("QB_NO_INT8_LINKS");
    return !g->no_int8_links && !(nl && *nl && strcmp(nl, "0"));
}

/* Between convolutions, activations stay NHWC: a Conv whose output feeds
 * only Convs (as their data input), directly or through element-wise
 * chains and the NHWC operators, writes NHWC, and those read NHWC. The IR
 * and every other operator still see NCHW. */
static int choose_layouts(qb_graph *g, qb_err *e)
{
    const char *env = getenv("QB_NCHW_ONLY");
    if (g->nchw_only || (env && *env && strcmp(env, "0")))
        return 0;
    int *out_nhwc = calloc(g->nnodes + 1, sizeof(int));
    char *nhwc = calloc(g->ntensors + 1, 1);
    int *rse = calloc((size_t)(g->nnodes + 1) * 3, sizeof(int)); /* node i: rse_input's k, x and s, or k -1 */
    if (!out_nhwc || !nhwc || !rse) {
        free(out_nhwc);
        free(nhwc);
        free(rse);
        qb_errf(e, "%s: out of memory", g->file);
        return -1;
    }
    int links = qb_graph_int8_links(g);
    for (int i = 0; i < g->nnodes; i++)
        rse[i] = -1;
    for (int pass = 0; pass < 2 && links; pass++) /* the int8-writing hosts first: their Adds are no hosts */
        for (int i = 0; i < g->nnodes; i++) {
            int m, a, x, sv, k = rse[i] < 0 ? rse_input(g, i, &m, &a, &x, &sv) : -1;
            if (k < 0 || (k == 2) != pass)
                continue;
            rse[i] = k, rse[g->nnodes + 1 + i] = x, rse[2 * (g->nnodes + 1) + i] = sv;
            g->nodes[m].fused_into = i;
            if (a >= 0)
                g->nodes[a].fused_into = i;
        }
    nhwc_tensors(g, nhwc, rse);
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *n = &g->nodes[i];
        if (n->folded || n->fused_into >= 0 || strcmp(n->op, "Conv"))
            continue;
        out_nhwc[i] = nhwc[written(n)];
    }
    /* Quantized int8 convs whose NHWC output goes only to int8 convs
     * reading it in the same grid hand it on as int8 (no dequantize /
     * quantize in between); QB_NO_INT8_LINKS=1 or g->no_int8_links keeps
     * floats (per-layer comparison reads every layer's output as floats). */
    int *pool_i8 = malloc((g->nnodes + 1) * sizeof(int)); /* MaxPool i on int8: the conv feeding it, else -1 */
    int *pool_to = malloc((g->nnodes + 1) * sizeof(int)); /* ... and a conv it feeds (its input grid) */
    char *pool_plain = calloc(g->nnodes + 1, 1); /* MaxPool after an int8 chain: int8 maximum in the grid */
    if (!pool_i8 || !pool_to || !pool_plain) {
        free(out_nhwc), free(nhwc), free(rse), free(pool_i8), free(pool_to), free(pool_plain);
        qb_errf(e, "%s: out of memory", g->file);
        return -1;
    }
    for (int i = 0; i < g->nnodes; i++)
        pool_i8[i] = pool_to[i] = -1;
    for (int i = 0; i < g->nnodes && links; i++) {
        qb_node *n = &g->nodes[i];
        if (!out_nhwc[i] || !n->q)
            continue;
        int t = written(n), ok = 1;
        for (int j = 0; j < g->nnodes && ok; j++) {
            const qb_node *c = &g->nodes[j];
            if (c->folded)
                continue;
            const int h = c->fused_into >= 0 ? c->fused_into : j; /* x + x * s from int8 codes: rse_input */
            for (int k = 0; k < c->nin && ok; k++)
                if (c->in[k] == t && !qb_qlayer_int8_link(n, c) && !(rse[h] >= 0 && t == rse[g->nnodes + 1 + h])) {
                    int to = int8_maxpool(g, n, c, nhwc);
                    ok = to != -1;
                    pool_to[j] = to;
                }
        }
        if (ok) {
            out_nhwc[i] |= 2;
            for (int j = 0; j < g->nnodes; j++)
                if (pool_to[j] != -1 && pool_i8[j] < 0)
                    for (int k = 0; k < g->nodes[j].nin; k++)
                        if (g->nodes[j].in[k] == t)
                            pool_i8[j] = i;
        }
        for (int j = 0; j < g->nnodes; j++)
            if (pool_i8[j] < 0)
                pool_to[j] = -1;
    }
    for (int i = 0; i < g->nnodes; i++) /* a pool writing int8 for a Gemm after a Flatten: NHWC */
        if (pool_i8[i] >= 0 && pool_to[i] >= 0 && !strcmp(g->nodes[pool_to[i]].op, "Gemm"))
            nhwc[written(&g->nodes[i])] = 1;
    for (int i = 0; i < g->nnodes; i++) { /* int8 chains into a MaxPool: the pool stays int8 */
        int mp = -1;
        if (pool_i8[i] >= 0 && pool_to[i] >= 0 && qb_elem_chain_input(g, &g->nodes[i]) >= 0 &&
            int8_conv_readers(g, written(&g->nodes[i])) < 0 && int8_pool_convs(g, written(&g->nodes[i]), nhwc, &mp) >= 0)
            pool_plain[mp] = 1;
    }
    int rc = 0;
    int *q8_to = malloc((g->nnodes + 1) * sizeof(int)); /* Concat/Add/Sub/Mul i writes int8 in this conv's grid */
    if (!q8_to) {
        free(out_nhwc), free(nhwc), free(rse), free(pool_i8), free(pool_to), free(pool_plain);
        qb_errf(e, "%s: out of memory", g->file);
        return -1;
    }
    for (int i = 0; i < g->nnodes; i++)
        q8_to[i] = links && !g->nodes[i].folded && g->nodes[i].fused_into < 0 ? int8_out_conv(g, &g->nodes[i]) : -1;
    for (int i = 0; i < g->nnodes && !rc; i++) {
        qb_node *n = &g->nodes[i];
        if (n->folded || n->fused_into >= 0)
            continue;
        if (rse[i] == 2) { /* x + x * s from int8 codes into float NCHW planes */
            int x = rse[g->nnodes + 1 + i], w = writer(g, x);
            if (!(out_nhwc[w] & 2)) {
                QB_NODE_ERR(e, g, n, "x + x * s from int8: its conv hands on no int8 (internal error)");
                rc = -1;
            } else {
                rc = qb_nhwc_rse_self(g, n, x, rse[2 * (g->nnodes + 1) + i], g->nodes[w].q->out_scale,
                                      g->nodes[w].q->out_zero, e);
            }
            continue;
        }
        if (q8_to[i] >= 0) { /* reads its inputs in the layout they have: all NHWC when its output is */
            const qb_qspec *to = g->nodes[q8_to[i]].q;
            rc = qb_nhwc_quantize_out(g, n, nhwc[written(n)], to->in_scale, to->in_zero, e);
            int x = rse[g->nnodes + 1 + i], w = rse[i] >= 0 ? writer(g, x) : -1;
            if (!rc && rse[i] >= 0 && !(out_nhwc[w] & 2)) {
                QB_NODE_ERR(e, g, n, "x + x * s from int8: its conv hands on no int8 (internal error)");
                rc = -1;
            } else if (!rc && rse[i] >= 0) {
                rc = qb_nhwc_rse_input(g, n, rse[i], x, rse[2 * (g->nnodes + 1) + i], g->nodes[w].q->out_scale,
                                       g->nodes[w].q->out_zero, e);
            }
            continue;
        }
        if (qb_elem_chain_input(g, n) >= 0) {
            if (nhwc[written(n)])
                rc = qb_elem_chain_set_nhwc(g, n, e);
            if (!rc && pool_i8[i] >= 0 && pool_to[i] >= 0) {
                const qb_qspec *from = g->nodes[pool_i8[i]].q, *to = g->nodes[pool_to[i]].q;
                rc = qb_elem_chain_set_int8(g, n, from->out_scale, from->out_zero, to->in_scale, to->in_zero, e);
            }
            continue;
        }
        int role = qb_nhwc_role(g, n);
        if ((role == 1 && nhwc[written(n)]) || ((role == 2 || role == 3) && n->in[0] >= 0 && nhwc[n->in[0]])) {
            rc = qb_nhwc_switch(g, n, !nhwc[written(n)], e);
            if (!rc && pool_plain[i])
                rc = qb_nhwc_pool_int8_max(g, n, e);
            if (!rc && pool_i8[i] >= 0) {
                const qb_qspec *from = g->nodes[pool_i8[i]].q, *to = pool_to[i] >= 0 ? g->nodes[pool_to[i]].q : NULL;
                rc = qb_nhwc_pool_int8(g, n, from->out_scale, from->out_zero, to != NULL, to ? to->in_scale : 1.0f,
                                       to ? to->in_zero : 0, e);
            }
            if (!rc && pool_i8[i] >= 0 && pool_to[i] >= 0 && !strcmp(g->nodes[pool_to[i]].op, "Gemm")) {
                /* the Flatten between is not run: the Gemm reads the pool's int8 pixels */
                const qb_tensor *x = g->tensors[written(n)];
                qb_node *gm = &g->nodes[pool_to[i]];
                rc = qb_gemm_set_int8_nhwc_input(g, gm, written(n), x->dims[1], x->dims[2] * x->dims[3], e);
                if (!rc)
                    g->nodes[g->tensors[gm->in[0]]->producer].fused_into = pool_to[i];
            }
            continue;
        }
        if (!strcmp(n->op, "ConvTranspose") && n->in[0] >= 0 && nhwc[n->in[0]])
            qb_convt_set_nhwc_input(n);
        if (strcmp(n->op, "Conv"))
            continue;
        int p = n->in[0] >= 0 ? writer(g, n->in[0]) : -1;
        int in_link = p >= 0 && ((out_nhwc[p] & 2) || (pool_i8[p] >= 0 && pool_to[p] >= 0) || pool_plain[p] ||
                                 q8_to[p] >= 0);
        int in_nhwc = (n->in[0] >= 0 && nhwc[n->in[0]]) || (p >= 0 && q8_to[p] >= 0);
        int nhwc_bits = in_nhwc | (out_nhwc[i] != 0) << 1 | in_link << 2 |
                        ((out_nhwc[i] & 2) != 0) << 3;
        if (nhwc_bits)
            rc = qb_conv_set_layout(g, n, nhwc_bits, e);
    }
    free(out_nhwc);
    free(nhwc);
    free(rse);
    free(pool_i8);
    free(pool_to);
    free(pool_plain);
    free(q8_to);
    return rc;
}

int qb_graph_prepare(qb_graph *g, const qb_tensor *inputs, int ninputs, int isa, qb_err *e)
{
    if (g->prepared) {
        qb_errf(e, "%s: the graph is already prepared", g->file);
        return -1;
    }
    g->isa = isa;
    const char *copy = getenv("QB_COPY_INPUTS");
    if (copy && *copy && strcmp(copy, "0"))
        g->copy_inputs = 1;
    if (isa >= 0) {
        g->gemm = qb_kernel_get(QB_OP_GEMM, QB_PREC_FP32, isa);
        g->dw = qb_kernel_get(QB_OP_DWCONV, QB_PREC_FP32, isa);
        char why[200] = "";
        if (!g->gemm || !qb_kernel_available(g->gemm, why, sizeof why)) {
            qb_errf(e, "fp32 kernels for %s cannot run on this CPU%s%s", qb_isa_name(isa), why[0] ? ": " : "", why);
            return -1;
        }
        if (g->dw && !qb_kernel_available(g->dw, NULL, 0))
            g->dw = NULL;
    } else {
        g->gemm = qb_kernel_select(QB_OP_GEMM, QB_PREC_FP32);
        g->dw = qb_kernel_select(QB_OP_DWCONV, QB_PREC_FP32);
        if (!g->gemm) {
            qb_errf(e, "no fp32 GEMM kernel runs on this CPU");
            return -1;
        }
    }
    if (!g->no_fold_bn)
        qb_fold_batchnorm(g);
    if (bind_inputs(g, inputs, ninputs, e))
        return -1;
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *n = &g->nodes[i];
        int allconst = 1;
        for (int j = 0; j < n->nin; j++) {
            qb_tensor *t = qb_in(g, n, j);
            if (t && !t->has_shape) {
                QB_NODE_ERR(e, g, n, "input '%s' has no known shape", t->name);
                return -1;
            }
            if (t && t->kind != QB_T_CONST)
                allconst = 0;
        }
        int any_out = 0;
        for (int j = 0; j < n->nout; j++)
            any_out |= qb_out(g, n, j) != NULL;
        if (!any_out) {
            QB_NODE_ERR(e, g, n, "has no output");
            return -1;
        }
        if (!qb_out(g, n, 0) && !(n->def->flags & QB_OPF_OPTIONAL_OUT0)) {
            QB_NODE_ERR(e, g, n, "output 0 is missing (an empty name); %s requires it", n->op);
            return -1;
        }
        for (int j = 0; j < n->nin && !(n->def->flags & QB_OPF_ZERO_SIZE); j++) {
            qb_tensor *t = qb_in(g, n, j);
            if (t && qb_tensor_count(t) == 0) {
                char sh[128];
                qb_shape_str(t->ndim, t->dims, sh, sizeof sh);
                QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_SHAPE,
                                    "input '%s' is zero-sized (%s); zero-sized tensors are not supported by %s "
                                    "(only by element-wise and reshaping operators)", t->name, sh, n->op);
                return -1;
            }
        }
        if (n->def->prepare(g, n, e))
            return -1;
        n = &g->nodes[i]; /* an If may have spliced its branch in after it (inline_if.c) */
        if (n->folded)
            continue; /* the op evaluated itself (Shape), or was replaced (If) */
        for (int j = 0; j < n->nout; j++) {
            qb_tensor *t = qb_out(g, n, j);
            if (t && (!t->has_shape || qb_tensor_count(t) < 0)) {
                char sh[128];
                qb_shape_str(t->ndim, t->dims, sh, sizeof sh);
                QB_NODE_ERR(e, g, n, "output '%s' has an invalid shape %s", t->name, sh);
                return -1;
            }
        }
        if (allconst) {
            if (fold(g, n, e))
                return -1;
            continue;
        }
        for (int j = 0; j < n->nout; j++) {
            qb_tensor *t = qb_out(g, n, j);
            if (t && t->dtype != QB_DT_FLOAT && !(n->def->flags & QB_OPF_ANY_DTYPE)) {
                QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                                    "output '%s' would be %s at run time; %s runs on float32 tensors only "
                                    "(other element types must be constant here)", t->name, qb_dtype_name(t->dtype), n->op);
                return -1;
            }
        }
    }
    fuse_activations(g);
    qb_fuse_elementwise(g);
    if (choose_layouts(g, e) || qb_fuse_conv_epilogues(g, e) < 0)
        return -1;
    qb_convt_fuse_pairs(g);
    fuse_upsampling(g);
    qb_fuse_mul_add(g);
    qb_fuse_bias_softmax(g);
    qb_gemm_fuse_softmax(g);
    /* live ranges: a tensor lives until the last node that runs reading
     * it; a fused node's inputs until the node that runs it (a Resize
     * read through: its input is read by the reader) */
    for (int i = 0; i < g->ntensors; i++)
        g->tensors[i]->last_use = -1;
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nin; j++) {
            qb_tensor *t = qb_in(g, &g->nodes[i], j);
            int at = g->nodes[i].fused_into >= 0 ? g->nodes[i].fused_into : i;
            if (t && !g->nodes[i].folded && at > t->last_use)
                t->last_use = at;
        }
    for (int i = 0; i < g->noutputs; i++)
        g->tensors[g->outputs[i]]->last_use = g->nnodes;
    planner p = {0};
    for (int i = 0; i < g->ninputs; i++) {
        qb_tensor *t = g->tensors[g->inputs[i]];
        if (t->kind == QB_T_INPUT)
            t->arena_off = plan_alloc(&p, tensor_bytes(t), t->last_use);
    }
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *n = &g->nodes[i];
        if (n->folded || n->fused_into >= 0)
            continue;
        for (int j = 0; j < n->nout; j++) {
            qb_tensor *t = j == 0 && n->write_to >= 0 ? g->tensors[n->write_to] : qb_out(g, n, j);
            if (!t)
                continue;
            int until = t->last_use < i ? i : t->last_use, x = j == 0 ? qb_elem_chain_input(g, n) : -1;
            if (j == 0 && x < 0 && n->write_to < 0)
                x = qb_elem_inplace_input(g, n);
            /* an element-wise chain that is the last reader of its input
             * writes over it (it reads each block before writing it), and
             * so does a float Add/Sub/Mul/Div over its unbroadcast input */
            if (x >= 0 && g->tensors[x]->kind == QB_T_VALUE && g->tensors[x]->last_use == i &&
                tensor_bytes(g->tensors[x]) == tensor_bytes(t) && plan_extend(&p, g->tensors[x]->arena_off, until))
                t->arena_off = g->tensors[x]->arena_off;
            else
                t->arena_off = plan_alloc(&p, tensor_bytes(t), until);
        }
        if (n->scratch)
            n->scratch_off = plan_alloc(&p, n->scratch, i);
        plan_release(&p, i);
    }
    free(p.b);
    g->arena_bytes = p.top;
    g->arena = aligned_alloc(ALIGN, p.top ? p.top : ALIGN);
    if (!g->arena) {
        qb_errf(e, "%s: cannot allocate %zu bytes for the tensors", g->file, p.top);
        return -1;
    }
    for (int i = 0; i < g->ntensors; i++) {
        qb_tensor *t = g->tensors[i];
        if (t->kind != QB_T_CONST && t->has_shape)
            t->data = (char *)g->arena + t->arena_off;
    }
    g->prepared = 1;
    return 0;
}

/* Whether graph input ti is read from the caller's buffer data in place
 * instead of being copied into its arena slot: when data is aligned as
 * the slots are (kernels load whole vectors from ALIGN-aligned tensors)
 * and the input is not also a graph output (whose values the caller reads
 * from the tensor after the run). No node writes a graph input: in-place
 * writing (the planner's element-wise chains and float Add/Sub/Mul/Div)
 * is only over QB_T_VALUE tensors. g->copy_inputs (QB_COPY_INPUTS=1)
 * copies always. */
static int input_in_place(const qb_graph *g, int ti, const void *data)
{
    if (g->copy_inputs || (uintptr_t)data % ALIGN)
        return 0;
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == ti)
            return 0;
    return 1;
}

void *qb_data_alloc(size_t bytes)
{
    size_t n = (bytes + ALIGN) / ALIGN * ALIGN; /* at least one byte more, a whole number of ALIGN */
    void *p = aligned_alloc(ALIGN, n);
    if (p)
        memset(p, 0, n);
    return p;
}

int qb_graph_run(qb_graph *g, const qb_tensor *inputs, int ninputs, qb_err *e)
{
    if (!g->prepared) {
        qb_errf(e, "%s: the graph is not prepared", g->file);
        return -1;
    }
    for (int i = 0; i < g->ninputs && i < ninputs; i++) {
        qb_tensor *t = g->tensors[g->inputs[i]];
        if (t->kind != QB_T_INPUT)
            continue;
        if (!inputs[i].data || qb_tensor_count(&inputs[i]) != qb_tensor_count(t)) {
            qb_errf(e, "%s: input '%s' has no data or a different size than prepared", g->file, t->name);
            return -1;
        }
        if (inputs[i].dtype != t->dtype) {
            qb_errf(e, "%s: input '%s' is %s, the model expects %s", g->file, t->name, qb_dtype_name(inputs[i].dtype),
                    qb_dtype_name(t->dtype));
            return -1;
        }
        if (input_in_place(g, g->inputs[i], inputs[i].data)) {
            t->data = inputs[i].data; /* read where the caller keeps it: no copy */
        } else {
            t->data = (char *)g->arena + t->arena_off;
            memcpy(t->data, inputs[i].data, tensor_bytes(t));
        }
    }
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *n = &g->nodes[i];
        if (n->folded || n->fused_into >= 0)
            continue;
        void *scratch = n->scratch ? (char *)g->arena + n->scratch_off : NULL;
        if (g->profile) {
            g->kernel_ms_acc = 0;
            double t0 = qb_now_ms();
            n->def->run(g, n, scratch);
            n->time_ms += qb_now_ms() - t0;
            n->kernel_ms += g->kernel_ms_acc;
        } else {
            n->def->run(g, n, scratch);
        }
        if (g->on_node)
            g->on_node(g, i, g->on_node_ctx);
    }
    return 0;
}
