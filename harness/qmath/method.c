/*
 * method.c - the method traits table (method.h): the only place a
 * quantization method's name and properties are written down.
 */
#include <stdio.h>
#include <string.h>

#include "harness/qmath/method.h"

static const qb_method_traits methods[] = {
    [QB_METHOD_NONE] = {.name = "none", .calib = -1, .trains = 0},
    [QB_METHOD_PTQ_MINMAX] = {.name = "ptq-minmax", .calib = QB_CALIB_MINMAX, .trains = 0},
    [QB_METHOD_PTQ_PERCENTILE] = {.name = "ptq-percentile", .calib = QB_CALIB_PERCENTILE, .trains = 0},
    [QB_METHOD_PTQ_MSE] = {.name = "ptq-mse", .calib = QB_CALIB_MSE, .trains = 0},
    [QB_METHOD_PTQ_KL] = {.name = "ptq-kl", .calib = QB_CALIB_KL, .trains = 0},
    /* QAT: output ranges by min/max on the fine-tuned model (quant/pipeline.c) */
    [QB_METHOD_QAT] = {.name = "qat", .calib = QB_CALIB_MINMAX, .trains = 1},
};
_Static_assert(sizeof methods / sizeof methods[0] == QB_METHOD_COUNT, "one row per method");
_Static_assert((int)QB_CALIB_COUNT <= (int)QB_METHOD_COUNT, "every calibrator is a method");

static const qb_method_traits unknown_method = {.name = "?", .calib = -1};

const qb_method_traits *qb_method_traits_of(qb_method m)
{
    return (unsigned)m < QB_METHOD_COUNT && methods[m].name ? &methods[m] : &unknown_method;
}

const char *qb_method_name(qb_method m)
{
    return qb_method_traits_of(m)->name;
}

int qb_method_parse(const char *s)
{
    for (int i = 0; i < QB_METHOD_COUNT; i++)
        if (s && methods[i].name && strcmp(s, methods[i].name) == 0)
            return i;
    return -1;
}

const char *qb_method_list(void)
{
    _Thread_local static char list[256];
    if (!list[0])
        for (int i = 0; i < QB_METHOD_COUNT; i++) {
            if (i)
                strcat(list, " ");
            strcat(list, methods[i].name);
        }
    return list;
}

int qb_calib_parse(const char *method)
{
    int m = qb_method_parse(method);
    return m >= 0 && !methods[m].trains ? methods[m].calib : -1;
}

const char *qb_calib_name(qb_calib c)
{
    for (int i = 0; i < QB_METHOD_COUNT; i++)
        if (methods[i].calib == (int)c && !methods[i].trains)
            return methods[i].name;
    return "?";
}

/* The repair table: the only place a repair's name is written down. */
static const qb_repair_traits repairs[] = {
    [QB_REPAIR_CLE] = {.name = "cle", .what = "cross-layer equalization of consecutive conv/linear pairs"},
    [QB_REPAIR_ABSORB] = {.name = "absorb", .what = "bias absorption into the next layer (after cle)"},
    [QB_REPAIR_SMOOTH] = {.name = "smooth", .what = "activation-range smoothing of outlier channels"},
    [QB_REPAIR_ADAROUND] = {.name = "adaround", .what = "learned rounding of int4/int8 weights"},
    [QB_REPAIR_BIASCORR] = {.name = "biascorr", .what = "empirical bias correction (calibration data)"},
    [QB_REPAIR_BIASCORR_BN] = {.name = "biascorr-bn", .what = "analytical bias correction (BatchNormalization)"},
};
_Static_assert(sizeof repairs / sizeof repairs[0] == QB_REPAIR_COUNT, "one row per repair");

static const qb_repair_traits unknown_repair = {.name = "?", .what = "?"};

const qb_repair_traits *qb_repair_traits_of(qb_repair r)
{
    return (unsigned)r < QB_REPAIR_COUNT ? &repairs[r] : &unknown_repair;
}

const char *qb_repair_list(void)
{
    _Thread_local static char list[256];
    if (!list[0])
        for (int i = 0; i < QB_REPAIR_COUNT; i++) {
            if (i)
                strcat(list, " ");
            strcat(list, repairs[i].name);
        }
    return list;
}

int qb_method_parse_repairs(const char *s, unsigned *repairs_out, char *err, size_t len)
{
    *repairs_out = 0;
    if (err && len)
        err[0] = 0;
    if (!s)
        return -1;
    const char *plus = strchr(s, '+');
    char base[64];
    size_t bl = plus ? (size_t)(plus - s) : strlen(s);
    if (bl >= sizeof base) {
        if (err)
            snprintf(err, len, "unknown method '%s'", s);
        return -1;
    }
    memcpy(base, s, bl);
    base[bl] = 0;
    int m = qb_method_parse(base);
    if (m < 0) {
        if (err)
            snprintf(err, len, "unknown method '%s'", base);
        return -1;
    }
    int last = -1;
    while (plus) {
        const char *r = plus + 1;
        plus = strchr(r, '+');
        size_t rl = plus ? (size_t)(plus - r) : strlen(r);
        int k = -1;
        for (int i = 0; i < QB_REPAIR_COUNT && k < 0; i++)
            if (strlen(repairs[i].name) == rl && !strncmp(r, repairs[i].name, rl))
                k = i;
        if (k < 0) {
            if (err)
                snprintf(err, len, "unknown repair '%.*s' in '%s' (repairs: %s)", (int)rl, r, s, qb_repair_list());
            return -1;
        }
        if (k <= last) {
            if (err)
                snprintf(err, len, "'%s': repairs %s, each once, in the order %s", s,
                         k == last ? "repeated" : "out of order", qb_repair_list());
            return -1;
        }
        last = k;
        *repairs_out |= 1u << k;
    }
    if (*repairs_out && (methods[m].calib < 0 || methods[m].trains)) {
        if (err)
            snprintf(err, len, "'%s': repairs apply to the ptq-* methods, not %s", s, methods[m].name);
        *repairs_out = 0;
        return -1;
    }
    return m;
}

const char *qb_method_str(qb_method m, unsigned r, char *buf, size_t len)
{
    size_t at = (size_t)snprintf(buf, len, "%s", qb_method_name(m));
    for (int i = 0; i < QB_REPAIR_COUNT && at < len; i++)
        if (r & (1u << i))
            at += (size_t)snprintf(buf + at, len - at, "+%s", repairs[i].name);
    return buf;
}
