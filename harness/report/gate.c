/*
 * gate.c - the regression gate of `qbench compare` (see gate.h).
 *
 * Per matched cell (both rows measured):
 * - latency: a regression when the new median is slower than the base by
 *   more than the tolerance AND, when both rows have the confidence
 *   interval of the median, the intervals do not overlap (new low above
 *   base high); an improvement symmetrically. Without intervals the
 *   tolerance alone decides (say so: the report names the rule used).
 * - instructions (cachegrind or PAPI counts): exact, tolerance 0 by default.
 * - accuracy: the drop (or, without it, the top-1 loss) grows by more than
 *   the accuracy tolerance; for integer precisions any change of a
 *   non-empty output_hash (integer paths are bit-exact).
 * A cell measured in base that failed in new is an accuracy (correctness)
 * failure. Cells present on one side only are listed.
 */
#include "harness/report/gate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void qb_gate_defaults(qb_gate_opts *o)
{
    o->perf_tol = NAN;
    o->accuracy_tol = 0.2;
    o->metric = QB_GATE_LATENCY;
    o->strict = 0;
}

/* The first non-empty value of a text field over the rows of s. */
static const char *first_text(const qb_rset *s, size_t off)
{
    for (int i = 0; i < s->n; i++) {
        const char *v = *(const char *const *)((const char *)&s->rows[i] + off);
        if (v[0])
            return v;
    }
    return "";
}

/* Same set of space-separated words. */
static int same_words(const char *a, const char *b)
{
    for (int pass = 0; pass < 2; pass++) {
        const char *x = pass ? b : a, *y = pass ? a : b;
        while (*x) {
            while (*x == ' ')
                x++;
            size_t n = strcspn(x, " ");
            if (!n)
                break;
            int found = 0;
            for (const char *p = y; *p && !found;) {
                while (*p == ' ')
                    p++;
                size_t m = strcspn(p, " ");
                found = m == n && !strncmp(p, x, n);
                p += m;
            }
            if (!found)
                return 0;
            x += n;
        }
    }
    return 1;
}

static void fmt_num(char *buf, size_t len, double v, const char *fmt)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, fmt, v);
}

/* The row's accuracy loss in points: drop, else NAN. */
static double loss(const qb_rrow *r)
{
    return r->drop;
}

void qb_gate_run(const qb_rset *base, const qb_rset *cur, const qb_gate_opts *o, FILE *out, qb_gate_result *res)
{
    memset(res, 0, sizeof *res);
    int lat = o->metric == QB_GATE_LATENCY;
    double tol = !isnan(o->perf_tol) ? o->perf_tol : lat ? 0.05 : 0.0;

    const char *bc = first_text(base, offsetof(qb_rrow, cpu)), *nc = first_text(cur, offsetof(qb_rrow, cpu));
    const char *bf = first_text(base, offsetof(qb_rrow, isa_flags)), *nf = first_text(cur, offsetof(qb_rrow, isa_flags));
    if (strcmp(bc, nc) || !same_words(bf, nf)) {
        res->machine_differs = 1;
        fprintf(out, "> **%s:** different machines: base `%s` [%s], new `%s` [%s]%s\n\n",
                o->strict ? "error" : "warning", bc, bf, nc, nf,
                o->strict ? " (--strict)" : "; performance deltas compare hardware, not code");
    }

    int *bi = malloc(((size_t)base->n + 1) * sizeof *bi), *ni = malloc(((size_t)cur->n + 1) * sizeof *ni);
    if (!bi || !ni) {
        free(bi);
        free(ni);
        fprintf(out, "qbench compare: out of memory\n");
        res->exit_code = 2;
        return;
    }
    int nb = qb_rset_latest(base, bi), nn = qb_rset_latest(cur, ni);
    int any_ci = 0;

    fprintf(out, "| cell | base %s | new %s | change | base drop pt | new drop pt | output hash | verdict |\n",
            lat ? "median ms" : "instructions", lat ? "median ms" : "instructions");
    fprintf(out, "|---|---:|---:|---:|---:|---:|---|---|\n");
    char key[700], k2[700];
    for (int i = 0; i < nn; i++) {
        const qb_rrow *n = &cur->rows[ni[i]];
        qb_rrow_key(n, key, sizeof key);
        const qb_rrow *b = NULL;
        for (int j = 0; j < nb && !b; j++) {
            qb_rrow_key(&base->rows[bi[j]], k2, sizeof k2);
            if (!strcmp(key, k2))
                b = &base->rows[bi[j]];
        }
        if (!b)
            continue;
        res->matched++;
        char verdict[200] = "", bv[32], nv[32], dv[32], bd[32], nd[32], hash[32] = "";
        double vb = lat ? b->lat_median : b->instructions, vn = lat ? n->lat_median : n->instructions;
        fmt_num(bv, sizeof bv, vb, lat ? "%.4f" : "%.0f");
        fmt_num(nv, sizeof nv, vn, lat ? "%.4f" : "%.0f");
        fmt_num(bd, sizeof bd, loss(b), "%.2f");
        fmt_num(nd, sizeof nd, loss(n), "%.2f");
        snprintf(dv, sizeof dv, "-");
        int acc_bad = 0, perf_bad = 0, better = 0;
        if (!qb_rrow_measured(b) || !qb_rrow_measured(n)) {
            if (qb_rrow_measured(b) && !strcmp(n->status, "failed")) {
                acc_bad = 1;
                snprintf(verdict, sizeof verdict, "**FAILED now** (was %s)", b->status);
            } else if (strcmp(b->status, n->status)) {
                snprintf(verdict, sizeof verdict, "status %s -> %s", b->status, n->status);
            } else {
                snprintf(verdict, sizeof verdict, "%s", n->status);
            }
        } else {
            if (!isnan(vb) && !isnan(vn) && vb > 0) {
                double d = vn / vb - 1;
                snprintf(dv, sizeof dv, "%+.1f%%", 100 * d);
                int ci = lat && !isnan(b->lat_ci_high) && !isnan(n->lat_ci_low) && !isnan(b->lat_ci_low) &&
                         !isnan(n->lat_ci_high);
                any_ci |= ci;
                if (d > tol && (!ci || n->lat_ci_low > b->lat_ci_high))
                    perf_bad = 1;
                else if (d < -tol && (!ci || n->lat_ci_high < b->lat_ci_low))
                    better = 1;
                else if (fabs(d) > tol)
                    snprintf(verdict, sizeof verdict, "within noise (CIs overlap); ");
            } else if (!lat) {
                snprintf(verdict, sizeof verdict, "no instruction counts; ");
            }
            double lb = loss(b), ln = loss(n);
            if (!isnan(lb) && !isnan(ln) && ln - lb > o->accuracy_tol)
                acc_bad = 1;
            else if (isnan(lb) && isnan(ln) && !isnan(b->top1) && !isnan(n->top1) && b->top1 - n->top1 > o->accuracy_tol)
                acc_bad = 1;
            if (b->output_hash[0] && n->output_hash[0]) {
                int same = !strcmp(b->output_hash, n->output_hash);
                snprintf(hash, sizeof hash, "%s", same ? "same" : "**changed**");
                if (!same && qb_precision_is_integer(n->precision))
                    acc_bad = 2;
            }
            size_t l = strlen(verdict);
            if (acc_bad == 2)
                snprintf(verdict + l, sizeof verdict - l, "**ACCURACY: integer output changed**");
            else if (acc_bad)
                snprintf(verdict + l, sizeof verdict - l, "**ACCURACY regression** (drop +%.2f pt)", ln - lb);
            l = strlen(verdict);
            if (perf_bad)
                snprintf(verdict + l, sizeof verdict - l, "%s**SLOWER**", l ? "; " : "");
            else if (better)
                snprintf(verdict + l, sizeof verdict - l, "%sfaster", l ? "; " : "");
            else if (!acc_bad)
                snprintf(verdict + l, sizeof verdict - l, "ok");
        }
        res->accuracy_regressions += acc_bad != 0;
        res->perf_regressions += perf_bad;
        res->improvements += better;
        fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", key, bv, nv, dv, bd, nd, hash[0] ? hash : "-",
                verdict);
    }
    for (int pass = 0; pass < 2; pass++) {
        const qb_rset *a = pass ? base : cur, *other = pass ? cur : base;
        int *ai = pass ? bi : ni, na = pass ? nb : nn;
        int count = 0;
        for (int i = 0; i < na; i++) {
            qb_rrow_key(&a->rows[ai[i]], key, sizeof key);
            if (qb_rset_find(other, key))
                continue;
            if (!count++)
                fprintf(out, "\n%s cells (only in %s):\n", pass ? "Disappeared" : "Appeared", pass ? "base" : "new");
            fprintf(out, "- %s (%s)\n", key, a->rows[ai[i]].status);
        }
        if (pass)
            res->disappeared = count;
        else
            res->appeared = count;
    }
    free(bi);
    free(ni);
    fprintf(out, "\nRule: %s; accuracy drop may grow by %.2f pt; integer precisions must keep their output hash.\n",
            lat ? (any_ci ? "latency slower by more than the tolerance with non-overlapping 95% CIs of the median"
                          : "latency slower by more than the tolerance (no CI columns in these files: tolerance only)")
                : "instructions per inference, exact counts",
            o->accuracy_tol);
    fprintf(out, "Tolerance %.1f%%. %d matched, %d accuracy regressions, %d %s regressions, %d improvements, "
                 "%d appeared, %d disappeared.\n",
            100 * tol, res->matched, res->accuracy_regressions, res->perf_regressions, lat ? "latency" : "instruction",
            res->improvements, res->appeared, res->disappeared);
    if (res->machine_differs && o->strict)
        res->exit_code = 2;
    else if (res->accuracy_regressions)
        res->exit_code = 1;
    else if (res->perf_regressions)
        res->exit_code = 3;
}
