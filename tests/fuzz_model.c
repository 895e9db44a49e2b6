/*
 * fuzz_model.c - libFuzzer target for what qbench reads back from files
 * it wrote itself, which a user can still hand it changed: the first
 * byte picks the reader, the rest is the file.
 *   0  a model file's qbench metadata: the ONNX import, then the
 *      normalisation (qbench.norm.*, model/norm_meta.c), the training
 *      recipe and dataset (qbench.recipe, qbench.dataset: the model
 *      cache's key, train/cache.c), and the checkpoint import that QAT
 *      fine-tunes (train/import.c)
 *   1  a QAT ranges file (MODEL.onnx.ranges: the recipe line, then
 *      "lo hi threshold" per layer, quant/qat.c) applied to a
 *      calibration of 1 to 8 layers (the second byte picks how many)
 * Each must accept or refuse with a message, never crash.
 * Build and run: make fuzz-model (clang).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/data/dataset.h"
#include "harness/graph/graph.h"
#include "harness/model/norm_meta.h"
#include "harness/quant/ptq.h"
#include "harness/quant/qat.h"
#include "harness/train/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void model_meta(const uint8_t *data, size_t size)
{
    qb_err e;
    qb_graph *g = qb_onnx_load_mem(data, size, "fuzz.onnx", &e);
    if (!g)
        return;
    qb_norm norm;
    qb_norm_from_graph(g, &norm);
    const char *const keys[] = {"qbench.recipe", "qbench.dataset", "qbench.model", "qbench.val_top1",
                                "qbench.norm.input"};
    static volatile size_t sink; /* the values are read, as the cache's key check reads them */
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *v = qb_graph_get_meta(g, keys[k]);
        sink += v ? strlen(v) : 0;
    }
    qb_net net;
    char err[1024];
    if (qb_net_import(g, 1, &net, err, sizeof err) == 0)
        qb_net_free(&net);
    qb_graph_free(g);
}

static void qat_ranges(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    int n = 1 + data[0] % 8;
    data++;
    size--;
    char path[64], rp[80];
    snprintf(path, sizeof path, "/tmp/qb-fuzz-model-%d", (int)getpid());
    snprintf(rp, sizeof rp, "%s.ranges", path);
    FILE *f = fopen(rp, "wb");
    if (!f)
        return;
    fwrite(data, 1, size, f);
    fclose(f);
    qb_calibration c = {.n = n, .layers = calloc((size_t)n, sizeof(qb_layer_info)), .symmetric = size % 2};
    qb_err e;
    if (c.layers)
        qb_qat_apply_ranges(path, &c, &e);
    free(c.layers);
    unlink(rp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] % 2 == 0)
        model_meta(data + 1, size - 1);
    else
        qat_ranges(data + 1, size - 1);
    return 0;
}
