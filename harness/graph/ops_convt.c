/*
 * ops_convt.c - ConvTranspose on float32, 1 to 3 spatial dims: strides,
 * dilations, groups, pads or auto_pad (SAME_UPPER/SAME_LOWER/VALID),
 * output_padding and output_shape. Per image and group it is one GEMM on
 * the fp32 kernel of the graph's ISA, columns [pixels x (Cout/g * kernel)]
 * = X^T [pixels x Cin/g] . W, then a scatter-add of the columns into the
 * output (col2im) plus the bias. Constant weights are packed once; weights
 * that are graph inputs are packed on each run. An NHWC input (between
 * convolutions, exec.c) is X^T already: the GEMM reads it in place.
 * Where the windows tile the output (kernel = stride), blocks of input
 * rows run in chunks on the threads, each with its own columns slot.
 * Windows that tile the output with few columns per group (det's 24 -> 1
 * 2x2/2 head: 4 columns) skip the GEMM, X^T and the columns: each input
 * row's column values are summed straight from the NCHW planes (direct).
 * A 2x2 tiling one may run an Add + Relu chain after it on each value it
 * stores, a direct one any float chain on each pair of output rows it
 * has written (qb_convt_set_epilogue; fuse_elem.c decides). A 2x2 tiling
 * one whose output only a direct one reads (det's head: 24 -> 24, then
 * 24 -> 1) runs that one on each block's output rows, which go to a
 * per-slot buffer instead of a tensor (qb_convt_fuse_pairs).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QB_CONVT_AVX512 1
#endif

#include "harness/graph/ops.h"
#include "harness/graph/par.h"

typedef struct convt_state {
    int nsp;                 /* spatial dims (1..3); geometry below is padded to 3 (leading 1s) */
    int64_t n, cin, cout;    /* batch, input and output channels */
    int64_t group;           /* groups */
    int64_t in[3], out[3];   /* input / output spatial sizes */
    int64_t k[3], s[3], d[3]; /* kernel, strides, dilations */
    int64_t pb[3];           /* pads at the beginning (output crop) */
    int64_t pix;             /* input pixels per image */
    int64_t cols;            /* GEMM columns per group: Cout/g * kernel size */
    int tiles;               /* windows tile the output exactly (kernel = stride, no dilation, no pads, output =
                              * input * stride): each output element gets one term, written once as bias + term */
    qb_packed *packs;        /* one per group when the weights are constant, else NULL */
    int nhwc_in;             /* the input is NHWC (exec.c's layouts): the GEMM reads it as A, no X^T */
    int64_t rows_blk;        /* input rows (of in[2] pixels, over iz and iy) per GEMM call: their columns
                              * stay in cache for the col2im (a multiple of QB_GPAR_ALIGN pixels) */
    int64_t slots;           /* column blocks in the scratch: tiling, blocks run in that many chunks on the
                              * threads (each writes its own output rows); else 1 */
    float *wd;               /* direct path (tiles, 1-D/2-D, NCHW input, cols <= CT_DIRECT_COLS, constant
                              * weights): per group [cg x jpad] weights, column j of input channel ci at
                              * ci * jpad + j, zeros past cols; else NULL */
    int64_t jpad;            /* direct path: cols rounded up to a multiple of 4 */
    int epi;                 /* 2x2 tiles: each stored value v becomes relu(v + k) (an Add and a Relu chain
                              * fused in, qb_convt_set_epilogue) */
    const float *epi_c;      /* epi: k per output channel, or NULL: ... */
    float epi_k;             /* ... the scalar k */
    int epi_kf;              /* epi: the Add is Add(k, v) (operand order kept) */
    int epi_chain;           /* direct path: 1 + the index of the element-wise chain node run in place on each
                              * input row's output rows right after they are written, 0 if none */
    int pair;                /* 2x2 tiles: 1 + the index of the direct-path ConvTranspose that reads this one's
                              * output, run on each block's output rows (qb_convt_fuse_pairs), 0 if none */
    size_t pair_off;         /* pair: byte offset in the scratch of the per-slot output row buffers ... */
    int64_t pair_plane;      /* ... each cout planes of pair_plane floats (2 * rows_blk output rows) */
    int pair_regs;           /* pair whose second has one group and four columns (2x2 windows, one output
                              * channel: det's 24 -> 1): with AVX-512 or AVX2, no row buffer (convt_pair_avx512,
                              * convt_pair_avx2) */
} convt_state;

/* Most column slots (chunks of blocks) of a tiling ConvTranspose. */
#define CONVT_SLOTS 8

#define CT_DIRECT_COLS 16 /* most columns per group of the direct path (more: the GEMM) */
#define CT_PAIR_MAXC 256 /* pair_regs: most channels between the two (per-channel tables on the stack) */
#define CT_PX 80          /* direct path: input pixels per block (80 floats per column in L1; five vectors of 16:
                           * det's rows of 160 pixels are two whole blocks) */

static int convt_plain; /* qb_convt_avx512(0): the direct path's plain loops only (tests) */
static int convt_avx2_only; /* qb_convt_avx2_only(1): the AVX2 loops (direct sums, 2x2 tiles), not AVX-512 (tests) */

void qb_convt_avx512(int on) { convt_plain = !on; }
void qb_convt_avx2_only(int on) { convt_avx2_only = on; }

void qb_convt_set_nhwc_input(qb_node *n)
{
    convt_state *s = n->state;
    s->nhwc_in = 1;
}

static void convt_free(void *p)
{
    convt_state *s = p;
    if (s && s->packs) {
        for (int64_t i = 0; i < s->group; i++)
            if (s->packs[i].block)
                qb_packed_free(&s->packs[i]);
        free(s->packs);
    }
    if (s)
        free(s->wd);
    free(s);
}

/* Pack group gi of W [Cin, Cout/g, k...] as N = Cout/g*K rows of Cin/g. */
static int pack_group(qb_graph *g, qb_node *n, const convt_state *s, const float *W, int64_t gi, qb_packed *p,
                      qb_err *e)
{
    int64_t cg = s->cin / s->group, kn = s->cols;
    float *w = malloc((size_t)(kn * cg) * sizeof(float) + 1);
    if (!w) {
        if (e)
            QB_NODE_ERR(e, g, n, "out of memory");
        return -1;
    }
    for (int64_t ci = 0; ci < cg; ci++)
        for (int64_t j = 0; j < kn; j++)
            w[j * cg + ci] = W[(gi * cg + ci) * kn + j];
    qb_weights qw = {.n = (int)kn, .k = (int)cg, .f32 = w};
    char err[200] = "";
    int rc = qb_pack(g->gemm, &qw, p, err, sizeof err);
    free(w);
    if (rc && e)
        QB_NODE_ERR(e, g, n, "cannot pack the weights: %s", err);
    return rc;
}

static int convt_prepare(qb_graph *g, qb_node *n, qb_err *e)
{
    qb_tensor *x = qb_need_in(g, n, 0, e), *W = x ? qb_need_in(g, n, 1, e) : NULL, *B = qb_in(g, n, 2);
    if (!W)
        return -1;
    if (x->dtype != QB_DT_FLOAT || W->dtype != QB_DT_FLOAT || (B && B->dtype != QB_DT_FLOAT)) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_TYPE,
                            "inputs must be float32 (element type %s)", qb_dtype_name(x->dtype));
        return -1;
    }
    int nsp = x->ndim - 2;
    if (nsp < 1 || nsp > 3 || W->ndim != x->ndim) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_SHAPE,
                            "input rank %d / weight rank %d is not supported (3 to 5, equal)", x->ndim, W->ndim);
        return -1;
    }
    int64_t group = qb_attr_int(n, "group", 1);
    if (group < 1 || x->dims[1] % group || W->dims[0] != x->dims[1]) {
        QB_NODE_ERR(e, g, n, "weight shape [%lld, ...] and group %lld do not match %lld input channels",
                    (long long)W->dims[0], (long long)group, (long long)x->dims[1]);
        return -1;
    }
    const int64_t *ks, *st, *dl, *pd, *op, *os;
    int nks = qb_attr_ints(n, "kernel_shape", &ks), nst = qb_attr_ints(n, "strides", &st),
        ndl = qb_attr_ints(n, "dilations", &dl), npd = qb_attr_ints(n, "pads", &pd),
        nop = qb_attr_ints(n, "output_padding", &op), nos = qb_attr_ints(n, "output_shape", &os);
    if ((nks >= 0 && nks != nsp) || (nst >= 0 && nst != nsp) || (ndl >= 0 && ndl != nsp) ||
        (npd >= 0 && npd != 2 * nsp) || (nop >= 0 && nop != nsp) || (nos >= 0 && nos != nsp && nos != nsp + 2)) {
        QB_NODE_ERR(e, g, n, "kernel_shape, strides, dilations, pads, output_padding or output_shape do not match %d "
                    "spatial dims", nsp);
        return -1;
    }
    const char *ap = qb_attr_str(n, "auto_pad", "NOTSET");
    int same_upper = !strcmp(ap, "SAME_UPPER"), same_lower = !strcmp(ap, "SAME_LOWER");
    if (!same_upper && !same_lower && strcmp(ap, "VALID") && strcmp(ap, "NOTSET")) {
        QB_NODE_UNSUPPORTED(e, g, n, QB_ERR_UNSUPPORTED_ATTR, "auto_pad '%s' is not supported", ap);
        return -1;
    }
    convt_state *s = calloc(1, sizeof *s);
    n->state = s;
    n->free_state = convt_free;
    s->nsp = nsp;
    s->n = x->dims[0];
    s->cin = x->dims[1];
    s->group = group;
    s->cout = W->dims[1] * group;
    int off = 3 - nsp;
    int64_t dims[QB_MAX_DIMS] = {s->n, s->cout}, ksz = 1;
    for (int i = 0; i < 3; i++)
        s->in[i] = s->out[i] = s->k[i] = s->s[i] = s->d[i] = 1;
    for (int i = 0; i < nsp; i++) {
        int j = off + i;
        s->in[j] = x->dims[2 + i];
        s->k[j] = W->dims[2 + i];
        if (nks >= 0 && ks[i] != s->k[j]) {
            QB_NODE_ERR(e, g, n, "kernel_shape %lld differs from the weights' %lld", (long long)ks[i],
                        (long long)s->k[j]);
            return -1;
        }
        s->s[j] = nst >= 0 ? st[i] : 1;
        s->d[j] = ndl >= 0 ? dl[i] : 1;
        int64_t opad = nop >= 0 ? op[i] : 0, ek = (s->k[j] - 1) * s->d[j] + 1;
        if (s->s[j] < 1 || s->d[j] < 1 || s->s[j] > (1 << 24) || s->d[j] > (1 << 24) || opad < 0 ||
            (opad >= s->s[j] && opad >= s->d[j])) {
            QB_NODE_ERR(e, g, n, "strides, dilations or output_padding out of range");
            return -1;
        }
        int64_t full = s->s[j] * (s->in[j] - 1) + opad + ek, pb, pe;
        int64_t want = -1;
        if (nos >= 0 || same_upper || same_lower) { /* pad (or extend with the bias) to the wanted size */
            want = nos >= 0 ? os[nos - nsp + i] : s->in[j] * s->s[j];
            int64_t tot = full - want > 0 ? full - want : 0;
            pb = same_upper ? tot / 2 : tot - tot / 2;
            pe = tot - pb;
        } else if (!strcmp(ap, "VALID")) {
            pb = pe = 0;
        } else {
            pb = npd >= 0 ? pd[i] : 0;
            pe = npd >= 0 ? pd[nsp + i] : 0;
        }
        s->pb[j] = pb;
        s->out[j] = want >= 0 ? want : full - pb - pe;
        if (pb < 0 || pe < 0 || s->out[j] < 1) {
            QB_NODE_ERR(e, g, n, "pads %lld/%lld leave no output on spatial axis %d", (long long)pb, (long long)pe, i);
            return -1;
        }
        dims[2 + i] = s->out[j];
        ksz *= s->k[j];
    }
    if (B && qb_tensor_count(B) != s->cout) {
        QB_NODE_ERR(e, g, n, "bias has %lld values, %lld output channels", (long long)qb_tensor_count(B),
                    (long long)s->cout);
        return -1;
    }
    s->pix = s->in[0] * s->in[1] * s->in[2];
    s->cols = s->cout / group * ksz;
    s->tiles = 1;
    for (int j = 0; j < 3; j++)
        s->tiles &= s->k[j] == s->s[j] && s->d[j] == 1 && s->pb[j] == 0 && s->out[j] == s->in[j] * s->s[j];
    int64_t cg = s->cin / group;
    if (s->cols > (1 << 30) || cg > (1 << 30) || s->pix * s->cols > ((int64_t)1 << 31)) {
        QB_NODE_ERR(e, g, n, "too large");
        return -1;
    }
    /* blocks of input rows whose columns take about qb_gpar_conv_block bytes, whole multiples of
     * QB_GPAR_ALIGN pixels (the GEMM's row tiles fall where one call over all pixels puts them) */
    int64_t nrows = s->in[0] * s->in[1], unit = QB_GPAR_ALIGN, a = s->in[2], bb = QB_GPAR_ALIGN;
    while (bb) { /* unit = QB_GPAR_ALIGN / gcd(in[2], QB_GPAR_ALIGN) rows */
        int64_t t = a % bb;
        a = bb, bb = t;
    }
    unit /= a;
    s->rows_blk = qb_gpar_conv_block / (s->in[2] * s->cols * (int64_t)sizeof(float)) / unit * unit;
    if (s->rows_blk < unit)
        s->rows_blk = unit;
    if (s->rows_blk > nrows)
        s->rows_blk = nrows;
    /* scratch: X^T of one group [pix x cg], then the columns of one block [rows_blk * in[2] x cols] per
     * slot (tiling: blocks in chunks on the threads, one slot per chunk) */
    int64_t nb = (nrows + s->rows_blk - 1) / s->rows_blk;
    s->slots = s->tiles ? (nb < CONVT_SLOTS ? nb : CONVT_SLOTS) : 1;
    if (s->rows_blk * s->in[2] * s->cols * (int64_t)sizeof(float) > 2 * qb_gpar_conv_block)
        s->slots = 1; /* blocks of rows far over the block size (a minimal block of very wide rows): one slot */
    n->scratch = (size_t)(s->pix * cg + s->slots * s->rows_blk * s->in[2] * s->cols) * sizeof(float);
    if (W->kind == QB_T_CONST && s->tiles && s->in[0] == 1 && cg >= 1 && s->cols <= CT_DIRECT_COLS) {
        /* direct: weights as [cg x jpad] per group; no GEMM, so no pack and no scratch */
        s->jpad = (s->cols + 3) / 4 * 4;
        s->wd = calloc((size_t)(group * cg * s->jpad), sizeof(float));
        if (!s->wd) {
            QB_NODE_ERR(e, g, n, "out of memory");
            return -1;
        }
        const float *w = W->data;
        for (int64_t gi = 0; gi < group; gi++)
            for (int64_t ci = 0; ci < cg; ci++)
                for (int64_t j = 0; j < s->cols; j++)
                    s->wd[(gi * cg + ci) * s->jpad + j] = w[(gi * cg + ci) * s->cols + j];
        n->scratch = 0;
    } else if (W->kind == QB_T_CONST) {
        s->packs = calloc((size_t)group, sizeof *s->packs);
        for (int64_t gi = 0; gi < group; gi++)
            if (pack_group(g, n, s, W->data, gi, &s->packs[gi], e))
                return -1;
    }
    qb_set_out(g, n, 0, QB_DT_FLOAT, x->ndim, dims);
    return 0;
}

/* col2im when the windows tile the output (s->tiles) for input rows
 * [r0, r1) (over iz and iy; cols holds their columns): output (oz, oy,
 * ox) = (iz, iy, ix) * k + (kz, ky, kx) gets bias + its one column term
 * (the general path's bias + term: the same bits), each output row
 * written once, left to right, for group channels [0, og) starting at y
 * (c0: the group's first channel, for the bias). */
/* The fused Add + Relu (s->epi) on one stored value of channel c: the
 * chain's own operations (fuse_elem.c: v + k or k + v, then v > 0 ? v : 0). */
static inline float convt_epi(const convt_state *s, int64_t c, float v)
{
    if (!s->epi)
        return v;
    float k = s->epi_c ? s->epi_c[c] : s->epi_k;
    v = s->epi_kf ? k + v : v + k;
    return v > 0 ? v : 0;
}

/* The 2x2 tiles of input pixels [ix, iw) of one channel c (bias bv) by
 * convt_epi, one element at a time: the SIMD loops' last pixels (cp: pixel
 * ix's four columns, nc apart per pixel; d: the channel's first output row
 * of the pair). */
static inline void convt_tiles_2x2_rest(const convt_state *s, const float *cp, float *d, int64_t ix, int64_t iw,
                                        int64_t ow, int64_t nc, int64_t c, float bv)
{
    for (; ix < iw; ix++, cp += nc)
        for (int t = 0; t < 2; t++) {
            d[2 * ix + t] = convt_epi(s, c, bv + cp[t]);
            d[ow + 2 * ix + t] = convt_epi(s, c, bv + cp[2 + t]);
        }
}

static void convt_tiles(const convt_state *s, const float *cols, int64_t r0, int64_t r1, const float *bias, float *y,
                        int64_t c0)
{
    const int64_t og = s->cout / s->group, ktaps = s->k[0] * s->k[1] * s->k[2], opix = s->out[0] * s->out[1] * s->out[2];
    const int64_t kx = s->k[2], iw = s->in[2], ncols = s->cols;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t iz = r / s->in[1], iy = r % s->in[1];
        const float *crow = cols + (r - r0) * iw * ncols;
        for (int64_t co = 0; co < og; co++) {
            const float v = bias ? bias[c0 + co] : 0.0f;
            for (int64_t kz = 0; kz < s->k[0]; kz++)
                for (int64_t ky = 0; ky < s->k[1]; ky++) {
                    float *row = y + co * opix + ((iz * s->k[0] + kz) * s->out[1] + iy * s->k[1] + ky) * s->out[2];
                    const float *cp = crow + co * ktaps + (kz * s->k[1] + ky) * kx;
                    if (kx == 2)
                        for (int64_t ix = 0; ix < iw; ix++, cp += ncols) {
                            row[2 * ix] = convt_epi(s, c0 + co, v + cp[0]);
                            row[2 * ix + 1] = convt_epi(s, c0 + co, v + cp[1]);
                        }
                    else
                        for (int64_t ix = 0; ix < iw; ix++, cp += ncols)
                            for (int64_t t = 0; t < kx; t++)
                                row[ix * kx + t] = convt_epi(s, c0 + co, v + cp[t]);
                }
        }
    }
}

#if defined(__SSE2__)
/* convt_tiles for 2-D 2x2 windows (k = stride = 2): per input row and
 * output channel, each input pixel's four columns (ky, kx) of the channel
 * read as one vector, bias added, the kx pair of tap row ky stored to
 * output row 2 * iy + ky (two pixels' pairs as one 16-byte store, an odd
 * last pixel's as 8 bytes): two output rows written left to
 * right at a time (channel planes a multiple of 4 KiB apart would alias in
 * the cache if all were written at once). The same bias + term per element
 * as convt_tiles: the same bits. Channel planes are opix floats apart and
 * y holds output rows from 2 * rb on (a pair's row buffer: rb = r0). */
static void convt_tiles_2x2(const convt_state *s, const float *cols, int64_t r0, int64_t r1, const float *bias,
                            float *y, int64_t c0, int64_t opix, int64_t rb)
{
    const int64_t og = s->cout / s->group, ow = s->out[2], iw = s->in[2], nc = s->cols;
    for (int64_t iy = r0; iy < r1; iy++) {
        const float *crow = cols + (iy - r0) * iw * nc;
        for (int64_t co = 0; co < og; co++) {
            const __m128 b = _mm_set1_ps(bias ? bias[c0 + co] : 0.0f), zero = _mm_setzero_ps();
            const __m128 k = _mm_set1_ps(s->epi_c ? s->epi_c[c0 + co] : s->epi_k);
            const float *cp = crow + 4 * co;
            float *d = y + co * opix + 2 * (iy - rb) * ow;
            int64_t ix = 0;
#define CT_EPI_SSE(v)                                                                                                  \
    if (s->epi) {                                                                                                      \
        v = s->epi_kf ? _mm_add_ps(k, v) : _mm_add_ps(v, k);                                                           \
        v = _mm_and_ps(_mm_cmpgt_ps(v, zero), v); /* v > 0 ? v : 0 */                                                  \
    }
            for (; ix + 2 <= iw; ix += 2, cp += 2 * nc) { /* two pixels: 16-byte stores to each output row */
                __m128 v = _mm_add_ps(b, _mm_loadu_ps(cp)), u = _mm_add_ps(b, _mm_loadu_ps(cp + nc));
                CT_EPI_SSE(v)
                CT_EPI_SSE(u)
                _mm_storeu_ps(d + 2 * ix, _mm_movelh_ps(v, u));
                _mm_storeu_ps(d + ow + 2 * ix, _mm_movehl_ps(u, v));
            }
            for (; ix < iw; ix++, cp += nc) {
                __m128 v = _mm_add_ps(b, _mm_loadu_ps(cp));
                CT_EPI_SSE(v)
                _mm_storel_pi((__m64 *)(d + 2 * ix), v);
                _mm_storeh_pi((__m64 *)(d + ow + 2 * ix), v);
            }
#undef CT_EPI_SSE
        }
    }
}
#endif

#ifdef QB_CONVT_AVX512
/* convt_tiles_2x2 with AVX-512: per output channel, eight input pixels'
 * four columns (four 16-byte rows of the columns block) gathered into two
 * registers, their kx pairs of tap row 0 and of tap row 1 picked by two
 * permutes, bias added, one 64-byte store to each of the two output rows;
 * the remaining pixels as convt_tiles_2x2 (opix, rb likewise). The same
 * bias + term per element: the same bits. */
__attribute__((target("avx512f"))) static void convt_tiles_2x2_avx512(const convt_state *s, const float *cols,
                                                                     int64_t r0, int64_t r1, const float *bias,
                                                                     float *y, int64_t c0, int64_t opix, int64_t rb)
{
    const int64_t og = s->cout / s->group, ow = s->out[2], iw = s->in[2], nc = s->cols;
    const __m512i top = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
    const __m512i bot = _mm512_setr_epi32(2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
    for (int64_t iy = r0; iy < r1; iy++) {
        const float *crow = cols + (iy - r0) * iw * nc;
        int64_t cq = 0; /* channels done four at a time */
        if (nc == 4 * og && og % 4 == 0)
            for (; cq < og; cq += 4) { /* a pixel's columns of channels cq..cq+3 are one 64-byte row */
                __m512 b4[4], k4[4];
#pragma GCC unroll 4
                for (int t = 0; t < 4; t++) {
                    b4[t] = _mm512_set1_ps(bias ? bias[c0 + cq + t] : 0.0f);
                    k4[t] = _mm512_set1_ps(s->epi_c ? s->epi_c[c0 + cq + t] : s->epi_k);
                }
                const __m512 zero = _mm512_setzero_ps();
                const float *cp = crow + 4 * cq;
                float *d = y + cq * opix + 2 * (iy - rb) * ow;
                int64_t ix = 0;
                for (; ix + 8 <= iw; ix += 8, cp += 8 * nc) {
                    __m512 pv[8], a[4], lo[4], hi[4];
#pragma GCC unroll 8
                    for (int k = 0; k < 8; k++)
                        pv[k] = _mm512_loadu_ps(cp + k * nc);
                    /* 128-bit lanes (a pixel's four taps of one channel) to one channel's four pixels:
                     * a: pixels k, k + 1, channels 0-1 (0x44) and 2-3 (0xee); then lanes 0, 2 or 1, 3 */
#pragma GCC unroll 2
                    for (int h = 0; h < 2; h++) {
                        a[0] = _mm512_shuffle_f32x4(pv[4 * h], pv[4 * h + 1], 0x44);
                        a[1] = _mm512_shuffle_f32x4(pv[4 * h], pv[4 * h + 1], 0xee);
                        a[2] = _mm512_shuffle_f32x4(pv[4 * h + 2], pv[4 * h + 3], 0x44);
                        a[3] = _mm512_shuffle_f32x4(pv[4 * h + 2], pv[4 * h + 3], 0xee);
                        __m512 *o = h ? hi : lo;
                        o[0] = _mm512_shuffle_f32x4(a[0], a[2], 0x88);
                        o[1] = _mm512_shuffle_f32x4(a[0], a[2], 0xdd);
                        o[2] = _mm512_shuffle_f32x4(a[1], a[3], 0x88);
                        o[3] = _mm512_shuffle_f32x4(a[1], a[3], 0xdd);
                    }
#pragma GCC unroll 4
                    for (int t = 0; t < 4; t++) {
                        __m512 u = _mm512_add_ps(b4[t], _mm512_permutex2var_ps(lo[t], top, hi[t]));
                        __m512 v = _mm512_add_ps(b4[t], _mm512_permutex2var_ps(lo[t], bot, hi[t]));
                        if (s->epi) { /* the Add, then v > 0 ? v : 0 */
                            u = s->epi_kf ? _mm512_add_ps(k4[t], u) : _mm512_add_ps(u, k4[t]);
                            v = s->epi_kf ? _mm512_add_ps(k4[t], v) : _mm512_add_ps(v, k4[t]);
                            u = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(u, zero, _CMP_GT_OQ), u);
                            v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), v);
                        }
                        _mm512_storeu_ps(d + t * opix + 2 * ix, u);
                        _mm512_storeu_ps(d + t * opix + ow + 2 * ix, v);
                    }
                }
                for (; ix < iw; ix++, cp += nc)
                    for (int t4 = 0; t4 < 4; t4++)
                        for (int t = 0; t < 2; t++) {
                            const float bv = bias ? bias[c0 + cq + t4] : 0.0f;
                            d[t4 * opix + 2 * ix + t] = convt_epi(s, c0 + cq + t4, bv + cp[4 * t4 + t]);
                            d[t4 * opix + ow + 2 * ix + t] = convt_epi(s, c0 + cq + t4, bv + cp[4 * t4 + 2 + t]);
                        }
            }
        for (int64_t co = cq; co < og; co++) {
            const float bv = bias ? bias[c0 + co] : 0.0f;
            const __m512 b = _mm512_set1_ps(bv), k = _mm512_set1_ps(s->epi_c ? s->epi_c[c0 + co] : s->epi_k);
            const __m512 zero = _mm512_setzero_ps();
            const float *cp = crow + 4 * co;
            float *d = y + co * opix + 2 * (iy - rb) * ow;
            int64_t ix = 0;
            for (; ix + 8 <= iw; ix += 8, cp += 8 * nc) {
                __m512 lo = _mm512_castps128_ps512(_mm_loadu_ps(cp));
                lo = _mm512_insertf32x4(lo, _mm_loadu_ps(cp + nc), 1);
                lo = _mm512_insertf32x4(lo, _mm_loadu_ps(cp + 2 * nc), 2);
                lo = _mm512_insertf32x4(lo, _mm_loadu_ps(cp + 3 * nc), 3);
                __m512 hi = _mm512_castps128_ps512(_mm_loadu_ps(cp + 4 * nc));
                hi = _mm512_insertf32x4(hi, _mm_loadu_ps(cp + 5 * nc), 1);
                hi = _mm512_insertf32x4(hi, _mm_loadu_ps(cp + 6 * nc), 2);
                hi = _mm512_insertf32x4(hi, _mm_loadu_ps(cp + 7 * nc), 3);
                __m512 u = _mm512_add_ps(b, _mm512_permutex2var_ps(lo, top, hi));
                __m512 v = _mm512_add_ps(b, _mm512_permutex2var_ps(lo, bot, hi));
                if (s->epi) { /* the Add, then v > 0 ? v : 0 */
                    u = s->epi_kf ? _mm512_add_ps(k, u) : _mm512_add_ps(u, k);
                    v = s->epi_kf ? _mm512_add_ps(k, v) : _mm512_add_ps(v, k);
                    u = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(u, zero, _CMP_GT_OQ), u);
                    v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), v);
                }
                _mm512_storeu_ps(d + 2 * ix, u);
                _mm512_storeu_ps(d + ow + 2 * ix, v);
            }
            convt_tiles_2x2_rest(s, cp, d, ix, iw, ow, nc, c0 + co, bv);
        }
    }
}

/* convt_tiles_2x2 with AVX2 (where AVX-512 is not allowed): per output
 * channel, four input pixels' four columns as two registers (pixels 0
 * and 2, 1 and 3), the kx pairs of tap row 0 and of tap row 1 picked by
 * one vshufps each, bias added, one 32-byte store to each of the two
 * output rows; the last iw % 4 pixels as convt_tiles does (opix, rb as
 * convt_tiles_2x2). The same bias + term and chain per element: the same
 * bits. */
__attribute__((target("avx2"))) static void convt_tiles_2x2_avx2(const convt_state *s, const float *cols, int64_t r0,
                                                                 int64_t r1, const float *bias, float *y, int64_t c0,
                                                                 int64_t opix, int64_t rb)
{
    const int64_t og = s->cout / s->group, ow = s->out[2], iw = s->in[2], nc = s->cols;
    for (int64_t iy = r0; iy < r1; iy++) {
        const float *crow = cols + (iy - r0) * iw * nc;
        for (int64_t co = 0; co < og; co++) {
            const float bv = bias ? bias[c0 + co] : 0.0f;
            const __m256 b = _mm256_set1_ps(bv), zero = _mm256_setzero_ps();
            const __m256 k = _mm256_set1_ps(s->epi_c ? s->epi_c[c0 + co] : s->epi_k);
            const float *cp = crow + 4 * co;
            float *d = y + co * opix + 2 * (iy - rb) * ow;
            int64_t ix = 0;
            for (; ix + 4 <= iw; ix += 4, cp += 4 * nc) {
                __m256 a = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(cp)), _mm_loadu_ps(cp + 2 * nc), 1);
                __m256 c = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(cp + nc)), _mm_loadu_ps(cp + 3 * nc), 1);
                __m256 u = _mm256_add_ps(b, _mm256_shuffle_ps(a, c, _MM_SHUFFLE(1, 0, 1, 0))); /* tap row 0 */
                __m256 v = _mm256_add_ps(b, _mm256_shuffle_ps(a, c, _MM_SHUFFLE(3, 2, 3, 2))); /* tap row 1 */
                if (s->epi) { /* the Add, then v > 0 ? v : 0 */
                    u = s->epi_kf ? _mm256_add_ps(k, u) : _mm256_add_ps(u, k);
                    v = s->epi_kf ? _mm256_add_ps(k, v) : _mm256_add_ps(v, k);
                    u = _mm256_and_ps(_mm256_cmp_ps(u, zero, _CMP_GT_OQ), u);
                    v = _mm256_and_ps(_mm256_cmp_ps(v, zero, _CMP_GT_OQ), v);
                }
                _mm256_storeu_ps(d + 2 * ix, u);
                _mm256_storeu_ps(d + ow + 2 * ix, v);
            }
            convt_tiles_2x2_rest(s, cp, d, ix, iw, ow, nc, c0 + co, bv);
        }
    }
}
#endif

/* X^T of one image and group: xt[p * cg + ci] = xg[ci * pix + p]
 * (qb_transpose_f32: cache blocks, 4 x 4 SSE blocks inside). */
static void convt_xt(float *xt, const float *xg, int64_t cg, int64_t pix)
{
    qb_transpose_f32(xt, (size_t)cg, xg, (size_t)pix, cg, pix);
}

/* col2im of input rows [r0, r1) (over iz and iy; cols holds their
 * columns) into the group's output channels [0, og) at y: input pixel
 * (iz, iy, ix), kernel tap (kz, ky, kx) -> output (oz, oy, ox); per input
 * row, output channel and tap row one output row written left to right.
 * Each output element receives its terms in input pixel order, as a
 * pixel-by-pixel scatter would add them: the same sums. */
static void convt_scatter(const convt_state *s, const float *cols, int64_t r0, int64_t r1, float *y)
{
    const int64_t og = s->cout / s->group, opix = s->out[0] * s->out[1] * s->out[2];
    const int64_t ktaps = s->k[0] * s->k[1] * s->k[2];
    for (int64_t r = r0; r < r1; r++) {
        const int64_t iz = r / s->in[1], iy = r % s->in[1];
        const float *crow = cols + (r - r0) * s->in[2] * s->cols;
        for (int64_t co = 0; co < og; co++) {
            float *yc = y + co * opix;
            for (int64_t kz = 0; kz < s->k[0]; kz++) {
                int64_t oz = iz * s->s[0] - s->pb[0] + kz * s->d[0];
                if (oz < 0 || oz >= s->out[0])
                    continue;
                for (int64_t ky = 0; ky < s->k[1]; ky++) {
                    int64_t oy = iy * s->s[1] - s->pb[1] + ky * s->d[1];
                    if (oy < 0 || oy >= s->out[1])
                        continue;
                    float *row = yc + (oz * s->out[1] + oy) * s->out[2];
                    const float *cp = crow + co * ktaps + (kz * s->k[1] + ky) * s->k[2];
                    for (int64_t ix = 0; ix < s->in[2]; ix++, cp += s->cols)
                        for (int64_t kx = 0; kx < s->k[2]; kx++) {
                            int64_t ox = ix * s->s[2] - s->pb[2] + kx * s->d[2];
                            if (ox >= 0 && ox < s->out[2])
                                row[ox] += cp[kx];
                        }
                }
            }
        }
    }
}

/* One group's GEMM and col2im, block by block. */
typedef struct convt_job {
    qb_graph *g;             /* profile */
    const convt_state *s;    /* geometry */
    const qb_packed *pk;     /* the group's packed weights */
    const float *a;          /* X^T [pix x cg], rows lda apart */
    size_t lda;              /* its row stride */
    float *cols;             /* the column slots */
    const float *bias;       /* biases or NULL */
    float *yg;               /* the group's output planes */
    int64_t c0;              /* the group's first output channel */
    int64_t per;             /* blocks per chunk (chunk i uses slot i) */
    int64_t kernel_ns;       /* --profile: GEMM time summed over threads */
    int avx512;              /* 2x2 tiles: run convt_tiles_2x2_avx512 */
    int avx2;                /* else 2x2 tiles: run convt_tiles_2x2_avx2 (convt_avx2) */
    float *pbuf;             /* pair (s->pair): the output row buffers, one per slot, or NULL */
    const float *pbias;      /* pair: the direct ConvTranspose's bias or NULL ... */
    float *py;               /* ... and its output (the tensor this node writes) */
} convt_job;

static void convt_pair_rows(const convt_job *j, const float *buf, int64_t r0, int64_t r1);

/* A pair_regs pair on input pixels [ix, iw) of input row iy of the first
 * (crow: the row's columns, nc per pixel), one value at a time: each of
 * the first's values (ky, kx) of channel c is convt_epi(bias + term) as
 * convt_tiles writes it, the second's four columns are w * z summed in
 * channel order (convt_direct_sums: the first channel's product, then +
 * each next one), each output bias + term (convt_direct_rows) at row 2 *
 * (2 * iy + ky) + ky2, column 2 * (2 * ix + kx) + kx2 of yr's four rows
 * (ow2 apart, from row 4 * iy on). The SIMD loops' last pixels: the same
 * bits. */
static void convt_pair_px(const convt_state *s, const float *w2, const float *crow, int64_t ix, int64_t iw,
                          int64_t nc, const float *bias, float b2, float *yr, int64_t ow2)
{
    for (; ix < iw; ix++)
        for (int ky = 0; ky < 2; ky++)
            for (int kx = 0; kx < 2; kx++) {
                float a[4] = {0};
                for (int64_t c = 0; c < s->cout; c++) {
                    const float z = convt_epi(s, c, (bias ? bias[c] : 0.0f) + crow[ix * nc + 4 * c + 2 * ky + kx]);
                    for (int jj = 0; jj < 4; jj++)
                        a[jj] = c ? a[jj] + w2[4 * c + jj] * z : w2[jj] * z;
                }
                for (int ky2 = 0; ky2 < 2; ky2++)
                    for (int kx2 = 0; kx2 < 2; kx2++)
                        yr[(2 * ky + ky2) * ow2 + 2 * (2 * ix + kx) + kx2] = b2 + a[2 * ky2 + kx2];
            }
}

#ifdef QB_CONVT_AVX512
/* A pair_regs pair (det's head: 24 -> 24 -> 1, both 2x2/2) with
 * AVX-512 on the columns of input rows [r0, r1) of the first, its tiles
 * and the second's sums in registers: per input row and eight input
 * pixels, each channel's 16 values of each of the first's two output
 * rows built as convt_tiles_2x2_avx512 builds them (four channels from
 * eight 64-byte rows by lane shuffles, the rest by inserts; bias + term,
 * the fused Add + Relu), multiplied into the second's four columns
 * straight away (the first channel's w * z, then + w * z in channel
 * order: convt_direct_sums' operations), then bias + term interleaved
 * into the second's four output rows (convt_row2_avx512's permutes), and
 * the second's chain on those rows; the last iw % 8 pixels by
 * convt_pair_px. No row buffer between the two: the same bits as
 * convt_tiles_2x2_avx512 then convt_pair_rows. */
__attribute__((target("avx512f"), always_inline)) static inline void
convt_pair_avx512_body(const convt_job *j, const float *cols, int64_t r0, int64_t r1, const float *bb, const float *kk,
                       const int EPI, const int KF)
{
    const convt_state *s = j->s, *sb = j->g->nodes[s->pair - 1].state;
    const int64_t og = s->cout, iw = s->in[2], nc = s->cols, ow2 = sb->out[2], oq = og / 4 * 4;
    const float *w2 = sb->wd;
    const qb_node *chain = sb->epi_chain ? &j->g->nodes[sb->epi_chain - 1] : NULL;
    const float b2v = j->pbias ? j->pbias[0] : 0.0f;
    const __m512i top = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
    const __m512i bot = _mm512_setr_epi32(2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
    const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512 zero = _mm512_setzero_ps(), b2 = _mm512_set1_ps(b2v);
    for (int64_t iy = r0; iy < r1; iy++) {
        const float *crow = cols + (iy - r0) * iw * nc;
        float *yr = j->py + 4 * iy * ow2;
        int64_t ix = 0;
        for (; ix + 8 <= iw; ix += 8) {
            const float *cp = crow + ix * nc;
            /* the second's four columns on the first's output rows 2 iy and 2 iy + 1 (set by channel 0) */
            __m512 a0[4] = {zero, zero, zero, zero}, a1[4] = {zero, zero, zero, zero};
            /* channel c's 16 + 16 values u, v: bias + term, the Add, v > 0 ? v : 0 (max(v, 0) with 0 as
             * the second operand: 0 for NaN and for -0 as well), then into the sums */
#define CT_PAIR_CH(c, lo_, hi_)                                                                                        \
    do {                                                                                                               \
        const __m512 bc = _mm512_set1_ps(bb[c]);                                                                       \
        __m512 u = _mm512_add_ps(bc, _mm512_permutex2var_ps(lo_, top, hi_));                                           \
        __m512 v = _mm512_add_ps(bc, _mm512_permutex2var_ps(lo_, bot, hi_));                                           \
        if (EPI) {                                                                                                     \
            const __m512 kc = _mm512_set1_ps(kk[c]);                                                                   \
            u = _mm512_max_ps(KF ? _mm512_add_ps(kc, u) : _mm512_add_ps(u, kc), zero);                                 \
            v = _mm512_max_ps(KF ? _mm512_add_ps(kc, v) : _mm512_add_ps(v, kc), zero);                                 \
        }                                                                                                              \
        _Pragma("GCC unroll 4") for (int jj = 0; jj < 4; jj++)                                                         \
        {                                                                                                              \
            const __m512 wj = _mm512_set1_ps(w2[4 * (c) + jj]);                                                        \
            if (c) {                                                                                                   \
                a0[jj] = _mm512_add_ps(a0[jj], _mm512_mul_ps(wj, u));                                                  \
                a1[jj] = _mm512_add_ps(a1[jj], _mm512_mul_ps(wj, v));                                                  \
            } else {                                                                                                   \
                a0[jj] = _mm512_mul_ps(wj, u);                                                                         \
                a1[jj] = _mm512_mul_ps(wj, v);                                                                         \
            }                                                                                                          \
        }                                                                                                              \
    } while (0)
            for (int64_t cq = 0; cq < oq; cq += 4) { /* a pixel's columns of channels cq..cq+3: one 64-byte row */
                __m512 pv[8], a[4], lo[4], hi[4];
#pragma GCC unroll 8
                for (int k = 0; k < 8; k++)
                    pv[k] = _mm512_loadu_ps(cp + k * nc + 4 * cq);
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) { /* as convt_tiles_2x2_avx512 */
                    a[0] = _mm512_shuffle_f32x4(pv[4 * h], pv[4 * h + 1], 0x44);
                    a[1] = _mm512_shuffle_f32x4(pv[4 * h], pv[4 * h + 1], 0xee);
                    a[2] = _mm512_shuffle_f32x4(pv[4 * h + 2], pv[4 * h + 3], 0x44);
                    a[3] = _mm512_shuffle_f32x4(pv[4 * h + 2], pv[4 * h + 3], 0xee);
                    __m512 *o = h ? hi : lo;
                    o[0] = _mm512_shuffle_f32x4(a[0], a[2], 0x88);
                    o[1] = _mm512_shuffle_f32x4(a[0], a[2], 0xdd);
                    o[2] = _mm512_shuffle_f32x4(a[1], a[3], 0x88);
                    o[3] = _mm512_shuffle_f32x4(a[1], a[3], 0xdd);
                }
#pragma GCC unroll 4
                for (int t = 0; t < 4; t++)
                    CT_PAIR_CH(cq + t, lo[t], hi[t]);
            }
            for (int64_t c = oq; c < og; c++) { /* one channel: eight 16-byte rows by inserts */
                const float *cc = cp + 4 * c;
                __m512 lo = _mm512_castps128_ps512(_mm_loadu_ps(cc));
                lo = _mm512_insertf32x4(lo, _mm_loadu_ps(cc + nc), 1);
                lo = _mm512_insertf32x4(lo, _mm_loadu_ps(cc + 2 * nc), 2);
                lo = _mm512_insertf32x4(lo, _mm_loadu_ps(cc + 3 * nc), 3);
                __m512 hi = _mm512_castps128_ps512(_mm_loadu_ps(cc + 4 * nc));
                hi = _mm512_insertf32x4(hi, _mm_loadu_ps(cc + 5 * nc), 1);
                hi = _mm512_insertf32x4(hi, _mm_loadu_ps(cc + 6 * nc), 2);
                hi = _mm512_insertf32x4(hi, _mm_loadu_ps(cc + 7 * nc), 3);
                CT_PAIR_CH(c, lo, hi);
            }
#undef CT_PAIR_CH
            /* output rows 4 iy + 2 ky + ky2: columns 2 ky2 and 2 ky2 + 1 interleaved, bias + term */
#pragma GCC unroll 2
            for (int ky2 = 0; ky2 < 2; ky2++) {
                float *r0w = yr + ky2 * ow2 + 4 * ix, *r1w = yr + (2 + ky2) * ow2 + 4 * ix;
                __m512 e = _mm512_add_ps(b2, a0[2 * ky2]), o = _mm512_add_ps(b2, a0[2 * ky2 + 1]);
                _mm512_storeu_ps(r0w, _mm512_permutex2var_ps(e, ilo, o));
                _mm512_storeu_ps(r0w + 16, _mm512_permutex2var_ps(e, ihi, o));
                e = _mm512_add_ps(b2, a1[2 * ky2]), o = _mm512_add_ps(b2, a1[2 * ky2 + 1]);
                _mm512_storeu_ps(r1w, _mm512_permutex2var_ps(e, ilo, o));
                _mm512_storeu_ps(r1w + 16, _mm512_permutex2var_ps(e, ihi, o));
            }
        }
        convt_pair_px(s, w2, crow, ix, iw, nc, j->bias, b2v, yr, ow2);
        if (chain) /* the row's four output rows, contiguous, in L1 */
            qb_elem_chain_apply_plane(chain, 0, yr, 4 * ow2);
    }
}

/* A pair_regs pair's first: its bias (0 without) and its fused Add's
 * constant per channel, as tables (the loops test no pointer per
 * channel). */
static void convt_pair_tables(const convt_job *j, float *bb, float *kk)
{
    const convt_state *s = j->s;
    for (int64_t c = 0; c < s->cout; c++) {
        bb[c] = j->bias ? j->bias[c] : 0.0f;
        kk[c] = s->epi_c ? s->epi_c[c] : s->epi_k;
    }
}

/* A pair loop's entry: the per-channel tables, then its body with the
 * Add + Relu's presence and operand order as constants (one copy each). */
#define CT_PAIR_DISPATCH(body)                                                                                         \
    do {                                                                                                               \
        const convt_state *s_ = j->s;                                                                                  \
        float bb[CT_PAIR_MAXC], kk[CT_PAIR_MAXC];                                                                      \
        convt_pair_tables(j, bb, kk);                                                                                  \
        if (!s_->epi)                                                                                                  \
            body(j, cols, r0, r1, bb, kk, 0, 0);                                                                       \
        else if (!s_->epi_kf)                                                                                          \
            body(j, cols, r0, r1, bb, kk, 1, 0);                                                                       \
        else                                                                                                           \
            body(j, cols, r0, r1, bb, kk, 1, 1);                                                                       \
    } while (0)

/* convt_pair_avx512_body with the first's bias and the Add's constant per
 * channel in two tables and the Add + Relu's presence and operand order
 * as constants (one copy each). */
__attribute__((target("avx512f"))) static void convt_pair_avx512(const convt_job *j, const float *cols, int64_t r0,
                                                                int64_t r1)
{
    CT_PAIR_DISPATCH(convt_pair_avx512_body);
}

/* convt_pair_avx512 with AVX2 (where AVX-512 is not allowed): four input
 * pixels a step, each channel's 8 + 8 values of the first's two output
 * rows built as convt_tiles_2x2_avx2 builds them (two registers of the
 * four pixels' columns, one vshufps per row; bias + term, the fused Add +
 * Relu), multiplied into the second's four columns at once (the first
 * channel's w * z, then + w * z in channel order), bias + term
 * interleaved into the second's four output rows (unpack, then 128-bit
 * lane permutes), the second's chain on those rows; the last iw % 4
 * pixels by convt_pair_px. The same bits as the two passes. */
__attribute__((target("avx2"), always_inline)) static inline void
convt_pair_avx2_body(const convt_job *j, const float *cols, int64_t r0, int64_t r1, const float *bb, const float *kk,
                     const int EPI, const int KF)
{
    const convt_state *s = j->s, *sb = j->g->nodes[s->pair - 1].state;
    const int64_t og = s->cout, iw = s->in[2], nc = s->cols, ow2 = sb->out[2];
    const float *w2 = sb->wd;
    const qb_node *chain = sb->epi_chain ? &j->g->nodes[sb->epi_chain - 1] : NULL;
    const float b2v = j->pbias ? j->pbias[0] : 0.0f;
    const __m256 zero = _mm256_setzero_ps(), b2 = _mm256_set1_ps(b2v);
    for (int64_t iy = r0; iy < r1; iy++) {
        const float *crow = cols + (iy - r0) * iw * nc;
        float *yr = j->py + 4 * iy * ow2;
        int64_t ix = 0;
        for (; ix + 4 <= iw; ix += 4) {
            const float *cp = crow + ix * nc;
            /* the second's four columns on the first's output rows 2 iy and 2 iy + 1 (set by channel 0) */
            __m256 a0[4] = {zero, zero, zero, zero}, a1[4] = {zero, zero, zero, zero};
            for (int64_t c = 0; c < og; c++) {
                const float *cc = cp + 4 * c;
                __m256 p = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(cc)), _mm_loadu_ps(cc + 2 * nc), 1);
                __m256 q = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(cc + nc)), _mm_loadu_ps(cc + 3 * nc), 1);
                const __m256 bc = _mm256_set1_ps(bb[c]);
                __m256 u = _mm256_add_ps(bc, _mm256_shuffle_ps(p, q, _MM_SHUFFLE(1, 0, 1, 0))); /* tap row 0 */
                __m256 v = _mm256_add_ps(bc, _mm256_shuffle_ps(p, q, _MM_SHUFFLE(3, 2, 3, 2))); /* tap row 1 */
                if (EPI) { /* the Add, then v > 0 ? v : 0 as max(v, 0) (0 the second operand: NaN, -0 give 0) */
                    const __m256 kc = _mm256_set1_ps(kk[c]);
                    u = _mm256_max_ps(KF ? _mm256_add_ps(kc, u) : _mm256_add_ps(u, kc), zero);
                    v = _mm256_max_ps(KF ? _mm256_add_ps(kc, v) : _mm256_add_ps(v, kc), zero);
                }
#pragma GCC unroll 4
                for (int jj = 0; jj < 4; jj++) {
                    const __m256 wj = _mm256_set1_ps(w2[4 * c + jj]);
                    if (c) {
                        a0[jj] = _mm256_add_ps(a0[jj], _mm256_mul_ps(wj, u));
                        a1[jj] = _mm256_add_ps(a1[jj], _mm256_mul_ps(wj, v));
                    } else {
                        a0[jj] = _mm256_mul_ps(wj, u);
                        a1[jj] = _mm256_mul_ps(wj, v);
                    }
                }
            }
            /* output rows 4 iy + 2 ky + ky2: columns 2 ky2 and 2 ky2 + 1 interleaved, bias + term */
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                const __m256 *a = r < 2 ? a0 : a1;
                const int ky2 = r & 1;
                float *row = yr + ((r >> 1) * 2 + ky2) * ow2 + 4 * ix;
                __m256 e = _mm256_add_ps(b2, a[2 * ky2]), o = _mm256_add_ps(b2, a[2 * ky2 + 1]);
                __m256 l = _mm256_unpacklo_ps(e, o), h = _mm256_unpackhi_ps(e, o);
                _mm256_storeu_ps(row, _mm256_permute2f128_ps(l, h, 0x20));
                _mm256_storeu_ps(row + 8, _mm256_permute2f128_ps(l, h, 0x31));
            }
        }
        convt_pair_px(s, w2, crow, ix, iw, nc, j->bias, b2v, yr, ow2);
        if (chain) /* the row's four output rows, contiguous, in L1 */
            qb_elem_chain_apply_plane(chain, 0, yr, 4 * ow2);
    }
}

/* convt_pair_avx2_body as convt_pair_avx512 calls its body. */
__attribute__((target("avx2"))) static void convt_pair_avx2(const convt_job *j, const float *cols, int64_t r0,
                                                            int64_t r1)
{
    CT_PAIR_DISPATCH(convt_pair_avx2_body);
}
#endif

/* Input rows [r0, r1): the GEMM into cols, then col2im while in cache
 * (pair: into the slot's row buffer pbuf, then the direct ConvTranspose
 * on those rows while they are in cache). */
static void convt_block(convt_job *j, int64_t r0, int64_t r1, float *cols, float *pbuf)
{
    const convt_state *s = j->s;
    int64_t iw = s->in[2];
    qb_gemm_args ga = {.m = (int)((r1 - r0) * iw), .a = j->a + r0 * iw * (int64_t)j->lda, .lda = j->lda, .c = cols,
                       .ldc = (size_t)s->cols, .f_min = -__builtin_inff(), .f_max = __builtin_inff()};
    double t0 = j->g->profile ? qb_now_ms() : 0;
    qb_gpar_gemm(j->pk, &ga);
    if (j->g->profile)
        __atomic_fetch_add(&j->kernel_ns, (int64_t)((qb_now_ms() - t0) * 1e6), __ATOMIC_RELAXED);
#ifdef QB_CONVT_AVX512
    if (pbuf && s->pair_regs && (j->avx512 || j->avx2)) { /* the pair in registers: no row buffer */
        if (j->avx512)
            convt_pair_avx512(j, cols, r0, r1);
        else
            convt_pair_avx2(j, cols, r0, r1);
        return;
    }
#endif
    float *y = pbuf ? pbuf : j->yg;
    const int64_t opix = pbuf ? s->pair_plane : s->out[1] * s->out[2], rb = pbuf ? r0 : 0;
#ifdef QB_CONVT_AVX512
    if (s->tiles && s->nsp == 2 && s->k[1] == 2 && s->k[2] == 2 && j->avx512)
        convt_tiles_2x2_avx512(s, cols, r0, r1, j->bias, y, j->c0, opix, rb);
    else if (s->tiles && s->nsp == 2 && s->k[1] == 2 && s->k[2] == 2 && j->avx2)
        convt_tiles_2x2_avx2(s, cols, r0, r1, j->bias, y, j->c0, opix, rb);
    else
#endif
#if defined(__SSE2__)
    if (s->tiles && s->nsp == 2 && s->k[1] == 2 && s->k[2] == 2)
        convt_tiles_2x2(s, cols, r0, r1, j->bias, y, j->c0, opix, rb);
    else
#endif
    if (s->tiles)
        convt_tiles(s, cols, r0, r1, j->bias, j->yg, j->c0);
    else
        convt_scatter(s, cols, r0, r1, j->yg);
    if (pbuf)
        convt_pair_rows(j, pbuf, r0, r1);
}

/* Blocks [b0, b1) of a tiling ConvTranspose, in this chunk's slot. */
static void convt_blocks(void *ctx, int64_t b0, int64_t b1)
{
    convt_job *j = ctx;
    const convt_state *s = j->s;
    int64_t nrows = s->in[0] * s->in[1];
    float *cols = j->cols + (size_t)(b0 / j->per) * (size_t)(s->rows_blk * s->in[2] * s->cols);
    float *pbuf = j->pbuf ? j->pbuf + (size_t)(b0 / j->per) * (size_t)(s->cout * s->pair_plane) : NULL;
    for (int64_t b = b0; b < b1; b++) {
        int64_t r0 = b * s->rows_blk, r1 = r0 + s->rows_blk < nrows ? r0 + s->rows_blk : nrows;
        convt_block(j, r0, r1, cols, pbuf);
    }
}

/* The direct path (s->wd): per input row, the columns' values of CT_PX
 * pixels at a time summed from the NCHW planes, then written as bias +
 * term to their output elements (the tiles' rule). Each value is
 * w[0] * x[0] + w[1] * x[1] + ... in channel order, one rounding per
 * product and per addition (no contraction), in the plain and the
 * AVX-512 loops alike: the same bits on every ISA and thread count;
 * within float tolerance of the GEMM's sums. */
typedef struct convt_direct_job {
    const convt_state *s; /* the ConvTranspose */
    const float *x;       /* this image and group's input planes (cg of pix floats) */
    const float *w;       /* this group's [cg x jpad] weights */
    const float *bias;    /* the bias of the group's first channel, or NULL */
    float *y;             /* this image and group's output planes (og of opix floats) */
    int64_t c0;           /* the group's first output channel (the chain's per-channel operands) */
    const qb_node *chain; /* the fused chain (s->epi_chain), or NULL */
    int avx512;           /* run convt_direct_sums_avx512 */
    int avx2;             /* else run convt_direct_sums_avx2 */
    int64_t xpix;         /* floats between x's channel planes (s->pix, or a pair's row buffer planes) */
} convt_direct_job;

/* acc[j * CT_PX + i] = sum over ci of w[ci * jpad + j] * x[ci * pix + i],
 * i < np, j < jpad: the plain loops. */
static void convt_direct_sums(float *restrict acc, const float *x, int64_t pix, const float *w, int64_t cg,
                              int64_t jpad, int np)
{
    for (int64_t j = 0; j < jpad; j++)
        for (int i = 0; i < np; i++)
            acc[j * CT_PX + i] = w[j] * x[i];
    for (int64_t ci = 1; ci < cg; ci++) {
        const float *xc = x + ci * pix, *wc = w + ci * jpad;
        for (int64_t j = 0; j < jpad; j++) {
            float *a = acc + j * CT_PX, wj = wc[j];
            for (int i = 0; i < np; i++)
                a[i] = a[i] + wj * xc[i];
        }
    }
}

#ifdef QB_CONVT_AVX512
/* convt_direct_sums with AVX-512: four columns by NV vectors of 16 pixels
 * in registers (NV = ceil(np / 16), the last masked), the same multiply
 * then add. NV is a constant in each copy, so a block of 32 pixels runs
 * two vectors, not five with three of them empty. */
__attribute__((target("avx512f"), always_inline)) static inline void
convt_direct_sums_nv(float *restrict acc, const float *x, int64_t pix, const float *w, int64_t cg, int64_t jpad, int np,
                     const int NV)
{
    __mmask16 m[5];
    _Pragma("GCC unroll 5") for (int v = 0; v < NV; v++) {
        int left = np - 16 * v;
        m[v] = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
    }
    for (int64_t j0 = 0; j0 < jpad; j0 += 4) {
        __m512 a[4][5], xv[5];
        _Pragma("GCC unroll 5") for (int v = 0; v < NV; v++)
            xv[v] = _mm512_maskz_loadu_ps(m[v], x + 16 * v);
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            __m512 wj = _mm512_set1_ps(w[j0 + j]);
            _Pragma("GCC unroll 5") for (int v = 0; v < NV; v++)
                a[j][v] = _mm512_mul_ps(wj, xv[v]);
        }
        for (int64_t ci = 1; ci < cg; ci++) {
            const float *xc = x + ci * pix, *wc = w + ci * jpad + j0;
            _Pragma("GCC unroll 5") for (int v = 0; v < NV; v++)
                xv[v] = _mm512_maskz_loadu_ps(m[v], xc + 16 * v);
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
                __m512 wj = _mm512_set1_ps(wc[j]);
                _Pragma("GCC unroll 5") for (int v = 0; v < NV; v++)
                    a[j][v] = _mm512_add_ps(a[j][v], _mm512_mul_ps(wj, xv[v]));
            }
        }
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)
            _Pragma("GCC unroll 5") for (int v = 0; v < NV; v++)
                _mm512_storeu_ps(acc + (j0 + j) * CT_PX + 16 * v, a[j][v]);
    }
}

__attribute__((target("avx512f"))) static void convt_direct_sums_avx512(float *restrict acc, const float *x,
                                                                         int64_t pix, const float *w, int64_t cg,
                                                                         int64_t jpad, int np)
{
    switch ((np + 15) / 16) {
    case 1: convt_direct_sums_nv(acc, x, pix, w, cg, jpad, np, 1); break;
    case 2: convt_direct_sums_nv(acc, x, pix, w, cg, jpad, np, 2); break;
    case 3: convt_direct_sums_nv(acc, x, pix, w, cg, jpad, np, 3); break;
    case 4: convt_direct_sums_nv(acc, x, pix, w, cg, jpad, np, 4); break;
    default: convt_direct_sums_nv(acc, x, pix, w, cg, jpad, np, 5); break;
    }
}
#endif

#ifdef QB_CONVT_AVX512
/* convt_direct_sums with AVX2 (CPUs without AVX-512, QB_FORCE_ISA=avx2):
 * pixels in blocks of 24, four columns by NV vectors of 8 in registers
 * (the last masked: masked loads and stores, nothing past np), the same
 * multiply then add. */
__attribute__((target("avx2"), always_inline)) static inline void
convt_direct_sums_nv8(float *restrict acc, const float *x, int64_t pix, const float *w, int64_t cg, int64_t jpad,
                      int np, const int NV)
{
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i m[3];
    _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++)
        m[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(np - 8 * v), iota);
    for (int64_t j0 = 0; j0 < jpad; j0 += 4) {
        __m256 a[4][3], xv[3];
        _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++)
            xv[v] = _mm256_maskload_ps(x + 8 * v, m[v]);
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            __m256 wj = _mm256_set1_ps(w[j0 + j]);
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++)
                a[j][v] = _mm256_mul_ps(wj, xv[v]);
        }
        for (int64_t ci = 1; ci < cg; ci++) {
            const float *xc = x + ci * pix, *wc = w + ci * jpad + j0;
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++)
                xv[v] = _mm256_maskload_ps(xc + 8 * v, m[v]);
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
                __m256 wj = _mm256_set1_ps(wc[j]);
                _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++)
                    a[j][v] = _mm256_add_ps(a[j][v], _mm256_mul_ps(wj, xv[v]));
            }
        }
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++)
                _mm256_maskstore_ps(acc + (j0 + j) * CT_PX + 8 * v, m[v], a[j][v]);
    }
}

__attribute__((target("avx2"))) static void convt_direct_sums_avx2(float *restrict acc, const float *x, int64_t pix,
                                                                    const float *w, int64_t cg, int64_t jpad, int np)
{
    for (int p0 = 0; p0 < np; p0 += 24) {
        int nb = np - p0 < 24 ? np - p0 : 24;
        switch ((nb + 7) / 8) {
        case 1: convt_direct_sums_nv8(acc + p0, x + p0, pix, w, cg, jpad, nb, 1); break;
        case 2: convt_direct_sums_nv8(acc + p0, x + p0, pix, w, cg, jpad, nb, 2); break;
        default: convt_direct_sums_nv8(acc + p0, x + p0, pix, w, cg, jpad, nb, 3); break;
        }
    }
}
#endif

#ifdef QB_CONVT_AVX512
/* One output row of a kw = 2 direct path: row[2i + kx] = bv + a[kx * CT_PX
 * + i] for i < np (bias + term, the same operation as the plain loop),
 * 16 pixels' pairs a step interleaved by two permutes into two 64-byte
 * stores, the tail masked. */
__attribute__((target("avx512f"))) static void convt_row2_avx512(float *row, const float *a, float bv, int np)
{
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512 b = _mm512_set1_ps(bv);
    for (int i = 0; i < np; i += 16) {
        int left = np - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        __m512 e = _mm512_add_ps(b, _mm512_maskz_loadu_ps(m, a + i));
        __m512 o = _mm512_add_ps(b, _mm512_maskz_loadu_ps(m, a + CT_PX + i));
        __mmask16 m0 = left >= 8 ? (__mmask16)0xffff : (__mmask16)((1u << (2 * left)) - 1);
        __mmask16 m1 = left >= 16 ? (__mmask16)0xffff : left > 8 ? (__mmask16)((1u << (2 * (left - 8))) - 1) : 0;
        _mm512_mask_storeu_ps(row + 2 * i, m0, _mm512_permutex2var_ps(e, lo, o));
        _mm512_mask_storeu_ps(row + 2 * i + 16, m1, _mm512_permutex2var_ps(e, hi, o));
    }
}
#endif

static void convt_direct_rows(void *ctx, int64_t r0, int64_t r1)
{
    const convt_direct_job *d = ctx;
    const convt_state *s = d->s;
    const int64_t og = s->cout / s->group, cg = s->cin / s->group, kh = s->k[1], kw = s->k[2], iw = s->in[2];
    const int64_t ow = s->out[2], opix = s->out[1] * ow;
    float acc[CT_DIRECT_COLS * CT_PX];
    for (int64_t iy = r0; iy < r1; iy++)
        for (int64_t i0 = 0; i0 < iw; i0 += CT_PX) {
            int np = (int)(iw - i0 < CT_PX ? iw - i0 : CT_PX);
            const float *x = d->x + iy * iw + i0;
#ifdef QB_CONVT_AVX512
            if (d->avx512)
                convt_direct_sums_avx512(acc, x, d->xpix, d->w, cg, s->jpad, np);
            else if (d->avx2)
                convt_direct_sums_avx2(acc, x, d->xpix, d->w, cg, s->jpad, np);
            else
#endif
                convt_direct_sums(acc, x, d->xpix, d->w, cg, s->jpad, np);
            for (int64_t co = 0; co < og; co++) {
                const float bv = d->bias ? d->bias[co] : 0.0f;
                for (int64_t ky = 0; ky < kh; ky++) {
                    float *row = d->y + co * opix + (iy * kh + ky) * ow + i0 * kw;
                    const float *a = acc + (co * kh + ky) * kw * CT_PX;
                    int i = 0;
#ifdef QB_CONVT_AVX512
                    if (kw == 2 && d->avx512) {
                        convt_row2_avx512(row, a, bv, np);
                        i = np;
                    }
#endif
#if defined(__SSE2__)
                    if (kw == 2) {
                        const __m128 b = _mm_set1_ps(bv);
                        for (; i + 4 <= np; i += 4) {
                            __m128 e = _mm_add_ps(b, _mm_loadu_ps(a + i)), o = _mm_add_ps(b, _mm_loadu_ps(a + CT_PX + i));
                            _mm_storeu_ps(row + 2 * i, _mm_unpacklo_ps(e, o));
                            _mm_storeu_ps(row + 2 * i + 4, _mm_unpackhi_ps(e, o));
                        }
                    }
#endif
                    for (; i < np; i++)
                        for (int64_t kx = 0; kx < kw; kx++)
                            row[i * kw + kx] = bv + a[kx * CT_PX + i];
                }
            }
            if (d->chain && i0 + CT_PX >= iw) /* the row's kh output rows per channel, contiguous, in L1 */
                for (int64_t co = 0; co < og; co++)
                    qb_elem_chain_apply_plane(d->chain, d->c0 + co, d->y + co * opix + iy * kh * ow, kh * ow);
        }
}

/* The AVX-512 loops run: allowed on this CPU and not turned off. */
static int convt_avx512(void)
{
#ifdef QB_CONVT_AVX512
    static int ok = -1;
    if (ok < 0)
        ok = qb_avx512_allowed(QB_CPU_AVX512F);
    return ok && !convt_plain && !convt_avx2_only;
#else
    return 0;
#endif
}

/* The direct path's AVX2 loops run (where convt_avx512 does not): AVX2 on
 * this CPU under the ISA cap (QB_FORCE_ISA unset, avx2 or vnni) and not
 * turned off. */
static int convt_avx2(void)
{
#ifdef QB_CONVT_AVX512
    static int ok = -1;
    if (ok < 0)
        ok = qb_avx2_allowed();
    return ok && !convt_plain;
#else
    return 0;
#endif
}

/* The direct path over every image and group. */
static void convt_direct(const qb_graph *g, const convt_state *s, const float *x, const float *bias, float *y)
{
    const int64_t cg = s->cin / s->group, og = s->cout / s->group, opix = s->out[1] * s->out[2], rows = s->in[1];
    int avx512 = convt_avx512(), avx2 = convt_avx2();
    for (int64_t b = 0; b < s->n; b++)
        for (int64_t gi = 0; gi < s->group; gi++) {
            convt_direct_job d = {s, x + (b * s->cin + gi * cg) * s->pix, s->wd + gi * cg * s->jpad,
                                  bias ? bias + gi * og : NULL, y + (b * s->cout + gi * og) * opix, gi * og,
                                  s->epi_chain ? &g->nodes[s->epi_chain - 1] : NULL, avx512, avx2, s->pix};
            qb_gpar_for(rows, qb_gpar_chunk(rows, s->in[2] * cg * s->jpad, 1), convt_direct_rows, &d);
        }
}

/* A pair's direct ConvTranspose on the output rows of input rows [r0,
 * r1) of the tiling one, in buf (its planes s->pair_plane floats apart,
 * from output row 2 * r0 on): its input rows [2 * r0, 2 * r1), each as
 * convt_direct_rows computes it from the whole tensor (the same bits). */
static void convt_pair_rows(const convt_job *j, const float *buf, int64_t r0, int64_t r1)
{
    const convt_state *sa = j->s;
    const qb_node *bn = &j->g->nodes[sa->pair - 1];
    const convt_state *s = bn->state;
    const int64_t cg = s->cin / s->group, og = s->cout / s->group, opix = s->out[1] * s->out[2];
    const int64_t at = 2 * r0 * s->k[1] * s->out[2]; /* its first output row's offset in a plane */
    for (int64_t gi = 0; gi < s->group; gi++) {
        convt_direct_job d = {s, buf + gi * cg * sa->pair_plane, s->wd + gi * cg * s->jpad,
                              j->pbias ? j->pbias + gi * og : NULL, j->py + gi * og * opix + at, gi * og,
                              s->epi_chain ? &j->g->nodes[s->epi_chain - 1] : NULL, convt_avx512(), convt_avx2(),
                              sa->pair_plane};
        convt_direct_rows(&d, 0, 2 * (r1 - r0));
    }
}

int qb_convt_fuse_pairs(qb_graph *g)
{
    const char *env = getenv("QB_NO_CONVT_PAIR"), *envc = getenv("QB_NO_CONV_EPILOGUE");
    if (g->no_conv_epilogue || (env && *env && strcmp(env, "0")) || (envc && *envc && strcmp(envc, "0")))
        return 0;
    int made = 0;
#if defined(__SSE2__) /* the 2x2 tiles with row buffers */
    for (int i = 0; i < g->nnodes; i++) {
        qb_node *a = &g->nodes[i];
        convt_state *sa = a->state;
        if (a->folded || a->fused_into >= 0 || a->q || a->def != &qb_ops_convt[0] || !sa || !sa->tiles || sa->wd ||
            !sa->packs || sa->nsp != 2 || sa->k[1] != 2 || sa->k[2] != 2 || sa->n != 1 || sa->group != 1 || sa->pair)
            continue;
        int t = a->write_to >= 0 ? a->write_to : a->out[0], reader = -1, readers = 0;
        if (g->tensors[t]->kind != QB_T_VALUE)
            continue;
        for (int k = 0; k < g->noutputs; k++)
            readers += g->outputs[k] == t;
        for (int j = 0; j < g->nnodes; j++) {
            const qb_node *r = &g->nodes[j];
            if (r->folded || j == i)
                continue;
            for (int k = 0; k < r->nin; k++)
                if (r->in[k] == t) {
                    readers++, reader = j;
                    break;
                }
        }
        if (readers != 1 || reader < 0)
            continue;
        qb_node *b = &g->nodes[reader];
        const convt_state *sb = b->state;
        if (b->fused_into >= 0 || b->q || b->def != &qb_ops_convt[0] || !sb || !sb->wd || b->in[0] != t ||
            b->nout != 1 || sb->n != 1 || sb->cin != sa->cout || sb->in[1] != sa->out[1] || sb->in[2] != sa->out[2])
            continue;
        /* row buffers after the scratch: one per slot, cout planes of the 2 * rows_blk output rows */
        sa->pair_plane = 2 * sa->rows_blk * sa->out[2];
        sa->pair_off = (a->scratch + 63) / 64 * 64;
        a->scratch = sa->pair_off + (size_t)(sa->slots * sa->cout * sa->pair_plane) * sizeof(float);
        sa->pair = reader + 1;
        sa->pair_regs = sa->cout <= CT_PAIR_MAXC && sb->group == 1 && sb->nsp == 2 && sb->k[1] == 2 &&
                        sb->k[2] == 2 && sb->cols == 4 && sb->jpad == 4;
        if (a->epi_in < 0)
            a->epi_in = a->out[0]; /* what it computes itself */
        a->write_to = b->write_to >= 0 ? b->write_to : b->out[0];
        b->fused_into = i;
        made++;
    }
#endif
    return made;
}

int qb_convt_set_epilogue(qb_graph *g, qb_node *n, int chain)
{
    convt_state *s = n->state;
    const float *per_c;
    float k;
    int kf;
    if (s && s->wd && qb_elem_chain_planes_ok(&g->nodes[chain])) {
        s->epi_chain = chain + 1; /* direct: the chain's own steps on the rows just written */
        return 1;
    }
    if (!s || !s->tiles || s->wd || s->nsp != 2 || s->k[1] != 2 || s->k[2] != 2 ||
        !qb_elem_chain_add_relu(&g->nodes[chain], &per_c, &k, &kf))
        return 0;
    s->epi = 1, s->epi_c = per_c, s->epi_k = k, s->epi_kf = kf;
    return 1;
}

int qb_convt_nhwc_input_ok(const qb_node *n)
{
    const convt_state *s = n->state;
    return s && !s->wd;
}

static void convt_run(qb_graph *g, qb_node *n, void *scratch)
{
    const convt_state *s = n->state;
    const qb_tensor *x = qb_in(g, n, 0), *W = qb_in(g, n, 1), *B = qb_in(g, n, 2);
    qb_tensor *y = n->write_to >= 0 ? g->tensors[n->write_to] : qb_out(g, n, 0); /* a fused chain's output */
    int64_t cg = s->cin / s->group, og = s->cout / s->group, opix = s->out[0] * s->out[1] * s->out[2];
    int64_t nrows = s->in[0] * s->in[1];
    float *xt = scratch, *cols = xt + s->pix * cg, *yd = y->data;
    const float *xd = x->data, *bias = B ? B->data : NULL;
    if (s->wd) {
        convt_direct(g, s, xd, bias, yd);
        return;
    }
    for (int64_t b = 0; b < s->n; b++) {
        for (int64_t c = 0; c < s->cout && !s->tiles; c++) {
            float v = bias ? bias[c] : 0.0f;
            float *yc = yd + (b * s->cout + c) * opix;
            for (int64_t i = 0; i < opix; i++)
                yc[i] = v;
        }
        for (int64_t gi = 0; gi < s->group; gi++) {
            const float *a = xt; /* [pix x cg], rows lda apart */
            size_t lda = (size_t)cg;
            if (s->nhwc_in) {
                a = xd + b * s->cin * s->pix + gi * cg;
                lda = (size_t)s->cin;
            } else {
                convt_xt(xt, xd + (b * s->cin + gi * cg) * s->pix, cg, s->pix);
            }
            qb_packed tmp = {0};
            const qb_packed *pk = s->packs ? &s->packs[gi] : &tmp;
            if (!s->packs && pack_group(g, n, s, W->data, gi, &tmp, NULL))
                continue; /* cannot happen after a successful prepare but for memory */
            float *yg = yd + (b * s->cout + gi * og) * opix;
            convt_job j = {.g = g, .s = s, .pk = pk, .a = a, .lda = lda, .cols = cols, .bias = bias, .yg = yg,
                           .c0 = gi * og, .avx512 = convt_avx512(), .avx2 = convt_avx2()};
            if (s->pair) { /* the direct ConvTranspose after it: its bias, output (this node's) and the row buffers */
                const qb_tensor *pb = qb_in(g, &g->nodes[s->pair - 1], 2);
                j.pbuf = (float *)(void *)((char *)scratch + s->pair_off);
                j.pbias = pb ? pb->data : NULL;
                j.py = yd;
            }
            if (s->tiles) { /* blocks write disjoint output rows: chunks of them on the threads, a slot each */
                int64_t nb = (nrows + s->rows_blk - 1) / s->rows_blk;
                j.per = (nb + s->slots - 1) / s->slots;
                double t0 = g->profile ? qb_now_ms() : 0;
                qb_gpar_for(nb, j.per, convt_blocks, &j);
                if (g->profile)
                    g->kernel_ms_acc += fmin((double)j.kernel_ns * 1e-6, qb_now_ms() - t0);
            } else {
                j.per = 1;
                for (int64_t r0 = 0; r0 < nrows; r0 += s->rows_blk) /* GEMM, then col2im while in cache */
                    convt_block(&j, r0, r0 + s->rows_blk < nrows ? r0 + s->rows_blk : nrows, cols, NULL);
                if (g->profile)
                    g->kernel_ms_acc += (double)j.kernel_ns * 1e-6;
            }
            if (tmp.block)
                qb_packed_free(&tmp);
        }
    }
}

static int64_t convt_macs(const qb_graph *g, const qb_node *n)
{
    (void)g;
    const convt_state *s = n->state;
    return s ? s->n * s->pix * (s->cin / s->group) * s->cols * s->group : 0;
}

const qb_opdef qb_ops_convt[] = {
    {"ConvTranspose", convt_prepare, convt_run, convt_macs, 0, 0},
    {NULL, NULL, NULL, NULL, 0, 0},
};
