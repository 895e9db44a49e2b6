/*
 * qcell.h - the quantized model of a sweep cell, built once and cached
 * as an ONNX file (see qcell.c).
 */
#ifndef QB_QCELL_H
#define QB_QCELL_H

#include <stddef.h>

#include "kernels/kernels.h"

/* What building the quantized model cost (from the cache's key file when reused). */
typedef struct qb_qcell_info {
    int reused;            /* loaded from the cache */
    double calib_seconds;  /* calibration wall time when it was built */
    double qat_seconds;    /* QAT fine-tuning wall time when it was built (0: none or reused) */
    char plan[1024];       /* mixed or a layer plan: "layer=precision,..." */
    char plan_name[64];    /* the layer plan's name, or "" */
    char plan_hash[24];    /* its hash (16 hex digits), or "" */
} qb_qcell_info;

/* The path of the quantized ONNX model for (fp32_path, precision,
 * method) into out: from the cache, or (build != 0) built now by the
 * quantization pipeline on the dataset (calibration images: calib, 0 for
 * the default), or on the first calib inputs of the folder data (when
 * not NULL or "": a scenario's data = DIR, its images preprocessed by
 * preprocess, NULL or "" for the folder's preprocess.txt), with the
 * layer plan in plan_path (NULL or "": none; its hash is part of the
 * cache key). model_name names the cache file. 0, or -1 with err. */
int qb_qcell_model(const char *fp32_path, const char *model_name, const char *dataset, const char *data_dir,
                   const char *data, const char *preprocess, qb_precision prec, const char *method, int calib,
                   const char *plan_path, int build, char *out, size_t len, qb_qcell_info *info, char *err,
                   size_t errlen);

/* Whether the cache entry's key file at keypath has the recipe line as
 * its first line (1, and info's calibration and QAT seconds and plan
 * from the lines after it; info may be NULL) or not (0: absent,
 * unreadable, another recipe or not a key file; the entry is rebuilt). */
int qb_qcell_key_read(const char *keypath, const char *line, qb_qcell_info *info);

#endif
