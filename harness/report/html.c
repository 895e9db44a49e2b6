/*
 * html.c - the HTML report (see html.h). Plain HTML5 with a <style>
 * block; gnuplot's SVG files are inlined after their XML prolog.
 */
#include "harness/report/html.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/report/advise.h"

const char *const qb_html_sections[] = {"machine", "results", "charts", "advice", "not-measured"};
const int qb_html_nsections = 5;

static void esc(FILE *f, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
}

static void num(FILE *f, double v, const char *fmt)
{
    if (isnan(v))
        fputs("<td class=na>-</td>", f);
    else {
        fputs("<td>", f);
        fprintf(f, fmt, v);
        fputs("</td>", f);
    }
}

static void text_cell(FILE *f, const char *s)
{
    fputs("<td>", f);
    esc(f, s);
    fputs("</td>", f);
}

/* Inline an SVG file: everything from "<svg" on. */
static int inline_svg(FILE *f, const char *path, char *err, size_t errlen)
{
    FILE *s = fopen(path, "r");
    if (!s) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    char chunk[8192];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, s)) > 0) {
        if (n + k + 1 > cap) {
            cap = 2 * (n + k + 1);
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(s);
                snprintf(err, errlen, "%s: out of memory", path);
                return -1;
            }
            buf = p;
        }
        memcpy(buf + n, chunk, k);
        n += k;
    }
    fclose(s);
    if (!buf) {
        snprintf(err, errlen, "%s: empty", path);
        return -1;
    }
    buf[n] = 0;
    char *start = strstr(buf, "<svg");
    if (!start) {
        free(buf);
        snprintf(err, errlen, "%s: not an SVG file", path);
        return -1;
    }
    fputs(start, f);
    free(buf);
    return 0;
}

/* The metadata file of a results CSV: DIR/results.meta.txt beside it (the sweep's). */
static void meta_file(FILE *f, const char *csv)
{
    char path[1100];
    const char *slash = strrchr(csv, '/');
    if (slash)
        snprintf(path, sizeof path, "%.*s/results.meta.txt", (int)(slash - csv), csv);
    else
        snprintf(path, sizeof path, "results.meta.txt");
    FILE *m = fopen(path, "r");
    if (!m)
        return;
    fputs("<details><summary>", f);
    esc(f, path);
    fputs("</summary><pre>", f);
    char line[1024];
    int lines = 0;
    while (fgets(line, sizeof line, m) && lines++ < 400)
        esc(f, line);
    fclose(m);
    fputs("</pre></details>\n", f);
}

static void section(FILE *f, const char *id, const char *title)
{
    fprintf(f, "<section id=\"%s\"><h2>", id);
    esc(f, title);
    fputs("</h2>\n", f);
}

int qb_html_write(FILE *f, const qb_html_input *in, char *err, size_t errlen)
{
    const qb_rset *s = in->results;
    char date[40];
    time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", f);
    esc(f, in->title);
    fputs("</title>\n<style>\n"
          "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#111;"
          "line-height:1.4}\n"
          "table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}\n"
          "th,td{border:1px solid #888;padding:2px 6px;text-align:right}\n"
          "th{background:#e8e8e8}\ntd.t,th.t{text-align:left}\ntd.na{color:#888;text-align:center}\n"
          "figure{margin:1.2em 0;border:1px solid #ccc;padding:4px}\nfigure svg{width:100%;height:auto}\n"
          "figcaption{font-size:0.9em;color:#333}\nnav a{margin-right:1em}\npre{font-size:0.8em;overflow-x:auto}\n"
          "</style></head><body>\n<h1>",
          f);
    esc(f, in->title);
    fprintf(f, "</h1>\n<p>Generated %s by ", date);
    esc(f, in->generator);
    fputs(" from ", f);
    for (int i = 0; i < in->nfiles; i++) {
        fputs(i ? ", <code>" : "<code>", f);
        esc(f, in->files[i]);
        fputs("</code>", f);
    }
    fprintf(f, " (%d rows).</p>\n<nav>", s->n);
    for (int i = 0; i < qb_html_nsections; i++)
        fprintf(f, "<a href=\"#%s\">%s</a>", qb_html_sections[i], qb_html_sections[i]);
    fputs("</nav>\n", f);

    /* machine */
    section(f, "machine", "Machines and builds");
    fputs("<table><tr><th class=t>host</th><th class=t>CPU</th><th class=t>ISA flags</th><th class=t>git sha</th>"
          "<th>rows</th></tr>\n",
          f);
    for (int i = 0; i < s->n; i++) {
        const qb_rrow *r = &s->rows[i];
        int seen = 0, count = 0;
        for (int j = 0; j < s->n; j++) {
            const qb_rrow *q = &s->rows[j];
            int same = !strcmp(q->host, r->host) && !strcmp(q->cpu, r->cpu) && !strcmp(q->git_sha, r->git_sha);
            if (same && j < i)
                seen = 1;
            count += same;
        }
        if (seen)
            continue;
        fputs("<tr>", f);
        text_cell(f, r->host[0] ? r->host : "?");
        text_cell(f, r->cpu[0] ? r->cpu : "?");
        text_cell(f, r->isa_flags);
        text_cell(f, r->git_sha);
        fprintf(f, "<td>%d</td></tr>\n", count);
    }
    fputs("</table>\n", f);
    for (int i = 0; i < in->nfiles; i++)
        meta_file(f, in->files[i]);
    fputs("</section>\n", f);

    /* results */
    section(f, "results", "Results");
    fputs("<p>Latency is the median per inference; the interval is the 95% CI of the median where the results "
          "have it, else p5&ndash;p95. Speed-up is over fp32 on the same ISA, threads and batch.</p>\n"
          "<table><tr><th class=t>model</th><th class=t>precision</th><th class=t>method</th><th class=t>ISA</th>"
          "<th class=t>status</th><th>median ms</th><th>interval ms</th><th>speed-up</th><th>top-1 %</th>"
          "<th>drop pt</th><th>SQNR dB</th><th>energy mJ (model)</th></tr>\n",
          f);
    int *idx = malloc(((size_t)s->n + 1) * sizeof *idx);
    int n = idx ? qb_rset_latest(s, idx) : 0;
    qb_rset_sort(s, idx, n);
    int not_measured = 0;
    for (int i = 0; i < n; i++) {
        const qb_rrow *r = &s->rows[idx[i]];
        if (!qb_rrow_measured(r)) {
            not_measured++;
            continue;
        }
        fputs("<tr>", f);
        fputs("<td class=t>", f);
        esc(f, r->model);
        fputs("</td><td class=t>", f);
        esc(f, r->precision);
        fputs("</td><td class=t>", f);
        esc(f, r->method);
        fputs("</td><td class=t>", f);
        esc(f, r->isa);
        fputs("</td><td class=t>", f);
        esc(f, r->status);
        fputs("</td>", f);
        num(f, r->lat_median, "%.4f");
        double lo, hi;
        const char *kind = qb_rrow_whiskers(r, &lo, &hi);
        if (kind[0])
            fprintf(f, "<td>%.4f&ndash;%.4f</td>", lo, hi);
        else
            fputs("<td class=na>-</td>", f);
        const qb_rrow *fp = qb_rset_fp32(s, r);
        num(f, fp && r->lat_median > 0 ? fp->lat_median / r->lat_median : NAN, "%.2fx");
        num(f, r->top1, "%.2f");
        num(f, r->drop, "%+.2f");
        num(f, r->sqnr_db, "%.1f");
        num(f, r->energy_model_mj, "%.4g");
        fputs("</tr>\n", f);
    }
    fputs("</table>\n</section>\n", f);

    /* charts */
    section(f, "charts", "Charts");
    const qb_plot_list *pl = in->plots;
    int rc = 0;
    for (int i = 0; i < pl->n && !rc; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.svg", in->plot_dir, pl->name[i]);
        fprintf(f, "<figure id=\"chart-%s\">\n", pl->name[i]);
        rc = inline_svg(f, path, err, errlen);
        fputs("\n<figcaption>", f);
        esc(f, pl->title[i]);
        fputs(" (data and gnuplot script: <code>", f);
        esc(f, pl->name[i]);
        fputs(".dat</code>, <code>", f);
        esc(f, pl->name[i]);
        fputs(".gp</code>)</figcaption></figure>\n", f);
    }
    if (pl->nskipped) {
        fputs("<p>Not drawn:</p><ul>\n", f);
        for (int i = 0; i < pl->nskipped; i++) {
            fputs("<li>", f);
            esc(f, pl->skipped[i]);
            fputs("</li>\n", f);
        }
        fputs("</ul>\n", f);
    }
    fputs("</section>\n", f);

    /* advice */
    section(f, "advice", "Advice");
    fprintf(f, "<p>Accuracy budget: %.2f points of top-1 below fp32.</p>\n", in->budget);
    qb_advise_print(f, s, in->profiles, in->nprofiles, in->budget, 1);
    fputs("</section>\n", f);

    /* cells without numbers */
    section(f, "not-measured", "Cells without measurements");
    if (!not_measured)
        fputs("<p>Every cell was measured.</p>\n", f);
    else {
        fputs("<table><tr><th class=t>cell</th><th class=t>status</th><th class=t>reason</th></tr>\n", f);
        for (int i = 0; i < n; i++) {
            const qb_rrow *r = &s->rows[idx[i]];
            if (qb_rrow_measured(r))
                continue;
            char key[700];
            qb_rrow_key(r, key, sizeof key);
            fputs("<tr><td class=t>", f);
            esc(f, key);
            fputs("</td><td class=t>", f);
            esc(f, r->status);
            fputs("</td><td class=t>", f);
            esc(f, r->note);
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    fputs("</section>\n</body></html>\n", f);
    free(idx);
    return rc;
}
