/*
 * net.c - building a sequential network (shape inference, parameter
 * initialisation), allocating its buffers, and running the forward and
 * backward passes layer by layer (ReLU, ReLU6 and Flatten are here).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/measure/timer.h"
#include "harness/train/layers.h"
#include "harness/train/par.h"

void qb_net_init(qb_net *net, int c, int h, int w, uint64_t seed)
{
    memset(net, 0, sizeof *net);
    net->in_c = c;
    net->in_h = h;
    net->in_w = w;
    net->init_seed = seed;
}

/* A new layer whose input is the previous layer's output. */
static qb_layer *push(qb_net *net, qb_layer_kind kind, char *err, size_t errlen)
{
    if (net->n >= QB_NET_MAX_LAYERS) {
        snprintf(err, errlen, "network: more than %d layers", QB_NET_MAX_LAYERS);
        return NULL;
    }
    qb_layer *L = &net->layers[net->n];
    memset(L, 0, sizeof *L);
    L->kind = kind;
    if (net->n == 0) {
        L->in_c = net->in_c;
        L->in_h = net->in_h;
        L->in_w = net->in_w;
    } else {
        const qb_layer *p = L - 1;
        L->in_c = p->out_c;
        L->in_h = p->out_h;
        L->in_w = p->out_w;
    }
    L->out_c = L->in_c;
    L->out_h = L->in_h;
    L->out_w = L->in_w;
    return L;
}

/* Allocate w/b/dw/db; weights (and biases) from net->init and fan_in. */
static int params(qb_net *net, qb_layer *L, size_t nw, size_t nb, int fan_in, char *err, size_t errlen)
{
    L->nw = nw;
    L->nb = nb;
    L->w = calloc(nw, sizeof(float));
    L->dw = calloc(nw, sizeof(float));
    L->b = calloc(nb, sizeof(float));
    L->db = calloc(nb, sizeof(float));
    if (!L->w || !L->dw || !L->b || !L->db) {
        snprintf(err, errlen, "network: out of memory for %zu parameters", nw + nb);
        return -1;
    }
    if (fan_in > 0) {
        uint64_t rng = net->init_seed * 0x9E3779B97F4A7C15ull + (uint64_t)net->n * 0x632BE59BD9B4E019ull;
        float bound = net->init == QB_INIT_TORCH ? 1.0f / sqrtf((float)fan_in) : sqrtf(6.0f / (float)fan_in);
        for (size_t i = 0; i < nw; i++)
            L->w[i] = (2.0f * qb_rng_uniform(&rng) - 1.0f) * bound;
        if (net->init == QB_INIT_TORCH)
            for (size_t i = 0; i < nb; i++)
                L->b[i] = (2.0f * qb_rng_uniform(&rng) - 1.0f) * bound;
    }
    return 0;
}

int qb_net_dense(qb_net *net, int out, char *err, size_t errlen)
{
    qb_layer *L = push(net, QB_L_DENSE, err, errlen);
    if (!L)
        return -1;
    int in = L->in_c * L->in_h * L->in_w;
    if (out <= 0) {
        snprintf(err, errlen, "dense: bad output size %d", out);
        return -1;
    }
    L->out_c = out;
    L->out_h = L->out_w = 1;
    if (params(net, L, (size_t)out * in, (size_t)out, in, err, errlen))
        return -1;
    net->n++;
    return 0;
}

int qb_net_conv(qb_net *net, int out_c, int k, int stride, int pad, int groups, char *err, size_t errlen)
{
    qb_layer *L = push(net, QB_L_CONV, err, errlen);
    if (!L)
        return -1;
    if (out_c <= 0 || k <= 0 || stride <= 0 || pad < 0 || pad >= k || groups <= 0 ||
        L->in_c % groups || out_c % groups) {
        snprintf(err, errlen, "conv: bad parameters (out %d, k %d, stride %d, pad %d, groups %d, in %d)",
                 out_c, k, stride, pad, groups, L->in_c);
        return -1;
    }
    L->k = k;
    L->stride = stride;
    L->pad = pad;
    L->groups = groups;
    L->out_c = out_c;
    L->out_h = (L->in_h + 2 * pad - k) / stride + 1;
    L->out_w = (L->in_w + 2 * pad - k) / stride + 1;
    if (L->in_h + 2 * pad < k || L->in_w + 2 * pad < k) {
        snprintf(err, errlen, "conv: kernel %d larger than the padded input %dx%d", k, L->in_h, L->in_w);
        return -1;
    }
    int fan_in = L->in_c / groups * k * k;
    if (params(net, L, (size_t)out_c * fan_in, (size_t)out_c, fan_in, err, errlen))
        return -1;
    net->n++;
    return 0;
}

int qb_net_bn(qb_net *net, char *err, size_t errlen)
{
    qb_layer *L = push(net, QB_L_BN, err, errlen);
    if (!L)
        return -1;
    if (params(net, L, (size_t)L->in_c, (size_t)L->in_c, 0, err, errlen))
        return -1;
    L->run_mean = calloc((size_t)L->in_c, sizeof(float));
    L->run_var = malloc(sizeof(float) * (size_t)L->in_c);
    L->bn_invstd = malloc(sizeof(float) * (size_t)L->in_c);
    L->bn_mean = calloc((size_t)L->in_c, sizeof(float));
    if (!L->run_mean || !L->run_var || !L->bn_invstd || !L->bn_mean) {
        snprintf(err, errlen, "batchnorm: out of memory");
        return -1;
    }
    for (int c = 0; c < L->in_c; c++) {
        L->w[c] = 1.0f;
        L->run_var[c] = 1.0f;
    }
    L->momentum = 0.9f;
    L->eps = 1e-5f;
    net->n++;
    return 0;
}

int qb_net_act(qb_net *net, qb_layer_kind kind, char *err, size_t errlen)
{
    if (kind != QB_L_RELU && kind != QB_L_RELU6 && kind != QB_L_GAP && kind != QB_L_FLATTEN) {
        snprintf(err, errlen, "network: layer kind %d is not an activation/reshape", (int)kind);
        return -1;
    }
    qb_layer *L = push(net, kind, err, errlen);
    if (!L)
        return -1;
    if (kind == QB_L_GAP)
        L->out_h = L->out_w = 1;
    if (kind == QB_L_FLATTEN) {
        L->out_c = L->in_c * L->in_h * L->in_w;
        L->out_h = L->out_w = 1;
    }
    net->n++;
    return 0;
}

int qb_net_pool(qb_net *net, qb_layer_kind kind, int k, int stride, int pad, char *err, size_t errlen)
{
    qb_layer *L = push(net, kind, err, errlen);
    if (!L)
        return -1;
    if ((kind != QB_L_MAXPOOL && kind != QB_L_AVGPOOL) || k <= 0 || stride <= 0 || pad < 0 || pad >= k ||
        L->in_h + 2 * pad < k || L->in_w + 2 * pad < k) {
        snprintf(err, errlen, "pool: bad parameters (k %d, stride %d, pad %d, input %dx%d)", k, stride, pad,
                 L->in_h, L->in_w);
        return -1;
    }
    L->k = k;
    L->stride = stride;
    L->pad = pad;
    L->out_h = (L->in_h + 2 * pad - k) / stride + 1;
    L->out_w = (L->in_w + 2 * pad - k) / stride + 1;
    net->n++;
    return 0;
}

size_t qb_net_size(const qb_net *net, int i)
{
    if (i == 0)
        return (size_t)net->in_c * net->in_h * net->in_w;
    const qb_layer *L = &net->layers[i - 1];
    return (size_t)L->out_c * L->out_h * L->out_w;
}

size_t qb_net_params(const qb_net *net)
{
    size_t s = 0;
    for (int i = 0; i < net->n; i++)
        s += net->layers[i].nw + net->layers[i].nb;
    return s;
}

/* Free the batch-sized buffers (activations, caches). */
static void free_batch(qb_net *net)
{
    for (int i = 0; i <= net->n; i++) {
        free(net->act[i]);
        free(net->grad[i]);
        net->act[i] = net->grad[i] = NULL;
    }
    for (int i = 0; i < net->n; i++) {
        qb_layer *L = &net->layers[i];
        free(L->argmax);
        free(L->scratch);
        L->argmax = NULL;
        L->scratch = NULL;
    }
    net->batch = 0;
}

int qb_net_alloc(qb_net *net, int batch, char *err, size_t errlen)
{
    free_batch(net);
    if (batch <= 0 || net->n == 0) {
        snprintf(err, errlen, "network: batch %d, %d layers", batch, net->n);
        return -1;
    }
    int bad = 0;
    for (int i = 0; i <= net->n; i++) {
        size_t s = qb_net_size(net, i) * (size_t)batch;
        net->act[i] = malloc(sizeof(float) * s);
        net->grad[i] = malloc(sizeof(float) * s);
        bad |= !net->act[i] || !net->grad[i];
    }
    for (int i = 0; i < net->n; i++) {
        qb_layer *L = &net->layers[i];
        size_t in = (size_t)L->in_c * L->in_h * L->in_w, out = (size_t)L->out_c * L->out_h * L->out_w;
        if (L->kind == QB_L_MAXPOOL)
            bad |= !(L->argmax = malloc(sizeof(int32_t) * out * batch));
        if (L->kind == QB_L_CONV)
            L->scratch_len = qb_conv_scratch(L, batch, qb_par_threads());
        if (L->kind == QB_L_DENSE)
            L->scratch_len = (out + in) * batch + in * out;
        if (L->kind == QB_L_CONV || L->kind == QB_L_DENSE)
            bad |= !(L->scratch = malloc(sizeof(float) * L->scratch_len));
    }
    if (bad) {
        free_batch(net);
        snprintf(err, errlen, "network: out of memory for batch %d", batch);
        return -1;
    }
    net->batch = batch;
    return 0;
}

void qb_net_free(qb_net *net)
{
    free_batch(net);
    for (int i = 0; i < net->n; i++) {
        qb_layer *L = &net->layers[i];
        free(L->w);
        free(L->b);
        free(L->dw);
        free(L->db);
        free(L->run_mean);
        free(L->run_var);
        free(L->bn_invstd);
        free(L->bn_mean);
    }
    memset(net, 0, sizeof *net);
}

/* Branch-free element-wise loops (restrict lets the compiler vectorize;
 * kept out of the OpenMP loops, whose outlined bodies lose it), in fixed
 * blocks over the threads. */
#define EW_BLOCK 16384

static void relu_block(const float *restrict x, float *restrict y, size_t n, float hi)
{
    for (size_t j = 0; j < n; j++) {
        float v = x[j] > 0 ? x[j] : 0.0f;
        y[j] = v < hi ? v : hi;
    }
}

static void relu_bwd_block(const float *restrict x, const float *restrict dy, float *restrict dx, size_t n,
                           float hi)
{
    for (size_t j = 0; j < n; j++)
        dx[j] = x[j] > 0 && x[j] < hi ? dy[j] : 0.0f;
}

static void relu_fwd(const float *x, float *y, size_t n, float hi)
{
    int par = qb_par_worth(n) && n >= 2 * EW_BLOCK;
    (void)par;
#pragma omp parallel for schedule(static) if (par)
    for (size_t j0 = 0; j0 < n; j0 += EW_BLOCK)
        relu_block(x + j0, y + j0, n - j0 < EW_BLOCK ? n - j0 : EW_BLOCK, hi);
}

static void relu_bwd(const float *x, const float *dy, float *dx, size_t n, float hi)
{
    int par = qb_par_worth(n) && n >= 2 * EW_BLOCK;
    (void)par;
#pragma omp parallel for schedule(static) if (par)
    for (size_t j0 = 0; j0 < n; j0 += EW_BLOCK)
        relu_bwd_block(x + j0, dy + j0, dx + j0, n - j0 < EW_BLOCK ? n - j0 : EW_BLOCK, hi);
}

/* The clamp of a ReLU (inf) or ReLU6 (6) layer i fused into the BN before
 * it, or -1 when layer i is not fused. */
static float fused_hi(const qb_net *net, int i)
{
    if (net->no_fuse || i < 1 || i >= net->n || net->layers[i - 1].kind != QB_L_BN)
        return -1;
    if (net->layers[i].kind == QB_L_RELU)
        return __builtin_inff();
    return net->layers[i].kind == QB_L_RELU6 ? 6.0f : -1;
}

float *qb_net_forward(qb_net *net, int batch)
{
    for (int i = 0; i < net->n; i++) {
        qb_layer *L = &net->layers[i];
        const float *x = net->act[i];
        float *y = net->act[i + 1];
        size_t n = qb_net_size(net, i + 1) * (size_t)batch;
        if (net->hook)
            net->hook(net, i, QB_HOOK_FWD, batch, net->hook_ctx);
        double t0 = net->profile ? qb_now() : 0;
        switch (L->kind) {
        case QB_L_DENSE: qb_dense_fwd(L, x, y, batch); break;
        case QB_L_CONV: qb_conv_fwd(L, x, y, batch); break;
        case QB_L_BN: {
            float hi = fused_hi(net, i + 1);
            if (hi >= 0) { /* BN + activation in one pass: the next layer is done */
                qb_bn_fwd(L, x, net->act[i + 2], batch, net->training, hi);
                if (net->profile)
                    net->t_fwd[i] += qb_now() - t0;
                i++;
                continue;
            }
            qb_bn_fwd(L, x, y, batch, net->training, -1);
            break;
        }
        case QB_L_RELU: relu_fwd(x, y, n, __builtin_inff()); break;
        case QB_L_RELU6: relu_fwd(x, y, n, 6.0f); break;
        case QB_L_MAXPOOL:
        case QB_L_AVGPOOL:
        case QB_L_GAP: qb_pool_fwd(L, x, y, batch); break;
        case QB_L_FLATTEN: memcpy(y, x, sizeof(float) * n); break;
        }
        if (net->profile)
            net->t_fwd[i] += qb_now() - t0;
    }
    return net->act[net->n];
}

void qb_net_backward(qb_net *net, int batch, int want_dx)
{
    for (int i = net->n - 1; i >= 0; i--) {
        qb_layer *L = &net->layers[i];
        const float *x = net->act[i], *dy = net->grad[i + 1];
        float *dx = (i > 0 || want_dx) ? net->grad[i] : NULL;
        size_t n = qb_net_size(net, i) * (size_t)batch;
        double t0 = net->profile ? qb_now() : 0;
        float hi = fused_hi(net, i);
        if (hi >= 0) { /* the activation and its BN (layer i - 1) in one pass */
            float *dbn = (i - 1 > 0 || want_dx) ? net->grad[i - 1] : NULL;
            qb_bn_bwd(&net->layers[i - 1], net->act[i - 1], net->act[i + 1], dy, dbn, batch, hi);
            if (net->profile)
                net->t_bwd[i - 1] += qb_now() - t0;
            i--;
            continue;
        }
        switch (L->kind) {
        case QB_L_DENSE: qb_dense_bwd(L, x, dy, dx, batch); break;
        case QB_L_CONV: qb_conv_bwd(L, x, dy, dx, batch); break;
        case QB_L_BN: qb_bn_bwd(L, x, NULL, dy, dx, batch, -1); break;
        case QB_L_RELU:
            if (dx)
                relu_bwd(x, dy, dx, n, __builtin_inff());
            break;
        case QB_L_RELU6:
            if (dx)
                relu_bwd(x, dy, dx, n, 6.0f);
            break;
        case QB_L_MAXPOOL:
        case QB_L_AVGPOOL:
        case QB_L_GAP:
            if (dx)
                qb_pool_bwd(L, dy, dx, batch);
            break;
        case QB_L_FLATTEN:
            if (dx)
                memcpy(dx, dy, sizeof(float) * n);
            break;
        }
        if (net->hook)
            net->hook(net, i, QB_HOOK_BWD, batch, net->hook_ctx);
        if (net->profile)
            net->t_bwd[i] += qb_now() - t0;
    }
}
