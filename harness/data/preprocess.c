/*
 * preprocess.c - the image preprocessing spec (parse "key=value,...")
 * and its application: channel order, bilinear resize (exact, or fit
 * keeping the aspect ratio and padding right/bottom), centre crop, scale,
 * mean/std per channel, NCHW or NHWC; for audio the sample rate and the
 * value scale (wav-scale). See inputs.h.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/inputs.h"

void qb_preproc_defaults(qb_preproc *p)
{
    memset(p, 0, sizeof *p);
    p->scale = 1.0f / 255.0f;
    p->nmean = p->nstd = 1;
    p->mean[0] = 0.0f;
    p->std[0] = 1.0f;
    p->wav_scale = 1.0f;
}

/* "HxW" with 1 <= H, W <= 65536. */
static int parse_hw(const char *v, int *h, int *w)
{
    char *end;
    long a = strtol(v, &end, 10);
    if (end == v || *end != 'x')
        return -1;
    const char *q = end + 1;
    long b = strtol(q, &end, 10);
    if (end == q || *end || a < 1 || b < 1 || a > 65536 || b > 65536)
        return -1;
    *h = (int)a;
    *w = (int)b;
    return 0;
}

/* A finite float, or "A/B" (scale=1/255). */
static int parse_float(const char *v, float *out)
{
    char *end;
    errno = 0;
    double a = strtod(v, &end);
    if (end == v || errno)
        return -1;
    if (*end == '/') {
        const char *q = end + 1;
        double b = strtod(q, &end);
        if (end == q || b == 0)
            return -1;
        a /= b;
    }
    if (*end || !isfinite(a) || fabs(a) > 1e30)
        return -1;
    *out = (float)a;
    return 0;
}

/* "a:b:c" (1 to 4 values). */
static int parse_list(const char *v, float *out, int *n, int positive)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    *n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
        if (*n == 4 || parse_float(t, &out[*n]) || (positive && !(out[*n] > 0)))
            return -1;
        (*n)++;
    }
    return *n ? 0 : -1;
}

int qb_preproc_parse(const char *spec, const char *where, qb_preproc *p, qb_err *e)
{
    char buf[1024];
    if (strlen(spec) >= sizeof buf) {
        qb_errf(e, "%s: longer than %zu characters", where, sizeof buf - 1);
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", spec);
    /* a file's line may end in a newline, and may use spaces between fields */
    for (char *c = buf; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == ' ' || *c == '\t')
            *c = ',';
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *v = strchr(kv, '=');
        if (!v) {
            qb_errf(e, "%s: field '%s': want key=value (keys: resize fit crop scale mean std order layout pad rate "
                    "wav-scale)", where, kv);
            return -1;
        }
        *v++ = 0;
        int bad = 0;
        if (!strcmp(kv, "resize")) {
            bad = parse_hw(v, &p->resize_h, &p->resize_w);
        } else if (!strcmp(kv, "fit")) {
            bad = parse_hw(v, &p->fit_h, &p->fit_w);
        } else if (!strcmp(kv, "crop")) {
            bad = parse_hw(v, &p->crop_h, &p->crop_w);
        } else if (!strcmp(kv, "scale")) {
            bad = parse_float(v, &p->scale) || !(p->scale > 0);
        } else if (!strcmp(kv, "mean")) {
            bad = parse_list(v, p->mean, &p->nmean, 0);
        } else if (!strcmp(kv, "std")) {
            bad = parse_list(v, p->std, &p->nstd, 1);
        } else if (!strcmp(kv, "pad")) {
            bad = parse_float(v, &p->pad);
        } else if (!strcmp(kv, "order")) {
            bad = strcmp(v, "rgb") && strcmp(v, "bgr") && strcmp(v, "gray");
            if (!bad)
                snprintf(p->order, sizeof p->order, "%s", v);
        } else if (!strcmp(kv, "layout")) {
            bad = strcmp(v, "nchw") && strcmp(v, "nhwc");
            p->layout = !strcmp(v, "nchw") ? 1 : 2;
        } else if (!strcmp(kv, "rate")) {
            char *end;
            long r = strtol(v, &end, 10);
            bad = end == v || *end || r < 1 || r > 1000000;
            p->rate = (int)r;
        } else if (!strcmp(kv, "wav-scale")) { /* unit: [-1, 1]; pcm16: the 16-bit integer values */
            if (!strcmp(v, "unit"))
                p->wav_scale = 1.0f;
            else if (!strcmp(v, "pcm16"))
                p->wav_scale = 32768.0f;
            else
                bad = parse_float(v, &p->wav_scale) || !(p->wav_scale > 0);
        } else {
            qb_errf(e, "%s: field '%s': unknown (keys: resize fit crop scale mean std order layout pad rate "
                    "wav-scale)", where, kv);
            return -1;
        }
        if (bad) {
            static const char *const want[][2] = {
                {"resize", "HxW"},          {"fit", "HxW"},       {"crop", "HxW"},
                {"scale", "a positive number or A/B"}, {"mean", "1 to 4 numbers a:b:c"},
                {"std", "1 to 4 positive numbers a:b:c"}, {"pad", "a number"}, {"order", "rgb, bgr or gray"},
                {"layout", "nchw or nhwc"}, {"rate", "a sample rate in Hz"},
                {"wav-scale", "unit, pcm16 or a positive number"}};
            const char *w = "";
            for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
                if (!strcmp(kv, want[i][0]))
                    w = want[i][1];
            qb_errf(e, "%s: field '%s': bad value '%s' (want %s)", where, kv, v, w);
            return -1;
        }
    }
    if (p->resize_h && p->fit_h) {
        qb_errf(e, "%s: field 'fit': give resize or fit, not both", where);
        return -1;
    }
    return 0;
}

/* Bilinear sample of channel c at (y, x) in source pixel coordinates
 * (half-pixel centres, edges clamped). */
static float bilinear(const qb_image *im, int c, float y, float x)
{
    y = y < 0 ? 0 : y > im->h - 1 ? (float)(im->h - 1) : y;
    x = x < 0 ? 0 : x > im->w - 1 ? (float)(im->w - 1) : x;
    int y0 = (int)y, x0 = (int)x;
    int y1 = y0 + 1 < im->h ? y0 + 1 : y0, x1 = x0 + 1 < im->w ? x0 + 1 : x0;
    float fy = y - (float)y0, fx = x - (float)x0;
    const uint8_t *p = im->px;
    int ch = im->channels;
#define PX(yy, xx) ((float)p[((size_t)(yy) * (size_t)im->w + (size_t)(xx)) * (size_t)ch + (size_t)c])
    float top = PX(y0, x0) + (PX(y0, x1) - PX(y0, x0)) * fx;
    float bot = PX(y1, x0) + (PX(y1, x1) - PX(y1, x0)) * fx;
#undef PX
    return top + (bot - top) * fy;
}

int qb_image_to_tensor(const qb_image *img, const qb_preproc *p, const qb_tensor *want, float *out,
                       const char *path, qb_err *e)
{
    /* the model's layout and size: [1,] C,H,W or [1,] H,W,C */
    int r = want->ndim;
    if ((r != 4 && r != 3) || (r == 4 && want->dims[0] != 1)) {
        char sh[160];
        qb_shape_str(want->ndim, want->dims, sh, sizeof sh);
        qb_errf(e, "%s: input '%s' of shape %s does not take an image (want [1,]CxHxW or [1,]HxWxC)", path,
                want->name, sh);
        return -1;
    }
    const int64_t *d = want->dims + (r - 3);
    int layout = p->layout;
    if (!layout)
        layout = (d[0] == 1 || d[0] == 3) ? 1 : (d[2] == 1 || d[2] == 3) ? 2 : 1;
    int C = (int)(layout == 1 ? d[0] : d[2]), H = (int)(layout == 1 ? d[1] : d[0]), W = (int)(layout == 1 ? d[2] : d[1]);
    if (C != 1 && C != 3) {
        qb_errf(e, "%s: input '%s' has %d channels in layout %s; an image gives 1 or 3", path, want->name, C,
                layout == 1 ? "nchw" : "nhwc");
        return -1;
    }
    const char *order = p->order[0] ? p->order : C == 1 ? "gray" : "rgb";
    if ((C == 1) != !strcmp(order, "gray")) {
        qb_errf(e, "%s: field 'order': %s does not give the %d channels of input '%s'", path, order, C, want->name);
        return -1;
    }
    if ((p->nmean != 1 && p->nmean != C) || (p->nstd != 1 && p->nstd != C)) {
        qb_errf(e, "%s: field '%s': %d values for %d channels", path, p->nmean != 1 && p->nmean != C ? "mean" : "std",
                p->nmean != 1 && p->nmean != C ? p->nmean : p->nstd, C);
        return -1;
    }
    /* geometry: the resized image (rh x rw) placed at the origin of a
     * canvas, then the centre crop (or the canvas) must be H x W */
    int rh = img->h, rw = img->w, ch_ = img->h, cw = img->w; /* resized size, canvas size */
    if (p->resize_h) {
        rh = ch_ = p->resize_h;
        rw = cw = p->resize_w;
    } else if (p->fit_h) {
        double s = fmin((double)p->fit_h / img->h, (double)p->fit_w / img->w);
        rh = (int)ceil(img->h * s - 1e-9);
        rw = (int)ceil(img->w * s - 1e-9);
        rh = rh < 1 ? 1 : rh > p->fit_h ? p->fit_h : rh;
        rw = rw < 1 ? 1 : rw > p->fit_w ? p->fit_w : rw;
        ch_ = p->fit_h;
        cw = p->fit_w;
    } else if (!p->crop_h) {
        /* no geometry given: resize to the model's size */
        rh = ch_ = H;
        rw = cw = W;
    }
    int oh = p->crop_h ? p->crop_h : ch_, ow = p->crop_w ? p->crop_w : cw;
    if (p->crop_h && (p->crop_h > ch_ || p->crop_w > cw)) {
        qb_errf(e, "%s: field 'crop': %dx%d is larger than the %dx%d image", path, p->crop_h, p->crop_w, ch_, cw);
        return -1;
    }
    if (oh != H || ow != W) {
        qb_errf(e, "%s: field '%s': gives %dx%d, input '%s' takes %dx%d", path,
                p->crop_h ? "crop" : p->fit_h ? "fit" : "resize", oh, ow, want->name, H, W);
        return -1;
    }
    int y_off = (ch_ - oh) / 2, x_off = (cw - ow) / 2;
    float sy = (float)img->h / (float)rh, sx = (float)img->w / (float)rw;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int cy = y + y_off, cx = x + x_off; /* canvas position */
            int inside = cy < rh && cx < rw;
            for (int c = 0; c < C; c++) {
                float v;
                if (!inside) {
                    v = p->pad;
                } else {
                    float fy = ((float)cy + 0.5f) * sy - 0.5f, fx = ((float)cx + 0.5f) * sx - 0.5f;
                    float px;
                    if (C == 1 && img->channels == 3) /* ITU-R BT.601 luma */
                        px = 0.299f * bilinear(img, 0, fy, fx) + 0.587f * bilinear(img, 1, fy, fx) +
                             0.114f * bilinear(img, 2, fy, fx);
                    else if (img->channels == 1)
                        px = bilinear(img, 0, fy, fx);
                    else
                        px = bilinear(img, !strcmp(order, "bgr") ? 2 - c : c, fy, fx);
                    float m = p->mean[p->nmean == 1 ? 0 : c], s = p->std[p->nstd == 1 ? 0 : c];
                    v = (px * p->scale - m) / s;
                }
                size_t at = layout == 1 ? ((size_t)c * H + y) * W + x : ((size_t)y * W + x) * C + c;
                out[at] = v;
            }
        }
    return 0;
}
