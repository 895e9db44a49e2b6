/*
 * rset.h - the rows of one or more results CSVs as the reporting verbs
 * see them (plot, report, compare, advise, history): each row's cell key
 * and the measured numbers, read by column NAME so that any schema
 * version works (a column a file lacks, such as the confidence interval
 * of the median in files written before it existed, reads as "not
 * measured"). Every number is checked; a bad one names file, line and
 * column.
 */
#ifndef QB_RSET_H
#define QB_RSET_H

#include <stddef.h>

#include "harness/report/rtable.h"

/* One results row. Text fields point into the loaded tables ("" when the
 * file has no such column); numbers are NAN when not measured. */
typedef struct qb_rrow {
    const char *file;        /* results file it came from */
    int line;                /* line of that file */
    const char *model;       /* model name */
    const char *precision;   /* fp32 fp16 int8-tensor int8-channel int4 binary mixed */
    const char *method;      /* none ptq-* qat */
    const char *isa;         /* scalar avx2 vnni neon */
    const char *status;      /* ok noisy unsupported failed */
    const char *host;        /* machine name */
    const char *cpu;         /* CPU model string */
    const char *isa_flags;   /* CPU features */
    const char *git_sha;     /* source revision */
    const char *timestamp;   /* when the cell finished */
    const char *dataset;     /* accuracy dataset */
    const char *note;        /* remarks */
    const char *output_hash; /* hash of the output logits (integer precisions), or "" */
    double threads;          /* thread count */
    double batch;            /* batch size */
    double lat_median;       /* latency median, ms */
    double lat_ci_low;       /* 95% confidence interval of the median, ms (NAN: column absent) */
    double lat_ci_high;      /* its upper end */
    double lat_p5;           /* 5th percentile, ms */
    double lat_p95;          /* 95th percentile, ms */
    double lat_cv;           /* robust CV if present, else stddev/mean */
    double cycles;           /* per inference */
    double instructions;     /* per inference */
    double l1d_misses;       /* per inference */
    double l2_misses;        /* per inference */
    double llc_misses;       /* per inference */
    double energy_model_mj;  /* modelled energy per inference, mJ */
    double energy_meas_mj;   /* RAPL energy per inference, mJ */
    double macs;             /* multiply-accumulates per inference */
    double weight_bytes;     /* weight bytes in the run precision */
    double top1;             /* top-1 accuracy, % */
    double fp32_top1;        /* the FP32 reference's, % */
    double drop;             /* accuracy drop, points */
    double drop_ci_low;      /* 95% interval of the drop (NAN: column absent) */
    double drop_ci_high;     /* its upper end */
    double sqnr_db;          /* output SQNR, dB */
    double agreement;        /* argmax agreement with the FP32 model, % (models without labels have it) */
    double kernel_ms;        /* time inside kernels per inference, ms (column when present) */
    double outside_ms;       /* time outside kernels per inference, ms (column when present) */
    double qat_seconds;      /* QAT fine-tuning time: column, else the note's "QAT fine-tuning X s" */
} qb_rrow;

/* Rows of several files (later rows of the same key supersede earlier
 * ones in qb_rset_find). */
typedef struct qb_rset {
    qb_rrow *rows;      /* every row, in file order */
    int n;              /* their count */
    qb_rtable *tables;  /* the files (own the text) */
    int ntables;        /* their count */
} qb_rset;

/* Add the rows of path. Required columns: model, precision, method, isa,
 * status (threads and batch default to 1). 0, or -1 with
 * "FILE:LINE: column NAME: ..." in err. */
int qb_rset_add(qb_rset *s, const char *path, char *err, size_t errlen);
/* The same from an open stream (read to its end, not closed); name stands
 * for the file in messages and in the rows' file field. */
int qb_rset_add_stream(qb_rset *s, FILE *f, const char *name, char *err, size_t errlen);
void qb_rset_free(qb_rset *s);

/* "model/precision/method/isa/tT/bB". */
void qb_rrow_key(const qb_rrow *r, char *buf, size_t len);
/* Status ok or noisy (numbers usable). */
int qb_rrow_measured(const qb_rrow *r);
/* The last row with this key, or NULL. */
const qb_rrow *qb_rset_find(const qb_rset *s, const char *key);
/* Indices of the rows that are the last of their key, in file order,
 * into idx (room for s->n); returns their count. */
int qb_rset_latest(const qb_rset *s, int *idx);
/* Sort row indices by model, precision (canonical order), method, ISA,
 * threads, batch. */
void qb_rset_sort(const qb_rset *s, int *idx, int n);
/* The fp32/none row of r's model, ISA, threads and batch (measured), or NULL. */
const qb_rrow *qb_rset_fp32(const qb_rset *s, const qb_rrow *r);
/* Integer precisions (int8-*, int4, binary, mixed): bit-exact across ISAs. */
int qb_precision_is_integer(const char *precision);
/* Index of precision in the canonical order (fp32 first), or 99. */
int qb_precision_rank(const char *precision);
/* Median or, when the row has no latency, NAN; the row's whisker ends
 * (CI of the median if present, else p5..p95, else NAN) and which kind:
 * "95% CI of the median", "p5-p95" or "". */
const char *qb_rrow_whiskers(const qb_rrow *r, double *lo, double *hi);

#endif
