/*
 * table.h - a results CSV as a summary table (Markdown, CSV, LaTeX,
 * HTML): `qbench table` and the end of `make demo`.
 */
#ifndef QB_TABLE_H
#define QB_TABLE_H

#include <stdio.h>

#include "harness/report/results.h"

typedef enum qb_table_format { QB_TABLE_MD, QB_TABLE_CSV, QB_TABLE_LATEX, QB_TABLE_HTML } qb_table_format;

/* "md" "csv" "latex" "html" -> format, else -1. */
int qb_table_format_parse(const char *s);
/* Read path (checked as qb_results_read does) and print its table. 0, or
 * -1 with "FILE:LINE: ..." in err. */
int qb_table_print(FILE *f, const char *path, qb_table_format fmt, char *err, size_t errlen);

#endif
