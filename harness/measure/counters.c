/*
 * counters.c - PAPI counters and the cachegrind fallback (counters.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <papi.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/measure/counters.h"

void qb_counters_init(qb_counters *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->source, sizeof c->source, "none");
    c->cycles = c->instructions = c->l1d_misses = c->l2_misses = c->llc_misses = c->data_refs = NAN;
}

/* ---- PAPI ---- */

/* The counters we want: a preset, then native perf events to try when
 * the preset is absent. */
static const struct wanted {
    const char *label;      /* column */
    const char *names[4];   /* PAPI preset, then native alternatives */
} wanted[] = {
    {"cycles", {"PAPI_TOT_CYC", "perf::CYCLES", "perf::CPU-CYCLES", NULL}},
    {"instructions", {"PAPI_TOT_INS", "perf::INSTRUCTIONS", NULL}},
    {"l1d_misses", {"PAPI_L1_DCM", "perf::L1-DCACHE-LOAD-MISSES", NULL}},
    {"l2_misses", {"PAPI_L2_DCM", "PAPI_L2_TCM", NULL}},
    {"llc_misses", {"PAPI_L3_TCM", "perf::LLC-LOAD-MISSES", "perf::CACHE-MISSES", NULL}},
};
#define NWANTED (int)(sizeof wanted / sizeof wanted[0])

static int papi_ready(char *why, size_t len)
{
    static int state; /* 0 untried, 1 ok, -1 failed */
    static char reason[200];
    if (!state) {
        int r = PAPI_library_init(PAPI_VER_CURRENT);
        if (r != PAPI_VER_CURRENT) {
            snprintf(reason, sizeof reason, "PAPI_library_init failed: %s", r > 0 ? "version mismatch" : PAPI_strerror(r));
            state = -1;
        } else {
            const PAPI_component_info_t *c = PAPI_get_component_info(0);
            if (!c || c->disabled) {
                snprintf(reason, sizeof reason, "PAPI's perf_event component is disabled: %.150s",
                         c ? c->disabled_reason : "no component");
                state = -1;
            } else {
                state = 1;
            }
        }
    }
    if (state < 0)
        snprintf(why, len, "%s", reason);
    return state > 0;
}

/* Build an event set with whatever can be added; codes[i] = -1 where
 * counter i is absent. Returns the number added; the reasons in why. */
static int papi_eventset(int *es, int *slot, char *why, size_t len)
{
    *es = PAPI_NULL;
    int r = PAPI_create_eventset(es);
    if (r != PAPI_OK) {
        snprintf(why, len, "PAPI_create_eventset: %s", PAPI_strerror(r));
        return 0;
    }
    int added = 0;
    why[0] = 0;
    for (int i = 0; i < NWANTED; i++) {
        slot[i] = -1;
        int last = PAPI_ENOEVNT;
        for (int j = 0; wanted[i].names[j] && slot[i] < 0; j++) {
            int code;
            last = PAPI_event_name_to_code((char *)wanted[i].names[j], &code);
            if (last == PAPI_OK && (last = PAPI_add_event(*es, code)) == PAPI_OK)
                slot[i] = added++;
        }
        if (slot[i] < 0) {
            size_t l = strlen(why);
            snprintf(why + l, len - l, "%s%s (%s)", l ? ", " : "PAPI_add_event failed for ", wanted[i].label,
                     PAPI_strerror(last));
        }
    }
    return added;
}

int qb_papi_probe(char *why, size_t len)
{
    if (!papi_ready(why, len))
        return 0;
    int es, slot[NWANTED];
    char reasons[600];
    int n = papi_eventset(&es, slot, reasons, sizeof reasons);
    PAPI_cleanup_eventset(es);
    PAPI_destroy_eventset(&es);
    if (slot[0] < 0 && slot[1] < 0) {
        snprintf(why, len, "PAPI cannot count cycles or instructions (no PMU exposed to this machine, e.g. a VM): "
                           "%.300s", reasons);
        return 0;
    }
    snprintf(why, len, "%d of %d counters", n, NWANTED);
    return 1;
}

int qb_papi_count(qb_measure_fn fn, void *ctx, long runs, qb_counters *out, char *why, size_t len)
{
    qb_counters_init(out);
    if (!papi_ready(why, len))
        return -1;
    int es, slot[NWANTED];
    char reasons[600];
    int n = papi_eventset(&es, slot, reasons, sizeof reasons);
    if (n == 0) {
        snprintf(why, len, "no PMU exposed to this machine (e.g. a VM): %.300s", reasons);
        PAPI_destroy_eventset(&es);
        return -1;
    }
    long long v[NWANTED] = {0};
    int r = PAPI_start(es);
    if (r != PAPI_OK) {
        snprintf(why, len, "PAPI_start: %s", PAPI_strerror(r));
        PAPI_cleanup_eventset(es);
        PAPI_destroy_eventset(&es);
        return -1;
    }
    int failed = 0;
    for (long i = 0; i < runs && !failed; i++)
        failed = fn(ctx, i);
    r = PAPI_stop(es, v);
    PAPI_cleanup_eventset(es);
    PAPI_destroy_eventset(&es);
    if (failed || r != PAPI_OK) {
        snprintf(why, len, failed ? "the inference failed while counting" : "PAPI_stop: %s", PAPI_strerror(r));
        return -1;
    }
    double *dst[NWANTED] = {&out->cycles, &out->instructions, &out->l1d_misses, &out->l2_misses, &out->llc_misses};
    for (int i = 0; i < NWANTED; i++)
        if (slot[i] >= 0)
            *dst[i] = (double)v[slot[i]] / (double)runs;
    snprintf(out->source, sizeof out->source, "papi");
    snprintf(out->note, sizeof out->note, "papi: mean over %ld inferences%s%.400s", runs, reasons[0] ? "; " : "",
             reasons);
    return 0;
}

/* ---- cachegrind ---- */

int qb_cachegrind_parse(const char *path, qb_cg_totals *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    static const char *const names[] = {"Ir", "I1mr", "ILmr", "Dr", "D1mr", "DLmr", "Dw", "D1mw", "DLmw"};
    double *dst[] = {&t->ir, &t->i1mr, &t->ilmr, &t->dr, &t->d1mr, &t->dlmr, &t->dw, &t->d1mw, &t->dlmw};
    int col[9]; /* column of each name in the events line, -1 if absent */
    int nev = 0, have_events = 0, have_summary = 0, lineno = 0, rc = -1;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (!strncmp(line, "events:", 7)) {
            if (have_events) {
                snprintf(err, errlen, "%s:%d: second events: line", path, lineno);
                goto out;
            }
            have_events = 1;
            for (int k = 0; k < 9; k++)
                col[k] = -1;
            char *save, *tok = strtok_r(line + 7, " \t", &save);
            for (; tok; tok = strtok_r(NULL, " \t", &save), nev++)
                for (int k = 0; k < 9; k++)
                    if (!strcmp(tok, names[k]))
                        col[k] = nev;
            if (col[0] < 0 || col[3] < 0 || col[4] < 0 || col[6] < 0 || col[7] < 0) {
                snprintf(err, errlen, "%s:%d: events lack Ir/Dr/D1mr/Dw/D1mw (was --cache-sim=yes given?)", path,
                         lineno);
                goto out;
            }
        } else if (!strncmp(line, "summary:", 8)) {
            if (!have_events) {
                snprintf(err, errlen, "%s:%d: summary: before events:", path, lineno);
                goto out;
            }
            char *p = line + 8;
            for (int i = 0; i < nev; i++) {
                char *end;
                errno = 0;
                double v = strtod(p, &end);
                if (end == p || errno || v < 0) {
                    snprintf(err, errlen, "%s:%d: summary has fewer than %d numbers", path, lineno, nev);
                    goto out;
                }
                for (int k = 0; k < 9; k++)
                    if (col[k] == i)
                        *dst[k] = v;
                p = end;
            }
            have_summary = 1;
        }
    }
    if (!have_summary) {
        snprintf(err, errlen, "%s:%d: no summary: line (cachegrind did not finish?)", path, lineno);
        goto out;
    }
    rc = 0;
out:
    free(line);
    fclose(f);
    return rc;
}

/* The last line of a log file mentioning one of the words, into buf. */
static int log_grep(const char *path, const char *const *words, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f))
        for (int i = 0; words[i]; i++)
            if (strstr(line, words[i])) {
                line[strcspn(line, "\n")] = 0;
                snprintf(buf, len, "%.250s", line);
                found = 1;
            }
    fclose(f);
    return found;
}

/* The cachegrind run in progress: its temporary directory and the two
 * files in it (empty when none), removed by SIGINT/SIGTERM/SIGHUP before
 * the process dies. Paths are made before the signal can arrive, so the
 * handler only calls unlink/rmdir (async-signal-safe). */
static char cg_paths[3][96]; /* directory, cachegrind output, log */

static void cg_on_signal(int sig)
{
    if (cg_paths[0][0]) {
        unlink(cg_paths[1]);
        unlink(cg_paths[2]);
        rmdir(cg_paths[0]);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Remove /tmp/qbench-cg-PID-* directories left by a process that no
 * longer runs (killed with -9: no handler runs then). */
static void cg_sweep_stale(void)
{
    DIR *d = opendir("/tmp");
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        int pid;
        char p[400];
        if (sscanf(de->d_name, "qbench-cg-%d-", &pid) != 1 || pid <= 0 || kill(pid, 0) == 0 || errno == EPERM)
            continue; /* not ours, or its process still runs */
        static const char *const files[] = {"cg.out", "log"};
        for (int i = 0; i < 2; i++) {
            snprintf(p, sizeof p, "/tmp/%.200s/%s", de->d_name, files[i]);
            unlink(p);
        }
        snprintf(p, sizeof p, "/tmp/%.200s", de->d_name);
        rmdir(p);
    }
    closedir(d);
}

int qb_cachegrind_run(char *const argv[], qb_cg_totals *t, char *why, size_t len)
{
    cg_sweep_stale();
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/qbench-cg-%d-XXXXXX", (int)getpid());
    if (!mkdtemp(dir)) {
        snprintf(why, len, "cachegrind: cannot make a temporary directory: %s", strerror(errno));
        return -1;
    }
    char out[96], log[96], outopt[128];
    snprintf(out, sizeof out, "%s/cg.out", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(outopt, sizeof outopt, "--cachegrind-out-file=%s", out);
    snprintf(cg_paths[1], sizeof cg_paths[1], "%s", out);
    snprintf(cg_paths[2], sizeof cg_paths[2], "%s", log);
    snprintf(cg_paths[0], sizeof cg_paths[0], "%s", dir);
    int n = 0;
    while (argv[n])
        n++;
    char **args = calloc((size_t)n + 5, sizeof *args);
    if (!args) {
        snprintf(why, len, "cachegrind: out of memory");
        rmdir(dir);
        return -1;
    }
    struct sigaction sa = {.sa_handler = cg_on_signal}, old[3];
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &sa, &old[i]);
    args[0] = "valgrind";
    args[1] = "--tool=cachegrind";
    args[2] = "--cache-sim=yes";
    args[3] = outopt;
    for (int i = 0; i < n; i++)
        args[4 + i] = argv[i];
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* the valgrind child dies with the sweep (kill -9 included) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp("valgrind", args);
        _exit(127);
    }
    free(args);
    int st = 0, rc = -1;
    if (pid < 0) {
        snprintf(why, len, "cachegrind: fork failed: %s", strerror(errno));
        goto out;
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    char line[300] = "";
    static const char *const sigill[] = {"unhandled instruction", "SIGILL", NULL};
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        snprintf(why, len, "cachegrind: cannot run valgrind (not installed? Debian package valgrind)");
    } else if (log_grep(log, sigill, line, sizeof line) || (WIFSIGNALED(st) && WTERMSIG(st) == SIGILL)) {
        snprintf(why, len, "cachegrind: valgrind cannot execute this code (SIGILL: valgrind has no AVX-512 support): %.200s",
                 line);
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        static const char *const any[] = {"qbench", "error", "Error", NULL};
        log_grep(log, any, line, sizeof line);
        if (WIFSIGNALED(st))
            snprintf(why, len, "cachegrind: the run was killed by signal %d: %.200s", WTERMSIG(st), line);
        else
            snprintf(why, len, "cachegrind: the run exited with %d: %.200s", WEXITSTATUS(st), line);
    } else {
        char err[400];
        if (qb_cachegrind_parse(out, t, err, sizeof err))
            snprintf(why, len, "cachegrind: %s", err);
        else
            rc = 0;
    }
out:
    unlink(out);
    unlink(log);
    rmdir(dir);
    cg_paths[0][0] = 0;
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &old[i], NULL);
    return rc;
}

void qb_cachegrind_counters(const qb_cg_totals *few, const qb_cg_totals *many, long extra, qb_counters *out)
{
    qb_counters_init(out);
    double e = (double)extra;
    /* differences can dip below zero by a few misses (cache state at
     * exit); clamp at 0 rather than report a negative count */
#define DIFF(f) ((many->f - few->f) > 0 ? (many->f - few->f) / e : 0.0)
    out->instructions = DIFF(ir);
    out->l1d_misses = DIFF(d1mr) + DIFF(d1mw);
    out->llc_misses = DIFF(ilmr) + DIFF(dlmr) + DIFF(dlmw);
    out->data_refs = DIFF(dr) + DIFF(dw);
#undef DIFF
    snprintf(out->source, sizeof out->source, "cachegrind");
    snprintf(out->note, sizeof out->note,
             "cachegrind (simulated caches of this host's sizes; per inference = difference of two runs / %ld); "
             "instructions=Ir, l1d=D1mr+D1mw, llc=ILmr+DLmr+DLmw; no cycles or L2 (not simulated)",
             extra);
}
