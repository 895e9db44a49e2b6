/*
 * train.c - `qbench train -m MODEL -d DATASET [--data-dir DIR] [-e EPOCHS]
 * [--seed S] [--batch B] [--lr LR] [--val N] [--limit N] -o OUT.onnx`:
 * trains a zoo model (harness/train/zoo.c) with its default recipe on the
 * training part of the dataset minus a validation split, prints one
 * progress line per epoch and the validation accuracy on stderr, and
 * writes the model as ONNX. Input errors: one line naming the file or
 * value, exit code 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/graph.h"
#include "harness/measure/timer.h"
#include "harness/train/train.h"
#include "harness/verbs/verbs.h"

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr, "qbench train: ");
    fprintf(stderr, msg, arg);
    fprintf(stderr, "\nusage: qbench train -m mlp|cnn|dscnn -d fashion-mnist|synthetic|NAME [--data-dir DIR] "
                    "[-e EPOCHS] [--seed S] [--batch B] [--lr LR] [--val N] [--limit N] -o OUT.onnx\n");
    return 2;
}

/* Positive integer option value, or -1. */
static long num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v > 0 && v < (1L << 30) ? v : -1;
}

int qb_verb_train(int argc, char **argv)
{
    const char *model = NULL, *data = "fashion-mnist", *dir = NULL, *out = NULL;
    long epochs = 0, seed = 1, batch = 0, val = -1, limit = 0;
    double lr = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (o[0] != '-')
            return usage("unexpected argument %s", o);
        if (i + 1 >= argc)
            return usage("missing value after %s", o);
        const char *v = argv[++i];
        if (!strcmp(o, "-m"))
            model = v;
        else if (!strcmp(o, "-d"))
            data = v;
        else if (!strcmp(o, "--data-dir"))
            dir = v;
        else if (!strcmp(o, "-o"))
            out = v;
        else if (!strcmp(o, "-e") && (epochs = num(v)) > 0)
            ;
        else if (!strcmp(o, "--seed") && (seed = num(v)) > 0)
            ;
        else if (!strcmp(o, "--batch") && (batch = num(v)) > 0)
            ;
        else if (!strcmp(o, "--limit") && (limit = num(v)) > 0)
            ;
        else if (!strcmp(o, "--val") && (!strcmp(v, "0") || (val = num(v)) > 0))
            val = val < 0 ? 0 : val;
        else if (!strcmp(o, "--lr") && (lr = atof(v)) > 0)
            ;
        else if (!strcmp(o, "-e") || !strcmp(o, "--seed") || !strcmp(o, "--batch") || !strcmp(o, "--limit") ||
                 !strcmp(o, "--val") || !strcmp(o, "--lr"))
            return usage("bad value '%s'", v);
        else
            return usage("unknown option %s", o);
    }
    if (!model)
        return usage("missing -m MODEL%s", "");
    if (!out)
        return usage("missing -o OUT.onnx%s", "");
    qb_train_cfg cfg;
    if (qb_zoo_recipe(model, &cfg))
        return usage("unknown model '%s' (models: mlp, cnn, dscnn)", model);
    if (epochs)
        cfg.epochs = (int)epochs;
    if (batch)
        cfg.batch = (int)batch;
    if (lr > 0)
        cfg.lr = (float)lr;
    cfg.seed = (uint64_t)seed;
    cfg.verbose = 1;
    char err[1024];
    qb_dataset tr;
    qb_norm norm;
    memset(&tr, 0, sizeof tr);
    if (qb_dataset_open(data, dir, QB_SPLIT_TRAIN, &tr, err, sizeof err) ||
        qb_dataset_norm(data, dir, &norm, err, sizeof err)) {
        fprintf(stderr, "qbench train: %s\n", err);
        qb_dataset_free(&tr);
        return 2;
    }
    if (val < 0)
        val = tr.n / 12 < 5000 ? tr.n / 12 : 5000;
    int *ti = NULL, *vi = NULL, nt, nv, rc = 2;
    qb_net net;
    memset(&net, 0, sizeof net);
    qb_graph *g = NULL;
    if (qb_split_train_val(&tr, (int)val, (uint64_t)seed, &ti, &nt, &vi, &nv, err, sizeof err) ||
        qb_zoo_build(model, tr.c, tr.h, tr.w, tr.classes, (uint64_t)seed, &net, err, sizeof err)) {
        fprintf(stderr, "qbench train: %s\n", err);
        goto out;
    }
    if (limit && limit < nt)
        nt = (int)limit;
    fprintf(stderr, "qbench train: %s on %s (%d training, %d validation images), %zu parameters, %d epochs\n",
            model, tr.name, nt, nv, qb_net_params(&net), cfg.epochs);
    double t0 = qb_now();
    if (qb_train(&net, &tr, ti, nt, &norm, &cfg, NULL, err, sizeof err)) {
        fprintf(stderr, "qbench train: %s\n", err);
        goto out;
    }
    double secs = qb_now() - t0;
    if (nv > 0)
        fprintf(stderr, "qbench train: validation accuracy %.2f%% (%.1f s training)\n",
                qb_evaluate(&net, &tr, vi, nv, &norm), secs);
    g = qb_net_export(&net, model, err, sizeof err);
    qb_err e;
    if (!g) {
        fprintf(stderr, "qbench train: %s\n", err);
        goto out;
    }
    if (qb_onnx_save(g, out, &e)) {
        fprintf(stderr, "qbench train: %s\n", e.msg);
        goto out;
    }
    fprintf(stderr, "qbench train: wrote %s\n", out);
    rc = 0;
out:
    if (g)
        qb_graph_free(g);
    qb_net_free(&net);
    free(ti);
    free(vi);
    qb_dataset_free(&tr);
    return rc;
}
