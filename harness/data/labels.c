/*
 * labels.c - the optional label file of a data folder: labels.txt or
 * labels.csv, one "FILE CLASS" or "FILE,CLASS" per line (blank lines and
 * '#' comments skipped, a "file,label" header allowed), CLASS a class
 * index or a name listed in classes.txt (one name per line, index =
 * line). See inputs.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/inputs.h"

void qb_classes_free(qb_classes *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->names[i]);
    free(c->names);
    memset(c, 0, sizeof *c);
}

/* Strip leading and trailing white space in place. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

int qb_classes_load(const char *path, qb_classes *c, qb_err *e)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0; /* no classes.txt: indices only */
    char line[1024];
    int cap = 0, ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *s = trim(line);
        if (!*s) {
            qb_errf(e, "%s: line %d: empty class name", path, ln);
            goto fail;
        }
        for (int i = 0; i < c->n; i++)
            if (!strcmp(c->names[i], s)) {
                qb_errf(e, "%s: line %d: class '%s' listed twice", path, ln, s);
                goto fail;
            }
        if (c->n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(c->names, (size_t)cap * sizeof *nn);
            if (!nn)
                goto oom;
            c->names = nn;
        }
        if (!(c->names[c->n] = strdup(s)))
            goto oom;
        c->n++;
    }
    fclose(f);
    return 0;
oom:
    qb_errf(e, "%s: out of memory", path);
fail:
    fclose(f);
    qb_classes_free(c);
    return -1;
}

int qb_labels_load(const char *path, const char *const *files, int nfiles, const qb_classes *cls, int nclasses,
                   int32_t *label, qb_err *e)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        qb_errf(e, "%s: cannot open", path);
        return -1;
    }
    for (int i = 0; i < nfiles; i++)
        label[i] = -1;
    char line[4096];
    int ln = 0, rc = -1;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *sep = strchr(s, ',');
        if (!sep)
            sep = strpbrk(s, " \t");
        if (!sep) {
            qb_errf(e, "%s: line %d: want FILE,CLASS or FILE CLASS", path, ln);
            goto out;
        }
        *sep = 0;
        char *file = trim(s), *klass = trim(sep + 1);
        if (ln == 1 && (!strcmp(file, "file") || !strcmp(file, "filename")))
            continue; /* a CSV header */
        int fi = -1;
        for (int i = 0; i < nfiles && fi < 0; i++)
            if (!strcmp(files[i], file))
                fi = i;
        if (fi < 0) {
            qb_errf(e, "%s: line %d: file '%s' is not an input file of the folder", path, ln, file);
            goto out;
        }
        if (label[fi] >= 0) {
            qb_errf(e, "%s: line %d: file '%s' labelled twice", path, ln, file);
            goto out;
        }
        long k = -1;
        for (int i = 0; cls && i < cls->n && k < 0; i++)
            if (!strcmp(cls->names[i], klass))
                k = i;
        if (k < 0) {
            char *end;
            long v = strtol(klass, &end, 10);
            if (*klass && !*end && v >= 0)
                k = v;
        }
        int limit = cls && cls->n ? cls->n : nclasses;
        if (k < 0 || (limit > 0 && k >= limit)) {
            if (cls && cls->n)
                qb_errf(e, "%s: line %d: class '%s' of file '%s' is not one of the %d classes of classes.txt", path,
                        ln, klass, file, cls->n);
            else if (limit > 0)
                qb_errf(e, "%s: line %d: class '%s' of file '%s' is not a class index 0..%d of the model's output",
                        path, ln, klass, file, limit - 1);
            else
                qb_errf(e, "%s: line %d: class '%s' of file '%s' is not a class index (or list names in classes.txt)",
                        path, ln, klass, file);
            goto out;
        }
        label[fi] = (int32_t)k;
    }
    for (int i = 0; i < nfiles; i++)
        if (label[i] < 0) {
            qb_errf(e, "%s: no label for input file '%s'", path, files[i]);
            goto out;
        }
    rc = 0;
out:
    fclose(f);
    return rc;
}
