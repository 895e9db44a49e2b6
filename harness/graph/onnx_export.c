/*
 * onnx_export.c - the IR back to ONNX with protobuf-c: TensorProto files
 * (qbench run outputs) and whole models at opset 13, as bytes in memory
 * (qb_onnx_serialize) or written to a file (qb_onnx_save) (older models are
 * rewritten into opset-13 form at load, see upgrade.c). Constants (weights,
 * folded shape arithmetic) become initializers with raw_data; nodes keep
 * their attributes, so a re-import computes bit-identical outputs. If and
 * Loop subgraphs are written recursively (an If whose constant condition
 * let prepare splice its branch in, inline_if.c, is written as those
 * nodes). Pieces: the model (opsets, metadata), a graph (initializers,
 * nodes, inputs/outputs), a node, an attribute.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

#include "harness/graph/graph.h"
#include "harness/io/atomic.h"

/* Fill p from t (shares t's name and data; its dims are malloc'd, or NULL out of memory). */
static void tensor_to_proto(const qb_tensor *t, Onnx__TensorProto *p, int64_t *dims)
{
    onnx__tensor_proto__init(p);
    p->n_dims = dims ? t->ndim : 0;
    p->dims = dims;
    for (int i = 0; dims && i < t->ndim; i++)
        p->dims[i] = t->dims[i];
    p->has_data_type = 1;
    p->data_type = t->dtype;
    p->name = t->name;
    p->has_raw_data = 1;
    p->raw_data.len = (size_t)qb_tensor_count(t) * qb_dtype_size(t->dtype);
    p->raw_data.data = t->data;
}

/* The whole file or nothing (temporary file + fsync + rename). */
static int write_buf(const char *path, const uint8_t *buf, size_t len, qb_err *e)
{
    return qb_atomic_write(path, buf, len, e->msg, sizeof e->msg);
}

int qb_tensor_save_pb(const char *path, const qb_tensor *t, qb_err *e)
{
    Onnx__TensorProto p;
    int64_t *dims = malloc((size_t)(t->ndim + 1) * sizeof *dims);
    tensor_to_proto(t, &p, dims);
    size_t len = onnx__tensor_proto__get_packed_size(&p);
    uint8_t *buf = dims ? malloc(len + 1) : NULL;
    if (!buf) {
        free(dims);
        qb_errf(e, "%s: out of memory", path);
        return -1;
    }
    onnx__tensor_proto__pack(&p, buf);
    int rc = write_buf(path, buf, len, e);
    free(buf);
    free(dims);
    return rc;
}

/* ---- the model: every allocation of one export sits in a pool, freed together ---- */
typedef struct pool {
    void **p;     /* the allocations */
    int n, cap;   /* count, capacity */
    int oom;      /* an allocation failed */
} pool;

static void *pool_calloc(pool *pl, size_t n, size_t size)
{
    if (pl->n == pl->cap) {
        int cap = pl->cap ? 2 * pl->cap : 256;
        void **np = realloc(pl->p, (size_t)cap * sizeof *np);
        if (!np) {
            pl->oom = 1;
            return NULL;
        }
        pl->p = np, pl->cap = cap;
    }
    void *v = calloc(n ? n : 1, size ? size : 1);
    if (!v)
        pl->oom = 1;
    else
        pl->p[pl->n++] = v;
    return v;
}

static void pool_free(pool *pl)
{
    for (int i = 0; i < pl->n; i++)
        free(pl->p[i]);
    free(pl->p);
}

#define POOL_NEW(pl, T, n) ((T *)pool_calloc((pl), (n), sizeof(T)))

/* A graph's value: element type and shape when known (batch_sym: a
 * symbolic batch stays symbolic). NULL out of memory. */
static Onnx__ValueInfoProto *value_info(const qb_tensor *t, int batch_sym, pool *pl)
{
    Onnx__ValueInfoProto *v = POOL_NEW(pl, Onnx__ValueInfoProto, 1);
    Onnx__TypeProto *tp = POOL_NEW(pl, Onnx__TypeProto, 1);
    Onnx__TypeProto__Tensor *tt = POOL_NEW(pl, Onnx__TypeProto__Tensor, 1);
    Onnx__TensorShapeProto *sp = POOL_NEW(pl, Onnx__TensorShapeProto, 1);
    Onnx__TensorShapeProto__Dimension **dims = POOL_NEW(pl, Onnx__TensorShapeProto__Dimension *, t->ndim + 1);
    if (!v || !tp || !tt || !sp || !dims)
        return NULL;
    onnx__value_info_proto__init(v);
    v->name = t->name;
    if (!t->dtype)
        return v; /* a subgraph value whose type the file did not give */
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = t->dtype;
    if (t->has_shape) {
        onnx__tensor_shape_proto__init(sp);
        sp->n_dim = t->ndim;
        sp->dim = dims;
        for (int i = 0; i < t->ndim; i++) {
            Onnx__TensorShapeProto__Dimension *d = POOL_NEW(pl, Onnx__TensorShapeProto__Dimension, 1);
            if (!d)
                return NULL;
            onnx__tensor_shape_proto__dimension__init(d);
            if (i == 0 && batch_sym && t->sym[0]) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = "N";
            } else {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = t->dims[i];
            }
            sp->dim[i] = d;
        }
        tt->shape = sp;
    }
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->type = tp;
    return v;
}

/* How a graph is written: the model's graph, an If branch (no inputs: its
 * outer values are read by name) or a Loop body (its formal inputs). */
enum { G_MODEL, G_BRANCH, G_BODY };

static Onnx__GraphProto *graph_to_proto(const qb_graph *g, int kind, const char *name, pool *pl);

/* One attribute; a GRAPH attribute is written recursively. */
static Onnx__AttributeProto *attr_to_proto(const qb_attr *a, pool *pl)
{
    Onnx__AttributeProto *ap = POOL_NEW(pl, Onnx__AttributeProto, 1);
    if (!ap)
        return NULL;
    onnx__attribute_proto__init(ap);
    ap->name = a->name;
    ap->has_type = 1;
    ap->type = a->type;
    switch (a->type) {
    case QB_ATTR_FLOAT: ap->has_f = 1, ap->f = a->f; break;
    case QB_ATTR_INT: ap->has_i = 1, ap->i = a->i; break;
    case QB_ATTR_STRING: ap->has_s = 1, ap->s.data = (uint8_t *)a->s, ap->s.len = strlen(a->s); break;
    case QB_ATTR_INTS: ap->n_ints = a->n, ap->ints = a->ints; break;
    case QB_ATTR_FLOATS: ap->n_floats = a->n, ap->floats = a->floats; break;
    case QB_ATTR_TENSOR:
        if ((ap->t = POOL_NEW(pl, Onnx__TensorProto, 1)))
            tensor_to_proto(a->t, ap->t, POOL_NEW(pl, int64_t, a->t->ndim + 1));
        break;
    case QB_ATTR_STRINGS: /* LSTM/GRU/RNN activations */
        ap->n_strings = a->n;
        ap->strings = POOL_NEW(pl, ProtobufCBinaryData, a->n + 1);
        for (int k = 0; ap->strings && k < a->n; k++)
            ap->strings[k].data = (uint8_t *)a->strs[k], ap->strings[k].len = strlen(a->strs[k]);
        break;
    case QB_ATTR_GRAPH: /* If branches, Loop body (ops_control.c) */
        ap->g = a->sub ? graph_to_proto(a->sub, strcmp(a->name, "body") ? G_BRANCH : G_BODY, a->name, pl) : NULL;
        break;
    default: ap->has_type = 0; break;
    }
    return ap;
}

/* Inputs a node is written with: If and Loop carry the values their
 * subgraphs read as extra inputs in the IR (onnx_import.c), not in ONNX. */
static int formal_inputs(const qb_node *n)
{
    if (!strcmp(n->op, "If"))
        return n->nin < 1 ? n->nin : 1;
    const qb_graph *body = !strcmp(n->op, "Loop") ? qb_attr_graph(n, "body") : NULL;
    return body && body->ninputs < n->nin ? body->ninputs : n->nin;
}

static Onnx__NodeProto *node_to_proto(const qb_graph *g, const qb_node *n, pool *pl)
{
    Onnx__NodeProto *p = POOL_NEW(pl, Onnx__NodeProto, 1);
    int nin = formal_inputs(n);
    char **in = POOL_NEW(pl, char *, nin + 1), **out = POOL_NEW(pl, char *, n->nout + 1);
    Onnx__AttributeProto **ap = POOL_NEW(pl, Onnx__AttributeProto *, n->nattr + 1);
    if (!p || !in || !out || !ap)
        return NULL;
    onnx__node_proto__init(p);
    p->name = n->name;
    p->op_type = n->op;
    p->domain = n->domain; /* qdq: com.qbench, else NULL (the default domain) */
    for (int j = 0; j < nin; j++)
        in[j] = n->in[j] >= 0 ? g->tensors[n->in[j]]->name : "";
    for (int j = 0; j < n->nout; j++)
        out[j] = n->out[j] >= 0 ? g->tensors[n->out[j]]->name : "";
    p->n_input = nin, p->input = in;
    p->n_output = n->nout, p->output = out;
    p->n_attribute = n->nattr, p->attribute = ap;
    for (int j = 0; j < n->nattr; j++)
        if (!(ap[j] = attr_to_proto(&n->attr[j], pl)))
            return NULL;
    return p;
}

/* Every constant a live node or graph output reads, as initializers; a
 * subgraph leaves out its enclosing graphs' values (written there). */
static void initializers(const qb_graph *g, Onnx__GraphProto *gp, pool *pl)
{
    char *used = POOL_NEW(pl, char, g->ntensors + 1);
    Onnx__TensorProto *inits = POOL_NEW(pl, Onnx__TensorProto, g->ntensors + 1);
    Onnx__TensorProto **ip = POOL_NEW(pl, Onnx__TensorProto *, g->ntensors + 1);
    if (!used || !inits || !ip)
        return;
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; !g->nodes[i].folded && j < g->nodes[i].nin; j++)
            if (g->nodes[i].in[j] >= 0)
                used[g->nodes[i].in[j]] = 1;
    for (int i = 0; i < g->noutputs; i++)
        used[g->outputs[i]] = 1;
    for (int i = 0; i < g->nouter; i++)
        used[g->outer[i]] = 0; /* a constant copied in when the subgraph was bound */
    int ni = 0;
    for (int i = 0; i < g->ntensors; i++) {
        const qb_tensor *t = g->tensors[i];
        /* an empty one (Resize's roi) is kept: a copy may hold no buffer */
        if (used[i] && t->kind == QB_T_CONST && (t->data || qb_tensor_count(t) == 0)) {
            tensor_to_proto(t, &inits[ni], POOL_NEW(pl, int64_t, t->ndim + 1));
            ip[ni] = &inits[ni];
            ni++;
        }
    }
    gp->n_initializer = ni;
    gp->initializer = ip;
}

/* The graph's inputs and outputs (kind: enum above). */
static void graph_values(const qb_graph *g, int kind, Onnx__GraphProto *gp, pool *pl)
{
    Onnx__ValueInfoProto **vin = POOL_NEW(pl, Onnx__ValueInfoProto *, g->ninputs + 1);
    Onnx__ValueInfoProto **vout = POOL_NEW(pl, Onnx__ValueInfoProto *, g->noutputs + 1);
    if (!vin || !vout)
        return;
    int nin = 0;
    for (int i = 0; i < g->ninputs && kind != G_BRANCH; i++)
        if (kind == G_BODY || g->tensors[g->inputs[i]]->kind == QB_T_INPUT || !g->prepared)
            vin[nin++] = value_info(g->tensors[g->inputs[i]], kind == G_MODEL, pl);
    for (int i = 0; i < g->noutputs; i++)
        vout[i] = value_info(g->tensors[g->outputs[i]], 0, pl);
    gp->n_input = nin, gp->input = vin;
    gp->n_output = g->noutputs, gp->output = vout;
}

static Onnx__GraphProto *graph_to_proto(const qb_graph *g, int kind, const char *name, pool *pl)
{
    Onnx__GraphProto *gp = POOL_NEW(pl, Onnx__GraphProto, 1);
    Onnx__NodeProto **np = POOL_NEW(pl, Onnx__NodeProto *, g->nnodes + 1);
    if (!gp || !np)
        return NULL;
    onnx__graph_proto__init(gp);
    gp->name = (char *)name;
    initializers(g, gp, pl);
    int nn = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].folded) /* folded: constants now, or an If replaced by its branch */
            np[nn++] = node_to_proto(g, &g->nodes[i], pl);
    gp->n_node = nn, gp->node = np;
    graph_values(g, kind, gp, pl);
    return gp;
}

/* A live node of qbench's custom domain in g or its subgraphs. */
static int uses_domain(const qb_graph *g)
{
    for (int i = 0; i < g->nnodes; i++) {
        if (g->nodes[i].folded)
            continue;
        if (g->nodes[i].domain)
            return 1;
        for (int j = 0; j < g->nodes[i].nattr; j++)
            if (g->nodes[i].attr[j].sub && uses_domain(g->nodes[i].attr[j].sub))
                return 1;
    }
    return 0;
}

/* The model around the graph: IR version, opset imports, metadata. */
static Onnx__ModelProto *model_to_proto(const qb_graph *g, pool *pl)
{
    Onnx__ModelProto *m = POOL_NEW(pl, Onnx__ModelProto, 1);
    Onnx__OperatorSetIdProto *os = POOL_NEW(pl, Onnx__OperatorSetIdProto, 2);
    Onnx__OperatorSetIdProto **osp = POOL_NEW(pl, Onnx__OperatorSetIdProto *, 2);
    Onnx__StringStringEntryProto *meta = POOL_NEW(pl, Onnx__StringStringEntryProto, g->nmeta + 1);
    Onnx__StringStringEntryProto **metap = POOL_NEW(pl, Onnx__StringStringEntryProto *, g->nmeta + 1);
    if (!m || !os || !osp || !meta || !metap)
        return NULL;
    onnx__model_proto__init(m);
    m->has_ir_version = 1;
    m->ir_version = 7; /* the IR version of opset 13 */
    m->producer_name = "qbench";
    for (int k = 0; k < 2; k++) {
        onnx__operator_set_id_proto__init(&os[k]);
        os[k].has_version = 1;
        osp[k] = &os[k];
    }
    os[0].domain = "";
    os[0].version = g->opset > 13 ? g->opset : 13; /* graphs older than 13 were upgraded at load */
    os[1].domain = "com.qbench"; /* qdq: nodes of qbench's custom domain need its opset import */
    os[1].version = 1;
    m->n_opset_import = uses_domain(g) ? 2 : 1;
    m->opset_import = osp;
    for (int i = 0; i < g->nmeta; i++) { /* model metadata (meta.c) as metadata_props */
        onnx__string_string_entry_proto__init(&meta[i]);
        meta[i].key = g->meta_key[i];
        meta[i].value = g->meta_value[i];
        metap[i] = &meta[i];
    }
    m->n_metadata_props = (size_t)g->nmeta;
    m->metadata_props = metap;
    m->graph = graph_to_proto(g, G_MODEL, "qbench", pl);
    return m;
}

int qb_onnx_serialize(const qb_graph *g, const char *name, uint8_t **out, size_t *out_len, qb_err *e)
{
    *out = NULL;
    *out_len = 0;
    pool pl = {0};
    Onnx__ModelProto *m = model_to_proto(g, &pl);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (m && !pl.oom) {
        len = onnx__model_proto__get_packed_size(m);
        if ((buf = malloc(len + 1)))
            onnx__model_proto__pack(m, buf);
    }
    pool_free(&pl);
    if (!buf) {
        qb_errf(e, "%s: out of memory", name);
        return -1;
    }
    *out = buf, *out_len = len;
    return 0;
}

int qb_onnx_save(const qb_graph *g, const char *path, qb_err *e)
{
    uint8_t *buf;
    size_t len;
    if (qb_onnx_serialize(g, path, &buf, &len, e))
        return -1;
    int rc = write_buf(path, buf, len, e);
    free(buf);
    return rc;
}
