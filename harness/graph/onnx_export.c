/*
 * onnx_export.c - the IR back to ONNX with protobuf-c: TensorProto files
 * (qbench run outputs) and whole models at opset 13, as bytes in memory
 * (qb_onnx_serialize) or written to a file (qb_onnx_save) (older models are
 * rewritten into opset-13 form at load, see upgrade.c). Constants (weights,
 * folded shape arithmetic) become initializers with raw_data; nodes keep
 * their attributes, so a re-import computes bit-identical outputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

#include "harness/graph/graph.h"
#include "harness/io/atomic.h"

/* Fill p from t (shares t's name and data; nothing to free but dims). */
static void tensor_to_proto(const qb_tensor *t, Onnx__TensorProto *p)
{
    onnx__tensor_proto__init(p);
    p->n_dims = t->ndim;
    p->dims = malloc((t->ndim + 1) * sizeof(int64_t));
    for (int i = 0; i < t->ndim; i++)
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
    tensor_to_proto(t, &p);
    size_t len = onnx__tensor_proto__get_packed_size(&p);
    uint8_t *buf = malloc(len + 1);
    onnx__tensor_proto__pack(&p, buf);
    int rc = write_buf(path, buf, len, e);
    free(buf);
    free(p.dims);
    return rc;
}

static Onnx__ValueInfoProto *value_info(const qb_tensor *t, int batch_sym)
{
    Onnx__ValueInfoProto *v = calloc(1, sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = t->name;
    Onnx__TypeProto *tp = calloc(1, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = calloc(1, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = t->dtype;
    if (t->has_shape) {
        Onnx__TensorShapeProto *sp = calloc(1, sizeof *sp);
        onnx__tensor_shape_proto__init(sp);
        sp->n_dim = t->ndim;
        sp->dim = calloc(t->ndim + 1, sizeof *sp->dim);
        for (int i = 0; i < t->ndim; i++) {
            Onnx__TensorShapeProto__Dimension *d = calloc(1, sizeof *d);
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

static void free_value_info(Onnx__ValueInfoProto *v)
{
    Onnx__TypeProto__Tensor *tt = v->type->tensor_type;
    if (tt->shape) {
        for (size_t i = 0; i < tt->shape->n_dim; i++)
            free(tt->shape->dim[i]);
        free(tt->shape->dim);
        free(tt->shape);
    }
    free(tt);
    free(v->type);
    free(v);
}

int qb_onnx_serialize(const qb_graph *g, const char *name, uint8_t **out, size_t *out_len, qb_err *e)
{
    const char *path = name; /* in messages */
    *out = NULL;
    *out_len = 0;
    /* subgraphs (If, Loop; ops_control.c) are not written: a node that
     * still runs one is refused rather than written without it */
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nattr && !g->nodes[i].folded; j++)
            if (g->nodes[i].attr[j].type == QB_ATTR_GRAPH) {
                qb_errf(e, "%s: node '%s' (%s) holds a subgraph; writing models with subgraphs (If, Loop) is not "
                        "supported", path, g->nodes[i].name, g->nodes[i].op);
                return -1;
            }
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    m.has_ir_version = 1;
    m.ir_version = 7; /* the IR version of opset 13 */
    m.producer_name = "qbench";
    Onnx__OperatorSetIdProto os;
    onnx__operator_set_id_proto__init(&os);
    os.domain = "";
    os.has_version = 1;
    os.version = 13;
    /* qdq: nodes of qbench's custom domain need its opset import */
    Onnx__OperatorSetIdProto os_qb;
    onnx__operator_set_id_proto__init(&os_qb);
    os_qb.domain = "com.qbench";
    os_qb.has_version = 1;
    os_qb.version = 1;
    Onnx__OperatorSetIdProto *osp[2] = {&os, &os_qb};
    m.n_opset_import = 1;
    for (int i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].folded && g->nodes[i].domain)
            m.n_opset_import = 2;
    m.opset_import = osp;
    if (g->opset > 13)
        os.version = g->opset; /* graphs older than 13 were upgraded at load */
    /* model metadata (meta.c) as metadata_props */
    Onnx__StringStringEntryProto *meta = calloc((size_t)g->nmeta + 1, sizeof *meta);
    Onnx__StringStringEntryProto **metap = calloc((size_t)g->nmeta + 1, sizeof *metap);
    if (!meta || !metap) {
        free(meta);
        free(metap);
        qb_errf(e, "%s: out of memory", path);
        return -1;
    }
    for (int i = 0; i < g->nmeta; i++) {
        onnx__string_string_entry_proto__init(&meta[i]);
        meta[i].key = g->meta_key[i];
        meta[i].value = g->meta_value[i];
        metap[i] = &meta[i];
    }
    m.n_metadata_props = (size_t)g->nmeta;
    m.metadata_props = metap;
    Onnx__GraphProto gp;
    onnx__graph_proto__init(&gp);
    gp.name = "qbench";
    m.graph = &gp;
    int nn = 0, ni = 0;
    Onnx__NodeProto *nodes = calloc(g->nnodes + 1, sizeof *nodes);
    Onnx__NodeProto **np = calloc(g->nnodes + 1, sizeof *np);
    Onnx__TensorProto *inits = calloc(g->ntensors + 1, sizeof *inits);
    Onnx__TensorProto **ip = calloc(g->ntensors + 1, sizeof *ip);
    /* every constant a live node or graph output reads becomes an initializer */
    char *used = calloc(g->ntensors + 1, 1);
    for (int i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].folded)
            for (int j = 0; j < g->nodes[i].nin; j++)
                if (g->nodes[i].in[j] >= 0)
                    used[g->nodes[i].in[j]] = 1;
    for (int i = 0; i < g->noutputs; i++)
        used[g->outputs[i]] = 1;
    for (int i = 0; i < g->ntensors; i++)
        if (used[i] && g->tensors[i]->kind == QB_T_CONST &&
            (g->tensors[i]->data || qb_tensor_count(g->tensors[i]) == 0)) { /* an empty one (Resize's roi) is
                                                                               kept: a copy may hold no buffer */
            tensor_to_proto(g->tensors[i], &inits[ni]);
            ip[ni] = &inits[ni];
            ni++;
        }
    gp.n_initializer = ni;
    gp.initializer = ip;
    for (int i = 0; i < g->nnodes; i++) {
        const qb_node *n = &g->nodes[i];
        if (n->folded)
            continue;
        Onnx__NodeProto *p = &nodes[nn];
        onnx__node_proto__init(p);
        p->name = n->name;
        p->op_type = n->op;
        if (n->domain)
            p->domain = n->domain; /* qdq: com.qbench */
        p->n_input = n->nin;
        p->input = calloc(n->nin + 1, sizeof(char *));
        for (int j = 0; j < n->nin; j++)
            p->input[j] = n->in[j] >= 0 ? g->tensors[n->in[j]]->name : "";
        p->n_output = n->nout;
        p->output = calloc(n->nout + 1, sizeof(char *));
        for (int j = 0; j < n->nout; j++)
            p->output[j] = n->out[j] >= 0 ? g->tensors[n->out[j]]->name : "";
        p->n_attribute = n->nattr;
        p->attribute = calloc(n->nattr + 1, sizeof *p->attribute);
        for (int j = 0; j < n->nattr; j++) {
            const qb_attr *a = &n->attr[j];
            Onnx__AttributeProto *ap = calloc(1, sizeof *ap);
            onnx__attribute_proto__init(ap);
            ap->name = a->name;
            ap->has_type = 1;
            ap->type = a->type;
            switch (a->type) {
            case QB_ATTR_FLOAT: ap->has_f = 1, ap->f = a->f; break;
            case QB_ATTR_INT: ap->has_i = 1, ap->i = a->i; break;
            case QB_ATTR_STRING:
                ap->has_s = 1, ap->s.data = (uint8_t *)a->s, ap->s.len = strlen(a->s);
                break;
            case QB_ATTR_INTS: ap->n_ints = a->n, ap->ints = a->ints; break;
            case QB_ATTR_FLOATS: ap->n_floats = a->n, ap->floats = a->floats; break;
            case QB_ATTR_TENSOR:
                ap->t = calloc(1, sizeof *ap->t);
                tensor_to_proto(a->t, ap->t);
                break;
            case QB_ATTR_STRINGS: /* LSTM/GRU/RNN activations */
                ap->n_strings = a->n;
                ap->strings = calloc((size_t)a->n + 1, sizeof *ap->strings);
                for (int k = 0; k < a->n; k++)
                    ap->strings[k].data = (uint8_t *)a->strs[k], ap->strings[k].len = strlen(a->strs[k]);
                break;
            default: ap->has_type = 0; break;
            }
            p->attribute[j] = ap;
        }
        np[nn++] = p;
    }
    gp.n_node = nn;
    gp.node = np;
    int nin = 0;
    Onnx__ValueInfoProto **vin = calloc(g->ninputs + 1, sizeof *vin), **vout = calloc(g->noutputs + 1, sizeof *vout);
    for (int i = 0; i < g->ninputs; i++)
        if (g->tensors[g->inputs[i]]->kind == QB_T_INPUT || !g->prepared)
            vin[nin++] = value_info(g->tensors[g->inputs[i]], 1);
    for (int i = 0; i < g->noutputs; i++)
        vout[i] = value_info(g->tensors[g->outputs[i]], 0);
    gp.n_input = nin;
    gp.input = vin;
    gp.n_output = g->noutputs;
    gp.output = vout;
    size_t len = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(len + 1);
    int rc = -1;
    if (buf) {
        onnx__model_proto__pack(&m, buf);
        *out = buf, *out_len = len, rc = 0;
    } else {
        qb_errf(e, "%s: out of memory", path);
    }
    for (int i = 0; i < nin; i++)
        free_value_info(vin[i]);
    for (int i = 0; i < g->noutputs; i++)
        free_value_info(vout[i]);
    free(vin);
    free(vout);
    for (int i = 0; i < nn; i++) {
        for (size_t j = 0; j < nodes[i].n_attribute; j++) {
            if (nodes[i].attribute[j]->t) {
                free(nodes[i].attribute[j]->t->dims);
                free(nodes[i].attribute[j]->t);
            }
            free(nodes[i].attribute[j]->strings);
            free(nodes[i].attribute[j]);
        }
        free(nodes[i].attribute);
        free(nodes[i].input);
        free(nodes[i].output);
    }
    for (int i = 0; i < ni; i++)
        free(inits[i].dims);
    free(nodes), free(np), free(inits), free(ip), free(used);
    free(meta), free(metap);
    return rc;
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
