/*
 * csvread.c - the CSV read loop shared by the results reader and the
 * table loader (see csvread.h).
 */
#include "harness/report/csvread.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

int qb_csv_parse(FILE *f, const char *path, void (*on_field)(void *, size_t, void *), void (*on_row)(int, void *),
                 void *ctx, qb_csv_pos *pos, int *rc, char *err, size_t errlen)
{
    struct csv_parser p;
    csv_init(&p, CSV_STRICT | CSV_APPEND_NULL | CSV_STRICT_FINI);
    char *line = NULL;
    size_t cap = 0;
    ssize_t k;
    pos->pending = 1;
    while (!*rc && (k = getline(&line, &cap, f)) > 0) {
        pos->line++;
        if (pos->pending && !(k == 1 && line[0] == '\n') && !(k == 2 && line[0] == '\r')) {
            pos->row_line = pos->line;
            pos->pending = 0;
        }
        if (memchr(line, 0, (size_t)k)) {
            snprintf(err, errlen, "%s:%d: NUL byte: not a text CSV file", path, pos->line);
            *rc = -1;
            break;
        }
        if (csv_parse(&p, line, (size_t)k, on_field, on_row, ctx) != (size_t)k && !*rc) {
            snprintf(err, errlen, "%s:%d: malformed CSV: %s", path, pos->line, csv_strerror(csv_error(&p)));
            *rc = -1;
        }
    }
    if (!*rc && csv_fini(&p, on_field, on_row, ctx) && !*rc) {
        snprintf(err, errlen, "%s:%d: malformed CSV: unterminated quoted field", path, pos->row_line);
        *rc = -1;
    }
    csv_free(&p);
    free(line);
    return *rc;
}
