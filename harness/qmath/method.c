/*
 * method.c - the method traits table (method.h): the only place a
 * quantization method's name and properties are written down.
 */
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
