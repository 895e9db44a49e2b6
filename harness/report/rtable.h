/*
 * rtable.h - any CSV with a header row, read with libcsv into memory and
 * accessed by column NAME: the reporting verbs' view of a results CSV
 * (whatever its schema version: columns a file lacks read as "not
 * measured") and of `qbench gemm --csv` / `make bench` kernel tables.
 * Bad input names file, line and column.
 */
#ifndef QB_RTABLE_H
#define QB_RTABLE_H

#include <stddef.h>
#include <stdio.h>

typedef struct qb_rtable {
    char path[512];  /* the file (messages) */
    int ncols;       /* columns of the header */
    char **cols;     /* their names */
    int nrows;       /* data rows */
    char ***cells;   /* cells[row][col]: the text of each field */
    int *lines;      /* line where each row starts (messages) */
} qb_rtable;

/* Read path: a header row, then rows with exactly as many fields.
 * 0, or -1 with "FILE:LINE: message" in err (t is then empty). */
int qb_rtable_load(const char *path, qb_rtable *t, char *err, size_t errlen);
/* The same from an open stream (read to its end, not closed); name is
 * used in messages and kept in t->path. */
int qb_rtable_load_stream(FILE *f, const char *name, qb_rtable *t, char *err, size_t errlen);
void qb_rtable_free(qb_rtable *t);

/* Index of the column named name, or -1. */
int qb_rtable_col(const qb_rtable *t, const char *name);
/* Index of the first of the names (a NULL-terminated list) present, or -1. */
int qb_rtable_col_any(const qb_rtable *t, const char *const *names);
/* Text of a field ("" when col < 0). */
const char *qb_rtable_str(const qb_rtable *t, int row, int col);
/* Number of a field: NAN when col < 0 or the field is empty; 0, or -1
 * with "FILE:LINE: column NAME: 'TEXT' is not a number" in err. */
int qb_rtable_num(const qb_rtable *t, int row, int col, double *out, char *err, size_t errlen);

#endif
