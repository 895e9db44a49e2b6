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
 *           below 0 (rounding) counts as 0
 */
#include <math.h>

#include "harness/eval/metrics.h"

void qb_metrics_init(qb_metrics_acc *a)
{
    *a = (qb_metrics_acc){0};
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
        double dot = 0, nr = 0, nq = 0;
        for (int i = 0; i < classes; i++) {
            double rv = r[i], qv = x[i], d = rv - qv;
            dot += rv * qv;
            nr += rv * rv;
            nq += qv * qv;
            a->err2 += d * d;
            double ad = fabs(d);
            if (!(ad <= a->max_abs) && !isnan(a->max_abs))
                a->max_abs = ad;
        }
        a->sig2 += nr;
        double cs;
        if (nr == 0 && nq == 0)
            cs = 1;
        else if (nr == 0 || nq == 0)
            cs = 0;
        else
            cs = dot / (sqrt(nr) * sqrt(nq));
        a->cos_sum += cs;
        if (classes > 0)
            a->kl_sum += kl_softmax(r, x, classes);
    }
}

static double sqnr_of(double sig2, double err2)
{
    if (isnan(sig2) || isnan(err2))
        return NAN;
    if (err2 == 0)
        return INFINITY;
    return 10.0 * log10(sig2 / err2);
}

void qb_metrics_finish(const qb_metrics_acc *a, qb_metrics *m)
{
    m->samples = a->samples;
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
