/*
 * model_args.c - shape strings and raw float32 input files for the model
 * verbs (inspect, run).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/verbs/model_args.h"

int qb_parse_shape(const char *s, qb_tensor *t)
{
    memset(t->dims, 0, sizeof t->dims);
    t->ndim = 0;
    t->dtype = QB_DT_FLOAT;
    const char *p = s;
    while (*p) {
        if (t->ndim == QB_MAX_DIMS || *p < '0' || *p > '9')
            return -1;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 1 || v > (1LL << 31))
            return -1;
        t->dims[t->ndim++] = v;
        p = end;
        if (*p == 'x' && p[1])
            p++;
        else if (*p)
            return -1;
    }
    t->has_shape = 1;
    return t->ndim && qb_tensor_count(t) >= 0 ? 0 : -1;
}

int qb_load_raw(const char *path, qb_tensor *t, qb_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        qb_errf(e, "%s: cannot open", path);
        return -1;
    }
    size_t want = (size_t)qb_tensor_count(t) * sizeof(float);
    t->data = qb_data_alloc(want); /* aligned: the graph reads it in place */
    size_t got = t->data ? fread(t->data, 1, want + 1, f) : 0;
    fclose(f);
    if (got != want) {
        char sh[128];
        qb_shape_str(t->ndim, t->dims, sh, sizeof sh);
        qb_errf(e, "%s: %s%zu bytes, shape %s needs %zu bytes of float32", path, got > want ? "more than " : "",
                got > want ? want : got, sh, want);
        free(t->data);
        t->data = NULL;
        return -1;
    }
    t->dtype = QB_DT_FLOAT;
    return 0;
}
