/*
 * norm_meta.h - a model's input normalisation kept in its metadata, so a
 * model file carries what its inputs must look like: written by the zoo
 * trainer, read back by the pipeline (and anything else that feeds
 * dataset images to a model). Above both data/ (qb_norm) and graph/
 * (metadata), so neither of them depends on the other.
 */
#ifndef QB_NORM_META_H
#define QB_NORM_META_H

#include "harness/data/dataset.h"
#include "harness/graph/graph.h"

/* Normalisation in a model's metadata (norm_meta.c): keys
 * "qbench.norm.mean" and "qbench.norm.std", one value per channel,
 * comma-separated, for input = (pixel/255 - mean) / std. */
#define QB_META_NORM_MEAN "qbench.norm.mean"
#define QB_META_NORM_STD "qbench.norm.std"
/* Record norm in g's metadata. 0, or -1 out of memory. */
int qb_norm_to_graph(struct qb_graph *g, const qb_norm *norm);
/* The normalisation recorded in g: 0 found (norm filled), -1 absent or
 * malformed (norm unchanged). */
int qb_norm_from_graph(const struct qb_graph *g, qb_norm *norm);

#endif
