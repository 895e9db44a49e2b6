/*
 * find_node.c - a node of an unprepared graph by name and operator, in
 * the graph or in the If branches it holds (qb_graph_node_named, graph.h).
 * A layer calibrated in a prepared graph may come from a branch that the
 * prepare spliced in (inline_if.c); in a fresh copy of the model it still
 * sits inside that branch, where its quantization is attached.
 */
#include <string.h>

#include "harness/graph/graph.h"

qb_node *qb_graph_node_named(qb_graph *g, const char *name, const char *op, qb_graph **owner)
{
    for (int i = 0; i < g->nnodes; i++)
        if (!strcmp(g->nodes[i].name, name) && !strcmp(g->nodes[i].op, op)) {
            *owner = g;
            return &g->nodes[i];
        }
    for (int i = 0; i < g->nnodes; i++) {
        if (strcmp(g->nodes[i].op, "If"))
            continue; /* Loop bodies are rebuilt for every iteration: not inlined, not searched */
        for (int j = 0; j < g->nodes[i].nattr; j++) {
            qb_graph *sub = g->nodes[i].attr[j].sub;
            qb_node *n = sub ? qb_graph_node_named(sub, name, op, owner) : NULL;
            if (n)
                return n;
        }
    }
    return NULL;
}
