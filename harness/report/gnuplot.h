/*
 * gnuplot.h - charts through gnuplot run as an external program (Debian
 * gnuplot-nox): each chart is a data file NAME.dat and a script NAME.gp
 * (kept beside the images, so a user can restyle and rerun it with
 * `gnuplot NAME.gp` in that directory) that writes NAME.png and NAME.svg.
 * The program is `gnuplot`, or $QB_GNUPLOT when set.
 */
#ifndef QB_GNUPLOT_H
#define QB_GNUPLOT_H

#include <stddef.h>
#include <stdio.h>

#define QB_BARS_MAXCAT 64 /* categories (clusters) of a bar chart */
#define QB_BARS_MAXSER 12 /* series (bars per cluster) */

/* A clustered bar chart: one cluster per category, one bar per series,
 * optional whiskers (NAN: none). */
typedef struct qb_bars {
    int ncat;                                    /* categories */
    int nser;                                    /* series */
    char cat[QB_BARS_MAXCAT][96];                /* category labels (x axis) */
    char ser[QB_BARS_MAXSER][96];                /* series labels (legend) */
    double v[QB_BARS_MAXCAT][QB_BARS_MAXSER];    /* bar heights (NAN: no bar) */
    double lo[QB_BARS_MAXCAT][QB_BARS_MAXSER];   /* whisker low (NAN: none) */
    double hi[QB_BARS_MAXCAT][QB_BARS_MAXSER];   /* whisker high */
    int stacked;                                 /* stack the series instead of clustering them */
} qb_bars;

/* 0 when the gnuplot program runs; else -1 with one message in err. */
int qb_gnuplot_check(char *err, size_t errlen);
/* A file name made of name with every character but [A-Za-z0-9._-] as '_'. */
void qb_plot_safe_name(const char *name, char *out, size_t len);
/* Empty bar chart. */
void qb_bars_init(qb_bars *b);
/* Index of category / series label, added when new; -1 when full. */
int qb_bars_cat(qb_bars *b, const char *label);
int qb_bars_ser(qb_bars *b, const char *label);
/* Write DIR/NAME.dat and DIR/NAME.gp for b and run gnuplot. title and
 * ylabel as shown; logy: logarithmic y axis; key_note: extra legend
 * line (e.g. what the whiskers are). 0, or -1 with err. */
int qb_plot_bars(const char *dir, const char *name, const char *title, const char *ylabel, const qb_bars *b, int logy,
                 const char *key_note, char *err, size_t errlen);
/* Write DIR/NAME.gp around body (gnuplot commands that plot; data files
 * already written by the caller) and run it: NAME.png and NAME.svg,
 * both checked non-empty. 0, or -1 with err. */
int qb_plot_script(const char *dir, const char *name, const char *body, char *err, size_t errlen);
/* Open DIR/NAME for writing (data files); NULL with err. */
FILE *qb_plot_open(const char *dir, const char *name, char *err, size_t errlen);
/* Text with the characters gnuplot strings cannot hold ('"', '\\') replaced. */
void qb_plot_quote(const char *s, char *out, size_t len);

#endif
