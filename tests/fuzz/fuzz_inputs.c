/*
 * fuzz_inputs.c - libFuzzer target for the readers of the user's data
 * (harness/data/): the first byte picks one (.npy, .npz, WAV, PNG/JPEG
 * image + preprocessing into a 1x3x8x8 tensor, the preprocessing spec,
 * an ONNX TensorProto, a labels/classes file), the rest is the file. Each
 * must accept or refuse with a message, never crash or leak.
 * Build and run: make fuzz (clang).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/data/inputs.h"
#include "harness/graph/graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fuzz input as a file of this process (the readers take paths). */
static const char *as_file(const uint8_t *data, size_t size, const char *ext)
{
    static char path[96];
    snprintf(path, sizeof path, "/tmp/qb-fuzz-inputs-%d%s", (int)getpid(), ext);
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    if (size)
        fwrite(data, 1, size, f);
    fclose(f);
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] % 7;
    data++;
    size--;
    qb_err e;
    const char *p;
    switch (which) {
    case 0: {
        qb_npy a;
        if (!qb_npy_parse(data, size, "fuzz.npy", &a, &e))
            qb_npy_free(&a);
        break;
    }
    case 1: {
        qb_npz z;
        if ((p = as_file(data, size, ".npz")) && !qb_npz_load(p, &z, &e))
            qb_npz_free(&z);
        break;
    }
    case 2: {
        qb_audio a;
        if ((p = as_file(data, size, ".wav")) && !qb_audio_load(p, &a, &e))
            qb_audio_free(&a);
        break;
    }
    case 3: {
        qb_image img;
        if ((p = as_file(data, size, ".png")) && !qb_image_load(p, &img, &e)) {
            static float out[3 * 8 * 8];
            qb_tensor want = {.dtype = QB_DT_FLOAT, .ndim = 4, .dims = {1, 3, 8, 8}};
            qb_preproc pp;
            qb_preproc_defaults(&pp);
            if (img.w <= 4096 && img.h <= 4096)
                qb_image_to_tensor(&img, &pp, &want, out, p, &e);
            qb_image_free(&img);
        }
        break;
    }
    case 4: {
        char *spec = malloc(size + 1);
        if (!spec)
            return 0;
        memcpy(spec, data, size);
        spec[size] = 0;
        qb_preproc pp;
        qb_preproc_defaults(&pp);
        qb_preproc_parse(spec, "fuzz", &pp, &e);
        free(spec);
        break;
    }
    case 5: {
        qb_tensor t;
        memset(&t, 0, sizeof t);
        if ((p = as_file(data, size, ".pb")) && !qb_tensor_load_pb(p, &t, &e)) {
            free(t.name);
            free(t.data);
        }
        break;
    }
    default: {
        qb_classes c;
        if ((p = as_file(data, size, ".txt")) && !qb_classes_load(p, &c, &e))
            qb_classes_free(&c);
        break;
    }
    }
    if (which != 0 && which != 4) {
        char path[96];
        static const char *const ext[] = {"", ".npz", ".wav", ".png", "", ".pb", ".txt"};
        snprintf(path, sizeof path, "/tmp/qb-fuzz-inputs-%d%s", (int)getpid(), ext[which]);
        unlink(path);
    }
    return 0;
}
