/*
 * results.c - the results CSV (results.h): libcsv for quoting and
 * parsing, one write(2) plus fsync per row, header checks.
 */
#define _GNU_SOURCE
#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/io/atomic.h"
#include "harness/io/readfile.h"
#include "harness/qmath/method.h"
#include "harness/report/csvread.h"
#include "harness/report/results.h"
#include "harness/report/status.h"
#include "kernels/kernels.h"

enum { TEXT, INT, REAL };

/* Every column once, in order: T text, I whole number >= 0, R real. */
#define QB_COLUMNS(T, I, R)                                                                                   \
    T(run_id) T(timestamp) T(host) T(cpu) T(isa_flags) T(compiler) T(git_sha) T(scenario) T(model) T(dataset) \
    T(precision) T(method) T(isa) I(threads) I(batch) T(status) T(note) I(iterations) R(latency_ms_min)       \
    R(latency_ms_median) R(latency_ms_mean) R(latency_ms_p95) R(latency_ms_p99) R(latency_ms_stddev)         \
    R(latency_cv) R(throughput_ips) T(counters_source) I(cycles) I(instructions) I(l1d_misses) I(l2_misses)   \
    I(llc_misses) T(energy_source) R(energy_mj_model) R(energy_mj_measured) I(macs) I(weight_bytes)           \
    I(model_bytes) I(peak_rss_kb) I(eval_samples) R(top1_accuracy) R(fp32_top1_accuracy) R(accuracy_drop_pt) \
    R(top1_agreement) R(sqnr_db) R(cosine) R(max_abs_err) R(kl_div)                                          \
    R(latency_ms_p5) R(latency_ms_iqr) R(latency_ms_mad) R(latency_robust_cv) R(latency_ms_ci_low)            \
    R(latency_ms_ci_high) I(latency_outliers) I(calls_per_sample) I(arena_bytes) R(top1_ci_low)               \
    R(top1_ci_high) R(accuracy_drop_ci_low) R(accuracy_drop_ci_high) R(agreement_ci_low)                      \
    R(agreement_ci_high) R(mcnemar_p) R(kl_div_p99) R(kl_div_max)                                         \
    T(plan) T(plan_hash) T(output_hash) R(sqnr_ci_low) R(sqnr_ci_high)

/* The columns: name, kind, where in the row, size of a text field. */
static const struct column {
    const char *name; /* header name */
    int kind;         /* TEXT, INT or REAL */
    size_t off;       /* offsetof in qb_result_row */
    size_t size;      /* bytes of a TEXT field */
} cols[] = {
#define CT(f) {#f, TEXT, offsetof(qb_result_row, f), sizeof(((qb_result_row *)0)->f)},
#define CI(f) {#f, INT, offsetof(qb_result_row, f), 0},
#define CR(f) {#f, REAL, offsetof(qb_result_row, f), 0},
    QB_COLUMNS(CT, CI, CR)
};
_Static_assert(sizeof cols / sizeof cols[0] == QB_NCOLS, "QB_NCOLS matches the column list");

#define CN(f) #f,
const char *const qb_result_columns[QB_NCOLS] = {QB_COLUMNS(CN, CN, CN)};

const int qb_schema_ncols[QB_RESULTS_SCHEMA] = {48, 66, 68, 69, QB_NCOLS};

/* The schema whose header has n columns, or 0. */
static int schema_of(int n)
{
    for (int v = 0; v < QB_RESULTS_SCHEMA; v++)
        if (qb_schema_ncols[v] == n)
            return v + 1;
    return 0;
}

void qb_row_init(qb_result_row *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < QB_NCOLS; i++)
        if (cols[i].kind != TEXT)
            *(double *)((char *)r + cols[i].off) = NAN;
}

void qb_row_field(const qb_result_row *r, int i, char *buf, size_t len)
{
    const char *p = (const char *)r + cols[i].off;
    if (cols[i].kind == TEXT) {
        snprintf(buf, len, "%s", p);
        return;
    }
    double v = *(const double *)p;
    if (isnan(v))
        buf[0] = 0;
    else if (cols[i].kind == INT)
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%.6g", v);
}

/* Is s one of the words of the space-separated list (or empty when
 * empty_ok)? */
static int one_of(const char *s, const char *list, int empty_ok)
{
    if (!*s)
        return empty_ok;
    size_t n = strlen(s);
    for (const char *p = list; (p = strstr(p, s)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
            return 1;
    return 0;
}

int qb_row_parse(const char *const *fields, qb_result_row *r, char *err, size_t errlen)
{
    qb_row_init(r);
    for (int i = 0; i < QB_NCOLS; i++) {
        const char *v = fields[i];
        char *p = (char *)r + cols[i].off;
        if (cols[i].kind == TEXT) {
            if (strlen(v) >= cols[i].size) {
                snprintf(err, errlen, "column %s: longer than %zu bytes", cols[i].name, cols[i].size - 1);
                return -1;
            }
            strcpy(p, v);
            continue;
        }
        if (!*v)
            continue;
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        if (errno == ERANGE || end == v || *end || !isfinite(x) ||
            (cols[i].kind == INT && (x < 0 || x != floor(x)))) {
            snprintf(err, errlen, "column %s: '%.40s' is not %s", cols[i].name, v,
                     cols[i].kind == INT ? "a whole number >= 0" : "a finite number");
            return -1;
        }
        *(double *)p = x;
    }
    const struct {
        const char *name; /* column */
        size_t off;       /* field */
        const char *list; /* allowed words */
        int empty_ok;     /* may be empty */
    } vocab[] = {
        {"precision", offsetof(qb_result_row, precision), qb_precision_list(), 0},
        {"method", offsetof(qb_result_row, method), qb_method_list(), 0},
        {"isa", offsetof(qb_result_row, isa), qb_isa_list(), 0},
        {"status", offsetof(qb_result_row, status), qb_status_list(), 0},
        {"counters_source", offsetof(qb_result_row, counters_source), "papi cachegrind none", 1},
        {"energy_source", offsetof(qb_result_row, energy_source), "rapl model rapl+model", 1},
    };
    for (size_t k = 0; k < sizeof vocab / sizeof vocab[0]; k++) {
        const char *s = (const char *)r + vocab[k].off;
        unsigned repairs;
        if (vocab[k].off == offsetof(qb_result_row, method) && qb_method_parse_repairs(s, &repairs, NULL, 0) >= 0)
            continue; /* a method with repairs: ptq-minmax+cle */
        if (!one_of(s, vocab[k].list, vocab[k].empty_ok)) {
            snprintf(err, errlen, "column %s: '%s' is not one of: %s", vocab[k].name, s, vocab[k].list);
            return -1;
        }
    }
    /* values no measurement can give (a hand-edited or corrupt file) */
    static const struct {
        size_t off;       /* field */
        const char *name; /* column */
        double lo, hi;    /* plausible range */
    } range[] = {
        {offsetof(qb_result_row, threads), "threads", 1, 65536},
        {offsetof(qb_result_row, batch), "batch", 1, 1e7},
        {offsetof(qb_result_row, latency_ms_min), "latency_ms_min", 0, 1e9},
        {offsetof(qb_result_row, latency_ms_median), "latency_ms_median", 0, 1e9},
        {offsetof(qb_result_row, latency_ms_mean), "latency_ms_mean", 0, 1e9},
        {offsetof(qb_result_row, latency_ms_p95), "latency_ms_p95", 0, 1e9},
        {offsetof(qb_result_row, latency_ms_p99), "latency_ms_p99", 0, 1e9},
        {offsetof(qb_result_row, latency_ms_stddev), "latency_ms_stddev", 0, 1e9},
        {offsetof(qb_result_row, throughput_ips), "throughput_ips", 0, 1e12},
        {offsetof(qb_result_row, energy_mj_model), "energy_mj_model", 0, 1e12},
        {offsetof(qb_result_row, energy_mj_measured), "energy_mj_measured", 0, 1e12},
        {offsetof(qb_result_row, top1_accuracy), "top1_accuracy", 0, 100},
        {offsetof(qb_result_row, fp32_top1_accuracy), "fp32_top1_accuracy", 0, 100},
        {offsetof(qb_result_row, accuracy_drop_pt), "accuracy_drop_pt", -100, 100},
        {offsetof(qb_result_row, top1_agreement), "top1_agreement", 0, 100},
    };
    for (size_t k = 0; k < sizeof range / sizeof range[0]; k++) {
        double x = *(const double *)((const char *)r + range[k].off);
        if (!isnan(x) && (x < range[k].lo || x > range[k].hi)) {
            snprintf(err, errlen, "column %s: %g is outside the plausible range [%g, %g]", range[k].name, x,
                     range[k].lo, range[k].hi);
            return -1;
        }
    }
    if (!r->model[0] || isnan(r->threads) || isnan(r->batch) || r->threads < 1 || r->batch < 1) {
        snprintf(err, errlen, "column %s: required (model, threads >= 1 and batch >= 1 identify the cell)",
                 !r->model[0] ? "model" : isnan(r->threads) || r->threads < 1 ? "threads" : "batch");
        return -1;
    }
    return 0;
}

void qb_row_cell_id(const qb_result_row *r, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s/%s/%s/t%.0f/b%.0f", r->model, r->precision, r->method, r->isa, r->threads,
             r->batch);
}

/* ---- writing ---- */

/* One CSV field: plain when it needs no quotes, else libcsv's quoting. */
static void put_field(FILE *f, const char *s, int last)
{
    if (strpbrk(s, ",\"\r\n") || (*s && (s[0] == ' ' || s[strlen(s) - 1] == ' ')))
        csv_fwrite(f, s, strlen(s));
    else
        fputs(s, f);
    fputc(last ? '\n' : ',', f);
}

void qb_results_print(FILE *f, const char *const *fields)
{
    for (int i = 0; i < QB_NCOLS; i++)
        put_field(f, fields[i], i + 1 == QB_NCOLS);
}

/* Write all of buf at the end of the file, then fsync. A short write
 * (full disk) is cut back to the end of the last complete row, so the
 * file never ends in a partial row. */
static int write_all(qb_results_writer *w, const char *buf, size_t len, char *err, size_t errlen)
{
    off_t end = lseek(w->fd, 0, SEEK_END);
    while (len) {
        ssize_t k = write(w->fd, buf, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int saved = k < 0 ? errno : ENOSPC;
            int cut = end >= 0 && ftruncate(w->fd, end) == 0;
            snprintf(err, errlen, "%s: write failed: %s%s", w->path, strerror(saved),
                     cut ? " (the incomplete row was removed; every finished row is kept)" : "");
            return -1;
        }
        buf += k;
        len -= (size_t)k;
    }
    if (fsync(w->fd)) {
        snprintf(err, errlen, "%s: fsync failed: %s", w->path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_record(qb_results_writer *w, const char *const *fields, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) {
        snprintf(err, errlen, "%s: out of memory", w->path);
        return -1;
    }
    for (int i = 0; i < QB_NCOLS; i++)
        put_field(m, fields[i], i + 1 == QB_NCOLS);
    fclose(m);
    int rc = write_all(w, buf, len, err, errlen);
    free(buf);
    return rc;
}

/* Header check of an existing file: stops after the first record. */
typedef struct head_state {
    int nf;                   /* fields seen */
    int bad;                  /* first mismatching column + 1 */
    char got[128];            /* the mismatching name */
    int done;                 /* first record complete */
} head_state;

static void head_field(void *s, size_t len, void *ctx)
{
    head_state *h = ctx;
    if (h->done)
        return;
    if (!h->bad && (h->nf >= QB_NCOLS || strlen(qb_result_columns[h->nf]) != len ||
                    memcmp(s, qb_result_columns[h->nf], len))) {
        h->bad = h->nf + 1;
        snprintf(h->got, sizeof h->got, "%.*s", (int)(len < 100 ? len : 100), (const char *)s);
    }
    h->nf++;
}

static void head_row(int c, void *ctx)
{
    (void)c;
    ((head_state *)ctx)->done = 1;
}

/* The pid holding a flock on the file open as fd (from /proc/locks), or 0. */
static int lock_holder(int fd)
{
    struct stat sb;
    FILE *f = fopen("/proc/locks", "r");
    if (!f || fstat(fd, &sb)) {
        if (f)
            fclose(f);
        return 0;
    }
    char line[256];
    int pid = 0;
    while (!pid && fgets(line, sizeof line, f)) {
        int p;
        unsigned maj, min;
        unsigned long ino;
        if (strstr(line, "FLOCK") && !strstr(line, "->") &&
            sscanf(line, "%*d: FLOCK %*s %*s %d %x:%x:%lu", &p, &maj, &min, &ino) == 4 && ino == (unsigned long)sb.st_ino)
            pid = p;
    }
    fclose(f);
    return pid;
}

/* Cut a last row without its newline (an interrupted write of an older
 * version, or a crash) back to the end of the last complete row, saying
 * so on stderr. 0, or -1 with err. */
static int repair_tail(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return 0; /* absent or unreadable: the caller's open says why */
    /* only a results file (of any schema version: same first column) is
     * touched; anything else is left for the header check to refuse */
    char head[64];
    size_t want = strlen(qb_result_columns[0]);
    ssize_t got = pread(fd, head, want + 1, 0);
    if (got != (ssize_t)want + 1 || memcmp(head, qb_result_columns[0], want) || head[want] != ',') {
        close(fd);
        return 0;
    }
    struct stat sb;
    off_t end = fstat(fd, &sb) == 0 ? sb.st_size : 0, keep = end;
    char buf[4096];
    while (keep > 0) {
        off_t from = keep > (off_t)sizeof buf ? keep - (off_t)sizeof buf : 0;
        ssize_t k = pread(fd, buf, (size_t)(keep - from), from);
        if (k <= 0)
            break;
        char *nl = memrchr(buf, '\n', (size_t)k);
        if (nl) {
            keep = from + (nl - buf) + 1;
            break;
        }
        keep = from;
    }
    int rc = 0;
    if (keep < end) {
        if (ftruncate(fd, keep) || fsync(fd)) {
            snprintf(err, errlen, "%s: cannot remove an incomplete last row: %s", path, strerror(errno));
            rc = -1;
        } else {
            fprintf(stderr, "qbench: %s: dropped %lld bytes of an incomplete last row (an interrupted write)\n", path,
                    (long long)(end - keep));
        }
    }
    close(fd);
    return rc;
}

/* Upgrade: the rows of an older schema, copied with the new columns empty. */
typedef struct upgrade_state {
    FILE *f;   /* the new file */
    long rows; /* rows copied */
} upgrade_state;

static int upgrade_row(void *ctx, const char *const *fields, int line)
{
    (void)line;
    upgrade_state *u = ctx;
    qb_results_print(u->f, fields);
    u->rows++;
    return 0;
}

/* Rewrite path (schema `from`) with the current header, atomically. */
static int upgrade(const char *path, int from, char *err, size_t errlen)
{
    qb_atomic a;
    if (qb_atomic_open(&a, path, err, errlen))
        return -1;
    upgrade_state u = {.f = a.f};
    qb_results_print(a.f, qb_result_columns);
    if (qb_results_read(path, upgrade_row, &u, err, errlen)) {
        qb_atomic_abort(&a);
        return -1;
    }
    if (qb_atomic_commit(&a, err, errlen))
        return -1;
    fprintf(stderr, "qbench: %s: results file of schema %d upgraded to schema %d (%ld rows kept, %d new columns "
                    "empty)\n", path, from, QB_RESULTS_SCHEMA, u.rows, QB_NCOLS - qb_schema_ncols[from - 1]);
    return 0;
}

int qb_results_open(const char *path, qb_results_writer *w, char *err, size_t errlen)
{
    snprintf(w->path, sizeof w->path, "%s", path);
    w->fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (w->fd < 0) {
        snprintf(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
        return -1;
    }
    /* one writer per results file: a second sweep into the same directory stops here */
    if (flock(w->fd, LOCK_EX | LOCK_NB)) {
        int pid = errno == EWOULDBLOCK ? lock_holder(w->fd) : 0;
        if (pid)
            snprintf(err, errlen, "%s: locked by process %d (another sweep writing here); wait for it or use another -o DIR",
                     path, pid);
        else
            snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(errno));
        close(w->fd);
        return -1;
    }
    if (repair_tail(path, err, errlen)) {
        close(w->fd);
        return -1;
    }
    struct stat sb;
    if (fstat(w->fd, &sb) == 0 && sb.st_size == 0)
        return write_record(w, qb_result_columns, err, errlen) ? (close(w->fd), -1) : 0;
    /* existing file: the header must match, the last row must be complete */
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        close(w->fd);
        return -1;
    }
    struct csv_parser p;
    csv_init(&p, CSV_STRICT | CSV_APPEND_NULL);
    head_state h = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t k;
    int lines = 0, last_nl = 1;
    while ((k = getline(&line, &cap, f)) > 0) {
        lines++;
        last_nl = line[k - 1] == '\n';
        if (!h.done)
            csv_parse(&p, line, (size_t)k, head_field, head_row, &h);
    }
    csv_fini(&p, head_field, head_row, &h);
    csv_free(&p);
    free(line);
    fclose(f);
    int schema = h.bad ? 0 : schema_of(h.nf);
    if (!schema) {
        if (h.bad)
            snprintf(err, errlen, "%s:1: not a qbench results file of this version: column %d is '%s', want '%s'",
                     path, h.bad, h.got, h.bad <= QB_NCOLS ? qb_result_columns[h.bad - 1] : "(none)");
        else
            snprintf(err, errlen, "%s:1: header has %d columns, want %d (schema %d) or an older schema's", path,
                     h.nf, QB_NCOLS, QB_RESULTS_SCHEMA);
        close(w->fd);
        return -1;
    }
    if (!last_nl) { /* repair_tail cut it: only a concurrent writer can leave one now */
        snprintf(err, errlen, "%s:%d: last row is incomplete", path, lines);
        close(w->fd);
        return -1;
    }
    if (schema < QB_RESULTS_SCHEMA) { /* rewritten while the old file is locked, then the new one locked */
        if (upgrade(path, schema, err, errlen)) {
            close(w->fd);
            return -1;
        }
        int fd = open(path, O_WRONLY | O_APPEND);
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB)) {
            snprintf(err, errlen, "%s: cannot open and lock the upgraded file: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            close(w->fd);
            return -1;
        }
        close(w->fd);
        w->fd = fd;
    }
    return 0;
}

int qb_results_write(qb_results_writer *w, const qb_result_row *r, char *err, size_t errlen)
{
    static char buf[QB_NCOLS][1100];
    const char *fields[QB_NCOLS];
    for (int i = 0; i < QB_NCOLS; i++) {
        qb_row_field(r, i, buf[i], sizeof buf[i]);
        fields[i] = buf[i];
    }
    return write_record(w, fields, err, errlen);
}

int qb_results_write_fields(qb_results_writer *w, const char *const *fields, char *err, size_t errlen)
{
    return write_record(w, fields, err, errlen);
}

void qb_results_close(qb_results_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}

/* ---- reading ---- */

/* Reader state: the record being collected. */
typedef struct read_state {
    const char *path;     /* file (messages) */
    qb_csv_pos pos;       /* line being parsed, line where the current record started */
    int nrec;             /* records completed (header included) */
    int nf;               /* fields of the current record */
    char *f[QB_NCOLS + 1];/* their text (one extra to detect too many); columns past the file's schema "" */
    int overflow;         /* more than QB_NCOLS fields */
    int ncols;            /* columns of the file's header (its schema) */
    qb_results_cb cb;     /* user callback */
    void *ctx;            /* its context */
    int rc;               /* first error or callback stop */
    char *err;            /* message buffer */
    size_t errlen;        /* its size */
} read_state;

static void rd_field(void *s, size_t len, void *ctx)
{
    read_state *st = ctx;
    if (st->nf > QB_NCOLS) {
        st->overflow = 1;
        return;
    }
    free(st->f[st->nf]);
    st->f[st->nf] = strndup(s ? s : "", s ? len : 0);
    st->nf++;
}

static void rd_row(int c, void *ctx)
{
    (void)c;
    read_state *st = ctx;
    int nf = st->nf;
    st->nf = 0;
    st->pos.pending = 1;
    if (st->rc)
        return;
    int line = st->pos.row_line;
    if (st->nrec++ == 0) { /* the header: the current schema's or an older one's */
        int n = st->overflow ? QB_NCOLS + 1 : nf;
        st->overflow = 0;
        for (int i = 0; i < n && i < QB_NCOLS; i++)
            if (strcmp(st->f[i], qb_result_columns[i])) {
                snprintf(st->err, st->errlen, "%s:%d: not a qbench results header: column %d is '%.60s', want '%s'",
                         st->path, line, i + 1, st->f[i], qb_result_columns[i]);
                st->rc = -1;
                return;
            }
        if (!schema_of(n)) {
            snprintf(st->err, st->errlen, "%s:%d: header has %d columns, want %d (schema %d) or an older schema's",
                     st->path, line, n, QB_NCOLS, QB_RESULTS_SCHEMA);
            st->rc = -1;
            return;
        }
        st->ncols = n;
        return;
    }
    if (st->overflow || nf != st->ncols) {
        snprintf(st->err, st->errlen, "%s:%d: %s%d fields, want %d", st->path, line, st->overflow ? "more than " : "",
                 st->overflow ? QB_NCOLS : nf, st->ncols);
        st->overflow = 0;
        st->rc = -1;
        return;
    }
    for (int i = st->ncols; i < QB_NCOLS; i++) { /* columns newer than the file: empty */
        free(st->f[i]);
        st->f[i] = strdup("");
        if (!st->f[i]) {
            snprintf(st->err, st->errlen, "%s:%d: out of memory", st->path, line);
            st->rc = -1;
            return;
        }
    }
    qb_result_row r;
    char msg[300];
    if (qb_row_parse((const char *const *)st->f, &r, msg, sizeof msg)) {
        snprintf(st->err, st->errlen, "%s:%d: %s", st->path, line, msg);
        st->rc = -1;
        return;
    }
    if (st->cb)
        st->rc = st->cb(st->ctx, (const char *const *)st->f, line);
}

int qb_results_read(const char *path, qb_results_cb cb, void *ctx, char *err, size_t errlen)
{
    FILE *f = qb_open_read(path, NULL, err, errlen);
    if (!f)
        return -1;
    read_state st = {.path = path, .cb = cb, .ctx = ctx, .err = err, .errlen = errlen};
    qb_csv_parse(f, path, rd_field, rd_row, &st, &st.pos, &st.rc, err, errlen);
    if (!st.rc && st.nrec == 0) {
        snprintf(err, errlen, "%s:1: empty file: no results header", path);
        st.rc = -1;
    }
    for (int i = 0; i <= QB_NCOLS; i++)
        free(st.f[i]);
    fclose(f);
    return st.rc;
}

/* ---- resume ---- */

typedef struct ids_state {
    char **ids; /* finished cell ids */
    int n, cap; /* count, allocated */
} ids_state;

static int collect_finished(void *ctx, const char *const *fields, int line)
{
    (void)line;
    ids_state *s = ctx;
    qb_result_row r;
    char msg[8];
    if (qb_row_parse(fields, &r, msg, sizeof msg))
        return -1;
    if (!qb_status_traits_of(qb_status_parse(r.status))->finished)
        return 0; /* failed cells run again */
    if (s->n == s->cap) {
        int nc = s->cap ? 2 * s->cap : 64;
        char **p = realloc(s->ids, (size_t)nc * sizeof *p);
        if (!p)
            return -1;
        s->ids = p;
        s->cap = nc;
    }
    char id[600];
    qb_row_cell_id(&r, id, sizeof id);
    s->ids[s->n++] = strdup(id);
    return 0;
}

int qb_results_finished(const char *path, char ***ids, int *n, char *err, size_t errlen)
{
    *ids = NULL;
    *n = 0;
    err[0] = 0;
    struct stat sb;
    if (stat(path, &sb) || sb.st_size == 0) /* absent, or created by a run that could not write its header */
        return 0;
    if (repair_tail(path, err, errlen))
        return -1;
    ids_state s = {0};
    int rc = qb_results_read(path, collect_finished, &s, err, errlen);
    if (rc) {
        if (!err[0]) /* the callback stopped: a row it could not take */
            snprintf(err, errlen, "%s: out of memory", path);
        qb_ids_free(s.ids, s.n);
        return -1;
    }
    *ids = s.ids;
    *n = s.n;
    return 0;
}

void qb_ids_free(char **ids, int n)
{
    for (int i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

void qb_result_note(qb_result_row *row, const char *fmt, ...)
{
    size_t l = strlen(row->note);
    if (l + 3 >= sizeof row->note)
        return;
    if (l) {
        strcpy(row->note + l, "; ");
        l += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(row->note + l, sizeof row->note - l, fmt, ap);
    va_end(ap);
}
