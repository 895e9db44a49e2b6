/*
 * scenario.h - a sweep scenario (scenarios/NAME.ini, parsed with inih): the
 * axes a sweep walks (models, precisions, methods, ISAs, threads, batch)
 * and the measurement settings. The file format is documented in
 * scenario.c and the README ("Scenario files").
 */
#ifndef QB_SCENARIO_H
#define QB_SCENARIO_H

#include <stddef.h>

#include "harness/graph/graph.h"
#include "harness/qmath/method.h"
#include "kernels/kernels.h"

#define QB_SC_MAX_MODELS 32   /* models on the models axis */
#define QB_SC_MAX_VALUES 16   /* values of a threads or batch axis */
#define QB_SC_NAME 64         /* bytes of a name (scenario, model, dataset) */
#define QB_SC_PATH 512        /* bytes of a path */

/* Cache state of the measured inference. */
typedef enum qb_cache_mode {
    QB_CACHE_COLD, /* rotate input buffers (default) */
    QB_CACHE_HOT,  /* one input buffer, reused */
} qb_cache_mode;

/* Where the cell's hardware counters come from. */
typedef enum qb_counters_mode {
    QB_COUNTERS_AUTO,       /* PAPI, else cachegrind, else none with the reason */
    QB_COUNTERS_PAPI,       /* PAPI only */
    QB_COUNTERS_CACHEGRIND, /* cachegrind only */
    QB_COUNTERS_OFF,        /* do not count (counters_source none, note says so) */
} qb_counters_mode;

/* One model of the models axis. */
typedef struct qb_sc_model {
    char name[QB_SC_NAME];    /* the name in cell ids: zoo name or [model NAME] */
    char zoo[QB_SC_NAME];     /* zoo architecture (mlp, cnn, dscnn), or "" for an ONNX file */
    char onnx[QB_SC_PATH];    /* ONNX path (relative: to the current directory), or "" */
    char dataset[QB_SC_NAME]; /* dataset name (fashion-mnist, synthetic, NAME with data_dir), or "" */
    char data_dir[QB_SC_PATH];/* IDX directory of a custom dataset, or "" */
    char data[QB_SC_PATH];    /* data = DIR: a folder of the model's own inputs (harness/data/inputs.h) that
                                 calibrates (the first calib_samples) and evaluates (the others), or "" */
    char preprocess[256];     /* preprocess = SPEC for that folder's images / audio, or "" (DIR/preprocess.txt) */
    int ndim;                 /* input spec rank (0: none; then the dataset gives the shape) */
    long long dims[8];        /* input spec (batch dimension replaced by the batch axis) */
    char kernel[8];           /* "gemm" or "dwconv": a kernel microbenchmark shape instead of a model, or "" */
    long long shape[3];       /* gemm: M, N, K; dwconv: H, W, C */
    int group;                /* gemm int4: group size (0 = per channel) */
    int stride;               /* dwconv: 1 or 2 */
    int line;                 /* line of its definition (messages) */
    char plan[QB_SC_PATH];    /* layer plan for its quantized cells (harness/quant/plan_file.h), or "" */
    qb_input_shapes shapes;   /* shape = NAME=AxB lines: sizes of its symbolic input dimensions (as --shape) */
} qb_sc_model;

typedef struct qb_scenario {
    char file[QB_SC_PATH];         /* the scenario file (messages) */
    char name[QB_SC_NAME];         /* [scenario] name (default: file name without .ini) */
    char description[256];         /* [scenario] description */
    /* axes */
    int nmodels;                   /* models on the axis, in file order */
    qb_sc_model models[QB_SC_MAX_MODELS]; /* the models */
    int nprec;                     /* precisions on the axis */
    qb_precision prec[QB_PREC_COUNT];     /* in file order */
    int nmethods;                  /* methods on the axis */
    qb_method methods[QB_SC_MAX_VALUES];  /* in file order */
    unsigned method_repairs[QB_SC_MAX_VALUES]; /* the repairs written after each (ptq-minmax+cle), 0: none */
    int nisas;                     /* ISAs on the axis */
    qb_isa isas[QB_ISA_COUNT];     /* in file order */
    int nthreads;                  /* thread counts on the axis */
    int threads[QB_SC_MAX_VALUES]; /* each >= 1 */
    int nbatch;                    /* batch sizes on the axis */
    int batch[QB_SC_MAX_VALUES];   /* each >= 1 */
    char dataset[QB_SC_NAME];      /* [axes] dataset: default dataset of zoo models */
    /* [measure] */
    int warmup;                    /* untimed runs before timing (default 3) */
    int iterations;                /* minimum timed runs (default 10) */
    double min_time_s;             /* minimum timed seconds (default 0.2) */
    int max_iterations;            /* cap on timed runs per attempt (default 100000) */
    double ci_threshold;           /* re-measure while the median's 95% interval half-width / median exceeds this
                                      (fraction; default 0.03); still above after the retries: noisy */
    int retries;                   /* re-measurements of a noisy cell (default 2); with rounds > 1: extra rounds
                                      it gets at least (then max_time_s decides) */
    int rounds;                    /* rounds each cell's timing is split into, spread over the sweep; the
                                      median's interval then holds the spread between rounds (default 1) */
    double max_time_s;             /* rounds > 1: a cell still noisy after rounds + retries rounds gets more
                                      rounds while its timed seconds stay within this (0: none; default
                                      6 x min_time_s, set when the file is read) */
    int eval_samples;              /* test images for accuracy (default 1000; 0: no accuracy) */
    int calib_samples;             /* calibration images for PTQ (default 256) */
    char energy_model[QB_SC_PATH]; /* energy table (default datasets/energy/horowitz-45nm.csv) */
    qb_cache_mode cache;           /* cold (rotate inputs) or hot */
    int pin;                       /* CPU to pin to, or -1 */
    qb_counters_mode counters;     /* counter source policy */
} qb_scenario;

/* Defaults of every setting, no axes. */
void qb_scenario_defaults(qb_scenario *sc);

/* Parse a scenario file. 0, or -1 with "FILE:LINE: message" in err
 * (unknown section or key, bad value, duplicate section or key, a model
 * named on the axis without a definition, an empty axis). */
int qb_scenario_load(const char *path, qb_scenario *sc, char *err, size_t errlen);

/* The same from a string (tests); name stands for the file in messages. */
int qb_scenario_load_string(const char *text, const char *name, qb_scenario *sc, char *err, size_t errlen);

/* Index of a model on the axis by name, or -1. */
int qb_scenario_model(const qb_scenario *sc, const char *name);

#endif
