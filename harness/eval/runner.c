/*
 * runner.c - prepared graph with a fixed batch, and sample sources (see
 * runner.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/inputs.h"
#include "harness/eval/runner.h"

/* The other inputs of a multi-input model: their shapes (a symbolic
 * batch of 1) and buffers holding sample 0 of s, so that inputs whose
 * values prepare the graph are bound to real values. */
static int other_inputs(qb_runner *r, const qb_samples *s, qb_err *e)
{
    qb_graph *g = r->g;
    const qb_inputs *src = s ? s->inputs : NULL;
    if (!src || src->ninputs != g->ninputs || s->n < 1) {
        qb_errf(e, "%s: the model has %d inputs ('%s', '%s'%s): seeded inputs and datasets feed only the first; give "
                   "--data DIR with every input of each sample (a folder per sample, or an .npz)", g->file,
                g->ninputs, g->tensors[g->inputs[0]]->name, g->tensors[g->inputs[1]]->name,
                g->ninputs > 2 ? ", ..." : "");
        return -1;
    }
    for (int k = 1; k < g->ninputs; k++) {
        qb_tensor t = *g->tensors[g->inputs[k]];
        const qb_tensor *w = &src->in[k];
        if (t.ndim && t.sym[0])
            t.dims[0] = 1;
        if (strcmp(w->name, t.name) || w->dtype != t.dtype || qb_tensor_count(w) != qb_tensor_count(&t)) {
            qb_errf(e, "%s: input %d is '%s' (%s), the data's is '%s' (%s)", g->file, k, t.name,
                    qb_dtype_name(t.dtype), w->name, qb_dtype_name(w->dtype));
            return -1;
        }
        size_t bytes = (size_t)qb_tensor_count(&t) * qb_dtype_size(t.dtype);
        t.data = qb_data_alloc(bytes); /* aligned: the graph reads it in place */
        if (!t.data) {
            qb_errf(e, "%s: out of memory", g->file);
            return -1;
        }
        memcpy(t.data, qb_inputs_at(src, k, s->first), bytes);
        t.name = g->tensors[g->inputs[k]]->name;
        r->in[k] = t;
        r->nin = k + 1;
    }
    return 0;
}

int qb_runner_open_on(qb_runner *r, qb_graph *g, int batch, int isa, const qb_samples *s, qb_err *e)
{
    memset(r, 0, sizeof *r);
    r->g = g;
    if (g->ninputs < 1 || g->ninputs > QB_RUNNER_INPUTS || g->noutputs < 1) {
        qb_errf(e, "%s: want 1 to %d inputs and an output, has %d inputs", g->file, QB_RUNNER_INPUTS, g->ninputs);
        goto fail;
    }
    qb_tensor in = *g->tensors[g->inputs[0]];
    if (in.dtype != QB_DT_FLOAT || in.ndim < 1) {
        qb_errf(e, "%s: input '%s' must be a float32 tensor with a batch dimension", g->file, in.name);
        goto fail;
    }
    if (qb_input_symbolic(g, e)) /* names the input and the dimension */
        goto fail;
    /* several inputs: one sample is one set of the inputs as declared (a symbolic batch of 1), as the
     * other inputs need not have a batch axis first (a recurrent state, a scalar sample rate) */
    int whole = g->ninputs > 1;
    if (whole)
        batch = 1;
    else if (!in.sym[0] && in.dims[0] > 0)
        batch = (int)in.dims[0]; /* a fixed batch dimension wins */
    if (!whole || in.sym[0])
        in.dims[0] = batch;
    r->sample = (size_t)(qb_tensor_count(&in) / batch);
    r->x = qb_data_alloc((size_t)batch * r->sample * sizeof(float)); /* aligned: read in place */
    if (!r->x) {
        qb_errf(e, "%s: out of memory", g->file);
        goto fail;
    }
    in.data = r->x;
    in.name = g->tensors[g->inputs[0]]->name;
    r->in[0] = in;
    r->nin = 1;
    r->batch = batch;
    if (g->ninputs > 1 && other_inputs(r, s, e))
        goto fail;
    if (s && s->x && s->n > 0 && r->nin > 1)
        qb_samples_fill(s, 0, 1, batch, r->x);
    if (qb_graph_prepare(g, r->in, r->nin, isa, e))
        goto fail;
    const qb_tensor *y = g->tensors[g->outputs[0]];
    if (y->dtype != QB_DT_FLOAT || y->ndim < 1 || (!whole && y->dims[0] != batch)) {
        qb_errf(e, "%s: output '%s' is not a float32 tensor with the batch first", g->file, y->name);
        goto fail;
    }
    r->outs = qb_tensor_count(y) / batch;
    /* a class axis: the last one of [batch, classes] or [batch, positions, classes], two classes or more */
    r->classes = y->ndim == 2 || y->ndim == 3 ? y->dims[y->ndim - 1] : 0;
    if (r->classes == 1)
        r->classes = 0; /* one score (a probability, a regression): an argmax over it agrees always */
    r->positions = r->classes > 0 ? r->outs / r->classes : 0;
    return 0;
fail:
    qb_runner_close(r);
    return -1;
}

int qb_runner_open(qb_runner *r, qb_graph *g, int batch, int isa, qb_err *e)
{
    return qb_runner_open_on(r, g, batch, isa, NULL, e);
}

int qb_runner_run(qb_runner *r, qb_err *e)
{
    if (qb_graph_run(r->g, r->in, r->nin, e))
        return -1;
    r->y = r->g->tensors[r->g->outputs[0]]->data;
    return 0;
}

void qb_runner_close(qb_runner *r)
{
    qb_graph_free(r->g);
    free(r->x);
    for (int k = 1; k < r->nin; k++)
        free(r->in[k].data);
    memset(r, 0, sizeof *r);
}

int qb_runner_fill(qb_runner *r, const qb_samples *s, int from, int count, qb_err *e)
{
    qb_samples_fill(s, from, count, r->batch, r->x);
    if (r->nin < 2)
        return 0;
    if (!s->inputs || s->inputs->ninputs != r->nin || count != 1) {
        qb_errf(e, "%s: the model has %d inputs: the samples must come from a data folder with every input",
                r->g->file, r->nin);
        return -1;
    }
    int i = s->first + from;
    for (int k = 1; k < r->nin; k++) {
        const qb_tensor *t = r->g->tensors[r->g->inputs[k]];
        size_t bytes = (size_t)qb_tensor_count(&r->in[k]) * qb_dtype_size(r->in[k].dtype);
        const void *v = qb_inputs_at(s->inputs, k, i);
        if (t->kind == QB_T_INPUT) {
            memcpy(r->in[k].data, v, bytes);
        } else if (memcmp(t->data, v, bytes)) { /* bound when the graph was prepared */
            qb_errf(e, "%s: input '%s' of %s differs from the first sample's (%s), whose values prepared the graph "
                       "(qbench binds integer inputs such as a sample rate at prepare): put samples with other values "
                       "in another folder", r->g->file, t->name, s->inputs->source[i],
                    s->inputs->source[s->first]);
            return -1;
        }
    }
    return 0;
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
        if (qb_runner_fill(r, s, from, count, e) || qb_runner_run(r, e))
            return -1;
        if (fn && fn(ctx, from, count, r->y))
            return -1;
    }
    return 0;
}
