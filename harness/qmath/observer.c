/*
 * observer.c - the four PTQ calibrators: minmax, percentile, mse and kl
 * (TensorRT's entropy calibrator). Pass 1 records the range of the finite
 * values, pass 2 a histogram over that range (of x, or of |x| for kl); the
 * clipping range is chosen from these by qb_observer_range. The exact
 * algorithms are described in quant.h. Deterministic: no randomness, fixed
 * summation order, ties broken by scan order.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/qmath/quant.h"

#define QB_DEFAULT_BINS 2048
#define QB_DEFAULT_PERCENTILE 99.99
#define QB_KL_EPS 1e-4
#define QB_KL_ATOM_SHARE 0.001 /* a kl atom holds at least this share of all values, */
#define QB_KL_ATOM_COUNT 64    /* at least this many values (noise of a count: +-1/8) */
#define QB_KL_ATOM_RATIO 2.0   /* and more than this many times its neighbours' mean */
#define QB_MSE_ROUNDS 3 /* coordinate-descent rounds of the asymmetric mse search */

struct qb_observer {
    qb_calib kind;       /* calibrator */
    double percentile;   /* PERCENTILE: p in [50, 100] */
    int bins;            /* histogram bins */
    float min, max;      /* pass 1: range of the finite values (valid when finite > 0) */
    uint64_t finite;     /* pass 1: finite values seen */
    uint64_t nan, inf;   /* pass 1: NaN and +-Inf values skipped */
    int hist_ready;      /* pass 2 has fixed the histogram range */
    double h_lo, h_hi;   /* histogram range: [min, max], kl: [0, max |x|] */
    uint64_t *hist;      /* bins counts */
    uint64_t h_total;    /* values counted in the histogram */
    uint64_t h_outside;  /* pass-2 values outside the histogram range (in the end bins) */
};

qb_observer *qb_observer_new(qb_calib kind, double percentile, int bins)
{
    if ((unsigned)kind >= QB_CALIB_COUNT)
        return NULL;
    qb_observer *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->kind = kind;
    if (!(percentile > 0))
        percentile = QB_DEFAULT_PERCENTILE;
    if (percentile < 50)
        percentile = 50;
    if (percentile > 100)
        percentile = 100;
    o->percentile = percentile;
    o->bins = bins > 0 ? bins : QB_DEFAULT_BINS;
    if (kind != QB_CALIB_MINMAX) {
        o->hist = calloc((size_t)o->bins, sizeof *o->hist);
        if (!o->hist) {
            free(o);
            return NULL;
        }
    }
    return o;
}

void qb_observer_free(qb_observer *o)
{
    if (!o)
        return;
    free(o->hist);
    free(o);
}

qb_calib qb_observer_kind(const qb_observer *o) { return o->kind; }

void qb_observer_stats(const qb_observer *o, float *min, float *max, uint64_t *finite, uint64_t *nonfinite)
{
    if (min)
        *min = o->finite ? o->min : 0;
    if (max)
        *max = o->finite ? o->max : 0;
    if (finite)
        *finite = o->finite;
    if (nonfinite)
        *nonfinite = o->nan + o->inf;
}

void qb_observer_pass1(qb_observer *o, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (isnan(v)) {
            o->nan++;
            continue;
        }
        if (isinf(v)) {
            o->inf++;
            continue;
        }
        if (o->finite == 0) {
            o->min = o->max = v;
        } else {
            if (v < o->min)
                o->min = v;
            if (v > o->max)
                o->max = v;
        }
        o->finite++;
    }
}

int qb_observer_needs_pass2(const qb_observer *o) { return o->kind != QB_CALIB_MINMAX; }

void qb_observer_pass2(qb_observer *o, const float *x, size_t n)
{
    if (!o->hist)
        return;
    if (!o->hist_ready) {
        double mn = o->finite ? o->min : 0, mx = o->finite ? o->max : 0;
        if (o->kind == QB_CALIB_KL) {
            o->h_lo = 0;
            o->h_hi = fmax(fabs(mn), fabs(mx));
        } else {
            o->h_lo = mn;
            o->h_hi = mx;
        }
        o->hist_ready = 1;
    }
    const int kl = o->kind == QB_CALIB_KL;
    const double lo = o->h_lo, width = o->h_hi - o->h_lo;
    const double per = width > 0 ? o->bins / width : 0;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        if (!isfinite(v))
            continue;
        if (kl)
            v = fabs(v);
        if (v < lo || v > o->h_hi)
            o->h_outside++;
        double b = (v - lo) * per;
        int bi = b <= 0 ? 0 : b >= o->bins ? o->bins - 1 : (int)b;
        o->hist[bi]++;
        o->h_total++;
    }
}

/* ---- percentile ---- */

/* The value at rank r (0 <= r <= total) of the histogram: inside the bin
 * that holds it, linearly interpolated. */
static double hist_rank(const qb_observer *o, double r)
{
    const double w = (o->h_hi - o->h_lo) / o->bins;
    double cum = 0;
    int last = 0;
    for (int b = 0; b < o->bins; b++) {
        double c = (double)o->hist[b];
        if (c == 0)
            continue;
        last = b;
        if (cum + c >= r)
            return o->h_lo + w * (b + (r - cum) / c);
        cum += c;
    }
    return o->h_lo + w * (last + 1);
}

/* ---- mse ---- */

/* Integral of (t - round(t))^2 from -1/2 to u (round: nearest integer). */
static double round_err_prim(double u)
{
    double v = u + 0.5, k = floor(v), r = v - k - 0.5;
    return k / 12.0 + (r * r * r + 0.125) / 3.0;
}

/* Integral over [a, b] of (x - Q(x))^2 for the quantizer qp. */
static double err_integral(double a, double b, const qb_qparams *qp)
{
    const double s = qp->scale;
    const double rlo = s * (qp->qmin - qp->zero), rhi = s * (qp->qmax - qp->zero);
    double e = 0;
    if (a < rlo) { /* clipped to rlo */
        double t = fmin(b, rlo);
        e += ((t - rlo) * (t - rlo) * (t - rlo) - (a - rlo) * (a - rlo) * (a - rlo)) / 3.0;
    }
    if (b > rhi) { /* clipped to rhi */
        double t = fmax(a, rhi);
        e += ((b - rhi) * (b - rhi) * (b - rhi) - (t - rhi) * (t - rhi) * (t - rhi)) / 3.0;
    }
    double ia = fmax(a, rlo), ib = fmin(b, rhi);
    if (ib > ia) /* rounding to the grid s * k */
        e += s * s * s * (round_err_prim(ib / s) - round_err_prim(ia / s));
    return e;
}

/* Expected total squared error of the quantizer for [lo, hi] over the
 * histogram (nz: indices of the non-empty bins). */
static double mse_of(const qb_observer *o, const int *nz, int nnz, float lo, float hi, int symmetric)
{
    qb_qparams qp;
    qb_qparams_from_range(lo, hi, symmetric, &qp, NULL, 0);
    const double w = (o->h_hi - o->h_lo) / o->bins;
    double e = 0;
    for (int j = 0; j < nnz; j++) {
        int b = nz[j];
        double a = o->h_lo + w * b;
        e += (double)o->hist[b] / w * err_integral(a, a + w, &qp);
    }
    return e;
}

static int mse_range(const qb_observer *o, int symmetric, float *lo, float *hi)
{
    int *nz = malloc((size_t)o->bins * sizeof *nz);
    if (!nz)
        return -1;
    int nnz = 0;
    for (int b = 0; b < o->bins; b++)
        if (o->hist[b])
            nz[nnz++] = b;
    const double mn = o->h_lo, mx = o->h_hi;
    const double m = fmax(fabs(mn), fabs(mx));
    double best = INFINITY;
    for (int i = o->bins; i >= 1; i--) {
        double f = (double)i / o->bins;
        float clo, chi;
        if (symmetric) {
            chi = (float)(f * m);
            clo = -chi;
        } else if (mn >= 0) {
            clo = 0;
            chi = (float)(f * mx);
        } else if (mx <= 0) {
            clo = (float)(f * mn);
            chi = 0;
        } else {
            clo = (float)(f * mn);
            chi = (float)(f * mx);
        }
        if (!(chi > clo))
            continue;
        double e = mse_of(o, nz, nnz, clo, chi, symmetric);
        if (e < best) {
            best = e;
            *lo = clo;
            *hi = chi;
        }
    }
    /* asymmetric, mixed signs: refine each end with the other fixed
     * (coordinate descent over the same grids, QB_MSE_ROUNDS rounds), so
     * skewed data is not bound to the min : max proportion */
    if (!symmetric && mn < 0 && mx > 0 && best < INFINITY) {
        for (int round = 0; round < QB_MSE_ROUNDS; round++) {
            float l0 = *lo, h0 = *hi;
            for (int end = 0; end < 2; end++) {
                for (int i = o->bins; i >= 1; i--) {
                    double f = (double)i / o->bins;
                    float clo = end == 0 ? (float)(f * mn) : *lo;
                    float chi = end == 1 ? (float)(f * mx) : *hi;
                    double e = mse_of(o, nz, nnz, clo, chi, 0);
                    if (e < best) {
                        best = e;
                        *lo = clo;
                        *hi = chi;
                    }
                }
            }
            if (*lo == l0 && *hi == h0)
                break;
        }
    }
    free(nz);
    return best < INFINITY ? 0 : -1;
}

/* ---- kl ---- */

/* Smooth d (n values) in place as MXNet/TVM do: zero bins get eps, the
 * others lose eps * zeros / nonzeros. Returns -1 when there is nothing to
 * smooth or a value would become non-positive. */
static int smooth(double *d, int n)
{
    int zeros = 0;
    for (int j = 0; j < n; j++)
        zeros += d[j] == 0;
    int nonzeros = n - zeros;
    if (nonzeros == 0)
        return -1;
    double eps1 = QB_KL_EPS * zeros / nonzeros;
    for (int j = 0; j < n; j++) {
        if (d[j] == 0)
            d[j] = QB_KL_EPS;
        else {
            d[j] -= eps1;
            if (!(d[j] > 0))
                return -1;
        }
    }
    return 0;
}

/* TensorRT's threshold search over the |x| histogram (quant.h). levels:
 * the codes on [0, T], 128 (signed, symmetric) or 256 (one-signed data
 * under the asymmetric quantizer). small > 0: mixed-sign data under the
 * asymmetric quantizer, small = the extent of the shorter side; the 256
 * codes then span [-min(small, T), T] in 255 steps, so [0, T] holds
 * 255 T / (T + min(small, T)) + 1 of them (252 for a HardSwish output of
 * range [-0.06, 3.9], 128 for a range symmetric about 0) and the clipping
 * guard measures that quantizer. Modelling such a tensor with 128 levels,
 * as before, assumed twice the real step, so KL clipped as if rounding
 * were 4x as costly as it is (PP-OCRv4 rec: docs/quantization.md). */
static int kl_threshold(const qb_observer *o, int levels, double small, double *thr)
{
    const int nb = o->bins;
    double *p = malloc((size_t)nb * sizeof *p), *q = malloc((size_t)nb * sizeof *q), *h = malloc((size_t)nb * sizeof *h);
    if (!p || !q || !h) {
        free(p);
        free(q);
        free(h);
        return -1;
    }
    /* Atoms. KL's Q spreads each level's count evenly over the level's
     * bins, which models a smooth density; a point mass (many identical
     * values) is quantized to one code, yet the comparison charges it
     * about p log k for being "spread" over the k bins of its level, so
     * every wider threshold looks worse and the search clips hard to keep
     * k small. Images with a uniform background make such atoms: the input
     * pixel, and after the first convolution one constant per channel on
     * the background (1% of the values each on the zoo cnn). Inside the
     * candidate range an atom's bin is therefore replaced by its
     * neighbourhood (h, used for P and Q); beyond the range it counts in
     * full among the clipped outliers (hist). Bin 0 is NVIDIA's rule
     * (pytorch-quantization's entropy calibrator: bins[0] = bins[1]), for
     * ReLU's zeros; another bin is an atom when it holds at least
     * QB_KL_ATOM_SHARE of all values and QB_KL_ATOM_COUNT values, and more
     * than QB_KL_ATOM_RATIO times the mean of the non-empty neighbourhood
     * of two bins on each side (a smooth histogram with that many counts
     * per bin never does; data that is all atoms, e.g. on a grid, has
     * empty neighbourhoods and is left as it is). */
    double total = 0;
    for (int b = 0; b < nb; b++)
        total += (double)o->hist[b];
    for (int b = 0; b < nb; b++)
        h[b] = (double)o->hist[b];
    if (nb > 1)
        h[0] = h[1];
    for (int b = 1; b < nb; b++) {
        double c = (double)o->hist[b], around = 0;
        int k = 0;
        for (int d = -2; d <= 2; d++)
            if (d && b + d >= 1 && b + d < nb) {
                around += (double)o->hist[b + d];
                k++;
            }
        around /= k;
        if (c >= QB_KL_ATOM_SHARE * total && c >= QB_KL_ATOM_COUNT && around > 0 && c > QB_KL_ATOM_RATIO * around)
            h[b] = around;
    }
    /* suffix sums of the real counts: the outliers beyond bin i */
    double total_after = total;
    double before = 0; /* sum of hist[0..i) */
    for (int b = 0; b < levels && b < nb; b++)
        before += (double)o->hist[b];
    double best = INFINITY;
    int best_i = -1;
    for (int i = levels; i <= nb; i++) {
        if (i > levels)
            before += (double)o->hist[i - 1];
        double outliers = total_after - before;
        for (int j = 0; j < i; j++)
            p[j] = h[j];
        p[i - 1] += outliers;
        /* Q: hist[0..i) merged into lv runs of consecutive bins, level l
         * covering [floor(l i / lv), floor((l + 1) i / lv)) */
        int lv = levels;
        if (small > 0) { /* the codes the asymmetric quantizer puts on [0, t] */
            double t = i * (o->h_hi - o->h_lo) / nb;
            lv = (int)lround(255.0 * t / (t + fmin(small, t))) + 1;
            if (lv > i)
                lv = i;
        }
        for (int l = 0; l < lv; l++) {
            int start = (int)((int64_t)l * i / lv), stop = (int)((int64_t)(l + 1) * i / lv);
            double sum = 0;
            int norm = 0;
            for (int j = start; j < stop; j++) {
                sum += h[j];
                norm += p[j] != 0;
            }
            for (int j = start; j < stop; j++)
                q[j] = (p[j] != 0 && norm) ? sum / norm : 0;
        }
        if (smooth(p, i) || smooth(q, i))
            continue;
        double sp = 0, sq = 0;
        for (int j = 0; j < i; j++) {
            sp += p[j];
            sq += q[j];
        }
        double kl = 0;
        for (int j = 0; j < i; j++) {
            double pj = p[j] / sp, qj = q[j] / sq;
            kl += pj * log(pj / qj);
        }
        if (kl < best) {
            best = kl;
            best_i = i;
        }
    }
    free(p);
    free(q);
    free(h);
    if (best_i < 0)
        return -1;
    /* The clipping guard. KL compares the shapes of P and Q and charges a
     * clipped outlier only for its share of the count, not for how far it
     * is clipped: when a few values (outlier channels, as in PP-OCRv4's
     * pointwise convolutions) hold much of the signal's energy, the first
     * minimum is the smallest candidate, T = L/bins of the maximum, and
     * the layer's output loses most of its energy (SQNR below 0 dB).
     * So the threshold is kept only while its expected squared error
     * (clipping plus rounding, from the histogram as ptq-mse computes it)
     * is no larger than that of the unclipped range [0, M]; otherwise it
     * becomes the smallest larger candidate whose error is. */
    int *nz = malloc((size_t)nb * sizeof *nz);
    if (!nz)
        return -1;
    int nnz = 0;
    for (int b = 0; b < nb; b++)
        if (o->hist[b])
            nz[nnz++] = b;
    const double w = (o->h_hi - o->h_lo) / nb;
    const int one_sided = levels > 128; /* 256 levels: an asymmetric quantizer on [0, T]; else [-T, T] */
    double e_full = small > 0 ? mse_of(o, nz, nnz, (float)-small, (float)o->h_hi, 0)
                              : mse_of(o, nz, nnz, one_sided ? 0.0f : (float)-o->h_hi, (float)o->h_hi, !one_sided);
    for (int i = best_i; i < nb; i++) {
        float t = (float)(i * w);
        double e = small > 0 ? mse_of(o, nz, nnz, (float)-fmin(small, t), t, 0)
                             : mse_of(o, nz, nnz, one_sided ? 0.0f : -t, t, !one_sided);
        if (e <= e_full)
            break;
        best_i = i + 1;
    }
    free(nz);
    *thr = best_i * w;
    return 0;
}

/* ---- the range ---- */

int qb_observer_range(const qb_observer *o, int symmetric, float *lo, float *hi, char *warn, size_t len)
{
    int ret = 0;
    if (o->nan || o->inf) {
        qb_msg_append(warn, len, "%llu NaN and %llu Inf values skipped", (unsigned long long)o->nan,
                      (unsigned long long)o->inf);
        ret = 1;
    }
    if (o->finite == 0) {
        qb_msg_append(warn, len, "no finite values seen: range [0, 0]");
        *lo = *hi = 0;
        return 1;
    }
    float l = o->min < 0 ? o->min : 0, h = o->max > 0 ? o->max : 0; /* minmax */
    if (o->kind != QB_CALIB_MINMAX && o->min < o->max) {
        if (!o->hist_ready || o->h_total == 0) {
            qb_msg_append(warn, len, "%s: pass 2 (histogram) not run, min/max range used", qb_calib_name(o->kind));
            ret = 1;
        } else if (!(o->h_hi > o->h_lo)) {
            /* the histogram saw a zero-width range (e.g. |x| all 0): minmax */
        } else {
            if (o->h_outside) {
                qb_msg_append(warn, len, "%llu pass-2 values outside the pass-1 range counted in the end bins",
                              (unsigned long long)o->h_outside);
                ret = 1;
            }
            if (o->kind == QB_CALIB_PERCENTILE) {
                double n = (double)o->h_total, p = o->percentile / 100.0;
                double pl = hist_rank(o, (1.0 - p) * n), ph = hist_rank(o, p * n);
                l = (float)fmin(pl, 0.0);
                h = (float)fmax(ph, 0.0);
            } else if (o->kind == QB_CALIB_MSE) {
                float ml = 0, mh = 0;
                if (mse_range(o, symmetric, &ml, &mh) == 0) {
                    l = ml < 0 ? ml : 0;
                    h = mh > 0 ? mh : 0;
                } else {
                    qb_msg_append(warn, len, "ptq-mse: no candidate range (out of memory?), min/max range used");
                    ret = 1;
                }
            } else { /* KL */
                int one_signed = o->min >= 0 || o->max <= 0;
                int levels = (!symmetric && one_signed) ? 256 : 128;
                /* mixed signs under the asymmetric quantizer: the extent of
                 * the shorter side, whose values share the 256 codes */
                double small = (!symmetric && !one_signed) ? fmin(-(double)o->min, (double)o->max) : 0;
                double t;
                if (o->bins < levels) {
                    qb_msg_append(warn, len, "ptq-kl: %d bins < %d levels, min/max range used", o->bins, levels);
                    ret = 1;
                } else if (kl_threshold(o, levels, small, &t) != 0) {
                    qb_msg_append(warn, len, "ptq-kl: no valid threshold, min/max range used");
                    ret = 1;
                } else {
                    double a = fmax(-t, (double)o->min), b = fmin(t, (double)o->max);
                    l = (float)fmin(a, 0.0);
                    h = (float)fmax(b, 0.0);
                }
            }
        }
    }
    if (symmetric) {
        float m = fmaxf(-l, h);
        l = -m;
        h = m;
    }
    if (!(h > l)) {
        qb_msg_append(warn, len, "zero range: every finite value is 0");
        ret = 1;
    }
    *lo = l;
    *hi = h;
    return ret;
}
