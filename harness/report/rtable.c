/*
 * rtable.c - a CSV with a header, in memory, accessed by column name
 * (see rtable.h). Parsed by the report layer's one CSV read loop
 * (csvread.c: libcsv, strict quoting, messages name the line where a bad
 * row starts).
 */
#include "harness/report/rtable.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/io/readfile.h"
#include "harness/report/csvread.h"

/* Parser state: the record being collected and the table being built. */
typedef struct load_state {
    qb_rtable *t;      /* the table */
    qb_csv_pos pos;    /* line being parsed, line where the current record started */
    char **f;          /* fields of the current record */
    int nf, cap;       /* their count, allocated */
    int rows_cap;      /* rows allocated in t */
    int rc;            /* first error */
    char *err;         /* message buffer */
    size_t errlen;     /* its size */
} load_state;

static void on_field(void *s, size_t len, void *ctx)
{
    load_state *st = ctx;
    if (st->rc)
        return;
    if (st->nf == st->cap) {
        int nc = st->cap ? 2 * st->cap : 64;
        char **p = realloc(st->f, (size_t)nc * sizeof *p);
        if (!p) {
            snprintf(st->err, st->errlen, "%s: out of memory", st->t->path);
            st->rc = -1;
            return;
        }
        st->f = p;
        st->cap = nc;
    }
    st->f[st->nf++] = strndup(s ? s : "", s ? len : 0);
}

static void drop_fields(load_state *st)
{
    for (int i = 0; i < st->nf; i++)
        free(st->f[i]);
    st->nf = 0;
}

static void on_row(int c, void *ctx)
{
    (void)c;
    load_state *st = ctx;
    qb_rtable *t = st->t;
    st->pos.pending = 1;
    if (st->rc) {
        drop_fields(st);
        return;
    }
    if (!t->cols) { /* the header */
        for (int i = 0; i < st->nf; i++) {
            if (!st->f[i][0]) {
                snprintf(st->err, st->errlen, "%s:%d: header column %d has no name", t->path, st->pos.row_line, i + 1);
                st->rc = -1;
            }
            for (int j = 0; j < i && !st->rc; j++)
                if (!strcmp(st->f[i], st->f[j])) {
                    snprintf(st->err, st->errlen, "%s:%d: header names column '%.60s' twice", t->path, st->pos.row_line,
                             st->f[i]);
                    st->rc = -1;
                }
        }
        if (st->rc) {
            drop_fields(st);
            return;
        }
        t->cols = st->f;
        t->ncols = st->nf;
        st->f = NULL;
        st->nf = st->cap = 0;
        return;
    }
    if (st->nf != t->ncols) {
        snprintf(st->err, st->errlen, "%s:%d: %d fields, the header has %d", t->path, st->pos.row_line, st->nf, t->ncols);
        st->rc = -1;
        drop_fields(st);
        return;
    }
    if (t->nrows == st->rows_cap) {
        int nc = st->rows_cap ? 2 * st->rows_cap : 64;
        char ***p = realloc(t->cells, (size_t)nc * sizeof *p);
        int *l = realloc(t->lines, (size_t)nc * sizeof *l);
        if (p)
            t->cells = p;
        if (l)
            t->lines = l;
        if (!p || !l) {
            snprintf(st->err, st->errlen, "%s: out of memory", t->path);
            st->rc = -1;
            drop_fields(st);
            return;
        }
        st->rows_cap = nc;
    }
    t->cells[t->nrows] = st->f;
    t->lines[t->nrows] = st->pos.row_line;
    t->nrows++;
    st->f = NULL;
    st->nf = st->cap = 0;
}

int qb_rtable_load_stream(FILE *f, const char *name, qb_rtable *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", name);
    load_state st = {.t = t, .err = err, .errlen = errlen};
    qb_csv_parse(f, name, on_field, on_row, &st, &st.pos, &st.rc, err, errlen);
    if (!st.rc && !t->cols) {
        snprintf(err, errlen, "%s:1: empty file: no header row", name);
        st.rc = -1;
    }
    drop_fields(&st);
    free(st.f);
    if (st.rc)
        qb_rtable_free(t);
    return st.rc;
}

int qb_rtable_load(const char *path, qb_rtable *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    FILE *f = qb_open_read(path, NULL, err, errlen);
    if (!f)
        return -1;
    int rc = qb_rtable_load_stream(f, path, t, err, errlen);
    fclose(f);
    return rc;
}

void qb_rtable_free(qb_rtable *t)
{
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++)
            free(t->cells[r][c]);
        free(t->cells[r]);
    }
    for (int c = 0; c < t->ncols && t->cols; c++)
        free(t->cols[c]);
    free(t->cols);
    free(t->cells);
    free(t->lines);
    t->cols = NULL;
    t->cells = NULL;
    t->lines = NULL;
    t->ncols = t->nrows = 0;
}

int qb_rtable_col(const qb_rtable *t, const char *name)
{
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->cols[c], name))
            return c;
    return -1;
}

int qb_rtable_col_any(const qb_rtable *t, const char *const *names)
{
    for (; *names; names++) {
        int c = qb_rtable_col(t, *names);
        if (c >= 0)
            return c;
    }
    return -1;
}

const char *qb_rtable_str(const qb_rtable *t, int row, int col)
{
    return col < 0 ? "" : t->cells[row][col];
}

int qb_rtable_num(const qb_rtable *t, int row, int col, double *out, char *err, size_t errlen)
{
    *out = NAN;
    if (col < 0)
        return 0;
    const char *s = t->cells[row][col];
    if (!s[0])
        return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (end == s || *end || errno == ERANGE || !isfinite(v)) {
        snprintf(err, errlen, "%s:%d: column %s: '%.40s' is not a number", t->path, t->lines[row], t->cols[col], s);
        return -1;
    }
    *out = v;
    return 0;
}
