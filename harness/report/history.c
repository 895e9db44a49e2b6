/*
 * history.c - the SQLite store of `qbench history` (see history.h).
 * Tables: runs (one per added file: when, which file, git sha, host) and
 * rows (one per results row: the cell key, identifying text and the main
 * numbers; NULL where not measured).
 */
#include "harness/report/history.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, added TEXT, source TEXT, git_sha TEXT, host TEXT);"
    "CREATE TABLE IF NOT EXISTS rows(run INTEGER REFERENCES runs(id), key TEXT, model TEXT, precision TEXT,"
    " method TEXT, isa TEXT, threads REAL, batch REAL, status TEXT, host TEXT, cpu TEXT, isa_flags TEXT,"
    " git_sha TEXT, timestamp TEXT, dataset TEXT, output_hash TEXT, latency_ms_median REAL,"
    " latency_ms_median_ci_low REAL, latency_ms_median_ci_high REAL, latency_ms_p5 REAL, latency_ms_p95 REAL,"
    " instructions REAL, cycles REAL, accuracy_drop_pt REAL, top1_accuracy REAL, fp32_top1_accuracy REAL,"
    " energy_mj_model REAL, UNIQUE(key, host, timestamp));";

/* The stored columns after run and key, in table order. */
#define NTEXT2 8 /* status host cpu isa_flags git_sha timestamp dataset output_hash */
static const char *const all_cols[] = {"model",           "precision",  "method",       "isa",
                                       "threads",         "batch",      "status",       "host",
                                       "cpu",             "isa_flags",  "git_sha",      "timestamp",
                                       "dataset",         "output_hash", "latency_ms_median",
                                       "latency_ms_median_ci_low", "latency_ms_median_ci_high", "latency_ms_p5",
                                       "latency_ms_p95",  "instructions", "cycles",     "accuracy_drop_pt",
                                       "top1_accuracy",   "fp32_top1_accuracy", "energy_mj_model"};
#define NALL (int)(sizeof all_cols / sizeof all_cols[0])

static int db_open(const char *path, sqlite3 **db, char *err, size_t errlen)
{
    if (sqlite3_open(path, db) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open the history store: %s", path, *db ? sqlite3_errmsg(*db) : "no memory");
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(*db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(*db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: not a qbench history store: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    return 0;
}

/* Open a store that must already exist (the reading verbs never create
 * one); what names the store in the message is the caller's (a path, or
 * "--history: PATH"). */
static int db_open_existing(const char *path, const char *what, sqlite3 **db, char *err, size_t errlen)
{
    if (access(path, R_OK)) {
        snprintf(err, errlen, "%s: no such history store (create it with `qbench history %s add RESULTS.csv`)", what,
                 path);
        return -1;
    }
    return db_open(path, db, err, errlen);
}

static void bind_num(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

int qb_history_add(const char *path, const qb_rset *s, const char *source, int *added, int *skipped, char *err,
                   size_t errlen)
{
    *added = *skipped = 0;
    sqlite3 *db;
    if (db_open(path, &db, err, errlen))
        return -1;
    int rc = -1;
    sqlite3_stmt *run = NULL, *ins = NULL;
    char now[32];
    time_t t = time(NULL);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO runs(added, source, git_sha, host) VALUES(?,?,?,?)", -1, &run, NULL) ||
        sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO rows VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &ins, NULL))
        goto out;
    sqlite3_bind_text(run, 1, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(run, 2, source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(run, 3, s->n ? s->rows[0].git_sha : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(run, 4, s->n ? s->rows[0].host : "", -1, SQLITE_TRANSIENT);
    if (sqlite3_step(run) != SQLITE_DONE)
        goto out;
    sqlite3_int64 id = sqlite3_last_insert_rowid(db);
    for (int i = 0; i < s->n; i++) {
        const qb_rrow *r = &s->rows[i];
        char key[700];
        qb_rrow_key(r, key, sizeof key);
        sqlite3_reset(ins);
        int k = 1;
        sqlite3_bind_int64(ins, k++, id);
        sqlite3_bind_text(ins, k++, key, -1, SQLITE_TRANSIENT);
        const char *tx1[] = {r->model, r->precision, r->method, r->isa};
        for (int j = 0; j < 4; j++)
            sqlite3_bind_text(ins, k++, tx1[j], -1, SQLITE_STATIC);
        bind_num(ins, k++, r->threads);
        bind_num(ins, k++, r->batch);
        const char *tx2[NTEXT2] = {r->status,    r->host,      r->cpu,     r->isa_flags,
                                   r->git_sha,   r->timestamp, r->dataset, r->output_hash};
        for (int j = 0; j < NTEXT2; j++)
            sqlite3_bind_text(ins, k++, tx2[j], -1, SQLITE_STATIC);
        const double nums[] = {r->lat_median, r->lat_ci_low,   r->lat_ci_high, r->lat_p5,
                               r->lat_p95,    r->instructions, r->cycles,      r->drop,
                               r->top1,       r->fp32_top1,    r->energy_model_mj};
        for (int j = 0; j < (int)(sizeof nums / sizeof *nums); j++)
            bind_num(ins, k++, nums[j]);
        if (sqlite3_step(ins) != SQLITE_DONE)
            goto out;
        if (sqlite3_changes(db))
            ++*added;
        else
            ++*skipped;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        rc = 0;
out:
    if (rc)
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(run);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return rc;
}

static const char *metric_col(qb_history_metric m)
{
    return m == QB_HIST_INSTRUCTIONS ? "instructions" : m == QB_HIST_DROP ? "accuracy_drop_pt" : "latency_ms_median";
}

int qb_history_show(const char *path, const char *model, qb_history_metric metric, FILE *out, char *err,
                    size_t errlen)
{
    sqlite3 *db;
    if (db_open_existing(path, path, &db, err, errlen))
        return -1;
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT key, git_sha, timestamp, host, status, %s FROM rows WHERE (?1 IS NULL OR model = ?1) "
             "ORDER BY key, timestamp",
             metric_col(metric));
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (model)
        sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    fprintf(out, "| cell | git sha | date | host | status | %s |\n|---|---|---|---|---|---:|\n", metric_col(metric));
    int n = 0, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        fprintf(out, "| %s | %s | %s | %s | %s | ", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                sqlite3_column_text(st, 2), sqlite3_column_text(st, 3), sqlite3_column_text(st, 4));
        if (sqlite3_column_type(st, 5) == SQLITE_NULL)
            fprintf(out, "- |\n");
        else
            fprintf(out, metric == QB_HIST_LATENCY ? "%.4f |\n" : metric == QB_HIST_DROP ? "%.2f |\n" : "%.0f |\n",
                    sqlite3_column_double(st, 5));
    }
    if (s == SQLITE_DONE) {
        rc = 0;
        fprintf(out, "\n%d rows%s%s\n", n, model ? " of model " : "", model ? model : "");
    }
out:
    if (rc)
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int qb_history_trend(const char *path, const char *model, qb_history_metric metric, FILE *out, int *nkeys, char *err,
                     size_t errlen)
{
    *nkeys = 0;
    sqlite3 *db;
    if (db_open_existing(path, path, &db, err, errlen))
        return -1;
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT key, timestamp, git_sha, %s FROM rows WHERE (?1 IS NULL OR model = ?1) AND %s IS NOT NULL "
             "AND status IN ('ok','noisy') ORDER BY key, timestamp",
             metric_col(metric), metric_col(metric));
    sqlite3_stmt *st = NULL;
    int rc = -1, s;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (model)
        sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    char last[700] = "";
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        if (strcmp(key, last)) {
            if (*nkeys)
                fprintf(out, "\n\n");
            fprintf(out, "# %s\n", key);
            snprintf(last, sizeof last, "%s", key);
            ++*nkeys;
        }
        const char *sha = (const char *)sqlite3_column_text(st, 2);
        fprintf(out, "%s %.9g %.10s\n", sqlite3_column_text(st, 1), sqlite3_column_double(st, 3),
                sha && sha[0] ? sha : "-");
    }
    if (s == SQLITE_DONE)
        rc = 0;
out:
    if (rc)
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* Write one CSV field (quoted when needed). */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int qb_history_baseline(const char *spec, qb_rset *out, char *err, size_t errlen)
{
    char path[512];
    snprintf(path, sizeof path, "%s", spec);
    int last = 0;
    char *colon = strrchr(path, ':');
    if (colon && (!strcmp(colon, ":best") || !strcmp(colon, ":last"))) {
        last = !strcmp(colon, ":last");
        *colon = 0;
    }
    char what[sizeof path + 16];
    snprintf(what, sizeof what, "--history: %s", path);
    sqlite3 *db;
    if (db_open_existing(path, what, &db, err, errlen))
        return -1;
    char sql[1400], cols[900] = "";
    for (int i = 0; i < NALL; i++)
        snprintf(cols + strlen(cols), sizeof cols - strlen(cols), "%s%s", i ? "," : "", all_cols[i]);
    /* best: the fastest measured row of each cell (else its newest);
     * last: the newest row of each cell */
    snprintf(sql, sizeof sql,
             "SELECT %s FROM rows r WHERE rowid = (SELECT rowid FROM rows q WHERE q.key = r.key ORDER BY %s "
             "q.timestamp DESC, q.rowid DESC LIMIT 1) ORDER BY rowid",
             cols,
             last ? "" : "(q.status IN ('ok','noisy') AND q.latency_ms_median IS NOT NULL) DESC, "
                         "q.latency_ms_median ASC,");
    /* the chosen rows as a results CSV in memory, read back as one file of the set */
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    sqlite3_stmt *st = NULL;
    int rc = -1, s;
    if (!f) {
        snprintf(err, errlen, "--history: out of memory");
        sqlite3_close(db);
        return -1;
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    fprintf(f, "%s\n", cols);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < NALL; i++) {
            if (i)
                fputc(',', f);
            if (sqlite3_column_type(st, i) == SQLITE_FLOAT || sqlite3_column_type(st, i) == SQLITE_INTEGER)
                fprintf(f, "%.17g", sqlite3_column_double(st, i));
            else if (sqlite3_column_type(st, i) == SQLITE_TEXT)
                csv_field(f, (const char *)sqlite3_column_text(st, i));
        }
        fputc('\n', f);
    }
    if (s == SQLITE_DONE)
        rc = 0;
out:
    if (rc)
        snprintf(err, errlen, "--history: %s: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (fclose(f) && !rc) {
        snprintf(err, errlen, "--history: out of memory");
        rc = -1;
    }
    FILE *r = !rc ? fmemopen(text, size, "r") : NULL;
    if (!rc && !r) {
        snprintf(err, errlen, "--history: out of memory");
        rc = -1;
    }
    if (!rc) {
        char name[600];
        snprintf(name, sizeof name, "%s (%s rows)", path, last ? "last" : "best");
        rc = qb_rset_add_stream(out, r, name, err, errlen);
    }
    if (r)
        fclose(r);
    free(text);
    return rc;
}
