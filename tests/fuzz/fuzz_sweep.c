/*
 * fuzz_sweep.c - libFuzzer target for the sweep harness's parsers: the
 * first byte picks one (scenario INI, results CSV, energy table,
 * cachegrind output), the rest is the file. Each must accept or refuse
 * with a message, never crash; an accepted results row must parse again.
 * Build and run: make fuzz-sweep (clang).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/measure/counters.h"
#include "harness/measure/energy.h"
#include "harness/report/results.h"
#include "harness/sweep/plan.h"
#include "harness/sweep/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int row_ok(void *ctx, const char *const *fields, int line)
{
    (void)ctx;
    (void)line;
    qb_result_row r;
    char err[300], id[600];
    if (qb_row_parse(fields, &r, err, sizeof err))
        abort(); /* the reader let a bad row through */
    qb_row_cell_id(&r, id, sizeof id);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] % 4;
    data++;
    size--;
    char err[1024];
    if (which == 0) {
        char *text = malloc(size + 1);
        if (!text)
            return 0;
        memcpy(text, data, size);
        text[size] = 0;
        static qb_scenario sc;
        if (qb_scenario_load_string(text, "fuzz.ini", &sc, err, sizeof err) == 0) {
            qb_plan p;
            if (qb_plan_build(&sc, &p) == 0)
                qb_plan_free(&p);
        }
        free(text);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/qb-fuzz-sweep-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    if (which == 1) {
        qb_results_read(path, row_ok, NULL, err, sizeof err);
    } else if (which == 2) {
        qb_energy_table t;
        qb_energy_load(path, &t, err, sizeof err);
    } else {
        qb_cg_totals t;
        qb_cachegrind_parse(path, &t, err, sizeof err);
    }
    unlink(path);
    return 0;
}
