/*
 * dataset.h - labelled image datasets for training and evaluation: IDX
 * files (MNIST format, gzip or raw, read with zlib), a seeded synthetic
 * dataset, validation and calibration splits drawn from training data
 * only, and per-dataset normalisation (mean/std per channel).
 *
 * Samples are NCHW, one image after another. IDX pixels stay uint8 in
 * memory (60k Fashion-MNIST images: 47 MB); qb_dataset_get() converts one
 * sample to normalised floats when a batch is built.
 */
#ifndef QB_DATASET_H
#define QB_DATASET_H

#include <stddef.h>
#include <stdint.h>

#define QB_NORM_MAX_CH 4 /* channels a normalisation records */

/* Which part of a dataset the samples come from. */
typedef enum qb_split_kind {
    QB_SPLIT_TRAIN, /* training data: may be split into train/val/calibration */
    QB_SPLIT_TEST   /* held-out test data: never split or used to calibrate */
} qb_split_kind;

/* Per-channel normalisation x' = (x - mean) / std, x in [0, 1]. Written
 * into the exported model's metadata so a runtime can reproduce it. */
typedef struct qb_norm {
    int channels;                /* channels used in mean/std (1..QB_NORM_MAX_CH) */
    float mean[QB_NORM_MAX_CH];  /* per-channel mean of the [0,1] pixel values */
    float std[QB_NORM_MAX_CH];   /* per-channel standard deviation (> 0) */
} qb_norm;

/* A labelled dataset held in memory. */
typedef struct qb_dataset {
    char name[64];        /* e.g. "fashion-mnist" or "synthetic" */
    qb_split_kind split;  /* training or test data */
    int n;                /* number of samples */
    int c, h, w;          /* sample shape (channels, height, width) */
    int classes;          /* number of classes; labels are 0..classes-1 */
    uint8_t *u8;          /* IDX pixels, n*c*h*w, value/255 in [0,1]; or NULL */
    float *f32;           /* synthetic samples, n*c*h*w, already in [0,1]; or NULL */
    int32_t *labels;      /* n labels */
} qb_dataset;

/* Load one IDX image file and its label file (gzip or raw: zlib reads
 * both). Returns 0, or -1 with a message naming the file in err. */
int qb_idx_load(const char *images_path, const char *labels_path, qb_split_kind split,
                qb_dataset *out, char *err, size_t errlen);

/* Load the training or test part of an MNIST-format directory: files
 * train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], and
 * t10k-* for the test part (a .gz file is preferred when both exist). */
int qb_idx_load_dir(const char *dir, qb_split_kind split, qb_dataset *out, char *err, size_t errlen);

/* Debian's Fashion-MNIST directory (package dataset-fashion-mnist). */
#define QB_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Deterministic synthetic dataset: n samples of shape c x h x w in
 * [0,1], `classes` classes. Each class has a seeded smooth prototype
 * image; a sample is its class prototype plus seeded noise (`noise`
 * standard deviation, e.g. 0.1), so classes are learnable. The same
 * arguments give the same bytes on every machine. split: TRAIN or TEST
 * (a test set uses a different noise stream for the same prototypes). */
int qb_synthetic(int n, int c, int h, int w, int classes, float noise, uint64_t seed,
                 qb_split_kind split, qb_dataset *out, char *err, size_t errlen);

void qb_dataset_free(qb_dataset *d);

/* Values per sample (c*h*w). */
static inline size_t qb_dataset_sample_size(const qb_dataset *d)
{
    return (size_t)d->c * (size_t)d->h * (size_t)d->w;
}

/* Sample i as normalised floats into out (sample_size floats); norm may
 * be NULL for raw [0,1] values. */
void qb_dataset_get(const qb_dataset *d, int i, const qb_norm *norm, float *out);

/* Mean and std per channel over the samples idx[0..n) (all samples when
 * idx is NULL), computed in double. Refuses a test set (returns -1). */
int qb_norm_compute(const qb_dataset *d, const int *idx, int n, qb_norm *out, char *err, size_t errlen);

/* The fixed normalisation of a named dataset: "fashion-mnist" and
 * "mnist" have published constants; anything else returns -1. */
int qb_norm_named(const char *dataset, qb_norm *out);

/* Split a training set into train and validation index lists: a seeded
 * permutation, the first n_val indices are validation. *train and *val
 * are malloc'd (free them). Refuses a test set and n_val outside
 * [0, n). Returns 0 or -1 with err. */
int qb_split_train_val(const qb_dataset *d, int n_val, uint64_t seed, int **train, int *n_train,
                       int **val, int *n_val_out, char *err, size_t errlen);

/* Calibration subset: n indices drawn without replacement (seeded) from
 * from[0..n_from) (a validation or training index list of a training
 * set). Refuses a test set and n > n_from. *out is malloc'd. */
int qb_calib_subset(const qb_dataset *d, const int *from, int n_from, int n, uint64_t seed, int **out,
                    char *err, size_t errlen);

/* A dataset by name (named.c): "synthetic" (1x28x28, 10 classes, 6000
 * training / 1000 test samples), "fashion-mnist" (Debian's directory), or
 * any name when dir (--data-dir) is given. 0, or -1 with err. */
int qb_dataset_open(const char *name, const char *dir, qb_split_kind split, qb_dataset *out, char *err,
                    size_t errlen);
/* Its normalisation: the published constants of a known name without a
 * dir, else statistics of its training part. */
int qb_dataset_norm(const char *name, const char *dir, qb_norm *out, char *err, size_t errlen);

/* Seeded random numbers shared by datasets and training (splitmix64). */
static inline uint64_t qb_rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform in [0, 1) with 24 random bits (exact in float). */
static inline float qb_rng_uniform(uint64_t *s)
{
    return (float)(qb_rng_next(s) >> 40) * (1.0f / 16777216.0f);
}
/* Uniform integer in [0, n), n > 0. */
static inline int qb_rng_below(uint64_t *s, int n)
{
    return (int)((qb_rng_next(s) >> 33) % (uint64_t)n);
}
/* Seeded Fisher-Yates shuffle of n ints. */
void qb_shuffle(int *v, int n, uint64_t *rng);

#endif
