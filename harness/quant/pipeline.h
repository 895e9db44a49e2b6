/*
 * pipeline.h - one model through one (precision, method): the data
 * (test images for evaluation; calibration and validation samples drawn
 * from the training images only, or seeded inputs for models without a
 * dataset), calibration, the precision plan (uniform, or mixed by
 * sensitivity), the quantized graph, and its metrics against FP32.
 * `qbench eval`, `qbench quantize` and the sweep call this.
 */
#ifndef QB_PIPELINE_H
#define QB_PIPELINE_H

#include "harness/data/inputs.h"
#include "harness/eval/compare.h"
#include "harness/quant/mixed.h"
#include "harness/quant/plan_cost.h"
#include "harness/quant/plan_file.h"
#include "harness/quant/ptq.h"

/* What to do. Fill with qb_pipeline_defaults, then set what differs. */
typedef struct qb_pipeline_opts {
    const char *model;      /* ONNX path */
    const char *dataset;    /* dataset name ("none": seeded inputs, no labels) */
    const char *data_dir;   /* --data-dir, or NULL */
    const char *data;       /* --data DIR: a folder of the user's own inputs (harness/data/inputs.h), or NULL */
    const qb_preproc *pp;   /* --preprocess spec for its images/audio (NULL: DIR/preprocess.txt or defaults) */
    int calib_given;        /* --calib was given (with --data the default is half the inputs, at most 512) */
    qb_precision prec;      /* target precision */
    const char *method;     /* none, ptq-minmax, ptq-percentile, ptq-mse, ptq-kl, qat */
    int isa;                /* -1: best */
    int calib;              /* calibration samples (512) */
    int limit;              /* evaluation samples (0: the whole test set; "none": 256) */
    int val;                /* validation samples for mixed precision (5000: the whole split) */
    int batch;              /* samples per run (100) */
    int symmetric;          /* symmetric activations (zero point 0) */
    double percentile;      /* ptq-percentile (99.99) */
    double budget;          /* mixed: accuracy budget in points (1.0) */
    uint64_t seed;          /* split and calibration-subset seed (1, as qbench train) */
    qb_quant_opts qo;       /* int4 group, binary ends */
    int qat_epochs;         /* method qat: fine-tuning epochs (0: default of qat.c) */
    float qat_lr;           /* method qat: learning rate (0: default) */
    int qat_force;          /* method qat: retrain even when cached */
    int verbose;            /* progress on stderr */
    const qb_layer_plan *layer_plan; /* --plan: per-layer precisions and calibrators, or NULL */
    int prec_given;         /* -p was given (else a plan's [plan] precision is the default) */
    int cost;               /* mixed: --cost, a qb_cost_kind (QB_COST_NONE: the sensitivity-ordered search) */
    const char *energy_model; /* --energy-model: the energy table of --cost energy */
    int with_qat;           /* mixed with --cost: --with-qat, QAT of the starting plan as a priced candidate (mixed_qat.h) */
} qb_pipeline_opts;

/* Are activations calibrated symmetric: --symmetric, or a precision that always is. */
static inline int qb_pipeline_symmetric(const qb_pipeline_opts *o)
{
    return o->symmetric || qb_precision_traits_of(o->prec)->act_symmetric;
}

void qb_pipeline_defaults(qb_pipeline_opts *o);

/* The data of one run. */
typedef struct qb_pipeline_data {
    qb_graph *model;        /* the FP32 model, parsed once (owned, never prepared: every use runs a qb_graph_clone) */
    qb_dataset train, test; /* training and test parts (unused for "none") */
    qb_norm norm;           /* normalisation */
    int *train_idx, *val_idx; /* training-minus-validation and validation indices */
    int n_train, n_val;     /* their counts */
    int *calib_idx;         /* calibration subset of the training indices */
    qb_samples eval;        /* evaluation samples (test set) */
    qb_samples calib;       /* calibration samples */
    qb_samples valid;       /* validation samples (mixed precision) */
    size_t sample;          /* floats per sample */
    qb_inputs inputs;       /* --data: the folder's samples (calibration first, then evaluation) */
} qb_pipeline_data;

/* Load the model and the data for o (checks the model's input takes it).
 * 0 or -1. With o->data the first N inputs of the folder (name order)
 * calibrate and the others evaluate: never the same ones. */
int qb_pipeline_data_open(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_err *e);

/* The layers of model without calibration (as fp32 runs them), listed on a prepared copy; s (or NULL)
 * gives a model of several inputs the values of its other inputs, which may decide the graph (Silero
 * VAD's sample rate selects an If branch). 0, or -1 with a message. */
int qb_pipeline_layers_only(const qb_graph *model, const qb_samples *s, qb_calibration *c, qb_err *e);
void qb_pipeline_data_close(qb_pipeline_data *d);

/* The result of building and evaluating. */
typedef struct qb_pipeline_result {
    qb_calibration cal;     /* layers and calibrated ranges */
    qb_precision *plan;     /* per layer (cal.n) */
    qb_mixed mixed;         /* mixed: sensitivities */
    double calib_seconds;   /* calibration wall time (0 when none) */
    double qat_seconds;     /* QAT fine-tuning wall time (0 when none or reused) */
    char model_used[1024];  /* the model quantized: o->model, or its QAT fine-tuned copy */
    const qb_graph *model;  /* that model, parsed once: d->model, or qat_model */
    qb_graph *qat_model;    /* the QAT fine-tuned copy (owned), or NULL */
    qb_graph *repaired;     /* the FP32 copy the method's repairs (+cle ...) rewrote (owned), or NULL */
    void *bn_stats;         /* the folded BatchNormalization statistics (qb_bn_stats, owned) for +biascorr-bn, or NULL */
    double repair_seconds;  /* wall time of the repairs (0 when none) */
    char repair_note[256];  /* what the repairs did (pairs, layers, MSE), "" when none */
    int64_t weight_bytes;   /* weight bytes of the plan's layers */
    int64_t macs;           /* multiply-accumulates per sample of the layers */
    qb_metrics m;           /* against FP32 on the evaluation samples */
    qb_sample_records records; /* qb_pipeline_evaluate: m's per-sample records (empty if they were lost) */
    qb_plan_choice *choices; /* with a layer plan: each layer's precision, calibrator, deciding rule; else NULL */
    qb_pareto pareto;       /* mixed with --cost: the search's path and Pareto set */
    double *layer_cost;     /* mixed with --cost: cost[i * QB_PREC_COUNT + p] per layer, or NULL */
} qb_pipeline_result;

/* Calibrate and plan (no evaluation); then qb_pipeline_graph gives the
 * quantized graph (unprepared) as often as needed. 0 or -1. */
int qb_pipeline_plan(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r, qb_err *e);
qb_graph *qb_pipeline_graph(const qb_pipeline_opts *o, const qb_pipeline_result *r, qb_err *e);
/* Plan, then the metrics against FP32 on d->eval. 0 or -1. */
int qb_pipeline_evaluate(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r, qb_err *e);
void qb_pipeline_result_free(qb_pipeline_result *r);
/* The repairs of o->method (bits of qb_repair) before calibration (+cle,
 * +absorb, +smooth): r->repaired, BatchNormalization folded, becomes
 * r->model, the model that is calibrated and quantized. 0 or -1. */
int qb_pipeline_repair_graph(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r, unsigned repairs,
                             qb_err *e);
/* The repairs after the plan (+adaround, +biascorr, +biascorr-bn): they
 * need each layer's precision (r->plan); they rewrite r->repaired. 0 or -1. */
int qb_pipeline_repair_weights(const qb_pipeline_opts *o, qb_pipeline_data *d, qb_pipeline_result *r,
                               unsigned repairs, qb_err *e);
/* "layer=precision,..." of a plan into buf. */
void qb_plan_str(const qb_pipeline_result *r, char *buf, size_t len);

#endif
