/*
 * ops_einsum.c - Einsum over any equation: explicit ("ij,jk->ik") or
 * implicit output (the labels seen once, in alphabetical order), repeated
 * labels within an input (diagonals), "..." broadcast across inputs, up to
 * QB_BCAST_MAX inputs. Evaluated directly: every output element sums the
 * product of the inputs over the labels not in the output, in double, so
 * it is exact in float32 terms but not fast (a batched MatMul written as
 * Einsum runs at scalar speed). Numeric element types, one per node.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

#define EIN_LABELS 64 /* 52 letters + up to 8 ellipsis dims */

/* Prepared: per label its size, per input and the output its strides. */
typedef struct ein_state {
    int nout;                              /* output labels, in output order */
    int out_lab[QB_MAX_DIMS];              /* their ids */
    int nsum;                              /* summed labels */
    int sum_lab[EIN_LABELS];               /* their ids */
    int64_t size[EIN_LABELS];              /* size of each label */
    int64_t str[QB_BCAST_MAX][EIN_LABELS]; /* input k's element stride per label (0: absent or broadcast) */
} ein_state;

static int label_id(char c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' : c >= 'A' && c <= 'Z' ? 26 + c - 'A' : -1;
}

/* Parse one term (the labels of an input or of the output) into ids,
 * "..." as a placeholder -2 (expand_ell replaces it); the count, or -1 on
 * a bad term. */
static int parse_term(const char *p, const char *end, int *ids, int *has_ell)
{
    int k = 0;
    *has_ell = 0;
    while (p < end) {
        if (*p == ' ') {
            p++;
        } else if (!strncmp(p, "...", 3) && end - p >= 3) {
            if (*has_ell)
                return -1;
            *has_ell = 1;
            if (k >= QB_MAX_DIMS)
                return -1;
            ids[k++] = -2;
            p += 3;
        } else {
            int id = label_id(*p++);
            if (id < 0 || k >= QB_MAX_DIMS)
                return -1;
            ids[k++] = id;
        }
    }
    return k;
}

/* Expand the "..." placeholder of ids[0..k) to n ellipsis ids (the last
 * ones of ell_rank, aligned right). Returns the new count. */
static int expand_ell(int *ids, int k, int n, int ell_rank)
{
    int out[QB_MAX_DIMS * 2], m = 0;
    for (int i = 0; i < k; i++) {
        if (ids[i] == -2)
            for (int j = 0; j < n; j++)
                out[m++] = 52 + ell_rank - n + j;
        else
            out[m++] = ids[i];
    }
    memcpy(ids, out, m * sizeof(int));
    return m;
}

static int ein_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    const char *eq = qb_attr_str(n, "equation", NULL);
    if (!eq || n->nin < 1 || n->nin > QB_BCAST_MAX) {
        QB_NODE_ERR(e, g, n, "needs an equation and 1 to %d inputs", QB_BCAST_MAX);
        return -1;
    }
    ein_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    const char *arrow = strstr(eq, "->"), *lhs_end = arrow ? arrow : eq + strlen(eq);
    int ids[QB_BCAST_MAX][QB_MAX_DIMS * 2], cnt[QB_BCAST_MAX], ell[QB_BCAST_MAX], ell_rank = 0;
    const char *p = eq;
    qb_dtype dt = QB_DT_UNDEF;
    for (int k = 0; k < n->nin; k++) {
        const char *q = memchr(p, ',', lhs_end - p);
        if (!q)
            q = lhs_end;
        if ((k < n->nin - 1) != (q < lhs_end)) {
            QB_NODE_ERR(e, g, n, "equation '%s' does not have %d input terms", eq, n->nin);
            return -1;
        }
        qb_tensor *t = qb_need_in(g, n, k, e);
        if (!t)
            return -1;
        if (dt == QB_DT_UNDEF)
            dt = t->dtype;
        if (t->dtype != dt || t->dtype == QB_DT_BOOL) {
            QB_NODE_ERR(e, g, n, "inputs must be of one numeric type");
            return -1;
        }
        cnt[k] = parse_term(p, q, ids[k], &ell[k]);
        int named = cnt[k] - ell[k];
        if (cnt[k] < 0 || (ell[k] ? named > t->ndim : named != t->ndim)) {
            QB_NODE_ERR(e, g, n, "term %d of '%s' does not match the input's rank %d", k, eq, t->ndim);
            return -1;
        }
        if (ell[k] && t->ndim - named > ell_rank)
            ell_rank = t->ndim - named;
        p = q + 1;
    }
    for (int i = 0; i < EIN_LABELS; i++)
        s->size[i] = -1;
    int seen[EIN_LABELS] = {0};
    for (int k = 0; k < n->nin; k++) {
        const qb_tensor *t = qb_in(g, n, k);
        int named = cnt[k] - ell[k];
        cnt[k] = expand_ell(ids[k], cnt[k], ell[k] ? t->ndim - named : 0, ell_rank);
        int64_t acc = 1;
        for (int d = cnt[k] - 1; d >= 0; d--) {
            int id = ids[k][d];
            int64_t sz = t->dims[d];
            if (id >= 52 && sz == 1) { /* a broadcast ellipsis dim */
                if (s->size[id] < 0)
                    s->size[id] = 1;
            } else if (s->size[id] >= 0 && s->size[id] != sz && !(id >= 52 && s->size[id] == 1)) {
                QB_NODE_ERR(e, g, n, "label '%c' has sizes %lld and %lld", id < 26 ? 'a' + id : id < 52 ? 'A' + id - 26 : '.',
                            (long long)s->size[id], (long long)sz);
                return -1;
            } else {
                s->size[id] = sz;
                s->str[k][id] += acc;
            }
            seen[id]++;
            acc *= sz;
        }
    }
    if (arrow) {
        int he, oids[QB_MAX_DIMS * 2];
        int k = parse_term(arrow + 2, eq + strlen(eq), oids, &he);
        if (k < 0) {
            QB_NODE_ERR(e, g, n, "bad output term in '%s'", eq);
            return -1;
        }
        k = expand_ell(oids, k, he ? ell_rank : 0, ell_rank);
        for (int i = 0; i < k; i++)
            if (!seen[oids[i]] || k > QB_MAX_DIMS) {
                QB_NODE_ERR(e, g, n, "output label %d of '%s' is not in any input (or rank above %d)", i, eq,
                            QB_MAX_DIMS);
                return -1;
            }
        s->nout = k;
        memcpy(s->out_lab, oids, k * sizeof(int));
    } else { /* implicit: ellipsis dims, then the labels seen once, alphabetically */
        for (int id = 52; id < 52 + ell_rank; id++)
            s->out_lab[s->nout++] = id;
        for (int id = 0; id < 52 && s->nout < QB_MAX_DIMS; id++) {
            int c = 0;
            for (int k = 0; k < n->nin; k++)
                for (int d = 0; d < cnt[k]; d++)
                    c += ids[k][d] == id;
            if (c == 1)
                s->out_lab[s->nout++] = id;
        }
    }
    int in_out[EIN_LABELS] = {0};
    int64_t od[QB_MAX_DIMS];
    for (int i = 0; i < s->nout; i++) {
        in_out[s->out_lab[i]] = 1;
        od[i] = s->size[s->out_lab[i]];
    }
    for (int id = 0; id < EIN_LABELS; id++)
        if (seen[id] && !in_out[id])
            s->sum_lab[s->nsum++] = id;
    qb_set_out(g, n, 0, dt, s->nout, od);
    return 0;
}

static void ein_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const ein_state *s = n->state;
    qb_tensor *y = qb_out(g, n, 0);
    int64_t ny = qb_tensor_count(y), oidx[QB_MAX_DIMS] = {0}, nsum = 1;
    for (int j = 0; j < s->nsum; j++)
        nsum *= s->size[s->sum_lab[j]];
    const qb_tensor *in[QB_BCAST_MAX];
    for (int k = 0; k < n->nin; k++)
        in[k] = qb_in(g, n, k);
    for (int64_t o = 0; o < ny; o++) {
        int64_t base[QB_BCAST_MAX] = {0};
        for (int k = 0; k < n->nin; k++)
            for (int i = 0; i < s->nout; i++)
                base[k] += oidx[i] * s->str[k][s->out_lab[i]];
        double acc = 0;
        int64_t sidx[EIN_LABELS] = {0}, off[QB_BCAST_MAX];
        memcpy(off, base, sizeof off);
        for (int64_t j = 0; j < nsum; j++) {
            double p = 1;
            for (int k = 0; k < n->nin; k++)
                p *= qb_get_d(in[k], off[k]);
            acc += p;
            for (int d = s->nsum - 1; d >= 0; d--) {
                int id = s->sum_lab[d];
                for (int k = 0; k < n->nin; k++)
                    off[k] += s->str[k][id];
                if (++sidx[d] < s->size[id])
                    break;
                for (int k = 0; k < n->nin; k++)
                    off[k] -= s->str[k][id] * sidx[d];
                sidx[d] = 0;
            }
        }
        qb_set_d(y, o, acc);
        for (int d = s->nout - 1; d >= 0; d--) {
            if (++oidx[d] < s->size[s->out_lab[d]])
                break;
            oidx[d] = 0;
        }
    }
}

const qb_opdef qb_ops_einsum[] = {
    {"Einsum", ein_prepare, ein_run, NULL, QB_OPF_ANY_DTYPE, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
