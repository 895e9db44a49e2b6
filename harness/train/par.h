/*
 * par.h - OpenMP helpers of the training engine (internal to
 * harness/train/). Every parallel loop splits its work into pieces that
 * depend only on the shapes, never on the thread count, and each piece
 * writes its own outputs (or partial sums added up afterwards in a fixed
 * order), so any number of threads gives bit-identical results. Builds
 * without OpenMP run the same pieces one after another.
 */
#ifndef QB_TRAIN_PAR_H
#define QB_TRAIN_PAR_H

#ifdef _OPENMP
#include <omp.h>
#endif

/* Threads a parallel region started here would get (1 inside one). */
static inline int qb_par_threads(void)
{
#ifdef _OPENMP
    return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
    return 1;
#endif
}

/* This thread's number within its team (0 outside a parallel region). */
static inline int qb_par_tid(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Worth a parallel region: not nested, and at least `work` elements
 * (roughly a few microseconds of work per thread). */
static inline int qb_par_worth(size_t work) { return work >= 16384 && qb_par_threads() > 1; }

#endif
