/*
 * main.c - qbench's verb dispatch: `qbench <verb> [args]`. Nothing else.
 */
#include <stdio.h>
#include <string.h>

#include "harness/io/atomic.h"
#include "harness/verbs/verbs.h"

static const struct {
    const char *name;                 /* the verb as typed */
    int (*run)(int argc, char **argv); /* argv[0] is the verb */
    const char *usage;                /* one line of help */
} verbs[] = {
    {"info", qb_verb_info, "info                          machine, ISA flags, which ISAs run here"},
    {"kernels", qb_verb_kernels, "kernels [--csv]               every kernel and whether this CPU runs it"},
    {"gemm", qb_verb_gemm,
     "gemm -p PREC -i ISA -s MxNxK [-g G] [-r REPS] [--check] [--csv] [--seed S]\n"
     "                                one kernel: median time, GOP/s (MAC = 2 ops)"},
    {"dwconv", qb_verb_dwconv,
     "dwconv -p PREC -i ISA -s HxWxC [--stride 1|2] [-r REPS] [--check] [--csv] [--seed S]\n"
     "                                one depthwise 3x3 kernel (padding 1): median time, GOP/s"},
    {"inspect", qb_verb_inspect,
     "inspect MODEL.onnx [--shape AxB ...]\n"
     "                                inputs, outputs, layers with shapes, params, MACs"},
    {"run", qb_verb_run,
     "run MODEL.onnx (--input X.pb | --input-raw F --shape AxB)... -o OUTDIR [-p fp32] [-i ISA] [--profile]\n"
     "                                one inference; writes OUTDIR/output_N.pb"},
    {"train", qb_verb_train,
     "train -m mlp|cnn|dscnn -d DATASET [--data-dir DIR] [-e EPOCHS] [--seed S] -o OUT.onnx\n"
     "                                train a zoo model (FP32), export it as ONNX"},
    {"eval", qb_verb_eval,
     "eval MODEL.onnx -d DATASET [--data-dir DIR] [-i ISA] [--csv]\n"
     "                                top-1 accuracy on the dataset's test images"},
    {"quantize", qb_verb_quantize,
     "quantize MODEL.onnx -p PREC [--method M] -d DATASET -o OUT.onnx [--calib N] [--group G] [--binary-all] ...\n"
     "                                calibrate and write the quantized model (int8 QDQ, fp16, com.qbench int4/binary)"},
    {"sweep", qb_verb_sweep,
     "sweep SCENARIO.ini [-o DIR] [--resume] [--shard I/N] [--only REGEX] [--dry-run] [-q|-v] [--hot] [--pin CPU]\n"
     "                                run a scenario's cells, one CSV row each (results.csv + results.meta.txt)"},
    {"merge", qb_verb_merge,
     "merge A.csv B.csv ... -o ALL.csv\n"
     "                                combine results files of shards and machines (duplicates skipped)"},
    {"table", qb_verb_table,
     "table RESULTS.csv [--format md|csv|latex|html]\n"
     "                                summary table: latency, speed-up against fp32, accuracy drop per cell"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: qbench <verb> [options]\n\nverbs:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        fprintf(f, "  qbench %s\n", verbs[i].usage);
    fprintf(f, "\nexit codes: 0 ok, 1 failed check, 2 usage or input error, 3 performance regression\n");
}

/* A verb's exit code, or 2 when what it printed did not reach standard
 * output (full disk, closed pipe): results a script reads must not be
 * silently lost. */
static int finish(int rc)
{
    char err[256];
    if (qb_stdout_check(err, sizeof err)) {
        fprintf(stderr, "qbench: %s\n", err);
        return 2;
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return finish(0);
    }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(argv[1], verbs[i].name))
            return finish(verbs[i].run(argc - 1, argv + 1));
    fprintf(stderr, "qbench: unknown verb '%s' (try qbench --help)\n", argv[1]);
    return 2;
}
