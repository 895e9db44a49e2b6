/*
 * train.c - `qbench train -m MODEL -d DATASET [--data-dir DIR] [-e EPOCHS]
 * [--seed S] [--batch B] [--lr LR] [--opt sgd|adam] [--wd WD]
 * [--momentum M] [--sched cosine|step|const] [--val N] [--limit N]
 * [--threads N] [--profile] [--force] [-o OUT.onnx]`: trains a zoo model
 * (harness/train/zoo.c) with its default recipe, changed by the options,
 * on the training part of the dataset minus a validation split, prints
 * one progress line per epoch and the validation accuracy on stderr.
 * Threads: all cores, each step on 1 or all as probes find faster;
 * --threads N: exactly N.
 * With -o it writes the model there; without, it uses the model cache
 * (harness/train/cache.c: reused when present with the same recipe,
 * retrained with --force) and prints the cached file's path on stdout.
 * Input errors: one line naming the file or value, exit code 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/train/train.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

/* A usage error: the message, then the synopsis from the verb table. */
static int usage(const char *msg, const char *arg)
{
    return qb_usage_error("train", msg, arg);
}

/* Positive integer option value, or -1. */
static long num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v > 0 && v < (1L << 30) ? v : -1;
}

/* Non-negative finite float option value, or -1. */
static double real(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    return *s && !*end && v >= 0 && v < 1e6 ? v : -1;
}

int qb_verb_train(int argc, char **argv)
{
    const char *model = NULL, *data = "fashion-mnist", *dir = NULL, *out = NULL, *opt = NULL, *sched = NULL;
    long epochs = 0, seed = 1, batch = 0, val = -1, limit = 0, threads = 0;
    double lr = 0, wd = -1, mom = -1;
    int force = 0, profile = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (o[0] != '-')
            return usage("unexpected argument %s", o);
        if (!strcmp(o, "--force")) {
            force = 1;
            continue;
        }
        if (!strcmp(o, "--profile")) {
            profile = 1;
            continue;
        }
        /* the value ("" when missing: an unknown option is named first, then a missing value) */
        const char *given = i + 1 < argc ? argv[++i] : NULL, *v = given ? given : "";
        int bad = 0;
        if (!strcmp(o, "-m"))
            model = v;
        else if (!strcmp(o, "-d"))
            data = v;
        else if (!strcmp(o, "--data-dir"))
            dir = v;
        else if (!strcmp(o, "-o"))
            out = v;
        else if (!strcmp(o, "-e"))
            bad = (epochs = num(v)) < 0;
        else if (!strcmp(o, "--seed"))
            bad = (seed = num(v)) < 0;
        else if (!strcmp(o, "--batch"))
            bad = (batch = num(v)) < 0;
        else if (!strcmp(o, "--limit"))
            bad = (limit = num(v)) < 0;
        else if (!strcmp(o, "--threads"))
            bad = (threads = num(v)) < 0;
        else if (!strcmp(o, "--val"))
            bad = !strcmp(v, "0") ? (val = 0, 0) : (val = num(v)) < 0;
        else if (!strcmp(o, "--lr"))
            bad = (lr = real(v)) <= 0;
        else if (!strcmp(o, "--wd"))
            bad = (wd = real(v)) < 0;
        else if (!strcmp(o, "--momentum"))
            bad = (mom = real(v)) < 0 || mom >= 1;
        else if (!strcmp(o, "--opt"))
            bad = strcmp(opt = v, "sgd") && strcmp(v, "adam");
        else if (!strcmp(o, "--sched"))
            bad = strcmp(sched = v, "cosine") && strcmp(v, "step") && strcmp(v, "const");
        else
            return usage("unknown option %s", o);
        if (!given)
            return usage("missing value after %s", o);
        if (bad)
            return qb_usage_error("train", "%s: bad value '%s'", o, v);
    }
    if (!model)
        return usage("missing -m MODEL%s", "");
    qb_zoo_job job;
    if (qb_zoo_job_init(&job, model, data, dir, NULL)) {
        fprintf(stderr, "qbench train: unknown model '%s' (models: %s)\n", model, qb_zoo_names());
        return 2;
    }
    qb_train_cfg *cfg = &job.cfg;
    if (epochs)
        cfg->epochs = (int)epochs;
    if (batch)
        cfg->batch = (int)batch;
    if (lr > 0)
        cfg->lr = (float)lr;
    if (wd >= 0)
        cfg->weight_decay = (float)wd;
    if (mom >= 0)
        cfg->momentum = (float)mom;
    if (opt)
        cfg->opt = !strcmp(opt, "adam") ? QB_OPT_ADAM : QB_OPT_SGD;
    if (sched)
        cfg->sched = !strcmp(sched, "cosine") ? QB_SCHED_COSINE : !strcmp(sched, "step") ? QB_SCHED_STEP
                                                                                        : QB_SCHED_CONST;
    cfg->seed = (uint64_t)seed;
    cfg->verbose = 1;
    job.val = (int)val;
    job.limit = (int)limit;
    job.profile = profile;
    if (threads) { /* exactly that many: no probing of 1 vs N (fit.c) */
        cfg->threads = (int)threads;
        cfg->no_adapt = 1;
    }
    char err[1024], path[4096];
    if (out) {
        if (qb_zoo_train(&job, out, NULL, NULL, err, sizeof err)) {
            fprintf(stderr, "qbench train: %s\n", err);
            return 2;
        }
        fprintf(stderr, "qbench train: wrote %s\n", out);
        return 0;
    }
    if (qb_zoo_cached_job(&job, force, path, sizeof path, err, sizeof err)) {
        fprintf(stderr, "qbench train: %s\n", err);
        return 2;
    }
    printf("%s\n", path);
    return 0;
}
