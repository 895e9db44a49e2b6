/*
 * idx.c - MNIST-format IDX files (gzip or raw, both read through zlib's
 * gzread) into a qb_dataset. Every malformed file (wrong magic, truncated
 * or corrupt data, trailing bytes, shape mismatch between images and
 * labels) is an error naming the file; nothing here aborts.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "harness/data/dataset.h"

#define IDX_MAGIC_IMAGES 0x00000803u /* unsigned byte, 3 dimensions */
#define IDX_MAGIC_LABELS 0x00000801u /* unsigned byte, 1 dimension */
#define IDX_MAX_BYTES (1u << 31)     /* refuse files claiming more data */

/* Read exactly len bytes; -1 with a message on a short read or a zlib error. */
static int gz_exact(gzFile f, const char *path, void *buf, size_t len, const char *what, char *err,
                    size_t errlen)
{
    size_t got = 0;
    while (got < len) {
        unsigned chunk = len - got > (1u << 30) ? (1u << 30) : (unsigned)(len - got);
        int r = gzread(f, (char *)buf + got, chunk);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            snprintf(err, errlen, "%s: corrupt file while reading %s: %s", path, what, msg);
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got < len) {
        int zerr;
        const char *msg = gzerror(f, &zerr);
        snprintf(err, errlen, "%s: truncated: %s has %zu of %zu bytes%s%s", path, what, got, len,
                 zerr != Z_OK ? ": " : "", zerr != Z_OK ? msg : "");
        return -1;
    }
    return 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Open path, check its magic, read `ndim` dimensions and then all data
 * (count = product of dims) into a malloc'd buffer. */
static int idx_read(const char *path, uint32_t magic, int ndim, uint32_t *dims, uint8_t **data,
                    char *err, size_t errlen)
{
    *data = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
        return -1;
    }
    unsigned char hdr[16];
    int rc = -1;
    if (gz_exact(f, path, hdr, 4, "the magic number", err, errlen))
        goto out;
    uint32_t m = be32(hdr);
    if (m != magic) {
        snprintf(err, errlen, "%s: wrong magic number 0x%08x (expected 0x%08x: an IDX %s file)", path,
                 (unsigned)m, (unsigned)magic, magic == IDX_MAGIC_IMAGES ? "image" : "label");
        goto out;
    }
    if (gz_exact(f, path, hdr + 4, 4 * (size_t)ndim, "the header", err, errlen))
        goto out;
    /* every dimension first, then their product: a too-large file names
     * all of its dimensions, not the one where the product overflowed */
    uint64_t count = 1;
    int big = 0;
    char shape[160] = "";
    for (int i = 0; i < ndim; i++) {
        dims[i] = be32(hdr + 4 + 4 * i);
        if (dims[i] == 0) {
            snprintf(err, errlen, "%s: dimension %d is 0", path, i);
            goto out;
        }
        size_t l = strlen(shape);
        snprintf(shape + l, sizeof shape - l, "%s%u", i ? "x" : "", (unsigned)dims[i]);
        big |= count > IDX_MAX_BYTES / dims[i];
        count *= dims[i];
    }
    if (big || count > IDX_MAX_BYTES) {
        snprintf(err, errlen, "%s: dimensions %s are more than the %llu bytes an IDX file may hold here", path, shape,
                 (unsigned long long)IDX_MAX_BYTES);
        goto out;
    }
    /* the header's count is a claim: grow the buffer as data arrives, so
     * a 30-byte file saying 2 GiB fails as truncated without a 2 GiB malloc */
    size_t cap = 0, got = 0;
    while (got < count) {
        if (got == cap) {
            size_t ncap = cap ? cap * 2 : (size_t)1 << 20;
            if (ncap > count)
                ncap = (size_t)count;
            uint8_t *nd = realloc(*data, ncap);
            if (!nd) {
                snprintf(err, errlen, "%s: out of memory for %llu bytes", path, (unsigned long long)count);
                goto out;
            }
            *data = nd;
            cap = ncap;
        }
        size_t want = cap - got > (1u << 30) ? (1u << 30) : cap - got;
        int r = gzread(f, *data + got, (unsigned)want), zerr;
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        const char *msg = gzerror(f, &zerr);
        if (r < 0)
            snprintf(err, errlen, "%s: corrupt file while reading the data: %s", path, msg);
        else
            snprintf(err, errlen, "%s: truncated: the data has %zu of %llu bytes%s%s", path, got,
                     (unsigned long long)count, zerr != Z_OK ? ": " : "", zerr != Z_OK ? msg : "");
        goto out;
    }
    unsigned char extra;
    int r = gzread(f, &extra, 1), zerr;
    const char *msg = gzerror(f, &zerr);
    if (r == 0 && zerr != Z_OK) {
        snprintf(err, errlen, "%s: corrupt or truncated gzip stream after the data: %s", path, msg);
        goto out;
    }
    if (r != 0) {
        if (r < 0)
            snprintf(err, errlen, "%s: corrupt file after the data: %s", path, msg);
        else
            snprintf(err, errlen, "%s: trailing bytes after %llu bytes of data", path,
                     (unsigned long long)count);
        goto out;
    }
    rc = 0;
out:
    gzclose(f);
    if (rc) {
        free(*data);
        *data = NULL;
    }
    return rc;
}

int qb_idx_load(const char *images_path, const char *labels_path, qb_split_kind split,
                qb_dataset *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    uint32_t idim[3], ldim[1];
    uint8_t *pix = NULL, *lab = NULL;
    if (idx_read(images_path, IDX_MAGIC_IMAGES, 3, idim, &pix, err, errlen))
        return -1;
    if (idx_read(labels_path, IDX_MAGIC_LABELS, 1, ldim, &lab, err, errlen)) {
        free(pix);
        return -1;
    }
    if (ldim[0] != idim[0]) {
        snprintf(err, errlen, "%s: %u labels, but %s has %u images", labels_path, (unsigned)ldim[0],
                 images_path, (unsigned)idim[0]);
        free(pix);
        free(lab);
        return -1;
    }
    out->labels = malloc(sizeof(int32_t) * ldim[0]);
    if (!out->labels) {
        snprintf(err, errlen, "%s: out of memory", labels_path);
        free(pix);
        free(lab);
        return -1;
    }
    int maxl = 0;
    for (uint32_t i = 0; i < ldim[0]; i++) {
        out->labels[i] = lab[i];
        if (lab[i] > maxl)
            maxl = lab[i];
    }
    free(lab);
    snprintf(out->name, sizeof out->name, "idx");
    out->split = split;
    out->n = (int)idim[0];
    out->c = 1;
    out->h = (int)idim[1];
    out->w = (int)idim[2];
    out->classes = maxl + 1;
    out->u8 = pix;
    return 0;
}

/* dir/base.gz if it exists, else dir/base (which may not exist: the open
 * reports it). */
static void pick(const char *dir, const char *base, char *path, size_t len)
{
    snprintf(path, len, "%s/%s.gz", dir, base);
    if (access(path, F_OK) == 0)
        return;
    snprintf(path, len, "%s/%s", dir, base);
}

int qb_idx_load_dir(const char *dir, qb_split_kind split, qb_dataset *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    DIR *dp = opendir(dir);
    if (!dp) {
        snprintf(err, errlen, "%s: cannot read data directory: %s", dir, strerror(errno));
        return -1;
    }
    closedir(dp);
    const char *pre = split == QB_SPLIT_TEST ? "t10k" : "train";
    char ip[4096], lp[4096], ib[64], lb[64];
    snprintf(ib, sizeof ib, "%s-images-idx3-ubyte", pre);
    snprintf(lb, sizeof lb, "%s-labels-idx1-ubyte", pre);
    pick(dir, ib, ip, sizeof ip);
    pick(dir, lb, lp, sizeof lp);
    if (qb_idx_load(ip, lp, split, out, err, errlen))
        return -1;
    const char *slash = strrchr(dir, '/');
    const char *nm = slash && slash[1] ? slash + 1 : dir;
    snprintf(out->name, sizeof out->name, "%s", nm);
    return 0;
}

void qb_dataset_free(qb_dataset *d)
{
    free(d->u8);
    free(d->f32);
    free(d->labels);
    memset(d, 0, sizeof *d);
}
