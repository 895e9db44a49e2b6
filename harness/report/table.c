/*
 * table.c - the summary table of a results CSV: one line per (model,
 * precision, method, isa, threads, batch) cell with status, median
 * latency, speed-up against the same model's fp32 cell on the same host and ISA,
 * threads and batch, top-1, accuracy drop and agreement; as Markdown,
 * CSV, LaTeX or HTML. Statistics are the sweep's (this only formats).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/report/table.h"

/* Collected rows. */
typedef struct collect {
    qb_result_row *rows; /* parsed rows, file order */
    int n, cap;          /* count / capacity */
} collect;

static int add_row(void *ctx, const char *const *fields, int line)
{
    (void)line;
    collect *c = ctx;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        qb_result_row *r = realloc(c->rows, (size_t)cap * sizeof *r);
        if (!r)
            return -1;
        c->rows = r;
        c->cap = cap;
    }
    char err[300];
    if (qb_row_parse(fields, &c->rows[c->n], err, sizeof err))
        return -1; /* checked by the reader already */
    c->n++;
    return 0;
}

/* Order of rows by the cell a speed-up compares within: the same machine
 * (host), model, ISA, threads and batch. */
static int cmp_base(const void *pa, const void *pb)
{
    const qb_result_row *a = *(const qb_result_row *const *)pa, *b = *(const qb_result_row *const *)pb;
    int d = strcmp(a->host, b->host);
    if (!d)
        d = strcmp(a->model, b->model);
    if (!d)
        d = strcmp(a->isa, b->isa);
    if (!d)
        d = (a->threads > b->threads) - (a->threads < b->threads);
    if (!d)
        d = (a->batch > b->batch) - (a->batch < b->batch);
    return d;
}

/* cmp_base, then file order (rows are one array: compare addresses). */
static int cmp_base_then_order(const void *pa, const void *pb)
{
    int d = cmp_base(pa, pb);
    const qb_result_row *a = *(const qb_result_row *const *)pa, *b = *(const qb_result_row *const *)pb;
    return d ? d : (a > b) - (a < b);
}

/* The fp32 median of the same host, model, ISA, threads and batch, or NAN
 * (fp32: the fp32 rows sorted by cmp_base; the first of equals wins). */
static double fp32_median(qb_result_row *const *fp32, int n, const qb_result_row *r)
{
    int lo = 0, hi = n;
    while (lo < hi) { /* lower bound */
        int mid = (lo + hi) / 2;
        if (cmp_base(&fp32[mid], &r) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && !cmp_base(&fp32[lo], &r) ? fp32[lo]->latency_ms_median : NAN;
}

static const char *const heads[] = {"model", "precision", "method", "isa", "threads", "batch", "status",
                                    "median ms", "vs fp32", "top-1 %", "drop pt", "agreement %"};
enum { NH = sizeof heads / sizeof heads[0] };

static void num(char *b, size_t n, double v, const char *fmt)
{
    if (isnan(v))
        snprintf(b, n, "-");
    else
        snprintf(b, n, fmt, v);
}

/* One cell of text, escaped for the format. */
static void put(FILE *f, qb_table_format fmt, const char *s)
{
    if (fmt == QB_TABLE_CSV && strpbrk(s, ",\"\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
        return;
    }
    for (; *s; s++) {
        if (fmt == QB_TABLE_HTML && (*s == '<' || *s == '>' || *s == '&'))
            fputs(*s == '<' ? "&lt;" : *s == '>' ? "&gt;" : "&amp;", f);
        else if (fmt == QB_TABLE_LATEX && strchr("&%$#_{}", *s))
            fprintf(f, "\\%c", *s);
        else if (fmt == QB_TABLE_MD && *s == '|')
            fputs("\\|", f);
        else
            fputc(*s, f);
    }
}

static void line(FILE *f, qb_table_format fmt, const char *const *cells)
{
    const char *pre = fmt == QB_TABLE_MD ? "| " : fmt == QB_TABLE_HTML ? "<tr><td>" : "";
    const char *sep = fmt == QB_TABLE_MD ? " | " : fmt == QB_TABLE_CSV ? "," : fmt == QB_TABLE_LATEX ? " & " : "</td><td>";
    const char *end = fmt == QB_TABLE_MD ? " |\n" : fmt == QB_TABLE_CSV ? "\n" : fmt == QB_TABLE_LATEX ? " \\\\\n" : "</td></tr>\n";
    fputs(pre, f);
    for (int i = 0; i < NH; i++) {
        if (i)
            fputs(sep, f);
        put(f, fmt, cells[i]);
    }
    fputs(end, f);
}

int qb_table_print(FILE *f, const char *path, qb_table_format fmt, char *err, size_t errlen)
{
    collect c = {0};
    int rc = qb_results_read(path, add_row, &c, err, errlen);
    if (rc) {
        if (rc > 0)
            snprintf(err, errlen, "%s: out of memory", path);
        free(c.rows);
        return -1;
    }
    qb_result_row **fp32 = malloc((size_t)(c.n ? c.n : 1) * sizeof *fp32);
    if (!fp32) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(c.rows);
        return -1;
    }
    int nfp32 = 0;
    for (int i = 0; i < c.n; i++)
        if (!strcmp(c.rows[i].precision, "fp32"))
            fp32[nfp32++] = &c.rows[i];
    /* stable for equal keys: merge sort is not in libc, so break ties by file order */
    qsort(fp32, (size_t)nfp32, sizeof *fp32, cmp_base_then_order);
    int hosts = c.n > 0;
    for (int i = 1; i < c.n && hosts < 2; i++)
        hosts += strcmp(c.rows[i].host, c.rows[0].host) != 0;
    if (fmt == QB_TABLE_LATEX)
        fprintf(f, "\\begin{tabular}{lllllrrlrrrr}\n\\hline\n");
    if (fmt == QB_TABLE_HTML)
        fprintf(f, "<table>\n");
    line(f, fmt, heads);
    if (fmt == QB_TABLE_MD)
        fprintf(f, "|---|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|\n");
    if (fmt == QB_TABLE_LATEX)
        fprintf(f, "\\hline\n");
    for (int i = 0; i < c.n; i++) {
        const qb_result_row *r = &c.rows[i];
        char b[NH][64], who[512];
        /* a file of several machines names the host in every row */
        snprintf(who, sizeof who, "%s%s%s", hosts > 1 ? r->host : "", hosts > 1 ? ": " : "", r->model);
        const char *cells[NH] = {who, r->precision, r->method, r->isa, b[4], b[5], r->status,
                                 b[7], b[8], b[9], b[10], b[11]};
        num(b[4], 64, r->threads, "%.0f");
        num(b[5], 64, r->batch, "%.0f");
        num(b[7], 64, r->latency_ms_median, "%.4g");
        double base = fp32_median(fp32, nfp32, r);
        num(b[8], 64, base / r->latency_ms_median, "%.2fx");
        num(b[9], 64, r->top1_accuracy, "%.2f");
        num(b[10], 64, r->accuracy_drop_pt, "%.2f");
        num(b[11], 64, r->top1_agreement, "%.2f");
        line(f, fmt, cells);
    }
    if (fmt == QB_TABLE_LATEX)
        fprintf(f, "\\hline\n\\end{tabular}\n");
    if (fmt == QB_TABLE_HTML)
        fprintf(f, "</table>\n");
    free(fp32);
    free(c.rows);
    return 0;
}

int qb_table_format_parse(const char *s)
{
    return !strcmp(s, "md") ? QB_TABLE_MD : !strcmp(s, "csv") ? QB_TABLE_CSV : !strcmp(s, "latex") ? QB_TABLE_LATEX
           : !strcmp(s, "html") ? QB_TABLE_HTML : -1;
}
