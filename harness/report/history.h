/*
 * history.h - results of many runs in one SQLite store (`qbench history`):
 * each added results file becomes a run (git sha, date, host) and its
 * rows are kept with their key and main numbers; rows already stored
 * (same key, host, timestamp) are skipped. The results CSV stays the
 * interchange format: the store exports the best or last row of each
 * cell as a results CSV (the base of `qbench compare --history`).
 */
#ifndef QB_HISTORY_H
#define QB_HISTORY_H

#include <stdio.h>

#include "harness/report/rset.h"

typedef enum qb_history_metric { QB_HIST_LATENCY, QB_HIST_INSTRUCTIONS, QB_HIST_DROP } qb_history_metric;

/* Store the rows of the results files in db (created if missing).
 * *added / *skipped count rows. 0, or -1 with err. */
int qb_history_add(const char *db, const qb_rset *rows, const char *source, int *added, int *skipped, char *err,
                   size_t errlen);
/* One Markdown line per stored row (model filter or NULL), by cell then date. 0 or -1. */
int qb_history_show(const char *db, const char *model, qb_history_metric metric, FILE *out, char *err, size_t errlen);
/* Trend data: per cell key, (date, git sha, value) in date order, as
 * gnuplot data blocks (one "# KEY" header and a blank-line pair between
 * cells) on out; *nkeys gets the count. 0 or -1. */
int qb_history_trend(const char *db, const char *model, qb_history_metric metric, FILE *out, int *nkeys, char *err,
                     size_t errlen);
/* spec "DB", "DB:best" (default: the fastest measured row of each cell)
 * or "DB:last" (the newest): those rows as a results set. 0 or -1. */
int qb_history_baseline(const char *spec, qb_rset *out, char *err, size_t errlen);

#endif
