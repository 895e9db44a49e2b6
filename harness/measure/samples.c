/*
 * samples.c - the raw samples file of a sweep (samples.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness/measure/samples.h"

#define SAMPLES_HEADER "run_id,cell,sample,seconds_per_call,calls_per_sample,block\n"

int qb_sample_log_open(qb_sample_log *l, const char *path, char *err, size_t errlen)
{
    snprintf(l->path, sizeof l->path, "%s", path);
    l->f = fopen(path, "a+");
    if (!l->f) {
        snprintf(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
        return -1;
    }
    char head[sizeof SAMPLES_HEADER + 1] = "";
    rewind(l->f);
    size_t k = fread(head, 1, sizeof SAMPLES_HEADER - 1, l->f);
    head[k] = 0;
    if (k == 0) {
        if (fputs(SAMPLES_HEADER, l->f) < 0 || fflush(l->f)) {
            snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
            fclose(l->f);
            return -1;
        }
    } else if (strcmp(head, SAMPLES_HEADER)) {
        snprintf(err, errlen, "%s:1: not a qbench samples file (want the header %.*s)", path,
                 (int)sizeof SAMPLES_HEADER - 2, SAMPLES_HEADER);
        fclose(l->f);
        return -1;
    }
    return 0;
}

int qb_sample_log_write(qb_sample_log *l, const char *run_id, const char *cell, const qb_samples_kept *s, char *err,
                        size_t errlen)
{
    size_t block = 0, left = s->block_n ? s->block_n[0] : s->n;
    for (size_t i = 0; i < s->n; i++) {
        while (left == 0 && s->block_n && block + 1 < s->nblocks)
            left = s->block_n[++block];
        fprintf(l->f, "%s,%s,%zu,%.9g,%ld,%zu\n", run_id, cell, i, s->x[i], s->calls_per_sample, block);
        left -= left > 0;
    }
    if (fflush(l->f) || ferror(l->f)) {
        snprintf(err, errlen, "%s: write failed: %s", l->path, strerror(errno));
        return -1;
    }
    return 0;
}

int qb_samples_kept_add(qb_samples_kept *k, const double *x, size_t n)
{
    size_t nb = k->block_n ? k->nblocks : (k->x ? 1 : 0);
    double *nx = realloc(k->x, (k->n + n + 1) * sizeof *nx);
    if (!nx)
        return -1;
    k->x = nx;
    size_t *bn = realloc(k->block_n, (nb + 1) * sizeof *bn);
    if (!bn)
        return -1;
    if (!k->block_n && nb == 1)
        bn[0] = k->n;
    k->block_n = bn;
    memcpy(k->x + k->n, x, n * sizeof *x);
    k->n += n;
    k->block_n[nb] = n;
    k->nblocks = nb + 1;
    return 0;
}

void qb_samples_kept_free(qb_samples_kept *k)
{
    free(k->x);
    free(k->block_n);
    *k = (qb_samples_kept){0};
}

int qb_sample_log_close(qb_sample_log *l, char *err, size_t errlen)
{
    if (!l->f)
        return 0;
    int bad = ferror(l->f);
    if (fclose(l->f) || bad) {
        snprintf(err, errlen, "%s: write failed: %s", l->path, strerror(errno));
        l->f = NULL;
        return -1;
    }
    l->f = NULL;
    return 0;
}
