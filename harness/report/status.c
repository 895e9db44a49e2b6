/*
 * status.c - the status traits table (status.h): the only place a cell
 * status's name and meaning are written down.
 */
#include <string.h>

#include "harness/report/status.h"

static const qb_status_traits statuses[] = {
    [QB_STATUS_OK] = {.name = "ok", .finished = 1, .has_reason = 0, .failure = 0, .exit_code = 0},
    [QB_STATUS_UNSUPPORTED] = {.name = "unsupported", .finished = 1, .has_reason = 1, .failure = 0, .exit_code = 0},
    [QB_STATUS_NOISY] = {.name = "noisy", .finished = 1, .has_reason = 0, .failure = 0, .exit_code = 0},
    [QB_STATUS_FAILED] = {.name = "failed", .finished = 0, .has_reason = 1, .failure = 1, .exit_code = 0},
};
_Static_assert(sizeof statuses / sizeof statuses[0] == QB_STATUS_COUNT, "one row per status");

static const qb_status_traits unknown_status = {.name = "?"};

const qb_status_traits *qb_status_traits_of(qb_status s)
{
    return (unsigned)s < QB_STATUS_COUNT && statuses[s].name ? &statuses[s] : &unknown_status;
}

const char *qb_status_name(qb_status s)
{
    return qb_status_traits_of(s)->name;
}

int qb_status_parse(const char *s)
{
    for (int i = 0; i < QB_STATUS_COUNT; i++)
        if (s && statuses[i].name && strcmp(s, statuses[i].name) == 0)
            return i;
    return -1;
}

const char *qb_status_list(void)
{
    _Thread_local static char list[128];
    if (!list[0])
        for (int i = 0; i < QB_STATUS_COUNT; i++) {
            if (i)
                strcat(list, " ");
            strcat(list, statuses[i].name);
        }
    return list;
}
