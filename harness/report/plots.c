/*
 * plots.c - the charts of `qbench plot` / `qbench report` (see plots.h).
 * Per model: latency (bars per ISA, clusters per precision, whiskers from
 * the CI of the median or p5-p95), accuracy drop vs speed-up over fp32 on
 * the same ISA (Pareto front), energy and counters at the model's best
 * ISA (the one with the fastest fp32 row). Then kernel GOP/s per ISA,
 * per-layer SQNR, and the time split inside/outside kernels.
 */
#include "harness/report/plots.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/report/gnuplot.h"
#include "harness/report/rtable.h"

static const char *const isa_order[] = {"scalar", "avx2", "vnni", "neon"};

/* Category label of a row: precision, with the method unless none. */
static void cat_label(const qb_rrow *r, char *buf, size_t len)
{
    if (!strcmp(r->method, "none") || !r->method[0])
        snprintf(buf, len, "%s", r->precision);
    else
        snprintf(buf, len, "%s %s", r->precision, r->method);
    if (r->threads != 1 || r->batch != 1)
        snprintf(buf + strlen(buf), len - strlen(buf), " t%.0f b%.0f", r->threads, r->batch);
}

static int add_chart(qb_plot_list *out, const char *name, const char *title, const char *section)
{
    if (out->n == QB_PLOTS_MAX)
        return -1;
    snprintf(out->name[out->n], sizeof out->name[0], "%s", name);
    snprintf(out->title[out->n], sizeof out->title[0], "%s", title);
    snprintf(out->section[out->n], sizeof out->section[0], "%s", section);
    out->n++;
    return 0;
}

static void skip(qb_plot_list *out, FILE *log, const char *msg)
{
    if (log)
        fprintf(log, "qbench plot: skipped: %s\n", msg);
    if (out->nskipped < 8)
        snprintf(out->skipped[out->nskipped++], sizeof out->skipped[0], "%s", msg);
}

int qb_pareto(const double *x, const double *y, int n, int *keep)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        keep[i] = 1;
        for (int j = 0; j < n && keep[i]; j++)
            if (j != i && x[j] >= x[i] && y[j] <= y[i] && (x[j] > x[i] || y[j] < y[i]))
                keep[i] = 0;
        k += keep[i];
    }
    return k;
}

/* Does r have any hardware count (instructions or cache misses)? */
static int has_counts(const qb_rrow *r)
{
    double v[4] = {r->instructions, r->l1d_misses, r->l2_misses, r->llc_misses};
    for (int k = 0; k < 4; k++)
        if (!isnan(v[k]) && v[k] > 0)
            return 1;
    return 0;
}

/* The ISA of model's fastest measured fp32 row, or the ISA of its first
 * measured row; "" when none. counted: only rows with hardware counts
 * (cachegrind cannot run AVX-512 code, so the counted rows may be of
 * another ISA than the fastest). */
static const char *best_isa(const qb_rset *s, const int *idx, int n, const char *model, int counted)
{
    const char *best = "";
    double t = INFINITY;
    for (int i = 0; i < n; i++) {
        const qb_rrow *r = &s->rows[idx[i]];
        if (strcmp(r->model, model) || !qb_rrow_measured(r) || strcmp(r->precision, "fp32") || isnan(r->lat_median) ||
            (counted && !has_counts(r)))
            continue;
        if (r->lat_median < t) {
            t = r->lat_median;
            best = r->isa;
        }
    }
    if (best[0])
        return best;
    for (int i = 0; i < n; i++) {
        const qb_rrow *r = &s->rows[idx[i]];
        if (!strcmp(r->model, model) && qb_rrow_measured(r) && (!counted || has_counts(r)))
            return r->isa;
    }
    return "";
}

static int latency_chart(const char *dir, const qb_rset *s, const int *idx, int n, const char *model,
                         qb_plot_list *out, char *err, size_t errlen)
{
    qb_bars *b = malloc(sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    qb_bars_init(b);
    const char *kind = NULL;
    int mixed_kinds = 0;
    double lo_v = INFINITY, hi_v = 0;
    for (int i = 0; i < n; i++) {
        const qb_rrow *r = &s->rows[idx[i]];
        if (strcmp(r->model, model) || !qb_rrow_measured(r) || isnan(r->lat_median))
            continue;
        char cl[160];
        cat_label(r, cl, sizeof cl);
        int c = qb_bars_cat(b, cl), k = qb_bars_ser(b, r->isa);
        if (c < 0 || k < 0)
            continue;
        b->v[c][k] = r->lat_median;
        const char *w = qb_rrow_whiskers(r, &b->lo[c][k], &b->hi[c][k]);
        if (!kind)
            kind = w;
        else if (strcmp(kind, w))
            mixed_kinds = 1;
        lo_v = fmin(lo_v, fmin(r->lat_median, isnan(b->lo[c][k]) ? INFINITY : b->lo[c][k]));
        hi_v = fmax(hi_v, fmax(r->lat_median, isnan(b->hi[c][k]) ? 0 : b->hi[c][k]));
    }
    int rc = 0;
    if (b->ncat) {
        char name[200], safe[128], title[300], note[200];
        qb_plot_safe_name(model, safe, sizeof safe);
        snprintf(name, sizeof name, "latency-%s", safe);
        snprintf(title, sizeof title, "%s: latency per inference by precision and ISA (median)", model);
        if (mixed_kinds)
            snprintf(note, sizeof note, "whiskers: 95%% CI of the median where present, else p5-p95, else none");
        else if (kind && kind[0])
            snprintf(note, sizeof note, "whiskers: %s", kind);
        else
            snprintf(note, sizeof note, "no whiskers: the results have no CI of the median nor p5/p95 columns");
        rc = qb_plot_bars(dir, name, title, hi_v / lo_v > 10 ? "latency (ms, median; log scale)" : "latency (ms, median)", b,
                          hi_v / lo_v > 10, note, err, errlen);
        if (!rc)
            add_chart(out, name, title, "latency");
    }
    free(b);
    return rc;
}

static int pareto_chart(const char *dir, const qb_rset *s, const int *idx, int n, const char *model,
                        qb_plot_list *out, char *err, size_t errlen)
{
    int cap = n ? n : 1, m = 0;
    double *x = malloc((size_t)cap * sizeof *x), *y = malloc((size_t)cap * sizeof *y);
    int *keep = malloc((size_t)cap * sizeof *keep), *ri = malloc((size_t)cap * sizeof *ri);
    int rc = 0;
    if (!x || !y || !keep || !ri) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto out;
    }
    /* a model without labels (no row has a drop) is drawn by its argmax disagreement with fp32, which
     * bounds the top-1 drop on any labels */
    int labels = 0;
    for (int i = 0; i < n; i++)
        labels |= !strcmp(s->rows[idx[i]].model, model) && !isnan(s->rows[idx[i]].drop);
    for (int i = 0; i < n; i++) {
        const qb_rrow *r = &s->rows[idx[i]];
        double loss = labels ? r->drop : 100 - r->agreement;
        if (strcmp(r->model, model) || !qb_rrow_measured(r) || isnan(r->lat_median) || r->lat_median <= 0 ||
            isnan(loss))
            continue;
        const qb_rrow *f = qb_rset_fp32(s, r);
        if (!f)
            continue;
        x[m] = f->lat_median / r->lat_median;
        y[m] = loss;
        ri[m++] = idx[i];
    }
    if (m < 2)
        goto out;
    qb_pareto(x, y, m, keep);
    char safe[128], name[200], dat[220], title[300];
    qb_plot_safe_name(model, safe, sizeof safe);
    snprintf(name, sizeof name, "pareto-%s", safe);
    snprintf(dat, sizeof dat, "%s.dat", name);
    FILE *f = qb_plot_open(dir, dat, err, errlen);
    if (!f) {
        rc = -1;
        goto out;
    }
    /* one data block per precision (point shape), then the front */
    const char *precs[16];
    int np = 0;
    for (int i = 0; i < m; i++) {
        const char *p = s->rows[ri[i]].precision;
        int seen = 0;
        for (int j = 0; j < np; j++)
            seen |= !strcmp(precs[j], p);
        if (!seen && np < 16)
            precs[np++] = p;
    }
    for (int j = 0; j < np; j++) {
        fprintf(f, "# precision %s: speed-up over fp32 (same ISA), %s (pt), label\n", precs[j],
                labels ? "accuracy drop" : "argmax disagreement with fp32");
        for (int i = 0; i < m; i++) {
            const qb_rrow *r = &s->rows[ri[i]];
            if (strcmp(r->precision, precs[j]))
                continue;
            /* labels on the front only (the rest would overlap) */
            fprintf(f, "%.6g %.6g \"%s%s%s\"\n", x[i], y[i], keep[i] ? r->isa : "",
                    keep[i] && strcmp(r->method, "none") ? " " : "", keep[i] && strcmp(r->method, "none") ? r->method : "");
        }
        fprintf(f, "\n\n");
    }
    fprintf(f, "# Pareto front (no other cell is both faster and more accurate)\n");
    int *ord = malloc((size_t)m * sizeof *ord), no = 0;
    if (ord) {
        for (int i = 0; i < m; i++)
            if (keep[i])
                ord[no++] = i;
        for (int a = 0; a < no; a++) /* by speed-up */
            for (int b = a + 1; b < no; b++)
                if (x[ord[b]] < x[ord[a]]) {
                    int t = ord[a];
                    ord[a] = ord[b];
                    ord[b] = t;
                }
        for (int a = 0; a < no; a++)
            fprintf(f, "%.6g %.6g\n", x[ord[a]], y[ord[a]]);
        free(ord);
    }
    if (fclose(f)) {
        snprintf(err, errlen, "%s/%s: cannot write", dir, dat);
        rc = -1;
        goto out;
    }
    snprintf(title, sizeof title, "%s: %s vs speed-up over fp32 on the same ISA", model,
             labels ? "accuracy drop" : "argmax disagreement with fp32 (no labels)");
    char body[8192];
    int k = snprintf(body, sizeof body,
                     "set title \"%s\"\nset xlabel \"speed-up over fp32, same ISA (x, higher is better)\"\n"
                     "set ylabel \"%s\"\nset grid lc rgb '#bbbbbb'\n"
                     "set key outside right top box opaque\nset border 3\nset xtics nomirror\nset ytics nomirror\n"
                     "set arrow 1 from 1, graph 0 to 1, graph 1 nohead dt 3 lc rgb 'black'\n"
                     "set offsets graph 0.05, graph 0.15, graph 0.1, graph 0.1\nplot ",
                     title, labels ? "accuracy drop (points, lower is better)"
                                   : "outputs whose argmax differs from fp32's (%, bounds the top-1 drop)");
    for (int j = 0; j < np; j++)
        k += snprintf(body + k, sizeof body - (size_t)k,
                      "'%s' index %d using 1:2 with points pt %d ps 1.6 lc rgb 'black' title \"%s\", \\\n"
                      "     '%s' index %d using 1:2:3 with labels offset 1,0.7 font \",8\" notitle, \\\n     ",
                      dat, j, (int[]){5, 7, 9, 11, 13, 4, 6, 8, 10, 12, 1, 2, 3, 14, 15, 16}[j], precs[j], dat, j);
    snprintf(body + k, sizeof body - (size_t)k,
             "'%s' index %d using 1:2 with lines dt 2 lw 1.5 lc rgb 'black' title \"Pareto front\"", dat, np);
    rc = qb_plot_script(dir, name, body, err, errlen);
    if (!rc)
        add_chart(out, name, title, "pareto");
out:
    free(x);
    free(y);
    free(keep);
    free(ri);
    return rc;
}

/* Energy (modelled, measured) at the model's best ISA, or counters
 * (instructions, misses) at its best ISA among the rows that have them. */
static int best_isa_chart(const char *dir, const qb_rset *s, const int *idx, int n, const char *model, int counters,
                          qb_plot_list *out, char *err, size_t errlen)
{
    const char *isa = best_isa(s, idx, n, model, counters);
    if (!isa[0])
        return 0;
    qb_bars *b = malloc(sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    qb_bars_init(b);
    static const char *const eser[] = {"modelled", "measured (RAPL)"};
    static const char *const cser[] = {"instructions", "L1d misses", "L2 misses", "LLC misses"};
    int nser = counters ? 4 : 2, any = 0, measured = 0;
    for (int k = 0; k < nser; k++)
        qb_bars_ser(b, counters ? cser[k] : eser[k]);
    for (int i = 0; i < n; i++) {
        const qb_rrow *r = &s->rows[idx[i]];
        if (strcmp(r->model, model) || strcmp(r->isa, isa) || !qb_rrow_measured(r))
            continue;
        double v[4] = {counters ? r->instructions : r->energy_model_mj, counters ? r->l1d_misses : r->energy_meas_mj,
                       r->l2_misses, r->llc_misses};
        int has = 0;
        for (int k = 0; k < nser; k++)
            has |= !isnan(v[k]) && v[k] > 0;
        if (!has)
            continue;
        char cl[160];
        cat_label(r, cl, sizeof cl);
        int c = qb_bars_cat(b, cl);
        if (c < 0)
            continue;
        for (int k = 0; k < nser; k++)
            if (!isnan(v[k]) && v[k] > 0) {
                b->v[c][k] = v[k];
                any = 1;
                measured |= k == 1;
            }
    }
    int rc = 0;
    if (any) {
        char safe[128], name[200], title[300];
        qb_plot_safe_name(model, safe, sizeof safe);
        snprintf(name, sizeof name, "%s-%s", counters ? "counters" : "energy", safe);
        snprintf(title, sizeof title, counters ? "%s: instructions and cache misses per inference (%s)"
                                               : "%s: energy per inference by precision (%s)",
                 model, isa);
        rc = qb_plot_bars(dir, name, title, counters ? "count per inference (log scale)" : "energy (mJ per inference)",
                          b, counters, counters ? "" : measured ? "" : "no RAPL measurement in these results: modelled only",
                          err, errlen);
        if (!rc)
            add_chart(out, name, title, counters ? "counters" : "energy");
    }
    free(b);
    return rc;
}

static int kernel_charts(const char *dir, const qb_plot_inputs *in, qb_plot_list *out, FILE *log, char *err,
                         size_t errlen)
{
    if (!in->nkernels) {
        skip(out, log, "kernel throughput: no --kernels file (make bench writes reports/kernels.csv)");
        return 0;
    }
    for (int ii = 0; ii < 4; ii++) {
        qb_bars *b = malloc(sizeof *b);
        if (!b) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        qb_bars_init(b);
        for (int f = 0; f < in->nkernels; f++) {
            qb_rtable t;
            if (qb_rtable_load(in->kernels[f], &t, err, errlen)) {
                free(b);
                return -1;
            }
            static const char *const need[] = {"precision", "isa", "m", "n", "k", "gops"};
            int col[6];
            for (int c = 0; c < 6; c++)
                if ((col[c] = qb_rtable_col(&t, need[c])) < 0) {
                    snprintf(err, errlen, "%s:1: not a kernel table (qbench gemm --csv): no column '%s'",
                             in->kernels[f], need[c]);
                    qb_rtable_free(&t);
                    free(b);
                    return -1;
                }
            int gcol = qb_rtable_col(&t, "group");
            for (int r = 0; r < t.nrows; r++) {
                if (strcmp(qb_rtable_str(&t, r, col[1]), isa_order[ii]))
                    continue;
                double g, gr;
                if (qb_rtable_num(&t, r, col[5], &g, err, errlen) || qb_rtable_num(&t, r, gcol, &gr, err, errlen)) {
                    qb_rtable_free(&t);
                    free(b);
                    return -1;
                }
                if (isnan(g))
                    continue;
                char shape[96], prec[96];
                snprintf(shape, sizeof shape, "%.30sx%.30sx%.30s", qb_rtable_str(&t, r, col[2]),
                         qb_rtable_str(&t, r, col[3]), qb_rtable_str(&t, r, col[4]));
                snprintf(prec, sizeof prec, "%.60s%s", qb_rtable_str(&t, r, col[0]), "");
                if (!isnan(gr) && gr > 0)
                    snprintf(prec + strlen(prec), sizeof prec - strlen(prec), " g%.0f", gr);
                int c = qb_bars_cat(b, shape), k = qb_bars_ser(b, prec);
                if (c >= 0 && k >= 0)
                    b->v[c][k] = g;
            }
            qb_rtable_free(&t);
        }
        int rc = 0;
        if (b->ncat) {
            char name[64], title[200];
            snprintf(name, sizeof name, "kernels-%s", isa_order[ii]);
            snprintf(title, sizeof title, "GEMM kernel throughput on %s by shape (MxNxK) and precision", isa_order[ii]);
            rc = qb_plot_bars(dir, name, title, "GOP/s (MAC = 2 ops, log scale)", b, 1, "", err, errlen);
            if (!rc)
                add_chart(out, name, title, "kernels");
        }
        free(b);
        if (rc)
            return -1;
    }
    return 0;
}

static int layers_chart(const char *dir, const qb_plot_inputs *in, qb_plot_list *out, FILE *log, char *err,
                        size_t errlen)
{
    if (!in->layers) {
        skip(out, log, "per-layer SQNR: no --per-layer file (save `qbench eval MODEL -p mixed --per-layer`)");
        return 0;
    }
    qb_bars *b = malloc(sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    qb_bars_init(b);
    qb_bars_ser(b, "propagated (errors of earlier layers included)");
    qb_bars_ser(b, "isolated (fp32 inputs)");
    int infinite = 0;
    for (int i = 0; i < in->layers->n; i++) {
        char cl[96];
        snprintf(cl, sizeof cl, "%.50s (%.15s)", in->layers->name[i], in->layers->prec[i]);
        int c = qb_bars_cat(b, cl);
        if (c < 0)
            break;
        double p = in->layers->prop_db[i], s = in->layers->iso_db[i];
        infinite |= !isfinite(p) || !isfinite(s);
        b->v[c][0] = isfinite(p) ? p : NAN;
        b->v[c][1] = isfinite(s) ? s : NAN;
    }
    char title[300];
    snprintf(title, sizeof title, "per-layer SQNR of the outputs against fp32, with the plan's precision (%s)",
             in->layers_label ? in->layers_label : "");
    int rc = qb_plot_bars(dir, "layers-sqnr", title, "SQNR (dB, higher is better)", b, 0,
                          infinite ? "missing bars: bit-identical to fp32 (SQNR infinite)" : "", err, errlen);
    if (!rc)
        add_chart(out, "layers-sqnr", title, "layers");
    free(b);
    return rc;
}

static int split_chart(const char *dir, const qb_plot_inputs *in, const int *idx, int n, qb_plot_list *out,
                       FILE *log, char *err, size_t errlen)
{
    qb_bars *b = malloc(sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    qb_bars_init(b);
    b->stacked = 1;
    qb_bars_ser(b, "inside kernels");
    qb_bars_ser(b, "outside kernels");
    const qb_rset *s = in->results;
    for (int i = 0; s && i < n; i++) {
        const qb_rrow *r = &s->rows[idx[i]];
        if (!qb_rrow_measured(r) || isnan(r->kernel_ms) || isnan(r->outside_ms))
            continue;
        char key[700];
        qb_rrow_key(r, key, sizeof key);
        int c = qb_bars_cat(b, key);
        if (c >= 0)
            b->v[c][0] = r->kernel_ms, b->v[c][1] = r->outside_ms;
    }
    for (int i = 0; i < in->nprofiles; i++) {
        int c = qb_bars_cat(b, in->profiles[i].label);
        if (c >= 0)
            b->v[c][0] = in->profiles[i].kernel_ms, b->v[c][1] = in->profiles[i].outside_ms;
    }
    int rc = 0;
    if (!b->ncat) {
        skip(out, log, "time inside vs outside kernels: no kernel-time columns and no --profile LABEL=FILE "
                       "(save `qbench run --profile`)");
    } else {
        const char *title = "time per inference inside vs outside the kernels";
        rc = qb_plot_bars(dir, "time-split", title, "ms per inference (qbench run --profile)", b, 0,
                          "outside: graph walk, (de)quantization, im2col, elementwise ops", err, errlen);
        if (!rc)
            add_chart(out, "time-split", title, "split");
    }
    free(b);
    return rc;
}

int qb_plots_write(const char *dir, const qb_plot_inputs *in, qb_plot_list *out, FILE *log, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const qb_rset *s = in->results;
    int n = 0, *idx = NULL;
    if (s && s->n) {
        idx = malloc((size_t)s->n * sizeof *idx);
        if (!idx) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        n = qb_rset_latest(s, idx);
        qb_rset_sort(s, idx, n);
    }
    int rc = 0, any_pareto = 0, any_energy = 0, any_counters = 0;
    for (int i = 0; i < n && !rc; i++) {
        const char *model = s->rows[idx[i]].model;
        if (i && !strcmp(model, s->rows[idx[i - 1]].model))
            continue;
        int before = out->n;
        rc = latency_chart(dir, s, idx, n, model, out, err, errlen);
        if (!rc)
            rc = pareto_chart(dir, s, idx, n, model, out, err, errlen);
        any_pareto |= out->n > before + 1;
        before = out->n;
        if (!rc)
            rc = best_isa_chart(dir, s, idx, n, model, 0, out, err, errlen);
        any_energy |= out->n > before;
        before = out->n;
        if (!rc)
            rc = best_isa_chart(dir, s, idx, n, model, 1, out, err, errlen);
        any_counters |= out->n > before;
    }
    if (!n)
        skip(out, log, "latency, accuracy, energy, counters: no results rows");
    else {
        if (!any_pareto)
            skip(out, log, "accuracy vs speed-up: no model has two quantized cells with accuracy (or argmax agreement) "
                           "and an fp32 row");
        if (!any_energy)
            skip(out, log, "energy: no energy columns in the results");
        if (!any_counters)
            skip(out, log, "counters: no instruction or cache-miss counts in the results (counters = none?)");
    }
    if (!rc)
        rc = kernel_charts(dir, in, out, log, err, errlen);
    if (!rc)
        rc = layers_chart(dir, in, out, log, err, errlen);
    if (!rc)
        rc = split_chart(dir, in, idx, n, out, log, err, errlen);
    free(idx);
    return rc;
}
