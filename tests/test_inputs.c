/*
 * test_inputs.c - the data-folder readers (harness/data/inputs.h): every
 * format written at test time into a temporary folder (.npy v1 by hand,
 * .npz stored and deflated with zlib, TensorProto .pb, raw float32,
 * PNG with libpng, JPEG with libjpeg, WAV with libsndfile), read against
 * a model's input description; the preprocessing spec (resize, fit,
 * crop, scale, mean/std, BGR, NHWC); labels and classes.txt; and the bad
 * cases (wrong dtype, wrong shape, truncated or corrupt files, unknown
 * classes, more tensors than inputs, bad spec values, symbolic
 * dimensions), each of which must fail with a message naming the file
 * and the field. End to end: a small model calibrated on a folder made
 * here (its ranges are the folder's, not N(0,1)'s; calibration and
 * evaluation inputs disjoint), a model of three inputs (float data, a
 * float state, an int64 input bound at prepare) calibrated and evaluated
 * on per-sample folders, and --shape on symbolic dimensions.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jpeglib.h>
#include <png.h>
#include <sndfile.h>
#include <zlib.h>

#include "harness/data/inputs.h"
#include "harness/quant/pipeline.h"

static char dir[256]; /* this test's folder */

static int fresh(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/qb_inputs_XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int cleanup(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static void write_bytes(const char *name, const void *b, size_t n)
{
    char p[512];
    path_of(p, sizeof p, name);
    char *slash = strrchr(p, '/');
    *slash = 0;
    mkdir(p, 0777);
    *slash = '/';
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void write_text(const char *name, const char *text)
{
    write_bytes(name, text, strlen(text));
}

/* A .npy (format 1.0) in memory: header padded to 64 bytes, then data. */
static size_t make_npy(uint8_t *buf, const char *descr, const char *shape, const void *data, size_t bytes)
{
    char h[128];
    int n = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    int hl = n + pad + 1;
    buf[8] = (uint8_t)hl;
    buf[9] = (uint8_t)(hl >> 8);
    memcpy(buf + 10, h, (size_t)n);
    memset(buf + 10 + n, ' ', (size_t)pad);
    buf[10 + n + pad] = '\n';
    memcpy(buf + 10 + hl, data, bytes);
    return 10 + (size_t)hl + bytes;
}

static qb_tensor want_of(const char *name, qb_dtype t, int ndim, ...)
{
    qb_tensor w;
    memset(&w, 0, sizeof w);
    w.name = (char *)name;
    w.dtype = t;
    w.ndim = ndim;
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++)
        w.dims[i] = va_arg(ap, int);
    va_end(ap);
    w.has_shape = 1;
    return w;
}

/* Load dir against want; expect failure whose message contains every
 * one of the (NULL-terminated) fragments. */
static void expect_fail(const qb_tensor *want, int nwant, const qb_preproc *pp, int nclasses, ...)
{
    qb_inputs s;
    qb_err e = {0};
    assert_int_equal(qb_inputs_load(dir, want, nwant, pp, nclasses, &s, &e), -1);
    assert_int_equal(s.n, 0);
    assert_null(s.in[0].data);
    va_list ap;
    va_start(ap, nclasses);
    for (const char *frag; (frag = va_arg(ap, const char *));) {
        if (!strstr(e.msg, frag))
            fail_msg("message '%s' does not contain '%s'", e.msg, frag);
    }
    va_end(ap);
}

static float seqf(int i)
{
    return (float)i * 0.25f - 3.0f;
}

static void test_npy_stacked_and_single(void **state)
{
    (void)state;
    uint8_t buf[4096];
    float v[12];
    for (int i = 0; i < 12; i++)
        v[i] = seqf(i);
    write_bytes("a.npy", buf, make_npy(buf, "<f4", "(2, 1, 2, 3)", v, sizeof v)); /* 2 samples */
    double d[6];
    for (int i = 0; i < 6; i++)
        d[i] = 100 + i;
    write_bytes("b.npy", buf, make_npy(buf, "<f8", "(1, 2, 3)", d, sizeof d)); /* 1 sample, no batch dim, float64 */
    qb_tensor w = want_of("x", QB_DT_FLOAT, 4, 1, 1, 2, 3);
    qb_inputs s;
    qb_err e = {0};
    assert_int_equal(qb_inputs_load(dir, &w, 1, NULL, 0, &s, &e), 0);
    assert_int_equal(s.n, 3);
    assert_null(s.labels);
    const float *x = s.in[0].data;
    for (int i = 0; i < 12; i++)
        assert_true(x[i] == seqf(i));
    for (int i = 0; i < 6; i++)
        assert_true(x[12 + i] == (float)(100 + i));
    assert_string_equal(s.source[0], "a.npy[0]");
    assert_string_equal(s.source[2], "b.npy");
    assert_string_equal(s.kinds, "npy");
    qb_inputs_free(&s);
}

static void test_npy_bad(void **state)
{
    (void)state;
    uint8_t buf[4096];
    float v[6] = {0};
    qb_tensor w = want_of("x", QB_DT_FLOAT, 4, 1, 1, 2, 3);
    int32_t iv[6] = {0};
    write_bytes("a.npy", buf, make_npy(buf, "<i4", "(1, 1, 2, 3)", iv, sizeof iv));
    expect_fail(&w, 1, NULL, 0, "a.npy", "dtype", "int32", "'x'", NULL);
    unlink(strcat(strcpy((char[512]){0}, dir), "/a.npy"));
    write_bytes("b.npy", buf, make_npy(buf, "<i2", "(1, 1, 2, 3)", iv, 12));
    expect_fail(&w, 1, NULL, 0, "b.npy", "descr", "<i2", NULL);
    unlink(strcat(strcpy((char[512]){0}, dir), "/b.npy"));
    write_bytes("c.npy", buf, make_npy(buf, "<f4", "(1, 1, 3, 2)", v, sizeof v));
    expect_fail(&w, 1, NULL, 0, "c.npy", "shape", "1x1x3x2", "1x1x2x3", NULL);
    unlink(strcat(strcpy((char[512]){0}, dir), "/c.npy"));
    size_t n = make_npy(buf, "<f4", "(1, 1, 2, 3)", v, sizeof v);
    write_bytes("d.npy", buf, n - 5); /* truncated */
    expect_fail(&w, 1, NULL, 0, "d.npy", "data", "truncated", NULL);
    write_bytes("d.npy", "\x93NUMPX", 6);
    expect_fail(&w, 1, NULL, 0, "d.npy", "magic", NULL);
    unlink(strcat(strcpy((char[512]){0}, dir), "/d.npy"));
    write_text("notes.md", "hello");
    expect_fail(&w, 1, NULL, 0, "notes.md", "unknown input file type", NULL);
}

/* A zip holding the members (name, bytes) stored (deflated = 0) or deflated. */
static size_t make_zip(uint8_t *out, int n, const char *const *names, uint8_t *const *data, const size_t *len,
                       int deflated)
{
    size_t p = 0, local[8], csz[8];
    uint32_t crc[8];
    for (int i = 0; i < n; i++) {
        crc[i] = (uint32_t)crc32(0, data[i], (uInt)len[i]);
        local[i] = p;
        uint8_t *h = out + p;
        memset(h, 0, 30);
        memcpy(h, "PK\x03\x04", 4);
        h[8] = deflated ? 8 : 0;
        size_t nl = strlen(names[i]);
        h[26] = (uint8_t)nl;
        memcpy(h + 30, names[i], nl);
        uint8_t *d = h + 30 + nl;
        if (deflated) {
            z_stream z;
            memset(&z, 0, sizeof z);
            assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
            z.next_in = data[i];
            z.avail_in = (uInt)len[i];
            z.next_out = d;
            z.avail_out = 1 << 16;
            assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
            csz[i] = z.total_out;
            deflateEnd(&z);
        } else {
            memcpy(d, data[i], len[i]);
            csz[i] = len[i];
        }
        p += 30 + nl + csz[i];
    }
    size_t cd = p;
    for (int i = 0; i < n; i++) {
        uint8_t *h = out + p;
        memset(h, 0, 46);
        memcpy(h, "PK\x01\x02", 4);
        h[10] = deflated ? 8 : 0;
        for (int b = 0; b < 4; b++) {
            h[16 + b] = (uint8_t)(crc[i] >> (8 * b));
            h[20 + b] = (uint8_t)(csz[i] >> (8 * b));
            h[24 + b] = (uint8_t)(len[i] >> (8 * b));
            h[42 + b] = (uint8_t)(local[i] >> (8 * b));
        }
        size_t nl = strlen(names[i]);
        h[28] = (uint8_t)nl;
        memcpy(h + 46, names[i], nl);
        p += 46 + nl;
    }
    uint8_t *h = out + p;
    memset(h, 0, 22);
    memcpy(h, "PK\x05\x06", 4);
    h[8] = h[10] = (uint8_t)n;
    size_t cdl = p - cd;
    for (int b = 0; b < 4; b++) {
        h[12 + b] = (uint8_t)(cdl >> (8 * b));
        h[16 + b] = (uint8_t)(cd >> (8 * b));
    }
    return p + 22;
}

static void test_npz_two_inputs(void **state)
{
    (void)state;
    static uint8_t a[4096], b[4096], zip[1 << 17];
    float x[8];
    for (int i = 0; i < 8; i++)
        x[i] = seqf(i);
    int64_t sr[1] = {16000};
    size_t la = make_npy(a, "<f4", "(1, 8)", x, sizeof x), lb = make_npy(b, "<i8", "()", sr, sizeof sr);
    const char *names[] = {"input.npy", "sr.npy"};
    uint8_t *data[] = {a, b};
    size_t lens[] = {la, lb};
    write_bytes("s0.npz", zip, make_zip(zip, 2, names, data, lens, 0));
    write_bytes("s1.npz", zip, make_zip(zip, 2, names, data, lens, 1)); /* np.savez_compressed */
    qb_tensor w[2] = {want_of("input", QB_DT_FLOAT, 2, 1, 8), want_of("sr", QB_DT_INT64, 0)};
    qb_inputs s;
    qb_err e = {0};
    assert_int_equal(qb_inputs_load(dir, w, 2, NULL, 0, &s, &e), 0);
    assert_int_equal(s.n, 2);
    for (int j = 0; j < 2; j++) {
        const float *xs = qb_inputs_at(&s, 0, j);
        for (int i = 0; i < 8; i++)
            assert_true(xs[i] == seqf(i));
        assert_int_equal(*(const int64_t *)qb_inputs_at(&s, 1, j), 16000);
    }
    qb_inputs_free(&s);

    /* a flipped byte in a deflated member: CRC or inflate error */
    size_t n = make_zip(zip, 2, names, data, lens, 1);
    zip[40] ^= 0x55;
    write_bytes("s1.npz", zip, n);
    expect_fail(w, 2, NULL, 0, "s1.npz", "member input.npy", NULL);
    /* truncated archive */
    write_bytes("s1.npz", zip, 30);
    expect_fail(w, 2, NULL, 0, "s1.npz", "zip", NULL);
    /* a third array: more than the model's inputs */
    const char *names3[] = {"input.npy", "sr.npy", "extra.npy"};
    uint8_t *data3[] = {a, b, a};
    size_t lens3[] = {la, lb, la};
    write_bytes("s1.npz", zip, make_zip(zip, 3, names3, data3, lens3, 0));
    expect_fail(w, 2, NULL, 0, "s1.npz", "3 arrays, the model has 2 inputs", NULL);
    /* a missing input */
    write_bytes("s1.npz", zip, make_zip(zip, 1, names, data, lens, 0));
    expect_fail(w, 2, NULL, 0, "s1.npz", "no array for input 'sr'", NULL);
    /* a flat .npy for a two-input model */
    unlink(strcat(strcpy((char[512]){0}, dir), "/s1.npz"));
    write_bytes("t.npy", a, la);
    expect_fail(w, 2, NULL, 0, "t.npy", "2 inputs", NULL);
}

static void test_pb_folders(void **state)
{
    (void)state;
    float x[6], y[2] = {7, 8};
    for (int i = 0; i < 6; i++)
        x[i] = seqf(i);
    qb_tensor t0 = want_of("a", QB_DT_FLOAT, 2, 1, 6), t1 = want_of("b", QB_DT_FLOAT, 2, 1, 2);
    t0.data = x;
    t1.data = y;
    qb_err e = {0};
    char p[512];
    for (int s = 0; s < 2; s++) {
        char sub[64];
        snprintf(sub, sizeof sub, "test_data_set_%d/input_0.pb", s);
        write_text(sub, ""); /* creates the folder */
        path_of(p, sizeof p, sub);
        assert_int_equal(qb_tensor_save_pb(p, &t0, &e), 0);
        snprintf(sub, sizeof sub, "test_data_set_%d/input_1.pb", s);
        path_of(p, sizeof p, sub);
        assert_int_equal(qb_tensor_save_pb(p, &t1, &e), 0);
        snprintf(sub, sizeof sub, "test_data_set_%d/output_0.pb", s); /* expected outputs: left out */
        path_of(p, sizeof p, sub);
        assert_int_equal(qb_tensor_save_pb(p, &t1, &e), 0);
    }
    qb_tensor w[2] = {want_of("a", QB_DT_FLOAT, 2, 1, 6), want_of("b", QB_DT_FLOAT, 2, 1, 2)};
    qb_inputs s;
    assert_int_equal(qb_inputs_load(dir, w, 2, NULL, 0, &s, &e), 0);
    assert_int_equal(s.n, 2);
    assert_true(((const float *)qb_inputs_at(&s, 0, 1))[5] == seqf(5));
    assert_true(((const float *)qb_inputs_at(&s, 1, 1))[1] == 8);
    assert_string_equal(s.source[1], "test_data_set_1");
    qb_inputs_free(&s);
    /* the same folders for a one-input model: more tensors than inputs */
    expect_fail(w, 1, NULL, 0, "test_data_set_0", "more tensors than the model's 1 input", NULL);
    /* a flat .pb of the wrong shape */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s/test_data_set_*", dir);
    assert_int_equal(system(cmd), 0);
    path_of(p, sizeof p, "one.pb");
    assert_int_equal(qb_tensor_save_pb(p, &t1, &e), 0);
    expect_fail(w, 1, NULL, 0, "one.pb", "shape", "1x2", "'a' takes 1x6", NULL);
}

static void test_raw(void **state)
{
    (void)state;
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = seqf(i);
    write_bytes("x.raw", x, sizeof x);
    qb_tensor w = want_of("x", QB_DT_FLOAT, 2, 1, 6);
    qb_inputs s;
    qb_err e = {0};
    assert_int_equal(qb_inputs_load(dir, &w, 1, NULL, 0, &s, &e), 0);
    assert_int_equal(s.n, 2);
    assert_true(((const float *)qb_inputs_at(&s, 0, 1))[0] == seqf(6));
    qb_inputs_free(&s);
    write_bytes("x.raw", x, 10);
    expect_fail(&w, 1, NULL, 0, "x.raw", "size", "10 bytes", NULL);
}

/* A w x h RGB PNG with pixel (y, x, c) = 10*y + 3*x + 50*c. */
static void write_png(const char *name, int w, int h)
{
    uint8_t px[64 * 64 * 3];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                px[(y * w + x) * 3 + c] = (uint8_t)(10 * y + 3 * x + 50 * c);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)w;
    pi.height = (png_uint_32)h;
    pi.format = PNG_FORMAT_RGB;
    char p[512];
    path_of(p, sizeof p, name);
    assert_int_not_equal(png_image_write_to_file(&pi, p, 0, px, 0, NULL), 0);
}

static void test_png_preprocess(void **state)
{
    (void)state;
    write_png("img.png", 6, 4);
    qb_tensor w = want_of("x", QB_DT_FLOAT, 4, 1, 3, 4, 6);
    qb_inputs s;
    qb_err e = {0};
    /* defaults: NCHW RGB, x / 255 */
    assert_int_equal(qb_inputs_load(dir, &w, 1, NULL, 0, &s, &e), 0);
    assert_int_equal(s.n, 1);
    const float *v = s.in[0].data;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 6; x++)
                assert_float_equal(v[(c * 4 + y) * 6 + x], (10 * y + 3 * x + 50 * c) / 255.0f, 1e-6);
    qb_inputs_free(&s);
    /* BGR, NHWC, mean/std per channel, scale 1 */
    qb_preproc p;
    qb_preproc_defaults(&p);
    assert_int_equal(qb_preproc_parse("order=bgr,layout=nhwc,scale=1,mean=1:2:3,std=2:4:8", "--preprocess", &p, &e), 0);
    qb_tensor wh = want_of("x", QB_DT_FLOAT, 4, 1, 4, 6, 3);
    assert_int_equal(qb_inputs_load(dir, &wh, 1, &p, 0, &s, &e), 0);
    v = s.in[0].data;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 6; x++)
            for (int c = 0; c < 3; c++) {
                float px = (float)(10 * y + 3 * x + 50 * (2 - c));
                assert_float_equal(v[(y * 6 + x) * 3 + c], (px - (float)(c + 1)) / (float)(2 << c), 1e-5);
            }
    qb_inputs_free(&s);
    /* fit 4x12 keeps the aspect ratio (4x6) and pads the right half */
    qb_preproc_defaults(&p);
    assert_int_equal(qb_preproc_parse("fit=4x12,pad=-1", "spec", &p, &e), 0);
    qb_tensor wf = want_of("x", QB_DT_FLOAT, 4, 1, 3, 4, 12);
    assert_int_equal(qb_inputs_load(dir, &wf, 1, &p, 0, &s, &e), 0);
    v = s.in[0].data;
    assert_float_equal(v[5], 15 / 255.0f, 1e-6);
    assert_float_equal(v[6], -1.0f, 0);
    assert_float_equal(v[11], -1.0f, 0);
    qb_inputs_free(&s);
    /* resize 2x3 (halving) then centre crop 2x2: bilinear at half-pixel centres */
    qb_preproc_defaults(&p);
    assert_int_equal(qb_preproc_parse("resize=2x3 crop=2x2 scale=1", "spec", &p, &e), 0);
    qb_tensor wc = want_of("x", QB_DT_FLOAT, 4, 1, 3, 2, 2);
    assert_int_equal(qb_inputs_load(dir, &wc, 1, &p, 0, &s, &e), 0);
    v = s.in[0].data;
    /* output (0,0) is resized column 0, row 0: source (0.5, 0.5) -> 10*0.5 + 3*0.5 */
    assert_float_equal(v[0], 6.5f, 1e-4);
    qb_inputs_free(&s);
    /* the image does not give the model's size without a resize */
    qb_preproc_defaults(&p);
    assert_int_equal(qb_preproc_parse("crop=4x4", "spec", &p, &e), 0);
    expect_fail(&w, 1, &p, 0, "img.png", "crop", "4x4", "takes 4x6", NULL);
    /* a gray model with rgb order */
    qb_preproc_defaults(&p);
    assert_int_equal(qb_preproc_parse("order=rgb", "spec", &p, &e), 0);
    qb_tensor wg = want_of("x", QB_DT_FLOAT, 4, 1, 1, 4, 6);
    expect_fail(&wg, 1, &p, 0, "img.png", "order", NULL);
    /* a truncated PNG */
    char path[512];
    path_of(path, sizeof path, "img.png");
    truncate(path, 60);
    expect_fail(&w, 1, NULL, 0, "img.png", "PNG", NULL);
    /* the folder's preprocess.txt with a bad value */
    write_png("img.png", 6, 4);
    write_text("preprocess.txt", "# spec\nmean=0.5:x\n");
    expect_fail(&w, 1, NULL, 0, "preprocess.txt", "'mean'", "0.5:x", NULL);
}

static void test_preproc_parse_bad(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"resize=48", "'resize'"}, {"resize=0x3", "'resize'"}, {"crop=axb", "'crop'"},    {"scale=0", "'scale'"},
        {"scale=1/0", "'scale'"},  {"std=1:0:1", "'std'"},     {"mean=1:2:3:4:5", "'mean'"}, {"order=rbg", "'order'"},
        {"layout=chw", "'layout'"}, {"rate=-5", "'rate'"},     {"size=3", "'size'"},       {"resize=2x2,fit=2x2", "'fit'"},
        {"scale", "'scale'"},      {"pad=nan", "'pad'"},       {"wav-scale=pcm8", "'wav-scale'"},
        {"wav-scale=-1", "'wav-scale'"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qb_preproc p;
        qb_preproc_defaults(&p);
        qb_err e = {0};
        assert_int_equal(qb_preproc_parse(bad[i][0], "--preprocess", &p, &e), -1);
        if (!strstr(e.msg, bad[i][1]) || !strstr(e.msg, "--preprocess"))
            fail_msg("%s: message '%s'", bad[i][0], e.msg);
    }
}

static void test_jpeg(void **state)
{
    (void)state;
    /* an 8x8 gray JPEG at quality 100: decoded within a few levels */
    uint8_t px[64];
    for (int i = 0; i < 64; i++)
        px[i] = (uint8_t)(100 + (i % 8) * 4);
    char p[512];
    path_of(p, sizeof p, "g.jpg");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jm;
    c.err = jpeg_std_error(&jm);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = 8;
    c.image_height = 8;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < 8; y++) {
        JSAMPROW r = px + 8 * y;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    long size = ftell(f);
    fclose(f);
    qb_tensor w = want_of("x", QB_DT_FLOAT, 4, 1, 1, 8, 8);
    qb_preproc pp;
    qb_preproc_defaults(&pp);
    pp.scale = 1;
    qb_inputs s;
    qb_err e = {0};
    assert_int_equal(qb_inputs_load(dir, &w, 1, &pp, 0, &s, &e), 0);
    const float *v = s.in[0].data;
    for (int i = 0; i < 64; i++)
        assert_float_equal(v[i], px[i], 3.0);
    assert_string_equal(s.kinds, "jpg");
    qb_inputs_free(&s);
    /* an RGB model takes the gray JPEG? no: order gray gives 1 channel */
    qb_tensor w3 = want_of("x", QB_DT_INT64, 4, 1, 1, 8, 8);
    expect_fail(&w3, 1, NULL, 0, "g.jpg", "dtype", NULL);
    /* truncated: premature end of data */
    truncate(p, size / 2);
    expect_fail(&w, 1, NULL, 0, "g.jpg", "JPEG", NULL);
}

static void write_wav(const char *name, int frames, int channels, int rate)
{
    char p[512];
    path_of(p, sizeof p, name);
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *f = sf_open(p, SFM_WRITE, &info);
    assert_non_null(f);
    float *x = malloc((size_t)frames * (size_t)channels * sizeof *x);
    for (int i = 0; i < frames * channels; i++)
        x[i] = (float)sin(i * 0.01) * 0.5f;
    assert_int_equal(sf_writef_float(f, x, frames), frames);
    sf_close(f);
    free(x);
}

static void test_wav(void **state)
{
    (void)state;
    write_wav("speech.wav", 1000, 1, 16000);
    qb_tensor w = want_of("input", QB_DT_FLOAT, 2, 1, 256);
    qb_preproc pp;
    qb_preproc_defaults(&pp);
    pp.rate = 16000;
    qb_inputs s;
    qb_err e = {0};
    assert_int_equal(qb_inputs_load(dir, &w, 1, &pp, 0, &s, &e), 0);
    assert_int_equal(s.n, 3); /* whole windows of 256 */
    const float *v = qb_inputs_at(&s, 0, 1);
    assert_float_equal(v[0], (float)sin(256 * 0.01) * 0.5f, 1e-6);
    assert_string_equal(s.source[2], "speech.wav[2]");
    qb_inputs_free(&s);
    /* wav-scale=pcm16: the 16-bit integer values (openWakeWord's front end) */
    assert_int_equal(qb_preproc_parse("wav-scale=pcm16", "spec", &pp, &e), 0);
    assert_int_equal(qb_inputs_load(dir, &w, 1, &pp, 0, &s, &e), 0);
    v = qb_inputs_at(&s, 0, 1);
    assert_float_equal(v[0], (float)sin(256 * 0.01) * 0.5f * 32768.0f, 0.05);
    qb_inputs_free(&s);
    assert_int_equal(qb_preproc_parse("wav-scale=unit", "spec", &pp, &e), 0);
    assert_true(pp.wav_scale == 1.0f);
    pp.rate = 8000;
    expect_fail(&w, 1, &pp, 0, "speech.wav", "rate", "16000", NULL);
    qb_tensor big = want_of("input", QB_DT_FLOAT, 2, 1, 4096);
    expect_fail(&big, 1, NULL, 0, "speech.wav", "shorter than one window", NULL);
    char p[512];
    path_of(p, sizeof p, "speech.wav");
    truncate(p, 2000); /* the header announces 4000 bytes of data */
    expect_fail(&w, 1, NULL, 0, "speech.wav", "data: truncated", NULL);
    write_wav("speech.wav", 1000, 2, 16000);
    expect_fail(&w, 1, NULL, 0, "speech.wav", "channels", NULL);
    write_text("speech.wav", "RIFF garbage");
    expect_fail(&w, 1, NULL, 0, "speech.wav", "audio", NULL);
}

static void test_labels(void **state)
{
    (void)state;
    uint8_t buf[4096];
    float v[12] = {0};
    write_bytes("a.npy", buf, make_npy(buf, "<f4", "(2, 6)", v, sizeof v)); /* 2 samples */
    write_bytes("b.npy", buf, make_npy(buf, "<f4", "(1, 6)", v, 24));
    write_text("classes.txt", "cat\ndog\nbird\n");
    write_text("labels.csv", "file,label\nb.npy,bird\na.npy,1\n");
    qb_tensor w = want_of("x", QB_DT_FLOAT, 2, 1, 6);
    qb_inputs s;
    qb_err e = {0};
    assert_int_equal(qb_inputs_load(dir, &w, 1, NULL, 3, &s, &e), 0);
    assert_int_equal(s.n, 3);
    assert_non_null(s.labels);
    assert_int_equal(s.labels[0], 1);
    assert_int_equal(s.labels[1], 1);
    assert_int_equal(s.labels[2], 2);
    assert_int_equal(s.nclasses, 3);
    qb_inputs_free(&s);
    write_text("labels.csv", "b.npy,fish\na.npy,1\n");
    expect_fail(&w, 1, NULL, 3, "labels.csv", "line 1", "fish", "classes.txt", NULL);
    write_text("labels.csv", "b.npy,2\nc.npy,1\n");
    expect_fail(&w, 1, NULL, 3, "labels.csv", "line 2", "c.npy", NULL);
    write_text("labels.csv", "b.npy,2\n");
    expect_fail(&w, 1, NULL, 3, "labels.csv", "no label", "a.npy", NULL);
    /* without classes.txt: indices below the model's class count */
    char p[512];
    path_of(p, sizeof p, "classes.txt");
    unlink(p);
    write_text("labels.csv", "b.npy 2\na.npy 5\n");
    expect_fail(&w, 1, NULL, 3, "labels.csv", "line 2", "'5'", "0..2", NULL);
}

static void test_symbolic_and_empty(void **state)
{
    (void)state;
    qb_tensor w = want_of("x", QB_DT_FLOAT, 4, 1, 3, 48, 0);
    expect_fail(&w, 1, NULL, 0, "input 'x'", "dimension 3", "--shape", NULL);
    qb_tensor ok = want_of("x", QB_DT_FLOAT, 2, 1, 4);
    expect_fail(&ok, 1, NULL, 0, "no input files", NULL);
    qb_inputs s;
    qb_err e = {0};
    assert_int_equal(qb_inputs_load("/nonexistent/qb", &ok, 1, NULL, 0, &s, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/qb"));
}

/* y = x W^T + b, x [N, 8] (N symbolic), W 4x8, saved to dir/m.onnx. */
static void save_gemm(const char *path)
{
    qb_graph *g = qb_graph_new("gemm");
    g->opset = 13;
    int xi = qb_graph_tensor(g, "x"), wi = qb_graph_tensor(g, "w"), bi = qb_graph_tensor(g, "b");
    qb_tensor *x = g->tensors[xi], *w = g->tensors[wi], *b = g->tensors[bi];
    x->dtype = w->dtype = b->dtype = QB_DT_FLOAT;
    x->ndim = 2, x->dims[0] = 1, x->dims[1] = 8, x->sym[0] = 1, x->has_shape = 1, x->kind = QB_T_INPUT;
    w->ndim = 2, w->dims[0] = 4, w->dims[1] = 8, w->has_shape = 1, w->kind = QB_T_CONST;
    b->ndim = 1, b->dims[0] = 4, b->has_shape = 1, b->kind = QB_T_CONST;
    w->data = malloc(32 * sizeof(float));
    b->data = calloc(4, sizeof(float));
    for (int i = 0; i < 32; i++)
        ((float *)w->data)[i] = (float)((i * 7) % 11) / 11.0f - 0.4f;
    g->inputs = malloc(sizeof(int));
    g->inputs[g->ninputs++] = xi;
    int n = qb_graph_add_node(g, "Gemm", "fc", 3, 1);
    g->nodes[n].in[0] = xi, g->nodes[n].in[1] = wi, g->nodes[n].in[2] = bi;
    g->nodes[n].out[0] = qb_graph_tensor(g, "y");
    g->nodes[n].attr = calloc(1, sizeof(qb_attr));
    g->nodes[n].nattr = 1;
    g->nodes[n].attr[0].name = strdup("transB");
    g->nodes[n].attr[0].type = QB_ATTR_INT;
    g->nodes[n].attr[0].i = 1;
    g->outputs = malloc(sizeof(int));
    g->outputs[g->noutputs++] = g->nodes[n].out[0];
    qb_err e;
    if (qb_graph_sort(g, &e) || qb_onnx_save(g, path, &e))
        fail_msg("%s", e.msg);
    qb_graph_free(g);
}

static void test_pipeline_calibrates_on_folder(void **state)
{
    (void)state;
    char model[512], data[512];
    path_of(model, sizeof model, "m.onnx");
    save_gemm(model);
    path_of(data, sizeof data, "data/");
    mkdir(data, 0777);
    /* 10 samples in [0, 0.05]: far from N(0,1) */
    for (int i = 0; i < 10; i++) {
        uint8_t buf[512];
        float v[8];
        for (int j = 0; j < 8; j++)
            v[j] = 0.05f * (float)((i + j) % 9) / 8.0f;
        char name[64];
        snprintf(name, sizeof name, "data/s%02d.npy", i);
        write_bytes(name, buf, make_npy(buf, "<f4", "(1, 8)", v, sizeof v));
    }
    qb_pipeline_opts o;
    qb_pipeline_defaults(&o);
    o.model = model;
    o.prec = QB_PREC_INT8_CHANNEL;
    o.method = "ptq-minmax";
    o.data = data;
    o.batch = 4;
    qb_pipeline_data d;
    qb_pipeline_result r;
    qb_err e = {0};
    if (qb_pipeline_data_open(&o, &d, &e) || qb_pipeline_evaluate(&o, &d, &r, &e))
        fail_msg("%s", e.msg);
    /* half calibrates, the other half evaluates: disjoint */
    assert_int_equal(d.calib.n, 5);
    assert_int_equal(d.eval.n, 5);
    assert_ptr_equal(d.eval.x, d.calib.x + 5 * 8);
    assert_string_equal(d.inputs.source[5], "s05.npy");
    assert_int_equal(r.cal.samples, 5);
    float data_max = r.cal.layers[0].in_qp.scale * (127 - r.cal.layers[0].in_qp.zero);
    assert_true(data_max <= 0.06f && data_max >= 0.03f);
    assert_true(r.m.sqnr_db > 20);
    qb_pipeline_result_free(&r);
    qb_pipeline_data_close(&d);
    /* the same on seeded N(0,1) inputs: a range tens of times wider */
    o.data = NULL;
    o.dataset = "none";
    o.calib = 64;
    o.limit = 16;
    if (qb_pipeline_data_open(&o, &d, &e) || qb_pipeline_plan(&o, &d, &r, &e))
        fail_msg("%s", e.msg);
    float none_max = r.cal.layers[0].in_qp.scale * (127 - r.cal.layers[0].in_qp.zero);
    assert_true(none_max > 20 * data_max);
    qb_pipeline_result_free(&r);
    qb_pipeline_data_close(&d);
    /* --calib as large as the folder leaves nothing to evaluate */
    o.data = data;
    o.calib = 10;
    o.calib_given = 1;
    assert_int_equal(qb_pipeline_data_open(&o, &d, &e), -1);
    assert_non_null(strstr(e.msg, "no evaluation inputs"));
}

/* A model of three inputs, as recurrent and audio models have them:
 * y = Reshape(Gemm(x) + h, shp), x [N, 8] float (N symbolic), h [1, 4]
 * float (a state), shp int64 [2] (its values shape the graph: bound when
 * the graph is prepared, like Silero VAD's sample rate). */
static void save_three_inputs(const char *path)
{
    qb_graph *g = qb_graph_new("three");
    g->opset = 13;
    int xi = qb_graph_tensor(g, "x"), hi = qb_graph_tensor(g, "h"), si = qb_graph_tensor(g, "shp");
    int wi = qb_graph_tensor(g, "w"), bi = qb_graph_tensor(g, "b");
    qb_tensor *x = g->tensors[xi], *h = g->tensors[hi], *sh = g->tensors[si], *w = g->tensors[wi],
              *b = g->tensors[bi];
    x->dtype = h->dtype = w->dtype = b->dtype = QB_DT_FLOAT;
    sh->dtype = QB_DT_INT64;
    x->ndim = 2, x->dims[0] = 1, x->dims[1] = 8, x->sym[0] = 1, x->has_shape = 1, x->kind = QB_T_INPUT;
    h->ndim = 2, h->dims[0] = 1, h->dims[1] = 4, h->has_shape = 1, h->kind = QB_T_INPUT;
    sh->ndim = 1, sh->dims[0] = 2, sh->has_shape = 1, sh->kind = QB_T_INPUT;
    w->ndim = 2, w->dims[0] = 4, w->dims[1] = 8, w->has_shape = 1, w->kind = QB_T_CONST;
    b->ndim = 1, b->dims[0] = 4, b->has_shape = 1, b->kind = QB_T_CONST;
    w->data = malloc(32 * sizeof(float));
    b->data = calloc(4, sizeof(float));
    for (int i = 0; i < 32; i++)
        ((float *)w->data)[i] = (float)((i * 7) % 11) / 11.0f - 0.4f;
    g->inputs = malloc(3 * sizeof(int));
    g->inputs[g->ninputs++] = xi;
    g->inputs[g->ninputs++] = hi;
    g->inputs[g->ninputs++] = si;
    int n = qb_graph_add_node(g, "Gemm", "fc", 3, 1);
    g->nodes[n].in[0] = xi, g->nodes[n].in[1] = wi, g->nodes[n].in[2] = bi;
    g->nodes[n].out[0] = qb_graph_tensor(g, "g");
    g->nodes[n].attr = calloc(1, sizeof(qb_attr));
    g->nodes[n].nattr = 1;
    g->nodes[n].attr[0].name = strdup("transB");
    g->nodes[n].attr[0].type = QB_ATTR_INT;
    g->nodes[n].attr[0].i = 1;
    int a = qb_graph_add_node(g, "Add", "add", 2, 1);
    g->nodes[a].in[0] = g->nodes[n].out[0], g->nodes[a].in[1] = hi;
    g->nodes[a].out[0] = qb_graph_tensor(g, "a");
    int r = qb_graph_add_node(g, "Reshape", "reshape", 2, 1);
    g->nodes[r].in[0] = g->nodes[a].out[0], g->nodes[r].in[1] = si;
    g->nodes[r].out[0] = qb_graph_tensor(g, "y");
    g->outputs = malloc(sizeof(int));
    g->outputs[g->noutputs++] = g->nodes[r].out[0];
    qb_err e;
    if (qb_graph_sort(g, &e) || qb_onnx_save(g, path, &e))
        fail_msg("%s", e.msg);
    qb_graph_free(g);
}

/* Sample i of the three-input model into data/sNN/{x,h,shp}.npy; shp1: the
 * first value of shp (1 everywhere but in a bad sample). */
static void write_three(int i, int64_t shp1)
{
    uint8_t buf[512];
    float x[8], h[4];
    for (int j = 0; j < 8; j++)
        x[j] = 0.05f * (float)((i + j) % 9) / 8.0f;
    for (int j = 0; j < 4; j++)
        h[j] = (float)(i % 3) + 0.5f * (float)j; /* the state moves the output far more than x */
    int64_t shp[2] = {shp1, 4};
    char name[64];
    snprintf(name, sizeof name, "data/s%02d", i);
    char p[512];
    path_of(p, sizeof p, name);
    mkdir(p, 0777);
    snprintf(name, sizeof name, "data/s%02d/x.npy", i);
    write_bytes(name, buf, make_npy(buf, "<f4", "(1, 8)", x, sizeof x));
    snprintf(name, sizeof name, "data/s%02d/h.npy", i);
    write_bytes(name, buf, make_npy(buf, "<f4", "(1, 4)", h, sizeof h));
    snprintf(name, sizeof name, "data/s%02d/shp.npy", i);
    write_bytes(name, buf, make_npy(buf, "<i8", "(2,)", shp, sizeof shp));
}

static void test_pipeline_multi_input(void **state)
{
    (void)state;
    char model[512], data[512];
    path_of(model, sizeof model, "m3.onnx");
    save_three_inputs(model);
    path_of(data, sizeof data, "data");
    mkdir(data, 0777);
    for (int i = 0; i < 10; i++)
        write_three(i, 1);
    qb_pipeline_opts o;
    qb_pipeline_defaults(&o);
    o.model = model;
    o.prec = QB_PREC_INT8_CHANNEL;
    o.method = "ptq-minmax";
    o.data = data;
    qb_pipeline_data d;
    qb_pipeline_result r;
    qb_err e = {0};
    if (qb_pipeline_data_open(&o, &d, &e) || qb_pipeline_evaluate(&o, &d, &r, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(d.inputs.ninputs, 3);
    assert_int_equal(d.calib.n, 5);
    assert_int_equal(d.eval.n, 5);
    assert_int_equal(d.eval.first, 5);
    assert_int_equal(r.cal.samples, 5);
    /* the layer's input range is the folder's x ([0, 0.05]), not N(0,1) */
    float data_max = r.cal.layers[0].in_qp.scale * (127 - r.cal.layers[0].in_qp.zero);
    assert_true(data_max <= 0.06f && data_max >= 0.03f);
    assert_true(r.m.sqnr_db > 20);
    /* the reference outputs carry each sample's own state h: y = Wx + h */
    float *ref = NULL;
    int64_t outs = 0;
    if (qb_reference_outputs(d.model, &d.eval, 1, -1, &ref, &outs, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(outs, 4);
    for (int i = 0; i < d.eval.n; i++) {
        int s = 5 + i;
        for (int c = 0; c < 4; c++) {
            double want = (double)(s % 3) + 0.5 * c;
            for (int j = 0; j < 8; j++)
                want += (double)(((c * 8 + j) * 7) % 11 / 11.0f - 0.4f) * (double)(0.05f * (float)((s + j) % 9) / 8.0f);
            assert_true(fabs(ref[i * 4 + c] - want) < 1e-4);
        }
    }
    free(ref);
    qb_pipeline_result_free(&r);
    qb_pipeline_data_close(&d);
    /* seeded inputs feed one input: a clear message, not a crash */
    o.data = NULL;
    o.dataset = "none";
    assert_int_equal(qb_pipeline_data_open(&o, &d, &e), -1);
    assert_non_null(strstr(e.msg, "--data DIR"));
    /* a sample whose graph-shaping input differs from the first's is named */
    write_three(7, 2);
    o.data = data;
    o.dataset = "fashion-mnist";
    assert_int_equal(qb_pipeline_data_open(&o, &d, &e), -1);
    if (!strstr(e.msg, "'shp'") || !strstr(e.msg, "s07"))
        fail_msg("message '%s' does not name input 'shp' and sample s07", e.msg);
    /* a sample folder missing an input is named too */
    write_three(7, 1);
    char p[512];
    path_of(p, sizeof p, "data/s03/h.npy");
    unlink(p);
    assert_int_equal(qb_pipeline_data_open(&o, &d, &e), -1);
    if (!strstr(e.msg, "s03") || !strstr(e.msg, "'h'"))
        fail_msg("message '%s' does not name sample s03 and input 'h'", e.msg);
}

static void test_shapes(void **state)
{
    (void)state;
    qb_graph *g = qb_graph_new("sym.onnx");
    int xi = qb_graph_tensor(g, "x");
    qb_tensor *x = g->tensors[xi];
    x->dtype = QB_DT_FLOAT;
    x->ndim = 4;
    x->dims[0] = x->dims[3] = 1, x->dims[1] = 3, x->dims[2] = 48;
    x->sym[0] = x->sym[3] = 1;
    x->has_shape = 1;
    g->inputs = malloc(sizeof(int));
    g->inputs[g->ninputs++] = xi;
    qb_err e = {0};
    assert_int_equal(qb_input_symbolic(g, &e), -1);
    assert_non_null(strstr(e.msg, "input 'x': dimension 3 is symbolic"));
    assert_non_null(strstr(e.msg, "--shape x=1x3x48xN"));
    qb_input_shapes s = {0};
    assert_int_equal(qb_input_shape_parse("x=1x3x48x320", &s, &e), 0);
    assert_int_equal(qb_input_shapes_apply(&s, g, &e), 0);
    assert_int_equal(x->dims[3], 320);
    assert_int_equal(x->sym[3], 0);
    assert_int_equal(x->sym[0], 1); /* the batch stays free */
    assert_int_equal(qb_input_symbolic(g, &e), 0);
    qb_input_shapes bad = {0};
    assert_int_equal(qb_input_shape_parse("1x4x48x320", &bad, &e), 0); /* by position */
    assert_int_equal(qb_input_shapes_apply(&bad, g, &e), -1);
    assert_non_null(strstr(e.msg, "dimension 1 of input 'x' is fixed at 3"));
    qb_input_shapes other = {0};
    assert_int_equal(qb_input_shape_parse("y=1x3", &other, &e), 0);
    assert_int_equal(qb_input_shapes_apply(&other, g, &e), -1);
    assert_non_null(strstr(e.msg, "no input 'y' (inputs: x)"));
    qb_input_shapes rank = {0};
    assert_int_equal(qb_input_shape_parse("x=1x3x48", &rank, &e), 0);
    assert_int_equal(qb_input_shapes_apply(&rank, g, &e), -1);
    assert_non_null(strstr(e.msg, "rank 4, not 3"));
    qb_input_shapes two = {0};
    assert_int_equal(qb_input_shape_parse("1x3x48x320", &two, &e), 0);
    assert_int_equal(qb_input_shape_parse("1x3", &two, &e), 0);
    assert_int_equal(qb_input_shapes_apply(&two, g, &e), -1);
    assert_non_null(strstr(e.msg, "--shape number 2: the model has 1 input"));
    static const char *const syntax[] = {"x=", "x=0x3", "=1x2", "1x", "ax3", "x=1x3x48x320y"};
    for (size_t i = 0; i < sizeof syntax / sizeof syntax[0]; i++) {
        qb_input_shapes t = {0};
        assert_int_equal(qb_input_shape_parse(syntax[i], &t, &e), -1);
        assert_non_null(strstr(e.msg, "--shape"));
    }
    qb_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_npy_stacked_and_single, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_npy_bad, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_npz_two_inputs, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_pb_folders, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_raw, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_png_preprocess, fresh, cleanup),
        cmocka_unit_test(test_preproc_parse_bad),
        cmocka_unit_test_setup_teardown(test_jpeg, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_wav, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_labels, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_symbolic_and_empty, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_pipeline_calibrates_on_folder, fresh, cleanup),
        cmocka_unit_test_setup_teardown(test_pipeline_multi_input, fresh, cleanup),
        cmocka_unit_test(test_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
