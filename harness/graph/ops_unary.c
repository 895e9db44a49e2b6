/*
 * ops_unary.c - element-wise functions of one input: the math functions
 * (Neg, Abs, Sign, Reciprocal, Exp, Log, Floor, Ceil, Erf, the trig and
 * hyperbolic functions and their inverses), the activations with
 * attributes (Elu, Selu, Celu, Softplus, Softsign, ThresholdedRelu,
 * Shrink, Gelu, Mish) and the float tests IsNaN / IsInf. One table of
 * functions, evaluated in double and rounded once into the element type
 * (float32, float16, double); Neg, Abs and Sign also run exactly on
 * integers. Relu, Sigmoid, Tanh, Sqrt, LeakyRelu, HardSigmoid and
 * HardSwish are in ops_elem.c, Round in ops_minmax.c, Not in ops_logic.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/graph/ops.h"

/* Attributes of the parameterised functions. */
typedef struct un_param {
    double alpha, beta, gamma; /* Elu, Selu, Celu, ThresholdedRelu, Gelu (beta: tanh approximation flag) */
    double lambd, bias;        /* Shrink */
    int neg, pos;              /* IsInf: detect_negative, detect_positive */
} un_param;

/* One function: in double, and on int64 for the ones exact on integers. */
typedef struct un_def {
    const char *op;                             /* ONNX op_type */
    double (*fd)(double x, const un_param *p);  /* the function */
    int64_t (*fi)(int64_t x);                   /* on integers, or NULL (float types only) */
    int to_bool;                                /* output is bool (IsNaN, IsInf) */
} un_def;

static double f_neg(double x, const un_param *p) { (void)p; return -x; }
static double f_abs(double x, const un_param *p) { (void)p; return fabs(x); }
static double f_sign(double x, const un_param *p) { (void)p; return x > 0 ? 1 : x < 0 ? -1 : x; }
static double f_recip(double x, const un_param *p) { (void)p; return 1.0 / x; }
static double f_exp(double x, const un_param *p) { (void)p; return exp(x); }
static double f_log(double x, const un_param *p) { (void)p; return log(x); }
static double f_floor(double x, const un_param *p) { (void)p; return floor(x); }
static double f_ceil(double x, const un_param *p) { (void)p; return ceil(x); }
static double f_erf(double x, const un_param *p) { (void)p; return erf(x); }
static double f_sin(double x, const un_param *p) { (void)p; return sin(x); }
static double f_cos(double x, const un_param *p) { (void)p; return cos(x); }
static double f_tan(double x, const un_param *p) { (void)p; return tan(x); }
static double f_asin(double x, const un_param *p) { (void)p; return asin(x); }
static double f_acos(double x, const un_param *p) { (void)p; return acos(x); }
static double f_atan(double x, const un_param *p) { (void)p; return atan(x); }
static double f_sinh(double x, const un_param *p) { (void)p; return sinh(x); }
static double f_cosh(double x, const un_param *p) { (void)p; return cosh(x); }
static double f_asinh(double x, const un_param *p) { (void)p; return asinh(x); }
static double f_acosh(double x, const un_param *p) { (void)p; return acosh(x); }
static double f_atanh(double x, const un_param *p) { (void)p; return atanh(x); }
static double f_elu(double x, const un_param *p) { return x < 0 ? p->alpha * expm1(x) : x; }
static double f_selu(double x, const un_param *p) { return p->gamma * (x <= 0 ? p->alpha * expm1(x) : x); }
static double f_celu(double x, const un_param *p) { return (x > 0 ? x : 0) + fmin(0, p->alpha * expm1(x / p->alpha)); }
/* log(1 + e^x) without overflow */
static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double f_softplus(double x, const un_param *p) { (void)p; return softplus(x); }
static double f_softsign(double x, const un_param *p) { (void)p; return x / (1 + fabs(x)); }
static double f_threlu(double x, const un_param *p) { return x > p->alpha ? x : 0; }
static double f_shrink(double x, const un_param *p)
{
    return x < -p->lambd ? x + p->bias : x > p->lambd ? x - p->bias : 0;
}
static double f_gelu(double x, const un_param *p)
{
    if (p->beta) /* approximate = "tanh" */
        return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1 + erf(x / sqrt(2)));
}
static double f_mish(double x, const un_param *p) { (void)p; return x * tanh(softplus(x)); }
static double f_isnan(double x, const un_param *p) { (void)p; return x != x; }
static double f_isinf(double x, const un_param *p) { return isinf(x) && ((x > 0 && p->pos) || (x < 0 && p->neg)); }

static int64_t i_neg(int64_t x) { return (int64_t)(0 - (uint64_t)x); }
static int64_t i_abs(int64_t x) { return x < 0 ? i_neg(x) : x; }
static int64_t i_sign(int64_t x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }

static const un_def defs[] = {
    {"Neg", f_neg, i_neg, 0},
    {"Abs", f_abs, i_abs, 0},
    {"Sign", f_sign, i_sign, 0},
    {"Reciprocal", f_recip, NULL, 0},
    {"Exp", f_exp, NULL, 0},
    {"Log", f_log, NULL, 0},
    {"Floor", f_floor, NULL, 0},
    {"Ceil", f_ceil, NULL, 0},
    {"Erf", f_erf, NULL, 0},
    {"Sin", f_sin, NULL, 0},
    {"Cos", f_cos, NULL, 0},
    {"Tan", f_tan, NULL, 0},
    {"Asin", f_asin, NULL, 0},
    {"Acos", f_acos, NULL, 0},
    {"Atan", f_atan, NULL, 0},
    {"Sinh", f_sinh, NULL, 0},
    {"Cosh", f_cosh, NULL, 0},
    {"Asinh", f_asinh, NULL, 0},
    {"Acosh", f_acosh, NULL, 0},
    {"Atanh", f_atanh, NULL, 0},
    {"Elu", f_elu, NULL, 0},
    {"Selu", f_selu, NULL, 0},
    {"Celu", f_celu, NULL, 0},
    {"Softplus", f_softplus, NULL, 0},
    {"Softsign", f_softsign, NULL, 0},
    {"ThresholdedRelu", f_threlu, NULL, 0},
    {"Shrink", f_shrink, NULL, 0},
    {"Gelu", f_gelu, NULL, 0},
    {"Mish", f_mish, NULL, 0},
    {"IsNaN", f_isnan, NULL, 1},
    {"IsInf", f_isinf, NULL, 1},
};

/* Prepared: the function and its attributes. */
typedef struct un_state {
    const un_def *def; /* the function */
    un_param p;        /* its attributes */
} un_state;

static int unary_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e);
    if (!x)
        return -1;
    const un_def *d = NULL;
    for (size_t i = 0; i < sizeof defs / sizeof defs[0] && !d; i++)
        if (!strcmp(defs[i].op, n->op))
            d = &defs[i];
    if (!d) {
        QB_NODE_ERR(e, g, n, "operator is not supported by ops_unary.c");
        return -1;
    }
    if (!qb_dtype_is_float(x->dtype) && !(d->fi && qb_dtype_is_int(x->dtype) && x->dtype != QB_DT_BOOL)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "element type %s is not supported (%s)", qb_dtype_name(x->dtype),
                            d->fi ? "numeric types only" : "float32, float16 and double only");
        return -1;
    }
    un_state *s = calloc(1, sizeof *s);
    if (!s) {
        QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    n->state = s;
    s->def = d;
    int selu = !strcmp(n->op, "Selu");
    s->p.alpha = qb_attr_float(n, "alpha", selu ? 1.67326319217681884765625f : 1.0f);
    s->p.gamma = qb_attr_float(n, "gamma", 1.05070102214813232421875f);
    s->p.lambd = qb_attr_float(n, "lambd", 0.5f);
    s->p.bias = qb_attr_float(n, "bias", 0.0f);
    s->p.neg = (int)qb_attr_int(n, "detect_negative", 1);
    s->p.pos = (int)qb_attr_int(n, "detect_positive", 1);
    if (!strcmp(n->op, "Gelu")) {
        const char *ap = qb_attr_str(n, "approximate", "none");
        if (strcmp(ap, "none") && strcmp(ap, "tanh")) {
            QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR,
                                "approximate '%s' is not supported (none or tanh)", ap);
            return -1;
        }
        s->p.beta = !strcmp(ap, "tanh");
    }
    if (!strcmp(n->op, "Celu") && s->p.alpha == 0) {
        QB_NODE_ERR(e, g, n, "alpha must be nonzero");
        return -1;
    }
    qb_set_out(g, n, 0, d->to_bool ? QB_DT_BOOL : x->dtype, x->ndim, x->dims);
    return 0;
}

static void unary_run(qb_graph *g, qb_node *n, void *scratch)
{
    (void)scratch;
    const un_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0);
    qb_tensor *y = qb_out(g, n, 0);
    int64_t c = qb_tensor_count(x);
    if (x->dtype == QB_DT_FLOAT && y->dtype == QB_DT_FLOAT) {
        const float *xp = x->data;
        float *yp = y->data;
        for (int64_t i = 0; i < c; i++)
            yp[i] = (float)s->def->fd(xp[i], &s->p);
    } else if (qb_dtype_is_int(x->dtype)) {
        for (int64_t i = 0; i < c; i++)
            qb_set_i(y, i, s->def->fi(qb_int_at(x, i)));
    } else {
        for (int64_t i = 0; i < c; i++)
            qb_set_d(y, i, s->def->fd(qb_get_d(x, i), &s->p));
    }
}

#define UN(name) {name, unary_prepare, unary_run, NULL, QB_OPF_ANY_DTYPE | QB_OPF_ZERO_SIZE, 0}
const qb_opdef qb_ops_unary[] = {
    UN("Neg"), UN("Abs"), UN("Sign"), UN("Reciprocal"), UN("Exp"), UN("Log"), UN("Floor"), UN("Ceil"),
    UN("Erf"), UN("Sin"), UN("Cos"), UN("Tan"), UN("Asin"), UN("Acos"), UN("Atan"), UN("Sinh"),
    UN("Cosh"), UN("Asinh"), UN("Acosh"), UN("Atanh"), UN("Elu"), UN("Selu"), UN("Celu"), UN("Softplus"),
    UN("Softsign"), UN("ThresholdedRelu"), UN("Shrink"), UN("Gelu"), UN("Mish"), UN("IsNaN"), UN("IsInf"),
    {NULL, NULL, NULL, NULL, 0, 0},
};
