/*
 * metrics.h - accuracy of a quantized model against its FP32 reference on
 * the same evaluation inputs: top-1 accuracy and its drop, top-1 agreement,
 * SQNR of the logits, mean cosine similarity, maximum absolute error and
 * mean KL(softmax(ref) || softmax(q)) with its p99 and maximum over
 * samples; 95% paired-bootstrap intervals of top-1, drop, agreement and
 * SQNR and McNemar's exact p-value (harness/measure/paired.h) from
 * per-sample records. Accumulated batch by batch in double; argmax ties go to the
 * first maximum; softmax computed stably (max subtracted) in double.
 */
#ifndef QB_METRICS_H
#define QB_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Per-sample records kept past qb_metrics_finish (qb_metrics_acc.keep), to
 * compare two models sample by sample (qb_paired_diff_stats). */
typedef struct qb_sample_records {
    size_t n;            /* records (samples added: class vectors of a [batch, P, C] output) */
    size_t group;        /* records per evaluated sample (P; 1 for one vector per sample) */
    unsigned char *bits; /* per record: bit 0 ref right, bit 1 q right, bit 2 agree, bit 3 labelled */
    double *err2;        /* per record: its sum of (ref - q)^2 */
} qb_sample_records;

/* Release a record set (safe twice, and on a zeroed one). */
void qb_sample_records_free(qb_sample_records *r);

typedef struct qb_metrics_acc {
    long samples;       /* samples added */
    long labeled;       /* samples added with a label */
    long correct;       /* labeled samples whose q argmax equals the label */
    long ref_correct;   /* labeled samples whose ref argmax equals the label */
    long agree;         /* samples whose q argmax equals ref's argmax */
    double sig2;        /* sum of ref^2 over all logits */
    double err2;        /* sum of (ref - q)^2 over all logits */
    double cos_sum;     /* sum over samples of the cosine similarity */
    double max_abs;     /* max |ref - q| (NaN once any difference is NaN) */
    double kl_sum;      /* sum over samples of KL(softmax(ref) || softmax(q)) in nats */
    unsigned char *rec; /* per sample: bit 0 ref right, bit 1 q right, bit 2 agree, bit 3 labelled */
    double *kl;         /* per sample: its KL */
    double *sig2s;      /* per sample: sum of its ref^2 (the SQNR's interval) */
    double *err2s;      /* per sample: sum of its (ref - q)^2 */
    long cap;           /* records allocated */
    int lost;           /* a record could not be stored (out of memory): no intervals */
    uint64_t hash;      /* FNV-1a 64 over the bytes (little-endian) of every q value, in order */
    long group;         /* records per evaluated sample (the P of a [batch, P, C] output, set before adding;
                           0 or 1: one): the bootstrap draws whole samples */
    qb_sample_records *keep; /* NULL, or where qb_metrics_finish moves the records (set after qb_metrics_init;
                                left empty when they were lost) */
} qb_metrics_acc;

void qb_metrics_init(qb_metrics_acc *a);
/* Release the per-sample records (qb_metrics_finish does; safe twice). */
void qb_metrics_free(qb_metrics_acc *a);
/* ref and q: batch x classes logits; labels may be NULL (no accuracy then).
 * q's values also go into the output hash, so the hash covers every output
 * float of every sample in order, whatever the batch split. */
void qb_metrics_add(qb_metrics_acc *a, const float *ref, const float *q, const int32_t *labels, int batch, int classes);

typedef struct qb_metrics {
    long samples;          /* evaluation samples */
    double top1, ref_top1; /* top-1 accuracy of q and of ref in percent (NAN without labels) */
    double drop_pt;        /* ref_top1 - top1 in points (NAN without labels) */
    double agreement;      /* percent of samples whose argmax equals ref's argmax */
    double sqnr_db;        /* 10 log10(sum ref^2 / sum (ref - q)^2) over all logits; INFINITY when identical */
    double cosine;         /* mean over samples of the cosine similarity of the logit vectors */
    double max_abs_err;    /* max |ref - q| */
    double kl_div;         /* mean over samples of KL(softmax(ref) || softmax(q)) in nats */
    double kl_p99;         /* 99th percentile over samples of that KL */
    double kl_max;         /* largest KL of one sample */
    double top1_ci_low, top1_ci_high;   /* 95% paired-bootstrap interval of top1 (NAN without labels) */
    double drop_ci_low, drop_ci_high;   /* ... of drop_pt */
    double agree_ci_low, agree_ci_high; /* ... of agreement */
    double sqnr_ci_low, sqnr_ci_high; /* 95% bootstrap interval of sqnr_db over samples (high INFINITY: exact resamples) */
    double mcnemar_p;      /* one-sided exact McNemar p-value of "q is less accurate than ref" (NAN without labels) */
    uint64_t output_hash;  /* FNV-1a 64 of q's values bit for bit, in sample order (independent of batching) */
    int hashed;            /* output_hash is set (samples were added) */
} qb_metrics;

/* Every mean is NAN when no samples were added; intervals are NAN when
 * the records were lost. Releases the per-sample records (or hands the
 * right/agree bits and squared errors to a->keep). */
void qb_metrics_finish(qb_metrics_acc *a, qb_metrics *m);
/* same definition for one tensor (per-layer) */
double qb_sqnr_db(const float *ref, const float *x, size_t n);
/* Index of the first maximum of x[0..n) (NaN never wins; 0 when n <= 0). */
int qb_argmax(const float *x, int n);

#endif
