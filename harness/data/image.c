/*
 * image.c - PNG and JPEG decoding into 8-bit gray or RGB pixels: PNG
 * with libpng's simplified API (any bit depth, palette, alpha dropped
 * over black), JPEG with libjpeg(-turbo) (a corrupt or truncated file is
 * an error, not a gray image). See inputs.h.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h> /* after stdio.h: it uses FILE and size_t */
#include <png.h>

#include "harness/data/inputs.h"

void qb_image_free(qb_image *img)
{
    free(img->px);
    memset(img, 0, sizeof *img);
}

static int load_png(const char *path, qb_image *img, qb_err *e)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path)) {
        qb_errf(e, "%s: PNG: %s", path, pi.message);
        png_image_free(&pi);
        return -1;
    }
    int gray = !(pi.format & PNG_FORMAT_FLAG_COLOR);
    pi.format = gray ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    if ((uint64_t)pi.width * pi.height > (1u << 28)) {
        qb_errf(e, "%s: PNG: %ux%u pixels: too large", path, pi.width, pi.height);
        png_image_free(&pi);
        return -1;
    }
    img->w = (int)pi.width;
    img->h = (int)pi.height;
    img->channels = gray ? 1 : 3;
    img->px = malloc(PNG_IMAGE_SIZE(pi));
    png_color black = {0, 0, 0};
    if (!img->px || !png_image_finish_read(&pi, &black, img->px, 0, NULL)) {
        qb_errf(e, "%s: PNG: %s", path, img->px ? pi.message : "out of memory");
        png_image_free(&pi);
        qb_image_free(img);
        return -1;
    }
    return 0;
}

/* libjpeg error manager that returns to load_jpeg instead of exiting. */
typedef struct jerr {
    struct jpeg_error_mgr mgr; /* libjpeg's */
    jmp_buf jump;              /* where to go on an error */
    int warned;                /* a warning (corrupt or truncated data) was issued */
} jerr;

static void jpeg_fail(j_common_ptr c)
{
    longjmp(((jerr *)c->err)->jump, 1);
}

static void jpeg_warn(j_common_ptr c, int level)
{
    if (level < 0)
        ((jerr *)c->err)->warned = 1; /* corrupt data, premature end of file */
}

static int load_jpeg(const char *path, qb_image *img, qb_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        qb_errf(e, "%s: cannot open", path);
        return -1;
    }
    struct jpeg_decompress_struct c;
    jerr je;
    memset(&je, 0, sizeof je);
    c.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = jpeg_fail;
    je.mgr.emit_message = jpeg_warn;
    volatile int rc = -1;
    uint8_t *volatile px = NULL;
    if (setjmp(je.jump)) {
        char msg[JMSG_LENGTH_MAX];
        je.mgr.format_message((j_common_ptr)&c, msg);
        qb_errf(e, "%s: JPEG: %s", path, msg);
        goto out;
    }
    jpeg_create_decompress(&c);
    jpeg_stdio_src(&c, f);
    jpeg_read_header(&c, TRUE);
    c.out_color_space = c.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&c);
    if ((uint64_t)c.output_width * c.output_height > (1u << 28)) {
        qb_errf(e, "%s: JPEG: %ux%u pixels: too large", path, c.output_width, c.output_height);
        goto out;
    }
    size_t row = (size_t)c.output_width * (size_t)c.output_components;
    px = malloc(row * c.output_height + 1);
    if (!px) {
        qb_errf(e, "%s: out of memory", path);
        goto out;
    }
    while (c.output_scanline < c.output_height) {
        JSAMPROW r = px + row * c.output_scanline;
        jpeg_read_scanlines(&c, &r, 1);
    }
    jpeg_finish_decompress(&c);
    if (je.warned) {
        char msg[JMSG_LENGTH_MAX];
        je.mgr.format_message((j_common_ptr)&c, msg);
        qb_errf(e, "%s: JPEG: %s", path, msg);
        goto out;
    }
    img->w = (int)c.output_width;
    img->h = (int)c.output_height;
    img->channels = c.output_components;
    img->px = px;
    px = NULL;
    rc = 0;
out:
    jpeg_destroy_decompress(&c);
    fclose(f);
    free(px);
    return rc;
}

int qb_image_load(const char *path, qb_image *img, qb_err *e)
{
    memset(img, 0, sizeof *img);
    uint8_t magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        qb_errf(e, "%s: cannot open", path);
        return -1;
    }
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (n == 8 && !memcmp(magic, "\x89PNG\r\n\x1a\n", 8))
        return load_png(path, img, e);
    if (n >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF)
        return load_jpeg(path, img, e);
    qb_errf(e, "%s: not a PNG or JPEG file (magic bytes)", path);
    return -1;
}
