/*
 * plan.h - the sweep plan: a scenario's axes expanded into cells (one
 * model, dataset, precision, method, ISA, thread count, batch size each),
 * pruned by rule, then optionally cut to one shard and filtered by a
 * regular expression on the cell id.
 */
#ifndef QB_PLAN_H
#define QB_PLAN_H

#include <stddef.h>

#include "harness/sweep/scenario.h"

#define QB_CELL_ID 256 /* bytes of a cell id */

/* One cell of the plan. */
typedef struct qb_cell {
    int model;            /* index into the scenario's models */
    qb_precision prec;    /* precision */
    qb_method method;     /* quantization method */
    unsigned repairs;     /* its repairs (1u << qb_repair), written after it: ptq-minmax+cle */
    qb_isa isa;           /* instruction set */
    int threads;          /* thread count */
    int batch;            /* batch size */
    int index;            /* position in the full (pruned, unsharded) plan */
    int group;            /* (model, precision, method) group index: what shards split */
    char id[QB_CELL_ID];  /* "cnn/int8-channel/ptq-kl/avx2/t1/b1" */
} qb_cell;

/* The cells of a sweep. */
typedef struct qb_plan {
    int n;          /* cells */
    qb_cell *cells; /* in expansion order */
    int pruned;     /* combinations removed by the precision/method rule */
    int ngroups;    /* (model, precision, method) groups of the full plan */
} qb_plan;

/* Nonzero if precision p goes with method m: fp32 and fp16 only with
 * none; quantized precisions (int8-*, int4, binary, mixed) only with a
 * ptq-* method or qat. */
int qb_plan_valid(qb_precision p, qb_method m);

/* The cell id of (model name, precision, method, isa, threads, batch). */
void qb_cell_id(char *buf, size_t len, const char *model, const char *prec, const char *method, const char *isa,
                int threads, int batch);

/* Expand every axis (order: model, precision, method, isa, threads,
 * batch), pruning invalid precision/method pairs and, for kernel
 * shapes (gemm/dwconv sections), precisions whose kernel family has no
 * kernel in the registry on any ISA (and every precision but int4 for a
 * shape with an int4 group size). 0, or -1 on allocation failure. */
int qb_plan_build(const qb_scenario *sc, qb_plan *plan);

/* Parse "I/N" (1 <= I <= N <= 100000) into *i, *n; 0 or -1. */
int qb_shard_parse(const char *s, int *i, int *n);

/* Keep the cells of shard i of n: groups whose index is i-1 modulo n,
 * so all cells of one (model, precision, method) share a shard and the
 * shards are disjoint and cover the plan. */
void qb_plan_shard(qb_plan *plan, int i, int n);

/* Keep the cells whose id matches the POSIX extended regex (anywhere in
 * the id). 0, or -1 with a message in err for a bad expression. */
int qb_plan_only(qb_plan *plan, const char *regex, char *err, size_t errlen);
/* The --only regex that selects exactly the cell id: "^ID$" with regex
 * metacharacters escaped (the repro line of a failed cell). */
void qb_cell_only_regex(const char *id, char *buf, size_t len);

void qb_plan_free(qb_plan *plan);

#endif
