/*
 * ops_rnn.c - the recurrent operators LSTM, GRU and RNN on float32: forward,
 * reverse and bidirectional, biases, initial states, sequence_lens (steps
 * past a sequence's length give zeros in Y and leave its state), LSTM
 * peepholes and input_forget, GRU linear_before_reset, clip, layout 0 and
 * 1, the activations of the ONNX spec with activation_alpha/beta.
 * Every gate is a dot product accumulated in double (weights read in
 * place, constant or not) in four interleaved partial sums (k % 4, added
 * (s0 + s1) + (s2 + s3), then the n % 4 tail in order: four independent
 * chains instead of one, the same order on every ISA), so the result does
 * not depend on the ISA; the recurrent models at the edge (Silero VAD:
 * one step of 128 units) are small enough for that.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness/graph/ops.h"

enum { A_SIGMOID, A_TANH, A_RELU, A_AFFINE, A_LEAKYRELU, A_THRESHOLDEDRELU, A_SCALEDTANH, A_HARDSIGMOID, A_ELU,
       A_SOFTSIGN, A_SOFTPLUS };

typedef struct act {
    int kind;          /* A_* */
    double alpha, beta; /* its parameters */
} act;

typedef struct rnn_state {
    int cell;          /* 0 RNN, 1 GRU, 2 LSTM */
    int gates;         /* 1, 3, 4 */
    int dirs;          /* 1 or 2 */
    int reverse;       /* single direction running backwards */
    int layout;        /* 1: batch first */
    int64_t seq, batch, in, hid; /* sizes */
    act f[2][3];       /* per direction: f, g, h */
    double clip;       /* 0: none */
    int input_forget;  /* LSTM: couple input and forget gates */
    int lbr;           /* GRU: linear_before_reset */
} rnn_state;

static const struct {
    const char *name;
    int kind, nparams;
    double alpha, beta;
} act_names[] = {
    {"Sigmoid", A_SIGMOID, 0, 0, 0},         {"Tanh", A_TANH, 0, 0, 0},
    {"Relu", A_RELU, 0, 0, 0},               {"Affine", A_AFFINE, 2, 1, 0},
    {"LeakyRelu", A_LEAKYRELU, 1, 0.01, 0},  {"ThresholdedRelu", A_THRESHOLDEDRELU, 1, 1, 0},
    {"ScaledTanh", A_SCALEDTANH, 2, 1, 1},   {"HardSigmoid", A_HARDSIGMOID, 2, 0.2, 0.5},
    {"Elu", A_ELU, 1, 1, 0},                 {"Softsign", A_SOFTSIGN, 0, 0, 0},
    {"Softplus", A_SOFTPLUS, 0, 0, 0},
};

static double apply(const act *a, double x)
{
    switch (a->kind) {
    case A_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case A_TANH: return tanh(x);
    case A_RELU: return x > 0 ? x : 0;
    case A_AFFINE: return a->alpha * x + a->beta;
    case A_LEAKYRELU: return x >= 0 ? x : a->alpha * x;
    case A_THRESHOLDEDRELU: return x > a->alpha ? x : 0;
    case A_SCALEDTANH: return a->alpha * tanh(a->beta * x);
    case A_HARDSIGMOID: {
        double v = a->alpha * x + a->beta;
        return v < 0 ? 0 : v > 1 ? 1 : v;
    }
    case A_ELU: return x >= 0 ? x : a->alpha * (exp(x) - 1);
    case A_SOFTSIGN: return x / (1 + fabs(x));
    default: return log1p(exp(x));
    }
}

/* sum over k < n of a[k] * b[k] in double, four partial sums (see the top). */
static double dot_ff(const float *a, const float *b, int64_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        s0 += (double)a[k] * b[k];
        s1 += (double)a[k + 1] * b[k + 1];
        s2 += (double)a[k + 2] * b[k + 2];
        s3 += (double)a[k + 3] * b[k + 3];
    }
    double s = (s0 + s1) + (s2 + s3);
    for (; k < n; k++)
        s += (double)a[k] * b[k];
    return s;
}

/* The same with a in double (the hidden state). */
static double dot_df(const double *a, const float *b, int64_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        s0 += a[k] * b[k];
        s1 += a[k + 1] * b[k + 1];
        s2 += a[k + 2] * b[k + 2];
        s3 += a[k + 3] * b[k + 3];
    }
    double s = (s0 + s1) + (s2 + s3);
    for (; k < n; k++)
        s += a[k] * b[k];
    return s;
}

static int rnn_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *X = qb_need_in(g, n, 0, e), *W = X ? qb_need_in(g, n, 1, e) : NULL, *R = W ? qb_need_in(g, n, 2, e) : NULL;
    if (!R)
        return -1;
    int cell = !strcmp(n->op, "LSTM") ? 2 : !strcmp(n->op, "GRU") ? 1 : 0, G = cell == 2 ? 4 : cell == 1 ? 3 : 1;
    for (int i = 0; i < n->nin; i++) {
        qb_tensor *t = qb_in(g, n, i);
        if (t && i != 4 && t->dtype != QB_DT_FLOAT) {
            QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                                "input %d must be float32 (element type %s)", i, qb_dtype_name(t->dtype));
            return -1;
        }
    }
    rnn_state *s = calloc(1, sizeof *s);
    n->state = s;
    s->cell = cell;
    s->gates = G;
    s->layout = (int)qb_attr_int(n, "layout", 0);
    const char *dir = qb_attr_str(n, "direction", "forward");
    s->dirs = !strcmp(dir, "bidirectional") ? 2 : 1;
    s->reverse = !strcmp(dir, "reverse");
    if (strcmp(dir, "forward") && strcmp(dir, "reverse") && s->dirs == 1) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR, "direction '%s' is not supported", dir);
        return -1;
    }
    if (X->ndim != 3 || W->ndim != 3 || R->ndim != 3) {
        QB_NODE_ERR(e, g, n, "X, W and R must have rank 3");
        return -1;
    }
    s->seq = X->dims[s->layout ? 1 : 0];
    s->batch = X->dims[s->layout ? 0 : 1];
    s->in = X->dims[2];
    s->hid = qb_attr_int(n, "hidden_size", R->dims[2]);
    int64_t H = s->hid;
    if (W->dims[0] != s->dirs || W->dims[1] != G * H || W->dims[2] != s->in || R->dims[0] != s->dirs ||
        R->dims[1] != G * H || R->dims[2] != H) {
        QB_NODE_ERR(e, g, n, "W or R do not match %d direction(s), hidden_size %lld and input size %lld", s->dirs,
                    (long long)H, (long long)s->in);
        return -1;
    }
    const qb_tensor *B = qb_in(g, n, 3), *L = qb_in(g, n, 4), *H0 = qb_in(g, n, 5), *C0 = cell == 2 ? qb_in(g, n, 6) : NULL,
                    *P = cell == 2 ? qb_in(g, n, 7) : NULL;
    if ((B && qb_tensor_count(B) != s->dirs * 2 * G * H) || (L && qb_tensor_count(L) != s->batch) ||
        (H0 && qb_tensor_count(H0) != s->dirs * s->batch * H) || (C0 && qb_tensor_count(C0) != s->dirs * s->batch * H) ||
        (P && qb_tensor_count(P) != s->dirs * 3 * H)) {
        QB_NODE_ERR(e, g, n, "B, sequence_lens, initial_h, initial_c or P has the wrong size");
        return -1;
    }
    if (L && (!qb_dtype_is_int(L->dtype) || L->kind != QB_T_CONST)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_DYNAMIC, "sequence_lens must be constant integers");
        return -1;
    }
    for (int64_t b = 0; L && b < s->batch; b++)
        if (qb_int_at(L, b) < 0 || qb_int_at(L, b) > s->seq) {
            QB_NODE_ERR(e, g, n, "sequence_lens[%lld] = %lld is outside 0..%lld", (long long)b,
                        (long long)qb_int_at(L, b), (long long)s->seq);
            return -1;
        }
    s->clip = qb_attr_float(n, "clip", 0.0f);
    s->input_forget = (int)qb_attr_int(n, "input_forget", 0);
    s->lbr = (int)qb_attr_int(n, "linear_before_reset", 0);
    /* activations: defaults, or the attribute (per direction), with alpha/beta consumed in order */
    static const char *const defaults[3][3] = {{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
    int nf = cell == 2 ? 3 : cell == 1 ? 2 : 1;
    const qb_attr *aa = qb_node_attr(n, "activations");
    if (aa && (aa->type != QB_ATTR_STRINGS || aa->n != nf * s->dirs)) {
        QB_NODE_ERR(e, g, n, "activations must name %d functions", nf * s->dirs);
        return -1;
    }
    const qb_attr *al = qb_node_attr(n, "activation_alpha"), *be = qb_node_attr(n, "activation_beta");
    int ia = 0, ib = 0;
    for (int d = 0; d < s->dirs; d++)
        for (int k = 0; k < nf; k++) {
            const char *nm = aa ? aa->strs[d * nf + k] : defaults[cell][k];
            size_t j = 0;
            while (j < sizeof act_names / sizeof act_names[0] && strcasecmp(act_names[j].name, nm))
                j++;
            if (j == sizeof act_names / sizeof act_names[0]) {
                QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR, "activation '%s' is not supported", nm);
                return -1;
            }
            act *a = &s->f[d][k];
            a->kind = act_names[j].kind;
            a->alpha = act_names[j].alpha;
            a->beta = act_names[j].beta;
            if (act_names[j].nparams >= 1 && al && al->type == QB_ATTR_FLOATS && ia < al->n)
                a->alpha = al->floats[ia++];
            if (act_names[j].nparams >= 2 && be && be->type == QB_ATTR_FLOATS && ib < be->n)
                a->beta = be->floats[ib++];
        }
    int64_t ydims[4], hdims[3];
    if (s->layout) {
        ydims[0] = s->batch, ydims[1] = s->seq, ydims[2] = s->dirs, ydims[3] = H;
        hdims[0] = s->batch, hdims[1] = s->dirs, hdims[2] = H;
    } else {
        ydims[0] = s->seq, ydims[1] = s->dirs, ydims[2] = s->batch, ydims[3] = H;
        hdims[0] = s->dirs, hdims[1] = s->batch, hdims[2] = H;
    }
    qb_set_out(g, n, 0, QB_DT_FLOAT, 4, ydims);
    qb_set_out(g, n, 1, QB_DT_FLOAT, 3, hdims);
    if (cell == 2)
        qb_set_out(g, n, 2, QB_DT_FLOAT, 3, hdims);
    n->scratch = (size_t)(3 * H + G * H) * sizeof(double);
    return 0;
}

static double clipv(const rnn_state *s, double v)
{
    return s->clip > 0 ? (v < -s->clip ? -s->clip : v > s->clip ? s->clip : v) : v;
}

static void rnn_run(qb_graph *g, qb_node *n, void *scratch)
{
    const rnn_state *s = n->state;
    const qb_tensor *X = qb_in(g, n, 0), *W = qb_in(g, n, 1), *R = qb_in(g, n, 2), *B = qb_in(g, n, 3),
                    *L = qb_in(g, n, 4), *H0 = qb_in(g, n, 5), *C0 = s->cell == 2 ? qb_in(g, n, 6) : NULL,
                    *P = s->cell == 2 ? qb_in(g, n, 7) : NULL;
    qb_tensor *Y = qb_out(g, n, 0), *YH = qb_out(g, n, 1), *YC = s->cell == 2 ? qb_out(g, n, 2) : NULL;
    int64_t H = s->hid, G = s->gates, T = s->seq, NB = s->batch, I = s->in;
    double *h = scratch, *c = h + H, *rh = c + H, *gt = rh + H;
    const float *x = X->data;
    float *y = Y ? Y->data : NULL;
    if (y)
        memset(y, 0, (size_t)qb_tensor_count(Y) * sizeof(float));
    for (int d = 0; d < s->dirs; d++) {
        int back = s->dirs == 2 ? d == 1 : s->reverse;
        const float *w = (const float *)W->data + d * G * H * I, *r = (const float *)R->data + d * G * H * H;
        const float *wb = B ? (const float *)B->data + d * 2 * G * H : NULL, *rb = wb ? wb + G * H : NULL;
        const float *p = P ? (const float *)P->data + d * 3 * H : NULL;
        const act *f = s->f[d];
        for (int64_t b = 0; b < NB; b++) {
            int64_t len = L ? qb_int_at(L, b) : T;
            int64_t hoff = s->layout ? (b * s->dirs + d) * H : (d * NB + b) * H;
            for (int64_t j = 0; j < H; j++) {
                h[j] = H0 ? ((const float *)H0->data)[hoff + j] : 0.0;
                c[j] = C0 ? ((const float *)C0->data)[hoff + j] : 0.0;
            }
            for (int64_t step = 0; step < len; step++) {
                int64_t t = back ? len - 1 - step : step;
                const float *xt = x + (s->layout ? (b * T + t) * I : (t * NB + b) * I);
                /* gate pre-activations: x W^T + Wb (+ h R^T + Rb, except GRU's h gate) */
                for (int64_t j = 0; j < G * H; j++) {
                    double acc = (wb ? wb[j] : 0.0) + dot_ff(xt, w + j * I, I);
                    if (s->cell != 1 || j < 2 * H)
                        acc += (rb ? rb[j] : 0.0) + dot_df(h, r + j * H, H);
                    gt[j] = acc;
                }
                if (s->cell == 2) { /* gates i, o, f, c */
                    for (int64_t j = 0; j < H; j++) {
                        double gi = clipv(s, gt[j] + (p ? p[j] * c[j] : 0));
                        double i_ = apply(&f[0], gi);
                        double f_ = s->input_forget ? 1.0 - i_ : apply(&f[0], clipv(s, gt[2 * H + j] + (p ? p[2 * H + j] * c[j] : 0)));
                        double cc = apply(&f[1], clipv(s, gt[3 * H + j]));
                        c[j] = f_ * c[j] + i_ * cc;
                        double o_ = apply(&f[0], clipv(s, gt[H + j] + (p ? p[H + j] * c[j] : 0)));
                        rh[j] = o_ * apply(&f[2], c[j]);
                    }
                    memcpy(h, rh, H * sizeof *h);
                } else if (s->cell == 1) { /* gates z, r, h; rh holds z, gt[H..2H) r, c the new h */
                    const float *rhw = r + 2 * H * H;
                    for (int64_t j = 0; j < H; j++) {
                        rh[j] = apply(&f[0], clipv(s, gt[j]));
                        gt[H + j] = apply(&f[0], clipv(s, gt[H + j]));
                    }
                    for (int64_t j = 0; j < H; j++) {
                        const float *rj = rhw + j * H;
                        double acc = rb ? rb[2 * H + j] : 0.0, pre;
                        if (s->lbr) { /* r * (h R_h^T + Rb_h) */
                            acc += dot_df(h, rj, H);
                            pre = gt[2 * H + j] + gt[H + j] * acc;
                        } else { /* (r * h) R_h^T + Rb_h */
                            for (int64_t k = 0; k < H; k++)
                                acc += gt[H + k] * h[k] * rj[k];
                            pre = gt[2 * H + j] + acc;
                        }
                        c[j] = apply(&f[1], clipv(s, pre));
                    }
                    for (int64_t j = 0; j < H; j++)
                        h[j] = (1.0 - rh[j]) * c[j] + rh[j] * h[j];
                } else {
                    for (int64_t j = 0; j < H; j++)
                        h[j] = apply(&f[0], clipv(s, gt[j]));
                }
                if (y) {
                    float *yt = y + (s->layout ? ((b * T + t) * s->dirs + d) * H : ((t * s->dirs + d) * NB + b) * H);
                    for (int64_t j = 0; j < H; j++)
                        yt[j] = (float)h[j];
                }
            }
            for (int64_t j = 0; j < H; j++) {
                if (YH)
                    ((float *)YH->data)[hoff + j] = (float)h[j];
                if (YC)
                    ((float *)YC->data)[hoff + j] = (float)c[j];
            }
        }
    }
}

static int64_t rnn_macs(const qb_graph *g, const qb_node *n)
{
    (void)g;
    const rnn_state *s = n->state;
    return s ? s->dirs * s->batch * s->seq * s->gates * s->hid * (s->in + s->hid) : 0;
}

const qb_opdef qb_ops_rnn[] = {
    {"LSTM", rnn_prepare, rnn_run, rnn_macs, QB_OPF_OPTIONAL_OUT0, 0},
    {"GRU", rnn_prepare, rnn_run, rnn_macs, QB_OPF_OPTIONAL_OUT0, 0},
    {"RNN", rnn_prepare, rnn_run, rnn_macs, QB_OPF_OPTIONAL_OUT0, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
