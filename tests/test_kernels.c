/*
 * test_kernels.c - every kernel in the registry (and every SIMDe-emulated
 * VNNI kernel) against the scalar reference of its family: awkward shapes
 * M, N, K from {1, 3, 7, 15, 16, 17, 31, 33, 64, 65, 127, 257}, every int4
 * group size, odd K, strided rows, fused clamps, raw int32 outputs and
 * values at the ends of every range. Integer paths bit-exact, float paths
 * within the tolerance of harness/eval/kernel_check.c. Kernels this CPU
 * cannot run are skipped with the reason. QB_TEST_FILTER=SUBSTRING limits
 * the run to tests whose name ("KERNEL" or "KERNEL (simde)") contains it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness/eval/kernel_check.h"
#include "tests/emulated.h"

static const int shapes[] = {1, 3, 7, 15, 16, 17, 31, 33, 64, 65, 127, 257};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))


/* Set for the SIMDe copies: their failures name the test to rerun, as
 * the repro line's qbench runs the native kernel. */
static int emulated_now;

static void run_case(const qb_kernel *k, qb_check_case c)
{
    qb_check_result r;
    int rc = qb_check_kernel(k, &c, &r);
    if (rc != 0)
        fail_msg("%s%s%s%s", r.msg, emulated_now ? " (SIMDe copy: QB_TEST_FILTER='" : "",
                 emulated_now ? k->name : "", emulated_now ? " (simde)' build/tests/test_kernels)" : "");
}

static int is_int8(const qb_kernel *k)
{
    return qb_precision_is_int8(k->prec);
}

static void check_gemm(const qb_kernel *k)
{
    uint64_t seed = 1;
    /* every (M, N) pair, K cycling through the set: each K 12 times */
    for (int i = 0; i < NSHAPES; i++)
        for (int j = 0; j < NSHAPES; j++) {
            qb_check_case c = {.m = shapes[i], .n = shapes[j], .k = shapes[(i + j) % NSHAPES],
                               .seed = seed++};
            if (k->prec == QB_PREC_INT4)
                c.group = (int[]){0, 32, 64, 128}[(i + 2 * j) % 4];
            run_case(k, c);
        }
    /* every K with a few (M, N), in each variant */
    static const int mn[][2] = {{1, 1}, {1, 65}, {7, 17}, {16, 33}, {5, 64}};
    for (int l = 0; l < NSHAPES; l++)
        for (int s = 0; s < 5; s++) {
            qb_check_case c = {.m = mn[s][0], .n = mn[s][1], .k = shapes[l], .seed = seed++};
            c.relu = s & 1;
            c.lda_extra = (s % 3) * 5;
            c.ldc_extra = (s % 2) * 3;
            c.fill = (s + l) % 2 ? QB_FILL_EXTREME : QB_FILL_RANDOM;
            c.out_i32 = is_int8(k) && s == 2;
            if (k->prec == QB_PREC_INT4)
                c.group = (int[]){0, 32, 64, 128}[s % 4];
            run_case(k, c);
        }
    /* int4: every group size on K that is not a multiple of it */
    if (k->prec == QB_PREC_INT4)
        for (int g = 0; g < 4; g++)
            for (int kk = 1; kk <= 301; kk += 60) {
                qb_check_case c = {.m = 3, .n = 19, .k = kk, .group = (int[]){0, 32, 64, 128}[g],
                                   .seed = seed++, .fill = (kk & 1) ? QB_FILL_EXTREME : QB_FILL_RANDOM};
                run_case(k, c);
            }
    /* larger K: accumulators past 16 bits, several K blocks */
    qb_check_case big = {.m = 9, .n = 40, .k = 2049, .group = k->prec == QB_PREC_INT4 ? 128 : 0,
                         .seed = seed++, .fill = QB_FILL_EXTREME};
    run_case(k, big);
}

static void check_dw(const qb_kernel *k)
{
    static const int hw[] = {1, 2, 3, 5, 8, 17};
    static const int ch[] = {1, 3, 7, 8, 16, 17, 31, 32, 33, 64, 65}; /* 32: two pixels a 64-lane block (VNNI) */
    uint64_t seed = 1000;
    int oh, ow;
    /* 3x3, dilation 1, stride 1 or 2, padding 0 or 1 (the fast paths) */
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < (int)(sizeof ch / sizeof *ch); b++)
            for (int v = 0; v < 4; v++) {
                int pad = (v >> 1) & 1;
                qb_check_case c = {.n = ch[b], .h = hw[a], .w = hw[(a + b + v) % 6], .kh = 3, .kw = 3,
                                   .sh = 1 + (v & 1), .sw = 1 + (v & 1), .dh = 1, .dw = 1, .pad_t = pad,
                                   .pad_l = pad, .pad_b = pad, .pad_r = pad, .seed = seed++};
                c.relu = (a + b) & 1;
                c.fill = (a + v) % 3 == 0 ? QB_FILL_EXTREME : QB_FILL_RANDOM;
                if (qb_check_dw_out(&c, &oh, &ow))
                    continue;
                run_case(k, c);
            }
    /* other windows {kh, kw, sh, sw, dh, dw}: sizes 1..7, strides 1..3 (different per axis),
     * dilations, asymmetric padding (also wider than the window: pixels without a tap) */
    static const int win[][6] = {{5, 5, 1, 1, 1, 1}, {5, 5, 2, 2, 1, 1}, {7, 7, 1, 1, 1, 1}, {3, 3, 2, 1, 1, 1},
                                 {3, 3, 1, 1, 2, 2}, {1, 1, 1, 1, 1, 1}, {3, 1, 1, 1, 1, 1}, {1, 5, 1, 2, 1, 1},
                                 {2, 2, 2, 2, 1, 1}, {3, 3, 3, 3, 1, 1}, {5, 3, 1, 2, 2, 1}, {3, 3, 1, 1, 1, 1}};
    static const int ch2[] = {1, 7, 16, 17, 32, 33, 65};
    for (int i = 0; i < 12; i++)
        for (int b = 0; b < (int)(sizeof ch2 / sizeof *ch2); b++)
            for (int v = 0; v < 3; v++) {
                const int *wn = win[i];
                qb_check_case c = {.n = ch2[b], .h = (int[]){6, 11, 19}[v], .w = (int[]){13, 7, 22}[(b + v) % 3],
                                   .kh = wn[0], .kw = wn[1], .sh = wn[2], .sw = wn[3], .dh = wn[4], .dw = wn[5],
                                   .pad_t = (v + i) % 3, .pad_l = (v + 1) % 3, .pad_b = (b + i) % 2,
                                   .pad_r = (i + v) % 4, .seed = seed++};
                if (i == 11) { /* padding wider than the window */
                    c.pad_t = 4, c.pad_l = 3 + v, c.pad_b = 5, c.pad_r = 0;
                }
                c.relu = (b + v) & 1;
                c.fill = (i + b + v) % 3 == 0 ? QB_FILL_EXTREME : QB_FILL_RANDOM;
                if (qb_check_dw_out(&c, &oh, &ow))
                    continue;
                run_case(k, c);
            }
}

/* The repro line of a failed check names every field of the case that
 * qbench can replay (tests/cli.sh runs these very commands). */
static void test_repro_line(void **state)
{
    (void)state;
    char buf[256];
    const qb_kernel *g = qb_kernel_get(QB_OP_GEMM, QB_PREC_INT8_CHANNEL, QB_ISA_VNNI);
    qb_check_case c = {.m = 7, .n = 17, .k = 33, .out_i32 = 1, .lda_extra = 5, .ldc_extra = 3, .relu = 1,
                       .fill = QB_FILL_EXTREME, .seed = 77};
    qb_check_repro(g, &c, buf, sizeof buf);
    assert_string_equal(buf, "qbench gemm -p int8-channel -i vnni -s 7x17x33 --out-i32 --lda-extra 5 --ldc-extra 3 "
                             "--relu --fill extreme --seed 77 --check");
    const qb_kernel *i4 = qb_kernel_get(QB_OP_GEMM, QB_PREC_INT4, QB_ISA_SCALAR);
    qb_check_case c4 = {.m = 3, .n = 19, .k = 61, .group = 32, .seed = 5};
    qb_check_repro(i4, &c4, buf, sizeof buf);
    assert_string_equal(buf, "qbench gemm -p int4 -i scalar -s 3x19x61 -g 32 --seed 5 --check");
    const qb_kernel *d = qb_kernel_get(QB_OP_DWCONV, QB_PREC_FP32, QB_ISA_AVX2);
    qb_check_case cd = {.h = 9, .w = 8, .n = 17, .kh = 5, .kw = 3, .sh = 2, .sw = 1, .dh = 1, .dw = 2, .pad_t = 2,
                        .pad_l = 0, .pad_b = 1, .pad_r = 3, .relu = 1, .fill = QB_FILL_EXTREME, .seed = 1234};
    qb_check_repro(d, &cd, buf, sizeof buf);
    assert_string_equal(buf, "qbench dwconv -p fp32 -i avx2 -s 9x8x17 -k 5x3 --stride 2x1 --dilation 1x2 "
                             "--pad 2,0,1,3 --relu --fill extreme --seed 1234 --check");
}

typedef struct entry {
    const qb_kernel *k; /* kernel under test */
    int emulated;       /* runs through SIMDe */
} entry;

static void test_one(void **state)
{
    const entry *e = *state;
    char why[200];
    if (!e->emulated && !qb_kernel_available(e->k, why, sizeof why)) {
        print_message("[  SKIP    ] %s: %s\n", e->k->name, why);
        skip();
        return;
    }
    emulated_now = e->emulated;
    if (e->k->op == QB_OP_GEMM)
        check_gemm(e->k);
    else
        check_dw(e->k);
}

int main(void)
{
    int n, ne;
    const qb_kernel *all = qb_kernels(&n);
    const qb_kernel *emu = qb_emulated_kernels(&ne);
    struct CMUnitTest *tests = calloc((size_t)(n + ne + 1), sizeof *tests);
    entry *entries = calloc((size_t)(n + ne), sizeof *entries);
    char (*names)[96] = calloc((size_t)(n + ne), sizeof *names);
    int t = 0;
    tests[t++] = (struct CMUnitTest){"repro line", test_repro_line, NULL, NULL, NULL};
    for (int i = 0; i < n + ne; i++) {
        const qb_kernel *k = i < n ? &all[i] : &emu[i - n];
        if (k->isa == QB_ISA_SCALAR)
            continue; /* the references themselves: tests/test_scalar.c */
        if (!k->run.gemm)
            continue; /* another architecture's kernel: not in this binary */
        snprintf(names[t], sizeof names[t], "%s%s", k->name, i >= n ? " (simde)" : "");
        const char *only = getenv("QB_TEST_FILTER"); /* substring of test names to run */
        if (only && *only && !strstr(names[t], only))
            continue;
        entries[t] = (entry){k, i >= n};
        tests[t] = (struct CMUnitTest){names[t], test_one, NULL, NULL, &entries[t]};
        t++;
    }
    int failed = _cmocka_run_group_tests("kernels vs scalar reference", tests, (size_t)t, NULL, NULL);
    free(tests);
    free(entries);
    free(names);
    return failed ? 1 : 0;
}
