/*
 * usage.h - the one table of qbench's verbs: name, entry point, synopsis,
 * summary and option details. `qbench --help` and `qbench VERB --help`
 * both print from it (so they cannot drift), and verbs print their
 * synopsis from it after a usage error.
 */
#ifndef QB_USAGE_H
#define QB_USAGE_H

#include <stdio.h>

typedef struct qb_verb_def {
    const char *name;                   /* the verb as typed */
    int (*run)(int argc, char **argv);  /* argv[0] is the verb */
    const char *synopsis;               /* arguments after the verb name */
    const char *summary;                /* one line: what it does */
    const char *details;                /* the options, one per line ("" when none) */
} qb_verb_def;

extern const qb_verb_def qb_verb_defs[]; /* every verb, in help order */
extern const int qb_nverbs;              /* their count */

/* The verb named name, or NULL. */
const qb_verb_def *qb_verb_find(const char *name);
/* Full usage of v (synopsis, summary, details) on f. */
void qb_verb_usage(FILE *f, const qb_verb_def *v);
/* The top-level help: every verb's synopsis and summary. */
void qb_usage_all(FILE *f);
/* "qbench VERSION (git SHA)" of this binary (both passed in at build time). */
const char *qb_version(void);
/* "usage: qbench VERB SYNOPSIS   (qbench VERB --help)" on stderr, the
 * synopsis from the table (after a message printed elsewhere); returns 2. */
int qb_usage_line(const char *verb);
/* "qbench VERB: message" and the usage line on stderr (printf-style
 * message); returns 2. Every verb's usage errors go through here. */
int qb_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
