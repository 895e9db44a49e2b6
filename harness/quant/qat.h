/*
 * qat.h - quantization-aware training driver: fine-tune an FP32 ONNX
 * checkpoint with fake quantization (harness/train/fakequant.c) on the
 * training images (validation split held out), export the fine-tuned
 * model next to a file of the input ranges the observers settled on,
 * and reuse both while the recipe and the checkpoint are unchanged.
 *
 * Schedule (epochs E): observers follow the data during the first
 * max(1, E/2) epochs, then freeze; BN statistics are frozen and the
 * conv weights fake-quantized in the BN-folded domain from epoch
 * max(1, E-1) on (the last epoch, when E >= 2).
 */
#ifndef QB_QAT_H
#define QB_QAT_H

#include "harness/quant/pipeline.h"

/* Recipe of a QAT fine-tuning. */
typedef struct qb_qat_opts {
    int epochs;        /* fine-tuning epochs (--qat-epochs; default 3, binary 6) */
    float lr;          /* learning rate (0: default per precision) */
    int batch;         /* mini-batch (64) */
    const char *cache; /* cache directory (NULL: <model cache>/qat, i.e. datasets/models/qat or $QB_MODEL_CACHE/qat) */
    int force;         /* retrain even when cached */
} qb_qat_opts;

void qb_qat_defaults(qb_qat_opts *q);

/* Fine-tune o->model for o->prec (or reuse the cached result): the path
 * of the fine-tuned ONNX model into path. *seconds gets the training
 * time (0 when reused). 0, or -1 with a message. */
int qb_qat_model(const qb_pipeline_opts *o, const qb_qat_opts *q, qb_pipeline_data *d, char *path, size_t len,
                 double *seconds, qb_err *e);

/* The fine-tuning time recorded beside a QAT model when it was trained
 * (path + ".seconds"), or NAN when none was (models cached before the
 * time was kept). */
double qb_qat_recorded_seconds(const char *path);

/* Replace the calibrated input ranges of c's layers by those stored
 * beside a QAT model (path + ".ranges"); 0, or -1 with a message. */
int qb_qat_apply_ranges(const char *path, qb_calibration *c, qb_err *e);
/* Whether the ranges file at path starts with the recipe line (1: the
 * QAT model beside it is reused) or not (0: absent, unreadable, another
 * recipe). */
int qb_qat_ranges_match(const char *path, const char *line);

#endif
