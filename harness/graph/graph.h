/*
 * graph.h - qbench's model IR: tensors (element type, shape, data), nodes
 * with attributes, graph inputs and outputs in topological order, and the
 * FP32 executor's entry points (prepare = shape inference, constant
 * folding, weight packing and arena planning; run = one inference).
 *
 * Layout: every tensor is in ONNX's logical layout (NCHW for images).
 * Runtime tensors carry their element type: float32 is the fast path
 * and the only type of Conv, Gemm, MatMul and the activations; the
 * element-wise arithmetic, Clip, MaxPool, Cast and the data-movement ops
 * also run on the other types (float16 as binary16 bits). Graph inputs
 * that are not float32 are bound as constants when preparing (so their
 * consumers are folded), as is a float32 input used only as a Dropout
 * ratio.
 */
#ifndef QB_GRAPH_H
#define QB_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

#define QB_MAX_DIMS 8

/* Element types, numbered as ONNX's TensorProto.DataType. */
typedef enum qb_dtype {
    QB_DT_UNDEF = 0,
    QB_DT_FLOAT = 1,
    QB_DT_UINT8 = 2,
    QB_DT_INT8 = 3,
    QB_DT_INT32 = 6,
    QB_DT_INT64 = 7,
    QB_DT_BOOL = 9,
    QB_DT_FLOAT16 = 10, /* stored as IEEE binary16 bits (uint16_t) */
    QB_DT_DOUBLE = 11,
    QB_DT_UINT32 = 12,
    QB_DT_UINT64 = 13,
} qb_dtype;

/* What a tensor is. */
typedef enum qb_tkind {
    QB_T_VALUE, /* produced by a node at run time */
    QB_T_INPUT, /* graph input fed by the caller */
    QB_T_CONST, /* initializer, Constant, or folded at prepare time */
} qb_tkind;

/* What kind of error a fallible call met: lets a caller tell a model
 * that uses something qbench does not implement from a broken one without
 * reading the message (tests/test_onnx.c skips the first, fails the
 * second). qb_errf sets QB_ERR_INVALID; qb_errk names another kind. */
typedef enum qb_err_kind {
    QB_ERR_INVALID = 0,        /* bad, inconsistent or unreadable input, or an internal error */
    QB_ERR_UNSUPPORTED_OP,     /* an operator or operator domain qbench does not implement */
    QB_ERR_UNSUPPORTED_TYPE,   /* an element type, or a value that is not a tensor (sequence, map, optional) */
    QB_ERR_UNSUPPORTED_ATTR,   /* an attribute value, mode or optional output of a supported operator */
    QB_ERR_UNSUPPORTED_SHAPE,  /* a rank or a zero-sized tensor an operator does not handle */
    QB_ERR_UNSUPPORTED_DYNAMIC, /* an input qbench needs constant (pads, shapes, counts) is computed at run time */
    QB_ERR_UNSUPPORTED_MODEL,  /* a model-level feature: opset version, sparse initializers, function attributes */
    QB_ERR_KIND_COUNT
} qb_err_kind;

/* Error filled by every fallible call. */
typedef struct qb_err {
    char msg[1024];   /* the message (one line, no newline) */
    qb_err_kind kind; /* what kind of error (QB_ERR_INVALID unless qb_errk named one) */
} qb_err;

typedef struct qb_tensor {
    char *name;                  /* ONNX value name */
    qb_dtype dtype;              /* element type */
    qb_tkind kind;               /* value, input or constant */
    int ndim;                    /* rank (0 = scalar) */
    int64_t dims[QB_MAX_DIMS];   /* shape */
    int sym[QB_MAX_DIMS];        /* graph input: nonzero where the dim is symbolic */
    int has_shape;               /* shape known (inputs: declared; values: after prepare) */
    void *data;                  /* constant: owned bytes; else points into the arena */
    int producer;                /* index of the producing node, -1 if none */
    int last_use;                /* last node index reading it (planning) */
    size_t arena_off;            /* byte offset in the arena (runtime tensors) */
} qb_tensor;

/* Attribute types, numbered as ONNX's AttributeProto.AttributeType. */
enum { QB_ATTR_FLOAT = 1, QB_ATTR_INT = 2, QB_ATTR_STRING = 3, QB_ATTR_TENSOR = 4, QB_ATTR_GRAPH = 5, QB_ATTR_FLOATS = 6,
       QB_ATTR_INTS = 7, QB_ATTR_STRINGS = 8 };

typedef struct qb_attr {
    char *name;       /* attribute name */
    int type;         /* QB_ATTR_* */
    int64_t i;        /* INT */
    float f;          /* FLOAT */
    char *s;          /* STRING (NUL-terminated copy) */
    int n;            /* number of elements of INTS / FLOATS */
    int64_t *ints;    /* INTS */
    float *floats;    /* FLOATS */
    qb_tensor *t;     /* TENSOR (owned, not in the graph's tensor list) */
    char **strs;      /* STRINGS: n NUL-terminated copies */
    struct qb_graph *sub; /* GRAPH: the subgraph (If branches, Loop body; owned) */
    uint8_t *proto;   /* GRAPH: its serialized GraphProto (Loop builds a fresh body per iteration) */
    size_t proto_len; /* its bytes */
} qb_attr;

struct qb_graph;
struct qb_node;

/* How one Conv, Gemm or MatMul node runs quantized (harness/graph/qlayer.c).
 * Set by the quantizer (harness/quant) or by the QDQ importer before
 * qb_graph_prepare; a node without one runs in fp32. Activations between
 * nodes stay float32 tensors: a quantized node quantizes its input with
 * (in_scale, in_zero), runs the integer kernel, requantizes to int8 with
 * (out_scale, out_zero) and dequantizes, so every value it hands on is
 * exactly representable in its output's int8 grid. */
typedef struct qb_qspec {
    qb_precision prec;     /* fp16, int8-tensor, int8-channel, int4 or binary */
    int group;             /* int4: weight group size along K (0 = per output channel) */
    float in_scale;        /* int8-*, int4: input activation scale */
    int32_t in_zero;       /* int8-*, int4: input zero point (int8, [-128, 127]) */
    float out_scale;       /* int8-*: output scale (widened at prepare if s_in*s_w/s_out >= 1) */
    int32_t out_zero;      /* int8-*: output zero point */
    /* Quantized weights in the node's weight order ([N x K]: Conv
     * [Cout x Cin/g*kh*kw], Gemm/MatMul rows = output columns). NULL:
     * quantized from the float weights (after BatchNormalization folding)
     * when the graph is prepared, then kept here (for export). */
    int8_t *wq;            /* int8-*: [-127, 127]; int4: [-7, 7]; unused for fp16/binary */
    float *wscale;         /* int8-channel: N; int8-tensor: 1; int4: N x ngroups; binary: alpha[N] */
    int32_t *bias_q;       /* int8-*: N biases in accumulator units (scale in_scale*wscale) */
    float in_shift;        /* binary: input bit = (x - in_shift) < 0, padding counting as x = 0 */
    int nwscale;           /* entries of wscale */
    int64_t nwq;           /* entries of wq when a QDQ import set it (qb_graph_clone copies them), else 0 */
    int nbias_q;           /* entries of bias_q when a QDQ import set it, else 0 */
    /* derived when prepared */
    qb_precision run_prec; /* what actually runs (depthwise int4/binary layers run int8-channel, see qlayer.c) */
    const qb_kernel *kernel; /* the kernel it runs on */
    qb_requant *rq;        /* int8-*: one multiplier per output channel */
    int32_t c_min, c_max;  /* int8-*: output clamp in the int8 grid (fused Relu/Clip included) */
} qb_qspec;

/* Properties of an operator the executor checks (qb_opdef.flags). */
enum {
    QB_OPF_ANY_DTYPE = 1, /* runs on every element type at run time (else float32 only, other types when folded) */
    QB_OPF_ZERO_SIZE = 2, /* accepts zero-sized inputs (ONNX allows 0 dimensions) */
    QB_OPF_OPTIONAL_OUT0 = 4, /* output 0 may be omitted (LSTM/GRU/RNN keep only their states); else required */
};

/* One operator: shape inference and execution. */
typedef struct qb_opdef {
    const char *name; /* ONNX op_type */
    /* Check attributes and input shapes, set output dtype and shape, the
     * node's scratch bytes and private state. 0, or -1 with a message. */
    int (*prepare)(struct qb_graph *g, struct qb_node *n, qb_err *e);
    /* Compute outputs from inputs; scratch has n->scratch bytes. */
    void (*run)(struct qb_graph *g, struct qb_node *n, void *scratch);
    /* Multiply-accumulates of one run (inspect), or NULL for none. */
    int64_t (*macs)(const struct qb_graph *g, const struct qb_node *n);
    unsigned flags; /* QB_OPF_* properties */
    /* Bit i set: the values of input i are needed when preparing (a shape,
     * a count, a ratio); a float32 graph input read only through such
     * inputs is bound as a constant, like integer inputs. */
    unsigned value_inputs;
} qb_opdef;

typedef struct qb_node {
    char *name;            /* node name (may be generated: "<op>_<index>") */
    char *op;              /* op_type */
    const qb_opdef *def;   /* the implementation */
    int nin, nout;         /* number of inputs / outputs */
    int *in, *out;         /* tensor indices; -1 for an omitted optional input */
    int nattr;             /* number of attributes */
    qb_attr *attr;         /* attributes */
    void *state;           /* op-private prepared data (packed weights ...) */
    void (*free_state)(void *state); /* frees state, or NULL for free() */
    size_t scratch;        /* scratch bytes needed while running */
    size_t scratch_off;    /* where the scratch lies in the arena */
    int folded;            /* evaluated at prepare time: not run */
    int can_clamp;         /* prepare: the op can apply f_min/f_max itself */
    int fused_into;        /* >= 0: an activation done by that node (not run) */
    int write_to;          /* >= 0: the tensor output 0 is written to (fused activation's output) */
    int epi_in;            /* >= 0: a Conv running an element-wise chain in its epilogue (fuse_elem.c), or an
                            * int8 MatMul/Gemm running a Softmax (ops_gemm.c): the tensor it wrote before (the
                            * chain's or Softmax's input; write_to is then their output) */
    float f_min, f_max;    /* clamp fused from a following Relu or Clip */
    int nhwc;              /* Conv: bit 0 input, bit 1 output kept NHWC between convs (exec's choice), bit 2
                            * input, bit 3 output int8 (quantized links), bit 4 float input quantized once */
    double time_ms;        /* --profile: accumulated wall time */
    double kernel_ms;      /* --profile: part spent in kernels/ */
    qb_qspec *q;           /* quantized execution of a Conv/Gemm/MatMul, or NULL (fp32); owned */
    char *domain;          /* qdq: operator domain ("com.qbench"), NULL for the default ONNX domain; owned */
} qb_node;

typedef struct qb_graph {
    char *file;              /* source path (messages) */
    int opset;               /* default-domain opset */
    int ntensors, tcap;      /* tensors in use / allocated */
    qb_tensor **tensors;     /* all values (stable pointers) */
    int nnodes;              /* nodes, in topological order once sorted */
    qb_node *nodes;          /* nodes */
    int ninputs, noutputs;   /* graph inputs (without initializers) / outputs */
    int *inputs, *outputs;   /* tensor indices */
    /* execution (set by qb_graph_prepare) */
    int isa;                 /* -1: dispatcher's choice; else the qb_isa forced by -i */
    const qb_kernel *gemm;   /* fp32 GEMM kernel */
    const qb_kernel *dw;     /* fp32 depthwise 3x3 kernel */
    void *arena;             /* one block for every runtime tensor and scratch */
    size_t arena_bytes;      /* its size */
    int prepared;            /* prepare succeeded */
    int profile;             /* time each node */
    int copy_inputs;         /* nonzero: qb_graph_run copies every float input into the arena, never reads the
                                caller's buffer in place (tests, QB_COPY_INPUTS=1) */
    int no_fold_bn;          /* nonzero: keep BatchNormalization nodes (tests) */
    int nchw_only;           /* nonzero: no NHWC between convolutions (tests, QB_NCHW_ONLY=1) */
    int no_int8_links;       /* nonzero: quantized convs hand on floats, never int8 (per-layer analysis, QB_NO_INT8_LINKS=1) */
    int runtime_ints;        /* subgraph fed by If/Loop: integer and bool inputs stay run-time inputs (a Loop's
                                iteration number and condition) instead of being bound as constants */
    int no_elem_fusion;      /* nonzero: no element-wise chains fused into one pass (tests, QB_NO_ELEM_FUSION=1) */
    int no_direct_conv;      /* nonzero: fp32 convs always im2col, never the direct (tap) path (tests, QB_NO_DIRECT_CONV=1) */
    int no_conv_epilogue;    /* nonzero: element-wise chains after a Conv run as their own pass, not in the conv
                                (tests, calibration: the conv's output tensor is written; QB_NO_CONV_EPILOGUE=1) */
    double kernel_ms_acc;    /* kernel time of the node being run (profile) */
    /* Called after each node has run (calibration, per-layer comparison):
     * its inputs and outputs are still valid then. NULL: none. */
    void (*on_node)(struct qb_graph *g, int node, void *ctx);
    void *on_node_ctx;       /* passed to on_node */
    /* model metadata (ONNX ModelProto.metadata_props; meta.c) */
    int nmeta;               /* key/value pairs */
    char **meta_key;         /* keys (owned) */
    char **meta_value;       /* values (owned) */
    /* subgraphs (If branches, Loop bodies; ops_control.c) */
    int nouter;              /* values this subgraph reads from enclosing graphs */
    int *outer;              /* their tensor indices here (same names as there) */
} qb_graph;

/* ---- graph.c: building and querying ---- */
qb_graph *qb_graph_new(const char *file);
void qb_graph_free(qb_graph *g);
/* Frees a node's prepared state with its free function (NULL: free()):
 * a node's own, or the one a fusion wrapped and keeps beside its own. */
void qb_node_state_free(void *state, void (*free_state)(void *));
/* A deep copy of an unprepared graph (tensors, constants, nodes,
 * attributes, qspecs without derived weights, metadata, flags; not the
 * on_node callback): what a model file parsed once is copied into for
 * each use that prepares or changes it. NULL with a message when g is
 * prepared or out of memory (clone.c). */
qb_graph *qb_graph_clone(const qb_graph *g, qb_err *e);
/* d = a deep copy of the unprepared node n (name, op, inputs, outputs,
 * attributes with their subgraphs, qspec; no prepared state). 0, or -1
 * out of memory (d then holds what was copied, freed with the graph). */
int qb_node_copy(qb_node *d, const qb_node *n);
/* Replace If node `at` of g (being prepared) by the nodes of its branch br
 * (unprepared), spliced in after it, and Identities to its outputs; the If
 * is marked folded. Node pointers into g are invalid afterwards. 1
 * inlined, 0 left as it is (a name of the branch is taken in g), -1 with a
 * message (inline_if.c). */
int qb_if_inline(qb_graph *g, int at, const qb_graph *br, qb_err *e);
/* The node of the unprepared g named name with operator op, in g or in its
 * If branches (at any depth; *owner: the graph holding it), or NULL
 * (find_node.c). */
qb_node *qb_graph_node_named(qb_graph *g, const char *name, const char *op, qb_graph **owner);
/* calloc (of at least one byte), realloc and strdup (NULL: "") that
 * print "qbench: out of memory" and exit with code 2 when memory runs
 * out: for graph building, where a half-built graph has no way back. */
void *qb_xcalloc(size_t n, size_t s);
void *qb_xrealloc(void *p, size_t bytes);
char *qb_xstrdup(const char *s);
/* Index of the tensor named name, creating a QB_T_VALUE one if absent. */
int qb_graph_tensor(qb_graph *g, const char *name);
/* Index of the tensor named name, or -1. */
int qb_graph_find(const qb_graph *g, const char *name);
/* Append a node (op and name copied); returns its index. */
int qb_graph_add_node(qb_graph *g, const char *op, const char *name, int nin, int nout);
/* Bytes per element of dtype (0 if unknown). */
size_t qb_dtype_size(qb_dtype t);
const char *qb_dtype_name(qb_dtype t);
/* Element count of a shape; -1 if a dim is negative or the product exceeds 2^31. */
int64_t qb_shape_count(int ndim, const int64_t *dims);
int64_t qb_tensor_count(const qb_tensor *t);
/* "1x3x224x224" into buf. */
void qb_shape_str(int ndim, const int64_t *dims, char *buf, size_t len);
/* Attribute lookup with default. */
const qb_attr *qb_node_attr(const qb_node *n, const char *name);
int64_t qb_attr_int(const qb_node *n, const char *name, int64_t def);
float qb_attr_float(const qb_node *n, const char *name, float def);
const char *qb_attr_str(const qb_node *n, const char *name, const char *def);
/* The subgraph of a GRAPH attribute, or NULL. */
struct qb_graph *qb_attr_graph(const qb_node *n, const char *name);
/* INTS attribute: count (or -1 if absent) and values. */
int qb_attr_ints(const qb_node *n, const char *name, const int64_t **v);
/* The node's i-th input tensor, or NULL if omitted / out of range. */
qb_tensor *qb_in(const qb_graph *g, const qb_node *n, int i);
qb_tensor *qb_out(const qb_graph *g, const qb_node *n, int i);
/* Sort nodes topologically; -1 with a message on a cycle or missing input. */
int qb_graph_sort(qb_graph *g, qb_err *e);
/* Every supported op, comma separated. */
const char *qb_supported_ops(void);
const qb_opdef *qb_op_find(const char *op);
void qb_errf(qb_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* qb_errf with a kind other than QB_ERR_INVALID. */
void qb_errk(qb_err *e, qb_err_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The kind's name ("invalid", "unsupported operator", ...). */
const char *qb_err_kind_name(qb_err_kind kind);

/* ---- onnx_import.c / onnx_export.c ---- */
/* Load an ONNX model; NULL with a message (naming the file) on error. */
/* qb_onnx_load_opts flags. */
enum {
    QB_LOAD_NO_FUSE = 1, /* leave quantized patterns (QDQ, com.qbench) as the file's own float operators */
};
qb_graph *qb_onnx_load_opts(const char *path, unsigned flags, qb_err *e);
qb_graph *qb_onnx_load_mem_opts(const uint8_t *buf, size_t len, const char *name, unsigned flags, qb_err *e);
qb_graph *qb_onnx_load(const char *path, qb_err *e);
/* Nonzero: no warnings on stderr (NaN/Inf weights); for the fuzz target. */
extern int qb_import_quiet;
/* The same from memory; name is used in messages (fuzz target). */
qb_graph *qb_onnx_load_mem(const uint8_t *buf, size_t len, const char *name, qb_err *e);
/* Parse a TensorProto file (test data, qbench run inputs) into t (data owned). */
int qb_tensor_load_pb(const char *path, qb_tensor *t, qb_err *e);
/* A fresh, unprepared copy of the subgraph of GRAPH attribute a of node n
 * of g (built again from a->proto); NULL with a message. */
qb_graph *qb_onnx_subgraph(const qb_graph *g, const qb_node *n, const qb_attr *a, qb_err *e);
/* Write t as a TensorProto file. */
int qb_tensor_save_pb(const char *path, const qb_tensor *t, qb_err *e);
/* Write the graph (prepared or not) as an ONNX model at opset 13. */
int qb_onnx_save(const qb_graph *g, const char *path, qb_err *e);
/* The same model as bytes in memory: *buf (malloc'd, the caller frees it)
 * of *len bytes; name is used in messages. */
int qb_onnx_serialize(const qb_graph *g, const char *name, uint8_t **buf, size_t *len, qb_err *e);
/* Free what an attribute owns: name, string, lists, tensor, subgraph and
 * its packed proto (not the struct). */
void qb_attr_free(qb_attr *a);
/* Free a tensor's name and data (not the struct). */
void qb_tensor_clear(qb_tensor *t);

/* ---- const_init.c ---- */
/* Constant nodes holding a tensor (how paddle2onnx and many exporters
 * store weights) become initializers, so BatchNormalization folds into
 * them and inspect counts them; returns how many. */
int qb_graph_constants_to_init(qb_graph *g);

/* ---- input_shapes.c: --shape NAME=AxBxC, or AxBxC by position ---- */
#define QB_MAX_SHAPES 16
typedef struct qb_input_shape {
    char name[128];             /* input name; "" when given by position */
    int pos;                    /* by position: index among the graph inputs */
    int ndim;                   /* rank */
    int64_t dims[QB_MAX_DIMS];  /* sizes */
} qb_input_shape;
typedef struct qb_input_shapes {
    int n;                            /* shapes given */
    qb_input_shape s[QB_MAX_SHAPES];  /* in command-line order */
} qb_input_shapes;
/* Append "NAME=AxB" or "AxB" to s. 0, or -1 with a message. */
int qb_input_shape_parse(const char *arg, qb_input_shapes *s, qb_err *e);
/* Give g's inputs those sizes (the batch dimension stays free, the others
 * become fixed); a name the model lacks, a rank or a fixed size that
 * differs is an error. s may be NULL. 0, or -1 with a message. */
int qb_input_shapes_apply(const qb_input_shapes *s, qb_graph *g, qb_err *e);
/* s as "NAME=AxB;AxB" ("" for none or NULL): part of cache keys. */
void qb_input_shapes_str(const qb_input_shapes *s, char *buf, size_t len);
/* The shapes of the verb's --shape options, applied by qb_onnx_load to
 * every model it loads (NULL: none). */
extern const qb_input_shapes *qb_load_shapes;
/* -1 with a message naming the input and dimension when an input still
 * has a symbolic dimension besides the batch; else 0. */
int qb_input_symbolic(const qb_graph *g, qb_err *e);

/* ---- model_label.c: what a loaded model is ---- */
/* Precision a node runs in: its qspec's (the file's QDQ / fp16 /
 * com.qbench layers), else fp32. */
qb_precision qb_node_precision(const qb_node *n);
/* "int8-channel (4 of 4 layers)", "fp32 (3 of 3 layers)" or
 * "mixed (fp32 1, int8-channel 3 of 4 layers)" over the Conv/Gemm/MatMul. */
void qb_model_precision(const qb_graph *g, char *buf, size_t len);
/* The one precision of the model's quantized layers for a results row:
 * fp32 when none is quantized, the precision of the quantized ones when
 * they share one (layers left in fp32 beside them do not count), mixed
 * when they differ. */
qb_precision qb_model_precision_kind(const qb_graph *g);
/* Parameters of a node of a prepared graph: elements of its constant
 * float inputs (initializers, Constant nodes, weights dequantized at
 * prepare); *bytes (may be NULL): what they take in the file (int8 1,
 * float16 2, packed int4 1/2 byte per weight, plus scales). */
int64_t qb_node_params(const qb_graph *g, const qb_node *n, int64_t *bytes);

/* ---- upgrade.c ---- */
/* Rewrite a graph of opset < 13 into opset-13 form (at load, before the
 * sort); afterwards g->opset is 13. 0, or -1 with a message. */
int qb_graph_upgrade(qb_graph *g, qb_err *e);

/* ---- fold_bn.c ---- */
/* Fold BatchNormalization into a preceding Conv (or Gemm) whose output
 * feeds only it; returns how many were folded. */
int qb_fold_batchnorm(qb_graph *g);

/* ---- fuse_elem.c ---- */
/* Runs of float32 element-wise nodes (scalar or per-channel constants,
 * activations, HardSwish/SiLU patterns) run as one pass each (prepare,
 * after shape inference and folding); returns how many chains. */
int qb_fuse_elementwise(qb_graph *g);
/* Chains that follow an fp32 Conv run inside it, on each block of its
 * output while in cache (prepare, after the layouts); returns how many,
 * or -1 with a message. Off with g->no_conv_epilogue or QB_NO_CONV_EPILOGUE=1. */
int qb_fuse_conv_epilogues(qb_graph *g, qb_err *e);

/* ---- qlayer.c ---- */
/* A zeroed qspec for precision p; NULL on allocation failure. */
qb_qspec *qb_qspec_new(qb_precision p);
void qb_qspec_free(qb_qspec *q);

/* ---- exec.c ---- */
/* Bind input shapes (inputs[i] gives graph input i its shape; integer
 * inputs also their values), infer shapes, fold constants, pack weights,
 * plan the arena. isa: -1 for the dispatcher's choice. */
int qb_graph_prepare(qb_graph *g, const qb_tensor *inputs, int ninputs, int isa, qb_err *e);
/* The alignment of the arena's tensors and of qb_data_alloc's buffers. */
#define QB_DATA_ALIGN 64
/* Zeroed memory for tensor data (inputs) aligned to QB_DATA_ALIGN, with
 * at least one byte beyond `bytes`; free() it. NULL when out of memory. */
void *qb_data_alloc(size_t bytes);
/* Run once on the inputs' current values. A float input is read from
 * the caller's buffer in place when that is aligned to QB_DATA_ALIGN
 * bytes (qb_data_alloc) and the input is not also a graph output; the
 * tensor then points at the caller's data until the next run (keep it
 * alive while reading the graph's tensors). Otherwise it is copied into
 * the arena. No node writes a graph input. */
int qb_graph_run(qb_graph *g, const qb_tensor *inputs, int ninputs, qb_err *e);
/* Total multiply-accumulates and parameters of the prepared graph. */
int64_t qb_node_macs(const qb_graph *g, const qb_node *n);

/* ---- meta.c: model metadata (key/value strings, saved and loaded as
 * ONNX metadata_props; qbench writes "qbench.*" keys) ---- */
/* Set key to value (replacing an existing value). 0, or -1 out of memory. */
int qb_graph_set_meta(qb_graph *g, const char *key, const char *value);
/* The value of key, or NULL. */
const char *qb_graph_get_meta(const qb_graph *g, const char *key);
/* Free all metadata (qb_graph_free does it). */
void qb_graph_clear_meta(qb_graph *g);

#endif
