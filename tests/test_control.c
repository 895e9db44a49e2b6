/*
 * test_control.c - subgraphs through the importer and the executor: If on a
 * run-time condition (both branches, an outer initializer), If nested two
 * deep reading a top-level input, Loop with a carried value, an outer
 * run-time value and a scan output, a Loop whose condition depends on a
 * run-time value (run at run time; a scan of run-time length read by a
 * node: refused), clones of graphs with subgraphs, their
 * export (subgraphs written recursively; an If of constant condition
 * replaced by its branch's nodes when prepared), and
 * Constant-node weights loading as
 * initializers (BatchNormalization folded into them). Models are built
 * with the protobuf-c code of onnx.proto and loaded from memory; expected
 * values are computed here by hand.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "onnx.pb-c.h"

#include "harness/graph/graph.h"

/* ---- building protobuf-c messages (all malloc'd; load() frees the graph) ---- */
static char *sdup(const char *s) { return strcpy(malloc(strlen(s) + 1), s); }

static Onnx__NodeProto *node(const char *op, const char *name, const char *ins, const char *outs)
{
    Onnx__NodeProto *n = calloc(1, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = sdup(op);
    n->name = sdup(name);
    char buf[256], *save;
    snprintf(buf, sizeof buf, "%s", ins);
    n->input = calloc(8, sizeof(char *));
    for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
        n->input[n->n_input++] = sdup(strcmp(t, "-") ? t : "");
    snprintf(buf, sizeof buf, "%s", outs);
    n->output = calloc(8, sizeof(char *));
    for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
        n->output[n->n_output++] = sdup(t);
    return n;
}

static void add_attr(Onnx__NodeProto *n, Onnx__AttributeProto *a)
{
    n->attribute = realloc(n->attribute, (n->n_attribute + 1) * sizeof *n->attribute);
    n->attribute[n->n_attribute++] = a;
}

static Onnx__AttributeProto *attr_graph(const char *name, Onnx__GraphProto *g)
{
    Onnx__AttributeProto *a = calloc(1, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = sdup(name);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    a->g = g;
    return a;
}

static Onnx__AttributeProto *attr_int(const char *name, int64_t v)
{
    Onnx__AttributeProto *a = calloc(1, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = sdup(name);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    return a;
}

static Onnx__TensorProto *tensor_f(const char *name, int ndim, const int64_t *dims, const float *v)
{
    Onnx__TensorProto *t = calloc(1, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = sdup(name);
    t->has_data_type = 1;
    t->data_type = QB_DT_FLOAT;
    t->n_dims = ndim;
    t->dims = calloc(ndim + 1, sizeof *t->dims);
    int64_t c = 1;
    for (int i = 0; i < ndim; i++)
        c *= t->dims[i] = dims[i];
    t->n_float_data = c;
    t->float_data = calloc(c + 1, sizeof(float));
    memcpy(t->float_data, v, c * sizeof(float));
    return t;
}

static Onnx__TensorProto *tensor_i(const char *name, int dt, int ndim, const int64_t *dims, const int64_t *v)
{
    Onnx__TensorProto *t = calloc(1, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = sdup(name);
    t->has_data_type = 1;
    t->data_type = dt;
    t->n_dims = ndim;
    t->dims = calloc(ndim + 1, sizeof *t->dims);
    int64_t c = 1;
    for (int i = 0; i < ndim; i++)
        c *= t->dims[i] = dims[i];
    if (dt == QB_DT_INT64) {
        t->n_int64_data = c;
        t->int64_data = calloc(c + 1, sizeof(int64_t));
        memcpy(t->int64_data, v, c * sizeof(int64_t));
    } else {
        t->n_int32_data = c;
        t->int32_data = calloc(c + 1, sizeof(int32_t));
        for (int64_t i = 0; i < c; i++)
            t->int32_data[i] = (int32_t)v[i];
    }
    return t;
}

static Onnx__ValueInfoProto *value(const char *name, int dt, int ndim, const int64_t *dims)
{
    Onnx__ValueInfoProto *v = calloc(1, sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = sdup(name);
    Onnx__TypeProto *tp = calloc(1, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = calloc(1, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = dt;
    if (ndim >= 0) {
        Onnx__TensorShapeProto *sh = calloc(1, sizeof *sh);
        onnx__tensor_shape_proto__init(sh);
        sh->n_dim = ndim;
        sh->dim = calloc(ndim + 1, sizeof *sh->dim);
        for (int i = 0; i < ndim; i++) {
            sh->dim[i] = calloc(1, sizeof **sh->dim);
            onnx__tensor_shape_proto__dimension__init(sh->dim[i]);
            sh->dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            sh->dim[i]->dim_value = dims[i];
        }
        tt->shape = sh;
    }
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->type = tp;
    return v;
}

static Onnx__GraphProto *graph(const char *name)
{
    Onnx__GraphProto *g = calloc(1, sizeof *g);
    onnx__graph_proto__init(g);
    g->name = sdup(name);
    g->node = calloc(32, sizeof *g->node);
    g->input = calloc(8, sizeof *g->input);
    g->output = calloc(8, sizeof *g->output);
    g->initializer = calloc(8, sizeof *g->initializer);
    return g;
}

#define ADD(arr, n, x) ((arr)[(n)++] = (x))

/* Serialize g as an opset-13 model and load it. */
static qb_graph *load(Onnx__GraphProto *g, qb_err *e)
{
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    m.has_ir_version = 1;
    m.ir_version = 7;
    m.graph = g;
    Onnx__OperatorSetIdProto op;
    onnx__operator_set_id_proto__init(&op);
    op.domain = "";
    op.has_version = 1;
    op.version = 13;
    Onnx__OperatorSetIdProto *ops[1] = {&op};
    m.opset_import = ops;
    m.n_opset_import = 1;
    size_t len = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(len);
    onnx__model_proto__pack(&m, buf);
    qb_graph *q = qb_onnx_load_mem(buf, len, "test.onnx", e);
    free(buf);
    onnx__graph_proto__free_unpacked(g, NULL);
    return q;
}

/* g written as ONNX (qb_onnx_serialize) and read back. */
static qb_graph *reload(const qb_graph *g, qb_err *e)
{
    uint8_t *buf;
    size_t len;
    if (qb_onnx_serialize(g, "reload.onnx", &buf, &len, e))
        return NULL;
    qb_graph *r = qb_onnx_load_mem(buf, len, "reload.onnx", e);
    free(buf);
    return r;
}

static int count_op(const qb_graph *g, const char *op, int live)
{
    int c = 0;
    for (int i = 0; i < g->nnodes; i++)
        c += !strcmp(g->nodes[i].op, op) && !(live && g->nodes[i].folded);
    return c;
}

static float *run1(qb_graph *g, int64_t n, const float *x, qb_err *e)
{
    qb_tensor in = {.name = "x", .dtype = QB_DT_FLOAT, .ndim = 1, .dims = {n}, .has_shape = 1, .data = (void *)x};
    if (!g->prepared && qb_graph_prepare(g, &in, 1, -1, e))
        return NULL;
    if (qb_graph_run(g, &in, 1, e))
        return NULL;
    return g->tensors[g->outputs[0]]->data;
}

/* If on cond = Cast(x[0] -> bool): then y = x + w (w an outer initializer), else y = x * x. */
static void test_if_runtime_condition(void **st)
{
    (void)st;
    int64_t d4 = 4, d1 = 1, zero = 0, one = 1;
    float w[4] = {10, 20, 30, 40};
    Onnx__GraphProto *then_g = graph("then"), *else_g = graph("else"), *g = graph("main");
    ADD(then_g->node, then_g->n_node, node("Add", "add", "x w", "ty"));
    ADD(then_g->output, then_g->n_output, value("ty", QB_DT_FLOAT, -1, NULL));
    ADD(else_g->node, else_g->n_node, node("Mul", "mul", "x x", "ey"));
    ADD(else_g->output, else_g->n_output, value("ey", QB_DT_FLOAT, -1, NULL));
    ADD(g->input, g->n_input, value("x", QB_DT_FLOAT, 1, &d4));
    ADD(g->initializer, g->n_initializer, tensor_f("w", 1, &d4, w));
    ADD(g->initializer, g->n_initializer, tensor_i("s0", QB_DT_INT64, 1, &d1, &zero));
    ADD(g->initializer, g->n_initializer, tensor_i("s1", QB_DT_INT64, 1, &d1, &one));
    ADD(g->node, g->n_node, node("Slice", "first", "x s0 s1", "x0"));
    Onnx__NodeProto *cast = node("Cast", "tobool", "x0", "c");
    add_attr(cast, attr_int("to", QB_DT_BOOL));
    ADD(g->node, g->n_node, cast);
    Onnx__NodeProto *nif = node("If", "if", "c", "y");
    add_attr(nif, attr_graph("then_branch", then_g));
    add_attr(nif, attr_graph("else_branch", else_g));
    ADD(g->node, g->n_node, nif);
    ADD(g->output, g->n_output, value("y", QB_DT_FLOAT, -1, NULL));
    qb_err e = {0};
    qb_graph *q = load(g, &e);
    assert_non_null(q);
    for (int i = 0; i < q->nnodes; i++)
        if (!strcmp(q->nodes[i].op, "If"))
            assert_int_equal(q->nodes[i].nin, 3); /* cond + the outer values x and w */
    float x1[4] = {1, 2, 3, 4}, x0[4] = {0, 2, 3, 4};
    float *y = run1(q, 4, x1, &e);
    assert_non_null(y);
    for (int i = 0; i < 4; i++)
        assert_float_equal(y[i], x1[i] + w[i], 0);
    y = run1(q, 4, x0, &e);
    assert_non_null(y);
    for (int i = 0; i < 4; i++)
        assert_float_equal(y[i], x0[i] * x0[i], 0);
    /* written with both branches (the prepared graph: outer values by name) and read back */
    qb_graph *r = reload(q, &e);
    assert_non_null(r);
    assert_int_equal(count_op(r, "If", 0), 1);
    y = run1(r, 4, x1, &e);
    assert_non_null(y);
    for (int i = 0; i < 4; i++)
        assert_float_equal(y[i], x1[i] + w[i], 0);
    y = run1(r, 4, x0, &e);
    for (int i = 0; i < 4; i++)
        assert_float_equal(y[i], x0[i] * x0[i], 0);
    qb_graph_free(r);
    qb_graph_free(q);
}

/* If (constant true) whose then_branch holds an If (constant false) whose
 * else_branch reads the top-level input x: y = x + x; two levels of outer scope. */
static Onnx__GraphProto *nested_model(void)
{
    int64_t d3 = 3, t = 1, f = 0;
    Onnx__GraphProto *inner_then = graph("it"), *inner_else = graph("ie"), *outer_then = graph("ot"),
                     *outer_else = graph("oe"), *g = graph("main");
    ADD(inner_then->node, inner_then->n_node, node("Mul", "m", "x x", "a"));
    ADD(inner_then->output, inner_then->n_output, value("a", QB_DT_FLOAT, -1, NULL));
    ADD(inner_else->node, inner_else->n_node, node("Add", "a", "x x", "b"));
    ADD(inner_else->output, inner_else->n_output, value("b", QB_DT_FLOAT, -1, NULL));
    Onnx__NodeProto *in_if = node("If", "inner", "cf", "r");
    add_attr(in_if, attr_graph("then_branch", inner_then));
    add_attr(in_if, attr_graph("else_branch", inner_else));
    ADD(outer_then->node, outer_then->n_node, in_if);
    ADD(outer_then->output, outer_then->n_output, value("r", QB_DT_FLOAT, -1, NULL));
    ADD(outer_else->node, outer_else->n_node, node("Identity", "id", "x", "z"));
    ADD(outer_else->output, outer_else->n_output, value("z", QB_DT_FLOAT, -1, NULL));
    ADD(g->input, g->n_input, value("x", QB_DT_FLOAT, 1, &d3));
    ADD(g->initializer, g->n_initializer, tensor_i("ct", QB_DT_BOOL, 0, NULL, &t));
    ADD(g->initializer, g->n_initializer, tensor_i("cf", QB_DT_BOOL, 0, NULL, &f));
    Onnx__NodeProto *out_if = node("If", "outer", "ct", "y");
    add_attr(out_if, attr_graph("then_branch", outer_then));
    add_attr(out_if, attr_graph("else_branch", outer_else));
    ADD(g->node, g->n_node, out_if);
    ADD(g->output, g->n_output, value("y", QB_DT_FLOAT, -1, NULL));
    return g;
}

static void test_if_nested_outer_scope(void **st)
{
    (void)st;
    Onnx__GraphProto *g = nested_model();
    qb_err e = {0};
    qb_graph *q0 = load(g, &e);
    assert_non_null(q0);
    qb_graph *q = qb_graph_clone(q0, &e);
    assert_non_null(q);
    qb_graph_free(q0);
    float x[3] = {1.5f, -2, 7};
    float *y = run1(q, 3, x, &e);
    assert_non_null(y);
    for (int i = 0; i < 3; i++)
        assert_float_equal(y[i], x[i] + x[i], 0);
    /* both constant Ifs were replaced by the nodes of their branches when prepared */
    assert_int_equal(count_op(q, "If", 1), 0);
    assert_int_equal(count_op(q, "Add", 1), 1);
    qb_graph *r = reload(q, &e); /* written without subgraphs, the same result */
    assert_non_null(r);
    assert_int_equal(count_op(r, "If", 0), 0);
    y = run1(r, 3, x, &e);
    assert_non_null(y);
    for (int i = 0; i < 3; i++)
        assert_float_equal(y[i], x[i] + x[i], 0);
    qb_graph_free(r);
    /* the unprepared model is written with its nested subgraphs and reads back */
    qb_graph *u = load(nested_model(), &e);
    assert_non_null(u);
    r = reload(u, &e);
    assert_non_null(r);
    assert_int_equal(count_op(r, "If", 0), 1);
    y = run1(r, 3, x, &e);
    assert_non_null(y);
    for (int i = 0; i < 3; i++)
        assert_float_equal(y[i], x[i] + x[i], 0);
    qb_graph_free(r);
    qb_graph_free(u);
    qb_graph_free(q);
}

/* Loop M=3: v_out = v_in + x (x an outer run-time value), scan s = v_out. */
static Onnx__GraphProto *loop_model(int cond_from_x)
{
    int64_t d2 = 2, m = 3, t = 1;
    float v0[2] = {1, -1};
    Onnx__GraphProto *body = graph("body"), *g = graph("main");
    ADD(body->input, body->n_input, value("i", QB_DT_INT64, 0, NULL));
    ADD(body->input, body->n_input, value("cin", QB_DT_BOOL, 0, NULL));
    ADD(body->input, body->n_input, value("vin", QB_DT_FLOAT, 1, &d2));
    if (cond_from_x) {
        Onnx__NodeProto *cast = node("Cast", "c", "x", "cx");
        add_attr(cast, attr_int("to", QB_DT_BOOL));
        ADD(body->node, body->n_node, cast);
        ADD(body->node, body->n_node, node("Identity", "keep", "cin", "cunused"));
    } else {
        ADD(body->node, body->n_node, node("Identity", "keep", "cin", "cout"));
    }
    ADD(body->node, body->n_node, node("Add", "acc", "vin x", "vout"));
    ADD(body->node, body->n_node, node("Identity", "scan", "vout", "s"));
    ADD(body->output, body->n_output, value(cond_from_x ? "cx" : "cout", QB_DT_BOOL, -1, NULL));
    ADD(body->output, body->n_output, value("vout", QB_DT_FLOAT, -1, NULL));
    ADD(body->output, body->n_output, value("s", QB_DT_FLOAT, -1, NULL));
    ADD(g->input, g->n_input, value("x", QB_DT_FLOAT, 1, &d2));
    ADD(g->initializer, g->n_initializer, tensor_i("M", QB_DT_INT64, 0, NULL, &m));
    ADD(g->initializer, g->n_initializer, tensor_i("c", QB_DT_BOOL, 0, NULL, &t));
    ADD(g->initializer, g->n_initializer, tensor_f("v0", 1, &d2, v0));
    Onnx__NodeProto *loop = node("Loop", "loop", "M c v0", "vf scan");
    add_attr(loop, attr_graph("body", body));
    ADD(g->node, g->n_node, loop);
    ADD(g->output, g->n_output, value("vf", QB_DT_FLOAT, -1, NULL));
    ADD(g->output, g->n_output, value("scan", QB_DT_FLOAT, -1, NULL));
    return g;
}

static void test_loop_carried_scan(void **st)
{
    (void)st;
    qb_err e = {0};
    qb_graph *q0 = load(loop_model(0), &e);
    assert_non_null(q0);
    qb_graph *q = qb_graph_clone(q0, &e); /* a copy runs like the parsed model (subgraph and body bytes copied) */
    assert_non_null(q);
    qb_graph_free(q0);
    float x[2] = {0.5f, 2};
    qb_graph *r = reload(q, &e); /* the body written as a GRAPH attribute, read back */
    assert_non_null(r);
    float *vf = run1(r, 2, x, &e);
    assert_non_null(vf);
    assert_float_equal(vf[0], 1 + 3 * 0.5f, 0);
    qb_graph_free(r);
    vf = run1(q, 2, x, &e);
    assert_non_null(vf);
    assert_float_equal(vf[0], 1 + 3 * 0.5f, 0);
    assert_float_equal(vf[1], -1 + 3 * 2.0f, 0);
    const qb_tensor *scan = q->tensors[q->outputs[1]];
    assert_int_equal(scan->ndim, 2);
    assert_int_equal(scan->dims[0], 3);
    const float *s = scan->data;
    for (int i = 0; i < 3; i++) {
        assert_float_equal(s[2 * i], 1 + (i + 1) * 0.5f, 0);
        assert_float_equal(s[2 * i + 1], -1 + (i + 1) * 2.0f, 0);
    }
    float x2[2] = {-1, 1}; /* a second run on other values */
    vf = run1(q, 2, x2, &e);
    assert_float_equal(vf[0], 1 - 3.0f, 0);
    qb_graph_free(q);
}

/* A while loop: no trip count, v_out = v_in + 1, continue while v_out < x
 * (x a run-time input), scan s = v_out; read_scan: a node reads the scan. */
static Onnx__GraphProto *while_model(int read_scan)
{
    int64_t d1 = 1, t = 1;
    float zero = 0, one = 1;
    Onnx__GraphProto *body = graph("body"), *g = graph("main");
    ADD(body->input, body->n_input, value("i", QB_DT_INT64, 0, NULL));
    ADD(body->input, body->n_input, value("cin", QB_DT_BOOL, 0, NULL));
    ADD(body->input, body->n_input, value("vin", QB_DT_FLOAT, 1, &d1));
    ADD(body->initializer, body->n_initializer, tensor_f("one", 1, &d1, &one));
    ADD(body->node, body->n_node, node("Add", "inc", "vin one", "vout"));
    ADD(body->node, body->n_node, node("Less", "test", "vout x", "cout"));
    ADD(body->node, body->n_node, node("Identity", "scan", "vout", "s"));
    ADD(body->output, body->n_output, value("cout", QB_DT_BOOL, -1, NULL));
    ADD(body->output, body->n_output, value("vout", QB_DT_FLOAT, -1, NULL));
    ADD(body->output, body->n_output, value("s", QB_DT_FLOAT, -1, NULL));
    ADD(g->input, g->n_input, value("x", QB_DT_FLOAT, 1, &d1));
    ADD(g->initializer, g->n_initializer, tensor_i("c", QB_DT_BOOL, 0, NULL, &t));
    ADD(g->initializer, g->n_initializer, tensor_f("v0", 1, &d1, &zero));
    Onnx__NodeProto *loop = node("Loop", "loop", "- c v0", "vf scan");
    add_attr(loop, attr_graph("body", body));
    ADD(g->node, g->n_node, loop);
    ADD(g->output, g->n_output, value("vf", QB_DT_FLOAT, -1, NULL));
    if (read_scan)
        ADD(g->node, g->n_node, node("Neg", "neg", "scan", "ns"));
    ADD(g->output, g->n_output, value(read_scan ? "ns" : "scan", QB_DT_FLOAT, -1, NULL));
    return g;
}

/* The loop runs 4 times for x = 3.5, once for x = 0.5, on one prepared graph. */
static void test_loop_runtime_condition(void **st)
{
    (void)st;
    qb_err e = {0};
    qb_graph *q = load(while_model(0), &e);
    assert_non_null(q);
    float limits[2] = {3.5f, 0.5f};
    int want[2] = {4, 1};
    for (int r = 0; r < 2; r++) {
        float *vf = run1(q, 1, &limits[r], &e);
        assert_non_null(vf);
        assert_float_equal(vf[0], (float)want[r], 0);
        const qb_tensor *scan = q->tensors[q->outputs[1]];
        assert_int_equal(scan->ndim, 2);
        assert_int_equal(scan->dims[0], want[r]);
        for (int i = 0; i < want[r]; i++)
            assert_float_equal(((const float *)scan->data)[i], (float)(i + 1), 0);
    }
    qb_graph_free(q);
    /* a scan output of run-time length that another node reads: refused by name */
    q = load(while_model(1), &e);
    assert_non_null(q);
    assert_null(run1(q, 1, &limits[0], &e));
    assert_non_null(strstr(e.msg, "scan output 0 is read by other nodes"));
    qb_graph_free(q);
}

/* Conv weights and BatchNormalization parameters in Constant nodes:
 * loaded as initializers, BN folded into the Conv. */
static void test_constant_weights(void **st)
{
    (void)st;
    int64_t wd[4] = {1, 1, 1, 1}, cd = 1;
    float w = 2, sc = 3, b = 1, mean = 0.5f, var = 4;
    Onnx__GraphProto *g = graph("main");
    const char *names[5] = {"w", "sc", "b", "mean", "var"};
    const float *vals[5] = {&w, &sc, &b, &mean, &var};
    for (int i = 0; i < 5; i++) {
        Onnx__NodeProto *c = node("Constant", names[i], "", names[i]);
        Onnx__AttributeProto *a = calloc(1, sizeof *a);
        onnx__attribute_proto__init(a);
        a->name = sdup("value");
        a->has_type = 1;
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
        a->t = tensor_f(names[i], i ? 1 : 4, i ? &cd : wd, vals[i]);
        add_attr(c, a);
        ADD(g->node, g->n_node, c);
    }
    int64_t xd[4] = {1, 1, 1, 2};
    ADD(g->input, g->n_input, value("x", QB_DT_FLOAT, 4, xd));
    ADD(g->node, g->n_node, node("Conv", "conv", "x w", "c"));
    ADD(g->node, g->n_node, node("BatchNormalization", "bn", "c sc b mean var", "y"));
    ADD(g->output, g->n_output, value("y", QB_DT_FLOAT, -1, NULL));
    qb_err e = {0};
    qb_graph *q = load(g, &e);
    assert_non_null(q);
    assert_int_equal(q->nnodes, 2); /* the five Constants became initializers */
    assert_int_equal(qb_fold_batchnorm(q), 1);
    float x[2] = {1, -3};
    qb_tensor in = {.name = "x", .dtype = QB_DT_FLOAT, .ndim = 4, .dims = {1, 1, 1, 2}, .has_shape = 1, .data = x};
    q->no_fold_bn = 1;
    assert_int_equal(qb_graph_prepare(q, &in, 1, -1, &e), 0);
    assert_int_equal(qb_graph_run(q, &in, 1, &e), 0);
    const float *y = q->tensors[q->outputs[0]]->data;
    for (int i = 0; i < 2; i++) /* BN(conv) = (2x - 0.5) * 3 / sqrt(4 + 1e-5) + 1 */
        assert_float_equal(y[i], (2 * x[i] - 0.5f) * 3 / sqrtf(4 + 1e-5f) + 1, 1e-5);
    qb_graph_free(q);
}

int main(void)
{
    qb_import_quiet = 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_if_runtime_condition),
        cmocka_unit_test(test_if_nested_outer_scope),
        cmocka_unit_test(test_loop_carried_scan),
        cmocka_unit_test(test_loop_runtime_condition),
        cmocka_unit_test(test_constant_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
