/*
 * npy.c - NumPy .npy reader (format versions 1, 2 and 3: magic
 * "\x93NUMPY", version, header length, a Python dict literal with descr,
 * fortran_order and shape, then the C-order elements). Only
 * little-endian (or byte-sized) numeric types; see inputs.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/inputs.h"

void qb_npy_free(qb_npy *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* NumPy descr -> dtype; QB_DT_UNDEF when not supported here. */
static qb_dtype descr_dtype(const char *d)
{
    static const struct {
        const char *descr;
        qb_dtype t;
    } map[] = {{"<f4", QB_DT_FLOAT}, {"<f8", QB_DT_DOUBLE}, {"<f2", QB_DT_FLOAT16}, {"<i4", QB_DT_INT32},
               {"<i8", QB_DT_INT64}, {"|u1", QB_DT_UINT8},  {"|i1", QB_DT_INT8},    {"|b1", QB_DT_BOOL},
               {"<u4", QB_DT_UINT32}, {"<u8", QB_DT_UINT64}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(d, map[i].descr))
            return map[i].t;
    return QB_DT_UNDEF;
}

/* The value after 'key': in the header dict, or NULL. */
static const char *dict_value(const char *h, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) {
        snprintf(pat, sizeof pat, "\"%s\"", key);
        p = strstr(h, pat);
    }
    if (!p)
        return NULL;
    p += strlen(pat);
    while (isspace((unsigned char)*p))
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

int qb_npy_parse(const uint8_t *buf, size_t len, const char *name, qb_npy *out, qb_err *e)
{
    memset(out, 0, sizeof *out);
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6)) {
        qb_errf(e, "%s: magic: not a NumPy .npy file", name);
        return -1;
    }
    int major = buf[6];
    size_t hlen, off;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        off = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) {
            qb_errf(e, "%s: header: truncated", name);
            return -1;
        }
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        off = 12;
    } else {
        qb_errf(e, "%s: version: format version %d is not 1, 2 or 3", name, major);
        return -1;
    }
    if (hlen > len - off || hlen > 1 << 20) {
        qb_errf(e, "%s: header: truncated (header of %zu bytes, file of %zu)", name, hlen, len);
        return -1;
    }
    char *h = malloc(hlen + 1);
    if (!h) {
        qb_errf(e, "%s: out of memory", name);
        return -1;
    }
    memcpy(h, buf + off, hlen);
    h[hlen] = 0;
    int rc = -1;
    const char *v = dict_value(h, "descr");
    if (!v || (*v != '\'' && *v != '"')) {
        qb_errf(e, "%s: header: no 'descr'", name);
        goto out;
    }
    {
        char q = *v++;
        size_t n = 0;
        while (v[n] && v[n] != q && n + 1 < sizeof out->descr)
            n++;
        memcpy(out->descr, v, n);
        out->descr[n] = 0;
    }
    /* '=' (native) is little-endian on every machine qbench runs on */
    if (out->descr[0] == '=')
        out->descr[0] = '<';
    if (strlen(out->descr) == 3 && out->descr[2] == '1' && out->descr[0] == '<')
        out->descr[0] = '|';
    out->dtype = descr_dtype(out->descr);
    if (out->dtype == QB_DT_UNDEF) {
        qb_errf(e, "%s: descr: dtype '%s' is not supported (little-endian float32/64/16, int8/32/64, uint8/32/64, "
                   "bool)", name, out->descr);
        goto out;
    }
    v = dict_value(h, "fortran_order");
    if (!v || (strncmp(v, "False", 5) && strncmp(v, "True", 4))) {
        qb_errf(e, "%s: header: no 'fortran_order'", name);
        goto out;
    }
    int fortran = !strncmp(v, "True", 4);
    v = dict_value(h, "shape");
    if (!v || *v != '(') {
        qb_errf(e, "%s: header: no 'shape'", name);
        goto out;
    }
    v++;
    for (;;) {
        while (isspace((unsigned char)*v) || *v == ',')
            v++;
        if (*v == ')')
            break;
        char *end;
        long long d = strtoll(v, &end, 10);
        if (end == v || d < 0 || out->ndim == QB_MAX_DIMS) {
            qb_errf(e, "%s: shape: bad or more than %d dimensions", name, QB_MAX_DIMS);
            goto out;
        }
        out->dims[out->ndim++] = d;
        v = end;
        if (*v == 'L')
            v++;
    }
    int nbig = 0;
    for (int i = 0; i < out->ndim; i++)
        nbig += out->dims[i] > 1;
    if (fortran && nbig > 1) {
        qb_errf(e, "%s: fortran_order: column-major arrays are not read (save with np.ascontiguousarray)", name);
        goto out;
    }
    int64_t count = qb_shape_count(out->ndim, out->dims);
    if (count < 0) {
        qb_errf(e, "%s: shape: more than 2^31 elements", name);
        goto out;
    }
    size_t need = (size_t)count * qb_dtype_size(out->dtype), have = len - off - hlen;
    if (have < need) {
        qb_errf(e, "%s: data: truncated (%zu bytes of the %zu its shape needs)", name, have, need);
        goto out;
    }
    out->data = malloc(need + 1);
    if (!out->data) {
        qb_errf(e, "%s: out of memory", name);
        goto out;
    }
    memcpy(out->data, buf + off + hlen, need);
    rc = 0;
out:
    free(h);
    return rc;
}

uint8_t *qb_read_file(const char *path, size_t *len, qb_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        qb_errf(e, "%s: cannot open", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *nb = realloc(b, cap *= 2);
        if (!nb)
            free(b);
        b = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b || bad) {
        free(b);
        qb_errf(e, "%s: %s", path, b ? "read error" : "out of memory");
        return NULL;
    }
    *len = n;
    return b;
}

int qb_npy_load(const char *path, qb_npy *out, qb_err *e)
{
    size_t len;
    uint8_t *b = qb_read_file(path, &len, e);
    if (!b)
        return -1;
    int rc = qb_npy_parse(b, len, path, out, e);
    free(b);
    return rc;
}
