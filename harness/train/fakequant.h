/*
 * fakequant.h - fake quantization hooks for quantization-aware training
 * (see fakequant.c for the arithmetic and the straight-through rules).
 */
#ifndef QB_FAKEQUANT_H
#define QB_FAKEQUANT_H

#include "harness/train/train.h"
#include "kernels/kernels.h"

/* Fake-quantization state of a network's Dense/Conv layers. */
typedef struct qb_fq {
    int nl;                             /* quantized layers (every Dense/Conv, in order) */
    int layer[QB_NET_MAX_LAYERS];       /* their net layer index */
    int node_of[QB_NET_MAX_LAYERS];     /* net layer -> quantized layer index, or -1 */
    qb_precision prec[QB_NET_MAX_LAYERS]; /* precision of each (depthwise int4/binary: int8-channel) */
    int rows[QB_NET_MAX_LAYERS];        /* weight rows (outputs) */
    int k[QB_NET_MAX_LAYERS];           /* weight columns */
    int gsize[QB_NET_MAX_LAYERS];       /* int4 group along K (0: per channel) */
    int group;                          /* requested int4 group */
    int observe;                        /* nonzero: input ranges follow the batches (EMA) */
    float lo[QB_NET_MAX_LAYERS], hi[QB_NET_MAX_LAYERS]; /* input ranges */
    float thr[QB_NET_MAX_LAYERS];       /* binary: input threshold (moving mean) */
    int seen[QB_NET_MAX_LAYERS];        /* batches observed per layer */
    float *master[QB_NET_MAX_LAYERS];   /* master weights during a step */
    int8_t *qw[QB_NET_MAX_LAYERS];      /* quantized weights (scratch) */
    float *qs[QB_NET_MAX_LAYERS];       /* their scales (scratch) */
    uint8_t *mask[QB_NET_MAX_LAYERS];   /* STE mask of the last forward's input */
    size_t mask_len[QB_NET_MAX_LAYERS]; /* its capacity */
    float *orig[QB_NET_MAX_LAYERS];     /* the input before fake quantization (restored after backward) */
    size_t orig_len[QB_NET_MAX_LAYERS]; /* its capacity */
} qb_fq;

/* plan[j]: precision of the j-th Dense/Conv layer. 0, or -1 with err. */
int qb_fq_init(qb_fq *f, qb_net *net, const qb_precision *plan, int group, char *err, size_t errlen);
void qb_fq_free(qb_fq *f);
/* Install the hooks on net and cfg (ctx f). */
void qb_fq_attach(qb_fq *f, qb_net *net, qb_train_cfg *cfg);
/* Freeze (or unfreeze) every BN layer's statistics. */
void qb_fq_freeze_bn(qb_net *net, int frozen);
/* The hooks themselves. */
void qb_fq_step(qb_net *net, int phase, int epoch, void *ctx);
void qb_fq_layer(qb_net *net, int layer, int phase, int batch, void *ctx);

#endif
