/*
 * clone.c - a deep copy of an unprepared graph (qb_graph_clone, graph.h):
 * one model file parsed once, then copied for every use that prepares,
 * quantizes or folds it (calibration, each quantized variant, the FP32
 * reference), instead of parsing the file again.
 */
#include <stdlib.h>
#include <string.h>

#include "harness/graph/graph.h"

/* n bytes copied (NULL for NULL or 0 bytes); sets *oom on failure. */
static void *dup_bytes(const void *p, size_t n, int *oom)
{
    if (!p || !n)
        return NULL;
    void *d = malloc(n);
    if (!d)
        *oom = 1;
    else
        memcpy(d, p, n);
    return d;
}

static char *dup_str(const char *s, int *oom)
{
    return s ? dup_bytes(s, strlen(s) + 1, oom) : NULL;
}

/* The bytes of a constant's data. */
static size_t data_bytes(const qb_tensor *t)
{
    return (size_t)qb_tensor_count(t) * qb_dtype_size(t->dtype);
}

/* A copy of t: constants own a copy of their data; other tensors have
 * none until prepared. NULL out of memory. */
static qb_tensor *clone_tensor(const qb_tensor *t, int *oom)
{
    qb_tensor *c = malloc(sizeof *c);
    if (!c) {
        *oom = 1;
        return NULL;
    }
    *c = *t;
    c->name = dup_str(t->name, oom);
    c->data = t->kind == QB_T_CONST ? dup_bytes(t->data, data_bytes(t), oom) : NULL;
    c->arena_off = 0;
    return c;
}

static void clone_attr(qb_attr *c, const qb_attr *a, int *oom)
{
    *c = *a;
    c->name = dup_str(a->name, oom);
    c->s = dup_str(a->s, oom);
    c->ints = dup_bytes(a->ints, (size_t)a->n * sizeof *a->ints, oom);
    c->floats = dup_bytes(a->floats, (size_t)a->n * sizeof *a->floats, oom);
    c->t = a->t ? clone_tensor(a->t, oom) : NULL;
    /* STRINGS, and a subgraph with its serialized form (ops_control.c) */
    c->strs = a->strs ? calloc((size_t)a->n + 1, sizeof *c->strs) : NULL;
    *oom |= a->strs && !c->strs;
    for (int i = 0; c->strs && i < a->n; i++)
        c->strs[i] = dup_str(a->strs[i], oom);
    qb_err e;
    c->sub = a->sub ? qb_graph_clone(a->sub, &e) : NULL;
    *oom |= a->sub && !c->sub;
    c->proto = dup_bytes(a->proto, a->proto_len, oom);
}

/* What an unprepared qspec holds: precision, group, scales, zero points,
 * binary shift, the weight scales and (QDQ imports) the quantized weights
 * and biases; what prepare derives (requantization, kernel) is not copied. */
static qb_qspec *clone_qspec(const qb_qspec *q, int *oom)
{
    qb_qspec *c = qb_qspec_new(q->prec);
    if (!c) {
        *oom = 1;
        return NULL;
    }
    *c = *q;
    c->rq = NULL, c->kernel = NULL;
    c->wq = dup_bytes(q->wq, (size_t)q->nwq * sizeof *q->wq, oom);
    c->bias_q = dup_bytes(q->bias_q, (size_t)q->nbias_q * sizeof *q->bias_q, oom);
    c->wscale = dup_bytes(q->wscale, (size_t)q->nwscale * sizeof *q->wscale, oom);
    if (q->wscale && !c->wscale)
        c->nwscale = 0;
    return c;
}

int qb_node_copy(qb_node *d, const qb_node *n)
{
    int oom = 0;
    *d = *n;
    d->name = d->op = d->domain = NULL, d->in = d->out = NULL, d->attr = NULL, d->q = NULL, d->nattr = 0;
    d->state = NULL, d->free_state = NULL;
    d->name = dup_str(n->name, &oom);
    d->op = dup_str(n->op, &oom);
    d->domain = dup_str(n->domain, &oom);
    d->in = malloc((size_t)(n->nin ? n->nin : 1) * sizeof *d->in);
    d->out = malloc((size_t)(n->nout ? n->nout : 1) * sizeof *d->out);
    d->attr = calloc((size_t)(n->nattr ? n->nattr : 1), sizeof *d->attr);
    if (!d->in || !d->out || !d->attr)
        return -1;
    memcpy(d->in, n->in, (size_t)n->nin * sizeof *d->in);
    memcpy(d->out, n->out, (size_t)n->nout * sizeof *d->out);
    for (int j = 0; j < n->nattr; j++, d->nattr++)
        clone_attr(&d->attr[j], &n->attr[j], &oom);
    d->q = n->q ? clone_qspec(n->q, &oom) : NULL;
    d->time_ms = d->kernel_ms = 0;
    return oom ? -1 : 0;
}

qb_graph *qb_graph_clone(const qb_graph *g, qb_err *e)
{
    if (g->prepared) {
        qb_errf(e, "%s: a prepared graph cannot be cloned (clone it before qb_graph_prepare)", g->file);
        return NULL;
    }
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].state || (g->nodes[i].q && ((g->nodes[i].q->wq && !g->nodes[i].q->nwq) ||
                                                    (g->nodes[i].q->bias_q && !g->nodes[i].q->nbias_q)))) {
            qb_errf(e, "%s: node %s holds prepared data (packed or quantized weights) and cannot be cloned", g->file,
                    g->nodes[i].name);
            return NULL;
        }
    int oom = 0;
    qb_graph *c = qb_graph_new(g->file);
    c->opset = g->opset;
    c->isa = g->isa;
    c->profile = g->profile;
    c->no_fold_bn = g->no_fold_bn;
    c->nchw_only = g->nchw_only;
    c->no_int8_links = g->no_int8_links;
    c->tcap = g->ntensors;
    c->tensors = calloc((size_t)(g->ntensors ? g->ntensors : 1), sizeof *c->tensors);
    oom |= !c->tensors;
    for (int i = 0; c->tensors && i < g->ntensors; i++) {
        c->tensors[i] = clone_tensor(g->tensors[i], &oom);
        if (!c->tensors[i])
            break;
        c->ntensors++;
    }
    c->nodes = calloc((size_t)(g->nnodes ? g->nnodes : 1), sizeof *c->nodes);
    oom |= !c->nodes;
    for (int i = 0; c->nodes && i < g->nnodes && !oom; i++, c->nnodes++)
        oom |= qb_node_copy(&c->nodes[i], &g->nodes[i]) != 0;
    c->ninputs = g->ninputs, c->noutputs = g->noutputs;
    c->inputs = dup_bytes(g->inputs, (size_t)g->ninputs * sizeof *g->inputs, &oom);
    c->outputs = dup_bytes(g->outputs, (size_t)g->noutputs * sizeof *g->outputs, &oom);
    c->nouter = g->nouter; /* a subgraph's values from enclosing graphs */
    c->outer = dup_bytes(g->outer, (size_t)g->nouter * sizeof *g->outer, &oom);
    for (int i = 0; i < g->nmeta && !oom; i++)
        oom |= qb_graph_set_meta(c, g->meta_key[i], g->meta_value[i]) != 0;
    if (oom) {
        qb_graph_free(c);
        qb_errf(e, "%s: out of memory cloning the graph", g->file);
        return NULL;
    }
    return c;
}
