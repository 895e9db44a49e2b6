/*
 * ops_control.c - the control-flow operators If and Loop, on subgraphs (the
 * IR holds them as GRAPH attributes, see onnx_import.c). A subgraph reads
 * values of the enclosing graph by name; the importer added those as extra
 * inputs of the node (after its formal ones), so the enclosing graph orders
 * them and keeps them alive. Binding a subgraph gives each of its formal
 * inputs and outer values a source tensor: constant sources are copied in
 * as constants (the subgraph folds and packs them), the others become
 * inputs of the subgraph, fed from their sources at every run.
 *
 * If: a constant condition selects one branch (exporters' shape checks,
 * Silero VAD's sample-rate switch), whose nodes replace the If in the
 * enclosing graph (inline_if.c; prepared as a subgraph only when a name
 * clashes); a run-time condition prepares both, whose outputs must agree
 * in type and shape.
 *
 * Loop, laid out: when the trip count and the initial condition are
 * constant and each iteration's condition folds to a constant (it may
 * depend on the iteration number and constants), the iterations are laid
 * out when preparing: each is a fresh copy of the body (built again from
 * its GraphProto) with its iteration number bound as a constant, so shape
 * arithmetic on it folds (carried values may change shape); its carried
 * values come from the previous iteration's outputs; scan outputs are
 * stacked. At most QB_LOOP_MAX iterations.
 *
 * Loop at run time: otherwise (a trip count or condition computed from
 * run-time values) one copy of the body is prepared with the iteration
 * number, the condition and the carried values as its inputs, and run as
 * many times as the trip count and the conditions say. Its carried values
 * must keep their type and shape; a scan output's length is known only
 * after the run, so it may only be a graph output (no node reads it): its
 * tensor is resized by each run. At most QB_LOOP_RUN_MAX iterations.
 */
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

#define QB_LOOP_MAX 4096
#define QB_LOOP_RUN_MAX (1 << 24)

typedef struct bound {
    qb_graph *g;             /* the subgraph */
    int owned;               /* freed with the state (Loop's copies) */
    int nin;                 /* its run-time inputs */
    const qb_tensor **src;   /* for each: the tensor it is fed from */
    qb_tensor *view;         /* nin copies of those tensors' headers, refreshed at each run */
} bound;

static void bound_clear(bound *b)
{
    free(b->src);
    free(b->view);
    if (b->owned)
        qb_graph_free(b->g);
    memset(b, 0, sizeof *b);
}

/* Give t the type and shape of p and, when p is constant, a copy of its data. */
static int take(qb_tensor *t, const qb_tensor *p)
{
    t->dtype = p->dtype;
    t->ndim = p->ndim;
    memcpy(t->dims, p->dims, sizeof t->dims);
    memset(t->sym, 0, sizeof t->sym);
    t->has_shape = 1;
    if (p->kind != QB_T_CONST) {
        t->kind = QB_T_INPUT;
        return 0;
    }
    size_t bytes = (size_t)qb_tensor_count(p) * qb_dtype_size(p->dtype);
    t->data = malloc(bytes ? bytes : 1);
    if (!t->data)
        return -1;
    memcpy(t->data, p->data, bytes);
    t->kind = QB_T_CONST;
    return 0;
}

/* Bind sub's formal inputs to formal[0..nformal) (NULL: left out) and its
 * outer values to g's tensors of the same names, then prepare it. */
static int bind(qb_graph *g, qb_node *n, qb_graph *sub, const qb_tensor *const *formal, int nformal, bound *b,
                qb_err *e)
{
    b->g = sub;
    if (sub->ninputs != nformal) {
        QB_NODE_ERR(e, g, n, "the subgraph has %d inputs, %d expected", sub->ninputs, nformal);
        return -1;
    }
    int total = sub->ninputs + sub->nouter;
    int *inputs = calloc(total + 1, sizeof *inputs);
    b->src = calloc(total + 1, sizeof *b->src);
    b->view = calloc(total + 1, sizeof *b->view);
    if (!inputs || !b->src || !b->view) {
        free(inputs);
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    int ni = 0;
    for (int k = 0; k < total; k++) {
        int ti = k < nformal ? sub->inputs[k] : sub->outer[k - nformal];
        qb_tensor *t = sub->tensors[ti];
        const qb_tensor *p;
        if (k < nformal) {
            p = formal[k];
            if (!p) {
                QB_NODE_ERR(e, g, n, "subgraph input '%s' has no value", t->name);
                free(inputs);
                return -1;
            }
            if (t->dtype && t->dtype != p->dtype) {
                QB_NODE_ERR(e, g, n, "subgraph input '%s' is %s, given %s", t->name, qb_dtype_name(t->dtype),
                            qb_dtype_name(p->dtype));
                free(inputs);
                return -1;
            }
        } else {
            int pi = qb_graph_find(g, t->name);
            p = pi >= 0 ? g->tensors[pi] : NULL;
            if (!p || !p->has_shape) {
                QB_NODE_ERR(e, g, n, "the subgraph reads '%s', which has no known value here", t->name);
                free(inputs);
                return -1;
            }
        }
        if (take(t, p)) {
            QB_NODE_ERR(e, g, n, "out of memory");
            free(inputs);
            return -1;
        }
        if (t->kind == QB_T_INPUT) {
            inputs[ni] = ti;
            b->src[ni++] = p;
        }
    }
    free(sub->inputs);
    sub->inputs = inputs;
    sub->ninputs = ni;
    sub->runtime_ints = 1; /* its inputs are fed at every run, whatever their type */
    b->nin = ni;
    return qb_graph_prepare(sub, NULL, 0, g->isa, e);
}

/* Run a bound subgraph on the current values of its sources. */
static int bound_run(qb_graph *g, bound *b)
{
    for (int i = 0; i < b->nin; i++)
        b->view[i] = *b->src[i];
    qb_err e;
    b->g->profile = g->profile;
    return qb_graph_run(b->g, b->view, b->nin, &e);
}

static const qb_tensor *sub_out(const bound *b, int i)
{
    return b->g->tensors[b->g->outputs[i]];
}

static void copy_tensor(void *dst, const qb_tensor *t)
{
    if (dst != t->data)
        memcpy(dst, t->data, (size_t)qb_tensor_count(t) * qb_dtype_size(t->dtype));
}

/* ---- If ---- */
typedef struct if_state {
    bound br[2]; /* 0: else_branch, 1: then_branch; g NULL when not prepared */
} if_state;

static void if_free(void *p)
{
    if_state *s = p;
    for (int b = 0; s && b < 2; b++)
        bound_clear(&s->br[b]);
    free(s);
}

static int if_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *c = qb_need_in(g, n, 0, e);
    qb_graph *sub[2] = {qb_attr_graph(n, "else_branch"), qb_attr_graph(n, "then_branch")};
    if (!c)
        return -1;
    if (!sub[0] || !sub[1]) {
        QB_NODE_ERR(e, g, n, "needs the graph attributes then_branch and else_branch");
        return -1;
    }
    if (qb_tensor_count(c) != 1) {
        QB_NODE_ERR(e, g, n, "the condition must have one element");
        return -1;
    }
    int only = c->kind == QB_T_CONST ? qb_get_d(c, 0) != 0 : -1;
    if (only >= 0 && !sub[only]->prepared) { /* the selected branch's nodes join the graph (inline_if.c) */
        int r = qb_if_inline(g, (int)(n - g->nodes), sub[only], e);
        if (r)
            return r < 0 ? -1 : 0; /* n is no longer valid */
    }
    if_state *s = calloc(1, sizeof *s);
    n->state = s;
    n->free_state = if_free;
    for (int b = 0; b < 2; b++) {
        if (only >= 0 && b != only)
            continue;
        if (sub[b]->prepared) {
            QB_NODE_ERR(e, g, n, "the branch is already prepared");
            return -1;
        }
        if (bind(g, n, sub[b], NULL, 0, &s->br[b], e))
            return -1;
        if (sub[b]->noutputs != n->nout) {
            QB_NODE_ERR(e, g, n, "the %s gives %d outputs, the node has %d", b ? "then_branch" : "else_branch",
                        sub[b]->noutputs, n->nout);
            return -1;
        }
    }
    int b = only >= 0 ? only : 1;
    for (int i = 0; i < n->nout; i++) {
        const qb_tensor *t = sub_out(&s->br[b], i);
        if (only < 0) {
            const qb_tensor *o = sub_out(&s->br[0], i);
            if (o->dtype != t->dtype || o->ndim != t->ndim || memcmp(o->dims, t->dims, t->ndim * sizeof *t->dims)) {
                QB_NODE_ERR(e, g, n, "output %d differs in type or shape between the branches, and the condition is "
                            "only known at run time", i);
                return -1;
            }
        }
        qb_set_out(g, n, i, t->dtype, t->ndim, t->dims);
    }
    return 0;
}

static void if_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    if_state *s = n->state;
    bound *br = &s->br[qb_get_d(qb_in(g, n, 0), 0) != 0];
    if (!br->g || bound_run(g, br))
        return; /* no branch: cannot happen (a constant condition selected the other) */
    for (int i = 0; i < n->nout; i++) {
        qb_tensor *y = qb_out(g, n, i);
        if (y)
            copy_tensor(y->data, sub_out(br, i));
    }
}

static int64_t sub_macs(const qb_graph *sg)
{
    int64_t m = 0;
    for (int i = 0; i < sg->nnodes; i++)
        if (!sg->nodes[i].folded)
            m += qb_node_macs(sg, &sg->nodes[i]);
    return m;
}

static int64_t if_macs(const qb_graph *g, const qb_node *n)
{
    (void)g;
    const if_state *s = n->state;
    for (int b = 1; s && b >= 0; b--) /* the then_branch when both are prepared */
        if (s->br[b].g)
            return sub_macs(s->br[b].g);
    return 0;
}

/* ---- Loop ---- */
typedef struct loop_state {
    int iters;     /* iterations laid out (run-time mode: 1, the body) */
    bound *it;     /* one prepared body per iteration */
    int ncarried;  /* N loop-carried values */
    int nscan;     /* K scan outputs */
    /* run-time mode */
    int dynamic;        /* 1: it[0] runs as many times as the trip count and conditions say */
    qb_tensor *formal;  /* 2 + N run-time inputs of the body: iteration, condition, carried values (data owned) */
    void **scan;        /* K buffers holding the stacked scan outputs */
    size_t *scan_cap;   /* their sizes in bytes */
} loop_state;

static void loop_clear(loop_state *s)
{
    for (int i = 0; i < s->iters; i++)
        bound_clear(&s->it[i]);
    free(s->it);
    for (int k = 0; s->scan && k < s->nscan; k++)
        free(s->scan[k]);
    free(s->scan);
    free(s->scan_cap);
    for (int j = 0; s->formal && j < 2 + s->ncarried; j++)
        free(s->formal[j].data);
    free(s->formal);
    memset(s, 0, sizeof *s);
}

static void loop_free(void *p)
{
    if (p)
        loop_clear(p);
    free(p);
}

/* Tensor t is read by a node of g (other than n). */
static int is_read(const qb_graph *g, int t)
{
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nin; j++)
            if (g->nodes[i].in[j] == t)
                return 1;
    return 0;
}

/* Run-time mode (see the top): prepare one body on run-time inputs. */
static int loop_prepare_dynamic(qb_graph *g, qb_node *n, loop_state *s, qb_err *e)
{
    const qb_attr *ba = qb_node_attr(n, "body");
    int N = s->ncarried, K = s->nscan;
    s->dynamic = 1;
    s->formal = calloc((size_t)(2 + N), sizeof *s->formal);
    s->it = calloc(1, sizeof *s->it);
    s->scan = calloc((size_t)K + 1, sizeof *s->scan);
    s->scan_cap = calloc((size_t)K + 1, sizeof *s->scan_cap);
    const qb_tensor **formal = calloc((size_t)(2 + N), sizeof *formal);
    if (!s->formal || !s->it || !s->scan || !s->scan_cap || !formal) {
        free(formal);
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    for (int j = 0; j < 2 + N; j++) {
        qb_tensor *f = &s->formal[j];
        const qb_tensor *init = j >= 2 ? qb_in(g, n, j) : NULL;
        if (j >= 2 && (!init || !init->has_shape)) {
            free(formal);
            QB_NODE_ERR(e, g, n, "loop-carried value %d has no initial value", j - 2);
            return -1;
        }
        f->name = j == 0 ? "iteration" : j == 1 ? "condition" : init->name;
        f->dtype = j == 0 ? QB_DT_INT64 : j == 1 ? QB_DT_BOOL : init->dtype;
        f->ndim = j >= 2 ? init->ndim : 0;
        if (j >= 2)
            memcpy(f->dims, init->dims, sizeof f->dims);
        f->has_shape = 1;
        f->kind = QB_T_INPUT; /* changes from run to run, even when the initial value is constant */
        size_t bytes = (size_t)qb_tensor_count(f) * qb_dtype_size(f->dtype);
        f->data = calloc(bytes ? bytes : 1, 1);
        formal[j] = f;
        if (!f->data) {
            free(formal);
            QB_NODE_ERR(e, g, n, "out of memory");
            return -1;
        }
    }
    qb_graph *body = qb_onnx_subgraph(g, n, ba, e);
    int rc = body ? 0 : -1;
    if (body) {
        s->it[0].g = body;
        s->it[0].owned = 1;
        s->iters = 1;
        rc = bind(g, n, body, formal, 2 + N, &s->it[0], e);
    }
    free(formal);
    return rc;
}

/* Run-time mode: the body's outputs agree with its inputs; the node's
 * outputs: carried values as given, scan outputs of length 0 until run. */
static int loop_outputs_dynamic(qb_graph *g, qb_node *n, loop_state *s, qb_err *e)
{
    const qb_tensor *co = sub_out(&s->it[0], 0);
    if (qb_tensor_count(co) != 1) {
        QB_NODE_ERR(e, g, n, "the body's condition has %lld elements (want one)", (long long)qb_tensor_count(co));
        return -1;
    }
    for (int j = 0; j < s->ncarried; j++) {
        const qb_tensor *a = sub_out(&s->it[0], 1 + j), *f = &s->formal[2 + j];
        if (a->dtype != f->dtype || a->ndim != f->ndim || memcmp(a->dims, f->dims, f->ndim * sizeof *f->dims)) {
            QB_NODE_ERR(e, g, n, "loop-carried value %d changes type or shape between iterations, and the trip "
                        "count or condition is only known at run time", j);
            return -1;
        }
        qb_set_out(g, n, j, f->dtype, f->ndim, f->dims);
    }
    for (int k = 0; k < s->nscan; k++) {
        const qb_tensor *t = sub_out(&s->it[0], 1 + s->ncarried + k);
        int64_t dims[QB_MAX_DIMS] = {0};
        int y = n->out[s->ncarried + k];
        if (y >= 0 && is_read(g, y)) {
            QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_DYNAMIC,
                                "scan output %d is read by other nodes, but its length is only known at run time "
                                "(the trip count or condition depends on run-time values)", k);
            return -1;
        }
        if (t->ndim + 1 > QB_MAX_DIMS) {
            QB_NODE_ERR(e, g, n, "scan output %d has too many dimensions", k);
            return -1;
        }
        memcpy(dims + 1, t->dims, t->ndim * sizeof *dims); /* dims[0]: set by each run */
        qb_set_out(g, n, s->ncarried + k, t->dtype, t->ndim + 1, dims);
    }
    return 0;
}

static int loop_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    const qb_attr *ba = qb_node_attr(n, "body");
    qb_graph *proto_body = qb_attr_graph(n, "body");
    if (!ba || !proto_body) {
        QB_NODE_ERR(e, g, n, "needs the graph attribute body");
        return -1;
    }
    int nformal = proto_body->ninputs; /* iteration number, condition, N carried */
    int N = nformal - 2, K = proto_body->noutputs - 1 - N;
    if (N < 0 || K < 0 || n->nin < nformal || n->nout != N + K) {
        QB_NODE_ERR(e, g, n, "the body's %d inputs and %d outputs do not match the node's", proto_body->ninputs,
                    proto_body->noutputs);
        return -1;
    }
    const qb_tensor *M = qb_in(g, n, 0), *C = qb_in(g, n, 1);
    if ((M && qb_tensor_count(M) != 1) || (C && qb_tensor_count(C) != 1)) {
        QB_NODE_ERR(e, g, n, "the trip count and the initial condition must have one element");
        return -1;
    }
    loop_state *s = calloc(1, sizeof *s);
    n->state = s;
    n->free_state = loop_free;
    s->ncarried = N;
    s->nscan = K;
    if ((M && M->kind != QB_T_CONST) || (C && C->kind != QB_T_CONST))
        return loop_prepare_dynamic(g, n, s, e) || loop_outputs_dynamic(g, n, s, e) ? -1 : 0;
    int64_t trips = M ? qb_int_at(M, 0) : INT64_MAX;
    int cond = C ? qb_get_d(C, 0) != 0 : 1;
    const qb_tensor **formal = calloc(nformal + 1, sizeof *formal);
    int64_t iv = 0;
    uint8_t cv = 1;
    qb_tensor iter_t = {.name = "iteration", .dtype = QB_DT_INT64, .kind = QB_T_CONST, .has_shape = 1, .data = &iv};
    qb_tensor cond_t = {.name = "condition", .dtype = QB_DT_BOOL, .kind = QB_T_CONST, .has_shape = 1, .data = &cv};
    int rc = 0;
    for (int64_t i = 0; i < trips && cond && !rc; i++) {
        if (i == QB_LOOP_MAX) {
            QB_NODE_ERR(e, g, n, "more than %d iterations", QB_LOOP_MAX);
            rc = -1;
            break;
        }
        bound *nb = realloc(s->it, (size_t)(s->iters + 1) * sizeof *s->it);
        if (!nb) {
            QB_NODE_ERR(e, g, n, "out of memory");
            rc = -1;
            break;
        }
        s->it = nb;
        bound *b = &s->it[s->iters];
        memset(b, 0, sizeof *b);
        qb_graph *body = qb_onnx_subgraph(g, n, ba, e);
        if (!body) {
            rc = -1;
            break;
        }
        b->g = body;
        b->owned = 1;
        s->iters++;
        iv = i;
        cv = 1;
        formal[0] = &iter_t;
        formal[1] = &cond_t;
        for (int j = 0; j < N; j++) /* carried: the node's initial values, then the previous iteration's outputs */
            formal[2 + j] = i == 0 ? qb_in(g, n, 2 + j) : sub_out(&s->it[s->iters - 2], 1 + j);
        if (bind(g, n, body, formal, nformal, b, e)) {
            rc = -1;
            break;
        }
        const qb_tensor *co = sub_out(b, 0);
        if (co->kind != QB_T_CONST || qb_tensor_count(co) != 1) { /* decided at run time: one body, run N times */
            free(formal);
            loop_clear(s);
            s->ncarried = N;
            s->nscan = K;
            return loop_prepare_dynamic(g, n, s, e) || loop_outputs_dynamic(g, n, s, e) ? -1 : 0;
        }
        cond = qb_get_d(co, 0) != 0;
        for (int k = 0; k < K && i > 0; k++) {
            const qb_tensor *a = sub_out(b, 1 + N + k), *p = sub_out(&s->it[0], 1 + N + k);
            if (a->dtype != p->dtype || a->ndim != p->ndim || memcmp(a->dims, p->dims, a->ndim * sizeof *a->dims)) {
                QB_NODE_ERR(e, g, n, "scan output %d changes shape between iterations", k);
                rc = -1;
            }
        }
    }
    free(formal);
    if (rc)
        return -1;
    for (int j = 0; j < N; j++) {
        const qb_tensor *t = s->iters ? sub_out(&s->it[s->iters - 1], 1 + j) : qb_in(g, n, 2 + j);
        if (!t) {
            QB_NODE_ERR(e, g, n, "loop-carried value %d has no initial value", j);
            return -1;
        }
        qb_set_out(g, n, j, t->dtype, t->ndim, t->dims);
    }
    for (int k = 0; k < K; k++) {
        if (!s->iters) {
            QB_NODE_ERR(e, g, n, "no iteration runs, so scan output %d would be empty", k);
            return -1;
        }
        const qb_tensor *t = sub_out(&s->it[0], 1 + N + k);
        int64_t dims[QB_MAX_DIMS];
        if (t->ndim + 1 > QB_MAX_DIMS) {
            QB_NODE_ERR(e, g, n, "scan output %d has too many dimensions", k);
            return -1;
        }
        dims[0] = s->iters;
        memcpy(dims + 1, t->dims, t->ndim * sizeof *dims);
        qb_set_out(g, n, N + k, t->dtype, t->ndim + 1, dims);
    }
    return 0;
}

/* Append scan output k of the body's current run at iteration i. */
static int scan_append(loop_state *s, int k, int64_t i, const qb_tensor *t)
{
    size_t bytes = (size_t)qb_tensor_count(t) * qb_dtype_size(t->dtype), need = (size_t)(i + 1) * bytes;
    if (need > s->scan_cap[k]) {
        size_t cap = s->scan_cap[k] ? 2 * s->scan_cap[k] : 16 * bytes + 1;
        while (cap < need)
            cap *= 2;
        void *nb = realloc(s->scan[k], cap);
        if (!nb)
            return -1;
        s->scan[k] = nb, s->scan_cap[k] = cap;
    }
    memcpy((char *)s->scan[k] + (size_t)i * bytes, t->data, bytes);
    return 0;
}

static void loop_run_dynamic(qb_graph *g, qb_node *n, loop_state *s)
{
    const qb_tensor *M = qb_in(g, n, 0), *C = qb_in(g, n, 1);
    int64_t trips = M ? qb_int_at(M, 0) : INT64_MAX, i = 0;
    int cond = C ? qb_get_d(C, 0) != 0 : 1;
    for (int j = 0; j < s->ncarried; j++)
        copy_tensor(s->formal[2 + j].data, qb_in(g, n, 2 + j));
    for (; i < trips && cond && i < QB_LOOP_RUN_MAX; i++) {
        *(int64_t *)s->formal[0].data = i;
        *(uint8_t *)s->formal[1].data = 1;
        if (bound_run(g, &s->it[0]))
            return;
        cond = qb_get_d(sub_out(&s->it[0], 0), 0) != 0;
        for (int j = 0; j < s->ncarried; j++)
            copy_tensor(s->formal[2 + j].data, sub_out(&s->it[0], 1 + j));
        for (int k = 0; k < s->nscan; k++)
            if (scan_append(s, k, i, sub_out(&s->it[0], 1 + s->ncarried + k)))
                return;
    }
    for (int j = 0; j < s->ncarried; j++) {
        qb_tensor *y = qb_out(g, n, j);
        if (y)
            copy_tensor(y->data, &s->formal[2 + j]);
    }
    for (int k = 0; k < s->nscan; k++) { /* a graph output only: resized to this run's length */
        qb_tensor *y = qb_out(g, n, s->ncarried + k);
        if (y) {
            y->dims[0] = i;
            y->data = s->scan[k];
        }
    }
}

static void loop_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    loop_state *s = n->state;
    if (s->dynamic) {
        loop_run_dynamic(g, n, s);
        return;
    }
    for (int i = 0; i < s->iters; i++) {
        if (bound_run(g, &s->it[i]))
            return;
        for (int k = 0; k < s->nscan; k++) {
            qb_tensor *y = qb_out(g, n, s->ncarried + k);
            const qb_tensor *t = sub_out(&s->it[i], 1 + s->ncarried + k);
            size_t bytes = (size_t)qb_tensor_count(t) * qb_dtype_size(t->dtype);
            if (y)
                memcpy((char *)y->data + (size_t)i * bytes, t->data, bytes);
        }
    }
    for (int j = 0; j < s->ncarried; j++) {
        qb_tensor *y = qb_out(g, n, j);
        const qb_tensor *t = s->iters ? sub_out(&s->it[s->iters - 1], 1 + j) : qb_in(g, n, 2 + j);
        if (y)
            copy_tensor(y->data, t);
    }
}

static int64_t loop_macs(const qb_graph *g, const qb_node *n)
{
    (void)g;
    const loop_state *s = n->state;
    int64_t m = 0;
    for (int i = 0; s && i < s->iters; i++)
        m += sub_macs(s->it[i].g);
    return m;
}

const qb_opdef qb_ops_control[] = {
    {"If", if_prepare, if_run, if_macs, QB_OPF_ANY_DTYPE, 0},
    {"Loop", loop_prepare, loop_run, loop_macs, QB_OPF_ANY_DTYPE, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
