/*
 * cpu.c - CPU feature detection: cpuid plus xgetbv on x86-64 (a feature
 * counts only when the OS also saves its register state), getauxval on
 * AArch64. Detected once; qbench never runs an instruction missing here.
 */
#include <stdio.h>
#include <string.h>

#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void)
{
    unsigned eax, edx;
    /* xgetbv with ecx = 0; only valid when CPUID says OSXSAVE */
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static unsigned detect(void)
{
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    unsigned leaf1_ecx = c;
    if (leaf1_ecx & bit_SSE4_2)
        f |= QB_CPU_SSE42;
    if (leaf1_ecx & bit_POPCNT)
        f |= QB_CPU_POPCNT;
    int osxsave = (leaf1_ecx & bit_OSXSAVE) != 0;
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    int ymm_ok = osxsave && (xcr0 & 0x6) == 0x6;       /* XMM and YMM state */
    int zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0;       /* opmask, ZMM_Hi256, Hi16_ZMM */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return f;
    if (ymm_ok) {
        if ((b & bit_AVX2) && (leaf1_ecx & bit_AVX))
            f |= QB_CPU_AVX2;
        if (leaf1_ecx & bit_FMA)
            f |= QB_CPU_FMA;
        if (leaf1_ecx & bit_F16C)
            f |= QB_CPU_F16C;
    }
    if (zmm_ok) {
        if (b & bit_AVX512F)
            f |= QB_CPU_AVX512F;
        if (b & bit_AVX512BW)
            f |= QB_CPU_AVX512BW;
        if (b & bit_AVX512VL)
            f |= QB_CPU_AVX512VL;
        if (c & bit_AVX512VNNI)
            f |= QB_CPU_AVX512VNNI;
        if (c & bit_AVX512VPOPCNTDQ)
            f |= QB_CPU_AVX512VPOPCNTDQ;
        if (c & bit_AVX512VBMI)
            f |= QB_CPU_AVX512VBMI;
    }
    return f;
}

const char *qb_cpu_model(void)
{
    static char brand[49];
    if (brand[0])
        return brand;
    unsigned r[12] = {0};
    unsigned max_ext = __get_cpuid_max(0x80000000u, NULL);
    if (max_ext >= 0x80000004u) {
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        memcpy(brand, r, 48);
    }
    brand[48] = 0;
    char *s = brand;
    while (*s == ' ')
        s++;
    memmove(brand, s, strlen(s) + 1);
    if (!brand[0])
        strcpy(brand, "unknown x86-64");
    return brand;
}

#elif defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

static unsigned detect(void)
{
    unsigned long hw = getauxval(AT_HWCAP);
    unsigned f = 0;
    if (hw & HWCAP_ASIMD)
        f |= QB_CPU_NEON;
    if (hw & HWCAP_ASIMDDP)
        f |= QB_CPU_DOTPROD;
    if (hw & HWCAP_ASIMDHP)
        f |= QB_CPU_FP16;
    return f;
}

const char *qb_cpu_model(void)
{
    static char model[128];
    if (model[0])
        return model;
    FILE *fp = fopen("/proc/cpuinfo", "r");
    char line[256];
    unsigned part = 0, impl = 0;
    while (fp && fgets(line, sizeof line, fp)) {
        if (sscanf(line, "CPU implementer : %x", &impl) == 1)
            continue;
        if (sscanf(line, "CPU part : %x", &part) == 1)
            break;
    }
    if (fp)
        fclose(fp);
    snprintf(model, sizeof model, "AArch64 (implementer 0x%02x, part 0x%03x)", impl, part);
    return model;
}

#else
static unsigned detect(void) { return 0; }
const char *qb_cpu_model(void) { return "unknown CPU"; }
#endif

unsigned qb_cpu_features(void)
{
    static int done;
    static unsigned features;
    if (!done) {
        features = detect();
        done = 1;
    }
    return features;
}

static const struct {
    unsigned bit;
    const char *name;
} feature_names[] = {
    {QB_CPU_SSE42, "sse4.2"},
    {QB_CPU_POPCNT, "popcnt"},
    {QB_CPU_AVX2, "avx2"},
    {QB_CPU_FMA, "fma"},
    {QB_CPU_F16C, "f16c"},
    {QB_CPU_AVX512F, "avx512f"},
    {QB_CPU_AVX512BW, "avx512bw"},
    {QB_CPU_AVX512VL, "avx512vl"},
    {QB_CPU_AVX512VNNI, "avx512vnni"},
    {QB_CPU_AVX512VPOPCNTDQ, "avx512vpopcntdq"},
    {QB_CPU_AVX512VBMI, "avx512vbmi"},
    {QB_CPU_NEON, "neon"},
    {QB_CPU_DOTPROD, "dotprod"},
    {QB_CPU_FP16, "fp16"},
    {QB_CPU_EMULATED, "simde"},
};

void qb_cpu_feature_names(unsigned mask, char *buf, size_t len)
{
    size_t used = 0;
    if (len)
        buf[0] = 0;
    for (size_t i = 0; i < sizeof feature_names / sizeof feature_names[0]; i++) {
        if (!(mask & feature_names[i].bit))
            continue;
        int w = snprintf(buf + used, len > used ? len - used : 0, "%s%s", used ? " " : "",
                         feature_names[i].name);
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
}
