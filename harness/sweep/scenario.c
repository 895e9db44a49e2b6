/*
 * scenario.c - parse scenario files (scenarios/NAME.ini) with inih.
 *
 * Format (every section and key optional unless marked; lists are
 * separated by spaces or commas; `;` or `#` starts a comment line, `;`
 * also an inline comment):
 *
 *   [scenario]
 *   name = smoke                  ; default: the file name without .ini
 *   description = free text
 *
 *   [axes]
 *   models = mlp cnn tiny         ; required: zoo names or [model NAME] sections
 *   precisions = fp32 int8-channel ; required, or "all"
 *   methods = none ptq-minmax     ; default "none ptq-minmax", or "all"; ptq-* may take +repairs (ptq-minmax+cle)
 *   isas = scalar avx2 vnni neon  ; default "all"
 *   threads = 1 2                 ; default 1
 *   batch = 1 8                   ; default 1
 *   dataset = fashion-mnist       ; dataset of zoo models (default fashion-mnist)
 *
 *   [measure]
 *   warmup = 3                    ; untimed runs first
 *   iterations = 10               ; at least this many timed runs ...
 *   min_time_ms = 200             ; ... and at least this long (0: iterations only)
 *   max_iterations = 100000       ; cap per attempt
 *   ci_threshold = 3%             ; the median's 95% interval may be +-this ("3" or "3%")
 *   retries = 2                   ; re-measurements while it is wider
 *   rounds = 1                    ; measure each cell in this many rounds spread over the sweep
 *   max_time_ms = 1200            ; rounds > 1: a noisy cell gets more rounds while its timed time
 *                                 ; stays within this (default 6 x min_time_ms; 0: retries only)
 *   eval_samples = 1000           ; test images for accuracy (0: none)
 *   calib_samples = 256           ; calibration images (PTQ)
 *   energy_model = datasets/energy/horowitz-45nm.csv
 *   cache = cold                  ; cold (rotate input buffers) or hot
 *   pin = none                    ; or a CPU number (sched_setaffinity)
 *   counters = auto               ; auto, papi, cachegrind, none
 *
 *   [model tiny]                  ; one section per non-zoo model (or zoo model with options)
 *   onnx = path/to/model.onnx     ; or: zoo = cnn
 *   input = 1x3x32x32             ; input spec (batch dim replaced by the batch axis)
 *   dataset = synthetic           ; for accuracy (and the input shape when no input spec)
 *   data_dir = /path/to/idx       ; a custom MNIST-format dataset
 *   plan = plans/cnn.ini          ; a layer plan for its quantized cells (docs/quantization.md)
 *   data = path/to/folder         ; or: the model's own inputs (qbench eval --data): the first
 *                                 ; calib_samples calibrate, up to eval_samples others evaluate
 *   preprocess = fit=48x320,...   ; its images' spec (default: the folder's preprocess.txt)
 *   shape = x=1x3x48x320          ; sizes of symbolic input dimensions, as --shape (one line per input)
 *
 *   [model g512]                  ; a kernel microbenchmark instead of a model
 *   gemm = 512x512x512            ; MxNxK (or dwconv = HxWxC with stride = 1|2)
 *   group = 0                     ; int4 group size: 0 (per channel), 32, 64, 128
 *
 * Errors (first one wins) are "FILE:LINE: message": unknown section or
 * key, bad value, duplicate section or key, lines inih cannot parse, and
 * after parsing, models on the axis that are neither a zoo name nor a
 * section, or an empty axis.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/data/inputs.h"
#include "harness/io/readfile.h"
#include "harness/quant/plan_file.h"
#include "harness/sweep/scenario.h"
#include "harness/train/train.h"

void qb_scenario_defaults(qb_scenario *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->warmup = 3;
    sc->iterations = 10;
    sc->min_time_s = 0.2;
    sc->max_iterations = 100000;
    sc->ci_threshold = 0.03;
    sc->retries = 2;
    sc->rounds = 1;
    sc->max_time_s = -1; /* not given: 6 x min_time_s once the file is read (finish) */
    sc->eval_samples = 1000;
    sc->calib_samples = 256;
    snprintf(sc->energy_model, sizeof sc->energy_model, "datasets/energy/horowitz-45nm.csv");
    sc->cache = QB_CACHE_COLD;
    sc->pin = -1;
    sc->counters = QB_COUNTERS_AUTO;
    snprintf(sc->dataset, sizeof sc->dataset, "fashion-mnist");
}

#define MAX_SEEN 256
/* report an error and leave the (void) function */
#define FAILR(...)              \
    do {                        \
        fail(st, __VA_ARGS__);  \
        return;                 \
    } while (0)

/* Parser state shared by the line reader and the key handler. */
typedef struct parse_state {
    qb_scenario *sc;            /* being filled */
    FILE *f;                    /* the file */
    int line;                   /* line being parsed (1-based) */
    int at_line_start;          /* the next chunk read starts a new line */
    int err_line;               /* line of the first error, 0 if none */
    char err[400];              /* its message */
    int nseen;                  /* sections and keys seen */
    char *seen[MAX_SEEN];       /* "section" and "section\nkey" */
    int models_line;            /* line of [axes] models */
    char models_list[4096];     /* raw models axis, resolved after parsing */
    int has_prec, has_methods, has_isas, has_threads, has_batch; /* axes given */
    int model_line[QB_SC_MAX_MODELS]; /* line of each [model] section */
    int nsections;              /* [model NAME] sections */
    qb_sc_model sections[QB_SC_MAX_MODELS]; /* their contents */
} parse_state;

static void fail(parse_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(parse_state *st, const char *fmt, ...)
{
    if (st->err_line)
        return;
    st->err_line = st->line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof st->err, fmt, ap);
    va_end(ap);
    /* names quoted from a binary file must not reach the terminal raw */
    for (unsigned char *c = (unsigned char *)st->err; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            *c = '?';
}

/* Remember s; nonzero if it was seen before. */
static int seen_before(parse_state *st, const char *s)
{
    for (int i = 0; i < st->nseen; i++)
        if (!strcmp(st->seen[i], s))
            return 1;
    if (st->nseen < MAX_SEEN)
        st->seen[st->nseen++] = strdup(s);
    return 0;
}

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

/* The [model NAME] section being filled, or NULL. */
static qb_sc_model *model_section(parse_state *st, const char *section)
{
    const char *name = section + 6;
    for (int i = 0; i < st->nsections; i++)
        if (!strcmp(st->sections[i].name, name))
            return &st->sections[i];
    return NULL;
}

/* Check a section header; called by the reader for each "[...]" line. */
static void section_header(parse_state *st, const char *line)
{
    const char *p = line + 1, *end = strchr(p, ']');
    if (!end)
        return; /* inih reports it */
    char name[200];
    size_t n = (size_t)(end - p) < sizeof name - 1 ? (size_t)(end - p) : sizeof name - 1;
    memcpy(name, p, n);
    name[n] = 0;
    /* inih strips the name's surrounding spaces */
    char *s = name;
    while (isspace((unsigned char)*s))
        s++;
    for (char *e = s + strlen(s); e > s && isspace((unsigned char)e[-1]);)
        *--e = 0;
    if (seen_before(st, s)) {
        fail(st, "duplicate section [%s]", s);
        return;
    }
    if (!strcmp(s, "scenario") || !strcmp(s, "axes") || !strcmp(s, "measure"))
        return;
    if (!strncmp(s, "model ", 6)) {
        const char *m = s + 6;
        while (*m == ' ')
            m++;
        if (m != s + 6 || !valid_name(m)) {
            fail(st, "bad model section [%s]: want [model NAME], NAME of letters, digits, '.', '-', '_'", s);
            return;
        }
        if (st->nsections == QB_SC_MAX_MODELS) {
            fail(st, "more than %d model sections", QB_SC_MAX_MODELS);
            return;
        }
        qb_sc_model *md = &st->sections[st->nsections];
        memset(md, 0, sizeof *md);
        snprintf(md->name, sizeof md->name, "%s", m);
        md->line = st->line;
        st->nsections++;
        return;
    }
    fail(st, "unknown section [%s] (scenario, axes, measure, model NAME)", s);
}

/* inih's line source: fgets that counts lines and checks section headers. */
static char *reader(char *str, int num, void *stream)
{
    parse_state *st = stream;
    if (!fgets(str, num, st->f))
        return NULL;
    if (st->at_line_start) {
        st->line++;
        const char *p = str;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '[')
            section_header(st, p);
    }
    size_t len = strlen(str);
    st->at_line_start = len > 0 && str[len - 1] == '\n';
    return str;
}

/* Split a list value into words (spaces or commas). Returns the count,
 * or -1 if more than max. */
static int split_list(const char *value, char words[][QB_SC_PATH], int max)
{
    int n = 0;
    const char *p = value;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t' && *e != ',')
            e++;
        if (n == max)
            return -1;
        size_t l = (size_t)(e - p) < QB_SC_PATH - 1 ? (size_t)(e - p) : QB_SC_PATH - 1;
        memcpy(words[n], p, l);
        words[n][l] = 0;
        n++;
        p = e;
    }
    return n;
}

static int parse_int(const char *v, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return -1;
    *out = (int)x;
    return 0;
}

static int parse_double(const char *v, double lo, double hi, const char *suffix, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || !isfinite(x) || x < lo || x > hi)
        return -1;
    if (*end && !(suffix && !strcmp(end, suffix)))
        return -1;
    *out = x;
    return 0;
}

/* Copy a string value into a fixed field; -1 if empty or too long. */
static int set_str(char *dst, size_t cap, const char *v)
{
    if (!*v || strlen(v) >= cap)
        return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int parse_dims(const char *v, qb_sc_model *m)
{
    m->ndim = 0;
    const char *p = v;
    while (*p) {
        if (m->ndim == 8 || *p < '0' || *p > '9')
            return -1;
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (errno || d < 1 || d > (1LL << 24))
            return -1;
        m->dims[m->ndim++] = d;
        p = end;
        if (*p == 'x' && p[1])
            p++;
        else if (*p)
            return -1;
    }
    return m->ndim >= 1 ? 0 : -1;
}

static void axes_key(parse_state *st, const char *name, const char *value)
{
    qb_scenario *sc = st->sc;
    static char words[64][QB_SC_PATH];
    int n = split_list(value, words, 64);
    if (n < 0) {
        fail(st, "[axes] %s: more than 64 values", name);
        return;
    }
    if (n == 0 && strcmp(name, "dataset")) {
        fail(st, "[axes] %s: empty list", name);
        return;
    }
    int all = n == 1 && !strcmp(words[0], "all");
    if (!strcmp(name, "models")) {
        st->models_line = st->line;
        snprintf(st->models_list, sizeof st->models_list, "%s", value);
    } else if (!strcmp(name, "precisions")) {
        st->has_prec = 1;
        sc->nprec = 0;
        for (int i = 0; i < (all ? QB_PREC_COUNT : n); i++) {
            int p = all ? i : qb_precision_parse(words[i]);
            if (p < 0)
                FAILR("[axes] precisions: unknown precision '%s' (%s, or all)", words[i], qb_precision_list());
            for (int j = 0; j < sc->nprec; j++)
                if (sc->prec[j] == (qb_precision)p)
                    FAILR("[axes] precisions: '%s' listed twice", words[i]);
            if (sc->nprec == QB_PREC_COUNT)
                FAILR("[axes] precisions: too many values");
            sc->prec[sc->nprec++] = p;
        }
    } else if (!strcmp(name, "methods")) {
        st->has_methods = 1;
        sc->nmethods = 0;
        for (int i = 0; i < (all ? QB_METHOD_COUNT : n); i++) {
            unsigned rp = 0;
            char why[256] = "";
            int m = all ? i : qb_method_parse_repairs(words[i], &rp, why, sizeof why);
            if (m < 0)
                FAILR("[axes] methods: %s (%s, or all; repairs +%s)", why, qb_method_list(), qb_repair_list());
            for (int j = 0; j < sc->nmethods; j++)
                if (sc->methods[j] == (qb_method)m && sc->method_repairs[j] == rp)
                    FAILR("[axes] methods: '%s' listed twice", words[i]);
            if (sc->nmethods == QB_SC_MAX_VALUES)
                FAILR("[axes] methods: too many values");
            sc->method_repairs[sc->nmethods] = rp;
            sc->methods[sc->nmethods++] = m;
        }
    } else if (!strcmp(name, "isas")) {
        st->has_isas = 1;
        sc->nisas = 0;
        for (int i = 0; i < (all ? QB_ISA_COUNT : n); i++) {
            int a = all ? i : qb_isa_parse(words[i]);
            if (a < 0)
                FAILR("[axes] isas: unknown ISA '%s' (%s, or all)", words[i], qb_isa_list());
            for (int j = 0; j < sc->nisas; j++)
                if (sc->isas[j] == (qb_isa)a)
                    FAILR("[axes] isas: '%s' listed twice", words[i]);
            if (sc->nisas == QB_ISA_COUNT)
                FAILR("[axes] isas: too many values");
            sc->isas[sc->nisas++] = a;
        }
    } else if (!strcmp(name, "threads") || !strcmp(name, "batch")) {
        int is_t = name[0] == 't';
        int *vals = is_t ? sc->threads : sc->batch, *cnt = is_t ? &sc->nthreads : &sc->nbatch;
        *(is_t ? &st->has_threads : &st->has_batch) = 1;
        if (n > QB_SC_MAX_VALUES)
            FAILR("[axes] %s: more than %d values", name, QB_SC_MAX_VALUES);
        *cnt = 0;
        for (int i = 0; i < n; i++) {
            int x;
            if (parse_int(words[i], 1, is_t ? 1024 : 65536, &x))
                FAILR("[axes] %s: '%s' is not an integer in [1, %d]", name, words[i], is_t ? 1024 : 65536);
            for (int j = 0; j < *cnt; j++)
                if (vals[j] == x)
                    FAILR("[axes] %s: %d listed twice", name, x);
            vals[(*cnt)++] = x;
        }
    } else if (!strcmp(name, "dataset")) {
        if (n != 1 || set_str(sc->dataset, sizeof sc->dataset, words[0]))
            fail(st, "[axes] dataset: want one dataset name, got '%s'", value);
    } else {
        fail(st, "[axes]: unknown key '%s' (models precisions methods isas threads batch dataset)", name);
    }
}

static void measure_key(parse_state *st, const char *name, const char *v)
{
    qb_scenario *sc = st->sc;
    double d;
    if (!strcmp(name, "warmup")) {
        if (parse_int(v, 0, 1000000, &sc->warmup))
            fail(st, "[measure] warmup: '%s' is not an integer in [0, 1000000]", v);
    } else if (!strcmp(name, "iterations")) {
        if (parse_int(v, 1, 10000000, &sc->iterations))
            fail(st, "[measure] iterations: '%s' is not an integer in [1, 10000000]", v);
    } else if (!strcmp(name, "max_iterations")) {
        if (parse_int(v, 1, 100000000, &sc->max_iterations))
            fail(st, "[measure] max_iterations: '%s' is not an integer in [1, 100000000]", v);
    } else if (!strcmp(name, "min_time_ms")) {
        if (parse_double(v, 0, 3600e3, NULL, &d))
            fail(st, "[measure] min_time_ms: '%s' is not a number of milliseconds in [0, 3600000]", v);
        else
            sc->min_time_s = d / 1e3;
    } else if (!strcmp(name, "ci_threshold")) {
        if (parse_double(v, 0, 1000, "%", &d) || d <= 0)
            fail(st, "[measure] ci_threshold: '%s' is not a percentage in (0, 1000], e.g. 3%%", v);
        else
            sc->ci_threshold = d / 100.0;
    } else if (!strcmp(name, "cv_threshold")) {
        fail(st, "[measure] cv_threshold: replaced by ci_threshold (a cell is noisy when the 95%% confidence "
                 "interval of its median is wider than +-ci_threshold of the median, e.g. 3%%; docs/measurement.md)");
    } else if (!strcmp(name, "retries")) {
        if (parse_int(v, 0, 100, &sc->retries))
            fail(st, "[measure] retries: '%s' is not an integer in [0, 100]", v);
    } else if (!strcmp(name, "rounds")) {
        if (parse_int(v, 1, 100, &sc->rounds))
            fail(st, "[measure] rounds: '%s' is not an integer in [1, 100]", v);
    } else if (!strcmp(name, "max_time_ms")) {
        if (parse_double(v, 0, 3600e3, NULL, &d))
            fail(st, "[measure] max_time_ms: '%s' is not a number of milliseconds in [0, 3600000]", v);
        else
            sc->max_time_s = d / 1e3;
    } else if (!strcmp(name, "eval_samples")) {
        if (parse_int(v, 0, 100000000, &sc->eval_samples))
            fail(st, "[measure] eval_samples: '%s' is not an integer >= 0", v);
    } else if (!strcmp(name, "calib_samples")) {
        if (parse_int(v, 1, 100000000, &sc->calib_samples))
            fail(st, "[measure] calib_samples: '%s' is not an integer >= 1", v);
    } else if (!strcmp(name, "energy_model")) {
        if (set_str(sc->energy_model, sizeof sc->energy_model, v))
            fail(st, "[measure] energy_model: empty or longer than %d bytes", QB_SC_PATH - 1);
    } else if (!strcmp(name, "cache")) {
        if (!strcmp(v, "cold"))
            sc->cache = QB_CACHE_COLD;
        else if (!strcmp(v, "hot"))
            sc->cache = QB_CACHE_HOT;
        else
            fail(st, "[measure] cache: '%s' is neither cold nor hot", v);
    } else if (!strcmp(name, "pin")) {
        if (!strcmp(v, "none"))
            sc->pin = -1;
        else if (parse_int(v, 0, 4095, &sc->pin))
            fail(st, "[measure] pin: '%s' is neither none nor a CPU number", v);
    } else if (!strcmp(name, "counters")) {
        if (!strcmp(v, "auto"))
            sc->counters = QB_COUNTERS_AUTO;
        else if (!strcmp(v, "papi"))
            sc->counters = QB_COUNTERS_PAPI;
        else if (!strcmp(v, "cachegrind"))
            sc->counters = QB_COUNTERS_CACHEGRIND;
        else if (!strcmp(v, "none"))
            sc->counters = QB_COUNTERS_OFF;
        else
            fail(st, "[measure] counters: '%s' is not one of auto papi cachegrind none", v);
    } else {
        fail(st, "[measure]: unknown key '%s' (warmup iterations min_time_ms max_iterations ci_threshold retries "
                 "rounds max_time_ms eval_samples calib_samples energy_model cache pin counters)", name);
    }
}

static void model_key(parse_state *st, const char *section, const char *name, const char *v)
{
    qb_sc_model *m = model_section(st, section);
    if (!m)
        return; /* bad section header: already reported */
    if (!strcmp(name, "zoo")) {
        qb_train_cfg cfg;
        if (qb_zoo_recipe(v, &cfg) < 0)
            fail(st, "[%s] zoo: unknown zoo model '%s' (%s)", section, v, qb_zoo_names());
        else
            snprintf(m->zoo, sizeof m->zoo, "%s", v);
    } else if (!strcmp(name, "onnx")) {
        if (set_str(m->onnx, sizeof m->onnx, v))
            fail(st, "[%s] onnx: empty or longer than %d bytes", section, QB_SC_PATH - 1);
    } else if (!strcmp(name, "input")) {
        if (parse_dims(v, m))
            fail(st, "[%s] input: '%s' is not a shape like 1x3x32x32 (1 to 8 dims, each 1..16777216)", section, v);
    } else if (!strcmp(name, "dataset")) {
        if (!valid_name(v) || set_str(m->dataset, sizeof m->dataset, v))
            fail(st, "[%s] dataset: bad dataset name '%s'", section, v);
    } else if (!strcmp(name, "data_dir")) {
        if (set_str(m->data_dir, sizeof m->data_dir, v))
            fail(st, "[%s] data_dir: empty or too long", section);
    } else if (!strcmp(name, "data")) {
        struct stat sb;
        int missing = stat(v, &sb) != 0;
        if (set_str(m->data, sizeof m->data, v))
            fail(st, "[%s] data: empty or longer than %d bytes", section, QB_SC_PATH - 1);
        else if (missing || !S_ISDIR(sb.st_mode))
            fail(st, "[%s] data: '%s' is not a folder (%s)", section, v, missing ? strerror(errno) : "not a directory");
    } else if (!strcmp(name, "preprocess")) {
        qb_preproc pp;
        qb_err e;
        qb_preproc_defaults(&pp);
        if (set_str(m->preprocess, sizeof m->preprocess, v))
            fail(st, "[%s] preprocess: empty or longer than %d bytes", section, (int)sizeof m->preprocess - 1);
        else if (qb_preproc_parse(v, "preprocess", &pp, &e))
            fail(st, "[%s] %s", section, e.msg);
    } else if (!strcmp(name, "gemm") || !strcmp(name, "dwconv")) {
        qb_sc_model tmp;
        if (parse_dims(v, &tmp) || tmp.ndim != 3 || tmp.dims[0] * tmp.dims[1] > (1LL << 31) ||
            tmp.dims[1] * tmp.dims[2] > (1LL << 31) || tmp.dims[0] * tmp.dims[2] > (1LL << 31))
            fail(st, "[%s] %s: '%s' is not a shape %s (each 1..16777216, operands below 2^31 elements)", section,
                 name, v, name[0] == 'g' ? "MxNxK" : "HxWxC");
        else {
            snprintf(m->kernel, sizeof m->kernel, "%s", name);
            memcpy(m->shape, tmp.dims, sizeof m->shape);
        }
    } else if (!strcmp(name, "group")) {
        if (parse_int(v, 0, 128, &m->group) || (m->group && m->group != 32 && m->group != 64 && m->group != 128))
            fail(st, "[%s] group: '%s' is not 0, 32, 64 or 128", section, v);
    } else if (!strcmp(name, "stride")) {
        if (parse_int(v, 1, 2, &m->stride))
            fail(st, "[%s] stride: '%s' is not 1 or 2", section, v);
    } else if (!strcmp(name, "shape")) { /* as the verbs' --shape NAME=AxB (or AxB by position) */
        qb_err e;
        if (qb_input_shape_parse(v, &m->shapes, &e))
            fail(st, "[%s] shape: %s", section, e.msg);
    } else if (!strcmp(name, "plan")) {
        qb_layer_plan lp;
        qb_err e;
        if (set_str(m->plan, sizeof m->plan, v))
            fail(st, "[%s] plan: empty or longer than %d bytes", section, QB_SC_PATH - 1);
        else if (qb_layer_plan_load(v, &lp, &e)) /* its syntax now; its layer names when the model is built */
            fail(st, "[%s] plan: %s", section, e.msg);
        else
            qb_layer_plan_free(&lp);
    } else {
        fail(st, "[%s]: unknown key '%s' (zoo onnx input dataset data_dir data preprocess gemm dwconv group stride "
                 "plan shape)", section, name);
    }
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parse_state *st = user;
    if (st->err_line)
        return 1; /* keep the first error */
    char key[512];
    snprintf(key, sizeof key, "%s\n%s", section, name);
    if (seen_before(st, key)) {
        fail(st, "[%s] %s given twice", section, name);
        return 0;
    }
    if (!*section) {
        fail(st, "key '%s' outside any section", name);
    } else if (!strcmp(section, "scenario")) {
        if (!strcmp(name, "name")) {
            if (!valid_name(value) || set_str(st->sc->name, sizeof st->sc->name, value))
                fail(st, "[scenario] name: '%s' is not a name (letters, digits, '.', '-', '_'; up to %d)", value,
                     QB_SC_NAME - 1);
        } else if (!strcmp(name, "description")) {
            snprintf(st->sc->description, sizeof st->sc->description, "%s", value);
        } else {
            fail(st, "[scenario]: unknown key '%s' (name description)", name);
        }
    } else if (!strcmp(section, "axes")) {
        axes_key(st, name, value);
    } else if (!strcmp(section, "measure")) {
        measure_key(st, name, value);
    } else if (!strncmp(section, "model ", 6)) {
        model_key(st, section, name, value);
    }
    /* other sections were reported by the reader */
    return st->err_line ? 0 : 1;
}

/* After parsing: defaults of absent axes, models resolved, checks. */
static void finish(parse_state *st)
{
    qb_scenario *sc = st->sc;
    for (int i = 0; i < st->nsections && !st->err_line; i++) {
        qb_sc_model *m = &st->sections[i];
        st->line = m->line;
        if (!!m->zoo[0] + !!m->onnx[0] + !!m->kernel[0] != 1)
            fail(st, "[model %s]: give exactly one of zoo = NAME, onnx = PATH, gemm = MxNxK or dwconv = HxWxC",
                 m->name);
        else if (m->kernel[0] && (m->ndim || m->dataset[0] || m->data[0]))
            fail(st, "[model %s]: a kernel shape takes no input or dataset", m->name);
        else if (m->group && strcmp(m->kernel, "gemm"))
            fail(st, "[model %s]: group applies to gemm shapes only", m->name);
        else if (m->stride && strcmp(m->kernel, "dwconv"))
            fail(st, "[model %s]: stride applies to dwconv shapes only", m->name);
        else if (m->plan[0] && m->kernel[0])
            fail(st, "[model %s]: a plan applies to models, not kernel shapes", m->name);
        else if (m->data[0] && (m->dataset[0] || m->data_dir[0] || m->zoo[0]))
            fail(st, "[model %s]: data = DIR is an ONNX model's own inputs: not with zoo, dataset or data_dir",
                 m->name);
        else if (m->shapes.n && !m->onnx[0])
            fail(st, "[model %s]: shape applies to ONNX models (onnx = FILE)", m->name);
        else if (m->preprocess[0] && !m->data[0])
            fail(st, "[model %s]: preprocess needs data = DIR", m->name);
        else if (m->onnx[0] && !m->ndim && !m->dataset[0] && !m->data[0])
            fail(st, "[model %s]: an ONNX model needs input = SHAPE, dataset = NAME or data = DIR", m->name);
        else if (m->data_dir[0] && !m->dataset[0])
            fail(st, "[model %s]: data_dir needs dataset = NAME", m->name);
    }
    if (st->err_line)
        return;
    st->line = st->models_line;
    if (!st->models_line) {
        st->line = 1;
        fail(st, "[axes] models is required (zoo names or [model NAME] sections)");
        return;
    }
    static char words[64][QB_SC_PATH];
    int n = split_list(st->models_list, words, 64);
    if (n > QB_SC_MAX_MODELS) {
        fail(st, "[axes] models: more than %d models", QB_SC_MAX_MODELS);
        return;
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < i; j++)
            if (!strcmp(words[i], words[j]))
                FAILR("[axes] models: '%s' listed twice", words[i]);
        qb_sc_model *m = &sc->models[sc->nmodels];
        memset(m, 0, sizeof *m);
        const qb_sc_model *sec = NULL;
        for (int j = 0; j < st->nsections; j++)
            if (!strcmp(st->sections[j].name, words[i]))
                sec = &st->sections[j];
        qb_train_cfg cfg;
        if (sec) {
            *m = *sec;
        } else if (qb_zoo_recipe(words[i], &cfg) >= 0) {
            snprintf(m->name, sizeof m->name, "%.*s", QB_SC_NAME - 1, words[i]);
            snprintf(m->zoo, sizeof m->zoo, "%.*s", QB_SC_NAME - 1, words[i]);
            m->line = st->models_line;
        } else {
            FAILR("[axes] models: '%s' is neither a zoo model (%s) nor a [model %s] section", words[i],
                        qb_zoo_names(), words[i]);
        }
        if (m->zoo[0] && !m->dataset[0])
            snprintf(m->dataset, sizeof m->dataset, "%s", sc->dataset);
        if (!strcmp(m->kernel, "dwconv") && !m->stride)
            m->stride = 1;
        sc->nmodels++;
    }
    st->line = 1;
    if (!st->has_prec)
        FAILR("[axes] precisions is required (e.g. fp32 int8-channel, or all)");
    if (!st->has_methods) {
        sc->nmethods = 2;
        sc->methods[0] = QB_METHOD_NONE;
        sc->methods[1] = QB_METHOD_PTQ_MINMAX;
    }
    if (!st->has_isas) {
        sc->nisas = QB_ISA_COUNT;
        for (int i = 0; i < QB_ISA_COUNT; i++)
            sc->isas[i] = i;
    }
    if (!st->has_threads) {
        sc->nthreads = 1;
        sc->threads[0] = 1;
    }
    if (!st->has_batch) {
        sc->nbatch = 1;
        sc->batch[0] = 1;
    }
    if (sc->max_time_s < 0) /* not given: from min_time_ms, whatever line set that */
        sc->max_time_s = 6 * sc->min_time_s;
}

static int parse(FILE *f, const char *name, qb_scenario *sc, char *err, size_t errlen)
{
    qb_scenario_defaults(sc);
    snprintf(sc->file, sizeof sc->file, "%s", name);
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t bl = strlen(base);
    if (bl > 4 && !strcmp(base + bl - 4, ".ini"))
        bl -= 4;
    snprintf(sc->name, sizeof sc->name, "%.*s", (int)(bl < QB_SC_NAME - 1 ? bl : QB_SC_NAME - 1), base);
    parse_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    st->sc = sc;
    st->f = f;
    st->at_line_start = 1;
    /* long lines (model lists) are read whole; indented continuation
     * lines are errors rather than silently joined values */
    ini_use_stack = 0;
    ini_allow_realloc = 1;
    ini_max_line = 1024;
    ini_allow_multiline = 0;
    int r = ini_parse_stream(reader, st, handler, st);
    if (r > 0 && !st->err_line) {
        st->line = r;
        fail(st, "cannot parse this line (want [section], key = value, or a ; comment)");
    } else if (r < 0 && !st->err_line) {
        st->line = 0;
        fail(st, "cannot read the file");
    }
    if (!st->err_line)
        finish(st);
    int rc = 0;
    if (st->err_line) {
        snprintf(err, errlen, "%s:%d: %s", name, st->err_line, st->err);
        rc = -1;
    }
    for (int i = 0; i < st->nseen; i++)
        free(st->seen[i]);
    free(st);
    return rc;
}

int qb_scenario_load(const char *path, qb_scenario *sc, char *err, size_t errlen)
{
    FILE *f = qb_open_read(path, NULL, err, errlen);
    if (!f)
        return -1;
    int rc = parse(f, path, sc, err, errlen);
    fclose(f);
    return rc;
}

int qb_scenario_load_string(const char *text, const char *name, qb_scenario *sc, char *err, size_t errlen)
{
    /* fmemopen refuses a zero size: an empty text reads as one newline */
    FILE *f = *text ? fmemopen((void *)text, strlen(text), "r") : fmemopen("\n", 1, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read", name);
        return -1;
    }
    int rc = parse(f, name, sc, err, errlen);
    fclose(f);
    return rc;
}

int qb_scenario_model(const qb_scenario *sc, const char *name)
{
    for (int i = 0; i < sc->nmodels; i++)
        if (!strcmp(sc->models[i].name, name))
            return i;
    return -1;
}
