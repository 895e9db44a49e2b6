/*
 * status.h - the cell statuses of the results CSV (the `status`
 * vocabulary of docs/design.md) as one traits table (status.c): what
 * each means for --resume, for the progress line and for the exit code.
 */
#ifndef QB_STATUS_H
#define QB_STATUS_H

typedef enum qb_status {
    QB_STATUS_OK,          /* measured, CV within the threshold */
    QB_STATUS_UNSUPPORTED, /* this CPU or build lacks the ISA or kernel (reason in note) */
    QB_STATUS_NOISY,       /* measured, CV above the threshold after the retries */
    QB_STATUS_FAILED,      /* could not be measured (reason in note) */
    QB_STATUS_COUNT
} qb_status;

/* One row of the status table. */
typedef struct qb_status_traits {
    const char *name; /* the exact vocabulary string */
    int finished;     /* 1: --resume skips the cell (0: it runs again) */
    int has_reason;   /* 1: the note says why (printed on the progress line) */
    int failure;      /* 1: always reported on the progress line, even on a terminal */
    int exit_code;    /* the sweep's exit code for a cell that ends so (a failed cell is a row, not an error: 0) */
} qb_status_traits;

/* The traits of s (a row with name "?" out of range). */
const qb_status_traits *qb_status_traits_of(qb_status s);
const char *qb_status_name(qb_status s);
/* Index of a status name, or -1. */
int qb_status_parse(const char *s);
/* Every name, space separated, in enum order ("ok unsupported noisy failed"). */
const char *qb_status_list(void);

#endif
