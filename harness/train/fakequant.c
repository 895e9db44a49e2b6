/*
 * fakequant.c - fake quantization for quantization-aware training: the
 * hooks that make a qb_net train as its quantized form will run.
 *
 * Per quantized Dense/Conv layer:
 *  - weights: before each step the master weights are saved and replaced
 *    by dequantize(quantize(w)) with the inference quantizer of the
 *    layer's precision (harness/quant: int8 per channel or per tensor,
 *    int4 per channel or group, binary sign * mean|w|); the gradients
 *    computed with them update the master weights (straight-through
 *    estimator). With BN frozen, a conv followed by BN is fake-quantized
 *    in the folded domain: w' = fq(w * k) / k, k = gamma / sqrt(var + eps),
 *    which is what BN folding will deploy.
 *  - input activations: before the layer's forward its input is replaced
 *    by its fake-quantized value (int8 asymmetric, range from an
 *    exponential moving average of batch min/max while observing, then
 *    frozen); the backward pass lets the gradient through only where the
 *    input was inside the range (clipped STE). Binary layers binarize the
 *    input to sign(x - t) in {-1, +1} (t: moving average of the input
 *    mean), gradient passed where |x - t| <= 1; the conv's padding then
 *    takes the value sign(0 - t), as binary inference does.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/qmath/quant.h"
#include "harness/train/fakequant.h"

#define EMA 0.9 /* weight of the old range in the moving average */

static int is_fq_layer(const qb_layer *L) { return L->kind == QB_L_DENSE || L->kind == QB_L_CONV; }

void qb_fq_free(qb_fq *f)
{
    for (int i = 0; i < f->nl; i++) {
        free(f->master[i]);
        free(f->mask[i]);
        free(f->orig[i]);
        free(f->qw[i]);
        free(f->qs[i]);
    }
    memset(f, 0, sizeof *f);
}

int qb_fq_init(qb_fq *f, qb_net *net, const qb_precision *plan, int group, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->group = group;
    f->observe = 1;
    for (int i = 0; i < net->n; i++) {
        qb_layer *L = &net->layers[i];
        if (!is_fq_layer(L))
            continue;
        int j = f->nl++;
        f->layer[j] = i;
        qb_precision p = plan[j];
        int depthwise = L->kind == QB_L_CONV && L->groups > 1 && L->groups == L->in_c && L->out_c == L->groups;
        if (depthwise && (p == QB_PREC_INT4 || p == QB_PREC_BINARY))
            p = QB_PREC_INT8_CHANNEL; /* as inference runs them (qlayer.c) */
        f->prec[j] = p;
        f->node_of[i] = j;
        int rows = L->kind == QB_L_DENSE ? L->out_c * L->out_h * L->out_w : L->out_c;
        int k = (int)(L->nw / (size_t)rows);
        f->rows[j] = rows;
        f->k[j] = k;
        f->master[j] = malloc(L->nw * sizeof(float));
        f->qw[j] = malloc(L->nw);
        f->qs[j] = malloc((size_t)rows * (size_t)(k + 1) * sizeof(float));
        if (!f->master[j] || !f->qw[j] || !f->qs[j]) {
            snprintf(err, errlen, "qat: out of memory");
            qb_fq_free(f);
            return -1;
        }
        if (L->kind == QB_L_CONV && p == QB_PREC_INT4 && L->k != 1)
            f->gsize[j] = 0; /* groups along K only where K order is layout-free (qlayer.c) */
        else
            f->gsize[j] = p == QB_PREC_INT4 ? group : 0;
    }
    for (int i = 0; i < QB_NET_MAX_LAYERS; i++)
        if (i >= net->n || !is_fq_layer(&net->layers[i]))
            f->node_of[i] = -1;
    return 0;
}

/* w' = fq(w) in place for layer j (fold: scale factors per row, or NULL). */
static void fake_weights(qb_fq *f, int j, float *w, const float *fold)
{
    int rows = f->rows[j], k = f->k[j];
    size_t n = (size_t)rows * k;
    float *tmp = NULL;
    if (fold) { /* quantize w * k per row, then divide again */
        tmp = malloc(n * sizeof(float));
        if (!tmp)
            return;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < k; c++)
                tmp[(size_t)r * k + c] = w[(size_t)r * k + c] * fold[r];
    }
    const float *src = tmp ? tmp : w;
    int8_t *q = f->qw[j];
    float *s = f->qs[j];
    switch (f->prec[j]) {
    case QB_PREC_BINARY:
        qb_quant_w_binary(src, rows, k, s);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < k; c++) {
                float v = src[(size_t)r * k + c];
                w[(size_t)r * k + c] = (signbit(v) ? -s[r] : s[r]) / (fold ? fold[r] : 1.0f);
            }
        break;
    case QB_PREC_INT4: {
        int ng = qb_int4_ngroups(k, f->gsize[j]), gs = f->gsize[j] ? f->gsize[j] : k;
        qb_quant_w_int4(src, rows, k, f->gsize[j], q, s, NULL, 0);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < k; c++)
                w[(size_t)r * k + c] = q[(size_t)r * k + c] * s[(size_t)r * ng + c / gs] / (fold ? fold[r] : 1.0f);
        break;
    }
    default: {
        int pc = f->prec[j] != QB_PREC_INT8_TENSOR;
        qb_quant_w_int8(src, rows, k, pc, q, s, NULL, 0);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < k; c++)
                w[(size_t)r * k + c] = q[(size_t)r * k + c] * s[pc ? r : 0] / (fold ? fold[r] : 1.0f);
    }
    }
    free(tmp);
}

/* The BN-fold factors of conv layer i when the next layer is a frozen BN. */
static int fold_factors(const qb_net *net, int i, float *k)
{
    if (i + 1 >= net->n || net->layers[i].kind != QB_L_CONV || net->layers[i + 1].kind != QB_L_BN ||
        !net->layers[i + 1].bn_frozen)
        return 0;
    const qb_layer *B = &net->layers[i + 1];
    for (int c = 0; c < B->in_c; c++) {
        float v = B->w[c] / sqrtf(B->run_var[c] + B->eps);
        k[c] = v != 0.0f && isfinite(v) ? v : 1.0f;
    }
    return 1;
}

void qb_fq_step(qb_net *net, int phase, int epoch, void *ctx)
{
    (void)epoch;
    qb_fq *f = ctx;
    for (int j = 0; j < f->nl; j++) {
        qb_layer *L = &net->layers[f->layer[j]];
        if (phase == QB_STEP_BEGIN) {
            memcpy(f->master[j], L->w, L->nw * sizeof(float));
            float fold[4096];
            int folded = L->out_c <= 4096 && fold_factors(net, f->layer[j], fold);
            fake_weights(f, j, L->w, folded ? fold : NULL);
        } else if (phase == QB_STEP_GRADS) {
            memcpy(L->w, f->master[j], L->nw * sizeof(float));
        }
    }
}

/* Input fake quantization of quantized layer j (net layer i) on x. */
static void fake_input(qb_fq *f, qb_net *net, int j, float *x, size_t n)
{
    if (f->mask_len[j] < n) {
        free(f->mask[j]);
        f->mask[j] = malloc(n);
        f->mask_len[j] = f->mask[j] ? n : 0;
        if (!f->mask[j])
            return;
    }
    uint8_t *m = f->mask[j];
    int training = net->training;
    if (training) { /* the previous layer's backward needs its true output back (restored after ours) */
        if (f->orig_len[j] < n) {
            free(f->orig[j]);
            f->orig[j] = malloc(n * sizeof(float));
            f->orig_len[j] = f->orig[j] ? n : 0;
        }
        if (f->orig[j])
            memcpy(f->orig[j], x, n * sizeof(float));
    }
    if (f->observe && training) {
        float lo = INFINITY, hi = -INFINITY;
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            if (!isfinite(v))
                continue;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            sum += v;
        }
        if (lo <= hi) {
            double mean = sum / (double)n;
            if (!f->seen[j]) {
                f->lo[j] = lo, f->hi[j] = hi, f->thr[j] = (float)mean;
            } else {
                f->lo[j] = (float)(EMA * f->lo[j] + (1 - EMA) * lo);
                f->hi[j] = (float)(EMA * f->hi[j] + (1 - EMA) * hi);
                f->thr[j] = (float)(EMA * f->thr[j] + (1 - EMA) * mean);
            }
            f->seen[j]++;
        }
    }
    if (!f->seen[j]) { /* nothing observed yet: identity */
        memset(m, 1, n);
        return;
    }
    if (f->prec[j] == QB_PREC_BINARY) {
        float t = f->thr[j];
        for (size_t i = 0; i < n; i++) {
            float d = x[i] - t;
            m[i] = fabsf(d) <= 1.0f;
            x[i] = signbit(d) ? -1.0f : 1.0f;
        }
        qb_layer *L = &net->layers[f->layer[j]];
        L->pad_value = signbit(0.0f - t) ? -1.0f : 1.0f;
        return;
    }
    qb_qparams qp;
    qb_qparams_from_range(f->lo[j], f->hi[j], 0, &qp, NULL, 0);
    for (size_t i = 0; i < n; i++) {
        m[i] = (uint8_t)qb_fake_quant_pass(x[i], &qp);
        x[i] = qb_fake_quant(x[i], &qp);
    }
}

void qb_fq_layer(qb_net *net, int layer, int phase, int batch, void *ctx)
{
    qb_fq *f = ctx;
    int j = layer >= 0 && layer < QB_NET_MAX_LAYERS ? f->node_of[layer] : -1;
    if (j < 0)
        return;
    size_t n = qb_net_size(net, layer) * (size_t)batch;
    if (phase == QB_HOOK_FWD) {
        fake_input(f, net, j, net->act[layer], n);
    } else if (phase == QB_HOOK_BWD && layer > 0 && f->mask_len[j] >= n) {
        float *g = net->grad[layer];
        const uint8_t *m = f->mask[j];
        for (size_t i = 0; i < n; i++)
            if (!m[i])
                g[i] = 0.0f;
        if (f->orig_len[j] >= n)
            memcpy(net->act[layer], f->orig[j], n * sizeof(float));
    }
}

void qb_fq_attach(qb_fq *f, qb_net *net, qb_train_cfg *cfg)
{
    net->hook = qb_fq_layer;
    net->hook_ctx = f;
    cfg->step_hook = qb_fq_step;
    cfg->step_ctx = f;
}

void qb_fq_freeze_bn(qb_net *net, int frozen)
{
    for (int i = 0; i < net->n; i++)
        if (net->layers[i].kind == QB_L_BN)
            net->layers[i].bn_frozen = frozen;
}
