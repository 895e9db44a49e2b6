/*
 * inputs.h - a folder of the user's own model inputs (`--data DIR`):
 * every file is read by the reader of its extension (ONNX TensorProto
 * .pb, NumPy .npy/.npz, raw float32 .raw/.bin/.f32, PNG/JPEG images with
 * a preprocessing spec, WAV audio) into samples of the model's inputs,
 * in file-name order, with optional labels (labels.txt or labels.csv).
 *
 * The caller describes what the model takes (one qb_tensor per graph
 * input, every dimension known: symbolic ones fixed by --shape), and
 * every file is checked against it: a wrong shape, a wrong dtype, a
 * truncated or unreadable file, a label of an unknown class, more
 * tensors than the model has inputs, or a bad preprocessing value gives
 * one message naming the file and the field, and nothing is loaded.
 */
#ifndef QB_INPUTS_H
#define QB_INPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "harness/graph/graph.h"

#define QB_INPUTS_MAX 16 /* model inputs one sample may feed */

/* Image preprocessing (PNG/JPEG -> one float tensor), applied in this
 * order: decode to 8-bit channels in `order`, resize (exact or keeping
 * the aspect ratio and padding), centre crop, x * scale, (x - mean) / std
 * per channel, then the layout of the model's input. Parsed from
 * "key=value,..." (qb_preproc_parse) or a data folder's preprocess.txt. */
typedef struct qb_preproc {
    int resize_h, resize_w;  /* resize to exactly HxW (bilinear); 0: none */
    int fit_h, fit_w;        /* resize keeping the aspect ratio to fit HxW, pad the rest with `pad`; 0: none */
    int crop_h, crop_w;      /* centre crop to HxW after resizing; 0: none */
    float scale;             /* pixel (0..255) multiplier before mean/std (1/255) */
    int nmean, nstd;         /* values given for mean / std (1: all channels) */
    float mean[4], std[4];   /* x' = (x * scale - mean[c]) / std[c] (0 and 1) */
    float pad;               /* value of padded pixels after normalising (0) */
    char order[8];           /* channel order: "rgb", "bgr" or "gray" ("": from the model's channel count) */
    int layout;              /* 0: from the model's shape; 1: NCHW; 2: NHWC */
    int rate;                /* WAV: required sample rate in Hz (0: any) */
    float wav_scale;         /* WAV: multiplier of the samples, read in [-1, 1] (1; wav-scale=pcm16: 32768,
                                the integer values of 16-bit audio) */
} qb_preproc;

/* Default spec: scale 1/255, mean 0, std 1, order and layout from the model,
 * WAV samples in [-1, 1]. */
void qb_preproc_defaults(qb_preproc *p);
/* Parse "resize=HxW,fit=HxW,crop=HxW,scale=1/255,mean=a:b:c,std=a:b:c,
 * order=rgb|bgr|gray,layout=nchw|nhwc,pad=V,rate=HZ,wav-scale=unit|pcm16|X"
 * into p (keys given
 * override p). where names the source in messages ("--preprocess" or a
 * file). 0, or -1 with a message naming the field and value. */
int qb_preproc_parse(const char *spec, const char *where, qb_preproc *p, qb_err *e);

/* An 8-bit image as decoded (image.c). */
typedef struct qb_image {
    int w, h;           /* size in pixels */
    int channels;       /* 1 (gray) or 3 (RGB) */
    uint8_t *px;        /* h x w x channels, row-major */
} qb_image;

/* Decode a PNG or JPEG file (by its magic bytes, whatever the extension)
 * into gray or RGB 8-bit. 0, or -1 naming the file. */
int qb_image_load(const char *path, qb_image *img, qb_err *e);
void qb_image_free(qb_image *img);
/* Preprocess img into out, the float tensor `want` of one sample
 * (rank 4 with batch 1, or rank 3: CHW/HWC). 0, or -1 naming the file
 * (path) and field. */
int qb_image_to_tensor(const qb_image *img, const qb_preproc *p, const qb_tensor *want, float *out,
                       const char *path, qb_err *e);

/* One array of a NumPy file (npy.c). */
typedef struct qb_npy {
    qb_dtype dtype;              /* float32, float64, int32, int64, uint8, int8, bool ... */
    int ndim;                    /* rank */
    int64_t dims[QB_MAX_DIMS];   /* shape */
    void *data;                  /* little-endian C-order elements (owned) */
    char descr[16];              /* NumPy's descr, as written (messages) */
} qb_npy;

/* Parse a .npy image in memory (name: for messages). 0, or -1 naming
 * the field (magic, header, descr, fortran_order, shape, data). */
int qb_npy_parse(const uint8_t *buf, size_t len, const char *name, qb_npy *out, qb_err *e);
int qb_npy_load(const char *path, qb_npy *out, qb_err *e);
/* A whole file in memory (malloc'd; *len bytes), or NULL naming the file. */
uint8_t *qb_read_file(const char *path, size_t *len, qb_err *e);
void qb_npy_free(qb_npy *a);

/* The arrays of a .npz archive (a zip of .npy members, stored or
 * deflated; npz.c). names[i] is the member name without ".npy". */
typedef struct qb_npz {
    int n;             /* arrays */
    char **names;      /* their names (owned) */
    qb_npy *arrays;    /* the arrays */
} qb_npz;
int qb_npz_load(const char *path, qb_npz *out, qb_err *e);
void qb_npz_free(qb_npz *z);

/* Mono audio as float in [-1, 1] (wav.c, libsndfile). */
typedef struct qb_audio {
    int rate;          /* samples per second */
    int64_t frames;    /* samples */
    float *x;          /* frames values (owned) */
} qb_audio;
/* Read a WAV (or any libsndfile format) file; more than one channel is
 * refused, as is a file whose data ends before its header says. */
int qb_audio_load(const char *path, qb_audio *a, qb_err *e);
void qb_audio_free(qb_audio *a);

/* Class names of a data folder's classes.txt (labels.c). */
typedef struct qb_classes {
    int n;          /* classes */
    char **names;   /* names[i] is class i (owned) */
} qb_classes;
/* Read classes.txt at path (absent: n = 0, no error). 0, or -1 naming the line. */
int qb_classes_load(const char *path, qb_classes *c, qb_err *e);
void qb_classes_free(qb_classes *c);
/* Read a label file at path for the input files files[0..nfiles) (names
 * relative to the folder): label[i] = class of files[i]. A class must be
 * a name of cls (when it has names) or an index below cls->n or
 * nclasses (when known); every file needs exactly one label. 0, or -1
 * naming the file, line and field. */
int qb_labels_load(const char *path, const char *const *files, int nfiles, const qb_classes *cls, int nclasses,
                   int32_t *label, qb_err *e);

/* The samples of a data folder. */
typedef struct qb_inputs {
    int n;                          /* samples */
    int ninputs;                    /* tensors per sample (the model's graph inputs) */
    qb_tensor in[QB_INPUTS_MAX];    /* per input: name, dtype, one sample's shape, and
                                       data = n samples one after another (owned) */
    char **source;                  /* per sample: "file" or "file[k]" (owned) */
    int32_t *labels;                /* per sample class, or NULL without a label file */
    int nclasses;                   /* classes named in classes.txt, or 0 */
    char kinds[64];                 /* formats read, e.g. "png" or "npy,pb" (messages) */
    int cap;                        /* allocated samples */
} qb_inputs;

/* Read every input file of dir (sorted by name; subfolders are samples
 * of a multi-input model: ONNX test-data-set folders with input_K.pb,
 * or one NAME.npy per input) against want[0..nwant) (the model's inputs,
 * shapes fully known, batch dimension 1). A file may hold several
 * samples stacked along the batch dimension (.npy, .npz, .raw, .pb) or a
 * WAV longer than one window (consecutive windows). pp: the image / WAV
 * spec (NULL: dir/preprocess.txt if present, else defaults). nclasses:
 * classes of the model's output for label checks (0: unknown). Labels
 * come from dir/labels.txt or dir/labels.csv ("FILE CLASS" or
 * "FILE,CLASS" per line; CLASS an index or a name listed in
 * dir/classes.txt). 0, or -1 with one message naming the file and field
 * (nothing loaded). */
int qb_inputs_load(const char *dir, const qb_tensor *want, int nwant, const qb_preproc *pp, int nclasses,
                   qb_inputs *out, qb_err *e);
void qb_inputs_free(qb_inputs *s);
/* Input k of sample i. */
static inline void *qb_inputs_at(const qb_inputs *s, int k, int i)
{
    return (char *)s->in[k].data + (size_t)i * (size_t)qb_tensor_count(&s->in[k]) * qb_dtype_size(s->in[k].dtype);
}

#endif
