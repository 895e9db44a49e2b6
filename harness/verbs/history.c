/*
 * history.c - `qbench history DB add RESULTS.csv...`, `qbench history DB
 * show [--model M] [--metric latency|instructions|drop]` and `qbench
 * history DB plot -o DIR [--model M] [--metric ...]`: results of many runs
 * in one SQLite store (harness/report/history.c) and their trend chart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/report/gnuplot.h"
#include "harness/report/history.h"
#include "harness/verbs/report_args.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

static int trend_plot(const char *db, const char *dir, const char *model, qb_history_metric metric)
{
    char err[1200];
    if (qb_gnuplot_check(err, sizeof err)) {
        fprintf(stderr, "qbench history: %s\n", err);
        return 2;
    }
    int rc = qb_report_mkdir("history", dir);
    if (rc)
        return rc;
    FILE *f = qb_plot_open(dir, "trend.dat", err, sizeof err);
    int nkeys = 0;
    if (!f || qb_history_trend(db, model, metric, f, &nkeys, err, sizeof err)) {
        if (f)
            fclose(f);
        fprintf(stderr, "qbench history: %s\n", err);
        return 2;
    }
    fclose(f);
    if (!nkeys) {
        fprintf(stderr, "qbench history: %s: no measured rows%s%s\n", db, model ? " of model " : "", model ? model : "");
        return 2;
    }
    const char *what = metric == QB_HIST_LATENCY ? "latency (ms, median)" : metric == QB_HIST_DROP
                                                                              ? "accuracy drop (points)"
                                                                              : "instructions per inference";
    /* one plot clause per cell, titled with the "# KEY" line of its block */
    char path[1100], line[800];
    snprintf(path, sizeof path, "%s/trend.dat", dir);
    size_t cap = 4096 + (size_t)nkeys * 900;
    char *full = malloc(cap);
    f = fopen(path, "r");
    if (!full || !f) {
        free(full);
        if (f)
            fclose(f);
        fprintf(stderr, "qbench history: %s: cannot read back\n", path);
        return 2;
    }
    size_t n = (size_t)snprintf(full, cap,
                                "set title \"trend of %s per cell across stored runs%s%s\"\nset xdata time\n"
                                "set timefmt \"%%Y-%%m-%%dT%%H:%%M:%%SZ\"\nset format x \"%%m-%%d %%H:%%M\"\n"
                                "set xtics rotate by -30\nset xlabel \"run date (UTC)\"\nset ylabel \"%s\"\n"
                                "set grid lc rgb '#bbbbbb'\nset key outside right top box opaque font \",8\"\n"
                                "set border 3\nplot ",
                                what, model ? " of " : "", model ? model : "", what);
    int i = 0;
    while (fgets(line, sizeof line, f) && n < cap - 900)
        if (!strncmp(line, "# ", 2)) {
            line[strcspn(line, "\n")] = 0;
            char q[700];
            qb_plot_quote(line + 2, q, sizeof q);
            n += (size_t)snprintf(full + n, cap - n,
                                  "%s'trend.dat' index %d using 1:2 with linespoints pt %d dt %d lc rgb 'black' "
                                  "title \"%s\"",
                                  i ? ", \\\n     " : "", i, i % 13 + 1, i % 5 + 1, q);
            i++;
        }
    fclose(f);
    rc = qb_plot_script(dir, "trend", full, err, sizeof err);
    free(full);
    if (rc) {
        fprintf(stderr, "qbench history: %s\n", err);
        return 2;
    }
    printf("%s/trend.png  trend.svg  (%d cells)\n", dir, nkeys);
    return 0;
}

int qb_verb_history(int argc, char **argv)
{
    if (argc < 3)
        return qb_usage_error("history", "want DB and a command (add, show or plot)");
    const char *db = argv[1], *cmd = argv[2], *model = NULL, *dir = NULL;
    qb_history_metric metric = QB_HIST_LATENCY;
    char err[1200];
    if (!strcmp(cmd, "add")) {
        if (argc < 4)
            return qb_usage_error("history", "add: missing RESULTS.csv");
        for (int i = 3; i < argc; i++) {
            qb_rset s = {0};
            int added, skipped;
            if (argv[i][0] == '-' || qb_rset_add(&s, argv[i], err, sizeof err) ||
                qb_history_add(db, &s, argv[i], &added, &skipped, err, sizeof err)) {
                if (argv[i][0] == '-')
                    return qb_usage_error("history", "add: unknown option %s", argv[i]);
                fprintf(stderr, "qbench history: %s\n", err);
                qb_rset_free(&s);
                return 2;
            }
            printf("%s: %d rows added, %d already stored\n", argv[i], added, skipped);
            qb_rset_free(&s);
        }
        return 0;
    }
    if (strcmp(cmd, "show") && strcmp(cmd, "plot"))
        return qb_usage_error("history", "unknown command '%s' (add, show or plot)", cmd);
    for (int i = 3; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--model") && strcmp(o, "--metric") && strcmp(o, "-o"))
            return qb_usage_error("history", "%s: unknown option %s", cmd, o);
        if (i + 1 >= argc)
            return qb_usage_error("history", "%s: missing value", o);
        const char *v = argv[++i];
        if (!strcmp(o, "--model"))
            model = v;
        else if (!strcmp(o, "-o"))
            dir = v;
        else if (!strcmp(v, "latency"))
            metric = QB_HIST_LATENCY;
        else if (!strcmp(v, "instructions"))
            metric = QB_HIST_INSTRUCTIONS;
        else if (!strcmp(v, "drop"))
            metric = QB_HIST_DROP;
        else
            return qb_usage_error("history", "--metric: bad value '%s' (latency, instructions or drop)", v);
    }
    if (!strcmp(cmd, "plot")) {
        if (!dir)
            return qb_usage_error("history", "plot: -o DIR: missing");
        return trend_plot(db, dir, model, metric);
    }
    if (dir)
        return qb_usage_error("history", "show: -o is for plot");
    if (qb_history_show(db, model, metric, stdout, err, sizeof err)) {
        fprintf(stderr, "qbench history: %s\n", err);
        return 2;
    }
    return 0;
}
