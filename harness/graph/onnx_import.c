/*
 * onnx_import.c - ONNX model and TensorProto files into the IR, through the
 * protobuf-c code that the build generates from Debian's onnx.proto.
 * Every malformed input ends in a message naming the file and the node or
 * tensor; nothing here aborts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx.pb-c.h"

#include "harness/graph/graph.h"
#include "harness/graph/qdq.h"

#define QB_MAX_FILE ((long)1 << 31) /* protobuf messages are limited to 2 GiB */

/* Read a whole file; NULL with a message. */
/* Map a whole file read-only (pages are read only as the parser touches
 * them, so a large corrupt file is refused without reading it all into
 * memory). NULL with e set; release with unmap_file. */
static uint8_t *map_file(const char *path, size_t *len, qb_err *e)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        qb_errf(e, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        qb_errf(e, "%s: cannot read: %s", path, S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
        close(fd);
        return NULL;
    }
    if (st.st_size >= QB_MAX_FILE) {
        qb_errf(e, "%s: %lld bytes is more than a protobuf message may hold (2 GiB)", path, (long long)st.st_size);
        close(fd);
        return NULL;
    }
    *len = (size_t)st.st_size;
    static uint8_t empty[1];
    uint8_t *buf = *len ? mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0) : empty;
    close(fd);
    if (buf == MAP_FAILED) {
        qb_errf(e, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    return buf;
}

static void unmap_file(uint8_t *buf, size_t len)
{
    if (len)
        munmap(buf, len);
}

int qb_import_quiet;

/* Name of an element type qbench does not support, for messages. */
static const char *dt_hint(int dt)
{
    switch (dt) {
    case 4: return " (uint16)";
    case 5: return " (int16)";
    case 8: return " (string)";
    case 14: return " (complex64)";
    case 15: return " (complex128)";
    case 16: return " (bfloat16)";
    default: return "";
    }
}

static void warn_nonfinite(const char *file, const qb_tensor *t)
{
    if (t->dtype != QB_DT_FLOAT || qb_import_quiet)
        return;
    int64_t n = qb_tensor_count(t), bad = 0;
    const float *d = t->data;
    for (int64_t i = 0; i < n; i++)
        bad += !isfinite(d[i]);
    if (bad)
        fprintf(stderr, "qbench: warning: %s: tensor '%s' has %lld NaN or Inf values\n", file, t->name,
                (long long)bad);
}

/* TensorProto -> t (dtype, shape, owned data). float16 becomes float32
 * unless keep_f16 (test data and run inputs keep their element type). */
static int tensor_from_proto(const char *file, const Onnx__TensorProto *p, qb_tensor *t, int allow_zero, int keep_f16,
                             qb_err *e)
{
    char name[128];
    snprintf(name, sizeof name, "%s", p->name && *p->name ? p->name : "(unnamed)");
    for (char *c = name; *c; c++) /* names from corrupt files stay on one line */
        if ((unsigned char)*c < 32 || (unsigned char)*c > 126)
            *c = '?';
    if (!p->has_data_type || p->data_type == 0) {
        qb_errf(e, "%s: tensor '%s' has no element type (not a TensorProto?)", file, name);
        return -1;
    }
    if (p->n_external_data || (p->has_data_location && p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)) {
        qb_errf(e, "%s: tensor '%s' stores its data in an external file, which qbench does not support "
                "(save the model with its data inside the .onnx file)", file, name);
        return -1;
    }
    if (p->segment) {
        qb_errf(e, "%s: tensor '%s' is segmented, which qbench does not support", file, name);
        return -1;
    }
    int dt = p->has_data_type ? p->data_type : 0;
    if (!qb_dtype_size(dt)) {
        qb_errk(e, QB_ERR_UNSUPPORTED_TYPE,
                "%s: tensor '%s' has element type %d%s; qbench supports float32, float16, double, int8, uint8, "
                "int32, uint32, int64, uint64 and bool", file, name, dt,
                dt_hint(dt));
        return -1;
    }
    if (p->n_dims > QB_MAX_DIMS) {
        qb_errf(e, "%s: tensor '%s' has %zu dimensions (at most %d)", file, name, p->n_dims, QB_MAX_DIMS);
        return -1;
    }
    t->ndim = (int)p->n_dims;
    for (int i = 0; i < t->ndim; i++) {
        t->dims[i] = p->dims[i];
        if (p->dims[i] < 0 || (p->dims[i] == 0 && !allow_zero)) {
            qb_errf(e, "%s: tensor '%s' has dimension %d = %lld", file, name, i, (long long)p->dims[i]);
            return -1;
        }
    }
    int64_t count = qb_tensor_count(t);
    if (count < 0) {
        qb_errf(e, "%s: tensor '%s': the product of its dimensions overflows (more than 2^31 elements)", file, name);
        return -1;
    }
    size_t srcsz = qb_dtype_size(dt);
    int to_f32 = dt == QB_DT_FLOAT16 && !keep_f16;
    t->dtype = to_f32 ? QB_DT_FLOAT : dt;
    size_t dstsz = qb_dtype_size(t->dtype);
    /* the data present must match the shape before anything is allocated:
     * a corrupt shape must not ask for gigabytes a 100-byte file cannot fill */
    size_t have;
    if (p->has_raw_data) {
        if (p->raw_data.len != (size_t)count * srcsz) {
            char sh[128];
            qb_shape_str(t->ndim, t->dims, sh, sizeof sh);
            qb_errf(e, "%s: tensor '%s' has %zu bytes of data, its shape %s (%s) needs %lld", file, name,
                    p->raw_data.len, sh, qb_dtype_name(dt), (long long)count * (long long)srcsz);
            return -1;
        }
    } else {
        switch (dt) {
        case QB_DT_FLOAT: have = p->n_float_data; break;
        case QB_DT_INT64: have = p->n_int64_data; break;
        case QB_DT_DOUBLE: have = p->n_double_data; break;
        case QB_DT_UINT32: case QB_DT_UINT64: have = p->n_uint64_data; break;
        default: have = p->n_int32_data; break;
        }
        if (have != (size_t)count) {
            char sh[128];
            qb_shape_str(t->ndim, t->dims, sh, sizeof sh);
            qb_errf(e, "%s: tensor '%s' has %zu values, its shape %s needs %lld", file, name, have, sh,
                    (long long)count);
            return -1;
        }
    }
    t->data = calloc(count ? count : 1, dstsz);
    if (!t->data) {
        qb_errf(e, "%s: tensor '%s': out of memory", file, name);
        return -1;
    }
    t->kind = QB_T_CONST;
    if (p->has_raw_data) {
        if (to_f32) {
            const uint8_t *r = p->raw_data.data;
            for (int64_t i = 0; i < count; i++)
                ((float *)t->data)[i] = qb_f16_to_f32((uint16_t)(r[2 * i] | r[2 * i + 1] << 8));
        } else if (count) {
            memcpy(t->data, p->raw_data.data, (size_t)count * srcsz); /* little-endian host assumed */
        }
    } else {
        for (int64_t i = 0; i < count; i++) {
            switch (dt) {
            case QB_DT_FLOAT: ((float *)t->data)[i] = p->float_data[i]; break;
            case QB_DT_FLOAT16:
                if (to_f32)
                    ((float *)t->data)[i] = qb_f16_to_f32((uint16_t)p->int32_data[i]);
                else
                    ((uint16_t *)t->data)[i] = (uint16_t)p->int32_data[i];
                break;
            case QB_DT_DOUBLE: ((double *)t->data)[i] = p->double_data[i]; break;
            case QB_DT_UINT32: ((uint32_t *)t->data)[i] = (uint32_t)p->uint64_data[i]; break;
            case QB_DT_UINT64: ((uint64_t *)t->data)[i] = p->uint64_data[i]; break;
            case QB_DT_INT64: ((int64_t *)t->data)[i] = p->int64_data[i]; break;
            case QB_DT_INT32: ((int32_t *)t->data)[i] = p->int32_data[i]; break;
            case QB_DT_INT8: ((int8_t *)t->data)[i] = (int8_t)p->int32_data[i]; break;
            default: ((uint8_t *)t->data)[i] = (uint8_t)p->int32_data[i]; break;
            }
        }
    }
    t->has_shape = 1;
    return 0;
}

int qb_tensor_load_pb(const char *path, qb_tensor *t, qb_err *e)
{
    size_t len;
    uint8_t *buf = map_file(path, &len, e);
    if (!buf)
        return -1;
    Onnx__TensorProto *p = onnx__tensor_proto__unpack(NULL, len, buf);
    unmap_file(buf, len);
    if (!p) {
        qb_errf(e, "%s: not a TensorProto file (truncated or corrupt protobuf)", path);
        return -1;
    }
    memset(t, 0, sizeof *t);
    int rc = tensor_from_proto(path, p, t, 1, 1, e);
    if (rc == 0) {
        t->name = strdup(p->name ? p->name : "");
        t->producer = -1;
    } else {
        free(t->data);
        t->data = NULL;
    }
    onnx__tensor_proto__free_unpacked(p, NULL);
    return rc;
}

static int build_graph(qb_graph *g, const Onnx__GraphProto *gp, int is_sub, qb_err *e);

/* A GRAPH attribute (If branch, Loop body): a graph of its own whose
 * names not defined inside are values of the enclosing graphs (g->outer). */
static qb_graph *subgraph_build(const qb_graph *parent, const char *op, const char *node, const char *attr,
                                const Onnx__GraphProto *gp, qb_err *e)
{
    char file[1024];
    snprintf(file, sizeof file, "%s: %s '%s' %s", parent->file, op, node, attr);
    qb_graph *sub = qb_graph_new(file);
    sub->opset = parent->opset;
    if (build_graph(sub, gp, 1, e) || qb_graph_upgrade(sub, e) || qb_graph_sort(sub, e)) {
        qb_graph_free(sub);
        return NULL;
    }
    return sub;
}

static qb_graph *subgraph_from_proto(const qb_graph *parent, const Onnx__NodeProto *np, const Onnx__AttributeProto *ap,
                                     qb_err *e)
{
    return subgraph_build(parent, np->op_type, np->name && *np->name ? np->name : "(unnamed)", ap->name, ap->g, e);
}

qb_graph *qb_onnx_subgraph(const qb_graph *g, const qb_node *n, const qb_attr *a, qb_err *e)
{
    Onnx__GraphProto *gp = a->proto ? onnx__graph_proto__unpack(NULL, a->proto_len, a->proto) : NULL;
    if (!gp) {
        qb_errf(e, "%s: node '%s' (%s): cannot rebuild subgraph '%s'", g->file, n->name, n->op, a->name);
        return NULL;
    }
    qb_graph *sub = subgraph_build(g, n->op, n->name, a->name, gp, e);
    onnx__graph_proto__free_unpacked(gp, NULL);
    return sub;
}

static int attr_from_proto(const qb_graph *g, const Onnx__NodeProto *np, const Onnx__AttributeProto *ap, qb_attr *a,
                           qb_err *e)
{
    const char *file = g->file;
    a->name = strdup(ap->name ? ap->name : "");
    a->type = ap->has_type ? (int)ap->type : 0;
    if (ap->ref_attr_name && *ap->ref_attr_name) {
        qb_errk(e, QB_ERR_UNSUPPORTED_MODEL,
                "%s: node '%s' (%s): attribute '%s' refers to a function attribute, which is not supported", file,
                np->name, np->op_type, a->name);
        return -1;
    }
    switch (a->type) {
    case QB_ATTR_FLOAT: a->f = ap->f; break;
    case QB_ATTR_INT: a->i = ap->i; break;
    case QB_ATTR_STRING:
        a->s = calloc(ap->s.len + 1, 1);
        if (ap->s.len)
            memcpy(a->s, ap->s.data, ap->s.len);
        break;
    case QB_ATTR_INTS:
        a->n = (int)ap->n_ints;
        a->ints = calloc(a->n + 1, sizeof(int64_t));
        for (int i = 0; i < a->n; i++)
            a->ints[i] = ap->ints[i];
        break;
    case QB_ATTR_FLOATS:
        a->n = (int)ap->n_floats;
        a->floats = calloc(a->n + 1, sizeof(float));
        for (int i = 0; i < a->n; i++)
            a->floats[i] = ap->floats[i];
        break;
    case QB_ATTR_TENSOR:
        if (!ap->t) {
            qb_errf(e, "%s: node '%s' (%s): tensor attribute '%s' has no tensor", file, np->name, np->op_type, a->name);
            return -1;
        }
        a->t = calloc(1, sizeof *a->t);
        a->t->name = strdup(np->output && np->n_output ? np->output[0] : a->name);
        if (tensor_from_proto(file, ap->t, a->t, 1, 0, e))
            return -1;
        warn_nonfinite(file, a->t);
        break;
    case QB_ATTR_STRINGS:
        a->n = (int)ap->n_strings;
        a->strs = calloc(a->n + 1, sizeof *a->strs);
        for (int i = 0; i < a->n; i++) {
            a->strs[i] = calloc(ap->strings[i].len + 1, 1);
            if (ap->strings[i].len)
                memcpy(a->strs[i], ap->strings[i].data, ap->strings[i].len);
        }
        break;
    case QB_ATTR_GRAPH:
        if (!ap->g) {
            qb_errf(e, "%s: node '%s' (%s): graph attribute '%s' has no graph", file, np->name, np->op_type, a->name);
            return -1;
        }
        if (!(a->sub = subgraph_from_proto(g, np, ap, e)))
            return -1;
        if (strcmp(np->op_type ? np->op_type : "", "Loop"))
            break; /* only Loop rebuilds its body */
        a->proto_len = onnx__graph_proto__get_packed_size(ap->g);
        a->proto = malloc(a->proto_len ? a->proto_len : 1);
        if (!a->proto) {
            qb_errf(e, "%s: node '%s' (%s): out of memory", file, np->name, np->op_type);
            return -1;
        }
        onnx__graph_proto__pack(ap->g, a->proto);
        break;
    default:
        /* sparse tensors, lists of graphs or tensors: kept by name only; ops that need them reject the node */
        break;
    }
    return 0;
}

/* Declared shape of a graph input (is_sub: a subgraph's input may leave
 * its type out; the operator gives it when binding, ops_control.c). */
static int input_shape(const char *file, const Onnx__ValueInfoProto *v, int is_sub, qb_tensor *t, qb_err *e)
{
    if (is_sub && !v->type) {
        t->kind = QB_T_INPUT;
        t->dtype = 0; /* unknown until bound */
        return 0;
    }
    if (!v->type || v->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !v->type->tensor_type) {
        qb_errk(e, QB_ERR_UNSUPPORTED_TYPE,
                "%s: graph input '%s' is not a tensor (sequences, maps and optionals are not supported)", file,
                v->name);
        return -1;
    }
    const Onnx__TypeProto__Tensor *tt = v->type->tensor_type;
    int dt = tt->has_elem_type ? tt->elem_type : 0;
    if (!qb_dtype_size(dt)) {
        qb_errk(e, QB_ERR_UNSUPPORTED_TYPE,
                "%s: graph input '%s' has element type %d%s; qbench supports float32, float16, double, int8, uint8, "
                "int32, uint32, int64, uint64 and bool", file, v->name, dt,
                dt_hint(dt));
        return -1;
    }
    t->dtype = dt;
    t->kind = QB_T_INPUT;
    if (!tt->shape)
        return 0; /* unknown rank: the caller's tensor decides */
    if (tt->shape->n_dim > QB_MAX_DIMS) {
        qb_errf(e, "%s: graph input '%s' has %zu dimensions (at most %d)", file, v->name, tt->shape->n_dim, QB_MAX_DIMS);
        return -1;
    }
    t->ndim = (int)tt->shape->n_dim;
    for (int i = 0; i < t->ndim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (d->dim_value < 0) {
                qb_errf(e, "%s: graph input '%s' has a negative dimension %d = %lld",
                        file, v->name, i, (long long)d->dim_value);
                return -1;
            }
            t->dims[i] = d->dim_value;
        } else {
            t->sym[i] = 1;
            t->dims[i] = 1;
        }
    }
    if (qb_tensor_count(t) < 0) {
        qb_errf(e, "%s: graph input '%s': the product of its dimensions overflows", file, v->name);
        return -1;
    }
    t->has_shape = 1;
    return 0;
}

/* Operators qbench lacks (in a graph and its subgraphs), with up to
 * four node names each. */
#define QB_MISS_MAX 64
typedef struct missing {
    const char *op[QB_MISS_MAX];       /* operator types, in order of first use */
    const char *node[QB_MISS_MAX][4];  /* their first node names */
    int count[QB_MISS_MAX];            /* nodes using each */
    int n;                             /* operator types found */
} missing;

static void missing_ops(const Onnx__GraphProto *gp, missing *m)
{
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        const char *op = np->op_type ? np->op_type : "(none)";
        for (size_t j = 0; j < np->n_attribute; j++)
            if (np->attribute[j]->g)
                missing_ops(np->attribute[j]->g, m);
        if (qb_op_find(op))
            continue;
        int k = 0;
        while (k < m->n && strcmp(m->op[k], op))
            k++;
        if (k == QB_MISS_MAX)
            continue;
        if (k == m->n)
            m->op[m->n++] = op;
        if (m->count[k] < 4)
            m->node[k][m->count[k]] = np->name && *np->name ? np->name : "(unnamed)";
        m->count[k]++;
    }
}

/* The graph part of a model or of a subgraph (is_sub: names used but not
 * defined inside become g->outer, read from the enclosing graph). */
static int build_graph(qb_graph *g, const Onnx__GraphProto *gp, int is_sub, qb_err *e)
{
    const char *file = g->file;
    if (gp->n_sparse_initializer) {
        qb_errk(e, QB_ERR_UNSUPPORTED_MODEL, "%s: sparse initializers are not supported", file);
        return -1;
    }
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *p = gp->initializer[i];
        if (!p->name || !*p->name) {
            qb_errf(e, "%s: initializer %zu has no name", file, i);
            return -1;
        }
        if (qb_graph_find(g, p->name) >= 0) {
            qb_errf(e, "%s: initializer '%s' is defined twice", file, p->name);
            return -1;
        }
        int ti = qb_graph_tensor(g, p->name);
        qb_tensor *t = g->tensors[ti];
        if (tensor_from_proto(file, p, t, 1, 0, e))
            return -1;
        warn_nonfinite(file, t);
    }
    g->inputs = calloc(gp->n_input + 1, sizeof(int));
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *v = gp->input[i];
        if (!v->name || !*v->name) {
            qb_errf(e, "%s: graph input %zu has no name", file, i);
            return -1;
        }
        int ti = qb_graph_find(g, v->name);
        if (ti >= 0 && g->tensors[ti]->kind == QB_T_CONST)
            continue; /* old exporters list initializers as inputs too */
        if (ti >= 0) {
            qb_errf(e, "%s: graph input '%s' is declared twice", file, v->name);
            return -1;
        }
        ti = qb_graph_tensor(g, v->name);
        if (input_shape(file, v, is_sub, g->tensors[ti], e))
            return -1;
        g->inputs[g->ninputs++] = ti;
    }
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        const char *op = np->op_type ? np->op_type : "";
        const char *name = np->name && *np->name ? np->name : NULL;
        /* qdq: qbench's custom domain holds exactly its three operators */
        int custom = np->domain && !strcmp(np->domain, QB_QDQ_DOMAIN);
        if ((np->domain && *np->domain && strcmp(np->domain, "ai.onnx") && !custom) ||
            (custom && !qb_qdq_custom_op(op))) {
            qb_errk(e, QB_ERR_UNSUPPORTED_OP,
                    "%s: node '%s' (%s): operator domain '%s' is not supported (only the default ONNX domain, "
                    "and %s for DequantizeInt4, DequantizeBinary and BinarizeInput)", file,
                    name ? name : "(unnamed)", op, np->domain, QB_QDQ_DOMAIN);
            return -1;
        }
        if (!custom && qb_qdq_custom_op(op)) {
            qb_errf(e, "%s: node '%s': operator %s belongs to domain %s, not the default ONNX domain", file,
                    name ? name : "(unnamed)", op, QB_QDQ_DOMAIN);
            return -1;
        }
        int ni = qb_graph_add_node(g, op, name, (int)np->n_input, (int)np->n_output);
        qb_node *n = &g->nodes[ni];
        if (custom)
            n->domain = strdup(QB_QDQ_DOMAIN);
        if (!n->def) {
            qb_errk(e, QB_ERR_UNSUPPORTED_OP,
                    "%s: node '%s': operator %s is not supported; supported: %s", file, n->name, op,
                    qb_supported_ops());
            return -1;
        }
        for (size_t j = 0; j < np->n_input; j++)
            n->in[j] = np->input[j] && *np->input[j] ? qb_graph_tensor(g, np->input[j]) : -1;
        n = &g->nodes[ni];
        for (size_t j = 0; j < np->n_output; j++) {
            if (!np->output[j] || !*np->output[j])
                continue;
            int t = qb_graph_find(g, np->output[j]);
            if (t >= 0 && g->tensors[t]->kind != QB_T_VALUE) {
                qb_errf(e, "%s: node '%s' (%s): output '%s' overwrites a graph input or initializer", file, n->name, op,
                        np->output[j]);
                return -1;
            }
            n->out[j] = qb_graph_tensor(g, np->output[j]);
        }
        n->nattr = (int)np->n_attribute;
        n->attr = calloc(n->nattr + 1, sizeof *n->attr);
        for (size_t j = 0; j < np->n_attribute; j++)
            if (attr_from_proto(g, np, np->attribute[j], &n->attr[j], e))
                return -1;
        /* values a subgraph reads from this graph become extra inputs of
         * its node (after the formal ones), so sorting and planning see them */
        for (int j = 0; j < n->nattr; j++) {
            const qb_graph *sub = n->attr[j].sub;
            for (int k = 0; sub && k < sub->nouter; k++) {
                int ti = qb_graph_tensor(g, sub->tensors[sub->outer[k]]->name), have = 0;
                n = &g->nodes[ni];
                for (int m = 0; m < n->nin; m++)
                    have |= n->in[m] == ti;
                if (have)
                    continue;
                n->in = realloc(n->in, (n->nin + 1) * sizeof *n->in);
                n->in[n->nin++] = ti;
            }
        }
        /* Gemm's old broadcast flag only allowed what Gemm always does now;
         * upgrade.c rewrites the element-wise ops' broadcast (opsets < 7) and
         * drops consumed_inputs */
        if ((qb_node_attr(n, "broadcast") && strcmp(op, "Gemm") && g->opset >= 7) ||
            (qb_node_attr(n, "spatial") && qb_attr_int(n, "spatial", 1) != 1)) {
            qb_errf(e, "%s: node '%s' (%s): legacy attributes (broadcast from opset 7 on, spatial=0) are not "
                    "supported", file, n->name, op);
            return -1;
        }
    }
    g->outputs = calloc(gp->n_output + 1, sizeof(int));
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *nm = gp->output[i]->name;
        int ti = nm && *nm ? qb_graph_find(g, nm) : -1;
        if (ti < 0 && is_sub && nm && *nm)
            ti = qb_graph_tensor(g, nm); /* an enclosing graph's value, passed through */
        if (ti < 0) {
            qb_errf(e, "%s: graph output '%s' is not produced by any node", file, nm ? nm : "(unnamed)");
            return -1;
        }
        g->outputs[g->noutputs++] = ti;
    }
    if (!g->noutputs) {
        qb_errf(e, "%s: the graph has no outputs", file);
        return -1;
    }
    if (is_sub) { /* names nothing here defines: values of the enclosing graphs */
        int *made = calloc(g->ntensors + 1, sizeof(int));
        for (int i = 0; i < g->nnodes; i++)
            for (int j = 0; j < g->nodes[i].nout; j++)
                if (g->nodes[i].out[j] >= 0)
                    made[g->nodes[i].out[j]] = 1;
        g->outer = calloc(g->ntensors + 1, sizeof(int));
        for (int i = 0; i < g->ntensors; i++)
            if (g->tensors[i]->kind == QB_T_VALUE && !made[i]) {
                g->tensors[i]->kind = QB_T_INPUT; /* bound when the op prepares the subgraph */
                g->outer[g->nouter++] = i;
            }
        free(made);
    }
    qb_graph_constants_to_init(g);
    return 0;
}

static int build(qb_graph *g, const Onnx__ModelProto *m, unsigned flags, qb_err *e)
{
    const char *file = g->file;
    const Onnx__GraphProto *gp = m->graph;
    g->opset = 0;
    /* model metadata (meta.c): metadata_props with a key and a value */
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *kv = m->metadata_props[i];
        if (kv && kv->key && kv->value && qb_graph_set_meta(g, kv->key, kv->value)) {
            qb_errf(e, "%s: out of memory reading metadata", file);
            return -1;
        }
    }
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx"))
            g->opset = (int)o->version;
    }
    /* every missing operator at once, with its nodes */
    missing miss = {.n = 0};
    missing_ops(gp, &miss);
    if (miss.n) {
        char list[900] = "";
        size_t o = 0;
        for (int k = 0; k < miss.n && o < sizeof list; k++) {
            o += snprintf(list + o, sizeof list - o, "%s%s (%d node%s: ", k ? "; " : "", miss.op[k], miss.count[k],
                          miss.count[k] == 1 ? "" : "s");
            for (int j = 0; j < miss.count[k] && j < 4 && o < sizeof list; j++)
                o += snprintf(list + o, sizeof list - o, "%s%.60s", j ? ", " : "", miss.node[k][j]);
            if (o < sizeof list)
                o += snprintf(list + o, sizeof list - o, "%s)", miss.count[k] > 4 ? ", ..." : "");
        }
        qb_errk(e, QB_ERR_UNSUPPORTED_OP, "%s: %d operator%s not supported: %s; supported: %s", file, miss.n,
                miss.n == 1 ? " is" : "s are", list, qb_supported_ops());
        return -1;
    }
    /* Opsets 9 to 17 are the target; older files load too when they use
     * none of the pre-opset-7 legacy attributes (refused per node below). */
    if (g->opset < 1 || g->opset > 17) {
        qb_errk(e, QB_ERR_UNSUPPORTED_MODEL,
                "%s: the model uses ONNX opset %d; qbench supports opsets 9 to 17", file, g->opset);
        return -1;
    }
    if (build_graph(g, gp, 0, e))
        return -1;
    if (qb_graph_upgrade(g, e))
        return -1;
    if (qb_graph_sort(g, e))
        return -1;
    /* qdq: quantized layers written as QDQ / com.qbench run on the integer kernels */
    return !(flags & QB_LOAD_NO_FUSE) && qb_qdq_fuse(g, e) < 0 ? -1 : 0;
}

qb_graph *qb_onnx_load_mem_opts(const uint8_t *buf, size_t len, const char *name, unsigned flags, qb_err *e)
{
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    if (!m) {
        qb_errf(e, "%s: not an ONNX model (truncated or corrupt protobuf)", name);
        return NULL;
    }
    if (!m->graph || (!m->graph->n_node && !m->graph->n_output)) {
        qb_errf(e, "%s: %s", name, !m->graph ? "not an ONNX model (no graph)" : "the graph has no nodes and no outputs");
        onnx__model_proto__free_unpacked(m, NULL);
        return NULL;
    }
    qb_graph *g = qb_graph_new(name);
    int rc = build(g, m, flags, e);
    onnx__model_proto__free_unpacked(m, NULL);
    if (rc) {
        qb_graph_free(g);
        return NULL;
    }
    return g;
}

qb_graph *qb_onnx_load_mem(const uint8_t *buf, size_t len, const char *name, qb_err *e)
{
    return qb_onnx_load_mem_opts(buf, len, name, 0, e);
}

qb_graph *qb_onnx_load_opts(const char *path, unsigned flags, qb_err *e)
{
    size_t len;
    uint8_t *buf = map_file(path, &len, e);
    if (!buf)
        return NULL;
    qb_graph *g = qb_onnx_load_mem_opts(buf, len, path, flags, e);
    unmap_file(buf, len);
    if (g && qb_input_shapes_apply(qb_load_shapes, g, e)) { /* the verb's --shape options */
        qb_graph_free(g);
        return NULL;
    }
    return g;
}

qb_graph *qb_onnx_load(const char *path, qb_err *e)
{
    return qb_onnx_load_opts(path, 0, e);
}
