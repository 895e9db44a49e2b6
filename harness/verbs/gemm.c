/*
 * gemm.c - the kernel benchmark verbs: `qbench gemm` (GEMM, -s MxNxK) and
 * `qbench dwconv` (depthwise 3x3, -s HxWxC, --stride 1|2, padding 1). Each
 * times one kernel (or every available kernel with -p all / -i all) on one
 * shape with hot caches, prints the median time and GOP/s (one MAC = 2 ops;
 * for binary one bit-MAC = 2 ops), and with --check compares the result
 * against the scalar reference (exit 1 on a mismatch). Context goes to
 * stderr, data to stdout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/eval/kernel_check.h"
#include "harness/measure/timer.h"
#include "harness/verbs/verbs.h"

#define MAX_DIM 1000000
#define MAX_ELEMS (1ull << 31) /* per operand */

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
} gemm_opts;

static int usage_error(const gemm_opts *o, const char *fmt, const char *arg)
{
    fprintf(stderr, "qbench %s: ", o->verb);
    fprintf(stderr, fmt, arg);
    if (o->op == QB_OP_GEMM)
        fprintf(stderr, "\nusage: qbench gemm -p PREC|all -i ISA|all -s MxNxK [-g 0|32|64|128] [-r REPS] [--check] [--csv]\n");
    else
        fprintf(stderr, "\nusage: qbench dwconv -p fp32|int8-channel|all -i ISA|all -s HxWxC [--stride 1|2] [-r REPS] [--check] [--csv]\n");
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
    *o = (gemm_opts){.op = o->op, .verb = o->verb, .prec = -2, .isa = -2, .stride = 1};
    int dw = o->op == QB_OP_DWCONV3X3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--check")) {
            o->check = 1;
        } else if (!strcmp(a, "--csv")) {
            o->csv = 1;
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
    if (dw && (o->m + 2 - 3) / o->stride + 1 < 1)
        return usage_error(o, "%s", "image too small for a 3x3 window");
    return 0;
}

/* Times one kernel; prints its row; returns 0, 1 (check failed) or 2. */
static int bench_one(const qb_kernel *kn, const gemm_opts *o)
{
    int dw = o->op == QB_OP_DWCONV3X3;
    qb_check_case c = {.m = o->m, .n = o->n, .k = o->k, .group = o->group, .seed = 42};
    if (dw) /* image H x W x C, padding 1 on every side */
        c = (qb_check_case){.h = o->m, .w = o->n, .n = o->k, .k = 9, .stride = o->stride, .pad = 1, .seed = 42};
    double macs = dw ? (double)((o->m - 1) / o->stride + 1) * ((o->n - 1) / o->stride + 1) * o->k * 9
                     : (double)o->m * o->n * o->k;
    char err[256];
    qb_kcase *kc = qb_kcase_new(kn, &c, err, sizeof err);
    if (!kc) {
        fprintf(stderr, "qbench %s: %s\n", o->verb, err);
        return 2;
    }
    qb_kcase_run(kc); /* warm-up: caches, page faults, frequency */
    double t0 = qb_now();
    qb_kcase_run(kc);
    double once = qb_now() - t0;
    int reps = o->reps;
    if (!reps) { /* at least 5 runs and about 0.5 s */
        reps = once > 0 ? (int)(0.5 / once) : 1000;
        reps = reps < 5 ? 5 : reps > 10000 ? 10000 : reps;
    }
    double *t = malloc(sizeof(double) * reps);
    if (!t) {
        qb_kcase_free(kc);
        fprintf(stderr, "qbench %s: out of memory\n", o->verb);
        return 2;
    }
    for (int r = 0; r < reps; r++) {
        double s = qb_now();
        qb_kcase_run(kc);
        t[r] = qb_now() - s;
    }
    qb_stats st = qb_stats_of(t, (size_t)reps);
    free(t);
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
        printf("%s,%s,%s,%d,%d,%d,%d,%.6f,%.3f,%.4f,%d,%s\n", qb_precision_name(kn->prec),
               qb_isa_name(kn->isa), kn->name, o->m, o->n, o->k,
               dw ? o->stride : kn->prec == QB_PREC_INT4 ? o->group : 0, st.median * 1e3, gops, st.cv, reps, check);
    else
        printf("%-24s %-13s %-6s %dx%dx%d  median %10.4f ms  %8.2f GOP/s  cv %5.2f%%  (%d reps)%s%s\n",
               kn->name, qb_precision_name(kn->prec), qb_isa_name(kn->isa), o->m, o->n, o->k,
               st.median * 1e3, gops, st.cv * 100, reps, *check ? "  check " : "", check);
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
        printf("precision,isa,kernel,m,n,k,group,median_ms,gops,cv,reps,check\n");
    else if (o.csv)
        printf("precision,isa,kernel,h,w,c,stride,median_ms,gops,cv,reps,check\n");
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
