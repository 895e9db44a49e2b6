/*
 * named.c - datasets by name, as the CLI's -d and --data-dir give them:
 * "fashion-mnist" (Debian's directory unless --data-dir), "synthetic"
 * (1x28x28, 10 classes, seeded), or any name with --data-dir DIR (an
 * MNIST-format IDX directory); and the normalisation that goes with each.
 */
#include <stdio.h>
#include <string.h>

#include "harness/data/dataset.h"

int qb_dataset_open(const char *name, const char *dir, qb_split_kind split, qb_dataset *out, char *err,
                    size_t errlen)
{
    if (!strcmp(name, "synthetic") && !dir) {
        int n = split == QB_SPLIT_TRAIN ? 6000 : 1000;
        if (qb_synthetic(n, 1, 28, 28, 10, 0.3f, 1, split, out, err, errlen))
            return -1;
        return 0;
    }
    if (!dir) {
        if (strcmp(name, "fashion-mnist")) {
            snprintf(err, errlen, "unknown dataset '%s' (datasets: fashion-mnist, synthetic; or --data-dir DIR "
                     "for any MNIST-format IDX directory)", name);
            return -1;
        }
        dir = QB_FASHION_MNIST_DIR;
    }
    if (qb_idx_load_dir(dir, split, out, err, errlen))
        return -1;
    snprintf(out->name, sizeof out->name, "%s", name);
    return 0;
}

int qb_dataset_norm(const char *name, const char *dir, qb_norm *out, char *err, size_t errlen)
{
    if (!dir && qb_norm_named(name, out) == 0)
        return 0;
    qb_dataset tr;
    if (qb_dataset_open(name, dir, QB_SPLIT_TRAIN, &tr, err, errlen))
        return -1;
    int rc = qb_norm_compute(&tr, NULL, tr.n, out, err, errlen);
    qb_dataset_free(&tr);
    return rc;
}
