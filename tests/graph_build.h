/*
 * graph_build.h - building qb_graph objects in memory for the graph
 * tests (test_graph, test_qops, test_fuse, test_par): tensors, nodes
 * from comma-separated names, attributes, outputs. One copy of what
 * those four files each had their own of.
 */
#ifndef QB_TESTS_GRAPH_BUILD_H
#define QB_TESTS_GRAPH_BUILD_H

#include <stdint.h>

#include "harness/graph/graph.h"

/* Tensor name of dtype dt and shape dims[0..ndim): a constant holding a
 * copy of data when data is given, else a graph input. Its index. */
int qb_test_tensor(qb_graph *g, const char *name, qb_dtype dt, int ndim, const int64_t *dims, const void *data);
/* A node of op named OP_<node count>, its inputs and outputs given as
 * comma-separated tensor names ("-" for an omitted one, up to 16 each);
 * aborts on an op the engine does not know. */
qb_node *qb_test_node(qb_graph *g, const char *op, const char *ins, const char *outs);
/* A new attribute of n, zeroed, of the given name and QB_ATTR_* type. */
qb_attr *qb_test_attr(qb_node *n, const char *name, int type);
/* Attribute name = the k integers v[0..k) (QB_ATTR_INTS). */
void qb_test_attr_ints(qb_node *n, const char *name, int k, const int64_t *v);
/* Tensor name becomes one more graph output. */
void qb_test_output(qb_graph *g, const char *name);

#endif
