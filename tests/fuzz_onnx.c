/*
 * fuzz_onnx.c - libFuzzer target for the ONNX importer: any byte string
 * must load or fail with a message, never crash; what loads is also
 * prepared (shape inference, folding, packing) when its inputs are small.
 * Build and run: make fuzz-onnx (clang), seeds from libonnx-testdata.
 */
#include <stddef.h>
#include <stdint.h>

#include "harness/graph/graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qb_err e;
    qb_import_quiet = 1;
    qb_graph *g = qb_onnx_load_mem(data, size, "fuzz", &e);
    if (!g)
        return 0;
    int small = 1;
    for (int i = 0; i < g->ninputs; i++) {
        int64_t c = qb_tensor_count(g->tensors[g->inputs[i]]);
        small &= c >= 0 && c <= (1 << 16);
    }
    for (int i = 0; i < g->ntensors; i++)
        small &= qb_tensor_count(g->tensors[i]) <= (1 << 16);
    if (small)
        qb_graph_prepare(g, NULL, 0, -1, &e);
    qb_graph_free(g);
    return 0;
}
