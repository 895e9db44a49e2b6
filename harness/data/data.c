/*
 * data.c - the synthetic dataset, sample access with normalisation,
 * normalisation statistics, and the train/validation/calibration splits
 * (training data only; a test set is refused).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/dataset.h"

void qb_shuffle(int *v, int n, uint64_t *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = qb_rng_below(rng, i + 1);
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

#define GRID 4 /* prototype control points per side, bilinearly upsampled */

int qb_synthetic(int n, int c, int h, int w, int classes, float noise, uint64_t seed,
                 qb_split_kind split, qb_dataset *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || classes < 2 || classes > 1000 || !(noise >= 0) ||
        (double)n * c * h * w > 1e9) {
        snprintf(err, errlen, "synthetic: bad shape n=%d c=%d h=%d w=%d classes=%d noise=%g", n, c, h,
                 w, classes, (double)noise);
        return -1;
    }
    size_t ss = (size_t)c * h * w;
    out->f32 = malloc(sizeof(float) * ss * (size_t)n);
    out->labels = malloc(sizeof(int32_t) * (size_t)n);
    float *proto = malloc(sizeof(float) * ss * (size_t)classes);
    if (!out->f32 || !out->labels || !proto) {
        free(proto);
        qb_dataset_free(out);
        snprintf(err, errlen, "synthetic: out of memory");
        return -1;
    }
    /* prototypes: random GRID x GRID control values per class and channel */
    uint64_t prng = seed * 0x2545F4914F6CDD1Dull + 1;
    for (int k = 0; k < classes; k++)
        for (int ch = 0; ch < c; ch++) {
            float g[GRID][GRID];
            for (int a = 0; a < GRID; a++)
                for (int b = 0; b < GRID; b++)
                    g[a][b] = qb_rng_uniform(&prng);
            float *p = proto + ((size_t)k * c + ch) * h * w;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    float fy = h > 1 ? (float)y * (GRID - 1) / (float)(h - 1) : 0;
                    float fx = w > 1 ? (float)x * (GRID - 1) / (float)(w - 1) : 0;
                    int y0 = (int)fy < GRID - 1 ? (int)fy : GRID - 2;
                    int x0 = (int)fx < GRID - 1 ? (int)fx : GRID - 2;
                    float ty = fy - (float)y0, tx = fx - (float)x0;
                    float top = g[y0][x0] * (1 - tx) + g[y0][x0 + 1] * tx;
                    float bot = g[y0 + 1][x0] * (1 - tx) + g[y0 + 1][x0 + 1] * tx;
                    p[y * w + x] = top * (1 - ty) + bot * ty;
                }
        }
    uint64_t nrng = (seed ^ (split == QB_SPLIT_TEST ? 0x7E57DA7Aull : 0x7EA1DA7Aull)) * 3 + 7;
    for (int i = 0; i < n; i++) {
        int k = i % classes;
        out->labels[i] = k;
        const float *p = proto + (size_t)k * ss;
        float *s = out->f32 + (size_t)i * ss;
        for (size_t j = 0; j < ss; j++) {
            /* sum of 4 uniforms: mean 2, variance 1/3 -> approx N(0,1) */
            float u = qb_rng_uniform(&nrng) + qb_rng_uniform(&nrng) + qb_rng_uniform(&nrng) +
                      qb_rng_uniform(&nrng);
            float v = p[j] + noise * (u - 2.0f) * 1.7320508f;
            s[j] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    }
    free(proto);
    snprintf(out->name, sizeof out->name, "synthetic");
    out->split = split;
    out->n = n;
    out->c = c;
    out->h = h;
    out->w = w;
    out->classes = classes;
    return 0;
}

void qb_dataset_get(const qb_dataset *d, int i, const qb_norm *norm, float *out)
{
    size_t hw = (size_t)d->h * d->w, ss = hw * d->c;
    for (int ch = 0; ch < d->c; ch++) {
        float m = 0, inv = 1;
        if (norm) {
            int nc = ch < norm->channels ? ch : norm->channels - 1;
            m = norm->mean[nc];
            inv = 1.0f / norm->std[nc];
        }
        float *o = out + (size_t)ch * hw;
        if (d->u8) {
            const uint8_t *s = d->u8 + (size_t)i * ss + (size_t)ch * hw;
            for (size_t j = 0; j < hw; j++)
                o[j] = ((float)s[j] * (1.0f / 255.0f) - m) * inv;
        } else {
            const float *s = d->f32 + (size_t)i * ss + (size_t)ch * hw;
            for (size_t j = 0; j < hw; j++)
                o[j] = (s[j] - m) * inv;
        }
    }
}

static int refuse_test(const qb_dataset *d, const char *what, char *err, size_t errlen)
{
    if (d->split == QB_SPLIT_TEST) {
        snprintf(err, errlen, "%s: %s must come from training data, not the test set", d->name, what);
        return -1;
    }
    return 0;
}

int qb_norm_compute(const qb_dataset *d, const int *idx, int n, qb_norm *out, char *err, size_t errlen)
{
    if (refuse_test(d, "normalisation statistics", err, errlen))
        return -1;
    if (d->c > QB_NORM_MAX_CH || n <= 0 || (!idx && n > d->n)) {
        snprintf(err, errlen, "%s: cannot compute normalisation (%d channels, %d samples)", d->name, d->c, n);
        return -1;
    }
    size_t hw = (size_t)d->h * d->w;
    float *buf = malloc(sizeof(float) * hw * d->c);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    double s[QB_NORM_MAX_CH] = {0}, s2[QB_NORM_MAX_CH] = {0};
    for (int k = 0; k < n; k++) {
        qb_dataset_get(d, idx ? idx[k] : k, NULL, buf);
        for (int ch = 0; ch < d->c; ch++)
            for (size_t j = 0; j < hw; j++) {
                double v = buf[(size_t)ch * hw + j];
                s[ch] += v;
                s2[ch] += v * v;
            }
    }
    free(buf);
    memset(out, 0, sizeof *out);
    out->channels = d->c;
    double cnt = (double)n * (double)hw;
    for (int ch = 0; ch < d->c; ch++) {
        double m = s[ch] / cnt, var = s2[ch] / cnt - m * m;
        out->mean[ch] = (float)m;
        out->std[ch] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    }
    return 0;
}

int qb_norm_named(const char *dataset, qb_norm *out)
{
    memset(out, 0, sizeof *out);
    out->channels = 1;
    if (!strcmp(dataset, "fashion-mnist")) {
        out->mean[0] = 0.2860f; /* over the 60,000 training images */
        out->std[0] = 0.3530f;
        return 0;
    }
    if (!strcmp(dataset, "mnist")) {
        out->mean[0] = 0.1307f;
        out->std[0] = 0.3081f;
        return 0;
    }
    return -1;
}

int qb_split_train_val(const qb_dataset *d, int n_val, uint64_t seed, int **train, int *n_train,
                       int **val, int *n_val_out, char *err, size_t errlen)
{
    *train = *val = NULL;
    if (refuse_test(d, "a validation split", err, errlen))
        return -1;
    if (n_val < 0 || n_val >= d->n) {
        snprintf(err, errlen, "%s: validation size %d out of range [0, %d)", d->name, n_val, d->n);
        return -1;
    }
    int *perm = malloc(sizeof(int) * (size_t)d->n);
    *train = malloc(sizeof(int) * (size_t)(d->n - n_val));
    *val = malloc(sizeof(int) * (size_t)(n_val > 0 ? n_val : 1));
    if (!perm || !*train || !*val) {
        free(perm);
        free(*train);
        free(*val);
        *train = *val = NULL;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < d->n; i++)
        perm[i] = i;
    uint64_t rng = seed ^ 0x5EED5EEDull;
    qb_shuffle(perm, d->n, &rng);
    memcpy(*val, perm, sizeof(int) * (size_t)n_val);
    memcpy(*train, perm + n_val, sizeof(int) * (size_t)(d->n - n_val));
    free(perm);
    *n_train = d->n - n_val;
    *n_val_out = n_val;
    return 0;
}

int qb_calib_subset(const qb_dataset *d, const int *from, int n_from, int n, uint64_t seed, int **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    if (refuse_test(d, "calibration data", err, errlen))
        return -1;
    if (n <= 0 || n > n_from) {
        snprintf(err, errlen, "%s: calibration size %d out of range [1, %d]", d->name, n, n_from);
        return -1;
    }
    int *tmp = malloc(sizeof(int) * (size_t)n_from);
    if (!tmp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(tmp, from, sizeof(int) * (size_t)n_from);
    uint64_t rng = seed ^ 0xCA11B8A7Eull;
    qb_shuffle(tmp, n_from, &rng);
    *out = realloc(tmp, sizeof(int) * (size_t)n);
    if (!*out)
        *out = tmp;
    return 0;
}
