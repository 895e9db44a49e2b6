/*
 * probe.c - the machine-speed probe of a round and its log (probe.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/dataset.h"
#include "harness/measure/loop.h"
#include "harness/measure/probe.h"
#include "harness/measure/timer.h"

#define QB_PROBE_HEADER "run_id,cell,round,cpu,alu_ns,chase_ns"

int qb_prober_open(qb_prober *p, const char *path, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->lines = QB_PROBE_CHASE_BYTES / (QB_PROBE_LINE_WORDS * sizeof *p->next);
    p->next = calloc(p->lines * QB_PROBE_LINE_WORDS, sizeof *p->next);
    uint32_t *order = malloc(p->lines * sizeof *order);
    if (!p->next || !order) {
        free(order);
        free(p->next);
        p->next = NULL;
        snprintf(err, errlen, "probe: out of memory");
        return -1;
    }
    /* Sattolo: a uniformly random permutation that is one cycle */
    uint64_t seed = 0x9b05688c2b3e6c1full;
    for (size_t i = 0; i < p->lines; i++)
        order[i] = (uint32_t)i;
    for (size_t i = p->lines - 1; i > 0; i--) {
        size_t j = (size_t)(qb_rng_next(&seed) % i);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < p->lines; i++)
        p->next[i * QB_PROBE_LINE_WORDS] = order[i];
    free(order);
    if (!path)
        return 0;
    snprintf(p->path, sizeof p->path, "%s", path);
    p->f = fopen(path, "a+");
    if (!p->f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        qb_prober_close(p, NULL, 0);
        return -1;
    }
    char line[128] = "";
    rewind(p->f);
    if (!fgets(line, sizeof line, p->f)) {
        fprintf(p->f, "%s\n", QB_PROBE_HEADER);
    } else if (strncmp(line, QB_PROBE_HEADER "\n", sizeof QB_PROBE_HEADER)) {
        snprintf(err, errlen, "%s: not a probes file (its first line is not '%s')", path, QB_PROBE_HEADER);
        qb_prober_close(p, NULL, 0);
        return -1;
    }
    fseek(p->f, 0, SEEK_END);
    return 0;
}

size_t qb_probe_chase(const qb_prober *p, size_t steps)
{
    size_t i = 0;
    for (size_t s = 0; s < steps; s++)
        i = p->next[i * QB_PROBE_LINE_WORDS];
    return i;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void qb_probe_time(qb_prober *p, qb_probe *out)
{
    double alu[QB_PROBE_REPS], chase[QB_PROBE_REPS];
    volatile size_t sink = 0;
    for (int r = 0; r < QB_PROBE_REPS; r++) {
        double t0 = qb_now();
        qb_spin_work(NULL, r);
        double t1 = qb_now();
        sink = sink + qb_probe_chase(p, p->lines);
        double t2 = qb_now();
        alu[r] = t1 - t0;
        chase[r] = t2 - t1;
    }
    (void)sink;
    qsort(alu, QB_PROBE_REPS, sizeof *alu, cmp_d);
    qsort(chase, QB_PROBE_REPS, sizeof *chase, cmp_d);
    out->alu_s = alu[QB_PROBE_REPS / 2];
    out->chase_s = chase[QB_PROBE_REPS / 2];
    out->cpu = sched_getcpu();
}

int qb_probe_log(qb_prober *p, const char *run_id, const char *cell, int round, const qb_probe *pr, char *err,
                 size_t errlen)
{
    if (!p->f)
        return 0;
    fprintf(p->f, "%s,%s,%d,%d,%.1f,%.1f\n", run_id, cell, round, pr->cpu, pr->alu_s * 1e9, pr->chase_s * 1e9);
    if (fflush(p->f) || ferror(p->f)) {
        snprintf(err, errlen, "%s: write failed: %s", p->path, strerror(errno));
        return -1;
    }
    return 0;
}

int qb_prober_close(qb_prober *p, char *err, size_t errlen)
{
    int rc = 0;
    if (p->f) {
        int bad = ferror(p->f);
        if ((fclose(p->f) || bad) && err) {
            snprintf(err, errlen, "%s: write failed: %s", p->path, strerror(errno));
            rc = -1;
        }
    }
    free(p->next);
    memset(p, 0, sizeof *p);
    return rc;
}
