/*
 * placement.h - a different placement for every round of a cell (sweeps
 * with rounds > 1): another heap offset, and the CPUs in turn, so that
 * the rounds see what the placement does to the time instead of one
 * process's draw of it (docs/measurement.md, "Intervals that hold
 * between runs", and "The CPU, not the pages").
 */
#ifndef QB_PLACEMENT_H
#define QB_PLACEMENT_H

/* Take a pad of a random 0..31 pages plus 1..64 cache lines from the
 * heap and touch it; hold it while the round loads its model, allocates
 * its buffers and is timed, then give it to qb_place_end. NULL when
 * memory ran out (the round then runs where malloc puts it). */
void *qb_place_begin(void);
/* Free the pad. */
void qb_place_end(void *pad);

/* How many CPUs the rounds of a one-thread cell rotate over: the first
 * `most` CPUs of the calling thread's affinity mask as it was at the
 * first call (so --pin or taskset to one CPU gives 1), at least 1. */
int qb_place_cpus(int most);
/* Move the calling thread to the CPU of round `round` (0-based) among
 * the first n of that mask, round % n in turn (so a stratum is a CPU and
 * round b always starts on the same one: a resumed cell too). hold 0:
 * the mask is given back at once, so the round starts there and stays
 * while nothing else wants that CPU (a quiet machine), but the scheduler
 * may still move it away from a busy one; hold 1: pinned until
 * qb_place_cpu_end. The CPU, or -1 when it could not move. */
int qb_place_on_cpu(int round, int n, int hold);
/* Give the calling thread back the affinity mask of the first call. */
void qb_place_cpu_end(void);

#endif
