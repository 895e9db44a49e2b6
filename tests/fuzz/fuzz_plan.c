/*
 * fuzz_plan.c - libFuzzer target for layer plans (`--plan FILE`, a
 * scenario's `plan =`; harness/quant/plan_file.c): the input up to the
 * first NUL is the plan file, the rest names the model's layers, one per
 * line (none: four layers stem.conv, block1.dw, block1.pw, head.fc), whose
 * ops cycle through Conv, depthwise Conv, Gemm and MatMul. A plan that
 * parses is resolved against the layers; a resolved plan is written back
 * (as the mixed search and the bisection write theirs) and the written
 * plan must parse and resolve again, to the same precision and calibrator
 * per layer when the layer names are plain (letters, digits, _ . / : -)
 * and distinct. Nothing may crash. Build and run: make fuzz-plan (clang).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/quant/plan_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LAYERS 8

/* Names a model exporter commonly writes: the written plan must round-trip them exactly. */
static int plain(const char *s)
{
    return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:-") == strlen(s);
}

static int layers_from(const char *text, qb_layer_info *l)
{
    static const char *const ops[4] = {"Conv", "Conv", "Gemm", "MatMul"};
    static const char *const dflt[4] = {"stem.conv", "block1.dw", "block1.pw", "head.fc"};
    int n = 0;
    for (const char *s = text; *s && n < MAX_LAYERS;) {
        size_t len = strcspn(s, "\n");
        snprintf(l[n].name, sizeof l[n].name, "%.*s", (int)len, s);
        n++;
        s += len + (s[len] == '\n');
    }
    if (!n)
        for (; n < 4; n++)
            snprintf(l[n].name, sizeof l[n].name, "%s", dflt[n]);
    for (int i = 0; i < n; i++) {
        l[i].op = ops[i % 4];
        l[i].depthwise = i % 4 == 1;
        l[i].n = l[i].k = 8;
        l[i].groups = l[i].depthwise ? 8 : 1;
        l[i].weights = 64;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t pl = nul ? (size_t)(nul - data) : size;
    char *text = malloc(size + 2);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[pl] = 0;
    text[size] = text[size + 1] = 0;
    qb_layer_info layers[MAX_LAYERS];
    memset(layers, 0, sizeof layers);
    int n = layers_from(nul ? text + pl + 1 : "", layers);
    int strict = 1;
    for (int i = 0; i < n; i++) {
        strict &= plain(layers[i].name);
        for (int j = 0; j < i; j++)
            strict &= strcmp(layers[i].name, layers[j].name) != 0;
    }
    qb_layer_plan p;
    qb_err e;
    if (qb_layer_plan_load_string(text, "fuzz.ini", &p, &e)) {
        free(text);
        return 0;
    }
    qb_quant_opts o = {.group = 0, .binary_ends_int8 = 1};
    qb_precision dp = p.prec >= 0 ? (qb_precision)p.prec : QB_PREC_INT8_CHANNEL;
    int dm = p.method >= 0 ? p.method : QB_METHOD_PTQ_PERCENTILE;
    qb_plan_choice ch[MAX_LAYERS], back[MAX_LAYERS];
    if (qb_layer_plan_resolve(&p, layers, n, "fuzz.onnx", dp, dm, &o, ch, &e) == 0) {
        qb_precision prec[MAX_LAYERS];
        int method[MAX_LAYERS];
        for (int i = 0; i < n; i++) {
            if (ch[i].prec == QB_PREC_MIXED) /* as qb_pipeline_plan_layers: the search gives each such layer a */
                ch[i].prec = QB_PREC_INT8_CHANNEL; /* concrete precision before anything is written */
            prec[i] = (qb_precision)ch[i].prec;
            method[i] = ch[i].method;
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
            abort();
        if (qb_layer_plan_write(f, p.name, "written by fuzz_plan", layers, n, prec, method, dp, dm, NULL))
            abort();
        fclose(f);
        qb_layer_plan q;
        if (qb_layer_plan_load_string(buf, "written.ini", &q, &e)) {
            fprintf(stderr, "a written plan does not parse: %s\n%s", e.msg, buf);
            abort();
        }
        if (qb_layer_plan_resolve(&q, layers, n, "fuzz.onnx", (qb_precision)q.prec, q.method, &o, back, &e)) {
            if (strict) {
                fprintf(stderr, "a written plan does not resolve: %s\n%s", e.msg, buf);
                abort();
            }
        } else if (strict) {
            for (int i = 0; i < n; i++)
                if (back[i].prec != ch[i].prec || back[i].method != ch[i].method) {
                    fprintf(stderr, "layer %s: written as %d/%d, read back as %d/%d\n%s", layers[i].name, ch[i].prec,
                            ch[i].method, back[i].prec, back[i].method, buf);
                    abort();
                }
        }
        qb_layer_plan_free(&q);
        free(buf);
    }
    qb_layer_plan_free(&p);
    free(text);
    return 0;
}
