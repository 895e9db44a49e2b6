/*
 * plan.c - expand a scenario into cells, prune, shard, filter (plan.h).
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/sweep/kcell.h"
#include "harness/sweep/plan.h"

int qb_plan_valid(qb_precision p, qb_method m)
{
    int is_float = qb_precision_is_float(p);
    if (p == QB_PREC_MIXED && m == QB_METHOD_QAT)
        return 0; /* the mixed search calibrates with a PTQ observer (harness/quant/mixed.c) */
    return is_float ? m == QB_METHOD_NONE : m != QB_METHOD_NONE;
}

void qb_cell_id(char *buf, size_t len, const char *model, const char *prec, const char *method, const char *isa,
                int threads, int batch)
{
    snprintf(buf, len, "%s/%s/%s/%s/t%d/b%d", model, prec, method, isa, threads, batch);
}

/* A kernel shape with precision p: does the registry have that kernel
 * family in p on some ISA? (Models: always.) */
static int has_kernel(const qb_sc_model *m, qb_precision p)
{
    if (!m->kernel[0])
        return 1;
    if (m->group && p != QB_PREC_INT4) /* a group size only means something for int4 */
        return 0;
    for (int i = 0; i < QB_ISA_COUNT; i++)
        if (qb_kcell_kernel(m, p, i))
            return 1;
    return 0;
}

int qb_plan_build(const qb_scenario *sc, qb_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    size_t max = (size_t)sc->nmodels * sc->nprec * sc->nmethods * sc->nisas * sc->nthreads * sc->nbatch;
    plan->cells = calloc(max ? max : 1, sizeof *plan->cells);
    if (!plan->cells)
        return -1;
    for (int mo = 0; mo < sc->nmodels; mo++)
        for (int p = 0; p < sc->nprec; p++)
            for (int me = 0; me < sc->nmethods; me++) {
                if (!qb_plan_valid(sc->prec[p], sc->methods[me]) || !has_kernel(&sc->models[mo], sc->prec[p])) {
                    plan->pruned += sc->nisas * sc->nthreads * sc->nbatch;
                    continue;
                }
                int group = plan->ngroups++;
                for (int i = 0; i < sc->nisas; i++)
                    for (int t = 0; t < sc->nthreads; t++)
                        for (int b = 0; b < sc->nbatch; b++) {
                            qb_cell *c = &plan->cells[plan->n];
                            c->model = mo;
                            c->prec = sc->prec[p];
                            c->method = sc->methods[me];
                            c->repairs = sc->method_repairs[me];
                            c->isa = sc->isas[i];
                            c->threads = sc->threads[t];
                            c->batch = sc->batch[b];
                            c->index = plan->n;
                            c->group = group;
                            char ms[96];
                            qb_cell_id(c->id, sizeof c->id, sc->models[mo].name, qb_precision_name(c->prec),
                                       qb_method_str(c->method, c->repairs, ms, sizeof ms), qb_isa_name(c->isa), c->threads, c->batch);
                            plan->n++;
                        }
            }
    return 0;
}

int qb_shard_parse(const char *s, int *i, int *n)
{
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || *end != '/')
        return -1;
    const char *q = end + 1;
    long b = strtol(q, &end, 10);
    if (end == q || *end || b < 1 || b > 100000 || a < 1 || a > b)
        return -1;
    *i = (int)a;
    *n = (int)b;
    return 0;
}

void qb_plan_shard(qb_plan *plan, int i, int n)
{
    int k = 0;
    for (int j = 0; j < plan->n; j++)
        if (plan->cells[j].group % n == i - 1)
            plan->cells[k++] = plan->cells[j];
    plan->n = k;
}

int qb_plan_only(qb_plan *plan, const char *regex, char *err, size_t errlen)
{
    regex_t re;
    int r = regcomp(&re, regex, REG_EXTENDED | REG_NOSUB);
    if (r) {
        char msg[200];
        regerror(r, &re, msg, sizeof msg);
        snprintf(err, errlen, "--only '%s': %s", regex, msg);
        return -1;
    }
    int k = 0;
    for (int j = 0; j < plan->n; j++)
        if (!regexec(&re, plan->cells[j].id, 0, NULL, 0))
            plan->cells[k++] = plan->cells[j];
    plan->n = k;
    regfree(&re);
    return 0;
}

void qb_plan_free(qb_plan *plan)
{
    free(plan->cells);
    memset(plan, 0, sizeof *plan);
}

/* "^ID$" with the regex metacharacters of ID escaped (for --only). */
void qb_cell_only_regex(const char *id, char *buf, size_t len)
{
    size_t k = 0;
    if (len < 3)
        return;
    buf[k++] = '^';
    for (; *id && k + 3 < len; id++) {
        if (strchr(".[]()*+?{}|^$\\", *id))
            buf[k++] = '\\';
        buf[k++] = *id;
    }
    buf[k++] = '$';
    buf[k] = 0;
}
