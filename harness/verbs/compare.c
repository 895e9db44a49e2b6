/*
 * compare.c - `qbench compare BASE.csv NEW.csv [--latency-tol 5%]
 * [--accuracy-tol 0.2] [--metric latency|instructions] [--strict]`: the
 * regression gate (harness/report/gate.c) on two results files, or with
 * `--history DB[:best|:last]` against a history store
 * (harness/report/history.c). Markdown on stdout; exit 0 ok, 1 accuracy
 * regression, 3 performance regression, 2 input error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/report/gate.h"
#include "harness/report/history.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

/* "5%" -> 0.05, "0.05" -> 0.05; -1 when not a number >= 0. */
static double parse_fraction(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0)
        return -1;
    if (*end == '%' && !end[1])
        return v / 100;
    return *end ? -1 : v;
}

int qb_verb_compare(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL}, *history = NULL;
    int nfiles = 0;
    qb_gate_opts o;
    qb_gate_defaults(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--strict")) {
            o.strict = 1;
        } else if (!strcmp(a, "--latency-tol") || !strcmp(a, "--accuracy-tol") || !strcmp(a, "--metric") ||
                   !strcmp(a, "--history")) {
            if (i + 1 >= argc)
                return qb_usage_error("compare", "%s: missing value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--latency-tol")) {
                if ((o.perf_tol = parse_fraction(v)) < 0)
                    return qb_usage_error("compare", "--latency-tol: bad value '%s' (want e.g. 5%% or 0.05)", v);
            } else if (!strcmp(a, "--accuracy-tol")) {
                if ((o.accuracy_tol = parse_fraction(v)) < 0 || strchr(v, '%'))
                    return qb_usage_error("compare", "--accuracy-tol: bad value '%s' (want points, e.g. 0.2)", v);
            } else if (!strcmp(a, "--metric")) {
                if (!strcmp(v, "latency"))
                    o.metric = QB_GATE_LATENCY;
                else if (!strcmp(v, "instructions"))
                    o.metric = QB_GATE_INSTRUCTIONS;
                else
                    return qb_usage_error("compare", "--metric: bad value '%s' (latency or instructions)", v);
            } else {
                history = v;
            }
        } else if (a[0] == '-' && a[1]) {
            return qb_usage_error("compare", "unknown option %s", a);
        } else if (nfiles == 2) {
            return qb_usage_error("compare", "more than two results files: %s", a);
        } else {
            files[nfiles++] = a;
        }
    }
    if (nfiles != (history ? 1 : 2))
        return qb_usage_error("compare", history ? "--history DB and one NEW.csv, got %d files"
                                                 : "want BASE.csv and NEW.csv, got %d files",
                              nfiles);
    qb_rset base = {0}, cur = {0};
    char err[1200];
    int rc = 2;
    if (history) {
        if (qb_history_baseline(history, &base, err, sizeof err))
            goto fail;
    } else if (qb_rset_add(&base, files[0], err, sizeof err)) {
        goto fail;
    }
    if (qb_rset_add(&cur, files[nfiles - 1], err, sizeof err))
        goto fail;
    qb_gate_result res;
    qb_gate_run(&base, &cur, &o, stdout, &res);
    rc = res.exit_code;
    if (res.machine_differs)
        fprintf(stderr, "qbench compare: %s: the files come from different machines (CPU model or ISA flags)\n",
                o.strict ? "error" : "warning");
    qb_rset_free(&base);
    qb_rset_free(&cur);
    return rc;
fail:
    fprintf(stderr, "qbench compare: %s\n", err);
    qb_rset_free(&base);
    qb_rset_free(&cur);
    return 2;
}
