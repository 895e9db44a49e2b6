/*
 * rounds.c - the journal of a sweep timed in rounds (rounds.h): what a
 * killed sweep keeps of the cells whose rows were not written yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/sweep/plan.h"
#include "harness/sweep/rounds.h"

/* One cell found in the journal. */
struct qb_rounds_saved {
    char id[QB_CELL_ID];   /* cell id */
    int has_row;           /* its first round's row was read */
    qb_result_row row;     /* that row */
    qb_samples_kept kept;  /* its rounds, blocks 0 .. k-1 in order */
    int taken;             /* handed out by qb_rounds_take */
};

static qb_rounds_saved *saved_of(qb_rounds_journal *j, const char *id, int add)
{
    for (int i = 0; i < j->nsaved; i++)
        if (!strcmp(j->saved[i].id, id))
            return &j->saved[i];
    if (!add)
        return NULL;
    qb_rounds_saved *s = realloc(j->saved, (size_t)(j->nsaved + 1) * sizeof *s);
    if (!s)
        return NULL;
    j->saved = s;
    s = &j->saved[j->nsaved++];
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    return s;
}

/* qb_results_read callback: keep each pending row (the last one of a cell). */
static int on_row(void *ctx, const char *const *fields, int line)
{
    (void)line;
    qb_rounds_journal *j = ctx;
    qb_result_row r;
    char err[300], id[QB_CELL_ID];
    if (qb_row_parse(fields, &r, err, sizeof err))
        return 0; /* not a row this journal wrote: ignored */
    qb_row_cell_id(&r, id, sizeof id);
    qb_rounds_saved *s = saved_of(j, id, 1);
    if (!s)
        return -1;
    s->row = r;
    s->has_row = 1;
    return 0;
}

/* One complete line of the samples journal; malformed lines (a record
 * cut off by the kill) are skipped, so is a block out of order. */
static int on_samples_line(qb_rounds_journal *j, char *line)
{
    char *f[7], *save = NULL;
    int nf = 0;
    for (char *t = strtok_r(line, "\t", &save); t && nf < 7; t = strtok_r(NULL, "\t", &save))
        f[nf++] = t;
    if (nf != 7 || strlen(f[0]) >= QB_CELL_ID)
        return 0;
    char *end;
    size_t block = strtoul(f[1], &end, 10);
    long calls = strtol(f[2], &end, 10);
    int batch = (int)strtol(f[3], &end, 10);
    uint64_t hash = strtoull(f[4], &end, 16);
    size_t n = strtoul(f[5], &end, 10);
    if (n == 0 || n > (1u << 28))
        return 0;
    double *x = malloc(n * sizeof *x);
    if (!x)
        return -1;
    char *p = f[6];
    size_t k = 0;
    for (; k < n; k++) {
        x[k] = strtod(p, &end);
        if (end == p || !(x[k] >= 0))
            break;
        p = end;
    }
    while (*p == ' ')
        p++;
    qb_rounds_saved *s = k == n && !*p ? saved_of(j, f[0], 1) : NULL;
    int rc = 0;
    if (s && s->kept.nblocks == block && (block == 0 || s->kept.x)) {
        if (block == 0) {
            s->kept.calls_per_sample = calls;
            s->kept.batch = batch;
            s->kept.inputs_hash = hash;
        }
        if (qb_samples_kept_add(&s->kept, x, n))
            rc = -1;
    } else if (!s && k == n && !*p) {
        rc = -1; /* out of memory */
    }
    free(x);
    return rc;
}

static int read_samples(qb_rounds_journal *j, char *err, size_t errlen)
{
    FILE *f = fopen(j->samples_path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: cannot read: %s", j->samples_path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (!rc && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n')
            break; /* the last record, cut off */
        line[len - 1] = 0;
        if (on_samples_line(j, line)) {
            snprintf(err, errlen, "%s: out of memory", j->samples_path);
            rc = -1;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

int qb_rounds_open(qb_rounds_journal *j, const char *dir, int resume, char *err, size_t errlen)
{
    memset(j, 0, sizeof *j);
    j->fd = -1;
    snprintf(j->rows_path, sizeof j->rows_path, "%s/rounds-pending.csv", dir);
    snprintf(j->samples_path, sizeof j->samples_path, "%s/rounds-pending.samples", dir);
    if (!resume)
        return qb_rounds_clear(j, err, errlen);
    if (access(j->rows_path, F_OK) == 0) {
        /* opening first cuts a row the kill left without its newline */
        if (qb_results_open(j->rows_path, &j->rows, err, errlen))
            return -1;
        j->rows_open = 1;
        if (qb_results_read(j->rows_path, on_row, j, err, errlen)) {
            qb_rounds_close(j);
            return -1;
        }
    }
    if (read_samples(j, err, errlen)) {
        qb_rounds_close(j);
        return -1;
    }
    return 0;
}

int qb_rounds_take(qb_rounds_journal *j, const char *cell, qb_result_row *row, qb_samples_kept *kept)
{
    qb_rounds_saved *s = saved_of(j, cell, 0);
    if (!s || s->taken || !s->has_row || !strcmp(s->row.status, "failed"))
        return 0;
    /* a row that was timed needs its first round's samples */
    if (!s->kept.x && (!strcmp(s->row.status, "ok") || !strcmp(s->row.status, "noisy")))
        return 0;
    s->taken = 1;
    *row = s->row;
    *kept = s->kept;
    s->kept = (qb_samples_kept){0};
    return 1;
}

/* Append one round line (block b of kept) with a single write and fsync. */
static int write_block(qb_rounds_journal *j, const char *cell, const qb_samples_kept *kept, size_t b, char *err,
                       size_t errlen)
{
    size_t at = 0, nb = kept->block_n ? kept->nblocks : 1;
    if (b >= nb)
        return 0;
    for (size_t i = 0; i < b; i++)
        at += kept->block_n[i];
    size_t n = kept->block_n ? kept->block_n[b] : kept->n;
    if (n == 0)
        return 0;
    size_t cap = strlen(cell) + 128 + n * 26;
    char *buf = malloc(cap);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", j->samples_path);
        return -1;
    }
    size_t len = (size_t)snprintf(buf, cap, "%s\t%zu\t%ld\t%d\t%016" PRIx64 "\t%zu\t", cell, b, kept->calls_per_sample,
                                  kept->batch, kept->inputs_hash, n);
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%.17g", i ? " " : "", kept->x[at + i]);
    if (len + 1 >= cap) {
        free(buf);
        snprintf(err, errlen, "%s: record too long", j->samples_path);
        return -1;
    }
    buf[len++] = '\n';
    if (j->fd < 0)
        j->fd = open(j->samples_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ssize_t w = j->fd < 0 ? -1 : write(j->fd, buf, len);
    free(buf);
    if (w != (ssize_t)len || fsync(j->fd)) {
        snprintf(err, errlen, "%s: write failed: %s", j->samples_path, strerror(errno));
        return -1;
    }
    return 0;
}

int qb_rounds_first(qb_rounds_journal *j, const char *cell, const qb_result_row *row, const qb_samples_kept *kept,
                    char *err, size_t errlen)
{
    if (!j->rows_open) {
        if (qb_results_open(j->rows_path, &j->rows, err, errlen))
            return -1;
        j->rows_open = 1;
    }
    /* the samples first: a row in the journal always has its round 1 */
    if (kept && kept->x && write_block(j, cell, kept, 0, err, errlen))
        return -1;
    return qb_results_write(&j->rows, row, err, errlen);
}

int qb_rounds_more(qb_rounds_journal *j, const char *cell, const qb_samples_kept *kept, char *err, size_t errlen)
{
    size_t nb = kept->block_n ? kept->nblocks : (kept->x ? 1 : 0);
    return nb ? write_block(j, cell, kept, nb - 1, err, errlen) : 0;
}

int qb_rounds_clear(qb_rounds_journal *j, char *err, size_t errlen)
{
    if (j->rows_open) {
        qb_results_close(&j->rows);
        j->rows_open = 0;
    }
    if (j->fd >= 0) {
        close(j->fd);
        j->fd = -1;
    }
    const char *paths[2] = {j->rows_path, j->samples_path};
    for (int i = 0; i < 2; i++)
        if (unlink(paths[i]) && errno != ENOENT) {
            snprintf(err, errlen, "%s: cannot remove: %s", paths[i], strerror(errno));
            return -1;
        }
    return 0;
}

void qb_rounds_close(qb_rounds_journal *j)
{
    if (j->rows_open)
        qb_results_close(&j->rows);
    j->rows_open = 0;
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    for (int i = 0; i < j->nsaved; i++)
        qb_samples_kept_free(&j->saved[i].kept);
    free(j->saved);
    j->saved = NULL;
    j->nsaved = 0;
}
