/*
 * metrics.c - accuracy metrics of quantized logits against the FP32
 * reference (definitions in metrics.h):
 *   SQNR    10 log10(sum ref^2 / sum (ref - q)^2), +INF when the error is 0
 *           (also when both sums are 0), -INF when ref is all 0 and q is not
 *   cosine  dot(r, q) / (|r| |q|) per sample; 1 when both vectors are 0,
 *           0 when exactly one is
 *   KL      sum_i p_i (log p_i - log q_i) with p = softmax(ref),
 *           q = softmax(q), log-softmax computed in double with the max
 *           subtracted; terms with p_i = 0 add nothing; a sample's value
 *           below 0 (rounding) counts as 0; mean, p99 (linear
 *           interpolation) and maximum over samples
 *   output hash  FNV-1a 64 over the 4 bytes (little-endian) of every q
 *           value in order: equal hashes = the same outputs bit for bit
 *   intervals  95% percentile bootstrap over the samples, resampled in
 *           pairs (QB_BOOTSTRAP_RESAMPLES, fixed seed); McNemar's exact
 *           one-sided test on the discordant pairs (harness/measure/paired.c)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/eval/metrics.h"
#include "harness/measure/paired.h"
#include "harness/measure/robust.h"

#define FNV_OFFSET 0xcbf29ce484222325ull /* FNV-1a 64 offset basis */
#define FNV_PRIME 0x100000001b3ull        /* FNV-1a 64 prime */

void qb_metrics_init(qb_metrics_acc *a)
{
    *a = (qb_metrics_acc){.hash = FNV_OFFSET};
}

/* Fold n floats into the FNV-1a hash, byte by byte in little-endian order
 * (the same digest on any host). */
static uint64_t hash_floats(uint64_t h, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        for (int k = 0; k < 4; k++) {
            h ^= (u >> (8 * k)) & 0xffu;
            h *= FNV_PRIME;
        }
    }
    return h;
}

void qb_sample_records_free(qb_sample_records *r)
{
    free(r->bits);
    free(r->err2);
    memset(r, 0, sizeof *r);
}

void qb_metrics_free(qb_metrics_acc *a)
{
    free(a->rec);
    free(a->kl);
    free(a->sig2s);
    free(a->err2s);
    a->rec = NULL;
    a->kl = NULL;
    a->sig2s = a->err2s = NULL;
    a->cap = 0;
}

/* Store one sample's record (or mark the records lost). */
static void record(qb_metrics_acc *a, unsigned char bits, double kl, double sig2, double err2)
{
    if (a->lost)
        return;
    long i = a->samples - 1;
    if (i >= a->cap) {
        long nc = a->cap ? 2 * a->cap : 1024;
        unsigned char *r = realloc(a->rec, (size_t)nc);
        if (r)
            a->rec = r;
        double **arrays[] = {&a->kl, &a->sig2s, &a->err2s};
        int ok = r != NULL;
        for (size_t k = 0; ok && k < sizeof arrays / sizeof arrays[0]; k++) {
            double *g = realloc(*arrays[k], (size_t)nc * sizeof *g);
            if (g)
                *arrays[k] = g;
            ok = g != NULL;
        }
        if (!ok) {
            a->lost = 1;
            return;
        }
        a->cap = nc;
    }
    a->rec[i] = bits;
    a->kl[i] = kl;
    a->sig2s[i] = sig2;
    a->err2s[i] = err2;
}

int qb_argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best] || (isnan(x[best]) && !isnan(x[i])))
            best = i;
    return best;
}

/* log of sum_i exp(x_i - mx), mx = max x */
static double log_sum_exp(const float *x, int n, double *mx)
{
    double m = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > m)
            m = x[i];
    double s = 0;
    for (int i = 0; i < n; i++)
        s += exp((double)x[i] - m);
    *mx = m;
    return log(s);
}

static double kl_softmax(const float *r, const float *q, int n)
{
    double mr, mq;
    double lr = log_sum_exp(r, n, &mr), lq = log_sum_exp(q, n, &mq);
    double kl = 0;
    for (int i = 0; i < n; i++) {
        double lpi = (double)r[i] - mr - lr, lqi = (double)q[i] - mq - lq;
        double pi = exp(lpi);
        if (pi > 0)
            kl += pi * (lpi - lqi);
    }
    return kl < 0 ? 0 : kl;
}

void qb_metrics_add(qb_metrics_acc *a, const float *ref, const float *q, const int32_t *labels, int batch, int classes)
{
    if (batch > 0 && classes > 0)
        a->hash = hash_floats(a->hash, q, (size_t)batch * (size_t)classes);
    for (int b = 0; b < batch; b++) {
        const float *r = ref + (size_t)b * (size_t)classes, *x = q + (size_t)b * (size_t)classes;
        int ar = qb_argmax(r, classes), aq = qb_argmax(x, classes);
        a->samples++;
        a->agree += ar == aq;
        if (labels) {
            a->labeled++;
            a->correct += aq == labels[b];
            a->ref_correct += ar == labels[b];
        }
        double dot = 0, nr = 0, nq = 0, ne = 0;
        for (int i = 0; i < classes; i++) {
            double rv = r[i], qv = x[i], d = rv - qv;
            dot += rv * qv;
            nr += rv * rv;
            nq += qv * qv;
            ne += d * d;
            double ad = fabs(d);
            if (!(ad <= a->max_abs) && !isnan(a->max_abs))
                a->max_abs = ad;
        }
        a->sig2 += nr;
        a->err2 += ne;
        double cs;
        if (nr == 0 && nq == 0)
            cs = 1;
        else if (nr == 0 || nq == 0)
            cs = 0;
        else
            cs = dot / (sqrt(nr) * sqrt(nq));
        a->cos_sum += cs;
        double kl = classes > 0 ? kl_softmax(r, x, classes) : 0;
        a->kl_sum += kl;
        unsigned char bits = (unsigned char)((ar == aq) << 2);
        if (labels)
            bits |= (unsigned char)((ar == labels[b]) | (aq == labels[b]) << 1 | 1 << 3);
        record(a, bits, kl, nr, ne);
    }
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The intervals, KL p99 and max from the per-sample records. */
static void finish_records(const qb_metrics_acc *a, qb_metrics *m)
{
    m->kl_p99 = m->kl_max = NAN;
    m->top1_ci_low = m->top1_ci_high = m->drop_ci_low = m->drop_ci_high = NAN;
    m->agree_ci_low = m->agree_ci_high = m->mcnemar_p = NAN;
    m->sqnr_ci_low = m->sqnr_ci_high = NAN;
    size_t n = (size_t)a->samples;
    if (a->lost || n == 0)
        return;
    unsigned char *ref_ok = malloc(n), *q_ok = malloc(n), *agree = malloc(n);
    double *kl = malloc(n * sizeof *kl);
    if (ref_ok && q_ok && agree && kl) {
        /* labels come for every sample or for none (qb_metrics_add's batches) */
        int labelled = a->labeled == a->samples;
        for (size_t i = 0; i < n; i++) {
            ref_ok[i] = a->rec[i] & 1;
            q_ok[i] = (a->rec[i] >> 1) & 1;
            agree[i] = (a->rec[i] >> 2) & 1;
            kl[i] = a->kl[i];
        }
        qb_paired_ci ci;
        size_t g = a->group > 1 && n % (size_t)a->group == 0 ? (size_t)a->group : 1;
        if (qb_paired_stats(labelled ? ref_ok : NULL, labelled ? q_ok : NULL, agree, n, g, 0, QB_BOOTSTRAP_SEED,
                            &ci) == 0) {
            m->top1_ci_low = ci.top1_low;
            m->top1_ci_high = ci.top1_high;
            m->drop_ci_low = ci.drop_low;
            m->drop_ci_high = ci.drop_high;
            m->agree_ci_low = ci.agree_low;
            m->agree_ci_high = ci.agree_high;
            m->mcnemar_p = ci.mcnemar_p;
        }
        qb_sqnr_interval(a->sig2s, a->err2s, n, g, 0, QB_BOOTSTRAP_SEED, &m->sqnr_ci_low, &m->sqnr_ci_high);
        qsort(kl, n, sizeof *kl, cmp_double);
        m->kl_p99 = qb_percentile_sorted(kl, n, 0.99);
        m->kl_max = kl[n - 1];
    }
    free(ref_ok);
    free(q_ok);
    free(agree);
    free(kl);
}

static double sqnr_of(double sig2, double err2)
{
    if (isnan(sig2) || isnan(err2))
        return NAN;
    if (err2 == 0)
        return INFINITY;
    return 10.0 * log10(sig2 / err2);
}

void qb_metrics_finish(qb_metrics_acc *a, qb_metrics *m)
{
    finish_records(a, m);
    if (a->keep && !a->lost && a->samples > 0) {
        qb_sample_records_free(a->keep);
        size_t n = (size_t)a->samples, g = a->group > 1 && n % (size_t)a->group == 0 ? (size_t)a->group : 1;
        *a->keep = (qb_sample_records){n, g, a->rec, a->err2s};
        a->rec = NULL;
        a->err2s = NULL;
    }
    qb_metrics_free(a);
    m->samples = a->samples;
    m->output_hash = a->hash;
    m->hashed = a->samples > 0;
    if (a->labeled > 0) {
        m->top1 = 100.0 * (double)a->correct / (double)a->labeled;
        m->ref_top1 = 100.0 * (double)a->ref_correct / (double)a->labeled;
        m->drop_pt = m->ref_top1 - m->top1;
    } else {
        m->top1 = m->ref_top1 = m->drop_pt = NAN;
    }
    if (a->samples > 0) {
        double n = (double)a->samples;
        m->agreement = 100.0 * (double)a->agree / n;
        m->sqnr_db = sqnr_of(a->sig2, a->err2);
        m->cosine = a->cos_sum / n;
        m->max_abs_err = a->max_abs;
        m->kl_div = a->kl_sum / n;
    } else {
        m->agreement = m->sqnr_db = m->cosine = m->max_abs_err = m->kl_div = NAN;
    }
}

double qb_sqnr_db(const float *ref, const float *x, size_t n)
{
    double s = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)ref[i] - (double)x[i];
        s += (double)ref[i] * ref[i];
        e += d * d;
    }
    return sqnr_of(s, e);
}
