/*
 * inputs.c - a data folder into samples of a model's inputs: lists the
 * folder in name order, sends each file to the reader of its extension
 * (.pb, .npy, .npz, .raw/.bin/.f32, .png/.jpg/.jpeg, .wav/.flac, or a
 * subfolder holding one sample of a multi-input model), checks every
 * array's dtype and shape against the model's inputs, and attaches the
 * labels. See inputs.h.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/data/inputs.h"

/* Files of a data folder that are not inputs. */
static const char *const reserved[] = {"labels.txt", "labels.csv", "classes.txt", "preprocess.txt"};

void qb_inputs_free(qb_inputs *s)
{
    for (int k = 0; k < s->ninputs; k++) {
        free(s->in[k].data); /* owned, whatever the kind */
        s->in[k].data = NULL;
        qb_tensor_clear(&s->in[k]);
    }
    for (int i = 0; i < s->n; i++)
        free(s->source[i]);
    free(s->source);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

static const char *ext_of(const char *name)
{
    const char *d = strrchr(name, '.');
    return d ? d + 1 : "";
}

static void note_kind(qb_inputs *s, const char *kind)
{
    char pat[16];
    snprintf(pat, sizeof pat, "%s", kind);
    const char *p = s->kinds;
    size_t l = strlen(pat);
    while ((p = strstr(p, pat)))
        if ((p == s->kinds || p[-1] == ',') && (p[l] == ',' || !p[l]))
            return;
        else
            p += l;
    size_t at = strlen(s->kinds);
    snprintf(s->kinds + at, sizeof s->kinds - at, "%s%s", at ? "," : "", kind);
}

/* Room for m more samples. */
static int grow(qb_inputs *s, int m, qb_err *e)
{
    if (s->n + m <= s->cap)
        return 0;
    int cap = s->cap ? s->cap : 64;
    while (cap < s->n + m)
        cap *= 2;
    char **src = realloc(s->source, (size_t)cap * sizeof *src);
    if (!src)
        goto oom;
    s->source = src;
    for (int k = 0; k < s->ninputs; k++) {
        size_t per = (size_t)qb_tensor_count(&s->in[k]) * qb_dtype_size(s->in[k].dtype);
        void *d = realloc(s->in[k].data, (size_t)cap * per + 1);
        if (!d)
            goto oom;
        s->in[k].data = d;
    }
    s->cap = cap;
    return 0;
oom:
    qb_errf(e, "out of memory after %d samples", s->n);
    return -1;
}

/* How many samples array a gives input k (its shape is input k's sample
 * shape, that shape without its batch dimension of 1, or that shape with
 * a batch of m); 0 after a message when its dtype or shape is wrong. */
static int64_t samples_in(const qb_inputs *s, int k, const qb_npy *a, const char *where, qb_err *e)
{
    const qb_tensor *w = &s->in[k];
    int ok_type = a->dtype == w->dtype || (w->dtype == QB_DT_FLOAT && a->dtype == QB_DT_DOUBLE) ||
                  (w->dtype == QB_DT_INT64 && a->dtype == QB_DT_INT32);
    if (!ok_type) {
        qb_errf(e, "%s: dtype: %s, input '%s' takes %s", where, qb_dtype_name(a->dtype), w->name,
                qb_dtype_name(w->dtype));
        return 0;
    }
    if (a->ndim == w->ndim) {
        int same = 1;
        for (int i = 1; i < a->ndim; i++)
            same &= a->dims[i] == w->dims[i];
        if (same && a->ndim && (a->dims[0] == w->dims[0] || (w->dims[0] == 1 && a->dims[0] >= 1)))
            return a->dims[0] == w->dims[0] ? 1 : a->dims[0];
        if (same && !a->ndim)
            return 1;
    } else if (a->ndim + 1 == w->ndim && w->dims[0] == 1) {
        int same = 1;
        for (int i = 0; i < a->ndim; i++)
            same &= a->dims[i] == w->dims[i + 1];
        if (same)
            return 1;
    }
    char sa[160], sw[160];
    qb_shape_str(a->ndim, a->dims, sa, sizeof sa);
    qb_shape_str(w->ndim, w->dims, sw, sizeof sw);
    qb_errf(e, "%s: shape: %s, input '%s' takes %s%s", where, a->ndim ? sa : "scalar", w->name,
            w->ndim ? sw : "scalar", w->ndim && w->dims[0] == 1 ? " (or N samples stacked along the batch)" : "");
    return 0;
}

/* Copy sample j of array a (m samples) into sample `at` of input k. */
static void put(qb_inputs *s, int k, const qb_npy *a, int64_t m, int64_t j, int at)
{
    qb_tensor *w = &s->in[k];
    size_t cnt = (size_t)qb_tensor_count(w);
    (void)m;
    char *dst = qb_inputs_at(s, k, at);
    if (a->dtype == w->dtype) {
        size_t b = cnt * qb_dtype_size(w->dtype);
        memcpy(dst, (const char *)a->data + (size_t)j * b, b);
    } else if (a->dtype == QB_DT_DOUBLE) {
        const double *src = (const double *)a->data + (size_t)j * cnt;
        for (size_t i = 0; i < cnt; i++)
            ((float *)dst)[i] = (float)src[i];
    } else { /* int32 -> int64 */
        const int32_t *src = (const int32_t *)a->data + (size_t)j * cnt;
        for (size_t i = 0; i < cnt; i++)
            ((int64_t *)dst)[i] = src[i];
    }
}

/* Add the samples of one source: arrays a[k] for every input k (all with
 * the same sample count). 0 or -1. */
static int add_arrays(qb_inputs *s, qb_npy *const *a, const char *name, const char *where, qb_err *e)
{
    int64_t m = -1;
    for (int k = 0; k < s->ninputs; k++) {
        int64_t mk = samples_in(s, k, a[k], where, e);
        if (!mk)
            return -1;
        if (m >= 0 && mk != m) {
            qb_errf(e, "%s: shape: %lld samples for input '%s', %lld for '%s'", where, (long long)mk, s->in[k].name,
                    (long long)m, s->in[0].name);
            return -1;
        }
        m = mk;
    }
    if (m > (1 << 24)) {
        qb_errf(e, "%s: more than 2^24 samples", where);
        return -1;
    }
    if (grow(s, (int)m, e))
        return -1;
    for (int64_t j = 0; j < m; j++) {
        for (int k = 0; k < s->ninputs; k++)
            put(s, k, a[k], m, j, s->n);
        char src[4200];
        if (m > 1)
            snprintf(src, sizeof src, "%s[%lld]", name, (long long)j);
        else
            snprintf(src, sizeof src, "%s", name);
        if (!(s->source[s->n] = strdup(src))) {
            qb_errf(e, "out of memory");
            return -1;
        }
        s->n++;
    }
    return 0;
}

/* A TensorProto file as an array. */
static int load_pb(const char *path, qb_npy *a, qb_err *e)
{
    qb_tensor t;
    memset(&t, 0, sizeof t);
    memset(a, 0, sizeof *a);
    if (qb_tensor_load_pb(path, &t, e))
        return -1;
    a->dtype = t.dtype;
    a->ndim = t.ndim;
    memcpy(a->dims, t.dims, sizeof a->dims);
    a->data = t.data;
    t.data = NULL;
    qb_tensor_clear(&t);
    if (!a->data && qb_shape_count(a->ndim, a->dims) > 0) {
        qb_errf(e, "%s: data: no values", path);
        return -1;
    }
    return 0;
}

/* Raw little-endian float32: as many samples of input 0 as the size holds. */
static int load_raw(const char *path, const qb_tensor *w, qb_npy *a, qb_err *e)
{
    memset(a, 0, sizeof *a);
    size_t len;
    uint8_t *b = qb_read_file(path, &len, e);
    if (!b)
        return -1;
    size_t per = (size_t)qb_tensor_count(w) * sizeof(float);
    if (!len || len % per) {
        char sh[160];
        qb_shape_str(w->ndim, w->dims, sh, sizeof sh);
        qb_errf(e, "%s: size: %zu bytes is not a multiple of the %zu bytes of one float32 sample of input '%s' "
                   "(%s; fix symbolic dimensions with --shape)", path, len, per, w->name, sh);
        free(b);
        return -1;
    }
    a->dtype = QB_DT_FLOAT;
    a->ndim = w->ndim;
    memcpy(a->dims, w->dims, sizeof a->dims);
    a->dims[0] = (int64_t)(len / per) * (w->ndim ? w->dims[0] : 1);
    if (!w->ndim) {
        a->ndim = 1;
        a->dims[0] = (int64_t)(len / per);
    }
    a->data = b;
    if (w->ndim && w->dims[0] != 1 && len != per) {
        qb_errf(e, "%s: size: %zu bytes, input '%s' takes %zu (its batch dimension is not 1: no stacking)", path,
                len, w->name, per);
        qb_npy_free(a);
        return -1;
    }
    return 0;
}

/* An image as an array of one sample of input 0. */
static int load_image(qb_inputs *s, const char *path, const qb_preproc *pp, qb_npy *a, qb_err *e)
{
    memset(a, 0, sizeof *a);
    const qb_tensor *w = &s->in[0];
    if (w->dtype != QB_DT_FLOAT) {
        qb_errf(e, "%s: dtype: an image gives float32, input '%s' takes %s", path, w->name, qb_dtype_name(w->dtype));
        return -1;
    }
    qb_image img;
    if (qb_image_load(path, &img, e))
        return -1;
    a->dtype = QB_DT_FLOAT;
    a->ndim = w->ndim;
    memcpy(a->dims, w->dims, sizeof a->dims);
    a->data = malloc((size_t)qb_tensor_count(w) * sizeof(float) + 1);
    int rc = a->data ? qb_image_to_tensor(&img, pp, w, a->data, path, e) : (qb_errf(e, "out of memory"), -1);
    qb_image_free(&img);
    if (rc)
        qb_npy_free(a);
    return rc;
}

/* Audio as consecutive windows of input 0's sample size. */
static int load_audio(qb_inputs *s, const char *path, const qb_preproc *pp, qb_npy *a, qb_err *e)
{
    memset(a, 0, sizeof *a);
    const qb_tensor *w = &s->in[0];
    if (w->dtype != QB_DT_FLOAT || !w->ndim || w->dims[0] != 1) {
        char sh[160];
        qb_shape_str(w->ndim, w->dims, sh, sizeof sh);
        qb_errf(e, "%s: input '%s' (%s %s) does not take audio (want float32 with a batch of 1)", path, w->name,
                qb_dtype_name(w->dtype), sh);
        return -1;
    }
    qb_audio au;
    if (qb_audio_load(path, &au, e))
        return -1;
    int rc = -1;
    int64_t win = qb_tensor_count(w);
    if (pp->rate && au.rate != pp->rate) {
        qb_errf(e, "%s: rate: %d Hz, the spec asks for %d Hz (resample it first)", path, au.rate, pp->rate);
        goto out;
    }
    if (au.frames < win) {
        qb_errf(e, "%s: frames: %lld samples, shorter than one window of %lld (input '%s')", path,
                (long long)au.frames, (long long)win, w->name);
        goto out;
    }
    a->dtype = QB_DT_FLOAT;
    a->ndim = w->ndim;
    memcpy(a->dims, w->dims, sizeof a->dims);
    a->dims[0] = au.frames / win; /* whole windows; the remainder is left out */
    if (pp->wav_scale != 1.0f) /* wav-scale: e.g. PCM16 integer values for models trained on them */
        for (int64_t i = 0; i < au.frames; i++)
            au.x[i] *= pp->wav_scale;
    a->data = au.x;
    au.x = NULL;
    rc = 0;
out:
    qb_audio_free(&au);
    return rc;
}

/* Index of the model input called name, or -1. */
static int input_named(const qb_inputs *s, const char *name)
{
    for (int k = 0; k < s->ninputs; k++)
        if (!strcmp(s->in[k].name, name))
            return k;
    return -1;
}

/* Arrays named by input (names[i] of arrays[i], n of them) onto the
 * model's inputs: by name, or by position when named arr_0, arr_1 ...
 * (np.savez without keywords) or input_0, input_1 ... (ONNX test data). */
static int match_inputs(qb_inputs *s, char **names, qb_npy *arrays, int n, const char *where, qb_npy **by_input,
                        qb_err *e)
{
    if (n > s->ninputs) {
        qb_errf(e, "%s: %d arrays, the model has %d input%s (%s%s)", where, n, s->ninputs, s->ninputs > 1 ? "s" : "",
                s->in[0].name, s->ninputs > 1 ? ", ..." : "");
        return -1;
    }
    for (int k = 0; k < s->ninputs; k++)
        by_input[k] = NULL;
    for (int i = 0; i < n; i++) {
        int k = input_named(s, names[i]);
        int pos = -1;
        if (k < 0 && (sscanf(names[i], "arr_%d", &pos) == 1 || sscanf(names[i], "input_%d", &pos) == 1) && pos >= 0 &&
            pos < s->ninputs)
            k = pos;
        if (k < 0 && s->ninputs == 1 && n == 1)
            k = 0; /* one array for a one-input model: whatever its name */
        if (k < 0) {
            qb_errf(e, "%s: array '%s' is not an input of the model (inputs: %s%s%s)", where, names[i], s->in[0].name,
                    s->ninputs > 1 ? ", " : "", s->ninputs > 1 ? s->in[1].name : "");
            return -1;
        }
        if (by_input[k]) {
            qb_errf(e, "%s: input '%s' given twice", where, s->in[k].name);
            return -1;
        }
        by_input[k] = &arrays[i];
    }
    for (int k = 0; k < s->ninputs; k++)
        if (!by_input[k]) {
            qb_errf(e, "%s: no array for input '%s'", where, s->in[k].name);
            return -1;
        }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir (sorted, hidden and reserved files left out). */
static char **list_dir(const char *dir, int *n, qb_err *e)
{
    DIR *d = opendir(dir);
    if (!d) {
        qb_errf(e, "%s: cannot open the data folder", dir);
        return NULL;
    }
    int cap = 64;
    char **v = malloc((size_t)cap * sizeof *v);
    *n = 0;
    struct dirent *de;
    while (v && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        int skip = 0;
        for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
            skip |= !strcmp(de->d_name, reserved[i]);
        if (skip)
            continue;
        if (*n == cap) {
            char **nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!nv) {
                for (int i = 0; i < *n; i++)
                    free(v[i]);
                free(v);
            }
            v = nv;
            if (!v)
                break;
        }
        v[(*n)++] = strdup(de->d_name);
    }
    closedir(d);
    if (!v) {
        qb_errf(e, "out of memory");
        return NULL;
    }
    qsort(v, (size_t)*n, sizeof *v, by_name);
    return v;
}

static void free_list(char **v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* A subfolder: one sample of every input, each in NAME.npy / NAME.pb or
 * input_K.pb (ONNX test-data-set folders; output_*.pb are left out). */
static int load_folder(qb_inputs *s, const char *path, const char *name, qb_err *e)
{
    int n = 0;
    char **files = list_dir(path, &n, e);
    if (!files)
        return -1;
    qb_npy arrays[QB_INPUTS_MAX + 1];
    char *names[QB_INPUTS_MAX + 1];
    int na = 0, rc = -1;
    for (int i = 0; i < n; i++) {
        const char *x = ext_of(files[i]);
        if (!strncmp(files[i], "output_", 7))
            continue;
        char fp[8192];
        if (snprintf(fp, sizeof fp, "%s/%s", path, files[i]) >= (int)sizeof fp) {
            qb_errf(e, "%s: path too long", path);
            goto out;
        }
        if (strcmp(x, "pb") && strcmp(x, "npy")) {
            qb_errf(e, "%s: a sample folder holds one .pb or .npy file per model input, not '%s'", fp, files[i]);
            goto out;
        }
        if (na == s->ninputs) {
            qb_errf(e, "%s: more tensors than the model's %d input%s", fp, s->ninputs, s->ninputs > 1 ? "s" : "");
            goto out;
        }
        if (!strcmp(x, "pb") ? load_pb(fp, &arrays[na], e) : qb_npy_load(fp, &arrays[na], e))
            goto out;
        names[na] = files[i];
        names[na][strlen(files[i]) - strlen(x) - 1] = 0; /* without the extension */
        na++;
        note_kind(s, x);
    }
    if (!na) {
        qb_errf(e, "%s: an empty sample folder", path);
        goto out;
    }
    qb_npy *by[QB_INPUTS_MAX];
    if (match_inputs(s, names, arrays, na, path, by, e) || add_arrays(s, by, name, path, e))
        goto out;
    rc = 0;
out:
    for (int i = 0; i < na; i++)
        qb_npy_free(&arrays[i]);
    free_list(files, n);
    return rc;
}

/* One file of the folder; the samples it holds are appended. */
static int load_file(qb_inputs *s, const char *dir, const char *name, const qb_preproc *pp, qb_err *e)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        qb_errf(e, "%s: path too long", dir);
        return -1;
    }
    struct stat st;
    if (stat(path, &st)) {
        qb_errf(e, "%s: cannot stat", path);
        return -1;
    }
    if (S_ISDIR(st.st_mode))
        return load_folder(s, path, name, e);
    char x[16];
    snprintf(x, sizeof x, "%s", ext_of(name));
    for (char *c = x; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    if (!strcmp(x, "npz")) {
        qb_npz z;
        if (qb_npz_load(path, &z, e))
            return -1;
        qb_npy *by[QB_INPUTS_MAX];
        int rc = match_inputs(s, z.names, z.arrays, z.n, path, by, e) || add_arrays(s, by, name, path, e) ? -1 : 0;
        qb_npz_free(&z);
        note_kind(s, "npz");
        return rc;
    }
    int known = !strcmp(x, "npy") || !strcmp(x, "pb") || !strcmp(x, "raw") || !strcmp(x, "bin") ||
                !strcmp(x, "f32") || !strcmp(x, "png") || !strcmp(x, "jpg") || !strcmp(x, "jpeg") ||
                !strcmp(x, "wav") || !strcmp(x, "flac");
    if (!known) {
        qb_errf(e, "%s: unknown input file type '.%s' (.pb .npy .npz .raw .bin .f32 .png .jpg .jpeg .wav .flac, or "
                   "a folder per sample)", path, x);
        return -1;
    }
    if (s->ninputs != 1) {
        qb_errf(e, "%s: the model has %d inputs: give each sample as a folder (one file per input) or an .npz",
                path, s->ninputs);
        return -1;
    }
    qb_npy a;
    int rc;
    if (!strcmp(x, "npy"))
        rc = qb_npy_load(path, &a, e);
    else if (!strcmp(x, "pb"))
        rc = load_pb(path, &a, e);
    else if (!strcmp(x, "png") || !strcmp(x, "jpg") || !strcmp(x, "jpeg"))
        rc = load_image(s, path, pp, &a, e);
    else if (!strcmp(x, "wav") || !strcmp(x, "flac"))
        rc = load_audio(s, path, pp, &a, e);
    else
        rc = load_raw(path, &s->in[0], &a, e);
    if (rc)
        return -1;
    qb_npy *by[1] = {&a};
    rc = add_arrays(s, by, name, path, e);
    qb_npy_free(&a);
    note_kind(s, !strcmp(x, "jpeg") ? "jpg" : !strcmp(x, "bin") || !strcmp(x, "f32") ? "raw" : x);
    return rc;
}

/* dir/preprocess.txt into p when present (first non-comment line). */
static int folder_spec(const char *dir, qb_preproc *p, qb_err *e)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/preprocess.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024];
    int rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        rc = qb_preproc_parse(line, path, p, e);
    }
    fclose(f);
    return rc;
}

int qb_inputs_load(const char *dir, const qb_tensor *want, int nwant, const qb_preproc *pp, int nclasses,
                   qb_inputs *out, qb_err *e)
{
    memset(out, 0, sizeof *out);
    if (nwant < 1 || nwant > QB_INPUTS_MAX) {
        qb_errf(e, "%s: the model has %d inputs (1 to %d read from a data folder)", dir, nwant, QB_INPUTS_MAX);
        return -1;
    }
    for (int k = 0; k < nwant; k++) {
        const qb_tensor *w = &want[k];
        for (int i = 0; i < w->ndim; i++)
            if (w->dims[i] <= 0) {
                qb_errf(e, "input '%s': dimension %d is symbolic; give it with --shape %s=...", w->name, i, w->name);
                return -1;
            }
        qb_tensor *t = &out->in[k];
        t->name = strdup(w->name ? w->name : "");
        t->dtype = w->dtype;
        t->ndim = w->ndim;
        memcpy(t->dims, w->dims, sizeof t->dims);
        t->has_shape = 1;
        t->kind = QB_T_INPUT;
        t->producer = -1;
        out->ninputs = k + 1;
        if (!t->name || qb_tensor_count(t) < 0 || !qb_dtype_size(t->dtype)) {
            qb_errf(e, "input '%s': %s", w->name, t->name ? "unsupported dtype or shape" : "out of memory");
            qb_inputs_free(out);
            return -1;
        }
    }
    qb_preproc spec;
    if (pp) {
        spec = *pp;
    } else {
        qb_preproc_defaults(&spec);
        if (folder_spec(dir, &spec, e)) {
            qb_inputs_free(out);
            return -1;
        }
    }
    int nf = 0;
    char **files = list_dir(dir, &nf, e);
    if (!files) {
        qb_inputs_free(out);
        return -1;
    }
    int *first = malloc(((size_t)nf + 1) * sizeof *first); /* first sample of each file */
    int rc = -1;
    if (!first) {
        qb_errf(e, "out of memory");
        goto out;
    }
    for (int i = 0; i < nf; i++) {
        first[i] = out->n;
        if (load_file(out, dir, files[i], &spec, e))
            goto out;
    }
    first[nf] = out->n;
    if (!out->n) {
        qb_errf(e, "%s: no input files (.pb .npy .npz .raw .png .jpg .wav, or sample folders)", dir);
        goto out;
    }
    /* labels: per file, copied to each of its samples */
    char lp[4200];
    snprintf(lp, sizeof lp, "%s/labels.txt", dir);
    struct stat st;
    if (stat(lp, &st)) {
        snprintf(lp, sizeof lp, "%s/labels.csv", dir);
        if (stat(lp, &st))
            lp[0] = 0;
    }
    if (lp[0]) {
        char cp[4200];
        snprintf(cp, sizeof cp, "%s/classes.txt", dir);
        qb_classes cls;
        if (qb_classes_load(cp, &cls, e))
            goto out;
        int32_t *fl = malloc(((size_t)nf + 1) * sizeof *fl);
        out->labels = malloc((size_t)out->n * sizeof *out->labels);
        int bad = !fl || !out->labels;
        if (bad)
            qb_errf(e, "out of memory");
        else
            bad = qb_labels_load(lp, (const char *const *)files, nf, &cls, nclasses, fl, e) != 0;
        if (!bad)
            for (int i = 0; i < nf; i++)
                for (int j = first[i]; j < first[i + 1]; j++)
                    out->labels[j] = fl[i];
        out->nclasses = cls.n;
        free(fl);
        qb_classes_free(&cls);
        if (bad)
            goto out;
    }
    rc = 0;
out:
    free(first);
    free_list(files, nf);
    if (rc)
        qb_inputs_free(out);
    return rc;
}
