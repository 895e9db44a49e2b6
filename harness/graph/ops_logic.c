/*
 * ops_logic.c - comparisons and logic with numpy broadcasting: Equal,
 * Greater, GreaterOrEqual, Less, LessOrEqual (every numeric type and bool;
 * integers compared exactly, uint64 unsigned; a bool output), And, Or,
 * Xor, Not (bool), Where (a bool condition choosing between two inputs
 * of any one type) and BitShift (unsigned integers).
 */
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

enum { C_EQ, C_GT, C_GE, C_LT, C_LE, L_AND, L_OR, L_XOR };

/* Prepared: the operation and the broadcast of the inputs. */
typedef struct logic_state {
    int op;    /* C_* / L_* */
    qb_bcast b; /* inputs broadcast to the output */
} logic_state;

static int op_code(const char *op)
{
    static const char *const names[] = {"Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "And", "Or", "Xor"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (!strcmp(op, names[i]))
            return i;
    return -1;
}

static int binary_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    logic_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    s->op = op_code(n->op);
    if (qb_bcast_inputs(g, n, 2, &s->b, e))
        return -1;
    const qb_tensor *a = qb_in(g, n, 0), *b = qb_in(g, n, 1);
    if (a->dtype != b->dtype) {
        QB_NODE_ERR(e, g, n, "inputs are %s and %s (they must be of one type)", qb_dtype_name(a->dtype),
                    qb_dtype_name(b->dtype));
        return -1;
    }
    if (s->op >= L_AND && a->dtype != QB_DT_BOOL) {
        QB_NODE_ERR(e, g, n, "inputs are %s; %s takes bool", qb_dtype_name(a->dtype), n->op);
        return -1;
    }
    if (s->op > C_EQ && s->op < L_AND && a->dtype == QB_DT_BOOL) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "element type bool is not supported (numeric types only)");
        return -1;
    }
    qb_set_out(g, n, 0, QB_DT_BOOL, s->b.rank, s->b.dims);
    return 0;
}

/* -1, 0, 1 as a < b, equal, a > b; 2 if unordered (NaN). */
static int compare(const qb_tensor *a, int64_t i, const qb_tensor *b, int64_t j)
{
    if (a->dtype == QB_DT_UINT64) {
        uint64_t x = (uint64_t)qb_int_at(a, i), y = (uint64_t)qb_int_at(b, j);
        return x < y ? -1 : x > y;
    }
    if (qb_dtype_is_int(a->dtype)) {
        int64_t x = qb_int_at(a, i), y = qb_int_at(b, j);
        return x < y ? -1 : x > y;
    }
    double x = qb_get_d(a, i), y = qb_get_d(b, j);
    return x < y ? -1 : x > y ? 1 : x == y ? 0 : 2;
}

static void binary_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const logic_state *s = n->state;
    const qb_tensor *a = qb_in(g, n, 0), *b = qb_in(g, n, 1);
    uint8_t *y = qb_out(g, n, 0)->data;
    qb_bcast_pos p = {0};
    for (int64_t i = 0; i < s->b.count; i++, qb_bcast_next(&s->b, &p)) {
        int64_t ia = p.off[0], ib = p.off[1];
        int v;
        if (s->op >= L_AND) {
            int x = ((const uint8_t *)a->data)[ia] != 0, z = ((const uint8_t *)b->data)[ib] != 0;
            v = s->op == L_AND ? x && z : s->op == L_OR ? x || z : x != z;
        } else {
            int c = compare(a, ia, b, ib);
            switch (s->op) {
            case C_EQ: v = c == 0; break;
            case C_GT: v = c == 1; break;
            case C_GE: v = c == 1 || c == 0; break;
            case C_LT: v = c == -1; break;
            default: v = c == -1 || c == 0; break;
            }
        }
        y[i] = (uint8_t)v;
    }
}

/* ---- Not ---- */
static int not_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    if (x->dtype != QB_DT_BOOL) {
        QB_NODE_ERR(e, g, n, "input is %s; Not takes bool", qb_dtype_name(x->dtype));
        return -1;
    }
    qb_set_out(g, n, 0, QB_DT_BOOL, x->ndim, x->dims);
    return 0;
}

static void not_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const qb_tensor *x = qb_in(g, n, 0);
    const uint8_t *xp = x->data;
    uint8_t *y = qb_out(g, n, 0)->data;
    for (int64_t i = 0, c = qb_tensor_count(x); i < c; i++)
        y[i] = !xp[i];
}

/* ---- Where ---- */
static int where_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    logic_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    if (qb_bcast_inputs(g, n, 3, &s->b, e))
        return -1;
    const qb_tensor *c = qb_in(g, n, 0), *x = qb_in(g, n, 1), *y = qb_in(g, n, 2);
    if (c->dtype != QB_DT_BOOL || x->dtype != y->dtype) {
        QB_NODE_ERR(e, g, n, "needs a bool condition and two inputs of one type (got %s, %s, %s)",
                    qb_dtype_name(c->dtype), qb_dtype_name(x->dtype), qb_dtype_name(y->dtype));
        return -1;
    }
    qb_set_out(g, n, 0, x->dtype, s->b.rank, s->b.dims);
    return 0;
}

static void where_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const logic_state *s = n->state;
    const qb_tensor *c = qb_in(g, n, 0), *x = qb_in(g, n, 1), *z = qb_in(g, n, 2);
    qb_tensor *y = qb_out(g, n, 0);
    const uint8_t *cp = c->data;
    size_t es = qb_dtype_size(y->dtype);
    char *yp = y->data;
    qb_bcast_pos p = {0};
    for (int64_t i = 0; i < s->b.count; i++, qb_bcast_next(&s->b, &p)) {
        const qb_tensor *src = cp[p.off[0]] ? x : z;
        memcpy(yp + i * es, (const char *)src->data + (cp[p.off[0]] ? p.off[1] : p.off[2]) * es, es);
    }
}

/* ---- BitShift ---- */
static int shift_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    logic_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    if (qb_bcast_inputs(g, n, 2, &s->b, e))
        return -1;
    const qb_tensor *a = qb_in(g, n, 0), *b = qb_in(g, n, 1);
    qb_dtype t = a->dtype;
    if (t != b->dtype || (t != QB_DT_UINT8 && t != QB_DT_UINT32 && t != QB_DT_UINT64)) {
        QB_NODE_ERR(e, g, n, "inputs are %s and %s; BitShift takes one unsigned integer type (uint16 is not "
                    "supported)", qb_dtype_name(t), qb_dtype_name(b->dtype));
        return -1;
    }
    const char *dir = qb_attr_str(n, "direction", "");
    if (strcmp(dir, "LEFT") && strcmp(dir, "RIGHT")) {
        QB_NODE_ERR(e, g, n, "direction must be LEFT or RIGHT, not '%s'", dir);
        return -1;
    }
    s->op = !strcmp(dir, "LEFT");
    qb_set_out(g, n, 0, t, s->b.rank, s->b.dims);
    return 0;
}

static void shift_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const logic_state *s = n->state;
    const qb_tensor *a = qb_in(g, n, 0), *b = qb_in(g, n, 1);
    qb_tensor *y = qb_out(g, n, 0);
    int bits = (int)qb_dtype_size(y->dtype) * 8;
    qb_bcast_pos p = {0};
    for (int64_t i = 0; i < s->b.count; i++, qb_bcast_next(&s->b, &p)) {
        uint64_t x = (uint64_t)qb_int_at(a, p.off[0]), k = (uint64_t)qb_int_at(b, p.off[1]);
        uint64_t v = k >= (uint64_t)bits ? 0 : s->op ? x << k : x >> k;
        qb_set_i(y, i, (int64_t)v);
    }
}

#define T QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE
const qb_opdef qb_ops_logic[] = {
    {"Equal", binary_prepare, binary_run, NULL, T, 0},
    {"Greater", binary_prepare, binary_run, NULL, T, 0},
    {"GreaterOrEqual", binary_prepare, binary_run, NULL, T, 0},
    {"Less", binary_prepare, binary_run, NULL, T, 0},
    {"LessOrEqual", binary_prepare, binary_run, NULL, T, 0},
    {"And", binary_prepare, binary_run, NULL, T, 0},
    {"Or", binary_prepare, binary_run, NULL, T, 0},
    {"Xor", binary_prepare, binary_run, NULL, T, 0},
    {"Not", not_prepare, not_run, NULL, T, 0},
    {"Where", where_prepare, where_run, NULL, T, 0},
    {"BitShift", shift_prepare, shift_run, NULL, T, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
