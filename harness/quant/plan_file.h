/*
 * plan_file.h - layer plans: an INI file that assigns a precision and/or
 * a calibrator to layers by exact name, by shell glob of names, or by op
 * type (docs/quantization.md "Layer plans"). Parsing checks the syntax
 * and the vocabulary (FILE:LINE messages); resolving against a model's
 * layers checks the names and gives every layer its precision and
 * calibrator, each from the most specific rule that sets it. The
 * mixed-precision search and the bisection write their result as a plan.
 */
#ifndef QB_PLAN_FILE_H
#define QB_PLAN_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "harness/quant/ptq.h"

/* What a rule's key names, most specific first. */
typedef enum qb_rule_kind {
    QB_RULE_LAYER,   /* [layers]: one layer by its exact name */
    QB_RULE_PATTERN, /* [patterns]: layer names matching a shell glob (fnmatch) */
    QB_RULE_OP,      /* [ops]: op type Conv, DepthwiseConv (depthwise Conv only), Gemm or MatMul */
} qb_rule_kind;

/* One rule: KEY = [PRECISION] [CALIBRATOR]. */
typedef struct qb_plan_rule {
    qb_rule_kind kind;         /* which section it came from */
    char key[QB_LAYER_NAME];   /* layer name, glob or op type */
    int prec;                  /* qb_precision, or -1: not set by this rule */
    int method;                /* qb_method (a PTQ calibrator), or -1: not set by this rule */
    int line;                  /* its line in the file */
} qb_plan_rule;

/* A parsed plan file. */
typedef struct qb_layer_plan {
    char file[512];            /* the file (messages) */
    char name[64];             /* [plan] name, default: the file name without its extension */
    uint64_t hash;             /* FNV-1a 64 of the file's bytes (the results' plan_hash) */
    int prec;                  /* [plan] precision: layers no rule sets (-1: the command's -p) */
    int method;                /* [plan] method: their calibrator (-1: the command's --method) */
    int prec_line, method_line; /* lines of those keys (0: absent) */
    int nrules;                /* rules in file order */
    qb_plan_rule *rules;       /* the rules (owned) */
} qb_layer_plan;

/* Parse a plan file. 0, or -1 with "FILE:LINE: message" in e (unknown
 * section or key, unknown precision or calibrator, qat or mixed in a
 * rule, a calibrator on a float precision, duplicates, bad lines). */
int qb_layer_plan_load(const char *path, qb_layer_plan *p, qb_err *e);
/* The same from text (tests); name stands for the file in messages. */
int qb_layer_plan_load_string(const char *text, const char *name, qb_layer_plan *p, qb_err *e);
void qb_layer_plan_free(qb_layer_plan *p);

/* What a plan gives each layer. */
typedef struct qb_plan_choice {
    int prec;        /* qb_precision */
    int method;      /* qb_method: a PTQ calibrator for integer precisions, QB_METHOD_NONE for float */
    int pinned;      /* a rule set the precision (the mixed search leaves the layer alone) */
    int rule_line;   /* line of the rule that set the precision (0: the default) */
} qb_plan_choice;

/* Resolve p for the n layers (names, ops, depthwise): each layer's
 * precision and calibrator from the most specific rule that sets it
 * ([layers] > the first matching [patterns] > [ops], DepthwiseConv >
 * Conv), else dflt_prec / dflt_method (binary: the ends int8-channel
 * when o says so); an integer precision without a calibrator takes
 * ptq-percentile. model names the model in messages. 0, or -1 with
 * "FILE:LINE: ..." in e: a [layers] name that is no layer, a pattern
 * that matches none. */
int qb_layer_plan_resolve(const qb_layer_plan *p, const qb_layer_info *layers, int n, const char *model,
                          qb_precision dflt_prec, int dflt_method, const qb_quant_opts *o, qb_plan_choice *out,
                          qb_err *e);

/* Write a plan that reproduces prec[] (and method[], NULL: method for
 * all) for the layers: [plan] name, precision = dflt, method; then every
 * layer under [layers], with comment[i] (NULL or "") after it (every
 * layer, not only those that differ from dflt: what a layer without a
 * rule gets is not always dflt, binary's ends are int8-channel). header: comment lines at the
 * top (may hold newlines). Names that cannot be INI keys (holding
 * = ; # [ ] \ * ? or a control character, or white space at an end) are
 * written under [patterns] with ? for those characters; a key is written
 * once (layers that share a name, or names that give one pattern, take
 * the first one's rule). 0, or -1 on a write error. */
int qb_layer_plan_write(FILE *f, const char *name, const char *header, const qb_layer_info *layers, int n,
                        const qb_precision *prec, const int *method, qb_precision dflt, int dflt_method,
                        const char *const *comment);

#endif
