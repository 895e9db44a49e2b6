/*
 * energy.c - energy tables, the energy model, RAPL readings (energy.h).
 */
#define _GNU_SOURCE
#include <csv.h>
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/measure/energy.h"

/* The table's rows: name, unit, where the value goes. */
static const struct entry {
    const char *name; /* row name */
    const char *unit; /* "op" or "64bit" */
    size_t off;       /* offsetof in qb_energy_table */
} entries[] = {
    {"int8.add", "op", offsetof(qb_energy_table, int8_add)},
    {"int8.mult", "op", offsetof(qb_energy_table, int8_mult)},
    {"int32.add", "op", offsetof(qb_energy_table, int32_add)},
    {"int32.mult", "op", offsetof(qb_energy_table, int32_mult)},
    {"fp16.add", "op", offsetof(qb_energy_table, fp16_add)},
    {"fp16.mult", "op", offsetof(qb_energy_table, fp16_mult)},
    {"fp32.add", "op", offsetof(qb_energy_table, fp32_add)},
    {"fp32.mult", "op", offsetof(qb_energy_table, fp32_mult)},
    {"binary.mac", "op", offsetof(qb_energy_table, binary_mac)},
    {"sram.8kb", "64bit", offsetof(qb_energy_table, sram_8kb)},
    {"sram.32kb", "64bit", offsetof(qb_energy_table, sram_32kb)},
    {"sram.1mb", "64bit", offsetof(qb_energy_table, sram_1mb)},
    {"dram", "64bit", offsetof(qb_energy_table, dram)},
};
#define NENTRIES (int)(sizeof entries / sizeof entries[0])

/* Parser state. */
typedef struct tab_state {
    qb_energy_table *t; /* being filled */
    const char *path;   /* file (messages) */
    int line;           /* current line */
    int rows;           /* records seen (header included) */
    int nf;             /* fields of the current record */
    char f[4][256];     /* the fields (only 4 wanted) */
    int got[NENTRIES];  /* line each entry was set on */
    int rc;             /* -1 after an error */
    char *err;          /* message */
    size_t errlen;      /* its size */
} tab_state;

static void tab_field(void *s, size_t len, void *ctx)
{
    tab_state *st = ctx;
    if (st->nf < 4)
        snprintf(st->f[st->nf], sizeof st->f[0], "%.*s", (int)(len < 255 ? len : 255), s ? (const char *)s : "");
    st->nf++;
}

static void tab_row(int c, void *ctx)
{
    (void)c;
    tab_state *st = ctx;
    int nf = st->nf;
    st->nf = 0;
    if (st->rc)
        return;
    if (nf != 4) {
        snprintf(st->err, st->errlen, "%s:%d: %d fields, want 4 (name,unit,picojoules,source)", st->path, st->line,
                 nf);
        st->rc = -1;
        return;
    }
    if (st->rows++ == 0) {
        if (strcmp(st->f[0], "name") || strcmp(st->f[1], "unit") || strcmp(st->f[2], "picojoules") ||
            strcmp(st->f[3], "source")) {
            snprintf(st->err, st->errlen, "%s:%d: header must be name,unit,picojoules,source", st->path, st->line);
            st->rc = -1;
        }
        return;
    }
    int k = -1;
    for (int i = 0; i < NENTRIES; i++)
        if (!strcmp(st->f[0], entries[i].name))
            k = i;
    if (k < 0) {
        snprintf(st->err, st->errlen,
                 "%s:%d: unknown name '%s' (int8.add int8.mult int32.add int32.mult fp16.add fp16.mult fp32.add "
                 "fp32.mult binary.mac sram.8kb sram.32kb sram.1mb dram)",
                 st->path, st->line, st->f[0]);
        st->rc = -1;
        return;
    }
    if (st->got[k]) {
        snprintf(st->err, st->errlen, "%s:%d: %s given twice (first on line %d)", st->path, st->line, st->f[0],
                 st->got[k]);
        st->rc = -1;
        return;
    }
    if (strcmp(st->f[1], entries[k].unit)) {
        snprintf(st->err, st->errlen, "%s:%d: %s: unit '%s', want '%s'", st->path, st->line, st->f[0], st->f[1],
                 entries[k].unit);
        st->rc = -1;
        return;
    }
    char *end;
    errno = 0;
    double v = strtod(st->f[2], &end);
    if (errno || end == st->f[2] || *end || !isfinite(v) || v < 0) {
        snprintf(st->err, st->errlen, "%s:%d: %s: picojoules '%s' is not a finite number >= 0", st->path, st->line,
                 st->f[0], st->f[2]);
        st->rc = -1;
        return;
    }
    *(double *)((char *)st->t + entries[k].off) = v;
    st->got[k] = st->line;
}

int qb_energy_load(const char *path, qb_energy_table *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    tab_state st = {.t = t, .path = path, .err = err, .errlen = errlen};
    struct csv_parser p;
    csv_init(&p, CSV_STRICT | CSV_APPEND_NULL | CSV_STRICT_FINI);
    char *line = NULL;
    size_t cap = 0;
    ssize_t k;
    while (!st.rc && (k = getline(&line, &cap, f)) > 0) {
        st.line++;
        if (line[0] == '#')
            continue;
        if (csv_parse(&p, line, (size_t)k, tab_field, tab_row, &st) != (size_t)k && !st.rc) {
            snprintf(err, errlen, "%s:%d: malformed CSV: %s", path, st.line, csv_strerror(csv_error(&p)));
            st.rc = -1;
        }
    }
    if (!st.rc && csv_fini(&p, tab_field, tab_row, &st) && !st.rc) {
        snprintf(err, errlen, "%s:%d: malformed CSV: unterminated quoted field", path, st.line);
        st.rc = -1;
    }
    csv_free(&p);
    free(line);
    fclose(f);
    for (int i = 0; !st.rc && i < NENTRIES; i++)
        if (!st.got[i]) {
            snprintf(err, errlen, "%s:%d: no row for %s (every name is required)", path, st.line, entries[i].name);
            st.rc = -1;
        }
    return st.rc;
}

double qb_energy_mac_pj(const qb_energy_table *t, qb_precision p)
{
    switch (qb_precision_runs_as(p)) {
    case QB_PREC_FP32:
        return t->fp32_mult + t->fp32_add;
    case QB_PREC_FP16:
        return t->fp16_mult + t->fp16_add;
    case QB_PREC_INT8_TENSOR:
    case QB_PREC_INT8_CHANNEL:
    case QB_PREC_INT4: /* nibbles are multiplied on int8 hardware, summed in int32 */
        return t->int8_mult + t->int32_add;
    case QB_PREC_BINARY:
        return t->binary_mac;
    default:
        return NAN;
    }
}

double qb_energy_model(const qb_energy_table *t, const qb_energy_work *w, char *note, size_t len)
{
    double mac_pj = 0;
    for (int p = 0; p < QB_PREC_COUNT; p++) {
        if (!(w->macs[p] > 0))
            continue;
        double e = qb_energy_mac_pj(t, p);
        if (isnan(e)) {
            snprintf(note, len, "energy model: no per-MAC energy for %s", qb_precision_name(p));
            return NAN;
        }
        mac_pj += w->macs[p] * e;
    }
    double dram_words, sram1m_words = 0, l1_words;
    const qb_counters *c = w->counters;
    int from_counters = c && !isnan(c->l1d_misses) && !isnan(c->llc_misses);
    if (from_counters) {
        dram_words = c->llc_misses * 8.0; /* a 64-byte line is eight 64-bit words */
        double lower = c->l1d_misses - c->llc_misses;
        sram1m_words = (lower > 0 ? lower : 0) * 8.0;
        l1_words = isnan(c->data_refs) ? 0 : c->data_refs;
    } else {
        dram_words = w->weight_bytes / 8.0;
        l1_words = 2.0 * w->activation_bytes / 8.0;
    }
    double dram_pj = dram_words * t->dram, sram_pj = sram1m_words * t->sram_1mb + l1_words * t->sram_32kb;
    double total = mac_pj + dram_pj + sram_pj;
    snprintf(note, len, "energy model (%s): MACs %.3g uJ, DRAM %.3g uJ, SRAM %.3g uJ", from_counters ? "from counters" : "from weight and activation bytes",
             mac_pj * 1e-6, dram_pj * 1e-6, sram_pj * 1e-6);
    return total * 1e-9; /* pJ -> mJ */
}

/* ---- RAPL ---- */

static double read_num(const char *path, int *ok)
{
    FILE *f = fopen(path, "r");
    double v = NAN;
    *ok = 0;
    if (f) {
        *ok = fscanf(f, "%lf", &v) == 1;
        fclose(f);
    }
    return v;
}

int qb_rapl_open(qb_rapl *r, char *why, size_t len)
{
    memset(r, 0, sizeof *r);
    glob_t g;
    if (glob("/sys/class/powercap/intel-rapl:[0-9]", 0, NULL, &g) || g.gl_pathc == 0) {
        snprintf(why, len, "no RAPL domains in /sys/class/powercap (a VM or a CPU without RAPL)");
        globfree(&g);
        return -1;
    }
    why[0] = 0;
    for (size_t i = 0; i < g.gl_pathc && r->n < 8; i++) {
        char p[128], q[160];
        snprintf(p, sizeof p, "%s/energy_uj", g.gl_pathv[i]);
        snprintf(q, sizeof q, "%s/max_energy_range_uj", g.gl_pathv[i]);
        int ok, ok2;
        read_num(p, &ok);
        double range = read_num(q, &ok2);
        if (!ok) {
            snprintf(why, len, "%s: not readable: %s (root only on recent kernels)", p, strerror(errno));
            continue;
        }
        snprintf(r->path[r->n], sizeof r->path[0], "%s", p);
        r->range_uj[r->n] = ok2 ? range : 0;
        r->n++;
    }
    globfree(&g);
    if (!r->n)
        return -1;
    snprintf(why, len, "%d RAPL package domain%s", r->n, r->n > 1 ? "s" : "");
    return 0;
}

double qb_rapl_read(const qb_rapl *r, double *each)
{
    double sum = 0;
    for (int i = 0; i < r->n; i++) {
        int ok;
        each[i] = read_num(r->path[i], &ok);
        if (!ok)
            return NAN;
        sum += each[i];
    }
    return sum;
}

double qb_rapl_delta(const qb_rapl *r, const double *before, const double *after)
{
    double d = 0;
    for (int i = 0; i < r->n; i++) {
        double x = after[i] - before[i];
        if (x < 0 && r->range_uj[i] > 0)
            x += r->range_uj[i];
        d += x;
    }
    return d;
}
