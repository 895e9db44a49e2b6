/*
 * prof_clock.h - the clock of `qbench run --profile`'s node and kernel
 * timers: the CPU's time-stamp counter (rdtsc), calibrated once against
 * CLOCK_MONOTONIC, where the CPU says the counter runs at a constant rate
 * (invariant TSC); else, and off x86, CLOCK_MONOTONIC itself. A profile
 * reads the clock four times per layer; through the hypervisor's clock
 * (kvm-clock) a read costs ~39 ns against ~14 ns for rdtsc, and that cost
 * lands mostly outside the kernel timers (docs/measurement.md).
 */
#ifndef QB_PROF_CLOCK_H
#define QB_PROF_CLOCK_H

/* Milliseconds since the calibration (the first call), non-decreasing
 * on one CPU. Calibrates on first use (about 10 ms; thread-safe);
 * QB_PROFILE_CLOCK=monotonic forces CLOCK_MONOTONIC. */
double qb_prof_ms(void);

/* Calibrates now if not yet done, so the first timed call does not pay
 * it; returns the counter's rate in GHz, or 0 when the clock is
 * CLOCK_MONOTONIC. */
double qb_prof_clock_init(void);

/* "tsc" or "monotonic": what qb_prof_ms reads (calibrates if needed). */
const char *qb_prof_clock_name(void);

#endif
