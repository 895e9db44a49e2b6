/*
 * graph.c - building and querying the model IR: tensors by name, nodes,
 * attributes, shapes, and the topological sort (with cycle and
 * missing-input detection).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/graph.h"

/* The one formatter behind qb_errf and qb_errk. */
static void errv(qb_err *e, qb_err_kind kind, const char *fmt, va_list ap)
{
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    e->kind = kind;
}

void qb_errf(qb_err *e, const char *fmt, ...)
{
    if (!e)
        return;
    va_list ap;
    va_start(ap, fmt);
    errv(e, QB_ERR_INVALID, fmt, ap);
    va_end(ap);
}

void qb_errk(qb_err *e, qb_err_kind kind, const char *fmt, ...)
{
    if (!e)
        return;
    va_list ap;
    va_start(ap, fmt);
    errv(e, kind, fmt, ap);
    va_end(ap);
}

static const char *const err_kind_names[] = {
    [QB_ERR_INVALID] = "invalid",
    [QB_ERR_UNSUPPORTED_OP] = "unsupported operator",
    [QB_ERR_UNSUPPORTED_TYPE] = "unsupported element type",
    [QB_ERR_UNSUPPORTED_ATTR] = "unsupported attribute",
    [QB_ERR_UNSUPPORTED_SHAPE] = "unsupported shape",
    [QB_ERR_UNSUPPORTED_DYNAMIC] = "input must be constant",
    [QB_ERR_UNSUPPORTED_MODEL] = "unsupported model feature",
};
_Static_assert(sizeof err_kind_names / sizeof err_kind_names[0] == QB_ERR_KIND_COUNT, "one name per qb_err_kind");

const char *qb_err_kind_name(qb_err_kind kind)
{
    return (unsigned)kind < QB_ERR_KIND_COUNT ? err_kind_names[kind] : "?";
}

void *qb_xcalloc(size_t n, size_t s)
{
    void *p = calloc(n ? n : 1, s ? s : 1);
    if (!p) {
        fprintf(stderr, "qbench: out of memory\n");
        exit(2);
    }
    return p;
}

void *qb_xrealloc(void *p, size_t bytes)
{
    p = realloc(p, bytes);
    if (!p) {
        fprintf(stderr, "qbench: out of memory\n");
        exit(2);
    }
    return p;
}

char *qb_xstrdup(const char *s)
{
    char *d = qb_xcalloc(strlen(s ? s : "") + 1, 1);
    strcpy(d, s ? s : "");
    return d;
}

qb_graph *qb_graph_new(const char *file)
{
    qb_graph *g = qb_xcalloc(1, sizeof *g);
    g->file = qb_xstrdup(file);
    g->isa = -1;
    return g;
}

void qb_tensor_clear(qb_tensor *t)
{
    free(t->name);
    if (t->kind == QB_T_CONST)
        free(t->data);
    t->name = NULL;
    t->data = NULL;
}

void qb_attr_free(qb_attr *a)
{
    free(a->name);
    free(a->s);
    free(a->ints);
    free(a->floats);
    for (int i = 0; a->strs && i < a->n; i++)
        free(a->strs[i]);
    free(a->strs);
    qb_graph_free(a->sub);
    free(a->proto);
    if (a->t) {
        qb_tensor_clear(a->t);
        free(a->t);
    }
}

void qb_node_state_free(void *state, void (*free_state)(void *))
{
    if (free_state)
        free_state(state);
    else
        free(state);
}

void qb_graph_free(qb_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *n = &g->nodes[i];
        free(n->name);
        free(n->op);
        free(n->in);
        free(n->out);
        for (int j = 0; j < n->nattr; j++)
            qb_attr_free(&n->attr[j]);
        free(n->attr);
        qb_node_state_free(n->state, n->free_state);
        qb_qspec_free(n->q);
        free(n->domain); /* qdq */
    }
    free(g->nodes);
    for (int i = 0; i < g->ntensors; i++) {
        qb_tensor_clear(g->tensors[i]);
        free(g->tensors[i]);
    }
    free(g->tensors);
    free(g->inputs);
    free(g->outputs);
    free(g->outer);
    free(g->arena);
    free(g->file);
    qb_graph_clear_meta(g); /* metadata (meta.c) */
    free(g);
}

int qb_graph_find(const qb_graph *g, const char *name)
{
    for (int i = 0; i < g->ntensors; i++)
        if (!strcmp(g->tensors[i]->name, name))
            return i;
    return -1;
}

int qb_graph_tensor(qb_graph *g, const char *name)
{
    int i = qb_graph_find(g, name);
    if (i >= 0)
        return i;
    if (g->ntensors == g->tcap) {
        g->tcap = g->tcap ? 2 * g->tcap : 64;
        g->tensors = qb_xrealloc(g->tensors, g->tcap * sizeof *g->tensors);
    }
    qb_tensor *t = qb_xcalloc(1, sizeof *t);
    t->name = qb_xstrdup(name);
    t->dtype = QB_DT_FLOAT;
    t->producer = -1;
    t->last_use = -1;
    g->tensors[g->ntensors] = t;
    return g->ntensors++;
}

int qb_graph_add_node(qb_graph *g, const char *op, const char *name, int nin, int nout)
{
    g->nodes = qb_xrealloc(g->nodes, (g->nnodes + 1) * sizeof *g->nodes);
    qb_node *n = &g->nodes[g->nnodes];
    memset(n, 0, sizeof *n);
    n->op = qb_xstrdup(op);
    if (name && *name) {
        n->name = qb_xstrdup(name);
    } else {
        char buf[64];
        snprintf(buf, sizeof buf, "%.40s_%d", op, g->nnodes);
        n->name = qb_xstrdup(buf);
    }
    n->nin = nin;
    n->nout = nout;
    n->fused_into = -1;
    n->write_to = -1;
    n->epi_in = -1;
    n->f_min = -INFINITY;
    n->f_max = INFINITY;
    n->in = qb_xcalloc(nin ? nin : 1, sizeof(int));
    n->out = qb_xcalloc(nout ? nout : 1, sizeof(int));
    for (int i = 0; i < nin; i++)
        n->in[i] = -1;
    for (int i = 0; i < nout; i++)
        n->out[i] = -1;
    n->def = qb_op_find(op);
    return g->nnodes++;
}

size_t qb_dtype_size(qb_dtype t)
{
    switch (t) {
    case QB_DT_FLOAT: case QB_DT_INT32: case QB_DT_UINT32: return 4;
    case QB_DT_INT64: case QB_DT_UINT64: case QB_DT_DOUBLE: return 8;
    case QB_DT_UINT8: case QB_DT_INT8: case QB_DT_BOOL: return 1;
    case QB_DT_FLOAT16: return 2;
    default: return 0;
    }
}

const char *qb_dtype_name(qb_dtype t)
{
    switch (t) {
    case QB_DT_FLOAT: return "float32";
    case QB_DT_UINT8: return "uint8";
    case QB_DT_INT8: return "int8";
    case QB_DT_INT32: return "int32";
    case QB_DT_INT64: return "int64";
    case QB_DT_BOOL: return "bool";
    case QB_DT_FLOAT16: return "float16";
    case QB_DT_DOUBLE: return "double";
    case QB_DT_UINT32: return "uint32";
    case QB_DT_UINT64: return "uint64";
    default: return "unsupported";
    }
}

int64_t qb_shape_count(int ndim, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return -1;
        if (dims[i] && n > ((int64_t)1 << 31) / dims[i])
            return -1;
        n *= dims[i];
    }
    return n > ((int64_t)1 << 31) ? -1 : n;
}

int64_t qb_tensor_count(const qb_tensor *t) { return qb_shape_count(t->ndim, t->dims); }

void qb_shape_str(int ndim, const int64_t *dims, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    if (ndim == 0) {
        snprintf(buf, len, "scalar");
        return;
    }
    for (int i = 0; i < ndim && o < len; i++)
        o += snprintf(buf + o, len - o, "%s%lld", i ? "x" : "", (long long)dims[i]);
}

const qb_attr *qb_node_attr(const qb_node *n, const char *name)
{
    for (int i = 0; i < n->nattr; i++)
        if (!strcmp(n->attr[i].name, name))
            return &n->attr[i];
    return NULL;
}

int64_t qb_attr_int(const qb_node *n, const char *name, int64_t def)
{
    const qb_attr *a = qb_node_attr(n, name);
    return a && a->type == QB_ATTR_INT ? a->i : def;
}

float qb_attr_float(const qb_node *n, const char *name, float def)
{
    const qb_attr *a = qb_node_attr(n, name);
    return a && a->type == QB_ATTR_FLOAT ? a->f : def;
}

qb_graph *qb_attr_graph(const qb_node *n, const char *name)
{
    const qb_attr *a = qb_node_attr(n, name);
    return a && a->type == QB_ATTR_GRAPH ? a->sub : NULL;
}

const char *qb_attr_str(const qb_node *n, const char *name, const char *def)
{
    const qb_attr *a = qb_node_attr(n, name);
    return a && a->type == QB_ATTR_STRING ? a->s : def;
}

int qb_attr_ints(const qb_node *n, const char *name, const int64_t **v)
{
    const qb_attr *a = qb_node_attr(n, name);
    if (!a || a->type != QB_ATTR_INTS)
        return -1;
    *v = a->ints;
    return a->n;
}

qb_tensor *qb_in(const qb_graph *g, const qb_node *n, int i)
{
    if (i < 0 || i >= n->nin || n->in[i] < 0)
        return NULL;
    return g->tensors[n->in[i]];
}

qb_tensor *qb_out(const qb_graph *g, const qb_node *n, int i)
{
    if (i < 0 || i >= n->nout || n->out[i] < 0)
        return NULL;
    return g->tensors[n->out[i]];
}

int qb_graph_sort(qb_graph *g, qb_err *e)
{
    int nn = g->nnodes;
    for (int i = 0; i < g->ntensors; i++)
        g->tensors[i]->producer = -1;
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < g->nodes[i].nout; j++) {
            int t = g->nodes[i].out[j];
            if (t < 0)
                continue;
            if (g->tensors[t]->kind != QB_T_VALUE || g->tensors[t]->producer >= 0) {
                qb_errf(e, "%s: node '%s' (%s): output '%s' is already defined elsewhere", g->file,
                        g->nodes[i].name, g->nodes[i].op, g->tensors[t]->name);
                return -1;
            }
            g->tensors[t]->producer = i;
        }
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < g->nodes[i].nin; j++) {
            int t = g->nodes[i].in[j];
            if (t >= 0 && g->tensors[t]->kind == QB_T_VALUE && g->tensors[t]->producer < 0) {
                qb_errf(e, "%s: node '%s' (%s): input '%s' is not a graph input, an initializer or any node's output",
                        g->file, g->nodes[i].name, g->nodes[i].op, g->tensors[t]->name);
                return -1;
            }
        }
    for (int i = 0; i < g->noutputs; i++) {
        qb_tensor *t = g->tensors[g->outputs[i]];
        if (t->kind == QB_T_VALUE && t->producer < 0) {
            qb_errf(e, "%s: graph output '%s' is not produced by any node", g->file, t->name);
            return -1;
        }
    }
    /* Kahn: count unresolved producer inputs per node */
    int *pending = qb_xcalloc(nn, sizeof(int)), *order = qb_xcalloc(nn, sizeof(int)), *done = qb_xcalloc(nn, sizeof(int));
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < g->nodes[i].nin; j++) {
            int t = g->nodes[i].in[j];
            if (t >= 0 && g->tensors[t]->producer >= 0)
                pending[i]++;
        }
    int head = 0, tail = 0;
    for (int i = 0; i < nn; i++)
        if (!pending[i])
            order[tail++] = i;
    while (head < tail) {
        int p = order[head++];
        done[p] = 1;
        for (int i = 0; i < nn; i++)
            for (int j = 0; j < g->nodes[i].nin; j++) {
                int t = g->nodes[i].in[j];
                if (t >= 0 && g->tensors[t]->producer == p && --pending[i] == 0)
                    order[tail++] = i;
            }
    }
    if (tail < nn) {
        int bad = 0;
        while (done[bad])
            bad++;
        qb_errf(e, "%s: the graph has a cycle through node '%s' (%s)", g->file, g->nodes[bad].name, g->nodes[bad].op);
        free(pending), free(order), free(done);
        return -1;
    }
    qb_node *sorted = qb_xcalloc(nn, sizeof *sorted);
    for (int i = 0; i < nn; i++)
        sorted[i] = g->nodes[order[i]];
    free(g->nodes);
    g->nodes = sorted;
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < g->nodes[i].nout; j++)
            if (g->nodes[i].out[j] >= 0)
                g->tensors[g->nodes[i].out[j]]->producer = i;
    free(pending), free(order), free(done);
    return 0;
}
