/*
 * fit.c - the training loop (seeded shuffle per epoch, mini-batches,
 * forward, loss, backward, optimizer step, learning-rate schedule) and
 * top-1 evaluation in inference mode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/measure/timer.h"
#include "harness/train/train.h"

/* Adaptive thread count. On a machine shared with other jobs an OpenMP
 * barrier can wait a whole time slice for a descheduled thread, and all
 * threads become slower than one. Every ADAPT_EVERY steps, PROBE steps run
 * on all threads and PROBE on one; the faster count serves until the next
 * probe. The model does not depend on it: results are the same for any
 * thread count. */
#define ADAPT_EVERY 128
#define PROBE 3

typedef struct adapt {
    int maxt;     /* all threads (1: nothing to adapt) */
    int cur;      /* count chosen by the last probe */
    double t_all; /* probe time on all threads */
    double t_one; /* probe time on one thread */
    long one;     /* steps run on one thread (progress line) */
} adapt;

static int adapt_threads(const adapt *a, long s)
{
    long ph = s % ADAPT_EVERY;
    return a->maxt <= 1 ? a->maxt : ph < PROBE ? a->maxt : ph < 2 * PROBE ? 1 : a->cur;
}

static void adapt_record(adapt *a, long s, int threads, double dt)
{
    long ph = s % ADAPT_EVERY;
    a->one += threads == 1;
    if (ph == 0)
        a->t_all = a->t_one = 0;
    if (ph < PROBE)
        a->t_all += dt;
    else if (ph < 2 * PROBE)
        a->t_one += dt;
    if (ph == 2 * PROBE - 1)
        a->cur = a->t_one < a->t_all ? 1 : a->maxt;
}

/* Fill act[0] and labels with samples idx[from..from+b). */
static void load_batch(qb_net *net, const qb_dataset *d, const int *idx, int from, int b,
                       const qb_norm *norm, int32_t *labels)
{
    size_t ss = qb_dataset_sample_size(d);
    for (int k = 0; k < b; k++) {
        int s = idx ? idx[from + k] : from + k;
        qb_dataset_get(d, s, norm, net->act[0] + (size_t)k * ss);
        labels[k] = d->labels[s];
    }
}

static int check_shapes(const qb_net *net, const qb_dataset *d, char *err, size_t errlen)
{
    const qb_layer *last = &net->layers[net->n > 0 ? net->n - 1 : 0];
    if (net->n == 0 || net->in_c != d->c || net->in_h != d->h || net->in_w != d->w ||
        (size_t)last->out_c * last->out_h * last->out_w != (size_t)d->classes) {
        snprintf(err, errlen, "%s: samples %dx%dx%d with %d classes do not fit the network (input %dx%dx%d)",
                 d->name, d->c, d->h, d->w, d->classes, net->in_c, net->in_h, net->in_w);
        return -1;
    }
    return 0;
}

int qb_train(qb_net *net, const qb_dataset *d, const int *idx, int n, const qb_norm *norm,
             const qb_train_cfg *cfg, double *final_loss, char *err, size_t errlen)
{
    if (check_shapes(net, d, err, errlen))
        return -1;
    if (n <= 0 || cfg->batch <= 0 || cfg->epochs <= 0) {
        snprintf(err, errlen, "train: %d samples, batch %d, %d epochs", n, cfg->batch, cfg->epochs);
        return -1;
    }
    int B = cfg->batch < n ? cfg->batch : n;
    if (net->batch < B && qb_net_alloc(net, B, err, errlen))
        return -1;
    qb_opt opt;
    if (qb_opt_init(&opt, net, cfg, err, errlen))
        return -1;
    int *order = malloc(sizeof(int) * (size_t)n);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)B);
    if (!order || !labels) {
        free(order);
        free(labels);
        qb_opt_free(&opt);
        snprintf(err, errlen, "train: out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++)
        order[i] = idx ? idx[i] : i;
    uint64_t rng = cfg->seed * 0xD1B54A32D192ED03ull + 11;
    long spe = (n + B - 1) / B, total = spe * cfg->epochs, step = 0;
    double loss_epoch = 0;
    /* the recipe's thread count, for this call only */
    int threads0 = qb_train_threads(), threads = qb_train_cfg_threads(cfg);
    qb_train_set_threads(threads);
    adapt ad = {.maxt = threads};
    ad.maxt = cfg->no_adapt ? 1 : ad.maxt; /* no_adapt: `threads`, never probed */
    ad.cur = ad.maxt;
    for (int e = 0; e < cfg->epochs; e++) {
        double t0 = qb_now();
        ad.one = 0;
        if (cfg->step_hook)
            cfg->step_hook(net, QB_STEP_EPOCH, e, cfg->step_ctx);
        qb_shuffle(order, n, &rng);
        double ls = 0;
        long correct = 0;
        for (int from = 0; from < n; from += B, step++) {
            int b = n - from < B ? n - from : B;
            int th = adapt_threads(&ad, step);
            if (ad.maxt > 1)
                qb_train_set_threads(th);
            double ts = qb_now();
            load_batch(net, d, order, from, b, norm, labels);
            net->training = 1;
            if (cfg->step_hook)
                cfg->step_hook(net, QB_STEP_BEGIN, e, cfg->step_ctx);
            const float *z = qb_net_forward(net, b);
            int ok;
            ls += qb_softmax_xent(z, labels, b, d->classes, net->grad[net->n], &ok) * b;
            correct += ok;
            qb_net_backward(net, b, 0);
            if (cfg->step_hook)
                cfg->step_hook(net, QB_STEP_GRADS, e, cfg->step_ctx);
            qb_opt_step(&opt, net, qb_lr_at(cfg, step, total, spe));
            adapt_record(&ad, step, th, qb_now() - ts);
        }
        net->training = 0;
        loss_epoch = ls / n;
        if (cfg->verbose && ad.maxt > 1)
            fprintf(stderr, "epoch %d/%d: loss %.4f, train accuracy %.2f%%, %.1f s (%ld%% of steps on 1 thread)\n",
                    e + 1, cfg->epochs, loss_epoch, 100.0 * (double)correct / n, qb_now() - t0,
                    100 * ad.one / spe);
        else if (cfg->verbose)
            fprintf(stderr, "epoch %d/%d: loss %.4f, train accuracy %.2f%%, %.1f s\n", e + 1, cfg->epochs,
                    loss_epoch, 100.0 * (double)correct / n, qb_now() - t0);
    }
    qb_train_set_threads(threads0);
    if (net->profile)
        qb_net_print_profile(net, stderr);
    if (final_loss)
        *final_loss = loss_epoch;
    free(order);
    free(labels);
    qb_opt_free(&opt);
    return 0;
}

double qb_evaluate(qb_net *net, const qb_dataset *d, const int *idx, int n, const qb_norm *norm)
{
    char err[256];
    if (check_shapes(net, d, err, sizeof err) || n <= 0)
        return 0;
    if (net->batch == 0 && qb_net_alloc(net, n < 256 ? n : 256, err, sizeof err))
        return 0;
    int B = net->batch;
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)B);
    if (!labels)
        return 0;
    long correct = 0;
    int saved = net->training;
    net->training = 0;
    for (int from = 0; from < n; from += B) {
        int b = n - from < B ? n - from : B;
        load_batch(net, d, idx, from, b, norm, labels);
        const float *z = qb_net_forward(net, b);
        int ok;
        qb_softmax_xent(z, labels, b, d->classes, NULL, &ok);
        correct += ok;
    }
    net->training = saved;
    free(labels);
    return 100.0 * (double)correct / n;
}

void qb_net_print_profile(const qb_net *net, FILE *f)
{
    static const char *kinds[] = {"dense", "conv", "batchnorm", "relu", "relu6", "maxpool", "avgpool", "gap",
                                  "flatten"};
    double tf = 0, tb = 0;
    for (int i = 0; i < net->n; i++) {
        tf += net->t_fwd[i];
        tb += net->t_bwd[i];
    }
    fprintf(f, "layer  kind        output        forward s  backward s\n");
    for (int i = 0; i < net->n; i++) {
        const qb_layer *L = &net->layers[i];
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%dx%d", L->out_c, L->out_h, L->out_w);
        fprintf(f, "%5d  %-10s  %-12s  %9.2f  %10.2f\n", i, kinds[L->kind], shape, net->t_fwd[i], net->t_bwd[i]);
    }
    fprintf(f, "total                             %9.2f  %10.2f\n", tf, tb);
}
