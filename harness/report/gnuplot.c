/*
 * gnuplot.c - data files, scripts and the gnuplot child process of the
 * charts (see gnuplot.h). Every chart: black outlines and fill patterns
 * or point shapes (not colour alone), so it reads in grayscale.
 */
#include "harness/report/gnuplot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

static const char *program(void)
{
    const char *p = getenv("QB_GNUPLOT");
    return p && p[0] ? p : "gnuplot";
}

/* Run the program with args in dir (NULL: here), stdout/stderr to log
 * (NULL: /dev/null). Exit status, or -1 when it could not start (127). */
static int run_child(const char *dir, const char *arg, const char *log)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (dir && chdir(dir))
            _exit(126);
        int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execlp(program(), program(), arg, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int qb_gnuplot_check(char *err, size_t errlen)
{
    int rc = run_child(NULL, "--version", NULL);
    if (rc) {
        snprintf(err, errlen,
                 "gnuplot is not installed or does not run ('%s --version' %s): install Debian's gnuplot-nox "
                 "(scripts/install-deps)",
                 program(), rc == 127 ? "not found" : "failed");
        return -1;
    }
    return 0;
}

void qb_plot_safe_name(const char *name, char *out, size_t len)
{
    size_t i = 0;
    for (; name[i] && i + 1 < len; i++) {
        char c = name[i];
        out[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                         c == '_'
                     ? c
                     : '_';
    }
    out[i] = 0;
}

void qb_plot_quote(const char *s, char *out, size_t len)
{
    size_t i = 0;
    for (; *s && i + 1 < len; s++)
        out[i++] = *s == '"' || *s == '\\' ? '\'' : *s;
    out[i] = 0;
}

void qb_bars_init(qb_bars *b)
{
    memset(b, 0, sizeof *b);
    for (int c = 0; c < QB_BARS_MAXCAT; c++)
        for (int s = 0; s < QB_BARS_MAXSER; s++)
            b->v[c][s] = b->lo[c][s] = b->hi[c][s] = NAN;
}

int qb_bars_cat(qb_bars *b, const char *label)
{
    for (int i = 0; i < b->ncat; i++)
        if (!strcmp(b->cat[i], label))
            return i;
    if (b->ncat == QB_BARS_MAXCAT)
        return -1;
    snprintf(b->cat[b->ncat], sizeof b->cat[0], "%s", label);
    return b->ncat++;
}

int qb_bars_ser(qb_bars *b, const char *label)
{
    for (int i = 0; i < b->nser; i++)
        if (!strcmp(b->ser[i], label))
            return i;
    if (b->nser == QB_BARS_MAXSER)
        return -1;
    snprintf(b->ser[b->nser], sizeof b->ser[0], "%s", label);
    return b->nser++;
}

FILE *qb_plot_open(const char *dir, const char *name, char *err, size_t errlen)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    return f;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

int qb_plot_script(const char *dir, const char *name, const char *body, char *err, size_t errlen)
{
    char gp[300];
    snprintf(gp, sizeof gp, "%s.gp", name);
    FILE *f = qb_plot_open(dir, gp, err, errlen);
    if (!f)
        return -1;
    fprintf(f,
            "# %s.gp - written by qbench (harness/report/); rerun in this directory: gnuplot %s.gp\n"
            "# writes %s.png and %s.svg; data in %s*.dat\n"
            "do for [fmt in \"png svg\"] {\n"
            "reset\n"
            "if (fmt eq \"png\") {\n"
            "  set terminal pngcairo size 1000,600 font \"DejaVu Sans,10\" noenhanced\n"
            "} else {\n"
            "  set terminal svg size 1000,600 font \"DejaVu Sans,10\" noenhanced\n"
            "}\n"
            "set output \"%s.\".fmt\n"
            "%s\n"
            "unset output\n"
            "}\n",
            name, name, name, name, name, name, body);
    if (fclose(f)) {
        snprintf(err, errlen, "%s/%s: cannot write", dir, gp);
        return -1;
    }
    char log[1024];
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    /* the child chdirs into dir: the log path must not be relative to here */
    char abslog[2048];
    if (log[0] != '/') {
        char cwd[1000];
        if (!getcwd(cwd, sizeof cwd))
            cwd[0] = 0;
        snprintf(abslog, sizeof abslog, "%s/%s", cwd, log);
    } else {
        snprintf(abslog, sizeof abslog, "%s", log);
    }
    int rc = run_child(dir, gp, abslog);
    if (rc) {
        char line[300] = "", buf[300];
        FILE *l = fopen(log, "r");
        while (l && fgets(buf, sizeof buf, l))
            if (buf[0] != '\n')
                snprintf(line, sizeof line, "%s", buf);
        if (l)
            fclose(l);
        line[strcspn(line, "\n")] = 0;
        snprintf(err, errlen, "%s/%s: gnuplot %s (%s; see %s)", dir, gp,
                 rc == 127 ? "not found" : "failed", line[0] ? line : "no message", log);
        return -1;
    }
    for (int k = 0; k < 2; k++) {
        char img[1024];
        snprintf(img, sizeof img, "%s/%s.%s", dir, name, k ? "svg" : "png");
        if (file_size(img) <= 0) {
            snprintf(err, errlen, "%s: gnuplot wrote no image (see %s)", img, log);
            return -1;
        }
    }
    unlink(log);
    return 0;
}

/* Fill patterns that differ in grayscale: solid gray levels, then hatches. */
static const char *const bar_styles[] = {
    "fs solid 0.15 border lc rgb 'black'", "fs solid 0.85 border lc rgb 'black'", "fs pattern 2 border lc rgb 'black'",
    "fs solid 0.45 border lc rgb 'black'", "fs pattern 4 border lc rgb 'black'", "fs pattern 5 border lc rgb 'black'",
    "fs pattern 1 border lc rgb 'black'",  "fs solid 0.65 border lc rgb 'black'", "fs pattern 6 border lc rgb 'black'",
    "fs pattern 7 border lc rgb 'black'",  "fs empty border lc rgb 'black'",      "fs pattern 3 border lc rgb 'black'",
};

int qb_plot_bars(const char *dir, const char *name, const char *title, const char *ylabel, const qb_bars *b, int logy,
                 const char *key_note, char *err, size_t errlen)
{
    char dat[300];
    snprintf(dat, sizeof dat, "%s.dat", name);
    FILE *f = qb_plot_open(dir, dat, err, errlen);
    if (!f)
        return -1;
    int whiskers = 0;
    for (int c = 0; c < b->ncat; c++)
        for (int s = 0; s < b->nser; s++)
            whiskers |= !isnan(b->lo[c][s]) && !isnan(b->hi[c][s]);
    if (b->stacked)
        whiskers = 0;
    fprintf(f, "# %s\n# columns: category", title);
    for (int s = 0; s < b->nser; s++)
        fprintf(f, whiskers ? " \"%s\" low high" : " \"%s\"", b->ser[s]);
    fprintf(f, "\n");
    for (int c = 0; c < b->ncat; c++) {
        char q[120];
        qb_plot_quote(b->cat[c], q, sizeof q);
        fprintf(f, "\"%s\"", q);
        for (int s = 0; s < b->nser; s++) {
            double v = b->v[c][s];
            if (isnan(v)) {
                fprintf(f, whiskers ? " NaN NaN NaN" : " NaN");
                continue;
            }
            fprintf(f, " %.6g", v);
            if (whiskers) {
                double lo = b->lo[c][s], hi = b->hi[c][s];
                fprintf(f, " %.6g %.6g", isnan(lo) ? v : lo, isnan(hi) ? v : hi);
            }
        }
        fprintf(f, "\n");
    }
    if (fclose(f)) {
        snprintf(err, errlen, "%s/%s: cannot write", dir, dat);
        return -1;
    }
    char body[16384], q[720], y[200];
    qb_plot_quote(title, q, sizeof q);
    if (key_note && key_note[0]) { /* the note as the title's second line (a label beside it overlapped a long title) */
        char kn[300];
        qb_plot_quote(key_note, kn, sizeof kn);
        snprintf(q + strlen(q), sizeof q - strlen(q), "\\n%s", kn);
    }
    qb_plot_quote(ylabel, y, sizeof y);
    int n = snprintf(body, sizeof body,
                     "set title \"%s\"\nset ylabel \"%s\"\nset grid ytics lc rgb '#bbbbbb'\n"
                     "set key outside right top box opaque\nset xtics rotate by -30 nomirror\nset border 3\n"
                     "set style data histograms\nset style histogram %s\nset boxwidth 0.9 relative\n"
                     "set datafile missing 'NaN'\nset yrange [%s:*]\n%s%s",
                     q, y, b->stacked ? "rowstacked" : whiskers ? "errorbars gap 1 lw 1" : "clustered gap 1",
                     logy ? "*" : "0", logy ? "set logscale y\n" : "", "set errorbars lc rgb 'black'\n");
    n += snprintf(body + n, sizeof body - (size_t)n, "plot ");
    for (int s = 0; s < b->nser && n < (int)sizeof body - 400; s++) {
        char sq[120];
        qb_plot_quote(b->ser[s], sq, sizeof sq);
        if (whiskers)
            n += snprintf(body + n, sizeof body - (size_t)n,
                          "%s'%s' using %d:%d:%d%s title \"%s\" %s lc rgb 'black'", s ? ", \\\n     " : "", dat,
                          2 + 3 * s, 3 + 3 * s, 4 + 3 * s, s ? "" : ":xtic(1)", sq,
                          bar_styles[s % (int)(sizeof bar_styles / sizeof *bar_styles)]);
        else
            n += snprintf(body + n, sizeof body - (size_t)n, "%s'%s' using %d%s title \"%s\" %s lc rgb 'black'",
                          s ? ", \\\n     " : "", dat, 2 + s, s ? "" : ":xtic(1)", sq,
                          bar_styles[s % (int)(sizeof bar_styles / sizeof *bar_styles)]);
    }
    return qb_plot_script(dir, name, body, err, errlen);
}
