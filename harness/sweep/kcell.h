/*
 * kcell.h - kernel microbenchmark cells of a sweep (gemm = MxNxK or
 * dwconv = HxWxC model sections): set up, time and check one registry
 * kernel on seeded data. Used by cell.c.
 */
#ifndef QB_KCELL_H
#define QB_KCELL_H

#include <stddef.h>

#include "harness/sweep/scenario.h"

/* The registry kernel of the shape's family for (p, isa), or NULL. */
const qb_kernel *qb_kcell_kernel(const qb_sc_model *m, qb_precision p, qb_isa isa);
/* Generate data and pack weights; *macs gets the MACs of one call.
 * NULL with err on failure. */
void *qb_kcell_open(const qb_sc_model *m, const qb_kernel *k, double *macs, char *err, size_t errlen);
/* One kernel call (a qb_measure_fn). */
int qb_kcell_fn(void *kc, long iter);
/* Compare with the scalar reference: 0, or nonzero with msg. */
int qb_kcell_check(void *kc, char *msg, size_t len);
void qb_kcell_close(void *kc);

#endif
