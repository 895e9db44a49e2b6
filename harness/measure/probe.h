/*
 * probe.h - a machine-speed probe for sweeps timed in rounds: two fixed
 * workloads timed in well under a millisecond right before a round, on
 * the CPU the round starts on (a dependent integer multiply-add chain:
 * the core's speed; a pointer chase over half an L2: the cache's, which
 * a neighbour on the same core slows most), logged with `--samples` to
 * DIR/probes.csv, one line per round:
 *   run_id,cell,round,cpu,alu_ns,chase_ns
 * Read by scripts/bench-stability to see whether the machine's speed
 * explains how cells move between rounds and between processes
 * (docs/measurement.md, "A machine-speed probe"). It changes no result.
 */
#ifndef QB_PROBE_H
#define QB_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Bytes of the pointer chase (half of a 1 MB L2). */
#define QB_PROBE_CHASE_BYTES (512u * 1024u)

/* 32-bit words per cache line: the chase takes one step per line. */
#define QB_PROBE_LINE_WORDS 16

/* Times each workload is run per probe (the median is kept). */
#define QB_PROBE_REPS 7

/* The probe's state: the chase buffer and the log. */
typedef struct qb_prober {
    uint32_t *next;         /* the chase: next[i] = index of the line after line i (one cycle), malloc'd */
    size_t lines;           /* cache lines in the chase */
    FILE *f;                /* the log (NULL: not logging) */
    char path[1100];        /* its path (messages) */
} qb_prober;

/* One probe. */
typedef struct qb_probe {
    double alu_s;           /* median seconds of one multiply-add chain (qb_spin_work) */
    double chase_s;         /* median seconds of one pass of the chase */
    int cpu;                /* the CPU at the end (sched_getcpu; -1: unknown) */
} qb_probe;

/* Build the chase (a random single cycle over the lines, fixed seed,
 * Sattolo's algorithm) and open path for the log (NULL: no log; a new or
 * empty file gets the header; an existing one must start with it).
 * 0, or -1 with err. */
int qb_prober_open(qb_prober *p, const char *path, char *err, size_t errlen);
/* Time both workloads, QB_PROBE_REPS times each, alternated. */
void qb_probe_time(qb_prober *p, qb_probe *out);
/* The index reached after `steps` steps of the chase from line 0 (the
 * walk qb_probe_time times; tests check it is one cycle over all lines). */
size_t qb_probe_chase(const qb_prober *p, size_t steps);
/* Append one line to the log and flush (nothing without a log). 0, or -1 with err. */
int qb_probe_log(qb_prober *p, const char *run_id, const char *cell, int round, const qb_probe *pr, char *err,
                 size_t errlen);
/* Close the log and free the chase (0, or -1 with err when the last writes failed). */
int qb_prober_close(qb_prober *p, char *err, size_t errlen);

#endif
