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
#include <stdio.h>
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
    float *bn_mean;          /* BN: batch mean per channel of the last training forward */
    float *bn_invstd;        /* BN: 1/sqrt(var+eps) per channel of the last training forward */
    int32_t *argmax;         /* maxpool: input index of each output's maximum */
    float *scratch;          /* conv: im2col and gradient buffers */
    size_t scratch_len;      /* floats in scratch */
    int bn_frozen;           /* BN: training forward uses the running statistics and leaves them (QAT) */
    float pad_value;         /* conv: value of the padding (0; binary QAT: the sign given to 0) */
} qb_layer;

#define QB_NET_MAX_LAYERS 64 /* layers a network holds */

/* A sequential network. act[i] is the input of layer i (act[0] the
 * network input), act[n] its output; grad[i] the loss gradient of act[i].
 * A ReLU or ReLU6 right after a BatchNormalization runs fused with it
 * (unless no_fuse): the BN writes the activation's output act[i+2] and
 * takes its gradient grad[i+2]; act[i+1] and grad[i+1] between them are
 * then not written. */
typedef struct qb_net {
    qb_layer layers[QB_NET_MAX_LAYERS]; /* the layers in order */
    int n;                              /* number of layers */
    int in_c, in_h, in_w;               /* network input shape per sample */
    int batch;                          /* batch capacity of act/grad (qb_net_alloc) */
    float *act[QB_NET_MAX_LAYERS + 1];  /* activations, batch x size */
    float *grad[QB_NET_MAX_LAYERS + 1]; /* their gradients (grad[0] unused) */
    int training;                       /* forward in training mode (BN batch statistics) */
    uint64_t init_seed;                 /* seed for the weight initialisation */
    int profile;                        /* nonzero: time every layer into t_fwd/t_bwd */
    int no_fuse;                        /* nonzero: BN and a following ReLU/ReLU6 run as two layers */
    int init;                           /* qb_init_kind of the layers added next */
    double t_fwd[QB_NET_MAX_LAYERS];    /* seconds spent in each layer's forward pass */
    double t_bwd[QB_NET_MAX_LAYERS];    /* seconds spent in each layer's backward pass */
    /* Per-layer hook (quantization-aware training, fakequant.c), or NULL:
     * phase QB_HOOK_FWD right before layer `layer`'s forward (it may
     * change act[layer]), QB_HOOK_BWD right after its backward. */
    void (*hook)(struct qb_net *net, int layer, int phase, int batch, void *ctx);
    void *hook_ctx;                     /* passed to hook */
} qb_net;

enum { QB_HOOK_FWD, QB_HOOK_BWD };                      /* qb_net.hook phases */
enum { QB_STEP_EPOCH, QB_STEP_BEGIN, QB_STEP_GRADS };   /* qb_train_cfg.step_hook phases */

/* Weight initialisation of Dense and Conv layers (fan_in = inputs per
 * output). */
typedef enum qb_init_kind {
    QB_INIT_HE,    /* weights U(+-sqrt(6/fan_in)), biases 0 (He-uniform) */
    QB_INIT_TORCH  /* weights and biases U(+-1/sqrt(fan_in)) (PyTorch's default) */
} qb_init_kind;

/* Start an empty network for inputs of shape c x h x w (He init; set
 * net->init before adding layers for another). */
void qb_net_init(qb_net *net, int c, int h, int w, uint64_t seed);
/* Append layers; shapes are inferred from the previous layer. Parameters
 * are initialised (net->init; BN gamma 1, beta 0).
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
    int threads;          /* OpenMP threads of this training call: 0 = OMP_NUM_THREADS when set, else
                           * every core; not part of the recipe (any count gives the same model) */
    int no_adapt;         /* nonzero: always `threads` threads (else qb_train probes 1 vs all, see fit.c) */
    /* Training-loop hook, or NULL: QB_STEP_EPOCH at the start of each
     * epoch, QB_STEP_BEGIN before each step's forward, QB_STEP_GRADS after
     * its backward, before the optimizer step. */
    void (*step_hook)(struct qb_net *net, int phase, int epoch, void *ctx);
    void *step_ctx;       /* passed to step_hook */
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
/* Per-layer forward/backward seconds gathered while net->profile was set
 * (one line per layer, then the totals). */
void qb_net_print_profile(const qb_net *net, FILE *f);
/* Top-1 accuracy in percent over idx[0..n) (all samples when idx NULL),
 * inference mode (BN running statistics). */
double qb_evaluate(qb_net *net, const qb_dataset *d, const int *idx, int n, const qb_norm *norm);

/* ---- zoo_train.c: a zoo model trained on a named dataset ---- */

/* Version of the zoo's training code: part of every cache key, raised
 * whenever a change to architectures, initialisation or the engine's
 * arithmetic makes the same recipe give a different model. */
#define QB_ZOO_VERSION 2

/* What to train: a zoo model, a dataset, a recipe and the split. */
typedef struct qb_zoo_job {
    const char *model;    /* "mlp", "cnn", "dscnn" */
    const char *dataset;  /* "fashion-mnist", "synthetic", or a name with data_dir */
    const char *data_dir; /* MNIST-format IDX directory, or NULL for the named dataset */
    qb_train_cfg cfg;     /* the recipe (qb_zoo_recipe for the default) */
    int val;              /* validation images taken from training data; -1: min(5000, n/12) */
    int limit;            /* train on the first `limit` training indices only; 0: all */
    int profile;          /* nonzero: print per-layer times after training (not part of the recipe) */
} qb_zoo_job;

/* A job with model's default recipe (cfg may be NULL) on dataset. -1
 * for an unknown model. */
int qb_zoo_job_init(qb_zoo_job *job, const char *model, const char *dataset, const char *data_dir,
                    const qb_train_cfg *cfg);
/* The recipe as one line (every field that changes the trained model,
 * and QB_ZOO_VERSION): the cache key, also stored in the model's
 * metadata as "qbench.recipe". */
void qb_zoo_recipe_line(const qb_zoo_job *job, char *buf, size_t len);
/* Train the job and write the ONNX model to out (through a temporary
 * file renamed into place), with metadata: qbench.norm.mean/std (see
 * dataset.h), qbench.dataset, qbench.model, qbench.recipe,
 * qbench.val_top1. Progress on stderr when job->cfg.verbose, per-layer
 * times when job->profile. *val_top1 and *seconds may be NULL. 0, or -1
 * with err (data, shapes, writing). */
int qb_zoo_train(const qb_zoo_job *job, const char *out, double *val_top1, double *seconds, char *err,
                 size_t errlen);

/* ---- cache.c: trained zoo models kept under datasets/models/ ---- */

/* The cache directory: $QB_MODEL_CACHE, else datasets/models of the checkout
 * holding the binary (absolute), else $XDG_CACHE_HOME/qbench or ~/.cache/qbench. */
const char *qb_zoo_cache_dir(void);
/* The cache file of a job: DIR/MODEL-DATASET-HASH.onnx, HASH = 64-bit
 * FNV-1a of the recipe line in hex. */
void qb_zoo_cache_path(const qb_zoo_job *job, char *path, size_t len);
/* The path of the job's cached model in path_out, training and saving it
 * first when absent, unreadable, or recorded with another recipe (or
 * always when force). 0, or -1 with err. */
int qb_zoo_cached_job(const qb_zoo_job *job, int force, char *path_out, size_t len, char *err, size_t errlen);
/* Convenience: model on dataset (data_dir may be NULL) with the recipe
 * cfg_or_NULL (NULL: the zoo default); verbose prints training progress
 * on stderr when it has to train. */
int qb_zoo_cached(const char *model, const char *dataset, const char *data_dir, const qb_train_cfg *cfg_or_NULL,
                  char *path_out, size_t len, int verbose, char *err, size_t errlen);

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
/* The reverse (import.c): a chain of Conv/BatchNormalization/Relu/Clip(0,6)/
 * pools/Flatten/Gemm with constant weights (what qb_net_export writes, or
 * a similar model) as a trainable network (not allocated: call
 * qb_net_alloc). 0, or -1 with err naming the node. */
int qb_net_import(const struct qb_graph *g, uint64_t seed, qb_net *net, char *err, size_t errlen);

/* C[m x n] = A[m x k] . B[n x k]^T (+ bias[n] when not NULL), rows
 * contiguous, on the fp32 GEMM kernel (B packed on each call). */
void qb_mm_nt(int m, int n, int k, const float *a, const float *b, const float *bias, float *c);
/* dst[c x r] = src[r x c]^T */
void qb_transpose(const float *src, int r, int c, float *dst);

/* Threads the training engine's loops use from now on (OpenMP; 1 in a
 * build without it). Results are bit-identical for any count. n <= 0: all
 * cores. qb_train sets cfg->threads for its own duration and restores the
 * count after, so callers pass the count in the recipe, not with this. */
void qb_train_set_threads(int n);
int qb_train_threads(void);
/* The thread count qb_train runs cfg on (cfg->threads, else OMP_NUM_THREADS, else every core). */
int qb_train_cfg_threads(const qb_train_cfg *cfg);

#endif
