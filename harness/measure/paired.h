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

/* Intervals over n records: ref_ok[i], q_ok[i] whether each model's top-1
 * is right (NULL: no labels, the top-1 and drop intervals are NAN),
 * agree[i] whether they gave the same answer (NULL: that interval NAN).
 * group: records per sample (the class vectors of a [batch, P, C]
 * output; 0 or 1: one each); the bootstrap draws whole samples, so the
 * records of one sample, which are not independent, go together.
 * resamples <= 0: QB_BOOTSTRAP_RESAMPLES. 0, or -1 (n == 0, n not a
 * multiple of group, or out of memory; everything NAN). */
int qb_paired_stats(const unsigned char *ref_ok, const unsigned char *q_ok, const unsigned char *agree, size_t n,
                    size_t group, int resamples, uint64_t seed, qb_paired_ci *out);

/* 95% percentile-bootstrap interval of the SQNR over n records, in dB
 * (group: as qb_paired_stats, whole samples drawn):
 * record i contributes sig2[i] (sum of its reference values squared) and
 * err2[i] (sum of its squared errors); a resample's SQNR is
 * 10 log10(sum sig2 / sum err2) over the samples drawn, the same
 * definition as the point figure (metrics.h). The interval is taken on
 * the noise-to-signal ratio (finite where a resample has no error) and
 * turned into dB: *hi is INFINITY when more than 2.5% of the resamples
 * are exact. resamples <= 0: QB_BOOTSTRAP_RESAMPLES. 0, or -1 (n == 0,
 * out of memory, or no signal: both NAN). */
int qb_sqnr_interval(const double *sig2, const double *err2, size_t n, size_t group, int resamples, uint64_t seed,
                     double *lo, double *hi);

/* What qb_paired_diff returns: quantized models A and B, both against the
 * same FP32 reference on the same samples, A minus B, with 95%
 * percentile-bootstrap intervals over the samples (each resample draws
 * the same samples for A and B, so what both get wrong cancels). */
typedef struct qb_paired_diff {
    double sqnr_db;                  /* SQNR of A minus SQNR of B, dB: 10 log10(sum err2_b / sum err2_a) (the
                                        reference's energy cancels); +-INFINITY when one is exact, 0 when both */
    double sqnr_low, sqnr_high;      /* its interval (an end may be infinite) */
    double top1_pt;                  /* top-1 of A minus top-1 of B, points (NAN without labels) */
    double top1_low, top1_high;      /* its interval */
    double agree_pt;                 /* agreement with the reference, A minus B, points (NAN without it) */
    double agree_low, agree_high;    /* its interval */
    size_t a_only;                   /* labelled samples only A gets right */
    size_t b_only;                   /* labelled samples only B gets right */
    double mcnemar_p;                /* two-sided exact McNemar p-value of "A and B are as accurate" (NAN
                                        without labels) */
} qb_paired_diff;

/* Two-sided exact McNemar test on b and c discordant pairs:
 * min(1, 2 min(P(X >= b), P(X <= b))), X ~ Binomial(b + c, 1/2); 1 when
 * there is no discordant pair. */
double qb_mcnemar_two_sided(size_t b, size_t c);

/* A against B over n records: err2_a[i], err2_b[i] each model's squared
 * error on record i (the SQNR's; NULL: that difference NAN); a_ok, b_ok
 * whether each is right (NULL: no labels); a_agree, b_agree whether each
 * agrees with the reference's top-1 (NULL: that difference NAN); group:
 * records per sample, as qb_paired_stats. resamples <= 0:
 * QB_BOOTSTRAP_RESAMPLES. 0, or -1 (n == 0, n not a multiple of group,
 * a NaN error, or out of memory; everything NAN). */
int qb_paired_diff_stats(const double *err2_a, const double *err2_b, const unsigned char *a_ok,
                         const unsigned char *b_ok, const unsigned char *a_agree, const unsigned char *b_agree,
                         size_t n, size_t group, int resamples, uint64_t seed, qb_paired_diff *out);

#endif
