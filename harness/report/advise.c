/*
 * advise.c - the advisor (see advise.h). Accuracy does not depend on the
 * ISA for integer precisions, so the verdict of (model, precision) takes
 * the best drop over every measured row of that pair; speed is per
 * (machine, ISA). A row without labels (a public model on its own
 * inputs) has no top-1 drop but an argmax agreement with its FP32
 * model: its disagreement bounds the top-1 drop on any labels, so the
 * advisor weighs that bound ("drop at most X pt").
 */
#include "harness/report/advise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *qb_verdict_name(qb_verdict v)
{
    static const char *const names[] = {"PTQ suffices", "QAT needed", "mixed precision", "not reachable within budget",
                                        "no accuracy measured"};
    return names[v];
}

/* The accuracy loss the advisor weighs, in points: the top-1 drop when the
 * row has one; else the share of outputs whose argmax differs from the
 * FP32 model's (100 - agreement), which bounds the top-1 drop on any
 * labels; NAN when neither was measured. */
static double loss_of(const qb_rrow *r)
{
    if (!isnan(r->drop))
        return r->drop;
    return isnan(r->agreement) ? NAN : 100 - r->agreement;
}

/* The measured row of (model, precision) with the lowest drop whose method
 * starts with prefix ("ptq" (or none), "qat", "" any); NULL if none. */
static const qb_rrow *best_drop(const qb_rset *s, const char *model, const char *precision, const char *prefix)
{
    const qb_rrow *best = NULL;
    for (int i = 0; i < s->n; i++) {
        const qb_rrow *r = &s->rows[i];
        if (strcmp(r->model, model) || strcmp(r->precision, precision) || !qb_rrow_measured(r) || isnan(loss_of(r)))
            continue;
        /* "ptq" also takes method none (fp16: a conversion, no calibration) */
        if (strncmp(r->method, prefix, strlen(prefix)) && !(!strcmp(prefix, "ptq") && !strcmp(r->method, "none")))
            continue;
        if (!best || loss_of(r) < loss_of(best))
            best = r;
    }
    return best;
}

/* "0.10 pt (95% CI ..)" of a drop; "at most 3.44 pt (argmax agreement ...)" of a row without labels. */
static void drop_text(const qb_rrow *r, char *buf, size_t len)
{
    if (isnan(r->drop)) {
        int l = snprintf(buf, len, "at most %.2f pt (argmax agreement %.2f%% with fp32, no labels", loss_of(r),
                         r->agreement);
        if (!isnan(r->sqnr_db) && l > 0 && (size_t)l < len)
            l += snprintf(buf + l, len - (size_t)l, "; SQNR %.1f dB", r->sqnr_db);
        if (l > 0 && (size_t)l < len)
            snprintf(buf + l, len - (size_t)l, ")");
    } else if (!isnan(r->drop_ci_low) && !isnan(r->drop_ci_high))
        snprintf(buf, len, "%.2f pt (95%% CI %.2f..%.2f)", r->drop, r->drop_ci_low, r->drop_ci_high);
    else
        snprintf(buf, len, "%.2f pt", r->drop);
}

/* Why a (model, precision) has no verdict: the best SQNR of its rows when
 * that is all there is (no labels and no class axis), else "no accuracy". */
static void unknown_text(const qb_rset *s, const char *model, const char *precision, char *buf, size_t len)
{
    const qb_rrow *best = NULL;
    for (int i = 0; i < s->n; i++) {
        const qb_rrow *r = &s->rows[i];
        if (!strcmp(r->model, model) && !strcmp(r->precision, precision) && qb_rrow_measured(r) &&
            !isnan(r->sqnr_db) && (!best || r->sqnr_db > best->sqnr_db))
            best = r;
    }
    if (best)
        snprintf(buf, len, "no labels and no class axis, so no drop to weigh: output SQNR %.1f dB (%s); judge it "
                           "against the model's use",
                 best->sqnr_db, best->method);
    else
        snprintf(buf, len, "no accuracy measured (a model without labelled data and without agreement or SQNR: speed "
                           "only)");
}

/* The note's "plan ..." part, or "". */
static void plan_of(const qb_rrow *r, char *buf, size_t len)
{
    const char *p = strstr(r->note, "plan ");
    buf[0] = 0;
    if (p)
        snprintf(buf, len, "%.*s", (int)strcspn(p + 5, ";"), p + 5);
}

qb_verdict qb_advise_verdict(const qb_rset *s, const char *model, const char *precision, double budget, char *buf,
                             size_t len)
{
    const qb_rrow *ptq = best_drop(s, model, precision, "ptq"), *qat = best_drop(s, model, precision, "qat");
    const qb_rrow *mixed = best_drop(s, model, "mixed", "");
    char a[120], b[120], plan[300];
    if (!strcmp(precision, "mixed")) {
        if (!mixed) {
            unknown_text(s, model, precision, buf, len);
            return QB_VERDICT_UNKNOWN;
        }
        drop_text(mixed, a, sizeof a);
        plan_of(mixed, plan, sizeof plan);
        snprintf(buf, len, "%s plan (%s) drops %s%s", mixed->method, plan[0] ? plan : "plan not in the note", a,
                 loss_of(mixed) <= budget ? "" : ": above the budget");
        return loss_of(mixed) <= budget ? QB_VERDICT_MIXED : QB_VERDICT_UNREACHABLE;
    }
    if (!ptq && !qat) {
        unknown_text(s, model, precision, buf, len);
        return QB_VERDICT_UNKNOWN;
    }
    if (ptq && loss_of(ptq) <= budget) {
        drop_text(ptq, a, sizeof a);
        if (!strcmp(ptq->method, "none"))
            snprintf(buf, len, "plain conversion (no calibration), drop %s", a);
        else
            snprintf(buf, len, "best calibrator %s, drop %s", ptq->method, a);
        return QB_VERDICT_PTQ;
    }
    if (ptq)
        drop_text(ptq, a, sizeof a);
    else
        snprintf(a, sizeof a, "not measured");
    if (qat && loss_of(qat) <= budget) {
        drop_text(qat, b, sizeof b);
        char cost[64] = "QAT cost not recorded";
        if (!isnan(qat->qat_seconds))
            snprintf(cost, sizeof cost, "QAT cost %.0f s", qat->qat_seconds);
        snprintf(buf, len, "PTQ drop %s (best %s), QAT drop %s, %s", a, ptq ? ptq->method : "-", b, cost);
        return QB_VERDICT_QAT;
    }
    if (mixed && loss_of(mixed) <= budget) {
        drop_text(mixed, b, sizeof b);
        plan_of(mixed, plan, sizeof plan);
        const qb_rrow *f = qb_rset_fp32(s, mixed);
        char extra[200] = "";
        if (f && !isnan(f->weight_bytes) && !isnan(mixed->weight_bytes) && f->weight_bytes > 0)
            snprintf(extra, sizeof extra, ", weights %.0f%% smaller than fp32", 100 * (1 - mixed->weight_bytes / f->weight_bytes));
        if (f && !isnan(mixed->lat_median) && mixed->lat_median > 0)
            snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ", %.2fx the fp32 speed on %s",
                     f->lat_median / mixed->lat_median, mixed->isa);
        snprintf(buf, len, "%s PTQ drop %s%s; a mixed plan (%s) drops %s%s", precision, a,
                 qat ? ", QAT too" : " (no QAT row)", plan[0] ? plan : "see the note", b, extra);
        return QB_VERDICT_MIXED;
    }
    if (qat)
        drop_text(qat, b, sizeof b);
    /* QAT fine-tunes on labelled training data: a model judged by agreement alone has none */
    const char *noqat = ptq && isnan(ptq->drop) ? " (no QAT row: QAT needs labelled training data, which these inputs "
                                                  "lack; try another calibrator, a repair (+cle, +biascorr) or a layer "
                                                  "plan keeping the least precise layers fp32: eval --per-layer)"
                                                : " (no QAT row: try method qat)";
    snprintf(buf, len, "best PTQ drop %s%s%s%s", a, qat ? ", QAT drop " : noqat, qat ? b : "",
             mixed ? ", mixed above the budget too" : "");
    return QB_VERDICT_UNREACHABLE;
}

/* ---- output: Markdown or HTML ---- */

static void esc(FILE *f, const char *s, int html)
{
    for (; *s; s++) {
        if (html && *s == '<')
            fputs("&lt;", f);
        else if (html && *s == '>')
            fputs("&gt;", f);
        else if (html && *s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

static void heading(FILE *f, const char *t, int html)
{
    if (html) {
        fputs("<h3>", f);
        esc(f, t, 1);
        fputs("</h3>\n", f);
    } else {
        fprintf(f, "\n### %s\n\n", t);
    }
}

static void item(FILE *f, const char *bold, const char *text, int html)
{
    if (html) {
        fputs("<li><b>", f);
        esc(f, bold, 1);
        fputs("</b> ", f);
        esc(f, text, 1);
        fputs("</li>\n", f);
    } else {
        fprintf(f, "- **%s** %s\n", bold, text);
    }
}

/* Distinct values of a text field of the measured rows (in first-seen order). */
static int distinct(const qb_rset *s, size_t off, const char *model, const char **out, int max)
{
    int n = 0;
    for (int i = 0; i < s->n; i++) {
        const qb_rrow *r = &s->rows[i];
        if (model && strcmp(r->model, model))
            continue;
        const char *v = *(const char *const *)((const char *)r + off);
        int seen = 0;
        for (int j = 0; j < n; j++)
            seen |= !strcmp(out[j], v);
        if (!seen && n < max)
            out[n++] = v;
    }
    return n;
}

/* Why is int8 not faster than fp32 on (model, isa)? */
static void why_not_faster(const qb_rset *s, const qb_rrow *q, const qb_rrow *f, const qb_profile *pr, int np,
                           char *buf, size_t len)
{
    size_t l = 0;
    buf[0] = 0;
    for (int i = 0; i < np; i++)
        if (!strncmp(pr[i].label, q->model, strlen(q->model)) && pr[i].total_ms > 0)
            l += (size_t)snprintf(buf + l, len - l, "%sprofile %s: %.3f ms, %.0f%% outside kernels", l ? "; " : "",
                                  pr[i].label, pr[i].total_ms, 100 * pr[i].outside_ms / pr[i].total_ms);
    if (!isnan(q->kernel_ms) && !isnan(q->outside_ms) && l < len)
        l += (size_t)snprintf(buf + l, len - l, "%s%.0f%% of the int8 time outside kernels", l ? "; " : "",
                              100 * q->outside_ms / (q->kernel_ms + q->outside_ms));
    if (!isnan(q->macs) && q->macs < 2e6 && l < len)
        l += (size_t)snprintf(buf + l, len - l, "%sa small model (%.2g MACs per inference): fixed per-layer costs "
                                                "(quantizing activations, requantizing, the graph walk) weigh as much as "
                                                "the arithmetic",
                              l ? "; " : "", q->macs);
    if (!isnan(q->instructions) && !isnan(f->instructions) && f->instructions > 0 && l < len)
        l += (size_t)snprintf(buf + l, len - l, "%sinstructions %.2fx fp32's", l ? "; " : "",
                              q->instructions / f->instructions);
    (void)s;
    if (!l)
        snprintf(buf, len, "no evidence in these results: save `qbench run MODEL --profile -p %s` and pass it with "
                           "--profile LABEL=FILE to see the time outside kernels",
                 q->precision);
}

void qb_advise_print(FILE *f, const qb_rset *s, const qb_profile *profiles, int nprofiles, double budget, int html)
{
    const char *models[256], *precs[16], *hosts[32], *isas[8];
    int nm = distinct(s, offsetof(qb_rrow, model), NULL, models, 256);
    char t[600], ev[1500];
    int cis = 0;
    for (int i = 0; i < s->n; i++)
        cis |= !isnan(s->rows[i].drop_ci_low);
    if (!html)
        fprintf(f, "## Advice (accuracy budget %.2f points)\n", budget);
    if (html)
        fputs("<p>", f);
    fprintf(f, "%s\n", cis ? "Drops carry their 95% confidence interval where the results have one."
                           : "These results have no confidence interval of the accuracy drop: the drops are point "
                             "estimates (a drop near the budget may be noise).");
    if (html)
        fputs("</p>\n", f);
    for (int m = 0; m < nm; m++) {
        snprintf(t, sizeof t, "%s: verdict per target precision", models[m]);
        heading(f, t, html);
        if (html)
            fputs("<ul>\n", f);
        int np = distinct(s, offsetof(qb_rrow, precision), models[m], precs, 16);
        for (int i = 0; i + 1 < np; i++) /* canonical order */
            for (int j = i + 1; j < np; j++)
                if (qb_precision_rank(precs[j]) < qb_precision_rank(precs[i])) {
                    const char *x = precs[i];
                    precs[i] = precs[j];
                    precs[j] = x;
                }
        int any = 0;
        for (int p = 0; p < np; p++) {
            if (!strcmp(precs[p], "fp32"))
                continue;
            qb_verdict v = qb_advise_verdict(s, models[m], precs[p], budget, ev, sizeof ev);
            snprintf(t, sizeof t, "%s: %s", precs[p], qb_verdict_name(v));
            if (v == QB_VERDICT_UNKNOWN)
                snprintf(t, sizeof t, "%s:", precs[p]);
            item(f, t, ev, html);
            any = 1;
        }
        if (!any)
            item(f, "only fp32", "no quantized rows", html);
        if (html)
            fputs("</ul>\n", f);

        snprintf(t, sizeof t, "%s: fastest configuration within %.2f points, per machine and ISA", models[m], budget);
        heading(f, t, html);
        if (html)
            fputs("<ul>\n", f);
        int nh = distinct(s, offsetof(qb_rrow, cpu), models[m], hosts, 32);
        int ni = distinct(s, offsetof(qb_rrow, isa), models[m], isas, 8);
        for (int h = 0; h < nh; h++)
            for (int k = 0; k < ni; k++) {
                const qb_rrow *best = NULL, *fp = NULL;
                for (int i = 0; i < s->n; i++) {
                    const qb_rrow *r = &s->rows[i];
                    if (strcmp(r->model, models[m]) || strcmp(r->cpu, hosts[h]) || strcmp(r->isa, isas[k]) ||
                        !qb_rrow_measured(r) || isnan(r->lat_median))
                        continue;
                    double d = !strcmp(r->precision, "fp32") ? 0 : loss_of(r);
                    if (!strcmp(r->precision, "fp32") && (!fp || r->lat_median < fp->lat_median))
                        fp = r;
                    if (isnan(d) || d > budget)
                        continue;
                    if (!best || r->lat_median < best->lat_median)
                        best = r;
                }
                snprintf(t, sizeof t, "%s, %s", hosts[h][0] ? hosts[h] : "unknown CPU", isas[k]);
                if (!best && !fp)
                    continue; /* nothing measured there (unsupported ISA) */
                if (!best) {
                    item(f, t, "no measured configuration within the budget", html);
                    continue;
                }
                char sp[80] = "";
                if (fp && best != fp)
                    snprintf(sp, sizeof sp, ", %.2fx fp32's speed", fp->lat_median / best->lat_median);
                snprintf(ev, sizeof ev, "%s %s: %.4f ms median%s, drop %s", best->precision, best->method,
                         best->lat_median, sp, !strcmp(best->precision, "fp32") ? "0 (the reference)" : "");
                if (strcmp(best->precision, "fp32")) {
                    char d[200];
                    drop_text(best, d, sizeof d);
                    snprintf(ev + strlen(ev), sizeof ev - strlen(ev), "%s", d);
                }
                item(f, t, ev, html);
            }
        if (html)
            fputs("</ul>\n", f);

        /* int8 not faster than fp32 on an ISA: why */
        int said = 0;
        for (int k = 0; k < ni; k++)
            for (int h = 0; h < nh; h++) {
                const qb_rrow *q = NULL, *fp = NULL;
                for (int i = 0; i < s->n; i++) {
                    const qb_rrow *r = &s->rows[i];
                    if (strcmp(r->model, models[m]) || strcmp(r->cpu, hosts[h]) || strcmp(r->isa, isas[k]) ||
                        !qb_rrow_measured(r) || isnan(r->lat_median))
                        continue;
                    if (!strncmp(r->precision, "int8", 4) && (!q || r->lat_median < q->lat_median))
                        q = r;
                    if (!strcmp(r->precision, "fp32") && (!fp || r->lat_median < fp->lat_median))
                        fp = r;
                }
                if (!q || !fp || q->lat_median < fp->lat_median)
                    continue;
                if (!said++) {
                    snprintf(t, sizeof t, "%s: why int8 is not faster than fp32", models[m]);
                    heading(f, t, html);
                    if (html)
                        fputs("<ul>\n", f);
                }
                why_not_faster(s, q, fp, profiles, nprofiles, ev, sizeof ev);
                snprintf(t, sizeof t, "%s on %s: %.4f ms vs fp32 %.4f ms:", q->precision, isas[k], q->lat_median,
                         fp->lat_median);
                item(f, t, ev, html);
            }
        if (said && html)
            fputs("</ul>\n", f);
    }
    if (!nm) {
        heading(f, "no results rows", html);
    }
}
