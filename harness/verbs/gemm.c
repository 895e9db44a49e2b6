/*
 * gemm.c - the kernel benchmark verbs: `qbench gemm` (GEMM, -s MxNxK) and
 * `qbench dwconv` (depthwise, -s HxWxC, -k KHxKW, --stride, --dilation,
 * --pad; default 3x3, stride 1, "same" padding). Each
 * times one kernel (or every available kernel with -p all / -i all) on one
 * shape with hot caches through the sweep's measurement loop, prints the
 * median time with its 95% interval, percentiles, robust CV and outliers,
 * and GOP/s (one MAC = 2 ops; for binary one bit-MAC = 2 ops), and with --check compares the result
 * against the scalar reference (exit 1 on a mismatch). The data comes
 * from --seed S (default 42) and the case options of the kernel checks
 * (--relu, --fill, --rq-fast, gemm: --out-i32, --lda-extra, --ldc-extra), so a failed check's repro line replays it exactly. Context goes
 * to stderr, data to stdout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/eval/kernel_check.h"
#include "harness/graph/par.h"
#include "harness/measure/loop.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

#define MAX_DIM 1000000
#define MAX_ELEMS (1ull << 31) /* per operand */

/* The median's 95% interval may be at most +-3% of it (else: noisy). */
#define QB_GEMM_CI 0.03
/* The robust statistics appended to the CSV columns of the verbs. */
#define QB_GEMM_CSV_STATS "ci_low_ms,ci_high_ms,p5_ms,p95_ms,p99_ms,iqr_ms,mad_ms,robust_cv,outliers,calls_per_sample,status"

typedef struct gemm_opts {
    qb_op op;       /* kernel family: QB_OP_GEMM or QB_OP_DWCONV */
    const char *verb; /* "gemm" or "dwconv", for messages */
    int prec;       /* precision, or -1 for all */
    int isa;        /* ISA, or -1 for all */
    int m, n, k;    /* GEMM shape; dwconv: m = H, n = W, k = C */
    int kh, kw;     /* dwconv window */
    int sh, sw;     /* dwconv strides */
    int dh, dw;     /* dwconv dilations */
    int group;      /* int4 group size */
    int reps;       /* timed repetitions, 0 = automatic */
    int check;      /* compare against scalar */
    int csv;        /* CSV on stdout */
    int pad[4];     /* dwconv padding top, left, bottom, right; pad[0] < 0: "same" */
    int relu;       /* fuse a ReLU clamp into the output */
    int out_i32;    /* int8: raw int32 outputs */
    int lda_extra;  /* gemm: extra elements between rows of A */
    int ldc_extra;  /* gemm: extra elements between rows of C */
    int threads;    /* gemm: 0 the kernel alone, else through the engine's split (qb_gpar_gemm) on this many */
    qb_fill fill;   /* data generation */
    int rq_fast;    /* int8 multipliers: qb_check_case.rq_fast (--rq-fast) */
    unsigned long long seed; /* data seed */
} gemm_opts;

/* A usage error: the message, then the synopsis of gemm or dwconv from the verb table. */
static int usage_error(const gemm_opts *o, const char *fmt, const char *arg)
{
    return qb_usage_error(o->verb, fmt, arg);
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

/* "A" or "AxB" (each 1..64) into a, b. */
static int parse_pair(const char *s, int *a, int *b)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10), y = x;
    if (end == s || *s == '-' || *s == '+')
        return -1;
    if (*end == 'x') {
        const char *t = end + 1;
        if (*t == '-' || *t == '+')
            return -1;
        y = strtol(t, &end, 10);
        if (end == t)
            return -1;
    }
    if (errno || *end || x < 1 || y < 1 || x > 64 || y > 64)
        return -1;
    *a = (int)x;
    *b = (int)y;
    return 0;
}

/* "P" or "T,L,B,R" (each 0..64). */
static int parse_pads(const char *s, int *p)
{
    const char *t = s;
    int n = 0;
    for (;;) {
        char *end;
        errno = 0;
        if (*t == '-' || *t == '+')
            return -1;
        long v = strtol(t, &end, 10);
        if (end == t || errno || v < 0 || v > 64 || n == 4)
            return -1;
        p[n++] = (int)v;
        if (*end == 0)
            break;
        if (*end != ',')
            return -1;
        t = end + 1;
    }
    if (n == 1)
        p[1] = p[2] = p[3] = p[0];
    return n == 1 || n == 4 ? 0 : -1;
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
    if (o->op == QB_OP_DWCONV && (unsigned long long)m * n * k > MAX_ELEMS)
        return -1; /* H x W x C image */
    o->m = (int)m;
    o->n = (int)n;
    o->k = (int)k;
    return 0;
}

static int parse(int argc, char **argv, gemm_opts *o)
{
    *o = (gemm_opts){.op = o->op, .verb = o->verb, .prec = -2, .isa = -2, .kh = 3, .kw = 3, .sh = 1, .sw = 1,
                     .dh = 1, .dw = 1, .pad = {-1}, .seed = 42};
    int dw = o->op == QB_OP_DWCONV;
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
        } else if (!strcmp(a, "--seed") || !strcmp(a, "--fill") || !strcmp(a, "--rq-fast") ||
                   (dw && (!strcmp(a, "--pad") || !strcmp(a, "-k") || !strcmp(a, "--stride") || !strcmp(a, "--dilation"))) ||
                   (!dw && (!strcmp(a, "--lda-extra") || !strcmp(a, "--ldc-extra") || !strcmp(a, "--threads")))) {
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
            } else if (!strcmp(a, "--rq-fast")) {
                if (parse_int(v, 0, 2, &o->rq_fast))
                    return usage_error(o, "bad --rq-fast '%s' (0, 1 or 2)", v);
            } else if (!strcmp(a, "--pad")) {
                if (parse_pads(v, o->pad))
                    return usage_error(o, "bad padding '%s' (P or T,L,B,R, each 0..64)", v);
            } else if (!strcmp(a, "-k")) {
                if (parse_pair(v, &o->kh, &o->kw))
                    return usage_error(o, "bad window '%s' (KHxKW, each 1..64)", v);
            } else if (!strcmp(a, "--stride")) {
                if (parse_pair(v, &o->sh, &o->sw))
                    return usage_error(o, "bad stride '%s' (S or SHxSW, each 1..64)", v);
            } else if (!strcmp(a, "--dilation")) {
                if (parse_pair(v, &o->dh, &o->dw))
                    return usage_error(o, "bad dilation '%s' (D or DHxDW, each 1..64)", v);
            } else if (!strcmp(a, "--threads")) {
                if (parse_int(v, 1, 1024, &o->threads))
                    return usage_error(o, "bad thread count '%s' (1..1024)", v);
            } else if (parse_int(v, 0, 4096, !strcmp(a, "--lda-extra") ? &o->lda_extra : &o->ldc_extra)) {
                return usage_error(o, "bad row padding '%s' (0..4096)", v);
            }
        } else if (!strcmp(a, "-p") || !strcmp(a, "-i") || !strcmp(a, "-s") || !strcmp(a, "-r") ||
                   (!dw && !strcmp(a, "-g"))) {
            if (!v)
                return usage_error(o, "option %s needs a value", a);
            i++;
            if (!strcmp(a, "-p")) {
                o->prec = !strcmp(v, "all") ? -1 : qb_precision_parse(v);
                if (o->prec == -2 + 1 && strcmp(v, "all"))
                    return qb_usage_error(o->verb, "unknown precision '%s' (%s, or all)", v, qb_precision_list());
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
    if (dw && o->pad[0] < 0) { /* "same": (k - 1) * d / 2 before, the rest after */
        int ph = (o->kh - 1) * o->dh, pw = (o->kw - 1) * o->dw;
        o->pad[0] = ph / 2, o->pad[2] = ph - ph / 2, o->pad[1] = pw / 2, o->pad[3] = pw - pw / 2;
    }
    if (dw) {
        qb_check_case c = {.h = o->m, .w = o->n, .n = o->k, .kh = o->kh, .kw = o->kw, .sh = o->sh, .sw = o->sw,
                           .dh = o->dh, .dw = o->dw, .pad_t = o->pad[0], .pad_l = o->pad[1], .pad_b = o->pad[2],
                           .pad_r = o->pad[3]};
        int oh, ow;
        if (qb_check_dw_out(&c, &oh, &ow))
            return usage_error(o, "%s", "the image (with its padding) is smaller than the dilated window");
    }
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
    int dw = o->op == QB_OP_DWCONV;
    qb_check_case c = {.m = o->m, .n = o->n, .k = o->k, .group = o->group, .out_i32 = o->out_i32,
                       .lda_extra = o->lda_extra, .ldc_extra = o->ldc_extra};
    if (dw) /* image H x W x C */
        c = (qb_check_case){.h = o->m, .w = o->n, .n = o->k, .kh = o->kh, .kw = o->kw, .sh = o->sh, .sw = o->sw,
                            .dh = o->dh, .dw = o->dw, .pad_t = o->pad[0], .pad_l = o->pad[1], .pad_b = o->pad[2],
                            .pad_r = o->pad[3]};
    c.relu = o->relu;
    c.fill = o->fill;
    c.rq_fast = o->rq_fast;
    c.seed = o->seed;
    int oh = 0, ow = 0;
    if (dw)
        qb_check_dw_out(&c, &oh, &ow); /* valid: parse checked it */
    double macs = dw ? (double)oh * ow * o->k * o->kh * o->kw : (double)o->m * o->n * o->k;
    char err[256];
    qb_kcase *kc = qb_kcase_new(kn, &c, err, sizeof err);
    if (!kc) {
        fprintf(stderr, "qbench %s: %s\n", o->verb, err);
        return 2;
    }
    if (o->threads) { /* the model engine's call: rows or (few rows) columns in chunks, on threads */
        qb_gpar_set_threads(o->threads);
        qb_kcase_set_gemm(kc, qb_gpar_gemm);
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
    char win[64] = "";
    if (dw)
        snprintf(win, sizeof win, " k%dx%d s%dx%d", o->kh, o->kw, o->sh, o->sw);
    if (o->csv)
        printf("%s,%s,%s,%d,%d,%d,%d,%.6f,%.3f,%.4f,%d,%s,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.4f,%zu,%ld,%s",
               qb_precision_name(kn->prec), qb_isa_name(kn->isa), kn->name, o->m, o->n, o->k,
               dw ? o->sh : kn->prec == QB_PREC_INT4 ? o->group : 0, st.median * 1e3, gops,
               st.mean > 0 ? st.stddev / st.mean : 0, reps, check, st.ci_low * 1e3, st.ci_high * 1e3, st.p5 * 1e3,
               st.p95 * 1e3, st.p99 * 1e3, st.iqr * 1e3, st.mad * 1e3, st.robust_cv, st.outliers,
               mr.calls_per_sample, mr.noisy ? "noisy" : "ok");
    if (o->csv && dw)
        printf(",%d,%d,%d,%d,%d,%d,%d,%d,%d", o->kh, o->kw, o->sw, o->dh, o->dw, o->pad[0], o->pad[1], o->pad[2],
               o->pad[3]);
    if (o->csv)
        printf("\n");
    else
        printf("%-24s %-13s %-6s %dx%dx%d%s  median %10.6f ms [%.4g, %.4g]  %8.2f GOP/s  p5 %.4g p95 %.4g p99 %.4g"
               "  robust cv %5.2f%%  %zu outliers  (%d samples x %ld calls)%s%s%s\n",
               kn->name, qb_precision_name(kn->prec), qb_isa_name(kn->isa), o->m, o->n, o->k, win, st.median * 1e3,
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
        printf("precision,isa,kernel,h,w,c,stride,median_ms,gops,cv,reps,check," QB_GEMM_CSV_STATS
               ",kh,kw,stride_w,dil_h,dil_w,pad_t,pad_l,pad_b,pad_r\n");
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

int qb_verb_dwconv(int argc, char **argv) { return bench_verb(argc, argv, QB_OP_DWCONV, "dwconv"); }
