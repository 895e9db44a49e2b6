/*
 * advise.c - `qbench advise RESULTS.csv [more.csv ...] [--budget 1.0]
 * [--profile LABEL=F]`: the advice of harness/report/advise.c as Markdown
 * on stdout.
 */
#include <stdio.h>

#include "harness/report/advise.h"
#include "harness/verbs/report_args.h"
#include "harness/verbs/usage.h"
#include "harness/verbs/verbs.h"

int qb_verb_advise(int argc, char **argv)
{
    qb_report_args a;
    int rc = qb_report_args_parse("advise", argc, argv, QB_RA_BUDGET | QB_RA_PROFILE, &a);
    if (rc)
        return rc;
    if (!a.nfiles)
        return qb_usage_error("advise", "missing RESULTS.csv");
    qb_report_inputs in;
    if ((rc = qb_report_inputs_load("advise", &a, &in)))
        return rc;
    qb_advise_print(stdout, &in.results, in.profiles, a.nprofiles, a.budget, 0);
    qb_report_inputs_free(&in);
    return 0;
}
