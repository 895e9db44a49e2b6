/*
 * placement.h - a different memory placement for every round of a cell
 * (sweeps with rounds > 1), so that the spread between rounds includes
 * what the placement does to the time (docs/measurement.md, "Intervals
 * that hold between runs").
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

#endif
