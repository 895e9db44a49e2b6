/*
 * qcell.c - the quantized model of a sweep cell. Built once per (model,
 * precision, method) by the quantization pipeline (harness/quant:
 * calibration on training images, QAT fine-tuning, the mixed-precision
 * search), written as an ONNX file (QDQ for int8, float16 initializers,
 * com.qbench operators for int4 and binary: harness/graph/qdq.h) into the
 * quantized-model cache <model cache>/quantized/, and loaded from there
 * by every cell of the group and by the cachegrind child process, which
 * therefore measures exactly the same model without calibrating again.
 *
 * Cache entry: NAME.onnx and NAME.onnx.key; the key file's first line is
 * the recipe (hashed into NAME: the FP32 model's bytes, dataset or data
 * folder (its path, spec, and the names, sizes and times of its files),
 * precision, method, calibration samples, seed, pipeline defaults), the
 * second the calibration and QAT seconds, the third the mixed plan. The
 * key file is renamed into place last: an entry counts only when both
 * exist and the recipe matches.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/data/files.h"
#include "harness/eval/runner.h"
#include "harness/graph/qdq.h"
#include "harness/quant/pipeline.h"
#include "harness/sweep/qcell.h"
#include "harness/train/train.h"

/* FNV-1a of a data folder's entries (names, sizes, modification times),
 * one level of subfolders (sample folders) included: a changed folder
 * calibrates again. */
static uint64_t folder_stamp(const char *dir, int depth)
{
    uint64_t h = QB_FNV_OFFSET;
    DIR *d = opendir(dir);
    if (!d)
        return h;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[4200];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (stat(p, &sb))
            continue;
        uint64_t e = qb_fnv1a(QB_FNV_OFFSET, de->d_name, strlen(de->d_name));
        int64_t v[3] = {(int64_t)sb.st_size, (int64_t)sb.st_mtim.tv_sec, (int64_t)sb.st_mtim.tv_nsec};
        e = qb_fnv1a(e, v, sizeof v);
        if (S_ISDIR(sb.st_mode) && depth < 1)
            e ^= folder_stamp(p, depth + 1);
        h ^= e; /* order-free: readdir's order is not stable */
    }
    closedir(d);
    return h;
}

int qb_qcell_key_read(const char *keypath, const char *line, qb_qcell_info *info)
{
    FILE *f = fopen(keypath, "r");
    if (!f)
        return 0;
    char buf[2048] = "";
    int ok = fgets(buf, sizeof buf, f) != NULL;
    buf[strcspn(buf, "\n")] = 0;
    ok = ok && !strcmp(buf, line);
    if (ok && info) {
        if (fgets(buf, sizeof buf, f))
            sscanf(buf, "%lf %lf", &info->calib_seconds, &info->qat_seconds);
        if (fgets(info->plan, sizeof info->plan, f))
            info->plan[strcspn(info->plan, "\n")] = 0;
    }
    fclose(f);
    return ok;
}

int qb_qcell_model(const char *fp32_path, const char *model_name, const char *dataset, const char *data_dir,
                   const char *data, const char *preprocess, qb_precision prec, const char *method, int calib,
                   const char *plan_path, int build, char *out, size_t len, qb_qcell_info *info, char *err,
                   size_t errlen)
{
    memset(info, 0, sizeof *info);
    qb_pipeline_opts o;
    qb_pipeline_defaults(&o);
    o.model = fp32_path;
    o.dataset = dataset && *dataset ? dataset : "none";
    o.data_dir = data_dir && *data_dir ? data_dir : NULL;
    o.prec = prec;
    o.method = method;
    if (calib > 0)
        o.calib = calib;
    qb_preproc pp;
    if (data && *data) { /* the folder's first calib inputs calibrate, at most half of them (as cell.c splits it) */
        o.data = data;
        o.calib_given = 0;
        if (preprocess && *preprocess) {
            qb_err pe;
            qb_preproc_defaults(&pp);
            if (qb_preproc_parse(preprocess, "preprocess", &pp, &pe)) {
                snprintf(err, errlen, "%s", pe.msg);
                return -1;
            }
            o.pp = &pp;
        }
    }
    qb_layer_plan lp;
    qb_err e;
    if (plan_path && *plan_path) {
        if (qb_layer_plan_load(plan_path, &lp, &e)) {
            snprintf(err, errlen, "%s", e.msg);
            return -1;
        }
        o.layer_plan = &lp;
        o.prec_given = 1; /* the cell's precision is the default of the layers no rule sets */
        snprintf(info->plan_name, sizeof info->plan_name, "%s", lp.name);
        snprintf(info->plan_hash, sizeof info->plan_hash, "%016llx", (unsigned long long)lp.hash);
    }
    int rc = -1;
    char line[2048], shapes[256]; /* the scenario's shape = lines, applied by every load (cell.c) */
    qb_input_shapes_str(qb_load_shapes, shapes, sizeof shapes);
    snprintf(line, sizeof line,
             "qbench-quantized v1 model=%016llx dataset=%s data_dir=%s data=%.600s/%016llx pp=%.250s prec=%s "
             "method=%s calib=%d seed=%llu percentile=%g group=%d ends=%d budget=%g val=%d%s%s%s%.200s",
             (unsigned long long)qb_file_hash(fp32_path), o.dataset, o.data_dir ? o.data_dir : "",
             o.data ? o.data : "", o.data ? (unsigned long long)folder_stamp(o.data, 0) : 0ull,
             preprocess ? preprocess : "",
             qb_precision_name(prec), method, o.calib, (unsigned long long)o.seed, o.percentile, o.qo.group,
             o.qo.binary_ends_int8, o.budget, o.val, o.layer_plan ? " plan=" : "", info->plan_hash,
             shapes[0] ? " shapes=" : "", shapes);
    char dir[1024], keypath[1100];
    snprintf(dir, sizeof dir, "%s/quantized", qb_zoo_cache_dir());
    snprintf(out, len, "%s/%s-%s-%s-%016llx.onnx", dir, model_name, qb_precision_name(prec), method,
             (unsigned long long)qb_fnv1a(QB_FNV_OFFSET, line, strlen(line)));
    snprintf(keypath, sizeof keypath, "%s.key", out);
    if (!access(out, R_OK) && qb_qcell_key_read(keypath, line, info)) {
        info->reused = 1;
        rc = 0;
        goto done;
    }
    if (!build) {
        snprintf(err, errlen, "%s: not in the quantized-model cache (the parent builds it first)", out);
        goto done;
    }
    qb_pipeline_data d;
    qb_pipeline_result r;
    if (qb_pipeline_data_open(&o, &d, &e)) {
        snprintf(err, errlen, "%s", e.msg);
        goto done;
    }
    /* QAT fine-tuning uses every core, whatever the cell's thread count
     * (its recipe's threads = 0, harness/quant/qat.c) */
    int planned = !qb_pipeline_plan(&o, &d, &r, &e);
    if (planned) {
        qb_graph *g = qb_pipeline_graph(&o, &r, &e);
        qb_runner run;
        if (g && !qb_runner_open_on(&run, g, 1, -1, &d.calib, &e)) {
            char tmp[1200];
            snprintf(tmp, sizeof tmp, "%s.tmp%d", out, (int)getpid());
            if (qb_mkdir_p(dir)) {
                snprintf(e.msg, sizeof e.msg, "%.600s: cannot create the directory: %s", dir, strerror(errno));
            } else if (!qb_qdq_save(run.g, tmp, &e)) {
                if (rename(tmp, out)) {
                    snprintf(e.msg, sizeof e.msg, "%s: %s", out, strerror(errno));
                } else {
                    info->calib_seconds = r.calib_seconds;
                    info->qat_seconds = r.qat_seconds;
                    if (prec == QB_PREC_MIXED || o.layer_plan)
                        qb_plan_str(&r, info->plan, sizeof info->plan);
                    snprintf(tmp, sizeof tmp, "%s.tmp%d", keypath, (int)getpid());
                    FILE *f = fopen(tmp, "w");
                    if (f) {
                        fprintf(f, "%s\n%.3f %.3f\n%s\n", line, info->calib_seconds, info->qat_seconds, info->plan);
                        rc = fclose(f) || rename(tmp, keypath) ? -1 : 0;
                    }
                    if (rc)
                        snprintf(e.msg, sizeof e.msg, "%.600s: cannot write: %s", keypath, strerror(errno));
                }
            }
            unlink(tmp);
            qb_runner_close(&run);
        }
        qb_pipeline_result_free(&r);
    }
    if (rc)
        snprintf(err, errlen, "%s", e.msg);
    qb_pipeline_data_close(&d);
done:
    if (o.layer_plan)
        qb_layer_plan_free(&lp);
    return rc;
}
