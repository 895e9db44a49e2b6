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

/* Batches the batch-means term of qb_robust_rounds wants at least. */
#define QB_MIN_BATCHES 4

/* Resamples of the cluster bootstrap in qb_robust_rounds. */
#define QB_BOOT_RESAMPLES 200

/* The interval of a cell timed in rounds (the blocks, in time order, the
 * rounds of a sweep; period: the CPUs they took in turn, placement.h, 1
 * without): qb_robust_blocks, whose between-round term treats the rounds
 * as independent, and, with at least 2 * QB_MIN_BATCHES rounds (whole
 * turns of the CPUs), the method of batch means over consecutive rounds:
 * g = the largest multiple of period not above B / QB_MIN_BATCHES rounds
 * per batch, K = floor(B / g) batches, each batch's mean of its round
 * medians, and median +- t(0.975, K - 1) * sd(batch means) / sqrt(K).
 * The wider of the two decides (ci_between_rel; out->batch_rounds = g).
 * Rounds close in time share the machine's state (a vCPU slow for
 * seconds, a neighbour's job): then the spread of single rounds
 * understates how far their mean wanders, and batches of consecutive
 * rounds see it (Schmeiser, Operations Research 30(3), 1982; Kalibera
 * and Jones, "Rigorous benchmarking in reasonable time", ISMM 2013, on
 * repeating at the level that varies). 0, or -1 when n is 0 or memory
 * ran out. */
int qb_robust_rounds(const double *x, const size_t *block_n, size_t nblocks, size_t period, qb_robust *out);

/* Rounds a sweep gives one cell at most (the `rounds` key's own limit). */
#define QB_MAX_ROUNDS 100

/* How many rounds a cell timed in rounds should have in all, decided
 * once from its first rounds (rb: qb_robust_blocks of them), as in
 * Stein's two-stage procedure for an interval of a fixed width (C. Stein,
 * Ann. Math. Statist. 16, 1945): none more when rb->ci_rel is within
 * ci_threshold; else ceil(B * (h / ci_threshold)^2) for each part of the
 * interval, h its relative half-width (between rounds: t(B - 1) s / sqrt B
 * with s from these B rounds, so the t of the first stage; pooled
 * samples: an order-statistic interval narrows as 1 / sqrt n), the
 * larger, at least min_rounds, at most QB_MAX_ROUNDS. Deciding the count
 * first, instead of stopping at the first round whose interval happens
 * to be narrow, keeps the final interval from being picked for its
 * narrowness (optional stopping). */
size_t qb_rounds_target(const qb_robust *rb, double ci_threshold, size_t min_rounds);

/* Does a cell with rounds_done rounds get one more? While below target:
 * always below min_rounds (rounds + retries), beyond that only while one
 * more round of the average length so far (timed_s / rounds_done) still
 * fits the cell's budget of timed seconds (budget_s). 1 or 0. */
int qb_round_wanted(size_t rounds_done, size_t target, size_t min_rounds, double timed_s, double budget_s);

#endif
