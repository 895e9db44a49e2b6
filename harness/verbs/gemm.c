/*
 * gemm.c - the kernel benchmark verbs: `qbench gemm` (GEMM, -s MxNxK) and
 * `qbench dwconv` (depthwise 3x3, -s HxWxC, --stride 1|2, padding 1). Each
 * times one kernel (or every available kernel with -p all / -i all) on one
 * shape with hot caches through the sweep's measurement loop, prints the
 * median time with its 95% interval, percentiles, robust CV and outliers,
 * and GOP/s (one MAC = 2 ops; for binary one bit-MAC = 2 ops), and with --check compares the result
 * against the scalar reference (exit 1 on a mismatch). The data comes
 * from --seed S (default 42) and the case options of the kernel checks
 * (--relu, --fill, gemm: --out-i32, --lda-extra, --ldc-extra; dwconv:
 * --pad), so a failed check's repro line replays it exactly. Context goes
 * to stderr, data to stdout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/eval/kernel_check.h"
#include "harness/measure/loop.h"
#include "harness/verbs/verbs.h"

#define MAX_DIM 1000000
#define MAX_ELEMS (1ull << 31) /* per operand */

/* The median's 95% interval may be at most +-3% of it (else: noisy). */
#define QB_GEMM_CI 0.03
/* The robust statistics appended to the CSV columns of the verbs. */
#define QB_GEMM_CSV_STATS "ci_low_ms,ci_high_ms,p5_ms,p95_ms,p99_ms,iqr_ms,mad_ms,robust_cv,outliers,calls_per_sample,status"

typedef struct gemm_opts {
    qb_op op;       /* kernel family: QB_OP_GEMM or QB_OP_DWCONV3X3 */
    const char *verb; /* "gemm" or "dwconv", for messages */
    int prec;       /* precision, or -1 for all */
    int isa;        /* ISA, or -1 for all */
    int m, n, k;    /* GEMM shape; dwconv: m = H, n = W, k = C */
    int stride;     /* dwconv stride (1 or 2) */
    int group;      /* int4 group size */
    int reps;       /* timed repetitions, 0 = automatic */
    int check;      /* compare against scalar */
    int csv;        /* CSV on stdout */
    int pad;        /* dwconv: padding on every side */
    int relu;       /* fuse a ReLU clamp into the output */
    int out_i32;    /* int8: raw int32 outputs */
    int lda_extra;  /* gemm: extra elements between rows of A */
    int ldc_extra;  /* gemm: extra elements between rows of C */
    qb_fill fill;   /* data generation */
    unsigned long long seed; /* data seed */
} gemm_opts;

static int usage_error(const gemm_opts *o, const char *fmt, const char *arg)
{
    fprintf(stderr, "qbench %s: ", o->verb);
    fprintf(stderr, fmt, arg);
    if (o->op == QB_OP_GEMM)
        fprintf(stderr, "\nusage: qbench gemm -p PREC|all -i ISA|all -s MxNxK [-g 0|32|64|128] [-r REPS] [--check] [--csv]\n"
                        "       [--seed S] [--relu] [--fill random|extreme] [--out-i32] [--lda-extra N] [--ldc-extra N]\n");
    else
        fprintf(stderr, "\nusage: qbench dwconv -p fp32|int8-channel|all -i ISA|all -s HxWxC [--stride 1|2] [--pad 0|1] [-r REPS]\n"
                        "       [--check] [--csv] [--seed S] [--relu] [--fill random|extreme]\n");
    return 2;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_shape(const char *s, gemm_opts *o)
{
    char extra;
    long m, n, k;
    if (sscanf(s, "%ldx%ldx%ld%c", &m, &n, &k, &extra) != 3)
        return -1;
    if (m < 1 || n < 1 || k < 1 || m > MAX_DIM || n > MAX_DIM || k > MAX_DIM)
        return -1;
    if ((unsigned long long)m * k > MAX_ELEMS || (unsigned long long)n * k > MAX_ELEMS ||
        (unsigned long long)m * n > MAX_ELEMS)
        return -1;
    if (o->op == QB_OP_DWCONV3X3 && (unsigned long long)m * n * k > MAX_ELEMS)
        return -1; /* H x W x C image */
    o->m = (int)m;
    o->n = (int)n;
    o->k = (int)k;
    return 0;
}

static int parse(int argc, char **argv, gemm_opts *o)
{
    *o = (gemm_opts){.op = o->op, .verb = o->verb, .prec = -2, .isa = -2, .stride = 1, .pad = 1, .seed = 42};
    int dw = o->op == QB_OP_DWCONV3X3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--check")) {
            o->check = 1;
        } else if (!strcmp(a, "--csv")) {
            o->csv = 1;
        } else if (!strcmp(a, "--relu")) {
            o->relu = 1;
        } else if (!dw && !strcmp(a, "--out-i32")) {
            o->out_i32 = 1;
        } else if (!strcmp(a, "--seed") || !strcmp(a, "--fill") || (dw && !strcmp(a, "--pad")) ||
                   (!dw && (!strcmp(a, "--lda-extra") || !strcmp(a, "--ldc-extra")))) {
            if (!v)
                return usage_error(o, "option %s needs a value", a);
            i++;
            char *end;
            errno = 0;
            if (!strcmp(a, "--seed")) {
                o->seed = strtoull(v, &end, 10);
                if (errno || end == v || *end || *v == '-')
                    return usage_error(o, "bad seed '%s' (a non-negative integer)", v);
            } else if (!strcmp(a, "--fill")) {
                if (strcmp(v, "random") && strcmp(v, "extreme"))
                    return usage_error(o, "bad fill '%s' (random or extreme)", v);
                o->fill = !strcmp(v, "extreme") ? QB_FILL_EXTREME : QB_FILL_RANDOM;
            } else if (!strcmp(a, "--pad")) {
                if (parse_int(v, 0, 1, &o->pad))
                    return usage_error(o, "bad padding '%s' (0 or 1)", v);
            } else if (parse_int(v, 0, 4096, !strcmp(a, "--lda-extra") ? &o->lda_extra : &o->ldc_extra)) {
                return usage_error(o, "bad row padding '%s' (0..4096)", v);
            }
        } else if (!strcmp(a, "-p") || !strcmp(a, "-i") || !strcmp(a, "-s") || !strcmp(a, "-r") ||
                   (!dw && !strcmp(a, "-g")) || (dw && !strcmp(a, "--stride"))) {
            if (!v)
                return usage_error(o, "option %s needs a value", a);
            i++;
            if (!strcmp(a, "-p")) {
                o->prec = !strcmp(v, "all") ? -1 : qb_precision_parse(v);
                if (o->prec == -2 + 1 && strcmp(v, "all"))
                    return usage_error(o, "unknown precision '%s' (fp32, fp16, int8-tensor, int8-channel, int4, binary, all)", v);
                if (o->prec == QB_PREC_MIXED)
                    return usage_error(o, "precision '%s' is a per-layer plan, not a kernel", v);
            } else if (!strcmp(a, "-i")) {
                o->isa = !strcmp(v, "all") ? -1 : qb_isa_parse(v);
                if (o->isa == -1 && strcmp(v, "all"))
                    return usage_error(o, "unknown ISA '%s' (scalar, avx2, vnni, neon, all)", v);
            } else if (!strcmp(a, "-s")) {
                if (parse_shape(v, o))
                    return usage_error(o, dw ? "bad shape '%s': want HxWxC, each 1..1000000, the image under 2^31 elements"
                                             : "bad shape '%s': want MxNxK, each 1..1000000, each operand under 2^31 elements",
                                       v);
            } else if (!strcmp(a, "-r")) {
                if (parse_int(v, 1, 1000000, &o->reps))
                    return usage_error(o, "bad repetition count '%s' (1..1000000)", v);
            } else if (dw) {
                if (parse_int(v, 1, 2, &o->stride))
                    return usage_error(o, "bad stride '%s' (1 or 2)", v);
            } else if (parse_int(v, 0, 128, &o->group) ||
                       (o->group != 0 && o->group != 32 && o->group != 64 && o->group != 128)) {
                return usage_error(o, "bad int4 group size '%s' (0 = per channel, 32, 64, 128)", v);
            }
        } else {
            return usage_error(o, "unknown argument '%s'", a);
        }
    }
    if (o->prec == -2)
        return usage_error(o, "%s", "missing -p PREC");
    if (o->isa == -2)
        return usage_error(o, "%s", "missing -i ISA");
    if (!o->m)
        return usage_error(o, "%s", dw ? "missing -s HxWxC" : "missing -s MxNxK");
    if (dw && (o->m + 2 * o->pad < 3 || o->n + 2 * o->pad < 3))
        return usage_error(o, "%s", "image too small for a 3x3 window");
    return 0;
}

/* Times one kernel; prints its row; returns 0, 1 (check failed) or 2. */
/* One kernel call (a qb_measure_fn). */
static int kcase_fn(void *ctx, long iter)
{
    (void)iter;
    qb_kcase_run(ctx);
    return 0;
}

static int bench_one(const qb_kernel *kn, const gemm_opts *o)
{
    int dw = o->op == QB_OP_DWCONV3X3;
    qb_check_case c = {.m = o->m, .n = o->n, .k = o->k, .group = o->group, .out_i32 = o->out_i32,
                       .lda_extra = o->lda_extra, .ldc_extra = o->ldc_extra};
    if (dw) /* image H x W x C, the same padding on every side */
        c = (qb_check_case){.h = o->m, .w = o->n, .n = o->k, .k = 9, .stride = o->stride, .pad = o->pad};
    c.relu = o->relu;
    c.fill = o->fill;
    c.seed = o->seed;
    double macs = dw ? (double)((o->m + 2 * o->pad - 3) / o->stride + 1) * ((o->n + 2 * o->pad - 3) / o->stride + 1) *
                           o->k * 9
                     : (double)o->m * o->n * o->k;
    char err[256];
    qb_kcase *kc = qb_kcase_new(kn, &c, err, sizeof err);
    if (!kc) {
        fprintf(stderr, "qbench %s: %s\n", o->verb, err);
        return 2;
    }
    /* the measurement loop of the sweep (harness/measure/loop.h): calls
     * per sample against the clock's resolution, warm-up until the median
     * settles; -r REPS samples, or at least 5 and about 0.5 s (retried
     * twice while the median's 95% interval is wider than +-3%) */
    qb_measure_cfg mc = {.warmup = 1, .iterations = o->reps ? o->reps : 5, .min_time_s = o->reps ? 0 : 0.5,
                         .max_iterations = o->reps ? o->reps : 10000, .ci_threshold = QB_GEMM_CI,
                         .retries = o->reps ? 0 : 2};
    qb_measure_result mr;
    if (qb_measure(&mc, kcase_fn, kc, &mr, err, sizeof err)) {
        qb_kcase_free(kc);
        fprintf(stderr, "qbench %s: %s\n", o->verb, err);
        return 2;
    }
    const qb_robust st = mr.rob;
    int reps = (int)st.n;
    double gops = 2.0 * macs / st.median * 1e-9;
    const char *check = "";
    int rc = 0;
    if (o->check) {
        qb_check_result r;
        int cr = qb_kcase_compare(kc, &r);
        check = cr == 0 ? "pass" : "fail";
        if (cr)
            fprintf(stderr, "qbench %s: check failed: %s\n", o->verb, r.msg);
        rc = cr == 0 ? 0 : cr > 0 ? 1 : 2;
    }
    if (o->csv)
        printf("%s,%s,%s,%d,%d,%d,%d,%.6f,%.3f,%.4f,%d,%s,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.4f,%zu,%ld,%s\n",
               qb_precision_name(kn->prec), qb_isa_name(kn->isa), kn->name, o->m, o->n, o->k,
               dw ? o->stride : kn->prec == QB_PREC_INT4 ? o->group : 0, st.median * 1e3, gops,
               st.mean > 0 ? st.stddev / st.mean : 0, reps, check, st.ci_low * 1e3, st.ci_high * 1e3, st.p5 * 1e3,
               st.p95 * 1e3, st.p99 * 1e3, st.iqr * 1e3, st.mad * 1e3, st.robust_cv, st.outliers,
               mr.calls_per_sample, mr.noisy ? "noisy" : "ok");
    else
        printf("%-24s %-13s %-6s %dx%dx%d  median %10.6f ms [%.4g, %.4g]  %8.2f GOP/s  p5 %.4g p95 %.4g p99 %.4g"
               "  robust cv %5.2f%%  %zu outliers  (%d samples x %ld calls)%s%s%s\n",
               kn->name, qb_precision_name(kn->prec), qb_isa_name(kn->isa), o->m, o->n, o->k, st.median * 1e3,
               st.ci_low * 1e3, st.ci_high * 1e3, gops, st.p5 * 1e3, st.p95 * 1e3, st.p99 * 1e3,
               st.robust_cv * 100, st.outliers, reps, mr.calls_per_sample, mr.noisy ? "  noisy" : "",
               *check ? "  check " : "", check);
    fflush(stdout);
    qb_kcase_free(kc);
    return rc;
}

static int bench_verb(int argc, char **argv, qb_op op, const char *verb)
{
    gemm_opts o = {.op = op, .verb = verb};
    if (parse(argc, argv, &o))
        return 2;
    if (o.csv && op == QB_OP_GEMM)
        printf("precision,isa,kernel,m,n,k,group,median_ms,gops,cv,reps,check," QB_GEMM_CSV_STATS "\n");
    else if (o.csv)
        printf("precision,isa,kernel,h,w,c,stride,median_ms,gops,cv,reps,check," QB_GEMM_CSV_STATS "\n");
    int worst = 0, ran = 0;
    for (int p = 0; p < QB_PREC_MIXED; p++) {
        if (o.prec >= 0 && p != o.prec)
            continue;
        for (int isa = 0; isa < QB_ISA_COUNT; isa++) {
            if (o.isa >= 0 && isa != o.isa)
                continue;
            const qb_kernel *kn = qb_kernel_get(op, p, isa);
            char why[200];
            if (!kn)
                continue;
            if (!qb_kernel_available(kn, why, sizeof why)) {
                if (o.prec >= 0 && o.isa >= 0) {
                    fprintf(stderr, "qbench %s: %s cannot run here: %s\n", verb, kn->name, why);
                    return 2;
                }
                if (kn->run.gemm) /* another architecture's kernels are not worth a line */
                    fprintf(stderr, "qbench %s: skipping %s: %s\n", verb, kn->name, why);
                continue;
            }
            int rc = bench_one(kn, &o);
            if (rc == 2)
                return 2;
            worst = rc > worst ? rc : worst;
            ran++;
        }
    }
    if (!ran) {
        fprintf(stderr, "qbench %s: no kernel ran (%s has kernels for: %s)\n", verb, verb,
                op == QB_OP_GEMM ? "fp32, fp16, int8-tensor, int8-channel, int4, binary" : "fp32, int8-channel");
        return 2;
    }
    return worst;
}

int qb_verb_gemm(int argc, char **argv) { return bench_verb(argc, argv, QB_OP_GEMM, "gemm"); }

int qb_verb_dwconv(int argc, char **argv) { return bench_verb(argc, argv, QB_OP_DWCONV3X3, "dwconv"); }
