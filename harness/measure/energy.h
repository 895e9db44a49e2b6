/*
 * energy.h - energy per inference: a model (MACs per precision times
 * energy per operation, plus bytes moved times energy per 64-bit access
 * at each memory level, from a table such as
 * datasets/energy/horowitz-45nm.csv) and, where readable, RAPL
 * measurements from /sys/class/powercap.
 */
#ifndef QB_ENERGY_H
#define QB_ENERGY_H

#include <stddef.h>

#include "harness/measure/counters.h"
#include "kernels/kernels.h"

/* An energy table, picojoules. */
typedef struct qb_energy_table {
    char path[512];      /* file it came from (messages) */
    double int8_add;     /* int8 add, per op */
    double int8_mult;    /* int8 multiply */
    double int32_add;    /* int32 add */
    double int32_mult;   /* int32 multiply */
    double fp16_add;     /* fp16 add */
    double fp16_mult;    /* fp16 multiply */
    double fp32_add;     /* fp32 add */
    double fp32_mult;    /* fp32 multiply */
    double binary_mac;   /* one XNOR-popcount bit-MAC */
    double sram_8kb;     /* 64-bit access to an 8 KB SRAM */
    double sram_32kb;    /* 64-bit access to a 32 KB SRAM (L1-sized) */
    double sram_1mb;     /* 64-bit access to a 1 MB SRAM (L2/LLC-sized) */
    double dram;         /* 64-bit DRAM access */
} qb_energy_table;

/* Load a table: '#' comment lines, the header name,unit,picojoules,source,
 * then one row per name above (names like int8.add, sram.32kb, dram),
 * every name exactly once, values finite and >= 0. 0, or -1 with
 * "FILE:LINE: message" in err. */
int qb_energy_load(const char *path, qb_energy_table *t, char *err, size_t errlen);

/* Energy of one MAC of a precision, pJ: mult + add of that precision
 * (int8-tensor, int8-channel and int4: int8 mult + int32 add; binary:
 * binary.mac); NAN for mixed (give its MACs per precision instead). */
double qb_energy_mac_pj(const qb_energy_table *t, qb_precision p);

/* What one inference does, for the model. */
typedef struct qb_energy_work {
    double macs[QB_PREC_COUNT]; /* multiply-accumulates per precision */
    double weight_bytes;        /* bytes of weights in the run precision */
    double activation_bytes;    /* bytes of activations written (inputs included) */
    const qb_counters *counters; /* measured misses, or NULL */
} qb_energy_work;

/* Modelled energy in millijoules; the breakdown and which rule was used
 * in note. Memory rule: with l1d and llc misses counted, DRAM traffic =
 * 64 B per LLC miss, 1 MB-SRAM traffic = 64 B per L1D miss that hit a
 * lower level, L1 (32 KB) = one 64-bit access per data reference when
 * counted; without counters, weights are read once from DRAM and each
 * activation byte is written and read once in a 32 KB SRAM. */
double qb_energy_model(const qb_energy_table *t, const qb_energy_work *w, char *note, size_t len);

/* RAPL package domains readable from /sys/class/powercap. */
typedef struct qb_rapl {
    int n;                 /* domains (intel-rapl:N packages) */
    char path[8][128];     /* their energy_uj files */
    double range_uj[8];    /* max_energy_range_uj (wrap-around) */
} qb_rapl;

/* 0 when at least one package's energy_uj is readable, else -1 with the
 * reason (no powercap, permission denied). */
int qb_rapl_open(qb_rapl *r, char *why, size_t len);
/* Sum of the packages' counters now, microjoules; NAN on a read error. */
double qb_rapl_read(const qb_rapl *r, double *each);
/* Microjoules between two readings of each domain (wrap-around handled). */
double qb_rapl_delta(const qb_rapl *r, const double *before, const double *after);

#endif
