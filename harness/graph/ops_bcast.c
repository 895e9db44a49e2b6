/*
 * ops_bcast.c - numpy broadcasting of several inputs, shared by the
 * operators that combine tensors element by element beyond Add/Sub/Mul/
 * Div/Pow (which keep their own fast path in ops_elem.c): an odometer
 * over the output that tracks each input's element offset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

int qb_dtype_is_float(qb_dtype t)
{
    return t == QB_DT_FLOAT || t == QB_DT_FLOAT16 || t == QB_DT_DOUBLE;
}

int qb_bcast_init(qb_bcast *b, int n, const qb_tensor *const *ts)
{
    memset(b, 0, sizeof *b);
    if (n < 1 || n > QB_BCAST_MAX)
        return -1;
    b->n = n;
    b->rank = ts[0]->ndim;
    memcpy(b->dims, ts[0]->dims, sizeof b->dims);
    for (int k = 1; k < n; k++) {
        int64_t d[QB_MAX_DIMS];
        if (qb_broadcast(b->rank, b->dims, ts[k]->ndim, ts[k]->dims, &b->rank, d))
            return -1;
        memcpy(b->dims, d, sizeof d);
    }
    for (int k = 0; k < n; k++) {
        int64_t acc = 1;
        for (int i = b->rank - 1; i >= 0; i--) {
            int ti = i - (b->rank - ts[k]->ndim);
            int64_t d = ti >= 0 ? ts[k]->dims[ti] : 1;
            b->str[k][i] = d == 1 ? 0 : acc;
            acc *= d;
        }
    }
    b->count = qb_shape_count(b->rank, b->dims);
    return b->count < 0 ? -1 : 0;
}

void qb_bcast_next(const qb_bcast *b, qb_bcast_pos *p)
{
    for (int d = b->rank - 1; d >= 0; d--) {
        p->idx[d]++;
        for (int k = 0; k < b->n; k++)
            p->off[k] += b->str[k][d];
        if (p->idx[d] < b->dims[d])
            return;
        for (int k = 0; k < b->n; k++)
            p->off[k] -= b->str[k][d] * p->idx[d];
        p->idx[d] = 0;
    }
}

int qb_bcast_inputs(qb_graph *g, qb_node *nd, int n, qb_bcast *b, qb_err *e)
{
    const qb_tensor *ts[QB_BCAST_MAX] = {0};
    for (int k = 0; k < n; k++)
        if (!(ts[k] = qb_need_in(g, nd, k, e)))
            return -1;
    if (qb_bcast_init(b, n, ts)) {
        char msg[512] = "";
        size_t o = 0;
        for (int k = 0; k < n && o < sizeof msg; k++) {
            char sh[128];
            qb_shape_str(ts[k]->ndim, ts[k]->dims, sh, sizeof sh);
            o += snprintf(msg + o, sizeof msg - o, "%s%s", k ? ", " : "", sh);
        }
        QB_NODE_ERR(e, g, nd, "input shapes %s do not broadcast", msg);
        return -1;
    }
    return 0;
}
