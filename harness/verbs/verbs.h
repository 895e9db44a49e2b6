/*
 * verbs.h - the entry point of each qbench verb; argv[0] is the verb name.
 * Each returns the process exit code (0 ok, 1 failed check, 2 usage or
 * input error, 3 performance regression).
 */
#ifndef QB_VERBS_H
#define QB_VERBS_H

int qb_verb_info(int argc, char **argv);
int qb_verb_kernels(int argc, char **argv);
int qb_verb_gemm(int argc, char **argv);
int qb_verb_dwconv(int argc, char **argv);
int qb_verb_inspect(int argc, char **argv);
int qb_verb_run(int argc, char **argv);
int qb_verb_train(int argc, char **argv);
int qb_verb_eval(int argc, char **argv);
int qb_verb_sweep(int argc, char **argv); /* sweep.c */
int qb_verb_merge(int argc, char **argv); /* merge.c */
int qb_verb_table(int argc, char **argv); /* table.c */
int qb_verb_quantize(int argc, char **argv); /* quantize.c (qdq) */
int qb_verb_plot(int argc, char **argv); /* plot.c */
int qb_verb_report(int argc, char **argv); /* report.c */
int qb_verb_compare(int argc, char **argv); /* compare.c */
int qb_verb_advise(int argc, char **argv); /* advise.c */
int qb_verb_history(int argc, char **argv); /* history.c */

#endif
