/*
 * graph_build.c - building qb_graph objects in memory for the graph
 * tests (see graph_build.h).
 */
#include "tests/graph_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most inputs or outputs of one node (QLinearConv has 9 inputs). */
#define MAX_NAMES 16

int qb_test_tensor(qb_graph *g, const char *name, qb_dtype dt, int ndim, const int64_t *dims, const void *data)
{
    int i = qb_graph_tensor(g, name);
    qb_tensor *t = g->tensors[i];
    t->dtype = dt;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->dims, dims, ndim * sizeof *dims);
    t->has_shape = 1;
    if (data) {
        size_t b = (size_t)qb_tensor_count(t) * qb_dtype_size(dt);
        t->data = malloc(b + 1);
        memcpy(t->data, data, b);
        t->kind = QB_T_CONST;
    } else {
        t->kind = QB_T_INPUT;
        g->inputs = realloc(g->inputs, (g->ninputs + 1) * sizeof(int));
        g->inputs[g->ninputs++] = i;
    }
    return i;
}

/* Splits list at the commas into at most MAX_NAMES names (in buf); their count. */
static int split_names(const char *list, char *buf, size_t size, const char *names[MAX_NAMES])
{
    char *save, *tok;
    int n = 0;
    snprintf(buf, size, "%s", list);
    for (tok = strtok_r(buf, ",", &save); tok && n < MAX_NAMES; tok = strtok_r(NULL, ",", &save))
        names[n++] = tok;
    return n;
}

qb_node *qb_test_node(qb_graph *g, const char *op, const char *ins, const char *outs)
{
    char si[256], so[256], name[64];
    const char *in[MAX_NAMES], *out[MAX_NAMES];
    int nin = split_names(ins, si, sizeof si, in), nout = split_names(outs, so, sizeof so, out);
    snprintf(name, sizeof name, "%s_%d", op, g->nnodes);
    int ni = qb_graph_add_node(g, op, name, nin, nout);
    qb_node *n = &g->nodes[ni];
    if (!n->def) {
        fprintf(stderr, "graph_build: op %s is not known to the engine\n", op);
        abort();
    }
    for (int i = 0; i < nin; i++)
        n->in[i] = strcmp(in[i], "-") ? qb_graph_tensor(g, in[i]) : -1;
    for (int i = 0; i < nout; i++)
        n->out[i] = strcmp(out[i], "-") ? qb_graph_tensor(g, out[i]) : -1;
    return n;
}

qb_attr *qb_test_attr(qb_node *n, const char *name, int type)
{
    n->attr = realloc(n->attr, (n->nattr + 1) * sizeof *n->attr);
    qb_attr *a = &n->attr[n->nattr++];
    memset(a, 0, sizeof *a);
    a->name = strdup(name);
    a->type = type;
    return a;
}

void qb_test_attr_ints(qb_node *n, const char *name, int k, const int64_t *v)
{
    qb_attr *a = qb_test_attr(n, name, QB_ATTR_INTS);
    a->n = k;
    a->ints = calloc(k + 1, sizeof(int64_t));
    if (k)
        memcpy(a->ints, v, k * sizeof(int64_t));
}

void qb_test_output(qb_graph *g, const char *name)
{
    g->outputs = realloc(g->outputs, (g->noutputs + 1) * sizeof(int));
    g->outputs[g->noutputs++] = qb_graph_tensor(g, name);
}
