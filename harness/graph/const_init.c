/*
 * const_init.c - Constant nodes that hold a tensor become initializers at
 * load: paddle2onnx and many other exporters store every weight that way,
 * and as initializers they fold into BatchNormalization, are packed once,
 * and are counted as parameters by inspect. A Constant whose output is a
 * graph output stays a node (the graph still produces that output).
 */
#include <stdlib.h>
#include <string.h>

#include "harness/graph/graph.h"

/* Move the value of Constant node n into its output tensor t. */
static int take_value(qb_node *n, qb_tensor *t)
{
    if (n->nattr != 1 || n->nout != 1)
        return 0;
    qb_attr *a = &n->attr[0];
    if (!strcmp(a->name, "value") && a->t) {
        t->dtype = a->t->dtype;
        t->ndim = a->t->ndim;
        memcpy(t->dims, a->t->dims, sizeof t->dims);
        t->data = a->t->data;
        a->t->data = NULL;
    } else if (!strcmp(a->name, "value_float") && a->type == QB_ATTR_FLOAT) {
        t->dtype = QB_DT_FLOAT;
        t->ndim = 0;
        t->data = malloc(sizeof(float));
        *(float *)t->data = a->f;
    } else if (!strcmp(a->name, "value_int") && a->type == QB_ATTR_INT) {
        t->dtype = QB_DT_INT64;
        t->ndim = 0;
        t->data = malloc(sizeof(int64_t));
        *(int64_t *)t->data = a->i;
    } else if (!strcmp(a->name, "value_floats") && a->type == QB_ATTR_FLOATS) {
        t->dtype = QB_DT_FLOAT;
        t->ndim = 1;
        t->dims[0] = a->n;
        t->data = malloc((size_t)a->n * sizeof(float) + 1);
        memcpy(t->data, a->floats, (size_t)a->n * sizeof(float));
    } else if (!strcmp(a->name, "value_ints") && a->type == QB_ATTR_INTS) {
        t->dtype = QB_DT_INT64;
        t->ndim = 1;
        t->dims[0] = a->n;
        t->data = malloc((size_t)a->n * sizeof(int64_t) + 1);
        memcpy(t->data, a->ints, (size_t)a->n * sizeof(int64_t));
    } else {
        return 0; /* sparse or string values: the Constant op refuses them when prepared */
    }
    t->kind = QB_T_CONST;
    t->has_shape = 1;
    t->producer = -1;
    return 1;
}

static void free_node(qb_node *n)
{
    free(n->name);
    free(n->op);
    free(n->in);
    free(n->out);
    for (int j = 0; j < n->nattr; j++)
        qb_attr_free(&n->attr[j]);
    free(n->attr);
    free(n->domain);
}

int qb_graph_constants_to_init(qb_graph *g)
{
    int moved = 0, k = 0;
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *n = &g->nodes[i];
        int t = n->nout == 1 ? n->out[0] : -1, is_output = 0;
        for (int j = 0; j < g->noutputs && t >= 0; j++)
            is_output |= g->outputs[j] == t;
        if (!strcmp(n->op, "Constant") && !n->domain && t >= 0 && !is_output &&
            g->tensors[t]->kind == QB_T_VALUE && take_value(n, g->tensors[t])) {
            free_node(n);
            moved++;
            continue;
        }
        g->nodes[k++] = *n;
    }
    g->nnodes = k;
    return moved;
}
