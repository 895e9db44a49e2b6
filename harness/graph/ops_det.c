/*
 * ops_det.c - Det: the determinant of each square matrix in the last two
 * dims, by Gaussian elimination with partial pivoting in double. Float
 * types.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

static int det_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    if (!qb_dtype_is_float(x->dtype) || x->ndim < 2 || x->dims[x->ndim - 1] != x->dims[x->ndim - 2]) {
        QB_NODE_ERR(e, g, n, "needs float square matrices in the last two dims");
        return -1;
    }
    int64_t m = x->dims[x->ndim - 1];
    qb_set_out(g, n, 0, x->dtype, x->ndim - 2, x->dims);
    n->scratch = (size_t)(m > 0 ? m * m : 1) * sizeof(double);
    return 0;
}

static void det_run(qb_graph *g, qb_node *n, void *scratch)
{
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    int64_t m = x->dims[x->ndim - 1], mats = qb_tensor_count(y);
    double *a = scratch;
    for (int64_t k = 0; k < mats; k++) {
        for (int64_t i = 0; i < m * m; i++)
            a[i] = qb_get_d(x, k * m * m + i);
        double det = 1;
        for (int64_t c = 0; c < m && det != 0; c++) {
            int64_t p = c;
            for (int64_t r = c + 1; r < m; r++)
                if (fabs(a[r * m + c]) > fabs(a[p * m + c]))
                    p = r;
            if (a[p * m + c] == 0) {
                det = 0;
                break;
            }
            if (p != c) {
                for (int64_t j = 0; j < m; j++) {
                    double t = a[c * m + j];
                    a[c * m + j] = a[p * m + j];
                    a[p * m + j] = t;
                }
                det = -det;
            }
            det *= a[c * m + c];
            for (int64_t r = c + 1; r < m; r++) {
                double f = a[r * m + c] / a[c * m + c];
                for (int64_t j = c; j < m; j++)
                    a[r * m + j] -= f * a[c * m + j];
            }
        }
        qb_set_d(y, k, det);
    }
}

const qb_opdef qb_ops_det[] = {
    {"Det", det_prepare, det_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
