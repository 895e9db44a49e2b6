/*
 * npz.c - NumPy .npz reader: a zip archive of .npy members (np.savez
 * stores them, np.savez_compressed deflates them). The central directory
 * is read (zip64 sizes and offsets included, as NumPy writes them),
 * deflated members are inflated with zlib and checked against their
 * CRC-32, and each member is parsed by npy.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "harness/data/inputs.h"

static uint32_t rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static uint32_t rd32(const uint8_t *p)
{
    return rd16(p) | rd16(p + 2) << 16;
}
static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

void qb_npz_free(qb_npz *z)
{
    for (int i = 0; i < z->n; i++) {
        free(z->names[i]);
        qb_npy_free(&z->arrays[i]);
    }
    free(z->names);
    free(z->arrays);
    memset(z, 0, sizeof *z);
}

/* Zip64 extended information of a central directory entry: replaces the
 * fields that are 0xFFFFFFFF, in the order of the specification. */
static void zip64_fields(const uint8_t *x, size_t xlen, uint64_t *usize, uint64_t *csize, uint64_t *off)
{
    size_t p = 0;
    while (p + 4 <= xlen) {
        uint32_t id = rd16(x + p), sz = rd16(x + p + 2);
        if (p + 4 + sz > xlen)
            return;
        if (id == 1) {
            const uint8_t *f = x + p + 4, *end = f + sz;
            if (*usize == 0xFFFFFFFFu && f + 8 <= end)
                *usize = rd64(f), f += 8;
            if (*csize == 0xFFFFFFFFu && f + 8 <= end)
                *csize = rd64(f), f += 8;
            if (*off == 0xFFFFFFFFu && f + 8 <= end)
                *off = rd64(f);
            return;
        }
        p += 4 + sz;
    }
}

/* Member bytes (malloc'd, usize long) of a stored or deflated entry. */
static uint8_t *member(const uint8_t *buf, size_t len, uint64_t off, uint64_t csize, uint64_t usize, int method,
                       uint32_t crc, const char *path, const char *mname, qb_err *e)
{
    if (off > len || len - off < 30 || rd32(buf + off) != 0x04034b50) {
        qb_errf(e, "%s: member %s: local header: missing or truncated", path, mname);
        return NULL;
    }
    uint64_t data = off + 30 + rd16(buf + off + 26) + rd16(buf + off + 28);
    if (data > len || csize > len - data) {
        qb_errf(e, "%s: member %s: data: truncated", path, mname);
        return NULL;
    }
    /* deflate expands at most 1032:1, so a larger claimed size is corrupt
     * (and must not become a gigabyte malloc) */
    if (usize > (1ull << 34) || (method == 0 && csize != usize) || (method == 8 && usize > csize * 1032 + 64)) {
        qb_errf(e, "%s: member %s: size: bad (%llu bytes)", path, mname, (unsigned long long)usize);
        return NULL;
    }
    uint8_t *out = malloc(usize + 1);
    if (!out) {
        qb_errf(e, "%s: out of memory", path);
        return NULL;
    }
    if (method == 0) {
        memcpy(out, buf + data, usize);
    } else if (method == 8) {
        z_stream s;
        memset(&s, 0, sizeof s);
        if (inflateInit2(&s, -15) != Z_OK) {
            free(out);
            qb_errf(e, "%s: zlib: cannot start inflating", path);
            return NULL;
        }
        s.next_in = (Bytef *)(buf + data);
        s.avail_in = (uInt)csize;
        s.next_out = out;
        s.avail_out = (uInt)usize;
        int r = inflate(&s, Z_FINISH);
        uint64_t got = s.total_out;
        inflateEnd(&s);
        if (r != Z_STREAM_END || got != usize) {
            free(out);
            qb_errf(e, "%s: member %s: data: corrupt or truncated deflate stream", path, mname);
            return NULL;
        }
    } else {
        free(out);
        qb_errf(e, "%s: member %s: compression method %d is not stored (0) or deflate (8)", path, mname, method);
        return NULL;
    }
    if ((uint32_t)crc32(0L, out, (uInt)usize) != crc) {
        free(out);
        qb_errf(e, "%s: member %s: CRC-32 mismatch (corrupt file)", path, mname);
        return NULL;
    }
    return out;
}

int qb_npz_load(const char *path, qb_npz *out, qb_err *e)
{
    memset(out, 0, sizeof *out);
    size_t len;
    uint8_t *buf = qb_read_file(path, &len, e);
    if (!buf)
        return -1;
    int rc = -1;
    /* end of central directory: 22 bytes plus a comment of up to 64 KiB */
    size_t eocd = (size_t)-1;
    for (size_t p = len >= 22 ? len - 22 : 0; len >= 22; p--) {
        if (rd32(buf + p) == 0x06054b50) {
            eocd = p;
            break;
        }
        if (p == 0 || len - p > 22 + 65535)
            break;
    }
    if (eocd == (size_t)-1) {
        qb_errf(e, "%s: not a zip archive (.npz), or truncated: no end of central directory", path);
        goto out;
    }
    uint64_t nent = rd16(buf + eocd + 10), cd = rd32(buf + eocd + 16);
    if ((nent == 0xFFFF || cd == 0xFFFFFFFFu) && eocd >= 20 && rd32(buf + eocd - 20) == 0x07064b50) {
        uint64_t z64 = rd64(buf + eocd - 12); /* zip64 end of central directory record */
        if (z64 > len || len - z64 < 56 || rd32(buf + z64) != 0x06064b50) {
            qb_errf(e, "%s: zip64 end of central directory: bad", path);
            goto out;
        }
        nent = rd64(buf + z64 + 32);
        cd = rd64(buf + z64 + 48);
    }
    if (nent > 4096) {
        qb_errf(e, "%s: %llu members: too many", path, (unsigned long long)nent);
        goto out;
    }
    out->names = calloc(nent + 1, sizeof *out->names);
    out->arrays = calloc(nent + 1, sizeof *out->arrays);
    if (!out->names || !out->arrays) {
        qb_errf(e, "%s: out of memory", path);
        goto out;
    }
    uint64_t p = cd;
    for (uint64_t i = 0; i < nent; i++) {
        if (p > len || len - p < 46 || rd32(buf + p) != 0x02014b50) {
            qb_errf(e, "%s: central directory entry %llu: missing or truncated", path, (unsigned long long)i);
            goto out;
        }
        int method = (int)rd16(buf + p + 10);
        uint32_t crc = rd32(buf + p + 16);
        uint64_t csize = rd32(buf + p + 20), usize = rd32(buf + p + 24), off = rd32(buf + p + 42);
        size_t nlen = rd16(buf + p + 28), xlen = rd16(buf + p + 30), clen = rd16(buf + p + 32);
        if (len - p - 46 < nlen + xlen + clen) {
            qb_errf(e, "%s: central directory entry %llu: truncated", path, (unsigned long long)i);
            goto out;
        }
        zip64_fields(buf + p + 46 + nlen, xlen, &usize, &csize, &off);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(nlen < 255 ? nlen : 255), (const char *)buf + p + 46);
        p += 46 + nlen + xlen + clen;
        size_t l = strlen(name);
        if (l < 4 || strcmp(name + l - 4, ".npy")) {
            qb_errf(e, "%s: member %s: not a .npy array", path, name);
            goto out;
        }
        uint8_t *m = member(buf, len, off, csize, usize, method, crc, path, name, e);
        if (!m)
            goto out;
        char where[4400];
        snprintf(where, sizeof where, "%s: member %s", path, name);
        int r = qb_npy_parse(m, usize, where, &out->arrays[out->n], e);
        free(m);
        if (r)
            goto out;
        name[l - 4] = 0;
        out->names[out->n++] = strdup(name);
        if (!out->names[out->n - 1]) {
            qb_errf(e, "%s: out of memory", path);
            goto out;
        }
    }
    if (!out->n) {
        qb_errf(e, "%s: no arrays in the archive", path);
        goto out;
    }
    rc = 0;
out:
    free(buf);
    if (rc)
        qb_npz_free(out);
    return rc;
}
