/*
 * pack.c - packs logical weights (qb_weights) for one kernel: checks the
 * shape and value ranges, lays out the parts every ISA shares (biases,
 * weight sums, scales) in one 64-byte aligned block, and lets the kernel
 * write its own weight layout. The only allocation in kernels/.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

#define QB_ALIGN 64
#define QB_MAX_DIM (1 << 24)
#define QB_MAX_K_INT8 65536 /* keeps |sum (a - z) w| below 2^31 */

static size_t round_up(size_t x) { return (x + QB_ALIGN - 1) / QB_ALIGN * QB_ALIGN; }

static int fail(char *err, size_t len, const char *fmt, ...)
{
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int check(const qb_kernel *kn, const qb_weights *w, char *err, size_t len)
{
    if (w->n < 1 || w->k < 1 || w->n > QB_MAX_DIM || w->k > QB_MAX_DIM)
        return fail(err, len, "%s: bad weight shape %dx%d (each side 1..%d)", kn->name, w->n, w->k,
                    QB_MAX_DIM);
    if (kn->op == QB_OP_DWCONV && w->k > QB_DW_MAX_TAPS)
        return fail(err, len, "%s: a depthwise window of %d taps exceeds %d", kn->name, w->k, QB_DW_MAX_TAPS);
    switch (kn->prec) {
    case QB_PREC_FP32:
    case QB_PREC_FP16:
        if (!w->f32)
            return fail(err, len, "%s: float weights missing", kn->name);
        return 0;
    case QB_PREC_BINARY:
        if (!w->f32 || !w->scale)
            return fail(err, len, "%s: binary needs float weights (signs) and alpha[N]", kn->name);
        return 0;
    case QB_PREC_INT8_TENSOR:
    case QB_PREC_INT8_CHANNEL:
        if (!w->i8)
            return fail(err, len, "%s: int8 weights missing", kn->name);
        if (w->k > QB_MAX_K_INT8)
            return fail(err, len, "%s: K = %d exceeds %d for int8 accumulation", kn->name, w->k,
                        QB_MAX_K_INT8);
        for (size_t i = 0; i < (size_t)w->n * w->k; i++)
            if (w->i8[i] == -128)
                return fail(err, len, "%s: weight [%zu][%zu] is -128; symmetric int8 weights are in [-127, 127]",
                            kn->name, i / w->k, i % w->k);
        return 0;
    case QB_PREC_INT4:
        if (!w->i8 || !w->scale)
            return fail(err, len, "%s: int4 needs weights in [-8, 7] and scales", kn->name);
        if (w->group != 0 && w->group != 32 && w->group != 64 && w->group != 128)
            return fail(err, len, "%s: int4 group size %d (0 = per channel, 32, 64 or 128)", kn->name,
                        w->group);
        for (size_t i = 0; i < (size_t)w->n * w->k; i++)
            if (w->i8[i] < -8 || w->i8[i] > 7)
                return fail(err, len, "%s: weight [%zu][%zu] = %d outside int4 [-8, 7]", kn->name,
                            i / w->k, i % w->k, w->i8[i]);
        return 0;
    default:
        return fail(err, len, "%s: precision %s has no kernels", kn->name, qb_precision_name(kn->prec));
    }
}

/* The layout of a pack of n x k (group: int4) in one block: offsets of
 * each part and the total, all 64-byte multiples. */
typedef struct pack_layout {
    int group, ngroups; /* int4 group size (k when per channel) and count */
    size_t nsum;        /* weight sums / scales */
    size_t off_bf, off_bi, off_sum, off_scale, total;
} pack_layout;

static pack_layout layout(const qb_kernel *kn, int n, int k, int wgroup)
{
    pack_layout l;
    l.group = (kn->prec == QB_PREC_INT4 && wgroup) ? wgroup : k;
    l.ngroups = (k + l.group - 1) / l.group;
    l.nsum = (kn->prec == QB_PREC_INT4) ? (size_t)n * l.ngroups : (size_t)n;
    l.off_bf = round_up(kn->packed_size(n, k, wgroup));
    l.off_bi = round_up(l.off_bf + sizeof(float) * n);
    l.off_sum = round_up(l.off_bi + sizeof(int32_t) * n);
    l.off_scale = round_up(l.off_sum + sizeof(int32_t) * l.nsum);
    l.total = round_up(l.off_scale + sizeof(float) * l.nsum);
    return l;
}

size_t qb_pack_bytes(const qb_kernel *kn, int n, int k)
{
    if (!kn->packed_size || n < 1 || k < 1 || n > QB_MAX_DIM || k > QB_MAX_DIM)
        return 0;
    return layout(kn, n, k, 0).total;
}

/* Fill out from w in block (l.total bytes, 64-byte aligned). */
static void pack_block(const qb_kernel *kn, const qb_weights *w, const pack_layout *l, unsigned char *block,
                       qb_packed *out)
{
    int n = w->n, k = w->k;
    memset(block, 0, l->total);
    out->kernel = kn;
    out->n = n;
    out->k = k;
    out->group = l->group;
    out->ngroups = l->ngroups;
    out->w = block;
    out->bias_f32 = (float *)(block + l->off_bf);
    out->bias_i32 = (int32_t *)(block + l->off_bi);
    out->wsum = (int32_t *)(block + l->off_sum);
    out->scale = (float *)(block + l->off_scale);

    if (w->bias_f32)
        memcpy(out->bias_f32, w->bias_f32, sizeof(float) * n);
    if (w->bias_i32)
        memcpy(out->bias_i32, w->bias_i32, sizeof(int32_t) * n);
    if (w->i8) {
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++)
                out->wsum[(size_t)r * l->ngroups + c / l->group] += w->i8[(size_t)r * k + c];
    }
    if (kn->prec == QB_PREC_INT4)
        memcpy(out->scale, w->scale, sizeof(float) * l->nsum);
    else if (kn->prec == QB_PREC_BINARY)
        memcpy(out->scale, w->scale, sizeof(float) * n);
    kn->pack(w, out->w);
}

/* The prologue qb_pack and qb_pack_into share: clears out, refuses a kernel
   built without packing and weights check() rejects, and fills in the layout. */
static int pack_begin(const qb_kernel *kn, const qb_weights *w, qb_packed *out, pack_layout *l, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!kn->pack || !kn->packed_size)
        return fail(err, errlen, "%s: not built into this binary", kn->name);
    if (check(kn, w, err, errlen))
        return -1;
    *l = layout(kn, w->n, w->k, w->group);
    return 0;
}

int qb_pack(const qb_kernel *kn, const qb_weights *w, qb_packed *out, char *err, size_t errlen)
{
    pack_layout l;
    if (pack_begin(kn, w, out, &l, err, errlen))
        return -1;
    unsigned char *block = aligned_alloc(QB_ALIGN, l.total);
    if (!block)
        return fail(err, errlen, "%s: out of memory packing %dx%d weights (%zu bytes)", kn->name, w->n, w->k,
                    l.total);
    pack_block(kn, w, &l, block, out);
    out->block = block;
    return 0;
}

int qb_pack_into(const qb_kernel *kn, const qb_weights *w, void *buf, size_t bytes, qb_packed *out, char *err,
                 size_t errlen)
{
    pack_layout l;
    if (pack_begin(kn, w, out, &l, err, errlen))
        return -1;
    if (w->group || bytes < l.total || ((uintptr_t)buf % QB_ALIGN))
        return fail(err, errlen, "%s: %zu bytes at %p cannot hold a %dx%d pack (%zu bytes, 64-byte aligned, no groups)",
                    kn->name, bytes, buf, w->n, w->k, l.total);
    pack_block(kn, w, &l, buf, out);
    return 0;
}

void qb_packed_free(qb_packed *p)
{
    if (p) {
        free(p->block);
        memset(p, 0, sizeof *p);
    }
}

int qb_packed_columns(const qb_packed *p, int n0, int n1, qb_packed *view)
{
    const qb_kernel *kn = p->kernel;
    if (!(kn->flags & QB_KF_COLUMNS) || n0 < 0 || n0 >= n1 || n1 > p->n || n0 % QB_PACK_COLS ||
        (n1 != p->n && n1 % QB_PACK_COLS))
        return -1;
    size_t per = (size_t)p->ngroups; /* weight sums and scales per column */
    *view = *p;
    view->n = n1 - n0;
    view->w = (unsigned char *)p->w + kn->packed_size(n0, p->k, p->group == p->k ? 0 : p->group);
    /* (absent arrays stay NULL: no offset on a null pointer) */
    view->bias_f32 = p->bias_f32 ? p->bias_f32 + n0 : NULL;
    view->bias_i32 = p->bias_i32 ? p->bias_i32 + n0 : NULL;
    view->wsum = p->wsum ? p->wsum + (size_t)n0 * per : NULL;
    view->scale = p->scale ? p->scale + (size_t)n0 * per : NULL;
    view->block = NULL;
    return 0;
}

void qb_binary_pack_rows(const float *x, int m, int k, size_t ldx, uint64_t *bits, size_t ldw)
{
    size_t words = qb_binary_words(k);
    for (int i = 0; i < m; i++) {
        const float *row = x + (size_t)i * ldx;
        uint64_t *out = bits + (size_t)i * ldw;
        for (size_t wd = 0; wd < words; wd++) {
            uint64_t v = 0;
            int base = (int)wd * 64;
            int lim = k - base < 64 ? k - base : 64;
            for (int j = 0; j < lim; j++) {
                uint32_t u;
                memcpy(&u, &row[base + j], 4);
                v |= (uint64_t)(u >> 31) << j;
            }
            out[wd] = v;
        }
    }
}
