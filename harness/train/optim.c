/*
 * optim.c - softmax cross-entropy, SGD with momentum, Adam (decoupled
 * weight decay, AdamW), and constant / step / cosine learning rates.
 * Weight decay applies to dense and conv weights only (not biases, not
 * BatchNormalization gamma/beta).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/train/train.h"

double qb_softmax_xent(const float *logits, const int32_t *labels, int batch, int classes,
                       float *dlogits, int *correct)
{
    double loss = 0;
    int ok = 0;
    for (int b = 0; b < batch; b++) {
        const float *z = logits + (size_t)b * classes;
        int arg = 0;
        for (int j = 1; j < classes; j++)
            if (z[j] > z[arg])
                arg = j;
        ok += arg == labels[b];
        double s = 0;
        for (int j = 0; j < classes; j++)
            s += exp((double)z[j] - z[arg]);
        double lse = log(s) + z[arg];
        loss += lse - z[labels[b]];
        if (dlogits)
            for (int j = 0; j < classes; j++) {
                double p = exp((double)z[j] - lse);
                dlogits[(size_t)b * classes + j] = (float)((p - (j == labels[b])) / batch);
            }
    }
    if (correct)
        *correct = ok;
    return loss / batch;
}

void qb_train_cfg_default(qb_train_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->opt = QB_OPT_SGD;
    c->lr = 0.05f;
    c->momentum = 0.9f;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->adam_eps = 1e-8f;
    c->weight_decay = 0;
    c->sched = QB_SCHED_COSINE;
    c->step_epochs = 1;
    c->step_gamma = 0.5f;
    c->epochs = 5;
    c->batch = 64;
    c->seed = 1;
}

float qb_lr_at(const qb_train_cfg *c, long step, long total, long steps_per_epoch)
{
    switch (c->sched) {
    case QB_SCHED_STEP: {
        long e = steps_per_epoch > 0 ? step / steps_per_epoch : 0;
        long k = c->step_epochs > 0 ? e / c->step_epochs : 0;
        return c->lr * powf(c->step_gamma, (float)k);
    }
    case QB_SCHED_COSINE:
        if (total <= 1)
            return c->lr;
        return c->lr * 0.5f * (1.0f + (float)cos(M_PI * (double)step / (double)(total - 1)));
    default:
        return c->lr;
    }
}

/* Is parameter tensor j (2*layer + 0 weight, 1 bias) decayed? */
static int decayed(const qb_net *net, int j)
{
    qb_layer_kind k = net->layers[j / 2].kind;
    return (j % 2 == 0) && (k == QB_L_DENSE || k == QB_L_CONV);
}

int qb_opt_init(qb_opt *o, const qb_net *net, const qb_train_cfg *cfg, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    for (int i = 0; i < net->n; i++) {
        const qb_layer *L = &net->layers[i];
        for (int p = 0; p < 2; p++) {
            size_t n = p ? L->nb : L->nw;
            if (!n)
                continue;
            int j = 2 * i + p;
            o->m[j] = calloc(n, sizeof(float));
            if (cfg->opt == QB_OPT_ADAM)
                o->v[j] = calloc(n, sizeof(float));
            if (!o->m[j] || (cfg->opt == QB_OPT_ADAM && !o->v[j])) {
                qb_opt_free(o);
                snprintf(err, errlen, "optimizer: out of memory");
                return -1;
            }
        }
    }
    return 0;
}

void qb_opt_step(qb_opt *o, qb_net *net, float lr)
{
    const qb_train_cfg *c = &o->cfg;
    o->t++;
    float bc1 = 1.0f - powf(c->beta1, (float)o->t), bc2 = 1.0f - powf(c->beta2, (float)o->t);
    for (int i = 0; i < net->n; i++) {
        qb_layer *L = &net->layers[i];
        for (int p = 0; p < 2; p++) {
            int j = 2 * i + p;
            size_t n = p ? L->nb : L->nw;
            float *w = p ? L->b : L->w, *g = p ? L->db : L->dw, *m = o->m[j], *v = o->v[j];
            float wd = decayed(net, j) ? c->weight_decay : 0.0f;
            if (!n)
                continue;
            if (c->opt == QB_OPT_SGD) {
                for (size_t k = 0; k < n; k++) {
                    float gk = g[k] + wd * w[k];
                    m[k] = c->momentum * m[k] + gk;
                    w[k] -= lr * m[k];
                }
            } else {
                for (size_t k = 0; k < n; k++) {
                    m[k] = c->beta1 * m[k] + (1 - c->beta1) * g[k];
                    v[k] = c->beta2 * v[k] + (1 - c->beta2) * g[k] * g[k];
                    float mh = m[k] / bc1, vh = v[k] / bc2;
                    w[k] -= lr * (mh / (sqrtf(vh) + c->adam_eps) + wd * w[k]);
                }
            }
        }
    }
}

void qb_opt_free(qb_opt *o)
{
    for (int j = 0; j < 2 * QB_NET_MAX_LAYERS; j++) {
        free(o->m[j]);
        free(o->v[j]);
    }
    memset(o, 0, sizeof *o);
}
