/*
 * results.h - the results CSV of docs/design.md, written and read with libcsv:
 * the row record (one field per column), an append-only writer that
 * syncs each row to disk, and a reader that names file and line on bad
 * input (for --resume, merge and the reporting verbs).
 */
#ifndef QB_RESULTS_H
#define QB_RESULTS_H

#include <stddef.h>
#include <stdio.h>

#define QB_NCOLS 71 /* columns of the results CSV (schema QB_RESULTS_SCHEMA) */

/* Schema versions. Columns are only ever appended: schema v has the first
 * qb_schema_ncols[v - 1] columns. 1: the 48 columns up to kl_div; 2: the
 * robust latency statistics, arena bytes and accuracy intervals; 3: the
 * layer plan (plan, plan_hash); 4: output_hash; 5: the SQNR's interval
 * (sqnr_ci_low, sqnr_ci_high). Files of
 * an older schema are read with the newer columns empty; opening one for
 * appending (--resume) first rewrites it atomically with the new header. */
#define QB_RESULTS_SCHEMA 5
extern const int qb_schema_ncols[QB_RESULTS_SCHEMA];

/* The column names, in order (the header). */
extern const char *const qb_result_columns[QB_NCOLS];

/* One row. Numbers are NAN when not measured (written as an empty field,
 * never a fake zero); text is "" when not known. */
typedef struct qb_result_row {
    char run_id[96];         /* one sweep invocation: UTC time, host, pid */
    char timestamp[32];      /* when the cell finished, ISO 8601 UTC */
    char host[128];          /* hostname of the machine that measured */
    char cpu[128];           /* CPU model string */
    char isa_flags[256];     /* CPU features detected (space separated) */
    char compiler[128];      /* compiler version of the qbench binary */
    char git_sha[64];        /* source revision, "-dirty" appended when modified; or "unknown" */
    char scenario[64];       /* scenario name */
    char model[256];         /* model name (zoo name or [model NAME]) */
    char dataset[64];        /* dataset of accuracy and inputs, or "" */
    char precision[16];      /* fp32 fp16 int8-tensor int8-channel int4 binary mixed */
    char method[64];         /* none ptq-minmax ptq-percentile ptq-mse ptq-kl qat, a ptq-* method with +repairs */
    char isa[16];            /* scalar avx2 vnni neon */
    double threads;          /* thread count (integer) */
    double batch;            /* batch size (integer) */
    char status[16];         /* ok unsupported noisy failed */
    char note[1024];         /* reason or remarks (may hold commas, quotes, newlines) */
    double iterations;       /* timed iterations of the kept attempt (integer) */
    double latency_ms_min;   /* per inference (per batch when batch > 1) */
    double latency_ms_median; /* median */
    double latency_ms_mean;  /* mean */
    double latency_ms_p95;   /* 95th percentile */
    double latency_ms_p99;   /* 99th percentile */
    double latency_ms_stddev; /* sample standard deviation */
    double latency_cv;       /* stddev / mean (fraction) */
    double throughput_ips;   /* inferences (images) per second: batch / median */
    char counters_source[16]; /* papi cachegrind none */
    double cycles;           /* per inference (integer) */
    double instructions;     /* per inference (integer) */
    double l1d_misses;       /* per inference (integer) */
    double l2_misses;        /* per inference (integer) */
    double llc_misses;       /* per inference (integer) */
    char energy_source[16];  /* rapl model rapl+model */
    double energy_mj_model;  /* modelled energy per inference, millijoules */
    double energy_mj_measured; /* RAPL energy per inference, millijoules */
    double macs;             /* multiply-accumulates per inference (integer) */
    double weight_bytes;     /* bytes of weights in the run precision (integer) */
    double model_bytes;      /* bytes of the model file (integer) */
    double peak_rss_kb;      /* peak resident set of the process, KiB (integer) */
    double eval_samples;     /* images in the accuracy evaluation (integer) */
    double top1_accuracy;    /* percent */
    double fp32_top1_accuracy; /* percent, the FP32 reference */
    double accuracy_drop_pt; /* fp32 - this, percentage points */
    double top1_agreement;   /* percent of images with the reference's top-1 */
    double sqnr_db;          /* signal to quantization noise of the outputs, dB */
    double cosine;           /* cosine similarity of outputs to the reference */
    double max_abs_err;      /* largest absolute output difference */
    double kl_div;           /* KL divergence of softmax outputs from the reference (mean over samples) */
    /* ---- schema 2 ---- */
    double latency_ms_p5;    /* 5th percentile */
    double latency_ms_iqr;   /* interquartile range (p75 - p25) */
    double latency_ms_mad;   /* median absolute deviation from the median (unscaled) */
    double latency_robust_cv; /* 1.4826 * MAD / median (fraction) */
    double latency_ms_ci_low; /* 95% confidence interval of the median: order statistic ... */
    double latency_ms_ci_high; /* ... (docs/measurement.md) */
    double latency_outliers; /* samples outside Tukey's fences (integer) */
    double calls_per_sample; /* inferences timed together as one sample (integer) */
    double arena_bytes;      /* activation memory the model's executor plans (integer) */
    double top1_ci_low;      /* 95% paired-bootstrap interval of top1_accuracy, percent ... */
    double top1_ci_high;     /* ... */
    double accuracy_drop_ci_low; /* ... of accuracy_drop_pt, points ... */
    double accuracy_drop_ci_high; /* ... */
    double agreement_ci_low; /* ... of top1_agreement, percent ... */
    double agreement_ci_high; /* ... */
    double mcnemar_p;        /* one-sided exact McNemar p-value: this model less accurate than FP32 */
    double kl_div_p99;       /* 99th percentile over samples of the KL divergence */
    double kl_div_max;       /* largest KL divergence of one sample */
    /* ---- schema 3 ---- */
    char plan[64];           /* the layer plan's name (--plan, scenario plan =), or "" */
    char plan_hash[24];      /* FNV-1a 64 of the plan file's bytes, 16 hex digits, or "" */
    /* ---- schema 4 ---- */
    char output_hash[64];    /* FNV-1a 64 of every output value on the evaluation inputs, 16 hex digits, or "" */
    /* ---- schema 5 ---- */
    double sqnr_ci_low;      /* 95% bootstrap interval of sqnr_db over the evaluation samples, dB (empty: infinite or none) */
    double sqnr_ci_high;     /* its upper end */
} qb_result_row;

/* Append to a row's note, "; " between parts (cut at the field's size). */
void qb_result_note(qb_result_row *row, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Every number NAN, every text "". */
void qb_row_init(qb_result_row *r);
/* Field i of r as text (empty for NAN) into buf. */
void qb_row_field(const qb_result_row *r, int i, char *buf, size_t len);
/* Fill r from the QB_NCOLS text fields of a CSV record, checking each
 * value (numbers finite, integers whole and >= 0, status, precision,
 * method, isa and sources from the vocabulary). 0, or -1 with
 * "column NAME: ..." in err. */
int qb_row_parse(const char *const *fields, qb_result_row *r, char *err, size_t errlen);
/* The cell id of a row ("cnn/int8-channel/ptq-kl/avx2/t1/b1"). */
void qb_row_cell_id(const qb_result_row *r, char *buf, size_t len);

/* An open results file. */
typedef struct qb_results_writer {
    int fd;           /* O_APPEND descriptor */
    char path[512];   /* its path (messages) */
} qb_results_writer;

/* Open path for appending, holding an exclusive flock for as long as it
 * is open (a second writer gets an error naming the holder's pid): a new
 * or empty file gets the header; an existing one must start with this
 * header or an older schema's (then it is first rewritten atomically with
 * this header and the new columns empty, and a note goes to stderr); a
 * last row without its newline (a crash mid-write) is cut off with a
 * message on stderr. 0, or -1 with err. */
int qb_results_open(const char *path, qb_results_writer *w, char *err, size_t errlen);
/* Append one row with a single write, then fsync; a short write (full
 * disk) is truncated back to the last complete row. 0, or -1 with err. */
int qb_results_write(qb_results_writer *w, const qb_result_row *r, char *err, size_t errlen);
/* Append QB_NCOLS text fields as they are (merge). */
int qb_results_write_fields(qb_results_writer *w, const char *const *fields, char *err, size_t errlen);
void qb_results_close(qb_results_writer *w);
/* One CSV record of QB_NCOLS fields on a stdio stream (quoted only where
 * needed), e.g. the header and a row on stdout (eval --csv). */
void qb_results_print(FILE *f, const char *const *fields);

/* Called for each data row (fields: QB_NCOLS strings; line: the line
 * where the row starts). Return 0 to go on, nonzero to stop (returned). */
typedef int (*qb_results_cb)(void *ctx, const char *const *fields, int line);

/* Read a results CSV of any schema: header checked, every row must have
 * as many fields as the header and parse (qb_row_parse); cb sees each row
 * as QB_NCOLS fields (columns newer than the file's schema empty). 0; -1
 * with "FILE:LINE: message" in err; or cb's nonzero value. */
int qb_results_read(const char *path, qb_results_cb cb, void *ctx, char *err, size_t errlen);

/* The ids of cells already finished in path (status ok, noisy or
 * unsupported; failed cells run again on --resume). A missing file is
 * an empty set. *ids is malloc'd (free with qb_ids_free). 0 or -1. */
int qb_results_finished(const char *path, char ***ids, int *n, char *err, size_t errlen);
void qb_ids_free(char **ids, int n);

#endif
