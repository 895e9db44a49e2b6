/*
 * fuzz_shape.c - libFuzzer target for the `--shape` option parser and the
 * raw float32 input files it sizes, read as a data folder the way
 * `--data DIR` reads one (harness/quant/pipeline.c): the --shape
 * arguments are parsed and applied to a model's declared inputs, the
 * symbolic-dimension check runs, then a folder holding one raw file (and
 * optionally labels.txt and classes.txt) is loaded against the shaped
 * input. Input layout:
 *   byte 0          the model's input: 0 x[N,3,H,W], 1 x[N,T], 2 x[1,4]
 *                   (N, H, W, T symbolic; 2: all fixed)
 *   text up to NUL  --shape arguments, one per line
 *   2 bytes         n, the raw file's length (little endian, cut to what is left)
 *   n bytes         s.raw
 *   the rest        labels.txt, then (after a NUL) classes.txt
 * Each step must accept or refuse with a message, never crash; a loaded
 * folder must hold whole samples of the shaped input. Build and run:
 * make fuzz-shape (clang).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/data/inputs.h"
#include "harness/graph/graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
volatile float fuzz_shape_sink; /* what the target reads of a loaded sample (kept by the compiler) */

/* A graph with one float input as a loaded model declares it (no nodes:
 * only the declared input matters to --shape and the folder reader). */
static qb_graph *model(int kind)
{
    qb_graph *g = qb_graph_new("fuzz.onnx");
    int in = qb_graph_tensor(g, "x");
    qb_tensor *t = g->tensors[in];
    t->kind = QB_T_INPUT;
    t->dtype = QB_DT_FLOAT;
    t->has_shape = 1;
    static const int64_t dims[3][4] = {{0, 3, 0, 0}, {0, 0}, {1, 4}};
    static const int ranks[3] = {4, 2, 2};
    t->ndim = ranks[kind];
    for (int d = 0; d < t->ndim; d++) {
        t->dims[d] = dims[kind][d];
        t->sym[d] = dims[kind][d] == 0;
    }
    g->inputs = malloc(sizeof(int));
    g->inputs[g->ninputs++] = in;
    return g;
}

static void put(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    if (n)
        fwrite(p, 1, n, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int kind = data[0] % 3;
    data++;
    size--;
    const uint8_t *nul = memchr(data, 0, size);
    size_t tl = nul ? (size_t)(nul - data) : size;
    char *text = malloc(tl + 1);
    if (!text)
        return 0;
    memcpy(text, data, tl);
    text[tl] = 0;
    data += nul ? tl + 1 : tl;
    size -= nul ? tl + 1 : tl;
    /* the --shape options, as the verbs parse them (pipeline_args.c, inspect.c) */
    qb_input_shapes shapes;
    memset(&shapes, 0, sizeof shapes);
    qb_err e;
    int ok = 1;
    for (char *line = text, *next; ok && line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        ok = qb_input_shape_parse(line, &shapes, &e) == 0;
    }
    free(text);
    if (!ok)
        return 0;
    qb_graph *g = model(kind);
    if (qb_input_shapes_apply(&shapes, g, &e) || qb_input_symbolic(g, &e)) {
        qb_graph_free(g);
        return 0;
    }
    qb_tensor want = *g->tensors[g->inputs[0]];
    if (want.ndim && want.sym[0])
        want.dims[0] = 1; /* one sample */
    int64_t count = qb_tensor_count(&want);
    if (count < 1 || count > (1 << 20)) { /* the reader's own limit is memory: keep the fuzzer fast */
        qb_graph_free(g);
        return 0;
    }
    size_t rl = size >= 2 ? (size_t)(data[0] | data[1] << 8) : 0;
    data += size >= 2 ? 2 : size;
    size -= size >= 2 ? 2 : size;
    if (rl > size)
        rl = size;
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/qb-fuzz-shape-%d", (int)getpid());
    mkdir(dir, 0700);
    put(dir, "s.raw", data, rl);
    data += rl;
    size -= rl;
    const uint8_t *sep = size ? memchr(data, 0, size) : NULL;
    size_t ll = sep ? (size_t)(sep - data) : size;
    if (size)
        put(dir, "labels.txt", data, ll);
    if (sep)
        put(dir, "classes.txt", sep + 1, size - ll - 1);
    qb_inputs s;
    if (qb_inputs_load(dir, &want, 1, NULL, 0, &s, &e) == 0) {
        if (s.n < 1 || s.ninputs != 1 || qb_tensor_count(&s.in[0]) != count)
            abort(); /* loaded, but not whole samples of the shaped input */
        for (int i = 0; i < s.n; i++) /* each sample's last value is there to read */
            fuzz_shape_sink = ((const float *)qb_inputs_at(&s, 0, i))[count - 1];
        qb_inputs_free(&s);
    }
    qb_graph_free(g);
    static const char *const files[] = {"s.raw", "labels.txt", "classes.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return 0;
}
