/*
 * qdq_util.c - small graph-editing helpers shared by the QDQ export and
 * the QDQ fusion pass (see qdq.h): attributes, new tensors and nodes,
 * producer and use lookups, node removal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/qdq.h"

int qb_qdq_custom_op(const char *op)
{
    return !strcmp(op, "DequantizeInt4") || !strcmp(op, "DequantizeBinary") || !strcmp(op, "BinarizeInput");
}

static void attr_clear(qb_attr *a)
{
    free(a->s);
    free(a->ints);
    free(a->floats);
    if (a->t) {
        qb_tensor_clear(a->t);
        free(a->t);
    }
    a->s = NULL, a->ints = NULL, a->floats = NULL, a->t = NULL;
    a->n = 0, a->i = 0, a->f = 0;
}

qb_attr *qb_qdq_attr(qb_node *n, const char *name, int type)
{
    for (int i = 0; i < n->nattr; i++)
        if (!strcmp(n->attr[i].name, name)) {
            attr_clear(&n->attr[i]);
            n->attr[i].type = type;
            return &n->attr[i];
        }
    n->attr = qb_xrealloc(n->attr, (size_t)(n->nattr + 1) * sizeof *n->attr);
    qb_attr *a = &n->attr[n->nattr++];
    memset(a, 0, sizeof *a);
    a->name = qb_xstrdup(name);
    a->type = type;
    return a;
}

int qb_qdq_tensor(qb_graph *g, const char *base, const char *suffix, qb_dtype dt, int ndim, const int64_t *dims,
                  int is_const)
{
    char name[600];
    int k = 0;
    do
        snprintf(name, sizeof name, "%.500s%s%s%.0d", base, suffix, k ? "_" : "", k);
    while (qb_graph_find(g, name) >= 0 && ++k);
    int t = qb_graph_tensor(g, name);
    qb_tensor *x = g->tensors[t];
    x->dtype = dt;
    if (is_const) {
        x->kind = QB_T_CONST;
        x->ndim = ndim;
        for (int i = 0; i < ndim; i++)
            x->dims[i] = dims[i];
        x->has_shape = 1;
        x->data = qb_xcalloc((size_t)qb_tensor_count(x) + 1, qb_dtype_size(dt));
    }
    return t;
}

int qb_qdq_node(qb_graph *g, const char *op, const char *domain, const char *name, int nin, int nout)
{
    char buf[600];
    int k = 0;
    for (;;) { /* unique node names: the exporter matches layers by name */
        snprintf(buf, sizeof buf, "%.500s%s%.0d", name, k ? "_" : "", k);
        int dup = 0;
        for (int i = 0; i < g->nnodes && !dup; i++)
            dup = !strcmp(g->nodes[i].name, buf);
        if (!dup)
            break;
        k++;
    }
    int i = qb_graph_add_node(g, op, buf, nin, nout);
    if (domain)
        g->nodes[i].domain = qb_xstrdup(domain);
    return i;
}

int qb_qdq_producer(const qb_graph *g, int t, int *slot)
{
    if (t < 0)
        return -1;
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nout; j++)
            if (g->nodes[i].out[j] == t) {
                if (slot)
                    *slot = j;
                return i;
            }
    return -1;
}

int qb_qdq_uses(const qb_graph *g, int t)
{
    int c = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nin; j++)
            c += g->nodes[i].in[j] == t;
    for (int i = 0; i < g->noutputs; i++)
        c += g->outputs[i] == t;
    return c;
}

void qb_qdq_remove(qb_graph *g, const char *kill)
{
    int w = 0;
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *n = &g->nodes[i];
        if (!kill[i]) {
            if (w != i)
                g->nodes[w] = *n;
            w++;
            continue;
        }
        free(n->name);
        free(n->op);
        free(n->in);
        free(n->out);
        for (int j = 0; j < n->nattr; j++) {
            attr_clear(&n->attr[j]);
            free(n->attr[j].name);
        }
        free(n->attr);
        if (n->free_state)
            n->free_state(n->state);
        else
            free(n->state);
        qb_qspec_free(n->q);
        free(n->domain);
    }
    g->nnodes = w;
}
