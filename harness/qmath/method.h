/*
 * method.h - the quantization methods of qbench (the `method` vocabulary
 * of docs/design.md: CLI flag, scenario axis, results column) and the
 * calibrators behind them, as one traits table (method.c).
 *
 * Adding a calibrator touches three files: a QB_CALIB_ value and a
 * QB_METHOD_ value here, its row in method.c, its range rule in
 * observer.c. The CLI, the scenario parser, the results reader and the
 * tests take the names from the table.
 */
#ifndef QB_METHOD_H
#define QB_METHOD_H

#include <stddef.h>

/* The PTQ calibrators (observers, observer.c). */
typedef enum qb_calib {
    QB_CALIB_MINMAX,     /* [min, max] */
    QB_CALIB_PERCENTILE, /* percentiles of a histogram */
    QB_CALIB_MSE,        /* the range of least expected squared error */
    QB_CALIB_KL,         /* TensorRT's entropy calibrator */
    QB_CALIB_COUNT
} qb_calib;

/* Quantization methods, in the docs/design.md vocabulary order. */
typedef enum qb_method {
    QB_METHOD_NONE,           /* fp32 / fp16: no calibration */
    QB_METHOD_PTQ_MINMAX,     /* post-training, min/max observer */
    QB_METHOD_PTQ_PERCENTILE, /* post-training, percentile observer */
    QB_METHOD_PTQ_MSE,        /* post-training, MSE-optimal clipping */
    QB_METHOD_PTQ_KL,         /* post-training, KL-divergence clipping */
    QB_METHOD_QAT,            /* quantization-aware training */
    QB_METHOD_COUNT
} qb_method;

/* One row of the method table. */
typedef struct qb_method_traits {
    const char *name; /* the exact vocabulary string */
    int calib;        /* the calibrator (qb_calib) of the activation ranges, -1: none (method none) */
    int trains;       /* 1: fine-tunes the model first (QAT), then calibrates with calib */
} qb_method_traits;

/* The traits of m (a row with name "?" and calib -1 out of range). */
const qb_method_traits *qb_method_traits_of(qb_method m);
const char *qb_method_name(qb_method m);
/* Index of a method name, or -1. */
int qb_method_parse(const char *s);
/* The method names, space separated, in table order ("none ptq-minmax ... qat"). */
const char *qb_method_list(void);

/* ---- repairs: options of the PTQ methods, written after the method name
 * with '+' in table order ("ptq-minmax+cle+absorb+biascorr"; the
 * `method` column of the results carries the whole string). Each one is a
 * graph or weight transform of harness/quant (repairs.h). ---- */
typedef enum qb_repair {
    QB_REPAIR_CLE,         /* cross-layer equalization of conv/linear pairs (quant/cle.c) */
    QB_REPAIR_ABSORB,      /* bias absorption after CLE, from BatchNormalization statistics (quant/cle.c) */
    QB_REPAIR_SMOOTH,      /* activation-range smoothing, SmoothQuant-style migration (quant/smooth.c) */
    QB_REPAIR_ADAROUND,    /* learned weight rounding, int4/int8 layers (quant/adaround.c) */
    QB_REPAIR_BIASCORR,    /* empirical bias correction from the calibration data (quant/biascorr.c) */
    QB_REPAIR_BIASCORR_BN, /* analytical bias correction from BatchNormalization statistics (quant/biascorr.c) */
    QB_REPAIR_COUNT
} qb_repair;

/* One row of the repair table. */
typedef struct qb_repair_traits {
    const char *name; /* the exact vocabulary string */
    const char *what; /* one line for usage and messages */
} qb_repair_traits;

const qb_repair_traits *qb_repair_traits_of(qb_repair r);
/* The repair names, space separated, in table order. */
const char *qb_repair_list(void);
/* Split "METHOD[+REPAIR...]": the method index (or -1) and the repair
 * bits (1u << qb_repair) in *repairs. -1 also for an unknown repair, a
 * repaired method that does not calibrate (none, qat), a repeated repair,
 * or repairs out of table order; err (may be NULL) then says why. */
int qb_method_parse_repairs(const char *s, unsigned *repairs, char *err, size_t len);
/* "METHOD+REPAIR..." of (m, repairs) in buf (canonical order); returns buf. */
const char *qb_method_str(qb_method m, unsigned repairs, char *buf, size_t len);

/* The PTQ method names of the calibrators: "ptq-minmax" ... -> kind, else
 * -1 (also for "none" and "qat"). */
int qb_calib_parse(const char *method);
/* The method string of a calibrator ("ptq-minmax", ...); "?" for an unknown value. */
const char *qb_calib_name(qb_calib c);

#endif
