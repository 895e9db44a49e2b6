/*
 * train.h - the training engine: a small sequential network of layers
 * (NCHW activations, batch first), forward and backward passes, softmax
 * cross-entropy, SGD with momentum and Adam, learning-rate schedules and
 * a seeded mini-batch training loop. The heavy products (Dense, Conv via
 * im2col) run on the fp32 GEMM kernel of kernels/. With the same seed the
 * same model comes out bit for bit on the same machine (every loop is
 * sequential and the kernel is deterministic).
 */
#ifndef QB_TRAIN_H
#define QB_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "harness/data/dataset.h"

/* Layer kinds. */
typedef enum qb_layer_kind {
    QB_L_DENSE,   /* y = x . W^T + b; W is out x in (ONNX Gemm transB=1) */
    QB_L_CONV,    /* 2-D convolution, square kernel, groups (depthwise: groups = channels) */
    QB_L_BN,      /* BatchNormalization (batch statistics when training) */
    QB_L_RELU,    /* max(x, 0) */
    QB_L_RELU6,   /* min(max(x, 0), 6) (ONNX Clip 0..6) */
    QB_L_MAXPOOL, /* max over k x k windows (padding never wins) */
    QB_L_AVGPOOL, /* mean over k x k windows, padding not counted */
    QB_L_GAP,     /* GlobalAveragePool: C x H x W -> C x 1 x 1 */
    QB_L_FLATTEN  /* C x H x W -> (C*H*W) x 1 x 1; memory unchanged */
} qb_layer_kind;

/* One layer with its parameters, gradients and training caches. */
typedef struct qb_layer {
    qb_layer_kind kind;      /* what it computes */
    int in_c, in_h, in_w;    /* input shape per sample (set by qb_net_add) */
    int out_c, out_h, out_w; /* output shape per sample */
    int k, stride, pad;      /* conv/pool: kernel size, stride, zero padding (all sides) */
    int groups;              /* conv: channel groups (1 = dense conv) */
    float *w, *b;            /* parameters: dense/conv weight and bias; BN gamma and beta */
    float *dw, *db;          /* gradients of w and b, same sizes */
    size_t nw, nb;           /* element counts of w and b */
    float *run_mean, *run_var; /* BN: running statistics (ONNX convention) */
    float momentum, eps;     /* BN: running = running*momentum + batch*(1-momentum); epsilon */
    float *bn_xhat;          /* BN: normalised input of the last training forward */
    float *bn_invstd;        /* BN: 1/sqrt(var+eps) per channel of the last forward */
    int32_t *argmax;         /* maxpool: input index of each output's maximum */
    float *scratch;          /* conv: im2col and gradient buffers */
    size_t scratch_len;      /* floats in scratch */
} qb_layer;

#define QB_NET_MAX_LAYERS 64 /* layers a network holds */

/* A sequential network. act[i] is the input of layer i (act[0] the
 * network input), act[n] its output; grad[i] the loss gradient of act[i]. */
typedef struct qb_net {
    qb_layer layers[QB_NET_MAX_LAYERS]; /* the layers in order */
    int n;                              /* number of layers */
    int in_c, in_h, in_w;               /* network input shape per sample */
    int batch;                          /* batch capacity of act/grad (qb_net_alloc) */
    float *act[QB_NET_MAX_LAYERS + 1];  /* activations, batch x size */
    float *grad[QB_NET_MAX_LAYERS + 1]; /* their gradients (grad[0] unused) */
    int training;                       /* forward in training mode (BN batch statistics) */
    uint64_t init_seed;                 /* seed for the weight initialisation */
} qb_net;

/* Start an empty network for inputs of shape c x h x w. */
void qb_net_init(qb_net *net, int c, int h, int w, uint64_t seed);
/* Append layers; shapes are inferred from the previous layer. Parameters
 * are initialised (He-uniform weights, zero biases, BN gamma 1, beta 0).
 * Return 0, or -1 with err (bad shape, groups not dividing channels). */
int qb_net_dense(qb_net *net, int out, char *err, size_t errlen);
int qb_net_conv(qb_net *net, int out_c, int k, int stride, int pad, int groups, char *err, size_t errlen);
int qb_net_bn(qb_net *net, char *err, size_t errlen);
int qb_net_act(qb_net *net, qb_layer_kind kind, char *err, size_t errlen); /* RELU RELU6 GAP FLATTEN */
int qb_net_pool(qb_net *net, qb_layer_kind kind, int k, int stride, int pad, char *err, size_t errlen);
/* Allocate activations and caches for up to `batch` samples. */
int qb_net_alloc(qb_net *net, int batch, char *err, size_t errlen);
void qb_net_free(qb_net *net);
/* Elements per sample of act[i]. */
size_t qb_net_size(const qb_net *net, int i);
/* Total parameters (weights, biases, BN gamma/beta). */
size_t qb_net_params(const qb_net *net);

/* Forward batch samples already in act[0]; returns act[n]. */
float *qb_net_forward(qb_net *net, int batch);
/* Backward from grad[n] (set by the loss): fills every dw/db, and every
 * grad[i] for i >= 1 (the input gradient grad[0] too when want_dx). */
void qb_net_backward(qb_net *net, int batch, int want_dx);

/* Softmax cross-entropy, mean over the batch: returns the loss, writes
 * d(loss)/d(logits) into dlogits (may be NULL), counts correct top-1
 * predictions into *correct (may be NULL). */
double qb_softmax_xent(const float *logits, const int32_t *labels, int batch, int classes,
                       float *dlogits, int *correct);

/* Optimizers and learning-rate schedules. */
typedef enum qb_opt_kind { QB_OPT_SGD, QB_OPT_ADAM } qb_opt_kind;
typedef enum qb_sched_kind { QB_SCHED_CONST, QB_SCHED_STEP, QB_SCHED_COSINE } qb_sched_kind;

/* Training recipe. */
typedef struct qb_train_cfg {
    qb_opt_kind opt;      /* SGD (momentum) or Adam */
    float lr;             /* base learning rate */
    float momentum;       /* SGD momentum (0 = plain SGD) */
    float beta1, beta2;   /* Adam moments (0.9, 0.999) */
    float adam_eps;       /* Adam epsilon (1e-8) */
    float weight_decay;   /* L2 on dense/conv weights (SGD: added to the gradient; Adam: decoupled, AdamW) */
    qb_sched_kind sched;  /* learning-rate schedule */
    int step_epochs;      /* step schedule: multiply by step_gamma every step_epochs epochs */
    float step_gamma;     /* step schedule factor */
    int epochs;           /* passes over the training indices */
    int batch;            /* mini-batch size */
    uint64_t seed;        /* shuffling seed */
    int verbose;          /* nonzero: one progress line per epoch on stderr */
} qb_train_cfg;

/* Defaults: SGD momentum 0.9, lr 0.05, cosine, 5 epochs, batch 64, seed 1. */
void qb_train_cfg_default(qb_train_cfg *cfg);
/* Learning rate of step `step` of `total` (epoch = step / steps_per_epoch). */
float qb_lr_at(const qb_train_cfg *cfg, long step, long total, long steps_per_epoch);

/* Optimizer state (one moment buffer pair per parameter tensor). */
typedef struct qb_opt {
    qb_train_cfg cfg;            /* the recipe */
    long t;                      /* steps taken */
    float *m[2 * QB_NET_MAX_LAYERS]; /* SGD velocity / Adam first moment per tensor */
    float *v[2 * QB_NET_MAX_LAYERS]; /* Adam second moment per tensor */
} qb_opt;

int qb_opt_init(qb_opt *o, const qb_net *net, const qb_train_cfg *cfg, char *err, size_t errlen);
/* One update of every parameter from its gradient at learning rate lr. */
void qb_opt_step(qb_opt *o, qb_net *net, float lr);
void qb_opt_free(qb_opt *o);

/* Train on samples idx[0..n) of d (normalised by norm, may be NULL).
 * Returns 0 or -1 with err (shape mismatch, allocation). *final_loss
 * (may be NULL) gets the mean loss of the last epoch. */
int qb_train(qb_net *net, const qb_dataset *d, const int *idx, int n, const qb_norm *norm,
             const qb_train_cfg *cfg, double *final_loss, char *err, size_t errlen);
/* Top-1 accuracy in percent over idx[0..n) (all samples when idx NULL),
 * inference mode (BN running statistics). */
double qb_evaluate(qb_net *net, const qb_dataset *d, const int *idx, int n, const qb_norm *norm);

/* Built-in architectures ("mlp", "cnn", "dscnn", see zoo.c) for inputs
 * c x h x w and `classes` outputs, weights from seed. 0, or -1 with err
 * (unknown name, input too small). */
int qb_zoo_build(const char *model, int c, int h, int w, int classes, uint64_t seed, qb_net *net, char *err,
                 size_t errlen);
/* The default recipe of a zoo model; -1 for an unknown name. */
int qb_zoo_recipe(const char *model, qb_train_cfg *cfg);
/* "mlp, cnn, dscnn" (for messages). */
const char *qb_zoo_names(void);

struct qb_graph;
/* The network as a model-engine graph (harness/graph): input "input"
 * [N x C x H x W] (symbolic N), output "logits" [N x classes], BN with
 * its running statistics. NULL with err on failure. Free with
 * qb_graph_free; save with qb_onnx_save. */
struct qb_graph *qb_net_export(const qb_net *net, const char *name, char *err, size_t errlen);

/* C[m x n] = A[m x k] . B[n x k]^T (+ bias[n] when not NULL), rows
 * contiguous, on the fp32 GEMM kernel (B packed on each call). */
void qb_mm_nt(int m, int n, int k, const float *a, const float *b, const float *bias, float *c);
/* dst[c x r] = src[r x c]^T */
void qb_transpose(const float *src, int r, int c, float *dst);

#endif
