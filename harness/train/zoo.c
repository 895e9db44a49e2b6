/*
 * zoo.c - the built-in architectures and their default training recipes:
 *   mlp    Flatten, 256, ReLU, 128, ReLU, classes
 *   cnn    [conv3x3 32, BN, ReLU, maxpool 2] [conv3x3 64, BN, ReLU,
 *          maxpool 2], Flatten, 32, ReLU, classes (120k parameters on 28x28)
 *   dscnn  conv3x3 32 + BN + ReLU6 stem, four depthwise-separable blocks
 *          (dw3x3 + BN + ReLU6, pw1x1 + BN + ReLU6: 64/2, 128, 128/2, 256),
 *          GlobalAveragePool, classes
 * Weights: He-uniform for mlp, PyTorch-style U(+-1/sqrt(fan_in)) for the
 * conv nets. Recipes (qb_zoo_recipe): mlp SGD momentum 0.9, lr 0.05,
 * cosine, weight decay 5e-4, batch 64, 10 epochs; cnn and dscnn AdamW lr
 * 0.002, weight decay 0.02 (decoupled), cosine, batch 64, 10 epochs.
 *   dscnn-nowd  the dscnn trained WITHOUT weight decay, 3 epochs (the MobileNet-like
 *          net of the published per-tensor collapse, docs/quantization.md
 *          "The published effects": weight decay keeps ranges tame)
 */
#include <stdio.h>
#include <string.h>

#include "harness/train/train.h"

static const char *const names[] = {"mlp", "cnn", "dscnn", "dscnn-nowd"};

const char *qb_zoo_names(void) { return "mlp, cnn, dscnn, dscnn-nowd"; }

static int cbr(qb_net *n, int out, int k, int s, int g, qb_layer_kind act, char *err, size_t errlen)
{
    if (qb_net_conv(n, out, k, s, k / 2, g, err, errlen) || qb_net_bn(n, err, errlen))
        return -1;
    return qb_net_act(n, act, err, errlen);
}

int qb_zoo_build(const char *model, int c, int h, int w, int classes, uint64_t seed, qb_net *n, char *err,
                 size_t errlen)
{
    qb_net_init(n, c, h, w, seed);
    /* the conv nets train better from PyTorch's smaller default init */
    n->init = strcmp(model, names[0]) ? QB_INIT_TORCH : QB_INIT_HE;
    int rc = -1;
    if (!strcmp(model, names[0])) {
        rc = qb_net_act(n, QB_L_FLATTEN, err, errlen) || qb_net_dense(n, 256, err, errlen) ||
             qb_net_act(n, QB_L_RELU, err, errlen) || qb_net_dense(n, 128, err, errlen) ||
             qb_net_act(n, QB_L_RELU, err, errlen) || qb_net_dense(n, classes, err, errlen);
    } else if (!strcmp(model, names[1])) {
        rc = cbr(n, 32, 3, 1, 1, QB_L_RELU, err, errlen) ||
             qb_net_pool(n, QB_L_MAXPOOL, 2, 2, 0, err, errlen) || cbr(n, 64, 3, 1, 1, QB_L_RELU, err, errlen) ||
             qb_net_pool(n, QB_L_MAXPOOL, 2, 2, 0, err, errlen) || qb_net_act(n, QB_L_FLATTEN, err, errlen) ||
             qb_net_dense(n, 32, err, errlen) || qb_net_act(n, QB_L_RELU, err, errlen) ||
             qb_net_dense(n, classes, err, errlen);
    } else if (!strcmp(model, names[2]) || !strcmp(model, names[3])) {
        static const int ch[4] = {64, 128, 128, 256}, st[4] = {2, 1, 2, 1};
        rc = cbr(n, 32, 3, 1, 1, QB_L_RELU6, err, errlen);
        int cin = 32;
        for (int b = 0; b < 4 && !rc; b++) {
            rc = cbr(n, cin, 3, st[b], cin, QB_L_RELU6, err, errlen) ||
                 cbr(n, ch[b], 1, 1, 1, QB_L_RELU6, err, errlen);
            cin = ch[b];
        }
        rc = rc || qb_net_act(n, QB_L_GAP, err, errlen) || qb_net_dense(n, classes, err, errlen);
    } else {
        snprintf(err, errlen, "unknown model '%s' (models: %s)", model, qb_zoo_names());
        return -1;
    }
    if (rc) {
        qb_net_free(n);
        return -1;
    }
    return 0;
}

int qb_zoo_recipe(const char *model, qb_train_cfg *cfg)
{
    qb_train_cfg_default(cfg);
    cfg->opt = QB_OPT_SGD;
    cfg->momentum = 0.9f;
    cfg->sched = QB_SCHED_COSINE;
    cfg->weight_decay = 5e-4f;
    cfg->batch = 64;
    if (!strcmp(model, "mlp")) {
        cfg->lr = 0.05f;
        cfg->epochs = 10;
    } else if (!strcmp(model, "cnn")) { /* AdamW; measured against SGD lr 0.05 (see the README) */
        cfg->opt = QB_OPT_ADAM;
        cfg->lr = 0.002f;
        cfg->weight_decay = 0.02f; /* decoupled: w -= lr * wd * w */
        cfg->epochs = 10;
    } else if (!strcmp(model, "dscnn")) { /* the cnn's recipe */
        cfg->opt = QB_OPT_ADAM;
        cfg->lr = 0.002f;
        cfg->weight_decay = 0.02f;
        cfg->epochs = 10;
    } else if (!strcmp(model, "dscnn-nowd")) { /* the dscnn's recipe without weight decay, 3 epochs (a scenario trains it) */
        cfg->opt = QB_OPT_ADAM;
        cfg->lr = 0.002f;
        cfg->weight_decay = 0;
        cfg->epochs = 3;
    } else {
        return -1;
    }
    return 0;
}
