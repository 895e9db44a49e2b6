/*
 * csvread.h - the one CSV read loop of the report layer (results.c reads
 * results files with it, rtable.c any CSV with a header): a file opened
 * for reading with a clear message for a directory, then parsed with
 * libcsv (strict quoting) line by line, so that messages name the line
 * where a bad record starts; a NUL byte means "not a text CSV file".
 */
#ifndef QB_CSVREAD_H
#define QB_CSVREAD_H

#include <stddef.h>
#include <stdio.h>

/* Where the parser is; kept current for the callbacks' messages. */
typedef struct qb_csv_pos {
    int line;     /* physical line being parsed (1-based) */
    int row_line; /* line where the current record started */
    int pending;  /* the next non-empty line starts a record (internal) */
} qb_csv_pos;


/* Parse f to its end with libcsv, calling on_field and on_row (libcsv's
 * callbacks) with ctx; pos (zeroed by the caller) tells them the lines.
 * *rc is the callbacks' status: parsing stops once it is nonzero (their
 * message already in err). Sets *rc to -1 with "PATH:LINE: ..." in err
 * for a NUL byte, malformed CSV or an unterminated quoted field. Returns
 * *rc. The caller checks what the file must hold (a header ...). */
int qb_csv_parse(FILE *f, const char *path, void (*on_field)(void *, size_t, void *), void (*on_row)(int, void *),
                 void *ctx, qb_csv_pos *pos, int *rc, char *err, size_t errlen);

#endif
