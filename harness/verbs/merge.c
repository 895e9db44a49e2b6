/*
 * merge.c - `qbench merge A.csv B.csv ... -o ALL.csv`: combine results
 * files of shards and machines into one. Every input is read and checked
 * first (header, field count, values: a bad input is exit 2 naming file
 * and line, and nothing is written); rows are copied unchanged (they keep
 * their host and run id), in input order. A row with the same run id
 * and cell as an earlier one (the same shard given twice, or already in
 * an existing ALL.csv) is reported on stderr and skipped. ALL.csv is
 * appended to when it exists (its header is checked), never truncated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/io/atomic.h"
#include "harness/report/results.h"

#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

/* duplicates listed one per line before the rest are only counted */
#define QB_MERGE_DUPS_SHOWN 10

/* A usage error: the message, then the synopsis from the verb table. */
static int usage(const char *msg, const char *arg)
{
    return qb_usage_error("merge", msg, arg);
}

/* One row kept for writing. */
typedef struct mrow {
    char **f;          /* QB_NCOLS fields */
    const char *file;  /* where it came from */
    int line;          /* line there */
    int skip;          /* duplicate: not written */
    int out;           /* already in the output file */
} mrow;

typedef struct mstate {
    mrow *rows;        /* every row read */
    int n, cap;        /* count, allocated */
    const char *file;  /* file being read */
    int out;           /* reading the existing output */
} mstate;

static int take(void *ctx, const char *const *fields, int line)
{
    mstate *s = ctx;
    if (s->n == s->cap) {
        int nc = s->cap ? 2 * s->cap : 256;
        mrow *p = realloc(s->rows, (size_t)nc * sizeof *p);
        if (!p)
            return 1;
        s->rows = p;
        s->cap = nc;
    }
    mrow *r = &s->rows[s->n];
    r->f = malloc(QB_NCOLS * sizeof *r->f);
    if (!r->f)
        return 1;
    for (int i = 0; i < QB_NCOLS; i++)
        r->f[i] = strdup(fields[i]);
    r->file = s->file;
    r->line = line;
    r->skip = 0;
    r->out = s->out;
    s->n++;
    return 0;
}

/* Key of a row: run id and cell id. */
static void key_of(const mrow *r, char *buf, size_t len)
{
    qb_result_row row;
    char err[8], id[600];
    qb_row_parse((const char *const *)r->f, &row, err, sizeof err); /* already checked */
    qb_row_cell_id(&row, id, sizeof id);
    snprintf(buf, len, "%s\n%s", row.run_id, id);
}

typedef struct keyed {
    char *key; /* run id + cell id */
    int row;   /* index in rows */
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

int qb_verb_merge(int argc, char **argv)
{
    const char *out = NULL;
    const char **in = calloc((size_t)argc, sizeof *in);
    int nin = 0, rc = 2;
    if (!in)
        return 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o")) {
            if (i + 1 >= argc) {
                free(in);
                return usage("missing value after %s", "-o");
            }
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            free(in);
            return usage("unknown option %s", argv[i]);
        } else {
            in[nin++] = argv[i];
        }
    }
    if (!out || !nin) {
        free(in);
        return usage(!out ? "missing -o ALL.csv%s" : "no input files%s", "");
    }
    struct stat so, si;
    int out_exists = stat(out, &so) == 0;
    for (int i = 0; i < nin; i++)
        if (out_exists && stat(in[i], &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
            free(in);
            return usage("the output %s is also an input", out);
        }
    mstate s = {0};
    char err[1200];
    /* the existing output first: its rows count for duplicates */
    if (out_exists && so.st_size > 0) {
        s.file = out;
        s.out = 1;
        int r = qb_results_read(out, take, &s, err, sizeof err);
        if (r) {
            fprintf(stderr, "qbench merge: %s\n", r > 0 ? "out of memory" : err);
            goto done;
        }
    }
    s.out = 0;
    for (int i = 0; i < nin; i++) {
        s.file = in[i];
        int r = qb_results_read(in[i], take, &s, err, sizeof err);
        if (r) {
            fprintf(stderr, "qbench merge: %s\n", r > 0 ? "out of memory" : err);
            goto done;
        }
    }
    /* duplicates: sort (key, index), the first of each key wins */
    keyed *k = malloc((size_t)(s.n ? s.n : 1) * sizeof *k);
    if (!k) {
        fprintf(stderr, "qbench merge: out of memory\n");
        goto done;
    }
    for (int i = 0; i < s.n; i++) {
        char buf[800];
        key_of(&s.rows[i], buf, sizeof buf);
        k[i].key = strdup(buf);
        k[i].row = i;
    }
    qsort(k, (size_t)s.n, sizeof *k, cmp_keyed);
    int dups = 0;
    for (int i = 1; i < s.n; i++)
        if (!strcmp(k[i].key, k[i - 1].key)) {
            int first = i - 1;
            while (first > 0 && !strcmp(k[first - 1].key, k[i].key))
                first--;
            mrow *a = &s.rows[k[first].row], *b = &s.rows[k[i].row];
            b->skip = 1;
            dups++;
            char *nl = strchr(k[i].key, '\n');
            if (dups <= QB_MERGE_DUPS_SHOWN)
                fprintf(stderr, "qbench merge: %s:%d: duplicate of %s:%d (run %.*s, cell %s): skipped\n", b->file,
                        b->line, a->file, a->line, (int)(nl - k[i].key), k[i].key, nl + 1);
        }
    for (int i = 0; i < s.n; i++)
        free(k[i].key);
    free(k);
    /* the whole output (its existing rows first) goes to a temporary file
     * renamed over ALL.csv at the end: complete or absent, one fsync */
    qb_atomic a;
    if (qb_atomic_open(&a, out, err, sizeof err)) {
        fprintf(stderr, "qbench merge: %s\n", err);
        goto done;
    }
    qb_results_print(a.f, qb_result_columns);
    int written = 0;
    for (int pass = 1; pass >= 0; pass--) /* pass 1: rows already in the output; pass 0: new rows */
        for (int i = 0; i < s.n; i++)
            if (!s.rows[i].skip && s.rows[i].out == pass) {
                qb_results_print(a.f, (const char *const *)s.rows[i].f);
                written += !pass;
            }
    if (qb_atomic_commit(&a, err, sizeof err)) {
        fprintf(stderr, "qbench merge: %s\n", err);
        goto done;
    }
    rc = 0;
    fprintf(stderr, "qbench merge: %d rows from %d file%s into %s%s", written, nin, nin > 1 ? "s" : "", out,
            out_exists ? " (appended)" : "");
    if (dups)
        fprintf(stderr, ", %d duplicate%s skipped%s", dups, dups > 1 ? "s" : "",
                dups > QB_MERGE_DUPS_SHOWN ? " (the first ones listed above)" : "");
    fprintf(stderr, "\n");
done:
    for (int i = 0; i < s.n; i++) {
        for (int j = 0; j < QB_NCOLS; j++)
            free(s.rows[i].f[j]);
        free(s.rows[i].f);
    }
    free(s.rows);
    free(in);
    return rc;
}
