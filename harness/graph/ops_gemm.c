/*
 * ops_gemm.c - Gemm (transA, transB, alpha, beta, C broadcast) and MatMul
 * (numpy semantics: 1-D promotion, broadcast batch dims). With constant
 * weights they run on the fp32 GEMM kernel with weights packed once
 * (alpha folded into W, beta*C into the bias when C is per column);
 * weights that are graph inputs are packed on each run: Gemm's whole, a
 * batched or non-constant MatMul's B one matrix at a time into the
 * scratch (qb_pack_into), each batch one kernel call (the plain loop
 * only without an fp32 GEMM kernel). Threads (par.h): the kernel call
 * splits by rows, a batched MatMul by its matrices.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"
#include "harness/graph/par.h"
#include "harness/graph/qlayer.h"

typedef struct gemm_state {
    int64_t m, n, k;     /* C[m x n] = A[m x k] . W[n x k]^T */
    int trans_a;         /* A stored as [k x m] */
    int trans_b;         /* B stored as [n x k] (Gemm transB=1) */
    float alpha, beta;   /* Gemm scales */
    int bias_mode;       /* 0 none, 1 in the kernel bias, 2 added after (broadcast) */
    int64_t cm, cn;      /* C's broadcast shape when bias_mode 2 */
    int packed_ok;       /* weights packed at prepare */
    qb_packed pack;      /* packed weights */
    int naive;           /* MatMul with B packed per run (batched or non-constant B) */
    size_t bslot;        /* naive on the kernel: scratch bytes per slot (B transposed, then its pack) */
    size_t bt_bytes;     /* naive on the kernel: bytes of B transposed in a slot (64-byte multiple) */
    int nslots;          /* naive on the kernel: slots (one per chunk of matrices), 0 = the plain loop */
    int64_t batch;       /* MatMul: output batch count */
    int rank;            /* MatMul output rank */
    int64_t bdims[QB_MAX_DIMS]; /* MatMul output batch dims (rank - 2 of them) */
    int64_t sa[QB_MAX_DIMS], sb[QB_MAX_DIMS]; /* MatMul batch strides of A and B in matrices */
    size_t qscratch_off;  /* quantized node: where its int8/bit buffers start in the scratch */
    int a_i8;             /* A is read as int8 NHWC pixels from tensor a_x (qb_gemm_set_int8_nhwc_input) */
    int a_x;              /* ... that tensor (the pool before a Flatten) */
    const qb_node *sm;    /* a Softmax along the output rows run in place on them (qb_gemm_fuse_softmax; the
                           * output written is then the Softmax's, write_to), or NULL */
} gemm_state;

static void gemm_free(void *p)
{
    gemm_state *s = p;
    if (s && s->pack.block)
        qb_packed_free(&s->pack);
    free(s);
}

/* Pack B (logical [k x n] unless trans_b) scaled by alpha, with the bias;
 * perm (quantized only, or NULL): packed column j is column perm[j]. */
static int gemm_pack(qb_graph *g, qb_node *n, gemm_state *s, const int64_t *perm, qb_err *e)
{
    const qb_tensor *B = qb_in(g, n, 1), *C = qb_in(g, n, 2);
    float *w = malloc((size_t)(s->n * s->k) * sizeof(float) + 1), *bias = NULL;
    const float *bd = B->data;
    for (int64_t i = 0; i < s->n; i++)
        for (int64_t j = 0; j < s->k; j++) {
            float v = s->trans_b ? bd[i * s->k + j] : bd[j * s->n + i];
            w[i * s->k + j] = s->alpha == 1.0f ? v : s->alpha * v;
        }
    if (s->bias_mode == 1) {
        bias = malloc((size_t)s->n * sizeof(float));
        const float *cd = C->data;
        int64_t cc = qb_tensor_count(C);
        for (int64_t i = 0; i < s->n; i++)
            bias[i] = s->beta * cd[cc == 1 ? 0 : i];
    }
    if (s->pack.block)
        qb_packed_free(&s->pack);
    if (n->q) { /* quantized: weights quantized once, packed for the precision's kernel */
        int rc = perm ? 0 : qb_qlayer_prepare(g, n, w, (int)s->n, (int)s->k, bias, 0, e); /* (perm: a repack) */
        if (!rc)
            rc = qb_qlayer_pack(g, n, 0, (int)s->n, (int)s->k, perm, w, bias, &s->pack, e);
        free(w);
        free(bias);
        return rc;
    }
    qb_weights qw = {.n = (int)s->n, .k = (int)s->k, .f32 = w, .bias_f32 = bias};
    char err[200] = "";
    int rc = qb_pack(g->gemm, &qw, &s->pack, err, sizeof err);
    free(w);
    free(bias);
    if (rc && e)
        QB_NODE_ERR(e, g, n, "cannot pack the weights: %s", err);
    return rc;
}

/* Quantized node: room for its int8/bit buffers after the float scratch. */
static void qscratch(qb_node *n, gemm_state *s)
{
    if (!n->q)
        return;
    s->qscratch_off = (n->scratch + 63) / 64 * 64;
    n->scratch = s->qscratch_off + qb_qlayer_scratch(n, s->m, s->k, s->n);
}

/* One call of the packed kernel (or its quantized form) on A [m x k]. */
static void run_packed(qb_graph *g, qb_node *n, gemm_state *s, const float *a, float *y, void *scratch)
{
    if (n->q && s->sm) {
        qb_qlayer_gemm_softmax(g, n, &s->pack, (int)s->m, a, (size_t)s->k, 0, y, s->sm,
                               (char *)scratch + s->qscratch_off);
        return;
    }
    if (n->q) {
        qb_qlayer_gemm(g, n, &s->pack, (int)s->m, a, (size_t)s->k, 0, y, (size_t)s->n, 0, 0,
                       (char *)scratch + s->qscratch_off);
        return;
    }
    qb_gemm_args ga = {.m = (int)s->m, .a = a, .lda = (size_t)s->k, .c = y, .ldc = (size_t)s->n,
                       .f_min = n->f_min, .f_max = n->f_max};
    double t0 = g->profile ? qb_now_ms() : 0;
    qb_gpar_gemm(&s->pack, &ga);
    if (g->profile)
        g->kernel_ms_acc += qb_now_ms() - t0;
}

static int gemm_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *A = qb_need_in(g, n, 0, e), *B = A ? qb_need_in(g, n, 1, e) : NULL, *C = qb_in(g, n, 2);
    if (!B)
        return -1;
    if (A->dtype != QB_DT_FLOAT || B->dtype != QB_DT_FLOAT || (C && C->dtype != QB_DT_FLOAT)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "inputs must be float32 (Gemm runs on the float32 kernels only; got %s)",
                            qb_dtype_name(A->dtype != QB_DT_FLOAT ? A->dtype : B->dtype != QB_DT_FLOAT ? B->dtype : C->dtype));
        return -1;
    }
    gemm_state *s = calloc(1, sizeof *s);
    n->state = s;
    n->free_state = gemm_free;
    s->trans_a = (int)qb_attr_int(n, "transA", 0);
    s->trans_b = (int)qb_attr_int(n, "transB", 0);
    s->alpha = qb_attr_float(n, "alpha", 1.0f);
    s->beta = qb_attr_float(n, "beta", 1.0f);
    if (A->ndim != 2 || B->ndim != 2) {
        QB_NODE_ERR(e, g, n, "A and B must be 2-D");
        return -1;
    }
    s->m = s->trans_a ? A->dims[1] : A->dims[0];
    s->k = s->trans_a ? A->dims[0] : A->dims[1];
    int64_t kb = s->trans_b ? B->dims[1] : B->dims[0];
    s->n = s->trans_b ? B->dims[0] : B->dims[1];
    if (kb != s->k || s->k > INT32_MAX / 2 || s->n > INT32_MAX / 2 || s->m > INT32_MAX / 2) {
        QB_NODE_ERR(e, g, n, "A is %lldx%lld but B has %lld rows of the reduction", (long long)s->m, (long long)s->k,
                    (long long)kb);
        return -1;
    }
    if (C) {
        if (C->ndim > 2) {
            QB_NODE_ERR(e, g, n, "C must have rank at most 2");
            return -1;
        }
        s->cm = C->ndim == 2 ? C->dims[0] : 1;
        s->cn = C->ndim >= 1 ? C->dims[C->ndim - 1] : 1;
        if ((s->cm != 1 && s->cm != s->m) || (s->cn != 1 && s->cn != s->n)) {
            QB_NODE_ERR(e, g, n, "C does not broadcast to %lldx%lld", (long long)s->m, (long long)s->n);
            return -1;
        }
        s->bias_mode = C->kind == QB_T_CONST && s->cm == 1 ? 1 : 2;
    }
    int64_t dims[2] = {s->m, s->n};
    qb_set_out(g, n, 0, QB_DT_FLOAT, 2, dims);
    n->can_clamp = s->bias_mode != 2;
    n->scratch = s->trans_a ? (size_t)(s->m * s->k) * sizeof(float) : 0;
    if (n->q && (B->kind != QB_T_CONST || (C && C->kind != QB_T_CONST) || s->bias_mode == 2)) {
        QB_NODE_ERR(e, g, n, "a quantized Gemm needs constant B and a constant per-column C");
        return -1;
    }
    if (B->kind == QB_T_CONST && (!C || C->kind == QB_T_CONST)) {
        if (gemm_pack(g, n, s, NULL, e))
            return -1;
        s->packed_ok = 1;
    }
    qscratch(n, s);
    return 0;
}

static void gemm_run(qb_graph *g, qb_node *n, void *scratch)
{
    gemm_state *s = n->state;
    const qb_tensor *A = qb_in(g, n, 0), *C = qb_in(g, n, 2);
    float *y = (n->write_to >= 0 ? g->tensors[n->write_to] : qb_out(g, n, 0))->data;
    if (!s->packed_ok && gemm_pack(g, n, s, NULL, NULL))
        return;
    if (s->a_i8) { /* int8 NHWC pixels in the input grid; the weights' columns permuted to match */
        if (s->sm)
            qb_qlayer_gemm_softmax(g, n, &s->pack, (int)s->m, g->tensors[s->a_x]->data, (size_t)s->k, 1, y, s->sm,
                                   (char *)scratch + s->qscratch_off);
        else
            qb_qlayer_gemm(g, n, &s->pack, (int)s->m, g->tensors[s->a_x]->data, (size_t)s->k, 1, y, (size_t)s->n, 0,
                           0, (char *)scratch + s->qscratch_off);
        return;
    }
    const float *a = A->data;
    if (s->trans_a) {
        float *t = scratch;
        for (int64_t i = 0; i < s->m; i++)
            for (int64_t j = 0; j < s->k; j++)
                t[i * s->k + j] = a[j * s->m + i];
        a = t;
    }
    run_packed(g, n, s, a, y, scratch);
    if (s->bias_mode == 2) {
        const float *c = C->data;
        for (int64_t i = 0; i < s->m; i++)
            for (int64_t j = 0; j < s->n; j++)
                y[i * s->n + j] += s->beta * c[(s->cm == 1 ? 0 : i) * s->cn + (s->cn == 1 ? 0 : j)];
    }
    if (!s->packed_ok) {
        qb_packed_free(&s->pack);
        s->pack.block = NULL;
    }
}

int qb_gemm_set_int8_nhwc_input(qb_graph *g, qb_node *n, int x, int64_t c, int64_t hw, qb_err *e)
{
    gemm_state *s = n->def && !strcmp(n->op, "Gemm") ? n->state : NULL;
    if (!s || !s->packed_ok || s->trans_a || !n->q || !qb_precision_is_int8(n->q->run_prec) || c * hw != s->k) {
        QB_NODE_ERR(e, g, n, "an int8 NHWC input needs a quantized int8 Gemm of K = %lld (internal error)",
                    (long long)(c * hw));
        return -1;
    }
    int64_t *perm = malloc((size_t)s->k * sizeof *perm);
    if (!perm) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    for (int64_t p = 0; p < hw; p++) /* A's column p * c + ch is the NCHW flatten's ch * hw + p */
        for (int64_t ch = 0; ch < c; ch++)
            perm[p * c + ch] = ch * hw + p;
    int rc = gemm_pack(g, n, s, perm, e);
    free(perm);
    if (!rc)
        s->a_i8 = 1, s->a_x = x;
    return rc;
}

static int64_t gemm_macs(const qb_graph *g, const qb_node *n)
{
    (void)g;
    const gemm_state *s = n->state;
    return s ? (s->batch ? s->batch : 1) * s->m * s->n * s->k : 0;
}

/* ---- MatMul ---- */
#define MATMUL_SLOTS 8 /* most chunks of matrices of a batched MatMul (scratch slots) */

static int matmul_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *A = qb_need_in(g, n, 0, e), *B = A ? qb_need_in(g, n, 1, e) : NULL;
    if (!B)
        return -1;
    if (A->dtype != QB_DT_FLOAT || B->dtype != QB_DT_FLOAT || !A->ndim || !B->ndim) {
        QB_NODE_UNSUPPORTED(e, g, n, A->dtype != QB_DT_FLOAT || B->dtype != QB_DT_FLOAT ? QB_ERR_UNSUPPORTED_TYPE : QB_ERR_INVALID,
                            "inputs must be float32 tensors of rank at least 1 (MatMul runs on the float32 "
                            "kernels only; got %s and %s)", qb_dtype_name(A->dtype), qb_dtype_name(B->dtype));
        return -1;
    }
    gemm_state *s = calloc(1, sizeof *s);
    n->state = s;
    n->free_state = gemm_free;
    s->alpha = 1.0f;
    int ra = A->ndim, rb = B->ndim;
    int64_t ad[QB_MAX_DIMS + 1], bd[QB_MAX_DIMS + 1];
    /* 1-D promotion */
    if (ra == 1) {
        ad[0] = 1, ad[1] = A->dims[0], ra = 2;
    } else {
        memcpy(ad, A->dims, ra * sizeof *ad);
    }
    if (rb == 1) {
        bd[0] = B->dims[0], bd[1] = 1, rb = 2;
    } else {
        memcpy(bd, B->dims, rb * sizeof *bd);
    }
    s->m = ad[ra - 2], s->k = ad[ra - 1], s->n = bd[rb - 1];
    if (bd[rb - 2] != s->k) {
        char x[128], y[128];
        qb_shape_str(A->ndim, A->dims, x, sizeof x);
        qb_shape_str(B->ndim, B->dims, y, sizeof y);
        QB_NODE_ERR(e, g, n, "cannot multiply %s by %s", x, y);
        return -1;
    }
    int nb;
    int64_t bdims[QB_MAX_DIMS];
    if (qb_broadcast(ra - 2, ad, rb - 2, bd, &nb, bdims)) {
        QB_NODE_ERR(e, g, n, "batch dimensions do not broadcast");
        return -1;
    }
    s->batch = 1;
    for (int i = 0; i < nb; i++)
        s->batch *= bdims[i];
    /* batch strides (in matrices) of A and B per output batch dim */
    int64_t acc_a = 1, acc_b = 1;
    for (int i = nb - 1; i >= 0; i--) {
        int ia = i - (nb - (ra - 2)), ib = i - (nb - (rb - 2));
        int64_t da = ia >= 0 ? ad[ia] : 1, db = ib >= 0 ? bd[ib] : 1;
        s->sa[i] = da == 1 ? 0 : acc_a;
        s->sb[i] = db == 1 ? 0 : acc_b;
        acc_a *= da, acc_b *= db;
        s->bdims[i] = bdims[i];
    }
    s->rank = nb;
    int64_t od[QB_MAX_DIMS];
    int r = 0;
    for (int i = 0; i < nb; i++)
        od[r++] = bdims[i];
    if (A->ndim > 1)
        od[r++] = s->m;
    if (B->ndim > 1)
        od[r++] = s->n;
    qb_set_out(g, n, 0, QB_DT_FLOAT, r, od);
    s->naive = !(B->kind == QB_T_CONST && rb == 2 && B->ndim == 2);
    if (!s->naive) {
        /* A's batch dims fold into M: one kernel call */
        s->m *= s->batch;
        s->batch = 1;
        if (s->m > INT32_MAX / 2) {
            QB_NODE_ERR(e, g, n, "too large");
            return -1;
        }
        if (gemm_pack(g, n, s, NULL, e))
            return -1;
        s->packed_ok = 1;
        n->can_clamp = 1;
        qscratch(n, s);
    } else if (n->q) {
        QB_NODE_ERR(e, g, n, "a quantized MatMul needs a constant 2-D B");
        return -1;
    } else if (g->gemm && s->m <= INT32_MAX / 2) {
        size_t pb = qb_pack_bytes(g->gemm, (int)s->n, (int)s->k);
        if (pb) { /* B packed per matrix into a slot of the scratch, one slot per chunk of matrices */
            s->bt_bytes = ((size_t)(s->n * s->k) * sizeof(float) + 63) / 64 * 64;
            s->bslot = s->bt_bytes + pb;
            s->nslots = (int)(s->batch < MATMUL_SLOTS ? s->batch : MATMUL_SLOTS);
            n->scratch = 64 + (size_t)s->nslots * s->bslot;
        }
    }
    return 0;
}

typedef struct matmul_job {
    const gemm_state *s;  /* shapes and batch strides */
    const float *a, *b;   /* inputs */
    float *y;             /* output */
} matmul_job;

/* Rows [r0, r1) of the batched output (row r: matrix r / m, row r % m)
 * by the plain loop; every element is one sum in k order. */
static void matmul_rows(void *ctx, int64_t r0, int64_t r1)
{
    const matmul_job *jb = ctx;
    const gemm_state *s = jb->s;
    for (int64_t r = r0; r < r1; r++) {
        int64_t bi = r / s->m, i = r % s->m, rem = bi, oa = 0, ob = 0;
        for (int d = s->rank - 1; d >= 0; d--) { /* matrix offsets of output matrix bi in A and B */
            int64_t idx = rem % s->bdims[d];
            rem /= s->bdims[d];
            oa += idx * s->sa[d];
            ob += idx * s->sb[d];
        }
        const float *pa = jb->a + oa * s->m * s->k + i * s->k, *pb = jb->b + ob * s->k * s->n;
        float *py = jb->y + r * s->n;
        for (int64_t j = 0; j < s->n; j++) {
            float acc = 0;
            for (int64_t kk = 0; kk < s->k; kk++)
                acc += pa[kk] * pb[kk * s->n + j];
            py[j] = acc;
        }
    }
}

/* Matrix offsets (in matrices) in A and B of output matrix bi. */
static void matmul_offsets(const gemm_state *s, int64_t bi, int64_t *oa, int64_t *ob)
{
    *oa = *ob = 0;
    for (int d = s->rank - 1; d >= 0; d--) {
        int64_t idx = bi % s->bdims[d];
        bi /= s->bdims[d];
        *oa += idx * s->sa[d];
        *ob += idx * s->sb[d];
    }
}

typedef struct matmul_kjob {
    qb_graph *g;         /* the fp32 GEMM kernel, profile */
    const gemm_state *s; /* shapes, strides, slots */
    const float *a, *b;  /* inputs */
    float *y;            /* output */
    char *slots;         /* scratch slots (64-byte aligned) */
    int64_t per;         /* matrices per chunk: chunk i uses slot i */
    int split;           /* one matrix at a time, each kernel call split over threads (few matrices) */
    float f_min, f_max;  /* clamp (none: MatMul has no fused clamp here) */
    int64_t pack_ns;     /* --profile: ns spent transposing and packing B, summed over threads */
} matmul_kjob;

/* Output matrices [b0, b1): B transposed to [n x k] and packed into this
 * chunk's slot, then one kernel call on A's matrix (or the call split
 * over threads): the bits of one call either way. */
static void matmul_mats(void *ctx, int64_t b0, int64_t b1)
{
    const matmul_kjob *j = ctx;
    const gemm_state *s = j->s;
    const qb_kernel *kn = j->g->gemm;
    char *slot = j->slots + (size_t)(b0 / j->per) * s->bslot;
    float *bt = (float *)(void *)slot;
    for (int64_t bi = b0; bi < b1; bi++) {
        int64_t oa, ob;
        double tp = j->g->profile ? qb_now_ms() : 0;
        matmul_offsets(s, bi, &oa, &ob);
        const float *pb = j->b + ob * s->k * s->n;
        for (int64_t i = 0; i < s->n; i++) /* W[i][kk] = B[kk][i] */
            for (int64_t kk = 0; kk < s->k; kk++)
                bt[i * s->k + kk] = pb[kk * s->n + i];
        qb_weights qw = {.n = (int)s->n, .k = (int)s->k, .f32 = bt};
        qb_packed p;
        if (qb_pack_into(kn, &qw, slot + s->bt_bytes, s->bslot - s->bt_bytes, &p, NULL, 0))
            return; /* (sizes were checked at prepare) */
        if (j->g->profile)
            __atomic_fetch_add(&((matmul_kjob *)ctx)->pack_ns, (int64_t)((qb_now_ms() - tp) * 1e6), __ATOMIC_RELAXED);
        qb_gemm_args ga = {.m = (int)s->m, .a = j->a + oa * s->m * s->k, .lda = (size_t)s->k,
                           .c = j->y + bi * s->m * s->n, .ldc = (size_t)s->n, .f_min = j->f_min, .f_max = j->f_max};
        double t0 = j->split && j->g->profile ? qb_now_ms() : 0;
        if (j->split)
            qb_gpar_gemm(&p, &ga);
        else
            kn->run.gemm(&p, &ga);
        if (j->split && j->g->profile)
            j->g->kernel_ms_acc += qb_now_ms() - t0;
    }
}

static void matmul_run(qb_graph *g, qb_node *n, void *scratch)
{
    gemm_state *s = n->state;
    const float *a = qb_in(g, n, 0)->data, *b = qb_in(g, n, 1)->data;
    float *y = (n->write_to >= 0 ? g->tensors[n->write_to] : qb_out(g, n, 0))->data;
    if (!s->naive) {
        run_packed(g, n, s, a, y, scratch);
        return;
    }
    if (s->nslots) {
        matmul_kjob k = {g, s, a, b, y, (char *)scratch + (64 - (uintptr_t)scratch % 64) % 64, 1, 0, -INFINITY,
                         INFINITY, 0};
        k.per = (s->batch + s->nslots - 1) / s->nslots;
        k.split = s->batch < qb_gpar_threads() || s->batch * s->m * s->n * s->k < 2 * QB_GPAR_MIN_WORK;
        if (k.split) { /* one matrix after another, each kernel call on the team */
            k.per = s->batch;
            matmul_mats(&k, 0, s->batch);
            return;
        }
        double t0 = g->profile ? qb_now_ms() : 0;
        qb_gpar_for(s->batch, k.per, matmul_mats, &k);
        if (g->profile) { /* the region less the packing (summed over threads: the kernel's share is a lower bound) */
            double kms = qb_now_ms() - t0 - (double)k.pack_ns * 1e-6;
            g->kernel_ms_acc += kms > 0 ? kms : 0;
        }
        return;
    }
    matmul_job j = {s, a, b, y};
    int64_t rows = s->batch * s->m;
    qb_gpar_for(rows, qb_gpar_chunk(rows, s->n * s->k, 1), matmul_rows, &j);
}

/* The only runtime reader of tensor t outside nodes fused into host h is
 * h itself (t no graph output). */
static int read_only_by(const qb_graph *g, int t, int h)
{
    for (int k = 0; k < g->noutputs; k++)
        if (g->outputs[k] == t)
            return 0;
    for (int j = 0; j < g->nnodes; j++) {
        const qb_node *r = &g->nodes[j];
        if (r->folded || j == h || r->fused_into == h)
            continue;
        for (int k = 0; k < r->nin; k++)
            if (r->in[k] == t)
                return 0;
    }
    return 1;
}

int qb_gemm_fuse_softmax(qb_graph *g)
{
    const char *env = getenv("QB_NO_GEMM_SOFTMAX_FUSION");
    if (g->no_elem_fusion || (env && *env && strcmp(env, "0")))
        return 0;
    int made = 0;
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *sm = &g->nodes[i];
        int64_t rows, len;
        int x = sm->fused_into < 0 && sm->write_to < 0 && !sm->domain ? qb_softmax_rows_input(sm, &rows, &len) : -1;
        int p = x >= 0 ? g->tensors[x]->producer : -1;
        if (p < 0 || p >= i)
            continue;
        qb_node *m = &g->nodes[p];
        gemm_state *s = m->state;
        const qb_opdef *def = m->def;
        if (m->folded || m->fused_into >= 0 || m->write_to >= 0 || m->domain || m->nout != 1 || m->out[0] != x ||
            (def != qb_op_find("MatMul") && def != qb_op_find("Gemm")) || !s || !m->q ||
            (m->q->run_prec != QB_PREC_INT8_TENSOR && m->q->run_prec != QB_PREC_INT8_CHANNEL) || s->naive ||
            s->trans_a || s->bias_mode == 2 || !s->packed_ok || s->sm || s->m != rows || s->n != len ||
            !read_only_by(g, x, i) || qb_out(g, sm, 0)->dtype != QB_DT_FLOAT)
            continue;
        s->sm = sm;
        m->write_to = sm->out[0];
        m->epi_in = x; /* what the layer itself computes: its QDQ export writes the output QDQ there */
        sm->fused_into = p;
        made++;
    }
    return made;
}

const qb_opdef qb_ops_gemm[] = {
    {"Gemm", gemm_prepare, gemm_run, gemm_macs, 0, 0},
    {"MatMul", matmul_prepare, matmul_run, gemm_macs, 0, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
