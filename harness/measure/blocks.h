/*
 * blocks.h - the confidence interval of a median measured in blocks
 * spread over time (the rounds of a sweep): the order-statistic interval
 * of the pooled samples, widened by the spread between the blocks'
 * medians (the method of non-overlapping batch means), and the Student
 * t quantile it needs. Pure functions (docs/measurement.md, "Intervals
 * that hold between runs").
 */
#ifndef QB_BLOCKS_H
#define QB_BLOCKS_H

#include <stddef.h>

#include "harness/measure/robust.h"

/* The p-quantile (0 < p < 1) of Student's t distribution with df >= 1
 * degrees of freedom (the regularized incomplete beta function, inverted
 * by bisection; about 1e-10 absolute). NAN for df < 1 or p outside (0, 1). */
double qb_t_quantile(double df, double p);

/* The robust summary of x[0..n-1], n = the sum of block_n[0..nblocks-1],
 * the samples of block 0 first, then block 1, ...: qb_robust_of on all
 * of them, then, with at least two non-empty blocks, the 95% interval
 * becomes the union of the pooled order-statistic interval and
 * median +- t(0.975, B - 1) * sd(block medians) / sqrt(B) (B: non-empty
 * blocks), clipped to [min, max] of the samples. out->blocks, ci_within_rel and ci_between_rel say which part
 * decided. 0, or -1 when n is 0 or memory ran out. */
int qb_robust_blocks(const double *x, const size_t *block_n, size_t nblocks, qb_robust *out);

#endif
