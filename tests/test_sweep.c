/*
 * test_sweep.c - the sweep harness without running models: scenario
 * parsing (good files and every kind of bad one, messages naming file and
 * line), plan expansion and pruning, sharding, --only, the results CSV
 * (writer/reader round trip with awkward notes, resume set, header
 * mismatch, bad rows), latency statistics, the measurement loop, energy
 * tables and the energy model on hand-computed cases, the cachegrind
 * output parser and a real cachegrind run.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/measure/counters.h"
#include "harness/measure/energy.h"
#include "harness/measure/loop.h"
#include "harness/report/results.h"
#include "harness/report/status.h"
#include "harness/sweep/cell.h"
#include "harness/sweep/plan.h"
#include "harness/sweep/scenario.h"

static char tmpdir[] = "/tmp/qb-test-sweep-XXXXXX";

static void path_in_tmp(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- scenarios ---- */

static const char *good_ini =
    "; a comment\n"
    "[scenario]\n"
    "name = t1\n"
    "description = test, with a comma\n"
    "\n"
    "[axes]\n"
    "models = mlp tiny\n"
    "precisions = fp32 int8-channel, int4\n"
    "methods = none ptq-kl qat\n"
    "isas = scalar avx2\n"
    "threads = 1 2\n"
    "batch = 1\n"
    "\n"
    "[measure]\n"
    "warmup = 2\n"
    "iterations = 7\n"
    "min_time_ms = 25\n"
    "ci_threshold = 3.5%\n"
    "retries = 4\n"
    "eval_samples = 100\n"
    "calib_samples = 32\n"
    "energy_model = my.csv\n"
    "cache = hot\n"
    "pin = 1\n"
    "counters = cachegrind\n"
    "\n"
    "[model tiny]\n"
    "onnx = models/tiny.onnx ; inline comment\n"
    "input = 1x3x8x8\n";

static void scenario_good(void **state)
{
    (void)state;
    qb_scenario sc;
    char err[600];
    assert_int_equal(qb_scenario_load_string(good_ini, "good.ini", &sc, err, sizeof err), 0);
    assert_string_equal(sc.name, "t1");
    assert_string_equal(sc.description, "test, with a comma");
    assert_int_equal(sc.nmodels, 2);
    assert_string_equal(sc.models[0].name, "mlp");
    assert_string_equal(sc.models[0].zoo, "mlp");
    assert_string_equal(sc.models[0].dataset, "fashion-mnist");
    assert_string_equal(sc.models[1].name, "tiny");
    assert_string_equal(sc.models[1].onnx, "models/tiny.onnx");
    assert_int_equal(sc.models[1].ndim, 4);
    assert_int_equal(sc.models[1].dims[1], 3);
    assert_int_equal(sc.nprec, 3);
    assert_int_equal(sc.prec[2], QB_PREC_INT4);
    assert_int_equal(sc.nmethods, 3);
    assert_int_equal(sc.methods[1], QB_METHOD_PTQ_KL);
    assert_int_equal(sc.nisas, 2);
    assert_int_equal(sc.nthreads, 2);
    assert_int_equal(sc.threads[1], 2);
    assert_int_equal(sc.warmup, 2);
    assert_int_equal(sc.iterations, 7);
    assert_true(fabs(sc.min_time_s - 0.025) < 1e-12);
    assert_true(fabs(sc.ci_threshold - 0.035) < 1e-12);
    assert_int_equal(sc.retries, 4);
    assert_int_equal(sc.eval_samples, 100);
    assert_int_equal(sc.calib_samples, 32);
    assert_string_equal(sc.energy_model, "my.csv");
    assert_int_equal(sc.cache, QB_CACHE_HOT);
    assert_int_equal(sc.pin, 1);
    assert_int_equal(sc.counters, QB_COUNTERS_CACHEGRIND);
}

static void scenario_defaults(void **state)
{
    (void)state;
    qb_scenario sc;
    char err[600];
    assert_int_equal(qb_scenario_load_string("[axes]\nmodels = cnn\nprecisions = all\n", "d.ini", &sc, err,
                                             sizeof err),
                     0);
    assert_string_equal(sc.name, "d"); /* from the file name */
    assert_int_equal(sc.nprec, QB_PREC_COUNT);
    assert_int_equal(sc.nisas, QB_ISA_COUNT);
    assert_int_equal(sc.nmethods, 2);
    assert_int_equal(sc.nthreads, 1);
    assert_int_equal(sc.nbatch, 1);
    assert_true(fabs(sc.ci_threshold - 0.03) < 1e-12);
    assert_int_equal(sc.cache, QB_CACHE_COLD);
    assert_int_equal(sc.pin, -1);
}

/* Each bad file must fail with "FILE:LINE: ..." containing `want`. */
static void expect_bad(const char *text, int line, const char *want)
{
    qb_scenario sc;
    char err[600], prefix[64];
    int rc = qb_scenario_load_string(text, "bad.ini", &sc, err, sizeof err);
    if (rc != -1)
        fail_msg("accepted a bad scenario (want '%s'):\n%s", want, text);
    snprintf(prefix, sizeof prefix, "bad.ini:%d: ", line);
    if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, want))
        fail_msg("message '%s' lacks '%s' or '%s'", err, prefix, want);
}

static void scenario_bad(void **state)
{
    (void)state;
    const char *base = "[axes]\nmodels = mlp\nprecisions = fp32\n";
    char buf[1024];
    snprintf(buf, sizeof buf, "%s[measure]\nwarmpu = 3\n", base);
    expect_bad(buf, 5, "unknown key 'warmpu'");
    snprintf(buf, sizeof buf, "%s[measure]\niterations = many\n", base);
    expect_bad(buf, 5, "iterations: 'many'");
    snprintf(buf, sizeof buf, "%s[measure]\niterations = 0\n", base);
    expect_bad(buf, 5, "iterations");
    snprintf(buf, sizeof buf, "%s[measure]\nci_threshold = -5%%\n", base);
    expect_bad(buf, 5, "ci_threshold");
    snprintf(buf, sizeof buf, "%s[measure]\ncv_threshold = 5%%\n", base);
    expect_bad(buf, 5, "replaced by ci_threshold");
    snprintf(buf, sizeof buf, "%s[measure]\ncache = lukewarm\n", base);
    expect_bad(buf, 5, "cache");
    snprintf(buf, sizeof buf, "%s[measure]\nwarmup = 1\n\n[measure]\nretries = 1\n", base);
    expect_bad(buf, 7, "duplicate section [measure]");
    snprintf(buf, sizeof buf, "%s[measure]\nwarmup = 1\nwarmup = 2\n", base);
    expect_bad(buf, 6, "warmup given twice");
    snprintf(buf, sizeof buf, "%s[axis]\n", base);
    expect_bad(buf, 4, "unknown section [axis]");
    expect_bad("[axes]\nmodels = mlp\nprecisions = fp32 int7\n", 3, "unknown precision 'int7'");
    expect_bad("[axes]\nmodels = mlp\nprecisions = fp32\nisas = sse\n", 4, "unknown ISA 'sse'");
    expect_bad("[axes]\nmodels = mlp\nprecisions = fp32\nmethods = ptq-magic\n", 4, "unknown method");
    expect_bad("[axes]\nmodels = mlp\nprecisions = fp32\nthreads = 0\n", 4, "threads");
    expect_bad("[axes]\nmodels = mlp\nprecisions = fp32\nbatch = 1 1\n", 4, "listed twice");
    expect_bad("[axes]\n\nmodels = mlp resnet\nprecisions = fp32\n", 3, "'resnet' is neither a zoo model");
    expect_bad("[axes]\nprecisions = fp32\n", 1, "models is required");
    expect_bad("[axes]\nmodels = mlp\n", 1, "precisions is required");
    expect_bad("[axes]\nmodels = m\nprecisions = fp32\n[model m]\nonnx = a.onnx\n", 4, "needs input");
    expect_bad("[axes]\nmodels = m\nprecisions = fp32\n[model m]\nonnx = a.onnx\nzoo = mlp\ninput = 1x2\n", 4,
               "exactly one of");
    expect_bad("[axes]\nmodels = m\nprecisions = fp32\n[model m]\ninput = 1xx2\n", 5, "input");
    expect_bad("[axes]\nmodels = m\nprecisions = fp32\n[model m]\ngemm = 8x8\n", 5, "gemm");
    expect_bad("[axes]\nmodels = m\nprecisions = fp32\n[model m]\ngemm = 8x8x8\ngroup = 48\n", 6, "group");
    expect_bad("[axes]\nmodels = m\nprecisions = fp32\n[model a/b]\n", 4, "bad model section");
    expect_bad("[axes]\nmodels = mlp\nprecisions = fp32\nthis is not ini\n", 4, "cannot parse");
    expect_bad("models = mlp\n", 1, "outside any section");
    expect_bad("[axes]\nmodels = mlp\nprecisions = fp32\n  indented = continuation\n", 4, "");
    expect_bad("[scenario]\nname = a b\n[axes]\nmodels = mlp\nprecisions = fp32\n", 2, "name");
    /* data = DIR: the folder must exist when the file is read (sweep --dry-run too) */
    const char *dm = "[axes]\nmodels = m\nprecisions = fp32\n[model m]\nonnx = a.onnx\n";
    snprintf(buf, sizeof buf, "%sdata = /nonexistent/qb-data\n", dm);
    expect_bad(buf, 6, "[model m] data: '/nonexistent/qb-data' is not a folder");
    snprintf(buf, sizeof buf, "%sdata = /etc/hostname\n", dm);
    expect_bad(buf, 6, "is not a folder");
    snprintf(buf, sizeof buf, "%sdata = /tmp\npreprocess = mean=x\n", dm);
    expect_bad(buf, 7, "mean");
    snprintf(buf, sizeof buf, "%sdata = /tmp\ndataset = synthetic\n", dm);
    expect_bad(buf, 4, "not with zoo, dataset or data_dir");
    snprintf(buf, sizeof buf, "%sinput = 1x2\npreprocess = scale=2\n", dm);
    expect_bad(buf, 4, "preprocess needs data");
    qb_scenario sc;
    char err[600];
    snprintf(buf, sizeof buf, "%sdata = /tmp\npreprocess = fit=48x320,mean=0.5\n", dm);
    if (qb_scenario_load_string(buf, "d.ini", &sc, err, sizeof err))
        fail_msg("%s", err);
    assert_string_equal(sc.models[0].data, "/tmp");
    assert_string_equal(sc.models[0].preprocess, "fit=48x320,mean=0.5");
}

static void scenario_long_line(void **state)
{
    (void)state;
    /* a models list longer than inih's default 200-byte line */
    char buf[4096] = "[axes]\nprecisions = fp32\nmodels = mlp";
    for (int i = 0; i < 30; i++) {
        char sec[64];
        snprintf(sec, sizeof sec, " model-number-%02d", i);
        strcat(buf, sec);
    }
    strcat(buf, "\n");
    for (int i = 0; i < 30; i++) {
        char sec[128];
        snprintf(sec, sizeof sec, "[model model-number-%02d]\ngemm = 8x8x%d\n", i, i + 1);
        strcat(buf, sec);
    }
    qb_scenario sc;
    char err[600];
    assert_int_equal(qb_scenario_load_string(buf, "long.ini", &sc, err, sizeof err), 0);
    assert_int_equal(sc.nmodels, 31);
    assert_int_equal(sc.models[30].shape[2], 30);
}

static void scenario_file_errors(void **state)
{
    (void)state;
    qb_scenario sc;
    char err[600], p[256];
    assert_int_equal(qb_scenario_load("/nonexistent/x.ini", &sc, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.ini"));
    path_in_tmp(p, sizeof p, "dup.ini");
    write_file(p, "[axes]\nmodels = mlp\nprecisions = fp32\n[axes]\n");
    assert_int_equal(qb_scenario_load(p, &sc, err, sizeof err), -1);
    char want[300];
    snprintf(want, sizeof want, "%s:4: duplicate section [axes]", p);
    assert_string_equal(err, want);
}

/* ---- the plan ---- */

static void load(qb_scenario *sc, const char *text)
{
    char err[600];
    if (qb_scenario_load_string(text, "p.ini", sc, err, sizeof err))
        fail_msg("%s", err);
}

static void plan_expand_prune(void **state)
{
    (void)state;
    static qb_scenario sc;
    load(&sc, "[axes]\nmodels = mlp cnn\nprecisions = fp32 fp16 int8-channel binary\n"
              "methods = none ptq-minmax qat\nisas = scalar avx2 vnni\nthreads = 1 2\nbatch = 1 8\n");
    qb_plan p;
    assert_int_equal(qb_plan_build(&sc, &p), 0);
    /* valid pairs per model: fp32/none, fp16/none, int8-channel x 2, binary x 2 = 6 */
    assert_int_equal(p.ngroups, 2 * 6);
    assert_int_equal(p.n, 2 * 6 * 3 * 2 * 2);
    assert_int_equal(p.pruned, 2 * 6 * 3 * 2 * 2);
    assert_string_equal(p.cells[0].id, "mlp/fp32/none/scalar/t1/b1");
    assert_string_equal(p.cells[1].id, "mlp/fp32/none/scalar/t1/b8");
    assert_string_equal(p.cells[2].id, "mlp/fp32/none/scalar/t2/b1");
    assert_string_equal(p.cells[p.n - 1].id, "cnn/binary/qat/vnni/t2/b8");
    for (int i = 0; i < p.n; i++) {
        assert_true(qb_plan_valid(p.cells[i].prec, p.cells[i].method));
        assert_int_equal(p.cells[i].index, i);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(p.cells[i].id, p.cells[j].id);
    }
    assert_false(qb_plan_valid(QB_PREC_FP32, QB_METHOD_PTQ_KL));
    assert_false(qb_plan_valid(QB_PREC_FP16, QB_METHOD_QAT));
    assert_false(qb_plan_valid(QB_PREC_INT4, QB_METHOD_NONE));
    assert_true(qb_plan_valid(QB_PREC_MIXED, QB_METHOD_PTQ_MSE));
    /* the same scenario gives the same plan */
    qb_plan q;
    assert_int_equal(qb_plan_build(&sc, &q), 0);
    assert_int_equal(q.n, p.n);
    for (int i = 0; i < p.n; i++)
        assert_string_equal(p.cells[i].id, q.cells[i].id);
    qb_plan_free(&p);
    qb_plan_free(&q);
}

static void plan_kernel_pruning(void **state)
{
    (void)state;
    static qb_scenario sc;
    load(&sc, "[axes]\nmodels = dw g\nprecisions = fp32 int4 binary\nmethods = none ptq-minmax\nisas = scalar\n"
              "[model dw]\ndwconv = 8x8x16\n[model g]\ngemm = 4x8x64\ngroup = 32\n");
    qb_plan p;
    assert_int_equal(qb_plan_build(&sc, &p), 0);
    /* dwconv has fp32 (and int8) kernels only; a group size means int4 only */
    assert_int_equal(p.n, 2);
    assert_string_equal(p.cells[0].id, "dw/fp32/none/scalar/t1/b1");
    assert_string_equal(p.cells[1].id, "g/int4/ptq-minmax/scalar/t1/b1");
    qb_plan_free(&p);
}

static void plan_shards(void **state)
{
    (void)state;
    static qb_scenario sc;
    load(&sc, "[axes]\nmodels = mlp cnn dscnn\nprecisions = all\nmethods = all\nisas = all\nthreads = 1 2\n");
    qb_plan all;
    assert_int_equal(qb_plan_build(&sc, &all), 0);
    for (int n = 1; n <= 7; n++) {
        int *seen = calloc((size_t)all.n, sizeof *seen);
        int total = 0;
        for (int i = 1; i <= n; i++) {
            qb_plan p;
            assert_int_equal(qb_plan_build(&sc, &p), 0);
            qb_plan_shard(&p, i, n);
            total += p.n;
            for (int k = 0; k < p.n; k++) {
                seen[p.cells[k].index]++;
                /* a (model, precision, method) group never straddles shards */
                assert_int_equal(p.cells[k].group % n, i - 1);
            }
            qb_plan_free(&p);
        }
        assert_int_equal(total, all.n);
        for (int k = 0; k < all.n; k++)
            assert_int_equal(seen[k], 1); /* disjoint, and the union is everything */
        free(seen);
    }
    int i, n;
    assert_int_equal(qb_shard_parse("2/5", &i, &n), 0);
    assert_int_equal(i, 2);
    assert_int_equal(n, 5);
    assert_int_equal(qb_shard_parse("0/5", &i, &n), -1);
    assert_int_equal(qb_shard_parse("6/5", &i, &n), -1);
    assert_int_equal(qb_shard_parse("1/0", &i, &n), -1);
    assert_int_equal(qb_shard_parse("1-2", &i, &n), -1);
    assert_int_equal(qb_shard_parse("1/2x", &i, &n), -1);
    qb_plan_free(&all);
}

static void plan_only(void **state)
{
    (void)state;
    static qb_scenario sc;
    load(&sc, "[axes]\nmodels = mlp cnn\nprecisions = fp32 int8-channel\nmethods = none ptq-kl\n"
              "isas = scalar avx2\n");
    qb_plan p;
    char err[300];
    assert_int_equal(qb_plan_build(&sc, &p), 0);
    assert_int_equal(qb_plan_only(&p, "^cnn/int8-channel/ptq-kl/(avx2|vnni)/", err, sizeof err), 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.cells[0].id, "cnn/int8-channel/ptq-kl/avx2/t1/b1");
    qb_plan_free(&p);
    assert_int_equal(qb_plan_build(&sc, &p), 0);
    assert_int_equal(qb_plan_only(&p, "scalar", err, sizeof err), 0);
    assert_int_equal(p.n, 4);
    assert_int_equal(qb_plan_only(&p, "(unclosed", err, sizeof err), -1);
    assert_non_null(strstr(err, "--only"));
    qb_plan_free(&p);
    /* the repro regex of a failed cell selects exactly that cell */
    assert_int_equal(qb_plan_build(&sc, &p), 0);
    for (int i = 0; i < p.n; i++) {
        qb_plan q;
        char re[600];
        qb_cell_only_regex(p.cells[i].id, re, sizeof re);
        assert_int_equal(qb_plan_build(&sc, &q), 0);
        assert_int_equal(qb_plan_only(&q, re, err, sizeof err), 0);
        assert_int_equal(q.n, 1);
        assert_string_equal(q.cells[0].id, p.cells[i].id);
        qb_plan_free(&q);
    }
    qb_plan_free(&p);
    char re[64];
    qb_cell_only_regex("m.1+x/int4", re, sizeof re); /* metacharacters match only themselves */
    assert_string_equal(re, "^m\\.1\\+x/int4$");
}

/* ---- results CSV ---- */

static void fill_row(qb_result_row *r, const char *model, const char *status, const char *note)
{
    qb_row_init(r);
    snprintf(r->run_id, sizeof r->run_id, "run-1");
    snprintf(r->timestamp, sizeof r->timestamp, "2026-11-27T04:00:00Z");
    snprintf(r->host, sizeof r->host, "host-a");
    snprintf(r->cpu, sizeof r->cpu, "Some CPU, 2 GHz");
    snprintf(r->model, sizeof r->model, "%s", model);
    snprintf(r->dataset, sizeof r->dataset, "fashion-mnist");
    snprintf(r->precision, sizeof r->precision, "int8-channel");
    snprintf(r->method, sizeof r->method, "ptq-kl");
    snprintf(r->isa, sizeof r->isa, "avx2");
    r->threads = 1;
    r->batch = 8;
    snprintf(r->status, sizeof r->status, "%s", status);
    snprintf(r->note, sizeof r->note, "%s", note);
    r->iterations = 123;
    r->latency_ms_median = 0.5;
    r->latency_cv = 0.0125;
    r->cycles = 1234567890123.0;
    r->top1_accuracy = 91.25;
    snprintf(r->counters_source, sizeof r->counters_source, "cachegrind");
}

typedef struct collected {
    int n;                     /* rows */
    qb_result_row rows[8];     /* parsed */
    int lines[8];              /* their lines */
} collected;

static int collect(void *ctx, const char *const *fields, int line)
{
    collected *c = ctx;
    char err[300];
    assert_true(c->n < 8);
    assert_int_equal(qb_row_parse(fields, &c->rows[c->n], err, sizeof err), 0);
    c->lines[c->n++] = line;
    return 0;
}

static void results_columns(void **state)
{
    (void)state;
    /* docs/design.md's list, in order */
    const char *design = "run_id,timestamp,host,cpu,isa_flags,compiler,git_sha,scenario,"
                         "model,dataset,precision,method,isa,threads,batch,status,note,"
                         "iterations,latency_ms_min,latency_ms_median,latency_ms_mean,latency_ms_p95,latency_ms_p99,"
                         "latency_ms_stddev,latency_cv,throughput_ips,"
                         "counters_source,cycles,instructions,l1d_misses,l2_misses,llc_misses,"
                         "energy_source,energy_mj_model,energy_mj_measured,"
                         "macs,weight_bytes,model_bytes,peak_rss_kb,"
                         "eval_samples,top1_accuracy,fp32_top1_accuracy,accuracy_drop_pt,top1_agreement,sqnr_db,"
                         "cosine,max_abs_err,kl_div,"
                         /* schema 2 */
                         "latency_ms_p5,latency_ms_iqr,latency_ms_mad,latency_robust_cv,latency_ms_ci_low,"
                         "latency_ms_ci_high,latency_outliers,calls_per_sample,arena_bytes,top1_ci_low,top1_ci_high,"
                         "accuracy_drop_ci_low,accuracy_drop_ci_high,agreement_ci_low,agreement_ci_high,mcnemar_p,"
                         "kl_div_p99,kl_div_max,"
                         /* schema 3 */
                         "plan,plan_hash,"
                         /* schema 4 */
                         "output_hash,"
                         /* schema 5 */
                         "sqnr_ci_low,sqnr_ci_high";
    char joined[2048] = "";
    for (int i = 0; i < QB_NCOLS; i++) {
        strcat(joined, qb_result_columns[i]);
        if (i + 1 < QB_NCOLS)
            strcat(joined, ",");
    }
    assert_string_equal(joined, design);
    /* the row's fields line up with the names: set one numeric field per column */
    qb_result_row r;
    qb_row_init(&r);
    char buf[64];
    for (int i = 0; i < QB_NCOLS; i++) {
        qb_row_field(&r, i, buf, sizeof buf);
        assert_string_equal(buf, ""); /* nothing measured: every field empty */
    }
    r.kl_div_max = 0.25;
    qb_row_field(&r, qb_schema_ncols[1] - 1, buf, sizeof buf);
    assert_string_equal(buf, "0.25");
    snprintf(r.plan_hash, sizeof r.plan_hash, "00ff");
    qb_row_field(&r, qb_schema_ncols[2] - 1, buf, sizeof buf);
    assert_string_equal(buf, "00ff");
    snprintf(r.output_hash, sizeof r.output_hash, "00ff00ff00ff00ff");
    qb_row_field(&r, qb_schema_ncols[3] - 1, buf, sizeof buf);
    assert_string_equal(buf, "00ff00ff00ff00ff");
    r.sqnr_ci_high = 41.5;
    qb_row_field(&r, QB_NCOLS - 1, buf, sizeof buf);
    assert_string_equal(buf, "41.5");
    r.kl_div = 0.125;
    qb_row_field(&r, qb_schema_ncols[0] - 1, buf, sizeof buf);
    assert_string_equal(buf, "0.125");
    r.threads = 4;
    qb_row_field(&r, 13, buf, sizeof buf);
    assert_string_equal(buf, "4");
}

static void results_round_trip(void **state)
{
    (void)state;
    char p[256], err[600];
    path_in_tmp(p, sizeof p, "rt.csv");
    unlink(p);
    qb_results_writer w;
    assert_int_equal(qb_results_open(p, &w, err, sizeof err), 0);
    qb_result_row a, b, c;
    fill_row(&a, "mlp", "ok", "plain note");
    fill_row(&b, "cnn", "noisy", "comma, \"quotes\" and\na newline");
    fill_row(&c, "dscnn", "failed", " leading space");
    assert_int_equal(qb_results_write(&w, &a, err, sizeof err), 0);
    assert_int_equal(qb_results_write(&w, &b, err, sizeof err), 0);
    qb_results_close(&w);
    /* reopening appends (header checked, not written again) */
    assert_int_equal(qb_results_open(p, &w, err, sizeof err), 0);
    assert_int_equal(qb_results_write(&w, &c, err, sizeof err), 0);
    qb_results_close(&w);
    collected got = {0};
    assert_int_equal(qb_results_read(p, collect, &got, err, sizeof err), 0);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.rows[0].note, "plain note");
    assert_string_equal(got.rows[1].note, "comma, \"quotes\" and\na newline");
    assert_string_equal(got.rows[2].note, " leading space");
    assert_string_equal(got.rows[0].cpu, "Some CPU, 2 GHz");
    assert_int_equal(got.lines[0], 2);
    assert_int_equal(got.lines[1], 3);
    assert_int_equal(got.lines[2], 5); /* the note's newline took a line */
    assert_true(got.rows[1].cycles == 1234567890123.0);
    assert_true(got.rows[1].top1_accuracy == 91.25);
    assert_true(got.rows[1].latency_cv == 0.0125);
    assert_true(isnan(got.rows[1].latency_ms_min)); /* empty stays "not measured" */
    assert_true(isnan(got.rows[1].energy_mj_model));
    char id[300];
    qb_row_cell_id(&got.rows[1], id, sizeof id);
    assert_string_equal(id, "cnn/int8-channel/ptq-kl/avx2/t1/b8");
    /* one header line only */
    FILE *f = fopen(p, "r");
    char line[4096];
    int headers = 0;
    while (fgets(line, sizeof line, f))
        headers += !strncmp(line, "run_id,", 7);
    fclose(f);
    assert_int_equal(headers, 1);

    /* resume: ok, noisy and unsupported rows are finished; failed ones run again */
    char **ids;
    int n;
    assert_int_equal(qb_results_finished(p, &ids, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], "mlp/int8-channel/ptq-kl/avx2/t1/b8");
    assert_string_equal(ids[1], "cnn/int8-channel/ptq-kl/avx2/t1/b8");
    qb_ids_free(ids, n);
    path_in_tmp(p, sizeof p, "absent.csv");
    assert_int_equal(qb_results_finished(p, &ids, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
}

static void expect_read_error(const char *name, const char *text, const char *want)
{
    char p[256], err[600], full[300];
    path_in_tmp(p, sizeof p, name);
    write_file(p, text);
    collected got = {0};
    assert_int_equal(qb_results_read(p, collect, &got, err, sizeof err), -1);
    snprintf(full, sizeof full, "%s:%s", p, want);
    if (!strstr(err, full))
        fail_msg("message '%s' lacks '%s'", err, full);
}

static void results_bad(void **state)
{
    (void)state;
    char header[2048] = "";
    for (int i = 0; i < QB_NCOLS; i++) {
        strcat(header, qb_result_columns[i]);
        strcat(header, i + 1 < QB_NCOLS ? "," : "\n");
    }
    /* a good row to mutate: 48 fields of schema 1, 18 of schema 2, 2 of schema 3, 1 of schema 4, 2 of schema 5 */
    const char *good = "r,t,h,c,f,gcc,sha,s,mlp,fashion-mnist,fp32,none,avx2,1,1,ok,,10,1,1,1,1,1,0.1,0.1,1000,"
                       "none,,,,,,model,0.5,,100,200,300,400,500,90,90,0,100,40,0.99,0.01,0.001,"
                       "0.9,0.1,0.05,0.07,0.98,1.02,3,1,4096,89,91,-0.5,0.5,99,100,0.6,0.002,0.01,p1,0123456789abcdef,"
                       "0123456789abcdef,30.5,40.25\n";
    char text[8192];
    snprintf(text, sizeof text, "%s%s", header, good);
    char p[256], err[600];
    path_in_tmp(p, sizeof p, "good.csv");
    write_file(p, text);
    collected got = {0};
    assert_int_equal(qb_results_read(p, collect, &got, err, sizeof err), 0);
    assert_int_equal(got.n, 1);

    snprintf(text, sizeof text, "%s%s%s", header, good, "r,t,h\n");
    expect_read_error("short.csv", text, "3: 3 fields, want 71");
    snprintf(text, sizeof text, "%s%s", header, good);
    char *q = strstr(text + strlen(header), ",fp32,");
    memcpy(q, ",fp33,", 6);
    expect_read_error("prec.csv", text, "2: column precision: 'fp33'");
    snprintf(text, sizeof text, "%s%s", header, good);
    q = strstr(text + strlen(header), ",1000,");
    memcpy(q, ",1e9x,", 6);
    expect_read_error("num.csv", text, "2: column throughput_ips");
    snprintf(text, sizeof text, "%s%s", header, good);
    q = strstr(text + strlen(header), ",ok,");
    memcpy(q, ",ko,", 4);
    expect_read_error("status.csv", text, "2: column status");
    snprintf(text, sizeof text, "%s\n%s", header, "r,\"unterminated,x\n");
    expect_read_error("quote.csv", text, "3: ");
    expect_read_error("header.csv", "run_id,when\n", "1: ");
    expect_read_error("empty.csv", "", "1: empty file");
    snprintf(text, sizeof text, "%s%s", header, good);
    q = strstr(text + strlen(header), ",avx2,1,1,");
    memcpy(q, ",avx2,0,1,", 10);
    expect_read_error("threads.csv", text, "2: column threads");
}

static void results_header_mismatch(void **state)
{
    (void)state;
    char p[256], err[600];
    path_in_tmp(p, sizeof p, "other.csv");
    write_file(p, "a,b,c\n1,2,3\n");
    qb_results_writer w;
    assert_int_equal(qb_results_open(p, &w, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1: "));
    /* the file is untouched */
    FILE *f = fopen(p, "r");
    char buf[64] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    assert_string_equal(buf, "a,b,c\n1,2,3\n");
    /* a complete header but an interrupted last row: the partial row is cut off */
    char header[2048] = "";
    for (int i = 0; i < QB_NCOLS; i++) {
        strcat(header, qb_result_columns[i]);
        strcat(header, i + 1 < QB_NCOLS ? "," : "\n");
    }
    strcat(header, "r,t,h");
    path_in_tmp(p, sizeof p, "cut.csv");
    write_file(p, header);
    assert_int_equal(qb_results_open(p, &w, err, sizeof err), 0);
    qb_results_close(&w);
    f = fopen(p, "r");
    char all[4096] = "";
    n = fread(all, 1, sizeof all - 1, f);
    fclose(f);
    all[n] = 0;
    header[strlen(header) - strlen("r,t,h")] = 0;
    assert_string_equal(all, header);
    /* a foreign file without a final newline is refused, not cut */
    path_in_tmp(p, sizeof p, "foreign.csv");
    write_file(p, "a,b,c\n1,2");
    assert_int_equal(qb_results_open(p, &w, err, sizeof err), -1);
    f = fopen(p, "r");
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    assert_string_equal(buf, "a,b,c\n1,2");
}

/* A results file of schema 1 (48 columns) still reads (the newer columns
 * empty), is upgraded in place when opened for appending (--resume),
 * keeps its rows, and takes rows of the current schema after that. */
static void results_schema1(void **state)
{
    (void)state;
    char text[8192] = "", p[256], err[600];
    for (int i = 0; i < qb_schema_ncols[0]; i++) {
        strcat(text, qb_result_columns[i]);
        strcat(text, i + 1 < qb_schema_ncols[0] ? "," : "\n");
    }
    strcat(text, "r,t,h,c,f,gcc,sha,s,mlp,fashion-mnist,fp32,none,avx2,1,1,ok,,10,1,1,1,1,1,0.1,0.1,1000,"
                 "none,,,,,,model,0.5,,100,200,300,400,500,90,90,0,100,40,0.99,0.01,0.001\n");
    path_in_tmp(p, sizeof p, "schema1.csv");
    write_file(p, text);
    collected got = {0};
    assert_int_equal(qb_results_read(p, collect, &got, err, sizeof err), 0);
    assert_int_equal(got.n, 1);
    assert_true(got.rows[0].kl_div == 0.001);
    assert_true(isnan(got.rows[0].latency_ms_ci_low) && isnan(got.rows[0].mcnemar_p));
    /* a schema-1 row in a schema-2 file is refused (fields counted against the header) */
    char bad[8192] = "";
    for (int i = 0; i < QB_NCOLS; i++) {
        strcat(bad, qb_result_columns[i]);
        strcat(bad, i + 1 < QB_NCOLS ? "," : "\n");
    }
    strcat(bad, strchr(text, '\n') + 1);
    expect_read_error("mixed.csv", bad, "2: 48 fields, want 71");
    /* resume: upgraded, the old row kept, a new row appended */
    qb_results_writer w;
    assert_int_equal(qb_results_open(p, &w, err, sizeof err), 0);
    qb_result_row r = got.rows[0];
    r.mcnemar_p = 0.5;
    snprintf(r.model, sizeof r.model, "cnn");
    assert_int_equal(qb_results_write(&w, &r, err, sizeof err), 0);
    qb_results_close(&w);
    collected again = {0};
    assert_int_equal(qb_results_read(p, collect, &again, err, sizeof err), 0);
    assert_int_equal(again.n, 2);
    assert_string_equal(again.rows[0].model, "mlp");
    assert_true(isnan(again.rows[0].mcnemar_p));
    assert_string_equal(again.rows[1].model, "cnn");
    assert_true(again.rows[1].mcnemar_p == 0.5);
    FILE *f = fopen(p, "r");
    char line[4096];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_non_null(strstr(line, ",kl_div_max,plan,plan_hash,output_hash,sqnr_ci_low,sqnr_ci_high\n"));
    /* a header with a column count of no schema is refused */
    expect_read_error("count.csv", "run_id,timestamp\n", "1: header has 2 columns");
}

/* A results file of schema 2 (66 columns, before output_hash) reads with
 * the hash empty, and --resume upgrades it keeping its rows. */
static void results_schema2(void **state)
{
    (void)state;
    char text[8192] = "", p[256], err[600];
    for (int i = 0; i < qb_schema_ncols[1]; i++) {
        strcat(text, qb_result_columns[i]);
        strcat(text, i + 1 < qb_schema_ncols[1] ? "," : "\n");
    }
    strcat(text, "r,t,h,c,f,gcc,sha,s,mlp,fashion-mnist,int8-channel,ptq-minmax,avx2,1,1,ok,,10,1,1,1,1,1,0.1,0.1,1000,"
                 "none,,,,,,model,0.5,,100,200,300,400,500,90,90,0,100,40,0.99,0.01,0.001,"
                 "0.9,0.1,0.05,0.07,0.98,1.02,3,1,4096,89,91,-0.5,0.5,99,100,0.6,0.002,0.01\n");
    path_in_tmp(p, sizeof p, "schema2.csv");
    write_file(p, text);
    collected got = {0};
    assert_int_equal(qb_results_read(p, collect, &got, err, sizeof err), 0);
    assert_int_equal(got.n, 1);
    assert_true(got.rows[0].kl_div_max == 0.01);
    assert_string_equal(got.rows[0].output_hash, "");
    assert_true(isnan(got.rows[0].sqnr_ci_low) && isnan(got.rows[0].sqnr_ci_high));
    qb_results_writer w;
    assert_int_equal(qb_results_open(p, &w, err, sizeof err), 0);
    qb_result_row r = got.rows[0];
    snprintf(r.output_hash, sizeof r.output_hash, "0123456789abcdef");
    assert_int_equal(qb_results_write(&w, &r, err, sizeof err), 0);
    qb_results_close(&w);
    collected again = {0};
    assert_int_equal(qb_results_read(p, collect, &again, err, sizeof err), 0);
    assert_int_equal(again.n, 2);
    assert_string_equal(again.rows[0].output_hash, "");
    assert_string_equal(again.rows[1].output_hash, "0123456789abcdef");
}

/* ---- statistics and the measurement loop ---- */

static void stats_known(void **state)
{
    (void)state;
    double x[] = {5, 1, 4, 2, 3};
    qb_stats s = qb_stats_of(x, 5);
    assert_true(s.min == 1);
    assert_true(s.median == 3);
    assert_true(s.mean == 3);
    assert_true(fabs(s.p95 - 4.8) < 1e-12); /* 0.95 * 4 = 3.8: 4 + 0.8 * (5 - 4) */
    assert_true(fabs(s.p99 - 4.96) < 1e-12);
    assert_true(fabs(s.stddev - sqrt(2.5)) < 1e-12);
    assert_true(fabs(s.cv - sqrt(2.5) / 3) < 1e-12);
    double y[] = {2, 4, 4, 4, 5, 5, 7, 9};
    s = qb_stats_of(y, 8);
    assert_true(s.median == 4.5);
    assert_true(s.mean == 5);
    assert_true(fabs(s.stddev - sqrt(32.0 / 7)) < 1e-12);
    double one[] = {7};
    s = qb_stats_of(one, 1);
    assert_true(s.min == 7 && s.median == 7 && s.p99 == 7 && s.stddev == 0 && s.cv == 0);
}

/* A fake inference whose duration is set per call (busy wait). */
typedef struct fake {
    long calls;     /* calls so far */
    long fail_at;   /* fail on this call (-1: never) */
    int noisy;      /* alternate 20 us and 200 us */
} fake;

static int fake_fn(void *ctx, long iter)
{
    fake *f = ctx;
    if (f->calls++ == f->fail_at)
        return 1;
    double us = f->noisy && (iter % 2) ? 200 : 20, t0 = qb_now();
    while ((qb_now() - t0) * 1e6 < us)
        ;
    return 0;
}

static void measure_loop(void **state)
{
    (void)state;
    qb_measure_cfg cfg = {.warmup = 3, .iterations = 10, .min_time_s = 0, .max_iterations = 1000,
                          .cv_threshold = 10.0, .retries = 2};
    fake f = {.fail_at = -1};
    qb_measure_result r;
    char err[100];
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    assert_int_equal(r.st.n, 10);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(r.calls, f.calls); /* warm-up (3 calls, then until the median settles) included */
    assert_true(r.calls >= 13 + 6);
    assert_true(r.st.min >= 20e-6);
    /* the minimum time extends the count */
    cfg.min_time_s = 0.01;
    f = (fake){.fail_at = -1};
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    assert_true(r.st.n >= 10 && r.total_s >= 0.01);
    /* bimodal timings: CV far above 5%, every retry used, marked noisy */
    cfg = (qb_measure_cfg){.warmup = 0, .iterations = 20, .min_time_s = 0, .max_iterations = 20,
                           .cv_threshold = 0.05, .retries = 2};
    f = (fake){.fail_at = -1, .noisy = 1};
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), 0);
    assert_int_equal(r.attempts, 3);
    assert_true(r.noisy);
    assert_true(r.st.cv > 0.05);
    assert_true(r.calls >= 60 && r.calls == f.calls);
    /* a failing inference stops the loop */
    f = (fake){.fail_at = 5};
    assert_int_equal(qb_measure(&cfg, fake_fn, &f, &r, err, sizeof err), -1);
    double in_sample, per_iter;
    qb_measure_overhead(10000, &in_sample, &per_iter);
    /* both are measured times of an empty call: only their being positive
     * and finite is a property; their order depends on preemption (it
     * failed once under load 15), so it is not asserted */
    assert_true(in_sample > 0 && in_sample < 1e-3);
    assert_true(per_iter > 0 && per_iter < 1e-3);
}

/* ---- per-cell peak memory ---- */

/* One sweep of three kernel cells: a small one, a large one (64 MiB of
 * fp32 weights for 1 x 4096 x 4096), the small one again. Each row
 * reports its own peak, so the small cell after the large one is far
 * below it (with the process's lifetime peak they would be equal); all
 * take the robust latency columns. Under AddressSanitizer freed memory
 * stays resident in its quarantine, so there only the first small cell
 * is compared. */
static void cell_peak_memory(void **state)
{
    (void)state;
    const char *ini = "[axes]\nmodels = small big small2\nprecisions = fp32\nmethods = none\nisas = scalar\n"
                      "[measure]\nwarmup = 0\niterations = 3\nmin_time_ms = 0\nretries = 0\ncounters = none\n"
                      "[model big]\ngemm = 1x4096x4096\n[model small]\ngemm = 1x8x8\n[model small2]\ngemm = 1x8x8\n";
    qb_scenario sc;
    char err[600];
    assert_int_equal(qb_scenario_load_string(ini, "mem.ini", &sc, err, sizeof err), 0);
    qb_plan plan;
    assert_int_equal(qb_plan_build(&sc, &plan), 0);
    assert_int_equal(plan.n, 3);
    qb_result_row row[3];
    for (int i = 0; i < 3; i++) {
        qb_row_init(&row[i]);
        assert_int_equal(qb_cell_run(&plan.cells[i], &sc, &row[i], NULL), 0);
        assert_true(!strcmp(row[i].status, "ok") || !strcmp(row[i].status, "noisy"));
        assert_true(row[i].latency_ms_ci_low <= row[i].latency_ms_median);
        assert_true(row[i].latency_ms_median <= row[i].latency_ms_ci_high);
        assert_true(row[i].calls_per_sample >= 1 && row[i].iterations >= 3);
    }
    assert_string_equal(row[1].model, "big");
    assert_true(row[1].weight_bytes >= 64.0 * 1024 * 1024);
    assert_true(row[1].peak_rss_kb > row[0].peak_rss_kb + 48 * 1024);
#ifndef __SANITIZE_ADDRESS__
    assert_true(row[1].peak_rss_kb > row[2].peak_rss_kb + 48 * 1024);
#endif
    qb_plan_free(&plan);
}

/* ---- energy ---- */

static void energy_default_table(void **state)
{
    (void)state;
    qb_energy_table t;
    char err[600];
    assert_int_equal(qb_energy_load("datasets/energy/horowitz-45nm.csv", &t, err, sizeof err), 0);
    assert_true(t.int8_add == 0.03 && t.int8_mult == 0.2 && t.int32_add == 0.1 && t.int32_mult == 3.1);
    assert_true(t.fp16_add == 0.4 && t.fp16_mult == 1.1 && t.fp32_add == 0.9 && t.fp32_mult == 3.7);
    assert_true(t.sram_8kb == 10 && t.sram_32kb == 20 && t.sram_1mb == 100 && t.dram == 1950);
    assert_true(fabs(qb_energy_mac_pj(&t, QB_PREC_FP32) - 4.6) < 1e-12);
    assert_true(fabs(qb_energy_mac_pj(&t, QB_PREC_FP16) - 1.5) < 1e-12);
    assert_true(fabs(qb_energy_mac_pj(&t, QB_PREC_INT8_CHANNEL) - 0.3) < 1e-12);
    assert_true(fabs(qb_energy_mac_pj(&t, QB_PREC_INT4) - 0.3) < 1e-12);
    assert_true(isnan(qb_energy_mac_pj(&t, QB_PREC_MIXED)));

    /* hand-computed: 1e6 int8 MACs (0.3 pJ) + 1e5 fp32 MACs (4.6 pJ)
     * = 300000 + 460000 pJ; no counters: 80000 weight bytes = 10000
     * DRAM words x 1950 pJ = 19.5e6 pJ; 4000 activation bytes written and
     * read = 1000 words x 20 pJ = 20000 pJ. Total 20.28e6 pJ = 0.02028 mJ. */
    qb_energy_work w = {.weight_bytes = 80000, .activation_bytes = 4000};
    w.macs[QB_PREC_INT8_CHANNEL] = 1e6;
    w.macs[QB_PREC_FP32] = 1e5;
    char note[300];
    double mj = qb_energy_model(&t, &w, note, sizeof note);
    assert_true(fabs(mj - 0.02028) < 1e-12);
    assert_non_null(strstr(note, "weight and activation bytes"));
    /* with counters: 100 LLC misses = 800 DRAM words (1.56e6 pJ); 300 L1D
     * misses, 200 served below L1 = 1600 words x 100 pJ = 160000 pJ; 5000
     * data references x 20 pJ = 100000 pJ; plus the 760000 pJ of MACs. */
    qb_counters c;
    qb_counters_init(&c);
    c.l1d_misses = 300;
    c.llc_misses = 100;
    c.data_refs = 5000;
    w.counters = &c;
    mj = qb_energy_model(&t, &w, note, sizeof note);
    assert_true(fabs(mj - (760000 + 1.56e6 + 160000 + 100000) * 1e-9) < 1e-15);
    assert_non_null(strstr(note, "from counters"));
    /* mixed needs MACs per precision */
    qb_energy_work m = {0};
    m.macs[QB_PREC_MIXED] = 10;
    assert_true(isnan(qb_energy_model(&t, &m, note, sizeof note)));
}

static void expect_table_error(const char *name, const char *text, const char *want)
{
    char p[256], err[600], full[300];
    path_in_tmp(p, sizeof p, name);
    write_file(p, text);
    qb_energy_table t;
    assert_int_equal(qb_energy_load(p, &t, err, sizeof err), -1);
    snprintf(full, sizeof full, "%s:%s", p, want);
    if (!strstr(err, full))
        fail_msg("message '%s' lacks '%s'", err, full);
}

static void energy_bad_tables(void **state)
{
    (void)state;
    char good[2048];
    FILE *f = fopen("datasets/energy/horowitz-45nm.csv", "r");
    assert_non_null(f);
    size_t n = fread(good, 1, sizeof good - 1, f);
    fclose(f);
    good[n] = 0;
    char text[4096];
    int lines = 0;
    for (const char *c = good; *c; c++)
        lines += *c == '\n';
    char want[100];
    snprintf(text, sizeof text, "%sdram,64bit,2000,again\n", good);
    snprintf(want, sizeof want, "%d: dram given twice", lines + 1);
    expect_table_error("dup.csv", text, want);
    snprintf(text, sizeof text, "%sflux.capacitor,op,1,x\n", good);
    snprintf(want, sizeof want, "%d: unknown name 'flux.capacitor'", lines + 1);
    expect_table_error("unknown.csv", text, want);
    expect_table_error("neg.csv", "name,unit,picojoules,source\nint8.add,op,-1,x\n", "2: int8.add: picojoules '-1'");
    expect_table_error("nan.csv", "# c\nname,unit,picojoules,source\nint8.add,op,abc,x\n", "3: int8.add: picojoules");
    expect_table_error("unit.csv", "name,unit,picojoules,source\ndram,op,1,x\n", "2: dram: unit 'op'");
    expect_table_error("fields.csv", "name,unit,picojoules,source\ndram,64bit,1\n", "2: 3 fields");
    expect_table_error("header.csv", "what,ever\n", "1: 2 fields");
    expect_table_error("missing.csv", "name,unit,picojoules,source\nint8.add,op,1,x\n", "2: no row for int8.mult");
    qb_energy_table t;
    char err[300];
    assert_int_equal(qb_energy_load("/nonexistent/e.csv", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/e.csv"));
}

/* ---- counters ---- */

static void cachegrind_parse(void **state)
{
    (void)state;
    char p[256], err[600];
    path_in_tmp(p, sizeof p, "cg.out");
    write_file(p, "desc: I1 cache: 32768 B, 64 B, 8-way associative\ncmd: x\n"
                  "events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw\nfl=a.c\n0 1 2 3\n"
                  "summary: 1000 10 5 400 40 4 200 20 2");
    qb_cg_totals t;
    assert_int_equal(qb_cachegrind_parse(p, &t, err, sizeof err), 0);
    assert_true(t.ir == 1000 && t.i1mr == 10 && t.ilmr == 5 && t.dr == 400 && t.d1mr == 40 && t.dlmr == 4);
    assert_true(t.dw == 200 && t.d1mw == 20 && t.dlmw == 2);
    /* per inference from two runs */
    qb_cg_totals t2 = t;
    t2.ir += 600;
    t2.d1mr += 60;
    t2.d1mw += 6;
    t2.dlmr += 8;
    t2.dr += 300;
    qb_counters c;
    qb_cachegrind_counters(&t, &t2, 3, &c);
    assert_string_equal(c.source, "cachegrind");
    assert_true(c.instructions == 200 && c.l1d_misses == 22 && c.llc_misses == 8.0 / 3 && c.data_refs == 100);
    assert_true(isnan(c.cycles) && isnan(c.l2_misses)); /* never a fake zero */
    write_file(p, "events: Ir\nsummary: 5\n");
    assert_int_equal(qb_cachegrind_parse(p, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1: events lack"));
    write_file(p, "events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw\nsummary: 1 2\n");
    assert_int_equal(qb_cachegrind_parse(p, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2: summary has fewer"));
    write_file(p, "events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw\n");
    assert_int_equal(qb_cachegrind_parse(p, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "no summary"));
}

static void cachegrind_real(void **state)
{
    (void)state;
    if (access("/usr/bin/valgrind", X_OK)) {
        skip(); /* Debian package valgrind absent */
        return;
    }
    char *argv[] = {"/bin/true", NULL};
    qb_cg_totals t;
    char why[400];
    assert_int_equal(qb_cachegrind_run(argv, &t, why, sizeof why), 0);
    assert_true(t.ir > 1000 && t.dr > 0 && t.dw > 0);
    char *bad[] = {"/bin/false", NULL};
    assert_int_equal(qb_cachegrind_run(bad, &t, why, sizeof why), -1);
    assert_non_null(strstr(why, "exited with 1"));
}

static void papi_fails_cleanly(void **state)
{
    (void)state;
    char why[400];
    int ok = qb_papi_probe(why, sizeof why);
    assert_true(why[0]); /* either "N of 5 counters" or the reason */
    fake f = {.fail_at = -1};
    qb_counters c;
    int rc = qb_papi_count(fake_fn, &f, 3, &c, why, sizeof why);
    if (ok) {
        assert_int_equal(rc, 0);
        assert_string_equal(c.source, "papi");
    } else {
        /* no PMU (this VM): an error with the reason, nothing counted */
        assert_int_equal(rc, -1);
        assert_true(why[0]);
        assert_string_equal(c.source, "none");
        assert_true(isnan(c.cycles) && isnan(c.instructions) && isnan(c.l1d_misses));
    }
}

/* The traits tables of the vocabularies (kernels/names.c, qmath/method.c,
 * report/status.c): complete, consistent with the plan rules, the kernel
 * registry and the results reader, and the names users rely on unchanged. */
static void vocabulary_traits(void **state)
{
    (void)state;
    for (int p = 0; p < QB_PREC_COUNT; p++) {
        const qb_precision_traits *t = qb_precision_traits_of((qb_precision)p);
        assert_non_null(t->name);
        assert_int_equal(qb_precision_parse(t->name), p);
        /* a precision without calibration takes exactly the method none */
        for (int m = 0; m < QB_METHOD_COUNT; m++)
            if (m == QB_METHOD_NONE || !t->calibrated)
                assert_int_equal(qb_plan_valid((qb_precision)p, (qb_method)m), t->calibrated != (m == QB_METHOD_NONE));
        assert_true(t->weight_bits == 0 ? t->act == QB_ACT_PER_LAYER && !t->family : t->family != NULL);
        /* a variant runs as a base precision (one that runs as itself) of the same arithmetic */
        const qb_precision_traits *base = qb_precision_traits_of(t->runs_as);
        assert_int_equal(base->runs_as, t->runs_as);
        assert_int_equal(base->weight_bits, t->weight_bits);
        assert_int_equal(base->act, t->act);
        assert_int_equal(base->calibrated, t->calibrated);
        assert_true(t->family == base->family || !strcmp(t->family, base->family));
        /* the kernel family tag is the one in the GEMM kernels' names (a variant's: its base's) */
        int n, found = 0;
        const qb_kernel *ks = qb_kernels(&n);
        for (int i = 0; i < n; i++)
            if (ks[i].op == QB_OP_GEMM && ks[i].prec == t->runs_as) {
                char want[32];
                snprintf(want, sizeof want, "qb_gemm_%s__", t->family);
                assert_non_null(strstr(ks[i].name, want));
                found++;
            }
        assert_true(found > 0 || !t->family);
    }
    assert_string_equal(qb_precision_traits_of(QB_PREC_COUNT)->name, "?");
    static const qb_precision bases[] = {QB_PREC_FP32, QB_PREC_FP16,   QB_PREC_INT8_TENSOR, QB_PREC_INT8_CHANNEL,
                                         QB_PREC_INT4, QB_PREC_BINARY, QB_PREC_MIXED};
    for (size_t i = 0; i < sizeof bases / sizeof *bases; i++) /* these run as themselves */
        assert_int_equal(qb_precision_runs_as(bases[i]), bases[i]);
    assert_true(qb_precision_is_int8(QB_PREC_INT8_TENSOR) && qb_precision_is_int8(QB_PREC_INT8_CHANNEL));
    assert_false(qb_precision_is_int8(QB_PREC_INT4) || qb_precision_is_int8(QB_PREC_MIXED));
    assert_true(qb_precision_is_float(QB_PREC_FP32) && qb_precision_is_float(QB_PREC_FP16));
    assert_false(qb_precision_is_float(QB_PREC_BINARY) || qb_precision_is_float(QB_PREC_MIXED));
    for (int st = 0; st < QB_STATUS_COUNT; st++) {
        const qb_status_traits *t = qb_status_traits_of((qb_status)st);
        assert_non_null(t->name);
        assert_int_equal(qb_status_parse(t->name), st);
        assert_true(t->finished != t->failure); /* --resume runs a cell again exactly when it failed */
    }
    assert_int_equal(qb_status_parse("OK"), -1);
    /* the names users rely on (docs/design.md, results CSVs) never change (new ones may be added) */
    assert_non_null(strstr(qb_precision_list(), "fp32 fp16 int8-tensor int8-channel int4 binary"));
    assert_non_null(strstr(qb_precision_list(), " mixed"));
    assert_string_equal(qb_isa_list(), "scalar avx2 vnni neon");
    assert_non_null(strstr(qb_method_list(), "none ptq-minmax ptq-percentile ptq-mse ptq-kl"));
    assert_non_null(strstr(qb_method_list(), " qat"));
    assert_string_equal(qb_status_list(), "ok unsupported noisy failed");
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vocabulary_traits),
        cmocka_unit_test(scenario_good),
        cmocka_unit_test(scenario_defaults),
        cmocka_unit_test(scenario_bad),
        cmocka_unit_test(scenario_long_line),
        cmocka_unit_test(scenario_file_errors),
        cmocka_unit_test(plan_expand_prune),
        cmocka_unit_test(plan_kernel_pruning),
        cmocka_unit_test(plan_shards),
        cmocka_unit_test(plan_only),
        cmocka_unit_test(results_columns),
        cmocka_unit_test(results_round_trip),
        cmocka_unit_test(results_bad),
        cmocka_unit_test(results_header_mismatch),
        cmocka_unit_test(stats_known),
        cmocka_unit_test(results_schema1),
        cmocka_unit_test(results_schema2),
        cmocka_unit_test(measure_loop),
        cmocka_unit_test(cell_peak_memory),
        cmocka_unit_test(energy_default_table),
        cmocka_unit_test(energy_bad_tables),
        cmocka_unit_test(cachegrind_parse),
        cmocka_unit_test(cachegrind_real),
        cmocka_unit_test(papi_fails_cleanly),
    };
    int rc = cmocka_run_group_tests_name("sweep", tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd))
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return rc;
}
