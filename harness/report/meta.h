/*
 * meta.h - the machine and build a sweep ran on: host, CPU, ISA flags,
 * cores, frequency governor, kernel, compiler and flags, git revision,
 * PAPI and RAPL availability. Filled once per run; written as a block
 * of "key: value" lines into the metadata file beside the results CSV,
 * and copied into each row's identifying columns.
 */
#ifndef QB_META_H
#define QB_META_H

#include <stddef.h>

typedef struct qb_machine {
    char host[128];       /* gethostname */
    char cpu[128];        /* CPU model string (qb_cpu_model) */
    char isa_flags[256];  /* detected features (qb_cpu_feature_names) */
    long cores;           /* online CPUs */
    char governor[64];    /* cpu0 scaling_governor, or "unreadable" */
    char kernel[256];     /* uname: sysname release version machine */
    char compiler[128];   /* "gcc " __VERSION__ */
    char cflags[256];     /* CFLAGS the binary was built with (QB_CFLAGS_STR), or "unknown" */
    char git_sha[64];     /* HEAD of the source tree in the current directory, "-dirty" if modified; "unknown" */
    char papi[400];       /* "yes: ..." or "no: reason" */
    char rapl[300];       /* "yes: ..." or "no: reason" */
} qb_machine;

/* Probe everything (runs `git` when it is on the PATH). */
void qb_machine_probe(qb_machine *m);

/* A run id: UTC time, host and pid ("20261127T044000Z-host-1234"). */
void qb_run_id(const qb_machine *m, char *buf, size_t len);

/* Append one block (run id, date, command line, every machine field,
 * extra "key: value" lines) to path. 0, or -1 with err. */
int qb_meta_append(const char *path, const qb_machine *m, const char *run_id, const char *cmdline,
                   const char *extra, char *err, size_t errlen);

#endif
