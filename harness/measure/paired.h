/*
 * paired.h - statistics of a quantized classifier against its FP32
 * reference evaluated on the same samples: paired bootstrap intervals of
 * top-1, accuracy drop and agreement, and McNemar's exact test. Pure
 * functions, seeded, no I/O (docs/measurement.md, "Accuracy intervals").
 */
#ifndef QB_PAIRED_H
#define QB_PAIRED_H

#include <stddef.h>
#include <stdint.h>

/* Resamples of the bootstrap and its seed (fixed: the same inputs give
 * the same interval on every run). */
#define QB_BOOTSTRAP_RESAMPLES 2000
#define QB_BOOTSTRAP_SEED 0x5eedULL

/* What qb_paired_stats returns: 95% percentile-bootstrap intervals over
 * the samples (resampled in pairs: the same images for both models). */
typedef struct qb_paired_ci {
    double top1_low, top1_high;   /* top-1 of the quantized model, percent */
    double drop_low, drop_high;   /* reference top-1 minus quantized top-1, points */
    double agree_low, agree_high; /* agreement of the two top-1 answers, percent */
    size_t b;                     /* discordant pairs: reference right, quantized wrong */
    size_t c;                     /* discordant pairs: reference wrong, quantized right */
    double mcnemar_p;             /* one-sided exact McNemar p-value of "quantized is less accurate" */
} qb_paired_ci;

/* One-sided exact McNemar test: P(Binomial(b + c, 1/2) >= b); 1 when
 * there is no discordant pair. */
double qb_mcnemar_p(size_t b, size_t c);

/* Intervals over n samples: ref_ok[i], q_ok[i] whether each model's top-1
 * is right (NULL: no labels, the top-1 and drop intervals are NAN),
 * agree[i] whether they gave the same answer (NULL: that interval NAN).
 * resamples <= 0: QB_BOOTSTRAP_RESAMPLES. 0, or -1 (n == 0 or out of
 * memory; everything NAN). */
int qb_paired_stats(const unsigned char *ref_ok, const unsigned char *q_ok, const unsigned char *agree, size_t n,
                    int resamples, uint64_t seed, qb_paired_ci *out);

/* 95% percentile-bootstrap interval of the SQNR over n samples, in dB:
 * sample i contributes sig2[i] (sum of its reference values squared) and
 * err2[i] (sum of its squared errors); a resample's SQNR is
 * 10 log10(sum sig2 / sum err2) over the samples drawn, the same
 * definition as the point figure (metrics.h). The interval is taken on
 * the noise-to-signal ratio (finite where a resample has no error) and
 * turned into dB: *hi is INFINITY when more than 2.5% of the resamples
 * are exact. resamples <= 0: QB_BOOTSTRAP_RESAMPLES. 0, or -1 (n == 0,
 * out of memory, or no signal: both NAN). */
int qb_sqnr_interval(const double *sig2, const double *err2, size_t n, int resamples, uint64_t seed, double *lo,
                     double *hi);

#endif
