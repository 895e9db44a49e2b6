/*
 * compare.c - reference outputs and the metrics of a graph against them
 * (see compare.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/eval/compare.h"

typedef struct ref_ctx {
    float *ref;     /* n x outs */
    int64_t outs;   /* floats per sample */
} ref_ctx;

static int keep_outputs(void *ctx, int from, int count, const float *y)
{
    ref_ctx *c = ctx;
    memcpy(c->ref + (size_t)from * c->outs, y, (size_t)count * c->outs * sizeof(float));
    return 0;
}

int qb_reference_outputs(const qb_graph *model, const qb_samples *s, int batch, int isa, float **ref, int64_t *outs,
                         qb_err *e)
{
    *ref = NULL;
    const char *model_path = model->file;
    qb_graph *g = qb_graph_clone(model, e);
    qb_runner r;
    if (!g || qb_runner_open_on(&r, g, batch, isa, s, e))
        return -1;
    ref_ctx c = {.outs = r.outs, .ref = malloc((size_t)s->n * r.outs * sizeof(float) + 1)};
    int rc = -1;
    if (!c.ref)
        qb_errf(e, "%s: out of memory", model_path);
    else
        rc = qb_runner_each(&r, s, keep_outputs, &c, e);
    qb_runner_close(&r);
    if (rc) {
        free(c.ref);
        return -1;
    }
    *ref = c.ref;
    *outs = c.outs;
    return 0;
}

typedef struct cmp_ctx {
    qb_metrics_acc acc;   /* running metrics */
    const qb_samples *s;  /* labels */
    const float *ref;     /* reference outputs */
    int64_t outs;         /* floats per sample */
    int64_t classes;      /* class axis length (0: none) */
    int64_t positions;    /* class vectors per sample */
    int32_t *labels;      /* batch labels */
} cmp_ctx;

static int add_batch(void *ctx, int from, int count, const float *y)
{
    cmp_ctx *c = ctx;
    const float *ref = c->ref + (size_t)from * c->outs;
    if (c->positions > 1) /* [batch, P, C]: argmax agreement, cosine and KL per position; no labels */
        qb_metrics_add(&c->acc, ref, y, NULL, count * (int)c->positions, (int)c->classes);
    else {
        for (int k = 0; k < count; k++)
            c->labels[k] = qb_samples_label(c->s, from + k);
        qb_metrics_add(&c->acc, ref, y, c->s->d || c->s->labels ? c->labels : NULL, count, (int)c->outs);
    }
    return 0;
}

static int compare_runner(qb_runner *r, const qb_samples *s, const float *ref, int64_t outs, qb_metrics *m,
                          qb_sample_records *keep, qb_err *e)
{
    cmp_ctx c = {.s = s, .ref = ref, .outs = outs, .classes = r->classes, .positions = r->positions,
                 .labels = malloc((size_t)r->batch * sizeof(int32_t))};
    qb_metrics_init(&c.acc);
    c.acc.group = r->positions > 1 ? (long)r->positions : 1;
    c.acc.keep = keep;
    if (keep)
        qb_sample_records_free(keep);
    int rc = -1;
    if (r->outs != outs)
        qb_errf(e, "%s: %lld outputs per sample, the reference has %lld", r->g->file, (long long)r->outs,
                (long long)outs);
    else if (!c.labels)
        qb_errf(e, "out of memory");
    else
        rc = qb_runner_each(r, s, add_batch, &c, e);
    if (!rc) {
        qb_metrics_finish(&c.acc, m);
        m->samples = s->n;
        if (!r->classes) /* maps, embeddings: no class axis to agree on */
            m->agreement = m->kl_div = m->agree_ci_low = m->agree_ci_high = m->kl_p99 = m->kl_max = NAN;
    }
    qb_metrics_free(&c.acc);
    free(c.labels);
    return rc;
}

int qb_compare_runner(qb_runner *r, const qb_samples *s, const float *ref, int64_t outs, qb_metrics *m, qb_err *e)
{
    return compare_runner(r, s, ref, outs, m, NULL, e);
}

int qb_compare_graph_records(qb_graph *g, const qb_samples *s, int batch, int isa, const float *ref, int64_t outs,
                             qb_metrics *m, qb_sample_records *keep, qb_err *e)
{
    qb_runner r;
    if (qb_runner_open_on(&r, g, batch, isa, s, e))
        return -1;
    int rc = compare_runner(&r, s, ref, outs, m, keep, e);
    qb_runner_close(&r);
    return rc;
}

int qb_compare_graph(qb_graph *g, const qb_samples *s, int batch, int isa, const float *ref, int64_t outs,
                     qb_metrics *m, qb_err *e)
{
    return qb_compare_graph_records(g, s, batch, isa, ref, outs, m, NULL, e);
}
