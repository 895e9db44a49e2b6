/*
 * plan_file.c - layer plans (plan_file.h): parse with inih, resolve
 * against a model's layers, write.
 *
 * Format (docs/quantization.md "Layer plans"; `;` or `#` starts a
 * comment line, ` ;` an inline comment):
 *
 *   [plan]
 *   name = cnn-first-fp32        ; default: the file name without extension
 *   precision = int4             ; layers no rule sets (default: the command's -p)
 *   method = ptq-mse             ; their calibrator (default: the command's --method)
 *
 *   [layers]                     ; exact layer names
 *   Conv_0 = fp32
 *   Gemm_5 = int8-channel ptq-minmax
 *
 *   [patterns]                   ; shell globs of layer names, first match in file order
 *   block*.conv? = int8-channel
 *
 *   [ops]                        ; Conv DepthwiseConv Gemm MatMul
 *   DepthwiseConv = ptq-mse
 *
 * A value is a precision, a PTQ calibrator, or both. Each of the two is
 * taken from the most specific rule that sets it: [layers], then the
 * first matching [patterns] rule, then [ops] (DepthwiseConv before
 * Conv), then [plan], then the command line.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <fnmatch.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/files.h"
#include "harness/io/readfile.h"
#include "harness/quant/plan_file.h"

#define COLON_STANDIN '\x1f' /* ':' in a key, hidden from inih (which splits at ':' too) */

static const char *const op_names[] = {"Conv", "DepthwiseConv", "Gemm", "MatMul"};

/* Parser state. */
typedef struct plan_parse {
    qb_layer_plan *p;       /* being filled */
    FILE *f;                /* the file */
    int line;               /* line being parsed */
    int at_line_start;      /* the next chunk read starts a line */
    int err_line;           /* line of the first error (0: none) */
    char err[600];          /* its message */
    char section[32];       /* current section ("" before the first) */
    int cap;                /* rules allocated */
    char seen_sections[4];  /* plan layers patterns ops: seen */
} plan_parse;

static void fail(plan_parse *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(plan_parse *st, const char *fmt, ...)
{
    if (st->err_line)
        return;
    st->err_line = st->line ? st->line : 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof st->err, fmt, ap);
    va_end(ap);
    for (unsigned char *c = (unsigned char *)st->err; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            *c = '?';
}

static const char *const sections[] = {"plan", "layers", "patterns", "ops"};

/* A "[...]" line: known section, not repeated. */
static void section_header(plan_parse *st, const char *line)
{
    const char *p = line + 1, *end = strchr(p, ']');
    if (!end)
        return; /* inih reports it */
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    int n = (int)(end - p);
    for (int i = 0; i < 4; i++)
        if ((int)strlen(sections[i]) == n && !strncmp(p, sections[i], (size_t)n)) {
            if (st->seen_sections[i])
                fail(st, "section [%s] given twice", sections[i]);
            st->seen_sections[i] = 1;
            return;
        }
    fail(st, "unknown section [%.*s] (plan, layers, patterns, ops)", n > 100 ? 100 : n, p);
}

/* inih's line source: counts lines, checks headers, hides ':' in keys. */
static char *reader(char *str, int num, void *stream)
{
    plan_parse *st = stream;
    if (!fgets(str, num, st->f))
        return NULL;
    if (st->at_line_start) {
        st->line++;
        char *p = str;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '[')
            section_header(st, p);
        else if (*p != ';' && *p != '#')
            for (char *c = p; *c && *c != '='; c++)
                if (*c == ':')
                    *c = COLON_STANDIN;
    }
    size_t len = strlen(str);
    st->at_line_start = len > 0 && str[len - 1] == '\n';
    return str;
}

/* "PRECISION", "CALIBRATOR" or both into *prec / *method (-1: not given). 0 or -1 (message set). */
static int parse_value(plan_parse *st, const char *where, const char *v, int *prec, int *method)
{
    *prec = *method = -1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    int words = 0;
    for (char *save = NULL, *w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
        words++;
        int p = qb_precision_parse(w), m = qb_method_parse(w);
        if (p >= 0) {
            if (p == QB_PREC_MIXED && strcmp(st->section, "plan")) {
                fail(st, "%s: 'mixed' is what the search chooses, not a layer's precision (give one of fp32 fp16 "
                         "int8-tensor int8-channel int4 binary)", where);
                return -1;
            }
            if (*prec >= 0) {
                fail(st, "%s: two precisions ('%s' and '%s')", where, qb_precision_name(*prec), w);
                return -1;
            }
            *prec = p;
        } else if (m >= 0) {
            if (qb_method_traits_of(m)->trains) {
                fail(st, "%s: '%s' fine-tunes the whole model: give --method %s on the command line, not in a plan",
                     where, w, w);
                return -1;
            }
            if (*method >= 0) {
                fail(st, "%s: two calibrators ('%s' and '%s')", where, qb_method_name(*method), w);
                return -1;
            }
            *method = m;
        } else {
            fail(st, "%s: '%s' is neither a precision (%s) nor a calibrator (%s)", where, w, qb_precision_list(),
                 qb_method_list());
            return -1;
        }
    }
    if (!words) {
        fail(st, "%s: empty value (want a precision, a calibrator, or both)", where);
        return -1;
    }
    if (*method == QB_METHOD_NONE && strcmp(st->section, "plan") && !(*prec >= 0 && qb_precision_is_float(*prec))) {
        fail(st, "%s: 'none' is the method of fp32 and fp16 only", where);
        return -1;
    }
    if (*prec >= 0 && *method > QB_METHOD_NONE && qb_precision_is_float(*prec)) {
        fail(st, "%s: %s runs without a calibrator, not %s", where, qb_precision_name(*prec), qb_method_name(*method));
        return -1;
    }
    return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    plan_parse *st = user;
    if (st->err_line)
        return 0;
    qb_layer_plan *p = st->p;
    char key[QB_LAYER_NAME * 2];
    snprintf(key, sizeof key, "%s", name);
    for (char *c = key; *c; c++)
        if (*c == COLON_STANDIN)
            *c = ':';
    snprintf(st->section, sizeof st->section, "%s", section);
    char where[QB_LAYER_NAME * 2 + 40];
    snprintf(where, sizeof where, "[%s] %s", section, key);
    if (!*section) {
        fail(st, "'%s' outside a section ([plan], [layers], [patterns] or [ops])", key);
    } else if (!strcmp(section, "plan")) {
        if (!strcmp(key, "name")) {
            if (!*value || strlen(value) >= sizeof p->name)
                fail(st, "[plan] name: empty or longer than %zu bytes", sizeof p->name - 1);
            else if (strcspn(value, ",\"\n;#") != strlen(value)) /* ; # start comments when written back */
                fail(st, "[plan] name: '%s' holds a comma, a quote or a comment character (; #)", value);
            else
                snprintf(p->name, sizeof p->name, "%s", value);
        } else if (!strcmp(key, "precision") || !strcmp(key, "method")) {
            int is_prec = key[0] == 'p', pr, me;
            if (p->prec_line && is_prec)
                fail(st, "[plan] precision given twice");
            else if (p->method_line && !is_prec)
                fail(st, "[plan] method given twice");
            else if (!parse_value(st, where, value, &pr, &me)) {
                if (is_prec && (pr < 0 || me >= 0))
                    fail(st, "[plan] precision: '%s' is not a precision (%s)", value, qb_precision_list());
                else if (!is_prec && (me < 0 || pr >= 0))
                    fail(st, "[plan] method: '%s' is not a calibrator (%s)", value, qb_method_list());
                else if (is_prec)
                    p->prec = pr, p->prec_line = st->line;
                else
                    p->method = me, p->method_line = st->line;
            }
        } else {
            fail(st, "[plan]: unknown key '%s' (name precision method)", key);
        }
    } else {
        qb_rule_kind kind = !strcmp(section, "layers") ? QB_RULE_LAYER : !strcmp(section, "patterns") ? QB_RULE_PATTERN
                                                                                                       : QB_RULE_OP;
        if (strlen(key) >= QB_LAYER_NAME) {
            fail(st, "%s: longer than %d bytes", where, QB_LAYER_NAME - 1);
            return 0;
        }
        if (kind == QB_RULE_OP) {
            int ok = 0;
            for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
                ok |= !strcmp(key, op_names[i]);
            if (!ok) {
                fail(st, "[ops]: unknown op type '%s' (Conv DepthwiseConv Gemm MatMul)", key);
                return 0;
            }
        }
        for (int i = 0; i < p->nrules; i++)
            if (p->rules[i].kind == kind && !strcmp(p->rules[i].key, key)) {
                fail(st, "%s given twice (first on line %d)", where, p->rules[i].line);
                return 0;
            }
        qb_plan_rule r = {.kind = kind, .line = st->line};
        memcpy(r.key, key, strlen(key) + 1); /* shorter than QB_LAYER_NAME: checked above */
        if (parse_value(st, where, value, &r.prec, &r.method))
            return 0;
        if (p->nrules == st->cap) {
            int cap = st->cap ? 2 * st->cap : 16;
            qb_plan_rule *nr = realloc(p->rules, (size_t)cap * sizeof *nr);
            if (!nr) {
                fail(st, "out of memory");
                return 0;
            }
            p->rules = nr, st->cap = cap;
        }
        p->rules[p->nrules++] = r;
    }
    return st->err_line ? 0 : 1;
}

void qb_layer_plan_free(qb_layer_plan *p)
{
    free(p->rules);
    memset(p, 0, sizeof *p);
    p->prec = p->method = -1;
}

static int parse(FILE *f, const char *name, qb_layer_plan *p, qb_err *e)
{
    memset(p, 0, sizeof *p);
    p->prec = p->method = -1;
    snprintf(p->file, sizeof p->file, "%s", name);
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    int bl = dot && dot > base ? (int)(dot - base) : (int)strlen(base);
    snprintf(p->name, sizeof p->name, "%.*s", bl < (int)sizeof p->name - 1 ? bl : (int)sizeof p->name - 1, base);
    for (char *c = p->name; *c; c++)
        if (*c == ',' || *c == '"' || (unsigned char)*c < 0x20)
            *c = '_';
    plan_parse st = {.p = p, .f = f, .at_line_start = 1};
    ini_use_stack = 0;
    ini_allow_realloc = 1;
    ini_max_line = 1024;
    ini_allow_multiline = 0;
    int r = ini_parse_stream(reader, &st, handler, &st);
    if (r > 0 && !st.err_line) {
        st.line = r;
        fail(&st, "cannot parse this line (want [section], KEY = VALUE, or a ; comment)");
    } else if (r < 0 && !st.err_line) {
        st.line = 0;
        fail(&st, "cannot read the file");
    }
    if (st.err_line) {
        qb_errf(e, "%s:%d: %s", name, st.err_line, st.err);
        qb_layer_plan_free(p);
        return -1;
    }
    return 0;
}

int qb_layer_plan_load(const char *path, qb_layer_plan *p, qb_err *e)
{
    char why[sizeof e->msg];
    FILE *f = qb_open_read(path, "the plan", why, sizeof why);
    if (!f) {
        qb_errf(e, "%s", why);
        memset(p, 0, sizeof *p);
        return -1;
    }
    int rc = parse(f, path, p, e);
    fclose(f);
    if (!rc)
        p->hash = qb_file_hash(path);
    return rc;
}

int qb_layer_plan_load_string(const char *text, const char *name, qb_layer_plan *p, qb_err *e)
{
    FILE *f = *text ? fmemopen((void *)text, strlen(text), "r") : fmemopen("\n", 1, "r");
    if (!f) {
        qb_errf(e, "%s: cannot read", name);
        return -1;
    }
    int rc = parse(f, name, p, e);
    fclose(f);
    if (!rc)
        p->hash = qb_fnv1a(QB_FNV_OFFSET, text, strlen(text));
    return rc;
}

/* Does rule r name layer l? */
static int rule_matches(const qb_plan_rule *r, const qb_layer_info *l)
{
    switch (r->kind) {
    case QB_RULE_LAYER:
        return !strcmp(r->key, l->name);
    case QB_RULE_PATTERN:
        return fnmatch(r->key, l->name, 0) == 0;
    default:
        return !strcmp(r->key, "DepthwiseConv") ? l->depthwise : !strcmp(r->key, l->op);
    }
}

/* Rank of a matching rule: lower is more specific. */
static int rule_rank(const qb_plan_rule *r)
{
    return r->kind == QB_RULE_OP ? (strcmp(r->key, "DepthwiseConv") ? 3 : 2) : (int)r->kind;
}

int qb_layer_plan_resolve(const qb_layer_plan *p, const qb_layer_info *layers, int n, const char *model,
                          qb_precision dflt_prec, int dflt_method, const qb_quant_opts *o, qb_plan_choice *out,
                          qb_err *e)
{
    for (int r = 0; r < p->nrules; r++) { /* every name and pattern names something */
        const qb_plan_rule *ru = &p->rules[r];
        if (ru->kind == QB_RULE_OP)
            continue;
        int hit = 0;
        for (int i = 0; i < n && !hit; i++)
            hit = rule_matches(ru, &layers[i]);
        if (!hit) {
            char list[400] = "";
            for (int i = 0; i < n && strlen(list) < 300; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? " " : "", layers[i].name);
            size_t used = strlen(list); /* a long name can fill the buffer: append within it */
            if (n && used >= 300)
                snprintf(list + used, sizeof list - used, " ...");
            qb_errf(e, "%s:%d: [%s] '%s' %s of %s (its %d quantizable layers: %s)", p->file, ru->line,
                    ru->kind == QB_RULE_LAYER ? "layers" : "patterns", ru->key,
                    ru->kind == QB_RULE_LAYER ? "is not a layer" : "matches no layer", model, n, list);
            return -1;
        }
    }
    qb_precision *uni = malloc(((size_t)n + 1) * sizeof *uni);
    if (!uni) {
        qb_errf(e, "out of memory");
        return -1;
    }
    qb_calibration c = {.n = n, .layers = (qb_layer_info *)layers};
    qb_plan_uniform(&c, dflt_prec, o, uni);
    for (int i = 0; i < n; i++) {
        qb_plan_choice *ch = &out[i];
        int prec_rank = 99, method_rank = 99;
        ch->prec = -1, ch->method = -1, ch->pinned = 0, ch->rule_line = 0;
        for (int r = 0; r < p->nrules; r++) {
            const qb_plan_rule *ru = &p->rules[r];
            if (!rule_matches(ru, &layers[i]))
                continue;
            int rank = rule_rank(ru); /* strictly more specific wins; equal rank: the first in file order */
            if (ru->prec >= 0 && rank < prec_rank)
                ch->prec = ru->prec, prec_rank = rank, ch->rule_line = ru->line, ch->pinned = 1;
            if (ru->method >= 0 && rank < method_rank)
                ch->method = ru->method, method_rank = rank;
        }
        if (ch->prec < 0)
            ch->prec = uni[i];
        if (ch->method < 0)
            ch->method = dflt_method;
        if (qb_precision_is_float(ch->prec) && ch->prec != QB_PREC_MIXED)
            ch->method = QB_METHOD_NONE;
        else if (ch->method < 0 || qb_method_traits_of(ch->method)->calib < 0)
            ch->method = QB_METHOD_PTQ_PERCENTILE; /* the default of the quantized precisions */
    }
    free(uni);
    return 0;
}

/* Can s be written as an INI key and read back unchanged? */
/* A character a [layers] key cannot hold as it is: INI or plan syntax,
 * a control character, or (at either end) white space inih would strip. */
static int key_unsafe_char(const char *s, size_t j, size_t n)
{
    unsigned char c = (unsigned char)s[j];
    return strchr("=;#[]\\*?", c) || c < 0x20 || c == 0x7f || ((j == 0 || j + 1 == n) && isspace(c));
}

static int key_safe(const char *s)
{
    size_t n = strlen(s);
    for (size_t j = 0; j < n; j++)
        if (key_unsafe_char(s, j, n))
            return 0;
    return n > 0;
}

static void write_value(FILE *f, qb_precision p, int m, const char *comment)
{
    fprintf(f, "%s", qb_precision_name(p));
    if (m > QB_METHOD_NONE && !qb_precision_is_float(p))
        fprintf(f, " %s", qb_method_name(m));
    if (comment && *comment)
        fprintf(f, "   ; %s", comment);
    fprintf(f, "\n");
}

/* The [patterns] key written for a name that cannot be a key: ? for
 * each character key_unsafe_char names. */
static void pattern_key(const char *name, char *k)
{
    snprintf(k, QB_LAYER_NAME, "%s", name);
    size_t kl = strlen(k);
    for (size_t j = 0; j < kl; j++)
        if (key_unsafe_char(name, j, kl))
            k[j] = '?';
}

/* Whether an earlier layer than i was written with this key in the same
 * section (pattern: [patterns], else [layers]): the parser refuses a key
 * given twice, so the writer keeps the first. */
static int written_before(const qb_layer_info *layers, int i, const char *key, int pattern)
{
    for (int j = 0; j < i; j++) {
        if (key_safe(layers[j].name) == pattern)
            continue;
        char k[QB_LAYER_NAME];
        if (pattern)
            pattern_key(layers[j].name, k);
        else
            snprintf(k, sizeof k, "%s", layers[j].name);
        if (!strcmp(k, key))
            return 1;
    }
    return 0;
}

int qb_layer_plan_write(FILE *f, const char *name, const char *header, const qb_layer_info *layers, int n,
                        const qb_precision *prec, const int *method, qb_precision dflt, int dflt_method,
                        const char *const *comment)
{
    if (header && *header) {
        const char *s = header;
        while (*s) {
            size_t l = strcspn(s, "\n");
            fprintf(f, "; %.*s\n", (int)l, s);
            s += l + (s[l] == '\n');
        }
    }
    fprintf(f, "[plan]\nname = %s\nprecision = %s\n", name, qb_precision_name(dflt));
    if (dflt_method > QB_METHOD_NONE)
        fprintf(f, "method = %s\n", qb_method_name(dflt_method));
    int unsafe = 0;
    fprintf(f, "\n[layers]\n");
    for (int i = 0; i < n; i++) {
        int m = method ? method[i] : dflt_method;
        if (!key_safe(layers[i].name)) {
            unsafe++;
            continue;
        }
        if (written_before(layers, i, layers[i].name, 0))
            continue; /* layers of one name: one rule (a second would be refused as given twice) */
        fprintf(f, "%s = ", layers[i].name);
        write_value(f, prec[i], m, comment ? comment[i] : NULL);
    }
    if (unsafe) {
        fprintf(f, "\n[patterns]   ; names that cannot be keys: ? stands for = ; # [ ] \\ * ?, control characters and edge spaces\n");
        for (int i = 0; i < n; i++) {
            int m = method ? method[i] : dflt_method;
            if (key_safe(layers[i].name))
                continue;
            char k[QB_LAYER_NAME];
            pattern_key(layers[i].name, k);
            if (written_before(layers, i, k, 1))
                continue; /* names that give one pattern: its first rule (a second would be refused) */
            fprintf(f, "%s = ", k);
            write_value(f, prec[i], m, comment ? comment[i] : NULL);
        }
    }
    return ferror(f) ? -1 : 0;
}
