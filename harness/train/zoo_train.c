/*
 * zoo_train.c - one zoo model trained on a named dataset and written as
 * ONNX with its normalisation and recipe in the metadata: the work behind
 * `qbench train` and the model cache (cache.c). The validation split is
 * the seeded min(5000, n/12) images of the training data that
 * harness/quant uses too; the test set is never touched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/graph/graph.h"
#include "harness/measure/timer.h"
#include "harness/model/norm_meta.h"
#include "harness/train/train.h"

int qb_zoo_job_init(qb_zoo_job *job, const char *model, const char *dataset, const char *data_dir,
                    const qb_train_cfg *cfg)
{
    memset(job, 0, sizeof *job);
    job->model = model;
    job->dataset = dataset;
    job->data_dir = data_dir;
    job->val = -1;
    if (qb_zoo_recipe(model, &job->cfg))
        return -1;
    if (cfg)
        job->cfg = *cfg;
    return 0;
}

static const char *opt_name(qb_opt_kind k) { return k == QB_OPT_ADAM ? "adam" : "sgd"; }
static const char *sched_name(qb_sched_kind k)
{
    return k == QB_SCHED_COSINE ? "cosine" : k == QB_SCHED_STEP ? "step" : "const";
}

void qb_zoo_recipe_line(const qb_zoo_job *job, char *buf, size_t len)
{
    const qb_train_cfg *c = &job->cfg;
    char dir[512] = "-";
    if (job->data_dir) {
        char *r = realpath(job->data_dir, NULL);
        snprintf(dir, sizeof dir, "%s", r ? r : job->data_dir);
        free(r);
    }
    snprintf(buf, len,
             "qbench-zoo/%d model=%s dataset=%s data_dir=%s val=%d limit=%d epochs=%d batch=%d opt=%s lr=%.9g "
             "momentum=%.9g beta1=%.9g beta2=%.9g adam_eps=%.9g wd=%.9g sched=%s step_epochs=%d step_gamma=%.9g "
             "seed=%llu",
             QB_ZOO_VERSION, job->model, job->dataset, dir, job->val, job->limit, c->epochs, c->batch,
             opt_name(c->opt), c->lr, c->momentum, c->beta1, c->beta2, c->adam_eps, c->weight_decay,
             sched_name(c->sched), c->step_epochs, c->step_gamma, (unsigned long long)c->seed);
}

/* Export net with its metadata and save it to out via out.tmp.PID. */
static int save(const qb_net *net, const qb_zoo_job *job, const qb_norm *norm, double val, const char *out,
                char *err, size_t errlen)
{
    qb_graph *g = qb_net_export(net, job->model, err, errlen);
    if (!g)
        return -1;
    char line[1024], acc[32], tmp[4200];
    qb_zoo_recipe_line(job, line, sizeof line);
    snprintf(acc, sizeof acc, "%.2f", val);
    if (qb_norm_to_graph(g, norm) || qb_graph_set_meta(g, "qbench.dataset", job->dataset) ||
        qb_graph_set_meta(g, "qbench.model", job->model) || qb_graph_set_meta(g, "qbench.recipe", line) ||
        (val >= 0 && qb_graph_set_meta(g, "qbench.val_top1", acc))) {
        snprintf(err, errlen, "%s: out of memory", out);
        qb_graph_free(g);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%.4000s.tmp.%ld", out, (long)getpid());
    qb_err e;
    int rc = qb_onnx_save(g, tmp, &e);
    qb_graph_free(g);
    if (rc) {
        snprintf(err, errlen, "%s", e.msg);
        remove(tmp);
        return -1;
    }
    if (rename(tmp, out)) {
        snprintf(err, errlen, "%s: cannot write (rename from %s failed)", out, tmp);
        remove(tmp);
        return -1;
    }
    return 0;
}

int qb_zoo_train(const qb_zoo_job *job, const char *out, double *val_top1, double *seconds, char *err,
                 size_t errlen)
{
    qb_dataset tr;
    qb_norm norm;
    memset(&tr, 0, sizeof tr);
    if (qb_dataset_open(job->dataset, job->data_dir, QB_SPLIT_TRAIN, &tr, err, errlen) ||
        qb_dataset_norm(job->dataset, job->data_dir, &norm, err, errlen)) {
        qb_dataset_free(&tr);
        return -1;
    }
    int val = job->val >= 0 ? job->val : tr.n / 12 < 5000 ? tr.n / 12 : 5000;
    int *ti = NULL, *vi = NULL, nt, nv, rc = -1;
    qb_net net;
    memset(&net, 0, sizeof net);
    if (qb_split_train_val(&tr, val, job->cfg.seed, &ti, &nt, &vi, &nv, err, errlen) ||
        qb_zoo_build(job->model, tr.c, tr.h, tr.w, tr.classes, job->cfg.seed, &net, err, errlen))
        goto out;
    if (job->limit > 0 && job->limit < nt)
        nt = job->limit;
    if (job->cfg.verbose)
        fprintf(stderr, "qbench train: %s on %s (%d training, %d validation images), %zu parameters, %d epochs, "
                        "%d threads\n",
                job->model, tr.name, nt, nv, qb_net_params(&net), job->cfg.epochs, qb_train_cfg_threads(&job->cfg));
    net.profile = job->profile;
    double t0 = qb_now();
    if (qb_train(&net, &tr, ti, nt, &norm, &job->cfg, NULL, err, errlen))
        goto out;
    double secs = qb_now() - t0, acc = nv > 0 ? qb_evaluate(&net, &tr, vi, nv, &norm) : -1;
    if (job->cfg.verbose) {
        if (nv > 0)
            fprintf(stderr, "qbench train: validation accuracy %.2f%% (%.1f s training)\n", acc, secs);
        else
            fprintf(stderr, "qbench train: %.1f s training (no validation images)\n", secs);
    }
    if (save(&net, job, &norm, acc, out, err, errlen))
        goto out;
    if (val_top1)
        *val_top1 = acc;
    if (seconds)
        *seconds = secs;
    rc = 0;
out:
    qb_net_free(&net);
    free(ti);
    free(vi);
    qb_dataset_free(&tr);
    return rc;
}
