/*
 * table.c - `qbench table RESULTS.csv [--format md|csv|latex|html]`:
 * the summary table of a results CSV on stdout (harness/report/table.c).
 * A bad file: one message naming file and line, exit code 2.
 */
#include <stdio.h>
#include <string.h>

#include "harness/report/table.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

/* A usage error: the message, then the synopsis from the verb table. */
static int usage(const char *msg, const char *arg)
{
    return qb_usage_error("table", msg, arg);
}

int qb_verb_table(int argc, char **argv)
{
    const char *path = NULL;
    int fmt = QB_TABLE_MD;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--format")) {
            if (i + 1 >= argc)
                return usage("missing value after %s", argv[i]);
            if ((fmt = qb_table_format_parse(argv[++i])) < 0)
                return usage("unknown format '%s'", argv[i]);
        } else if (argv[i][0] == '-') {
            return usage("unknown option %s", argv[i]);
        } else if (path) {
            return usage("more than one file: %s", argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return usage("missing RESULTS.csv%s", "");
    char err[1024];
    if (qb_table_print(stdout, path, (qb_table_format)fmt, err, sizeof err)) {
        fprintf(stderr, "qbench table: %s\n", err);
        return 2;
    }
    return 0;
}
