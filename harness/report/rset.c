/*
 * rset.c - results rows by column name for the reporting verbs (see
 * rset.h). One table maps each field of qb_rrow to the column names that
 * may hold it (the first present wins), so a new schema needs one line.
 */
#include "harness/report/rset.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a field of qb_rrow comes from. */
typedef struct field_src {
    size_t off;              /* offsetof(qb_rrow, field) */
    int number;              /* 1: double, 0: text */
    int required;            /* the file must have the column */
    const char *names[4];    /* column names, first present wins (NULL-terminated) */
} field_src;

#define TXT(f, req, ...) {offsetof(qb_rrow, f), 0, req, {__VA_ARGS__, NULL}}
#define NUM(f, ...) {offsetof(qb_rrow, f), 1, 0, {__VA_ARGS__, NULL}}

static const field_src fields[] = {
    TXT(model, 1, "model"),
    TXT(precision, 1, "precision"),
    TXT(method, 1, "method"),
    TXT(isa, 1, "isa"),
    TXT(status, 1, "status"),
    TXT(host, 0, "host"),
    TXT(cpu, 0, "cpu"),
    TXT(isa_flags, 0, "isa_flags"),
    TXT(git_sha, 0, "git_sha"),
    TXT(timestamp, 0, "timestamp"),
    TXT(dataset, 0, "dataset"),
    TXT(note, 0, "note"),
    TXT(output_hash, 0, "output_hash"),
    NUM(threads, "threads"),
    NUM(batch, "batch"),
    NUM(lat_median, "latency_ms_median"),
    NUM(lat_ci_low, "latency_ms_median_ci_low", "latency_median_ci_low_ms", "latency_ms_ci_low"),
    NUM(lat_ci_high, "latency_ms_median_ci_high", "latency_median_ci_high_ms", "latency_ms_ci_high"),
    NUM(lat_p5, "latency_ms_p5"),
    NUM(lat_p95, "latency_ms_p95"),
    NUM(lat_cv, "latency_robust_cv", "latency_cv_robust", "latency_cv"),
    NUM(cycles, "cycles"),
    NUM(instructions, "instructions"),
    NUM(l1d_misses, "l1d_misses"),
    NUM(l2_misses, "l2_misses"),
    NUM(llc_misses, "llc_misses"),
    NUM(energy_model_mj, "energy_mj_model"),
    NUM(energy_meas_mj, "energy_mj_measured"),
    NUM(macs, "macs"),
    NUM(weight_bytes, "weight_bytes"),
    NUM(top1, "top1_accuracy"),
    NUM(fp32_top1, "fp32_top1_accuracy"),
    NUM(drop, "accuracy_drop_pt"),
    NUM(drop_ci_low, "accuracy_drop_ci_low"),
    NUM(drop_ci_high, "accuracy_drop_ci_high"),
    NUM(sqnr_db, "sqnr_db"),
    NUM(agreement, "top1_agreement"),
    NUM(kernel_ms, "kernel_ms", "latency_ms_kernels"),
    NUM(outside_ms, "outside_kernels_ms", "latency_ms_outside_kernels"),
    NUM(qat_seconds, "qat_seconds"),
};
#define NFIELDS (int)(sizeof fields / sizeof fields[0])

/* The note's "QAT fine-tuning 12.3 s", or NAN. */
static double note_qat_seconds(const char *note)
{
    const char *p = strstr(note, "QAT fine-tuning ");
    double v;
    if (p && sscanf(p + 16, "%lf", &v) == 1 && isfinite(v))
        return v;
    return NAN;
}

/* qb_rset_add from path, or from stream (then path names it) when that is not NULL. */
static int add(qb_rset *s, const char *path, FILE *stream, char *err, size_t errlen)
{
    qb_rtable *tabs = realloc(s->tables, (size_t)(s->ntables + 1) * sizeof *tabs);
    if (!tabs) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    s->tables = tabs;
    qb_rtable *t = &s->tables[s->ntables];
    if (stream ? qb_rtable_load_stream(stream, path, t, err, errlen) : qb_rtable_load(path, t, err, errlen))
        return -1;
    int col[NFIELDS];
    for (int f = 0; f < NFIELDS; f++) {
        col[f] = qb_rtable_col_any(t, fields[f].names);
        if (col[f] < 0 && fields[f].required) {
            snprintf(err, errlen, "%s:%d: not a results file: no column '%s'", path, 1, fields[f].names[0]);
            qb_rtable_free(t);
            return -1;
        }
    }
    qb_rrow *rows = realloc(s->rows, (size_t)(s->n + t->nrows) * sizeof *rows);
    if (!rows && t->nrows) {
        snprintf(err, errlen, "%s: out of memory", path);
        qb_rtable_free(t);
        return -1;
    }
    s->rows = rows;
    for (int r = 0; r < t->nrows; r++) {
        qb_rrow *row = &s->rows[s->n + r];
        row->file = t->path;
        row->line = t->lines[r];
        for (int f = 0; f < NFIELDS; f++) {
            char *dst = (char *)row + fields[f].off;
            if (!fields[f].number) {
                if (col[f] >= 0) { /* trailing blanks (CPU model strings are padded) */
                    char *v = t->cells[r][col[f]];
                    size_t l = strlen(v);
                    while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
                        v[--l] = 0;
                }
                *(const char **)dst = qb_rtable_str(t, r, col[f]);
            } else if (qb_rtable_num(t, r, col[f], (double *)dst, err, errlen)) {
                qb_rtable_free(t);
                return -1;
            }
        }
        if (isnan(row->threads))
            row->threads = 1;
        if (isnan(row->batch))
            row->batch = 1;
        if (isnan(row->qat_seconds))
            row->qat_seconds = note_qat_seconds(row->note);
        if (!row->model[0] || !row->precision[0] || !row->isa[0]) {
            snprintf(err, errlen, "%s:%d: column %s: empty", path, row->line,
                     !row->model[0] ? "model" : !row->precision[0] ? "precision" : "isa");
            qb_rtable_free(t);
            return -1;
        }
    }
    s->n += t->nrows;
    s->ntables++;
    return 0;
}

int qb_rset_add(qb_rset *s, const char *path, char *err, size_t errlen)
{
    return add(s, path, NULL, err, errlen);
}

int qb_rset_add_stream(qb_rset *s, FILE *f, const char *name, char *err, size_t errlen)
{
    return add(s, name, f, err, errlen);
}

void qb_rset_free(qb_rset *s)
{
    for (int i = 0; i < s->ntables; i++)
        qb_rtable_free(&s->tables[i]);
    free(s->tables);
    free(s->rows);
    memset(s, 0, sizeof *s);
}

void qb_rrow_key(const qb_rrow *r, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s/%s/%s/t%.0f/b%.0f", r->model, r->precision, r->method, r->isa, r->threads, r->batch);
}

int qb_rrow_measured(const qb_rrow *r)
{
    return !strcmp(r->status, "ok") || !strcmp(r->status, "noisy");
}

const qb_rrow *qb_rset_find(const qb_rset *s, const char *key)
{
    char k[700];
    for (int i = s->n - 1; i >= 0; i--) {
        qb_rrow_key(&s->rows[i], k, sizeof k);
        if (!strcmp(k, key))
            return &s->rows[i];
    }
    return NULL;
}

int qb_rset_latest(const qb_rset *s, int *idx)
{
    int n = 0;
    char a[700], b[700];
    for (int i = 0; i < s->n; i++) {
        qb_rrow_key(&s->rows[i], a, sizeof a);
        int later = 0;
        for (int j = i + 1; j < s->n && !later; j++) {
            qb_rrow_key(&s->rows[j], b, sizeof b);
            later = !strcmp(a, b);
        }
        if (!later)
            idx[n++] = i;
    }
    return n;
}

const qb_rrow *qb_rset_fp32(const qb_rset *s, const qb_rrow *r)
{
    for (int i = s->n - 1; i >= 0; i--) {
        const qb_rrow *b = &s->rows[i];
        if (!strcmp(b->precision, "fp32") && !strcmp(b->model, r->model) && !strcmp(b->isa, r->isa) &&
            b->threads == r->threads && b->batch == r->batch && qb_rrow_measured(b) && !isnan(b->lat_median))
            return b;
    }
    return NULL;
}

static const char *const precision_order[] = {"fp32", "fp16", "int8-tensor", "int8-channel", "int4", "binary", "mixed"};

int qb_precision_rank(const char *precision)
{
    for (int i = 0; i < (int)(sizeof precision_order / sizeof *precision_order); i++)
        if (!strcmp(precision, precision_order[i]))
            return i;
    return 99;
}

int qb_precision_is_integer(const char *p)
{
    return !strncmp(p, "int", 3) || !strcmp(p, "binary") || !strcmp(p, "mixed");
}

const char *qb_rrow_whiskers(const qb_rrow *r, double *lo, double *hi)
{
    if (!isnan(r->lat_ci_low) && !isnan(r->lat_ci_high)) {
        *lo = r->lat_ci_low;
        *hi = r->lat_ci_high;
        return "95% CI of the median";
    }
    if (!isnan(r->lat_p5) && !isnan(r->lat_p95)) {
        *lo = r->lat_p5;
        *hi = r->lat_p95;
        return "p5-p95";
    }
    *lo = *hi = NAN;
    return "";
}

static int isa_rank(const char *isa)
{
    static const char *const order[] = {"scalar", "avx2", "vnni", "neon"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(isa, order[i]))
            return i;
    return 9;
}

static int row_cmp(const qb_rrow *x, const qb_rrow *y)
{
    int c = strcmp(x->model, y->model);
    if (!c)
        c = qb_precision_rank(x->precision) - qb_precision_rank(y->precision);
    if (!c)
        c = strcmp(x->precision, y->precision);
    if (!c)
        c = strcmp(x->method, y->method);
    if (!c)
        c = isa_rank(x->isa) - isa_rank(y->isa);
    if (!c)
        c = (x->threads > y->threads) - (x->threads < y->threads);
    if (!c)
        c = (x->batch > y->batch) - (x->batch < y->batch);
    return c;
}

void qb_rset_sort(const qb_rset *s, int *idx, int n)
{
    for (int i = 1; i < n; i++) { /* insertion sort: stable, n is small */
        int v = idx[i], j = i;
        while (j > 0 && row_cmp(&s->rows[idx[j - 1]], &s->rows[v]) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}
