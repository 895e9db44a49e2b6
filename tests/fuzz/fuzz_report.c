/*
 * fuzz_report.c - libFuzzer target for the inputs of the reporting verbs
 * (plot, report, compare, advise, history): the first byte picks the
 * reader, the rest is the file.
 *   0  a results CSV read by column name (rset.c), then the regression
 *      gate against itself, the advice, and `history add` of its rows
 *      into an in-memory SQLite store
 *   1  a saved `qbench run --profile` output (textin.c)
 *   2  a saved `qbench eval --per-layer` output (textin.c)
 *   3  any CSV by column name (rtable.c: the `--kernels` files), every
 *      cell read as a number
 *   4  a history store (an SQLite file): show, trend and the best and
 *      last baselines
 * Each must accept or refuse with a message, never crash.
 * Build and run: make fuzz-report (clang).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/report/advise.h"
#include "harness/report/gate.h"
#include "harness/report/history.h"
#include "harness/report/rset.h"
#include "harness/report/rtable.h"
#include "harness/report/textin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    return f;
}

static void results(const char *path)
{
    char err[1024];
    qb_rset s = {0};
    if (qb_rset_add(&s, path, err, sizeof err) == 0) {
        qb_gate_opts o;
        qb_gate_defaults(&o);
        qb_gate_result res;
        qb_gate_run(&s, &s, &o, devnull(), &res);
        qb_advise_print(devnull(), &s, NULL, 0, 1.0, 0);
        int added = 0, skipped = 0;
        qb_history_add(":memory:", &s, path, &added, &skipped, err, sizeof err);
    }
    qb_rset_free(&s);
}

static void history(const char *path)
{
    char err[1024], spec[128];
    int nkeys = 0;
    qb_history_show(path, NULL, QB_HIST_LATENCY, devnull(), err, sizeof err);
    qb_history_trend(path, NULL, QB_HIST_DROP, devnull(), &nkeys, err, sizeof err);
    const char *const kinds[] = {"best", "last"};
    for (int k = 0; k < 2; k++) {
        snprintf(spec, sizeof spec, "%s:%s", path, kinds[k]);
        qb_rset s = {0};
        qb_history_baseline(spec, &s, err, sizeof err);
        qb_rset_free(&s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] % 5;
    data++;
    size--;
    char path[64], spec[96], err[1024];
    snprintf(path, sizeof path, "/tmp/qb-fuzz-report-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    if (which == 0) {
        results(path);
    } else if (which == 1) {
        qb_profile p;
        snprintf(spec, sizeof spec, "net/int8-channel=%s", path);
        qb_profile_load(spec, &p, err, sizeof err);
    } else if (which == 2) {
        static qb_layers l;
        qb_layers_load(path, &l, err, sizeof err);
    } else if (which == 3) {
        qb_rtable t;
        if (qb_rtable_load(path, &t, err, sizeof err) == 0) {
            for (int r = 0; r < t.nrows; r++)
                for (int c = 0; c < t.ncols; c++) {
                    double v;
                    qb_rtable_num(&t, r, c, &v, err, sizeof err);
                    (void)qb_rtable_str(&t, r, c);
                }
            qb_rtable_free(&t);
        }
    } else {
        history(path);
    }
    unlink(path);
    return 0;
}
