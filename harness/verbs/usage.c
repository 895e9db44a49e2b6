/*
 * usage.c - the table of qbench's verbs and the help printed from it (see
 * usage.h). Adding a verb: one entry here and its qb_verb_* function.
 */
#include "harness/verbs/usage.h"

#include <stdarg.h>
#include <string.h>

#include "harness/verbs/pipeline_args.h"
#include "harness/verbs/verbs.h"

/* The quantization options `eval`, `quantize` and `run -p` share. */
#define PIPELINE_DETAILS                                                                        \
    "  -d DATASET          fashion-mnist, synthetic, none or a custom NAME (with --data-dir DIR)\n" \
    "  -p PREC             {precisions}\n"                                                       \
    "  --method M          {methods} (default ptq-percentile); a ptq-*\n" \
    "                      method takes repairs: M+cle+absorb+smooth+adaround+biascorr+biascorr-bn\n" \
    "  -i ISA              {isas} (default: the best this CPU runs)\n"             \
    "  --calib N           calibration images; --limit N: test images; --batch B\n"               \
    "  --symmetric --percentile P --group 32|64|128 --binary-all   calibration and format\n"    \
    "  --budget PT         mixed: allowed accuracy drop; --val N validation images\n"           \
    "  --cost latency|bytes|energy  mixed: choose layers by accuracy per unit of cost;\n"       \
    "                      --with-qat adds int4 QAT, priced by its training time\n"             \
    "  --energy-model FILE the energy table of --cost energy; --plan FILE: a layer plan\n"     \
    "  --seed S --qat-epochs N --qat-lr LR --retrain -v            QAT recipe, retrain, verbose\n"

const qb_verb_def qb_verb_defs[] = {
    {"info", qb_verb_info, "", "machine, ISA flags, which ISAs run here", ""},
    {"kernels", qb_verb_kernels, "[--csv]", "every kernel and whether this CPU runs it",
     "  --csv               one CSV row per kernel\n"},
    {"gemm", qb_verb_gemm,
     "-p PREC|all -i ISA|all -s MxNxK [-g 0|32|64|128] [-r REPS] [--check] [--csv] [--seed S] [--relu] "
     "[--fill random|extreme] [--rq-fast 0|1|2] [--out-i32] [--lda-extra N] [--ldc-extra N] [--threads T]",
     "one GEMM kernel: median time, GOP/s (MAC = 2 ops)",
     "  -p PREC             {precisions} (mixed is a plan, not a kernel), or all\n"
     "  -i ISA              {isas}, or all\n"
     "  -s MxNxK            the shape (C = A . W^T)\n"
     "  -g G                int4 group size (0: per channel)\n"
     "  -r REPS             timed repetitions (default: at least 5 and about 0.5 s)\n"
     "  --check             compare against the scalar kernel\n"
     "  --csv               CSV on stdout (the input of `qbench plot --kernels`)\n"
     "  --seed S --fill random|extreme   the data (a failed --check prints a repro line with its seed)\n"
     "  --rq-fast 1|2       int8 multipliers all in the faster requantization's form (as a model's usually\n"
     "                      are; 0, the default: a third exact only); 2 also tiny (dwconv: y_zero 30000)\n"
     "  --relu --out-i32 --lda-extra N --ldc-extra N   epilogue, output and padded strides\n"
     "  --threads T         through the model engine's split (rows, or columns when M is one chunk) on T threads\n"},
    {"dwconv", qb_verb_dwconv,
     "-p fp32|int8-channel|all -i ISA|all -s HxWxC [-k KHxKW] [--stride S|SHxSW] [--dilation D|DHxDW] "
     "[--pad P|T,L,B,R] [-r REPS] [--check] [--csv] [--seed S] [--relu] [--fill random|extreme] [--rq-fast 0|1|2]",
     "one depthwise convolution kernel (any window, stride, dilation, padding): median time, GOP/s",
     "  -p PREC             fp32, int8-channel or all\n"
     "  -i ISA              {isas}, or all\n"
     "  -s HxWxC            the image (height, width, channels)\n"
     "  -k KHxKW            the window (default 3x3)\n"
     "  --stride S|SHxSW --dilation D|DHxDW   one value or one per axis (default 1)\n"
     "  --pad P|T,L,B,R     padding (default \"same\")\n"
     "  -r REPS --check --csv --seed S --relu --fill random|extreme --rq-fast N   as for gemm\n"},
    {"inspect", qb_verb_inspect, "MODEL.onnx [--shape [NAME=]AxBxC ...]",
     "inputs, outputs, layers with shapes, params, MACs",
     "  --shape [NAME=]AxB  the shape of an input (symbolic dimensions; once per input)\n"},
    {"run", qb_verb_run,
     "MODEL.onnx (--input X.pb | --input-raw F --shape AxB)... -o OUTDIR [-p PREC [--method M] [-d DATASET] "
     "[--data-dir DIR] [--calib N]] [--plan FILE] [-i ISA] [--profile] [--repeat N] [--data DIR "
     "[--preprocess SPEC]] [--shape [NAME=]AxB]",
     "one inference; writes OUTDIR/output_N.pb",
     "  --input X.pb        an input TensorProto; --input-raw F --shape AxB: raw float32\n"
     "  -o OUTDIR           where output_N.pb go\n"
     "  --profile           time per layer and the split inside/outside kernels (the input of `qbench plot\n"
     "                      --profile`)\n"
     "  --repeat N          time N more inferences: median, min, max, peak RSS\n"
     "  --data DIR          calibrate on the folder's first inputs, run the next one without --input\n"
     "  --shape [NAME=]AxB  (not after --input-raw) fix the model's symbolic input sizes\n" PIPELINE_DETAILS},
    {"train", qb_verb_train,
     "-m mlp|cnn|dscnn -d fashion-mnist|synthetic|NAME [--data-dir DIR] [-e EPOCHS] [--seed S] [--batch B] "
     "[--lr LR] [--opt sgd|adam] [--wd WD] [--momentum M] [--sched cosine|step|const] [--val N] [--limit N] "
     "[--threads N] [--profile] [--force] [-o OUT.onnx]",
     "train a zoo model (FP32), export it as ONNX",
     "  -m MODEL -d DATASET the zoo model and its data (NAME: IDX files in --data-dir DIR)\n"
     "  -e EPOCHS --seed S --batch B --lr LR --opt sgd|adam --wd WD --momentum M\n"
     "  --sched cosine|step|const --val N --limit N (training images) --threads N\n"
     "  --profile           time per phase; --force: train even if cached\n"
     "  -o OUT.onnx         where to write it (default: the model cache, `qbench info`)\n"},
    {"eval", qb_verb_eval,
     "MODEL.onnx " QB_PIPELINE_USAGE "\n       [--per-layer [--bisect]] [--sqnr-threshold DB] [--save-plan FILE] [--pareto FILE.csv] [--csv]"
     "\n       [--versus METHOD]",
     "top-1 accuracy of the model at a precision against FP32",
     PIPELINE_DETAILS "  --per-layer         SQNR of every layer (the input of `qbench plot --per-layer`)\n"
                      "  --bisect            the fewest layers to keep fp32 for the budget (with --per-layer)\n"
                      "  --sqnr-threshold DB the first layer below it is named\n"
                      "  --save-plan FILE    write the layer plan (mixed, --bisect) as a plan file\n"
                      "  --pareto FILE.csv   mixed with --cost: the search's path and Pareto set\n"
                      "  --csv               one results CSV row\n"
                      "  --versus METHOD     also evaluate METHOD on the same samples; print A minus B with\n"
                      "                      paired 95% intervals (SQNR, top-1, agreement; two-sided McNemar)\n"},
    {"quantize", qb_verb_quantize,
     "MODEL.onnx -p PREC -o OUT.onnx " QB_PIPELINE_USAGE
     "\n       [--save-plan FILE]",
     "calibrate and write the quantized model (int8 QDQ, fp16, com.qbench int4/binary)",
     PIPELINE_DETAILS "  --save-plan FILE    write the layer plan as a plan file\n"},
    {"sweep", qb_verb_sweep,
     "SCENARIO.ini [-o DIR] [--resume] [--shard I/N] [--only REGEX] [--dry-run] [-q|-v] [--hot] [--pin CPU] "
     "[--samples] [--energy-model FILE] [--counters auto|papi|cachegrind|none]",
     "run a scenario's cells, one CSV row each (results.csv + results.meta.txt)",
     "  -o DIR              output directory (default reports/NAME)\n"
     "  --resume            skip cells already in DIR/results.csv\n"
     "  --shard I/N         the I-th of N disjoint parts; --only REGEX: cells whose id matches\n"
     "  --dry-run           list the cells; -q quiet, -v a line per cell\n"
     "  --hot --pin CPU --energy-model FILE --counters SOURCE   measurement settings\n"
     "  --samples           every timed sample to samples.csv beside results.csv\n"},
    {"merge", qb_verb_merge, "A.csv B.csv ... -o ALL.csv", "combine results files of shards and machines",
     "  -o ALL.csv          the output (written whole, atomically; not one of the inputs)\n"},
    {"table", qb_verb_table, "RESULTS.csv [--format md|csv|latex|html]",
     "summary table: latency, speed-up against fp32, accuracy drop per cell",
     "  --format F          md (default), csv, latex or html\n"},
    {"plot", qb_verb_plot,
     "[RESULTS.csv] -o DIR [--kernels KERNELS.csv]... [--per-layer EVAL.txt] [--profile LABEL=RUN.txt]...",
     "gnuplot charts (PNG + SVG, data files and the .gp scripts)",
     "  -o DIR              output directory (created)\n"
     "  --kernels F         `make bench` / `qbench gemm --csv` output: GOP/s by shape, precision, ISA\n"
     "  --per-layer F       saved stdout of `qbench eval -p mixed --per-layer`: SQNR per layer and plan\n"
     "  --profile L=F       saved stdout of `qbench run --profile`, labelled L (e.g. net/int8-channel):\n"
     "                      time inside vs outside kernels\n"
     "  needs gnuplot (Debian gnuplot-nox); exit 2 when it is missing\n"},
    {"report", qb_verb_report,
     "RESULTS.csv [more.csv ...] -o DIR [--title T] [--kernels F] [--per-layer F] [--profile L=F]... [--budget PT]",
     "one self-contained HTML report (inline SVG plots, tables, machine, advice)",
     "  -o DIR              writes DIR/report.html (and the plots under DIR/plots)\n"
     "  --title T           page title\n"
     "  --budget PT         accuracy budget of the advice (default 1.0 points)\n"
     "  --kernels --per-layer --profile   as for `qbench plot`\n"},
    {"compare", qb_verb_compare,
     "BASE.csv|--history DB[:best|:last] NEW.csv [--latency-tol 5%] [--accuracy-tol 0.2] "
     "[--metric latency|instructions] [--strict]",
     "regression gate: Markdown table of deltas; exit 0 ok, 1 accuracy regression, 3 performance regression",
     "  --latency-tol T     allowed slow-down (\"5%\" or 0.05; default 5% for latency, 0 for instructions)\n"
     "  --accuracy-tol PT   allowed growth of the accuracy drop in points (default 0.2)\n"
     "  --metric M          latency (CIs of the median must not overlap when present) or instructions (exact)\n"
     "  --strict            a different machine (CPU model or ISA flags) is an error (exit 2), not a warning\n"
     "  --history DB:best   the base is the fastest row of each cell in a `qbench history` store (:last the\n"
     "                      newest)\n"},
    {"advise", qb_verb_advise, "RESULTS.csv [more.csv ...] [--budget 1.0] [--profile LABEL=F]...",
     "per model and precision: PTQ suffices / QAT needed / mixed / not reachable; fastest config per ISA",
     "  --budget PT         allowed accuracy drop in points (default 1.0)\n"
     "  --profile L=F       `qbench run --profile` output: explains int8 not faster than fp32\n"},
    {"history", qb_verb_history, "DB add RESULTS.csv... | DB show [--model M] [--metric latency|instructions|drop] | "
                                 "DB plot -o DIR [--model M]",
     "results of many runs (git sha, date, host) in one SQLite store; trends",
     "  add F...            store the rows of results files (a file already stored is skipped)\n"
     "  show                one line per cell and run, oldest first\n"
     "  plot -o DIR         trend chart per model and precision (gnuplot)\n"
     "  --model M           only this model; --metric: the number shown\n"},
};
const int qb_nverbs = (int)(sizeof qb_verb_defs / sizeof qb_verb_defs[0]);

#ifndef QB_VERSION
#define QB_VERSION "unknown"
#endif
#ifndef QB_GIT_SHA
#define QB_GIT_SHA "unknown"
#endif

const char *qb_version(void)
{
    return "qbench " QB_VERSION " (git " QB_GIT_SHA ")";
}

const qb_verb_def *qb_verb_find(const char *name)
{
    for (int i = 0; i < qb_nverbs; i++)
        if (!strcmp(qb_verb_defs[i].name, name))
            return &qb_verb_defs[i];
    return NULL;
}

/* Option details with {precisions}, {methods} and {isas} replaced by the
 * names of their vocabulary tables (kernels/names.c, harness/qmath/method.c),
 * so the help lists every name and cannot drift from the parsers. */
static void print_details(FILE *f, const char *d)
{
    static const struct {
        const char *token;          /* placeholder in a verb's details text */
        const char *(*names)(void); /* the table's names, space separated */
    } lists[] = {
        {"{precisions}", qb_precision_list},
        {"{methods}", qb_method_list},
        {"{isas}", qb_isa_list},
    };
    while (*d) {
        const char *first = NULL;
        int which = -1;
        for (int i = 0; i < (int)(sizeof lists / sizeof lists[0]); i++) {
            const char *p = strstr(d, lists[i].token);
            if (p && (!first || p < first)) {
                first = p;
                which = i;
            }
        }
        if (!first) {
            fputs(d, f);
            return;
        }
        fwrite(d, 1, (size_t)(first - d), f);
        fputs(lists[which].names(), f);
        d = first + strlen(lists[which].token);
    }
}

void qb_verb_usage(FILE *f, const qb_verb_def *v)
{
    fprintf(f, "usage: qbench %s%s%s\n\n%s\n", v->name, v->synopsis[0] ? " " : "", v->synopsis, v->summary);
    if (v->details[0]) {
        fprintf(f, "\noptions:\n");
        print_details(f, v->details);
    }
    fprintf(f, "  -h, --help          this text\n");
}

void qb_usage_all(FILE *f)
{
    fprintf(f, "usage: qbench <verb> [options]     (qbench VERB --help: the verb's options)\n\nverbs:\n");
    for (int i = 0; i < qb_nverbs; i++)
        fprintf(f, "  qbench %s%s%s\n      %s\n", qb_verb_defs[i].name, qb_verb_defs[i].synopsis[0] ? " " : "",
                qb_verb_defs[i].synopsis, qb_verb_defs[i].summary);
    fprintf(f, "\n  qbench --version    version and git revision of this binary\n"
               "\nexit codes: 0 ok, 1 failed check (accuracy regression), 2 usage or input error,"
               " 3 performance regression\n");
}

int qb_usage_line(const char *verb)
{
    const qb_verb_def *v = qb_verb_find(verb);
    const char *syn = v ? v->synopsis : "";
    fprintf(stderr, "usage: qbench %s%s%s   (qbench %s --help)\n", verb, syn[0] ? " " : "", syn, verb);
    return 2;
}

int qb_usage_error(const char *verb, const char *fmt, ...)
{
    fprintf(stderr, "qbench %s: ", verb);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return qb_usage_line(verb);
}
