/*
 * input_shapes.c - `--shape NAME=1x3x48x320` (or `--shape 1x3x48x320`
 * for the next input by position): fixed sizes for a model's symbolic
 * input dimensions, applied to a loaded graph. The verbs parse their
 * --shape options into one list and set qb_load_shapes, so that every
 * load of the model (calibration, reference, quantized copies) sees the
 * same shapes. See graph.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/graph.h"

const qb_input_shapes *qb_load_shapes;

int qb_input_shape_parse(const char *arg, qb_input_shapes *s, qb_err *e)
{
    if (s->n == QB_MAX_SHAPES) {
        qb_errf(e, "--shape %s: more than %d shapes", arg, QB_MAX_SHAPES);
        return -1;
    }
    qb_input_shape *sh = &s->s[s->n];
    memset(sh, 0, sizeof *sh);
    const char *eq = strrchr(arg, '=');
    const char *dims = arg;
    if (eq) {
        if (eq == arg || (size_t)(eq - arg) >= sizeof sh->name) {
            qb_errf(e, "--shape %s: bad input name (want NAME=AxBxC)", arg);
            return -1;
        }
        memcpy(sh->name, arg, (size_t)(eq - arg));
        dims = eq + 1;
    } else {
        int pos = 0;
        for (int i = 0; i < s->n; i++)
            pos += !s->s[i].name[0];
        sh->pos = pos;
    }
    const char *p = dims;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 1 || v > (1LL << 31) || sh->ndim == QB_MAX_DIMS) {
            qb_errf(e, "--shape %s: bad dimension (want positive sizes like 1x3x48x320)", arg);
            return -1;
        }
        sh->dims[sh->ndim++] = v;
        p = end;
        if (*p == 'x' && p[1])
            p++;
        else if (*p) {
            qb_errf(e, "--shape %s: bad dimension (want positive sizes like 1x3x48x320)", arg);
            return -1;
        }
    }
    if (!sh->ndim || qb_shape_count(sh->ndim, sh->dims) < 0) {
        qb_errf(e, "--shape %s: %s", arg, sh->ndim ? "more than 2^31 elements" : "no dimensions");
        return -1;
    }
    s->n++;
    return 0;
}

int qb_input_shapes_apply(const qb_input_shapes *s, qb_graph *g, qb_err *e)
{
    if (!s)
        return 0;
    for (int i = 0; i < s->n; i++) {
        const qb_input_shape *sh = &s->s[i];
        int k = -1;
        if (sh->name[0]) {
            for (int j = 0; j < g->ninputs && k < 0; j++)
                if (!strcmp(g->tensors[g->inputs[j]]->name, sh->name))
                    k = j;
        } else {
            k = sh->pos < g->ninputs ? sh->pos : -1;
        }
        if (k < 0) {
            char list[512] = "";
            for (int j = 0; j < g->ninputs; j++) {
                size_t at = strlen(list);
                snprintf(list + at, sizeof list - at, "%s%s", j ? ", " : "", g->tensors[g->inputs[j]]->name);
            }
            if (sh->name[0])
                qb_errf(e, "%s: --shape %s=...: the model has no input '%s' (inputs: %s)", g->file, sh->name, sh->name,
                        list);
            else
                qb_errf(e, "%s: --shape number %d: the model has %d input%s (%s)", g->file, sh->pos + 1, g->ninputs,
                        g->ninputs == 1 ? "" : "s", list);
            return -1;
        }
        qb_tensor *t = g->tensors[g->inputs[k]];
        char want[160], got[160];
        qb_shape_str(sh->ndim, sh->dims, got, sizeof got);
        if (t->has_shape && t->ndim != sh->ndim) {
            qb_shape_str(t->ndim, t->dims, want, sizeof want);
            qb_errf(e, "%s: --shape %s: input '%s' has rank %d, not %d", g->file, got, t->name, t->ndim, sh->ndim);
            return -1;
        }
        for (int d = 0; t->has_shape && d < t->ndim; d++)
            if (!t->sym[d] && t->dims[d] != sh->dims[d]) {
                qb_errf(e, "%s: --shape %s: dimension %d of input '%s' is fixed at %lld by the model", g->file, got, d,
                        t->name, (long long)t->dims[d]);
                return -1;
            }
        t->ndim = sh->ndim;
        memcpy(t->dims, sh->dims, sizeof t->dims);
        /* the batch dimension stays free (the runner picks the batch); the others are now fixed */
        for (int d = 1; d < t->ndim; d++)
            t->sym[d] = 0;
        t->has_shape = 1;
    }
    return 0;
}

void qb_input_shapes_str(const qb_input_shapes *s, char *buf, size_t len)
{
    size_t at = 0;
    if (len)
        buf[0] = 0;
    for (int i = 0; s && i < s->n && at < len; i++) {
        char sh[160];
        qb_shape_str(s->s[i].ndim, s->s[i].dims, sh, sizeof sh);
        at += (size_t)snprintf(buf + at, len - at, "%s%s%s%s", i ? ";" : "", s->s[i].name, s->s[i].name[0] ? "=" : "",
                               sh);
    }
}

int qb_input_symbolic(const qb_graph *g, qb_err *e)
{
    for (int i = 0; i < g->ninputs; i++) {
        const qb_tensor *t = g->tensors[g->inputs[i]];
        for (int d = 1; t->has_shape && d < t->ndim; d++)
            if (t->sym[d]) {
                char ex[200] = "";
                for (int j = 0; j < t->ndim; j++) {
                    size_t at = strlen(ex);
                    if (t->sym[j] && j)
                        snprintf(ex + at, sizeof ex - at, "%sN", j ? "x" : "");
                    else
                        snprintf(ex + at, sizeof ex - at, "%s%lld", j ? "x" : "", (long long)t->dims[j]);
                }
                qb_errf(e, "%s: input '%s': dimension %d is symbolic; give its size with --shape %s=%s", g->file,
                        t->name, d, t->name, ex);
                return -1;
            }
    }
    return 0;
}
