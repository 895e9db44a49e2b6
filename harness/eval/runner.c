/*
 * runner.c - prepared graph with a fixed batch, and sample sources (see
 * runner.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/eval/runner.h"

int qb_runner_open(qb_runner *r, qb_graph *g, int batch, int isa, qb_err *e)
{
    memset(r, 0, sizeof *r);
    r->g = g;
    if (g->ninputs != 1 || g->noutputs < 1) {
        qb_errf(e, "%s: want one input and an output, has %d inputs", g->file, g->ninputs);
        goto fail;
    }
    qb_tensor in = *g->tensors[g->inputs[0]];
    if (in.dtype != QB_DT_FLOAT || in.ndim < 1) {
        qb_errf(e, "%s: input '%s' must be a float32 tensor with a batch dimension", g->file, in.name);
        goto fail;
    }
    if (qb_input_symbolic(g, e)) /* names the input and the dimension */
        goto fail;
    if (!in.sym[0] && in.dims[0] > 0)
        batch = (int)in.dims[0]; /* a fixed batch dimension wins */
    in.dims[0] = batch;
    r->sample = (size_t)(qb_tensor_count(&in) / batch);
    r->x = calloc((size_t)batch * r->sample + 1, sizeof(float));
    if (!r->x) {
        qb_errf(e, "%s: out of memory", g->file);
        goto fail;
    }
    in.data = r->x;
    in.name = g->tensors[g->inputs[0]]->name;
    r->in = in;
    r->batch = batch;
    if (qb_graph_prepare(g, &r->in, 1, isa, e))
        goto fail;
    const qb_tensor *y = g->tensors[g->outputs[0]];
    if (y->dtype != QB_DT_FLOAT || y->ndim < 1 || y->dims[0] != batch) {
        qb_errf(e, "%s: output '%s' is not a float32 tensor with the batch first", g->file, y->name);
        goto fail;
    }
    r->outs = qb_tensor_count(y) / batch;
    /* a class axis: the last one of [batch, classes] or [batch, positions, classes] */
    r->classes = y->ndim == 2 || y->ndim == 3 ? y->dims[y->ndim - 1] : 0;
    r->positions = r->classes > 0 ? r->outs / r->classes : 0;
    return 0;
fail:
    qb_runner_close(r);
    return -1;
}

int qb_runner_run(qb_runner *r, qb_err *e)
{
    if (qb_graph_run(r->g, &r->in, 1, e))
        return -1;
    r->y = r->g->tensors[r->g->outputs[0]]->data;
    return 0;
}

void qb_runner_close(qb_runner *r)
{
    qb_graph_free(r->g);
    free(r->x);
    memset(r, 0, sizeof *r);
}

/* Seeded standard normal numbers (Box-Muller on splitmix64). */
static float gauss(uint64_t *s)
{
    double u1 = ((qb_rng_next(s) >> 11) + 1.0) * 0x1p-53, u2 = (qb_rng_next(s) >> 11) * 0x1p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void qb_samples_fill(const qb_samples *s, int from, int count, int batch, float *dst)
{
    size_t ss = s->d ? qb_dataset_sample_size(s->d) : s->sample;
    for (int k = 0; k < count; k++) {
        int i = from + k;
        if (s->x) {
            memcpy(dst + (size_t)k * ss, s->x + (size_t)i * ss, ss * sizeof(float));
        } else if (s->d) {
            qb_dataset_get(s->d, s->idx ? s->idx[i] : i, s->norm, dst + (size_t)k * ss);
        } else {
            uint64_t st = s->seed * 0x9E3779B97F4A7C15ull + (uint64_t)i + 1;
            for (size_t j = 0; j < ss; j++)
                dst[(size_t)k * ss + j] = gauss(&st);
        }
    }
    if (count < batch)
        memset(dst + (size_t)count * ss, 0, (size_t)(batch - count) * ss * sizeof(float));
}

int32_t qb_samples_label(const qb_samples *s, int i)
{
    if (s->x)
        return s->labels ? s->labels[i] : -1;
    if (!s->d)
        return -1;
    return s->d->labels[s->idx ? s->idx[i] : i];
}

int qb_runner_each(qb_runner *r, const qb_samples *s, qb_batch_fn fn, void *ctx, qb_err *e)
{
    size_t ss = s->d ? qb_dataset_sample_size(s->d) : s->sample;
    if (ss != r->sample) {
        qb_errf(e, "%s: the model takes %zu values per sample, the data has %zu", r->g->file, r->sample, ss);
        return -1;
    }
    for (int from = 0; from < s->n; from += r->batch) {
        int count = s->n - from < r->batch ? s->n - from : r->batch;
        qb_samples_fill(s, from, count, r->batch, r->x);
        if (qb_runner_run(r, e))
            return -1;
        if (fn && fn(ctx, from, count, r->y))
            return -1;
    }
    return 0;
}
