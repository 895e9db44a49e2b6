/*
 * fuzz_idx.c - libFuzzer target for the IDX reader: the input is split
 * into an image file and a label file (the first two bytes give the
 * split point), written raw or, when the third byte is odd, gzip
 * compressed; loading must succeed or fail with a message, never crash,
 * and a loaded set must read back every sample. Build and run: make
 * fuzz-idx (clang).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <zlib.h>

#include "harness/data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put(const char *path, const uint8_t *p, size_t n, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (f) {
            if (n)
                gzwrite(f, p, (unsigned)n);
            gzclose(f);
        }
        return;
    }
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t cut = ((size_t)data[0] << 8 | data[1]) % (size - 2);
    int gz = data[2] & 1;
    char ip[64], lp[64], err[512];
    snprintf(ip, sizeof ip, "/tmp/fuzz_idx_%d_img", (int)getpid());
    snprintf(lp, sizeof lp, "/tmp/fuzz_idx_%d_lab", (int)getpid());
    put(ip, data + 3, cut, gz);
    put(lp, data + 3 + cut, size - 3 - cut, gz);
    qb_dataset d;
    if (qb_idx_load(ip, lp, QB_SPLIT_TRAIN, &d, err, sizeof err) == 0) {
        size_t ss = qb_dataset_sample_size(&d);
        if (ss <= 4096) {
            float buf[4096];
            for (int i = 0; i < d.n; i++)
                qb_dataset_get(&d, i, NULL, buf);
        }
        qb_dataset_free(&d);
    }
    unlink(ip);
    unlink(lp);
    return 0;
}
