/*
 * samples.h - the raw timed samples of a sweep beside its results CSV
 * (`qbench sweep --samples`: DIR/samples.csv), one line per sample:
 *   run_id,cell,sample,seconds_per_call,calls_per_sample,block
 * in time order (block: the sweep's round the sample was timed in), so the robust statistics of a row can be recomputed,
 * plotted or tested against other assumptions (docs/measurement.md).
 */
#ifndef QB_SAMPLES_H
#define QB_SAMPLES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The samples of one cell (free with qb_samples_kept_free). */
typedef struct qb_samples_kept {
    double *x;              /* seconds per call of each sample, in time order (malloc'd) */
    size_t n;               /* samples */
    long calls_per_sample;  /* calls timed together as one sample (the first block's) */
    size_t *block_n;        /* samples of each block (round), in order (malloc'd; NULL: one block of n) */
    size_t nblocks;         /* entries of block_n */
    int batch;              /* inputs per call (throughput = batch / median) */
    uint64_t inputs_hash;   /* FNV-1a 64 of the timed input buffers (every round of a cell times the same; 0: unknown) */
} qb_samples_kept;

/* Append the n samples of one more block (round) to k. 0, or -1 when
 * memory ran out (k unchanged). */
int qb_samples_kept_add(qb_samples_kept *k, const double *x, size_t n);
/* Free what k holds and zero it. */
void qb_samples_kept_free(qb_samples_kept *k);

/* An open samples file. */
typedef struct qb_sample_log {
    FILE *f;                /* appending stream */
    char path[1024];        /* its path (messages) */
} qb_sample_log;

/* Open path for appending (a new or empty file gets the header; an
 * existing one must start with it). 0, or -1 with err. */
int qb_sample_log_open(qb_sample_log *l, const char *path, char *err, size_t errlen);
/* Append the samples of one cell and flush. 0, or -1 with err. */
int qb_sample_log_write(qb_sample_log *l, const char *run_id, const char *cell, const qb_samples_kept *s, char *err,
                        size_t errlen);
/* Close (0, or -1 with err when the last writes failed). */
int qb_sample_log_close(qb_sample_log *l, char *err, size_t errlen);

#endif
