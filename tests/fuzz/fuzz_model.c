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
 *      calibration of 1 to 8 layers (the second byte picks how many),
 *      after the recipe-line check that decides whether the QAT model
 *      beside it is reused
 *   2  a key file of the quantized-model cache (NAME.onnx.key: the
 *      recipe line, the calibration and QAT seconds, the plan;
 *      sweep/qcell.c), read against another recipe and against its own
 *      first line (so the lines after it are read too)
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
#include "harness/sweep/qcell.h"
#include "harness/train/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
volatile size_t fuzz_model_sink; /* what the target reads of a result (kept by the compiler) */

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
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) { /* read as the cache's key check reads them */
        const char *v = qb_graph_get_meta(g, keys[k]);
        fuzz_model_sink = v ? strlen(v) : 0;
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
    fuzz_model_sink = (size_t)qb_qat_ranges_match(rp, "qbench-qat v1 recipe");
    if (c.layers)
        qb_qat_apply_ranges(path, &c, &e);
    free(c.layers);
    unlink(rp);
}

static void cache_key(const uint8_t *data, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/qb-fuzz-model-%d.key", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(data, 1, size, f);
    fclose(f);
    /* the recipe: the file's first line (a match reads on), and another one */
    char line[2048];
    const uint8_t *nl = size ? memchr(data, '\n', size) : NULL;
    size_t n = nl ? (size_t)(nl - data) : size;
    if (n > sizeof line - 1)
        n = sizeof line - 1;
    memcpy(line, size ? (const char *)data : "", n);
    line[n] = 0;
    qb_qcell_info info;
    memset(&info, 0, sizeof info);
    if (qb_qcell_key_read(path, line, &info))
        fuzz_model_sink = strlen(info.plan);
    qb_qcell_key_read(path, "qbench-quantized v1 model=0", NULL);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] % 3 == 0)
        model_meta(data + 1, size - 1);
    else if (data[0] % 3 == 1)
        qat_ranges(data + 1, size - 1);
    else
        cache_key(data + 1, size - 1);
    return 0;
}
