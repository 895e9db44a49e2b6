/*
 * ops_control.c - If: runs its then_branch or else_branch subgraph (the IR
 * holds them as GRAPH attributes, see onnx_import.c). A branch reads
 * values of the enclosing graph by name; the importer added those as extra
 * inputs of the If node (after the condition), so the enclosing graph
 * orders and keeps them alive. When the If is prepared, each branch's
 * outer values are bound: constants are copied in as constants (so the
 * branch folds and packs them), the others become inputs of the branch
 * graph, fed at every run. A constant condition prepares only the branch
 * it selects (exporters' shape checks, Silero VAD's sample-rate switch);
 * with a run-time condition both branches are prepared and must give
 * outputs of the same types and shapes.
 */
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

typedef struct branch {
    qb_graph *g;     /* the subgraph (owned by the attribute) */
    int nin;         /* its run-time inputs */
    int *from;       /* for each: the enclosing graph's tensor index */
    qb_tensor *view; /* nin views of those tensors, refreshed at each run */
} branch;

typedef struct if_state {
    branch br[2]; /* 0: else_branch, 1: then_branch; g NULL when not prepared */
} if_state;

static void if_free(void *p)
{
    if_state *s = p;
    for (int b = 0; s && b < 2; b++) {
        free(s->br[b].from);
        free(s->br[b].view);
    }
    free(s);
}

/* Bind the outer values of sub from g and prepare it. */
static int bind_branch(qb_graph *g, qb_node *n, qb_graph *sub, branch *br, qb_err *e)
{
    br->g = sub;
    br->from = calloc(sub->nouter + 1, sizeof *br->from);
    br->view = calloc(sub->nouter + 1, sizeof *br->view);
    int *inputs = calloc(sub->ninputs + sub->nouter + 1, sizeof *inputs);
    if (!br->from || !br->view || !inputs) {
        free(inputs);
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    memcpy(inputs, sub->inputs, sub->ninputs * sizeof *inputs);
    free(sub->inputs);
    sub->inputs = inputs;
    for (int k = 0; k < sub->nouter; k++) {
        qb_tensor *t = sub->tensors[sub->outer[k]];
        int pi = qb_graph_find(g, t->name);
        qb_tensor *p = pi >= 0 ? g->tensors[pi] : NULL;
        if (!p || !p->has_shape) {
            QB_NODE_ERR(e, g, n, "the branch reads '%s', which has no known value here", t->name);
            return -1;
        }
        t->dtype = p->dtype;
        t->ndim = p->ndim;
        memcpy(t->dims, p->dims, sizeof t->dims);
        memset(t->sym, 0, sizeof t->sym);
        t->has_shape = 1;
        if (p->kind == QB_T_CONST) {
            size_t bytes = (size_t)qb_tensor_count(p) * qb_dtype_size(p->dtype);
            t->data = malloc(bytes ? bytes : 1);
            if (!t->data) {
                QB_NODE_ERR(e, g, n, "out of memory");
                return -1;
            }
            memcpy(t->data, p->data, bytes);
            t->kind = QB_T_CONST;
        } else {
            t->kind = QB_T_INPUT;
            br->from[br->nin++] = pi;
            sub->inputs[sub->ninputs++] = sub->outer[k];
        }
    }
    if (qb_graph_prepare(sub, NULL, 0, g->isa, e))
        return -1;
    return 0;
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
    if_state *s = calloc(1, sizeof *s);
    n->state = s;
    n->free_state = if_free;
    int only = c->kind == QB_T_CONST ? qb_get_d(c, 0) != 0 : -1;
    for (int b = 0; b < 2; b++) {
        if (only >= 0 && b != only)
            continue;
        if (sub[b]->prepared) {
            QB_NODE_ERR(e, g, n, "the branch is already prepared");
            return -1;
        }
        if (bind_branch(g, n, sub[b], &s->br[b], e))
            return -1;
        if (sub[b]->noutputs != n->nout) {
            QB_NODE_ERR(e, g, n, "the %s gives %d outputs, the node has %d", b ? "then_branch" : "else_branch",
                        sub[b]->noutputs, n->nout);
            return -1;
        }
    }
    int b = only >= 0 ? only : 1;
    for (int i = 0; i < n->nout; i++) {
        const qb_tensor *t = s->br[b].g->tensors[s->br[b].g->outputs[i]];
        if (only < 0) {
            const qb_tensor *o = s->br[0].g->tensors[s->br[0].g->outputs[i]];
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
    int b = qb_get_d(qb_in(g, n, 0), 0) != 0;
    branch *br = &s->br[b];
    if (!br->g)
        return; /* cannot happen: a constant condition selected the other branch */
    for (int i = 0; i < br->nin; i++) {
        const qb_tensor *p = g->tensors[br->from[i]];
        br->view[i] = *p;
    }
    qb_err e;
    br->g->profile = g->profile;
    if (qb_graph_run(br->g, br->view, br->nin, &e))
        return;
    for (int i = 0; i < n->nout; i++) {
        qb_tensor *y = qb_out(g, n, i);
        const qb_tensor *t = br->g->tensors[br->g->outputs[i]];
        if (y && y->data != t->data)
            memcpy(y->data, t->data, (size_t)qb_tensor_count(t) * qb_dtype_size(t->dtype));
    }
}

static int64_t if_macs(const qb_graph *g, const qb_node *n)
{
    (void)g;
    const if_state *s = n->state;
    int64_t m = 0;
    for (int b = 1; s && b >= 0; b--) /* the then_branch when both are prepared */
        if (s->br[b].g) {
            for (int i = 0; i < s->br[b].g->nnodes; i++)
                if (!s->br[b].g->nodes[i].folded)
                    m += qb_node_macs(s->br[b].g, &s->br[b].g->nodes[i]);
            break;
        }
    return m;
}

const qb_opdef qb_ops_control[] = {
    {"If", if_prepare, if_run, if_macs, QB_OPF_ANY_DTYPE, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
