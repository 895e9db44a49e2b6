/*
 * main.c - qbench's verb dispatch: `qbench <verb> [args]`, `qbench --help`,
 * `qbench VERB --help` (from the verb table, harness/verbs/usage.c) and
 * `qbench --version` (qb_version: the Makefile passes the version and git sha).
 */
#include <stdio.h>
#include <string.h>

#include "harness/io/atomic.h"
#include "harness/verbs/usage.h"

static int is_help(const char *a)
{
    return !strcmp(a, "-h") || !strcmp(a, "--help");
}

/* A verb's exit code, or 2 when what it printed did not reach standard
 * output (full disk, closed pipe): results a script reads must not be
 * silently lost. */
static int finish(int rc)
{
    char err[256];
    if (qb_stdout_check(err, sizeof err)) {
        fprintf(stderr, "qbench: %s\n", err);
        return 2;
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        qb_usage_all(stderr);
        return 2;
    }
    if (is_help(argv[1]) || !strcmp(argv[1], "help")) {
        const qb_verb_def *v = argc > 2 ? qb_verb_find(argv[2]) : NULL;
        if (v)
            qb_verb_usage(stdout, v);
        else
            qb_usage_all(stdout);
        return finish(0);
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("%s\n", qb_version());
        return finish(0);
    }
    const qb_verb_def *v = qb_verb_find(argv[1]);
    if (!v) {
        fprintf(stderr, "qbench: unknown verb '%s' (try qbench --help)\n", argv[1]);
        return 2;
    }
    /* every verb answers --help/-h with its full usage (the first such
     * argument before a `--`, so a value can still be "-h" after one) */
    for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
        if (is_help(argv[i])) {
            qb_verb_usage(stdout, v);
            return finish(0);
        }
    return finish(v->run(argc - 1, argv + 1));
}
