/*
 * ops_softmax.c - the relatives of Softmax along one axis (opset 13
 * form; older models are rewritten at load by upgrade.c to flatten the
 * tail first): LogSoftmax (x - max - log(sum(exp(x - max))), the sum in
 * double) and Hardmax (1 at the first maximum, 0 elsewhere). Float types.
 * Softmax itself is in ops_reduce.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

/* Prepared: the tensor as [outer x len x inner] around the axis. */
typedef struct sm_state {
    int64_t outer, len, inner; /* sizes */
} sm_state;

static int sm_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    if (!qb_dtype_is_float(x->dtype)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "element type %s is not supported (float32, float16 and double only)",
                            qb_dtype_name(x->dtype));
        return -1;
    }
    int a = qb_axis(qb_attr_int(n, "axis", -1), x->ndim);
    if (a < 0) {
        QB_NODE_ERR(e, g, n, "axis out of range for rank %d", x->ndim);
        return -1;
    }
    sm_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    qb_axis_split(x, a, &s->outer, &s->len, &s->inner);
    qb_set_out(g, n, 0, x->dtype, x->ndim, x->dims);
    return 0;
}

static void sm_run(qb_graph *g, qb_node *n, int hard)
{
    const sm_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    for (int64_t o = 0; o < s->outer; o++)
        for (int64_t i = 0; i < s->inner; i++) {
            int64_t base = o * s->len * s->inner + i, arg = 0;
            double mx = -INFINITY;
            for (int64_t j = 0; j < s->len; j++) {
                double v = qb_get_d(x, base + j * s->inner);
                if (v > mx) {
                    mx = v;
                    arg = j;
                }
            }
            if (hard) {
                for (int64_t j = 0; j < s->len; j++)
                    qb_set_d(y, base + j * s->inner, j == arg);
                continue;
            }
            double sum = 0;
            for (int64_t j = 0; j < s->len; j++)
                sum += exp(qb_get_d(x, base + j * s->inner) - mx);
            double ls = log(sum);
            for (int64_t j = 0; j < s->len; j++)
                qb_set_d(y, base + j * s->inner, qb_get_d(x, base + j * s->inner) - mx - ls);
        }
}

static void logsoftmax_run(qb_graph *g, qb_node *n, void *scratch) { (void)scratch; sm_run(g, n, 0); }
static void hardmax_run(qb_graph *g, qb_node *n, void *scratch) { (void)scratch; sm_run(g, n, 1); }

const qb_opdef qb_ops_softmax[] = {
    {"LogSoftmax", sm_prepare, logsoftmax_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {"Hardmax", sm_prepare, hardmax_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
