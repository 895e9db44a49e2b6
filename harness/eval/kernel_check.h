/*
 * kernel_check.h - compares one kernel against the scalar reference of its
 * family on generated data: integer results bit-exact, float results within
 * a tolerance named per precision, outputs poisoned before each call and
 * the padding between rows checked untouched. Used by the unit tests and by
 * `qbench gemm --check`.
 */
#ifndef QB_KERNEL_CHECK_H
#define QB_KERNEL_CHECK_H

#include <stdint.h>

#include "kernels/kernels.h"

typedef enum qb_fill {
    QB_FILL_RANDOM,  /* uniform random values over each type's range */
    QB_FILL_EXTREME, /* values at the ends of each range (saturation paths) */
} qb_fill;

typedef struct qb_check_case {
    int m, n, k;      /* GEMM shape (dw: n = channels, k = kh * kw, set by the harness) */
    int group;        /* int4 group size, 0 = per channel */
    int h, w;         /* dw: input height and width */
    int kh, kw;       /* dw: window */
    int sh, sw;       /* dw: strides (>= 1) */
    int dh, dw;       /* dw: dilations (>= 1) */
    int pad_t, pad_l, pad_b, pad_r; /* dw: zero padding on each side */
    int out_i32;      /* int8: check raw int32 accumulators */
    int relu;         /* fuse a ReLU clamp into the output */
    int lda_extra;    /* extra elements between rows of A (strided input) */
    int ldc_extra;    /* extra elements between rows of C (must stay poisoned) */
    qb_fill fill;     /* how data is generated */
    int rq_fast;      /* int8: 1 multipliers without trailing zero bits (every channel in the faster
                         requantization's form); 2 dw: also tiny ones (~2^-19) and y_zero 30000 */
    uint64_t seed;    /* generator seed: same seed, same data */
} qb_check_case;

typedef struct qb_check_result {
    int pass;          /* 1 when the kernel agrees with the reference */
    double max_err;    /* largest |kernel - reference| (float) or |diff| (int) */
    double tol_used;   /* the tolerance factor applied (0 = bit-exact) */
    long mismatches;   /* outputs out of tolerance */
    char msg[640];     /* first failure, with index, values and a runnable repro line */
} qb_check_result;

/* Tolerance factor per precision, relative to sum |a*w| + |b| of each
 * output: the rigorous bound 2 (K + 2) u for two differently ordered float
 * sums (u = 2^-24, or 2^-11 for fp16 arithmetic); 0 = bit-exact. */
double qb_check_tolerance(const qb_kernel *k, int K);

/* The qbench command that replays case c on kernel k and checks it
 * ("qbench gemm -p P -i I -s MxNxK ... --seed S --check", or the dwconv
 * equivalent), into buf. */
void qb_check_repro(const qb_kernel *k, const qb_check_case *c, char *buf, size_t len);

/* The output size of a depthwise case; -1 if the case is not valid
 * (window, strides, dilations below 1, negative padding, more than
 * QB_DW_MAX_TAPS taps, or no output). */
int qb_check_dw_out(const qb_check_case *c, int *oh, int *ow);

/* Runs kernel kn and the scalar reference on the case; 0 on pass, 1 on
 * mismatch, -1 if the case could not be set up (message in r->msg). */
int qb_check_kernel(const qb_kernel *kn, const qb_check_case *c, qb_check_result *r);

/* The same in steps, for benchmarks that time the kernel in between. */
typedef struct qb_kcase qb_kcase;
/* Generates the data and packs the weights for kn; NULL with err on failure. */
qb_kcase *qb_kcase_new(const qb_kernel *kn, const qb_check_case *c, char *err, size_t errlen);
/* What runs a GEMM case's packed weights (default: the kernel itself;
 * `qbench gemm --threads` passes qb_gpar_gemm, the engine's split). */
void qb_kcase_set_gemm(qb_kcase *kc, void (*gemm)(const qb_packed *p, const qb_gemm_args *a));
/* One call of the kernel on the case's inputs (poisons nothing). */
void qb_kcase_run(qb_kcase *kc);
/* Poisons, runs kernel and reference, compares: as qb_check_kernel. */
int qb_kcase_compare(qb_kcase *kc, qb_check_result *r);
void qb_kcase_free(qb_kcase *kc);

#endif
