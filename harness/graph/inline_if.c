/*
 * inline_if.c - an If whose condition is constant when the graph is
 * prepared (Silero VAD's sample-rate switch, exporters' shape checks) is
 * replaced by the nodes of the branch it selects, spliced into the
 * enclosing graph right after it (qb_if_inline, graph.h). The branch's
 * layers then are layers of the graph like any other: calibration,
 * quantization, per-layer reports, layer plans and the QDQ export see
 * them, and they run without a subgraph call. The If node stays in the IR,
 * marked folded (not run, not written), and one Identity per output copies
 * the branch's result into the If's output tensor.
 *
 * The branch's own values (initializers, node outputs) keep their names;
 * ONNX forbids a subgraph to reuse a name of its enclosing graphs, so a
 * name the graph already holds leaves the If as it is (run as a subgraph).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/graph.h"

/* Copy p's type, shape and constant data into t (a new tensor of g). */
static int copy_const(qb_tensor *t, const qb_tensor *p)
{
    t->dtype = p->dtype;
    t->ndim = p->ndim;
    memcpy(t->dims, p->dims, sizeof t->dims);
    memcpy(t->sym, p->sym, sizeof t->sym);
    t->has_shape = p->has_shape;
    t->kind = QB_T_CONST;
    size_t bytes = (size_t)qb_tensor_count(p) * qb_dtype_size(p->dtype);
    t->data = malloc(bytes ? bytes : 1);
    if (!t->data)
        return -1;
    if (bytes)
        memcpy(t->data, p->data, bytes);
    return 0;
}

/* map[k]: the tensor of g that branch tensor k becomes (outer values: the
 * graph's tensor of that name; the branch's own: new tensors). 1 when a
 * name of the branch's own is taken in g, 0 done, -1 out of memory or an
 * outer value g lacks. */
static int map_tensors(qb_graph *g, const qb_graph *br, int *map, qb_err *e)
{
    char *outer = calloc((size_t)br->ntensors + 1, 1);
    if (!outer)
        return -1;
    for (int k = 0; k < br->nouter; k++)
        outer[br->outer[k]] = 1;
    int rc = 0;
    for (int k = 0; k < br->ntensors && !rc; k++)
        if (!outer[k] && qb_graph_find(g, br->tensors[k]->name) >= 0)
            rc = 1; /* the name is taken: keep the If */
    for (int k = 0; k < br->ntensors && !rc; k++) {
        const qb_tensor *p = br->tensors[k];
        if (outer[k]) {
            map[k] = qb_graph_find(g, p->name);
            if (map[k] < 0) {
                qb_errf(e, "%s: the branch reads '%s', which the graph does not hold", br->file, p->name);
                rc = -1;
            }
            continue;
        }
        map[k] = qb_graph_tensor(g, p->name);
        if (p->kind == QB_T_CONST && copy_const(g->tensors[map[k]], p)) {
            qb_errf(e, "%s: out of memory", br->file);
            rc = -1;
        }
    }
    free(outer);
    return rc;
}

/* Open `count` node slots right after node `at`. */
static int make_room(qb_graph *g, int at, int count)
{
    qb_node *nn = realloc(g->nodes, (size_t)(g->nnodes + count) * sizeof *nn);
    if (!nn)
        return -1;
    g->nodes = nn;
    memmove(g->nodes + at + 1 + count, g->nodes + at + 1, (size_t)(g->nnodes - at - 1) * sizeof *nn);
    memset(g->nodes + at + 1, 0, (size_t)count * sizeof *nn);
    return 0;
}

/* The branch's nodes, their tensors renumbered by map, from slot `to` on. */
static int copy_nodes(qb_graph *g, const qb_graph *br, const int *map, int to)
{
    for (int i = 0; i < br->nnodes; i++) {
        qb_node *d = &g->nodes[to + i];
        int rc = qb_node_copy(d, &br->nodes[i]);
        g->nnodes++; /* counted even when partly copied: the graph frees it */
        if (rc)
            return -1;
        for (int j = 0; j < d->nin; j++)
            d->in[j] = d->in[j] >= 0 ? map[d->in[j]] : -1;
        for (int j = 0; j < d->nout; j++)
            d->out[j] = d->out[j] >= 0 ? map[d->out[j]] : -1;
    }
    return 0;
}

/* One Identity per output of the If: branch result -> the If's tensor. */
static int copy_outputs(qb_graph *g, const qb_node *n, const qb_graph *br, const int *map, int to)
{
    for (int j = 0; j < n->nout; j++) {
        qb_node *d = &g->nodes[to + j];
        d->name = malloc(strlen(n->name) + 32);
        d->op = strdup("Identity");
        d->in = malloc(sizeof *d->in);
        d->out = malloc(sizeof *d->out);
        d->attr = calloc(1, sizeof *d->attr);
        g->nnodes++;
        if (!d->name || !d->op || !d->in || !d->out || !d->attr)
            return -1;
        sprintf(d->name, "%s_output_%d", n->name, j);
        d->def = qb_op_find("Identity");
        d->nin = d->nout = 1;
        d->in[0] = map[br->outputs[j]];
        d->out[0] = n->out[j];
        d->fused_into = d->write_to = d->epi_in = -1;
        d->f_min = -INFINITY;
        d->f_max = INFINITY;
    }
    return 0;
}

int qb_if_inline(qb_graph *g, int at, const qb_graph *br, qb_err *e)
{
    const qb_node *n = &g->nodes[at];
    if (br->ninputs || br->noutputs != n->nout) {
        qb_errf(e, "%s: node '%s' (If): the branch has %d inputs and %d outputs (want none and %d)", g->file,
                n->name, br->ninputs, br->noutputs, n->nout);
        return -1;
    }
    int *map = calloc((size_t)br->ntensors + 1, sizeof *map);
    if (!map) {
        qb_errf(e, "%s: out of memory", g->file);
        return -1;
    }
    int rc = map_tensors(g, br, map, e);
    if (rc) {
        free(map);
        return rc > 0 ? 0 : -1;
    }
    int count = br->nnodes + n->nout, nnodes = g->nnodes;
    if (make_room(g, at, count)) {
        free(map);
        qb_errf(e, "%s: out of memory", g->file);
        return -1;
    }
    /* the nodes after the room are counted again as they are filled */
    g->nnodes = at + 1;
    int tail = nnodes - at - 1;
    rc = copy_nodes(g, br, map, at + 1) || copy_outputs(g, &g->nodes[at], br, map, at + 1 + br->nnodes);
    free(map);
    g->nnodes = at + 1 + count + tail;
    if (rc) {
        qb_errf(e, "%s: out of memory", g->file);
        return -1;
    }
    g->nodes[at].folded = 1; /* replaced by the nodes after it */
    return 1;
}
