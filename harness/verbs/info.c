/*
 * info.c - `qbench info` (CPU model, detected features, which ISAs run
 * here, the QB_FORCE_ISA cap, the round trip of a cache line between
 * the first two CPUs) and `qbench kernels [--csv]` (every kernel
 * with its precision, ISA and whether this CPU can run it, or why not).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/train/train.h"
#include "harness/measure/counters.h"
#include "harness/measure/energy.h"
#include "harness/measure/pingpong.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"
#include "kernels/kernels.h"

int qb_verb_info(int argc, char **argv)
{
    if (argc > 1)
        return qb_usage_error("info", "takes no arguments, got %s", argv[1]);
    char feats[256];
    qb_cpu_feature_names(qb_cpu_features(), feats, sizeof feats);
    printf("cpu: %s\n", qb_cpu_model());
    printf("cores: %ld online\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("features: %s\n", feats[0] ? feats : "(none beyond the baseline)");
    qb_pingpong pp;
    char ppwhy[200];
    if (qb_pingpong_measure(0, &pp, ppwhy, sizeof ppwhy) == 0)
        printf("cpu pair %d-%d round trip: %.0f ns (middle half %.0f-%.0f ns, %zu trips)\n", pp.cpu_a, pp.cpu_b,
               pp.median_ns, pp.q1_ns, pp.q3_ns, pp.trips);
    else
        printf("cpu pair round trip: not measured: %s\n", ppwhy);
    int cap = qb_forced_isa();
    if (cap == -2)
        printf("QB_FORCE_ISA: invalid value '%s' (scalar, avx2, vnni, neon)\n", getenv("QB_FORCE_ISA"));
    else if (cap >= 0)
        printf("QB_FORCE_ISA: %s (kernel selection capped)\n", qb_isa_name(cap));
    for (int isa = 0; isa < QB_ISA_COUNT; isa++) {
        int n, runs = 0, total = 0;
        const qb_kernel *all = qb_kernels(&n);
        char why[200] = "";
        for (int i = 0; i < n; i++) {
            if (all[i].isa != (qb_isa)isa)
                continue;
            total++;
            if (qb_kernel_available(&all[i], why[0] ? NULL : why, sizeof why))
                runs++;
        }
        printf("isa %-6s %s", qb_isa_name(isa), runs ? "yes" : "no ");
        if (runs < total)
            printf("  (%d of %d kernels run; %s)", runs, total, why);
        printf("\n");
    }
    char why[300] = "";
    int papi = qb_papi_probe(why, sizeof why) == 1;
    printf("papi: %s%s%s (counters fall back to cachegrind in qbench sweep)\n", papi ? "counting" : "not counting",
           why[0] ? ": " : "", why);
    qb_rapl rapl;
    why[0] = 0;
    int rapl_ok = qb_rapl_open(&rapl, why, sizeof why) == 0;
    printf("rapl: %s%s%s\n", rapl_ok ? "readable" : "not readable", why[0] ? ": " : "", why);
    printf("model cache: %s (set QB_MODEL_CACHE to move it)\n", qb_zoo_cache_dir());
    printf("selected:");
    for (int p = 0; p < QB_PREC_MIXED; p++) {
        const qb_kernel *k = qb_kernel_select(QB_OP_GEMM, p);
        printf(" %s=%s", qb_precision_name(p), k ? qb_isa_name(k->isa) : "none");
    }
    printf("\n");
    return 0;
}

int qb_verb_kernels(int argc, char **argv)
{
    int csv = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--csv"))
            csv = 1;
        else
            return qb_usage_error("kernels", "unknown option %s", argv[i]);
    }
    int n;
    const qb_kernel *all = qb_kernels(&n);
    if (csv)
        printf("precision,isa,name,available,reason\n");
    else
        printf("%-28s %-10s %-13s %-6s %s\n", "kernel", "op", "precision", "isa", "runs here");
    for (int i = 0; i < n; i++) {
        char why[200];
        int ok = qb_kernel_available(&all[i], why, sizeof why);
        if (csv)
            printf("%s,%s,%s,%s,%s\n", qb_precision_name(all[i].prec), qb_isa_name(all[i].isa), all[i].name,
                   ok ? "yes" : "no", why); /* reasons never contain commas or quotes */
        else
            printf("%-28s %-10s %-13s %-6s %s%s\n", all[i].name, qb_op_name(all[i].op),
                   qb_precision_name(all[i].prec), qb_isa_name(all[i].isa), ok ? "yes" : "no: ", why);
    }
    return 0;
}
