/*
 * test_data.c - dataset loaders: IDX files (raw and gzip) written into a
 * temporary directory at test time, good and bad (wrong magic, truncated
 * and corrupt data, label/image count mismatch, trailing bytes, missing
 * files, unreadable directory); the real Fashion-MNIST from Debian's
 * dataset-fashion-mnist (skipped when absent); the synthetic dataset's
 * determinism; validation and calibration splits (training data only);
 * normalisation statistics, and the normalisation in a model's metadata
 * through an ONNX file.
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
#include <zlib.h>

#include <cmocka.h>

#include "harness/data/dataset.h"
#include "harness/graph/graph.h"
#include "harness/model/norm_meta.h"

static char tmpdir[256]; /* per-run temporary directory */

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Build an IDX file in memory: magic, dims, then count bytes from gen. */
static size_t make_idx(unsigned char *buf, uint32_t magic, int ndim, const uint32_t *dims, size_t count)
{
    put_be32(buf, magic);
    for (int i = 0; i < ndim; i++)
        put_be32(buf + 4 + 4 * i, dims[i]);
    size_t h = 4 + 4 * (size_t)ndim;
    for (size_t i = 0; i < count; i++)
        buf[h + i] = (unsigned char)((i * 37 + 11) % (magic == 0x801 ? 10 : 256));
    return h + count;
}

static void write_raw(const char *name, const unsigned char *b, size_t n)
{
    char p[512];
    path_of(p, sizeof p, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void write_gz(const char *name, const unsigned char *b, size_t n)
{
    char p[512];
    path_of(p, sizeof p, name);
    gzFile f = gzopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, b, (unsigned)n), (int)n);
    gzclose(f);
}

static unsigned char img[4096], lab[256]; /* scratch IDX files */
static size_t img_len, lab_len;

/* 6 images of 3x4, 6 labels. */
static void make_good(void)
{
    uint32_t idim[3] = {6, 3, 4}, ldim[1] = {6};
    img_len = make_idx(img, 0x803, 3, idim, 6 * 12);
    lab_len = make_idx(lab, 0x801, 1, ldim, 6);
}

/* Expect qb_idx_load(images, labels) to fail with a message containing want. */
static void expect_fail(const char *images, const char *labels, const char *want)
{
    char ip[512], lp[512], err[512] = "";
    path_of(ip, sizeof ip, images);
    path_of(lp, sizeof lp, labels);
    qb_dataset d;
    assert_int_equal(qb_idx_load(ip, lp, QB_SPLIT_TRAIN, &d, err, sizeof err), -1);
    if (!strstr(err, want))
        fail_msg("message \"%s\" does not contain \"%s\"", err, want);
    assert_null(d.u8);
    assert_null(d.labels);
}

static void check_good(const qb_dataset *d)
{
    assert_int_equal(d->n, 6);
    assert_int_equal(d->c, 1);
    assert_int_equal(d->h, 3);
    assert_int_equal(d->w, 4);
    for (int i = 0; i < 6; i++)
        assert_int_equal(d->labels[i], (i * 37 + 11) % 10);
    for (int i = 0; i < 72; i++)
        assert_int_equal(d->u8[i], (i * 37 + 11) % 256);
    float s[12];
    qb_dataset_get(d, 1, NULL, s);
    assert_true(s[0] == (float)d->u8[12] * (1.0f / 255.0f));
}

static void test_idx_good(void **state)
{
    (void)state;
    make_good();
    write_raw("a-img", img, img_len);
    write_raw("a-lab", lab, lab_len);
    write_gz("a-img.gz", img, img_len);
    write_gz("a-lab.gz", lab, lab_len);
    char ip[512], lp[512], err[512] = "";
    qb_dataset d;
    path_of(ip, sizeof ip, "a-img");
    path_of(lp, sizeof lp, "a-lab");
    assert_int_equal(qb_idx_load(ip, lp, QB_SPLIT_TRAIN, &d, err, sizeof err), 0);
    check_good(&d);
    qb_dataset_free(&d);
    path_of(ip, sizeof ip, "a-img.gz");
    path_of(lp, sizeof lp, "a-lab.gz");
    assert_int_equal(qb_idx_load(ip, lp, QB_SPLIT_TEST, &d, err, sizeof err), 0);
    check_good(&d);
    assert_int_equal(d.split, QB_SPLIT_TEST);
    qb_dataset_free(&d);
}

static void test_idx_dir(void **state)
{
    (void)state;
    make_good();
    char dir[512], sub[512], err[512] = "";
    path_of(dir, sizeof dir, "mnistlike");
    mkdir(dir, 0700);
    write_gz("mnistlike/train-images-idx3-ubyte.gz", img, img_len);
    write_gz("mnistlike/train-labels-idx1-ubyte.gz", lab, lab_len);
    write_raw("mnistlike/t10k-images-idx3-ubyte", img, img_len); /* raw works too */
    write_raw("mnistlike/t10k-labels-idx1-ubyte", lab, lab_len);
    qb_dataset d;
    assert_int_equal(qb_idx_load_dir(dir, QB_SPLIT_TRAIN, &d, err, sizeof err), 0);
    check_good(&d);
    assert_string_equal(d.name, "mnistlike");
    qb_dataset_free(&d);
    assert_int_equal(qb_idx_load_dir(dir, QB_SPLIT_TEST, &d, err, sizeof err), 0);
    check_good(&d);
    qb_dataset_free(&d);
    /* a directory without the files: the message names the missing file */
    path_of(sub, sizeof sub, "empty");
    mkdir(sub, 0700);
    assert_int_equal(qb_idx_load_dir(sub, QB_SPLIT_TRAIN, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "train-images-idx3-ubyte"));
    /* a directory that does not exist */
    path_of(sub, sizeof sub, "no-such-dir");
    assert_int_equal(qb_idx_load_dir(sub, QB_SPLIT_TRAIN, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, sub));
    assert_non_null(strstr(err, "cannot read data directory"));
    /* a directory that cannot be read (unless we are root) */
    path_of(sub, sizeof sub, "locked");
    mkdir(sub, 0000);
    if (geteuid() != 0) {
        assert_int_equal(qb_idx_load_dir(sub, QB_SPLIT_TRAIN, &d, err, sizeof err), -1);
        assert_non_null(strstr(err, sub));
    }
    rmdir(sub);
}

static void test_idx_bad(void **state)
{
    (void)state;
    make_good();
    write_raw("g-img", img, img_len);
    write_raw("g-lab", lab, lab_len);
    /* wrong magic: labels given as images, and an image file as labels */
    expect_fail("g-lab", "g-lab", "g-lab: wrong magic number");
    expect_fail("g-img", "g-img", "g-img: wrong magic number");
    /* truncated raw: data short, header short, empty file */
    write_raw("t-img", img, img_len - 5);
    expect_fail("t-img", "g-lab", "t-img: truncated");
    write_raw("h-img", img, 10);
    expect_fail("h-img", "g-lab", "h-img: truncated");
    write_raw("e-img", img, 0);
    expect_fail("e-img", "g-lab", "e-img: truncated");
    /* trailing bytes */
    unsigned char big[4200];
    memcpy(big, img, img_len);
    memset(big + img_len, 7, 3);
    write_raw("x-img", big, img_len + 3);
    expect_fail("x-img", "g-lab", "x-img: trailing bytes");
    /* label count not matching the image count */
    uint32_t ldim[1] = {5};
    unsigned char lab5[64];
    size_t l5 = make_idx(lab5, 0x801, 1, ldim, 5);
    write_raw("five-lab", lab5, l5);
    expect_fail("g-img", "five-lab", "five-lab: 5 labels, but");
    /* a zero dimension and a huge one */
    unsigned char z[16];
    uint32_t zd[3] = {0, 28, 28};
    make_idx(z, 0x803, 3, zd, 0);
    write_raw("z-img", z, 16);
    expect_fail("z-img", "g-lab", "z-img: dimension 0 is 0");
    uint32_t hd[3] = {100000000, 280, 280};
    make_idx(z, 0x803, 3, hd, 0);
    write_raw("huge-img", z, 16);
    expect_fail("huge-img", "g-lab", "huge-img: dimensions 100000000x280x280 are more than");
    /* missing file */
    expect_fail("no-such-file", "g-lab", "no-such-file: cannot open");
    expect_fail("g-img", "no-such-lab", "no-such-lab: cannot open");
    /* gzip: truncated stream and corrupt stream */
    write_gz("gz-img", img, img_len);
    char p[512];
    path_of(p, sizeof p, "gz-img");
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    unsigned char gz[8192];
    size_t gn = fread(gz, 1, sizeof gz, f);
    fclose(f);
    assert_true(gn > 30);
    write_raw("gzt-img", gz, gn / 2);
    expect_fail("gzt-img", "g-lab", "gzt-img:");
    write_raw("gzt2-img", gz, gn - 4); /* gzip trailer cut */
    expect_fail("gzt2-img", "g-lab", "gzt2-img:");
    for (size_t i = 12; i < gn - 8; i++)
        gz[i] ^= 0x5a;
    write_raw("gzc-img", gz, gn);
    expect_fail("gzc-img", "g-lab", "gzc-img:");
}

static void test_fashion_mnist(void **state)
{
    (void)state;
    if (access(QB_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        print_message("Fashion-MNIST not installed (dataset-fashion-mnist): skipped\n");
        skip();
    }
    char err[512] = "";
    qb_dataset tr, te;
    assert_int_equal(qb_idx_load_dir(QB_FASHION_MNIST_DIR, QB_SPLIT_TRAIN, &tr, err, sizeof err), 0);
    assert_int_equal(qb_idx_load_dir(QB_FASHION_MNIST_DIR, QB_SPLIT_TEST, &te, err, sizeof err), 0);
    assert_string_equal(tr.name, "fashion-mnist");
    assert_int_equal(tr.n, 60000);
    assert_int_equal(te.n, 10000);
    const qb_dataset *ds[2] = {&tr, &te};
    for (int k = 0; k < 2; k++) {
        const qb_dataset *d = ds[k];
        assert_int_equal(d->c, 1);
        assert_int_equal(d->h, 28);
        assert_int_equal(d->w, 28);
        assert_int_equal(d->classes, 10);
        int count[10] = {0};
        for (int i = 0; i < d->n; i++) {
            assert_true(d->labels[i] >= 0 && d->labels[i] < 10);
            count[d->labels[i]]++;
        }
        for (int c = 0; c < 10; c++) /* balanced: 6000 / 1000 per class */
            assert_int_equal(count[c], d->n / 10);
    }
    /* the published normalisation matches the training set's statistics */
    qb_norm named, meas;
    assert_int_equal(qb_norm_named("fashion-mnist", &named), 0);
    assert_int_equal(qb_norm_compute(&tr, NULL, tr.n, &meas, err, sizeof err), 0);
    assert_true(fabsf(meas.mean[0] - named.mean[0]) < 1e-3f);
    assert_true(fabsf(meas.std[0] - named.std[0]) < 1e-3f);
    assert_int_equal(qb_norm_compute(&te, NULL, te.n, &meas, err, sizeof err), -1);
    qb_dataset_free(&tr);
    qb_dataset_free(&te);
}

static void test_synthetic(void **state)
{
    (void)state;
    char err[256];
    qb_dataset a, b, c, t;
    assert_int_equal(qb_synthetic(50, 2, 5, 7, 4, 0.1f, 42, QB_SPLIT_TRAIN, &a, err, sizeof err), 0);
    assert_int_equal(qb_synthetic(50, 2, 5, 7, 4, 0.1f, 42, QB_SPLIT_TRAIN, &b, err, sizeof err), 0);
    assert_int_equal(qb_synthetic(50, 2, 5, 7, 4, 0.1f, 43, QB_SPLIT_TRAIN, &c, err, sizeof err), 0);
    assert_int_equal(qb_synthetic(50, 2, 5, 7, 4, 0.1f, 42, QB_SPLIT_TEST, &t, err, sizeof err), 0);
    size_t n = 50 * 2 * 5 * 7;
    assert_memory_equal(a.f32, b.f32, n * sizeof(float));
    assert_memory_equal(a.labels, b.labels, 50 * sizeof(int32_t));
    assert_memory_not_equal(a.f32, c.f32, n * sizeof(float));
    assert_memory_not_equal(a.f32, t.f32, n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        assert_true(a.f32[i] >= 0 && a.f32[i] <= 1);
    for (int i = 0; i < 50; i++)
        assert_true(a.labels[i] >= 0 && a.labels[i] < 4);
    assert_int_equal(a.classes, 4);
    qb_dataset bad;
    assert_int_equal(qb_synthetic(0, 1, 1, 1, 2, 0.1f, 1, QB_SPLIT_TRAIN, &bad, err, sizeof err), -1);
    assert_int_equal(qb_synthetic(10, 1, 1, 1, 1, 0.1f, 1, QB_SPLIT_TRAIN, &bad, err, sizeof err), -1);
    qb_dataset_free(&a);
    qb_dataset_free(&b);
    qb_dataset_free(&c);
    qb_dataset_free(&t);
}

static void test_splits(void **state)
{
    (void)state;
    char err[256];
    qb_dataset d, t;
    assert_int_equal(qb_synthetic(100, 1, 4, 4, 5, 0.1f, 7, QB_SPLIT_TRAIN, &d, err, sizeof err), 0);
    assert_int_equal(qb_synthetic(20, 1, 4, 4, 5, 0.1f, 7, QB_SPLIT_TEST, &t, err, sizeof err), 0);
    int *tr, *va, ntr, nva, *tr2, *va2, ntr2, nva2;
    assert_int_equal(qb_split_train_val(&d, 20, 3, &tr, &ntr, &va, &nva, err, sizeof err), 0);
    assert_int_equal(ntr, 80);
    assert_int_equal(nva, 20);
    int seen[100] = {0};
    for (int i = 0; i < ntr; i++)
        seen[tr[i]]++;
    for (int i = 0; i < nva; i++)
        seen[va[i]]++;
    for (int i = 0; i < 100; i++)
        assert_int_equal(seen[i], 1); /* disjoint and complete */
    assert_int_equal(qb_split_train_val(&d, 20, 3, &tr2, &ntr2, &va2, &nva2, err, sizeof err), 0);
    assert_memory_equal(va, va2, 20 * sizeof(int)); /* seeded: same split */
    free(tr2);
    free(va2);
    assert_int_equal(qb_split_train_val(&d, 100, 3, &tr2, &ntr2, &va2, &nva2, err, sizeof err), -1);
    /* calibration: a subset of the validation indices */
    int *cal;
    assert_int_equal(qb_calib_subset(&d, va, nva, 8, 5, &cal, err, sizeof err), 0);
    for (int i = 0; i < 8; i++) {
        int found = 0;
        for (int j = 0; j < nva; j++)
            found |= cal[i] == va[j];
        assert_true(found);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(cal[i], cal[j]);
    }
    free(cal);
    assert_int_equal(qb_calib_subset(&d, va, nva, 21, 5, &cal, err, sizeof err), -1);
    /* never from the test set */
    assert_int_equal(qb_split_train_val(&t, 5, 3, &tr2, &ntr2, &va2, &nva2, err, sizeof err), -1);
    assert_non_null(strstr(err, "test set"));
    int all[20];
    for (int i = 0; i < 20; i++)
        all[i] = i;
    assert_int_equal(qb_calib_subset(&t, all, 20, 5, 5, &cal, err, sizeof err), -1);
    assert_non_null(strstr(err, "test set"));
    /* normalisation from training indices; normalised samples */
    qb_norm nm;
    assert_int_equal(qb_norm_compute(&d, tr, ntr, &nm, err, sizeof err), 0);
    assert_int_equal(nm.channels, 1);
    assert_true(nm.std[0] > 0);
    float *buf = malloc(sizeof(float) * 16 * (size_t)ntr);
    double s = 0, s2 = 0;
    for (int i = 0; i < ntr; i++)
        qb_dataset_get(&d, tr[i], &nm, buf + 16 * i);
    for (int i = 0; i < 16 * ntr; i++) {
        s += buf[i];
        s2 += (double)buf[i] * buf[i];
    }
    assert_true(fabs(s / (16.0 * ntr)) < 1e-4);
    assert_true(fabs(s2 / (16.0 * ntr) - 1.0) < 1e-3);
    free(buf);
    assert_int_equal(qb_norm_named("no-such-dataset", &nm), -1);
    free(tr);
    free(va);
    qb_dataset_free(&d);
    qb_dataset_free(&t);
}

/* Model metadata: normalisation and other keys survive an ONNX file
 * round trip exactly; absent or malformed values are refused. */
static void test_norm_meta(void **state)
{
    (void)state;
    qb_graph *g = qb_graph_new("meta");
    /* a minimal valid graph: input -> Relu -> output */
    int in = qb_graph_tensor(g, "x"), out = qb_graph_tensor(g, "y");
    qb_tensor *t = g->tensors[in];
    t->kind = QB_T_INPUT;
    t->dtype = QB_DT_FLOAT;
    t->ndim = 2;
    t->dims[0] = 1;
    t->dims[1] = 3;
    t->has_shape = 1;
    g->inputs = malloc(sizeof(int));
    g->inputs[g->ninputs++] = in;
    int ni = qb_graph_add_node(g, "Relu", "relu", 1, 1);
    g->nodes[ni].in[0] = in;
    g->nodes[ni].out[0] = out;
    g->outputs = malloc(sizeof(int));
    g->outputs[g->noutputs++] = out;
    qb_norm n = {.channels = 3, .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}}, got;
    memset(&got, 0, sizeof got);
    assert_int_equal(qb_norm_from_graph(g, &got), -1); /* none yet */
    assert_int_equal(qb_norm_to_graph(g, &n), 0);
    assert_int_equal(qb_graph_set_meta(g, "qbench.dataset", "first"), 0);
    assert_int_equal(qb_graph_set_meta(g, "qbench.dataset", "imagenet-like"), 0); /* replaced */
    assert_string_equal(qb_graph_get_meta(g, "qbench.dataset"), "imagenet-like");
    assert_null(qb_graph_get_meta(g, "qbench.nothing"));
    char path[512];
    path_of(path, sizeof path, "meta.onnx");
    qb_err e = {0};
    if (qb_onnx_save(g, path, &e))
        fail_msg("save: %s", e.msg);
    qb_graph_free(g);
    g = qb_onnx_load(path, &e);
    if (!g)
        fail_msg("load: %s", e.msg);
    assert_int_equal(g->nmeta, 4); /* mean, std, input description, dataset */
    assert_string_equal(qb_graph_get_meta(g, "qbench.dataset"), "imagenet-like");
    assert_int_equal(qb_norm_from_graph(g, &got), 0);
    assert_int_equal(got.channels, 3);
    assert_memory_equal(got.mean, n.mean, sizeof n.mean); /* %.9g: exact */
    assert_memory_equal(got.std, n.std, sizeof n.std);
    /* malformed values: refused, norm untouched */
    static const char *bad[][2] = {{"0.5,abc", "0.2,0.2"}, {"0.5,0.5", "0.2"}, {"0.5", "0"},
                                   {"0.5", "-1"},        {"", ""},         {"1,2,3,4,5", "1,1,1,1,1"},
                                   {"nan", "1"},         {"0.5,", "1,"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(qb_graph_set_meta(g, QB_META_NORM_MEAN, bad[i][0]), 0);
        assert_int_equal(qb_graph_set_meta(g, QB_META_NORM_STD, bad[i][1]), 0);
        qb_norm keep = got;
        if (qb_norm_from_graph(g, &got) != -1)
            fail_msg("accepted mean '%s' std '%s'", bad[i][0], bad[i][1]);
        assert_memory_equal(&keep, &got, sizeof got);
    }
    qb_graph_clear_meta(g);
    assert_int_equal(g->nmeta, 0);
    assert_int_equal(qb_norm_from_graph(g, &got), -1);
    qb_graph_free(g);
    /* one channel, as the zoo writes it for Fashion-MNIST */
    qb_norm f, f2;
    assert_int_equal(qb_norm_named("fashion-mnist", &f), 0);
    g = qb_graph_new("meta1");
    assert_int_equal(qb_norm_to_graph(g, &f), 0);
    assert_int_equal(qb_norm_from_graph(g, &f2), 0);
    assert_int_equal(f2.channels, 1);
    assert_memory_equal(&f2.mean[0], &f.mean[0], sizeof(float));
    assert_memory_equal(&f2.std[0], &f.std[0], sizeof(float));
    qb_graph_free(g);
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/qb_test_data.XXXXXX", base);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_good),  cmocka_unit_test(test_idx_dir),
        cmocka_unit_test(test_idx_bad),   cmocka_unit_test(test_fashion_mnist),
        cmocka_unit_test(test_synthetic), cmocka_unit_test(test_splits),
        cmocka_unit_test(test_norm_meta),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
