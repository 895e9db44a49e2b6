/*
 * textin.c - parsers of `qbench run --profile` and `qbench eval
 * --per-layer` output (see textin.h). They read the lines those verbs
 * print (harness/verbs/run.c print_profile, harness/verbs/eval.c
 * per_layer); anything else is refused with file and line.
 */
#include "harness/report/textin.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int qb_profile_load(const char *spec, qb_profile *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1]) {
        snprintf(err, errlen, "--profile: '%s' is not LABEL=FILE", spec);
        return -1;
    }
    snprintf(p->label, sizeof p->label, "%.*s", (int)(eq - spec), spec);
    const char *path = eq + 1;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--profile: %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "total %lf ms: kernels %lf ms (%*[^)]), outside kernels %lf ms", &p->total_ms, &p->kernel_ms,
                   &p->outside_ms) == 3)
            found = 1;
    fclose(f);
    if (!found || !isfinite(p->total_ms) || !isfinite(p->kernel_ms) || !isfinite(p->outside_ms) || p->total_ms < 0) {
        snprintf(err, errlen,
                 "--profile: %s: no line 'total X ms: kernels Y ms (..), outside kernels Z ms' (the output of "
                 "`qbench run --profile`)",
                 path);
        return -1;
    }
    return 0;
}

int qb_layers_load(const char *path, qb_layers *l, char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--per-layer: %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int in_table = 0, lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (strstr(line, "per-layer SQNR")) {
            in_table = 1;
            continue;
        }
        if (!in_table)
            continue;
        char name[64], prec[16], a[32], b[32];
        if (sscanf(line, " layer precision %31s", a) == 1)
            continue; /* the column header */
        int k = sscanf(line, " %63s %15s %31s %31s", name, prec, a, b);
        if (k != 4) {
            in_table = 0; /* the line after the table ("first layer below ...") */
            continue;
        }
        double pv, iv;
        char *e1, *e2;
        pv = strtod(a, &e1);
        iv = strtod(b, &e2);
        if (*e1 || *e2) {
            in_table = 0;
            continue;
        }
        if (l->n == QB_LAYERS_MAX) {
            snprintf(err, errlen, "--per-layer: %s:%d: more than %d layers", path, lineno, QB_LAYERS_MAX);
            rc = -1;
            break;
        }
        snprintf(l->name[l->n], sizeof l->name[0], "%s", name);
        snprintf(l->prec[l->n], sizeof l->prec[0], "%s", prec);
        l->prop_db[l->n] = pv;
        l->iso_db[l->n] = iv;
        l->n++;
    }
    fclose(f);
    if (!rc && !l->n) {
        snprintf(err, errlen,
                 "--per-layer: %s: no per-layer SQNR table (save the stdout of `qbench eval MODEL -p mixed "
                 "--per-layer`)",
                 path);
        rc = -1;
    }
    return rc;
}
