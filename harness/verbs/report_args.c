/*
 * report_args.c - shared arguments and inputs of the reporting verbs
 * (see report_args.h).
 */
#include "harness/verbs/report_args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/verbs/usage.h"

int qb_report_args_parse(const char *verb, int argc, char **argv, unsigned allowed, qb_report_args *a)
{
    memset(a, 0, sizeof *a);
    a->budget = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int valued = (!strcmp(o, "-o") && (allowed & QB_RA_OUT)) ||
                     ((!strcmp(o, "--kernels") || !strcmp(o, "--per-layer")) && (allowed & QB_RA_INPUTS)) ||
                     (!strcmp(o, "--profile") && (allowed & (QB_RA_INPUTS | QB_RA_PROFILE))) ||
                     (!strcmp(o, "--budget") && (allowed & QB_RA_BUDGET)) ||
                     (!strcmp(o, "--title") && (allowed & QB_RA_TITLE));
        if (valued) {
            if (i + 1 >= argc)
                return qb_usage_error(verb, "%s: missing value", o);
            const char *v = argv[++i];
            if (!strcmp(o, "-o")) {
                a->outdir = v;
            } else if (!strcmp(o, "--kernels")) {
                if (a->nkernels == QB_RA_MAXFILES)
                    return qb_usage_error(verb, "--kernels: more than %d files", QB_RA_MAXFILES);
                a->kernels[a->nkernels++] = v;
            } else if (!strcmp(o, "--per-layer")) {
                if (a->per_layer)
                    return qb_usage_error(verb, "--per-layer: given twice");
                a->per_layer = v;
            } else if (!strcmp(o, "--profile")) {
                if (a->nprofiles == QB_RA_MAXFILES)
                    return qb_usage_error(verb, "--profile: more than %d files", QB_RA_MAXFILES);
                if (!strchr(v, '=') || v[0] == '=')
                    return qb_usage_error(verb, "--profile: bad value '%s' (want LABEL=FILE)", v);
                a->profiles[a->nprofiles++] = v;
            } else if (!strcmp(o, "--budget")) {
                char *end;
                a->budget = strtod(v, &end);
                if (end == v || *end || !isfinite(a->budget) || a->budget < 0)
                    return qb_usage_error(verb, "--budget: bad value '%s' (accuracy points >= 0, e.g. 1.0)", v);
            } else {
                a->title = v;
            }
        } else if (o[0] == '-' && o[1]) {
            return qb_usage_error(verb, "unknown option %s", o);
        } else {
            if (a->nfiles == QB_RA_MAXFILES)
                return qb_usage_error(verb, "more than %d results files", QB_RA_MAXFILES);
            a->files[a->nfiles++] = o;
        }
    }
    if ((allowed & QB_RA_OUT) && !a->outdir)
        return qb_usage_error(verb, "-o DIR: missing");
    return 0;
}

int qb_report_inputs_load(const char *verb, const qb_report_args *a, qb_report_inputs *in)
{
    memset(in, 0, sizeof *in);
    char err[1200];
    for (int i = 0; i < a->nfiles; i++)
        if (qb_rset_add(&in->results, a->files[i], err, sizeof err))
            goto fail;
    if (a->per_layer) {
        in->layers = malloc(sizeof *in->layers);
        if (!in->layers) {
            snprintf(err, sizeof err, "out of memory");
            goto fail;
        }
        if (qb_layers_load(a->per_layer, in->layers, err, sizeof err))
            goto fail;
    }
    for (int i = 0; i < a->nprofiles; i++)
        if (qb_profile_load(a->profiles[i], &in->profiles[i], err, sizeof err))
            goto fail;
    in->plot.results = &in->results;
    in->plot.kernels = a->kernels;
    in->plot.nkernels = a->nkernels;
    in->plot.layers = in->layers;
    in->plot.layers_label = a->per_layer;
    in->plot.profiles = in->profiles;
    in->plot.nprofiles = a->nprofiles;
    return 0;
fail:
    fprintf(stderr, "qbench %s: %s\n", verb, err);
    qb_report_inputs_free(in);
    return 2;
}

void qb_report_inputs_free(qb_report_inputs *in)
{
    qb_rset_free(&in->results);
    free(in->layers);
    in->layers = NULL;
}

int qb_report_mkdir(const char *verb, const char *dir)
{
    char p[1024];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0777) && errno != EEXIST)
                break;
            *s = '/';
        }
    if (mkdir(p, 0777) && errno != EEXIST) {
        fprintf(stderr, "qbench %s: -o %s: cannot create: %s\n", verb, dir, strerror(errno));
        return 2;
    }
    return 0;
}
