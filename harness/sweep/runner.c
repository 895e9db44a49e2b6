/*
 * runner.c - the sweep runner (runner.h): the plan of a scenario (shard,
 * --only, cells finished by --resume), the results file and its metadata
 * block, the checks before the first cell (precheck.c), each cell run and
 * its row appended with the identity columns, progress and the summary on
 * stderr, and for a failed cell the command that runs it again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness/data/files.h"
#include "harness/measure/blocks.h"
#include "harness/measure/energy.h"
#include "harness/measure/loop.h"
#include "harness/measure/placement.h"
#include "harness/measure/probe.h"
#include "harness/measure/samples.h"
#include "harness/measure/timer.h"
#include "harness/report/meta.h"
#include "harness/report/results.h"
#include "harness/report/status.h"
#include "harness/sweep/cell.h"
#include "harness/sweep/plan.h"
#include "harness/sweep/precheck.h"
#include "harness/sweep/rounds.h"
#include "harness/sweep/runner.h"

#define QB_SWEEP_WARMUP_BLOCK_S 0.01 /* the sweep's warm-up: blocks of fixed work this long ... */
#define QB_SWEEP_WARMUP_TOL 0.01     /* ... until two consecutive blocks' medians agree within this ... */
#define QB_SWEEP_WARMUP_MIN_S 0.2    /* ... after at least this long ... */
#define QB_SWEEP_WARMUP_MAX_S 1.0    /* ... or at most this long */
#define QB_ROUND_CHUNK 64 /* rounds > 1: cells timed round-robin together (rows are written after their last round; the journal keeps the rounds until then) */

static void fmt_time(double s, char *buf, size_t len)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}


static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int finished(char **ids, int n, const char *id)
{
    return n && bsearch(&id, ids, (size_t)n, sizeof *ids, cmp_str) != NULL;
}

/* The identity columns of a row: run, time, machine, build, scenario. */
static void identity(qb_result_row *row, const qb_machine *mach, const char *run_id, const char *scenario)
{
    snprintf(row->run_id, sizeof row->run_id, "%s", run_id);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(row->timestamp, sizeof row->timestamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(row->host, sizeof row->host, "%s", mach->host);
    snprintf(row->cpu, sizeof row->cpu, "%s", mach->cpu);
    snprintf(row->isa_flags, sizeof row->isa_flags, "%s", mach->isa_flags);
    snprintf(row->compiler, sizeof row->compiler, "%s", mach->compiler);
    snprintf(row->git_sha, sizeof row->git_sha, "%s", mach->git_sha);
    snprintf(row->scenario, sizeof row->scenario, "%s", scenario);
}

/* The progress line of a finished cell (every cell off a terminal or
 * with -v, failures always) and, for a failure, the command that runs it
 * again. */
static void report_cell(const qb_cell *c, const qb_result_row *row, const qb_status_traits *st, int verbosity, int tty,
                        int ndone, int todo, double elapsed, const char *file, const char *dir)
{
    if (verbosity && (!tty || verbosity > 1 || st->failure)) {
        char els[32], eta[32];
        fmt_time(elapsed, els, sizeof els);
        fmt_time(elapsed / ndone * (todo - ndone), eta, sizeof eta);
        char lat[48] = "";
        if (row->latency_ms_median == row->latency_ms_median)
            snprintf(lat, sizeof lat, " median %.4g ms", row->latency_ms_median);
        fprintf(stderr, "%s[%d/%d] %s %s%s (elapsed %s, ETA %s)%s%.160s\n", tty ? "\r\033[K" : "", ndone, todo, c->id,
                row->status, lat, els, eta, st->has_reason ? ": " : "", st->has_reason ? row->note : "");
    }
    if (verbosity && st->failure) {
        char re[600];
        qb_cell_only_regex(c->id, re, sizeof re);
        fprintf(stderr, "repro: qbench sweep %s --only '%s' -o %s --resume\n", file, re, dir);
    }
}

int qb_sweep_child(qb_scenario *sc, const char *cell_id, int runs)
{
    qb_plan plan;
    if (qb_plan_build(sc, &plan)) {
        fprintf(stderr, "qbench sweep: out of memory\n");
        return 2;
    }
    for (int i = 0; i < plan.n; i++)
        if (!strcmp(plan.cells[i].id, cell_id)) {
            int rc = qb_cell_child(&plan.cells[i], sc, runs);
            qb_plan_free(&plan);
            return rc;
        }
    fprintf(stderr, "qbench sweep: %s: no cell '%s' in the plan\n", sc->file, cell_id);
    qb_plan_free(&plan);
    return 2;
}

/* One sweep in progress: what the steps of qb_sweep_run share. */
typedef struct sweep_run {
    qb_scenario *sc;                       /* the scenario (loaded, options applied) */
    const qb_sweep_opts *o;                /* the options of `qbench sweep` */
    qb_plan plan;                          /* the cells (after --shard and --only) */
    int total_cells;                       /* cells of the whole plan (before --shard and --only) */
    int si, sn;                            /* shard I of N (1 of 1 without --shard) */
    char dir[1024], csv[1100], meta[1100]; /* the output folder, its results.csv and results.meta.txt */
    char **done;                           /* ids of the cells finished before (--resume), sorted */
    int ndone;                             /* how many */
    int todo;                              /* cells this run has to run */
    qb_results_writer w;                   /* the results file, open while cells run */
    qb_sample_log slog;                    /* --samples: DIR/samples.csv */
    qb_prober probe;                       /* --samples with rounds: the speed probe, DIR/probes.csv */
    const qb_machine *mach;                /* this machine (identity columns) */
    char run_id[96];                       /* this run's id (identity columns, metadata) */
    int tty;                               /* stderr is a terminal: the progress line is rewritten */
    int ndone_now;                         /* cells finished by this run */
    int counts[QB_STATUS_COUNT];           /* those cells by status */
    double t0;                             /* when the first cell started (qb_now) */
    int rc;                                /* the exit code so far */
    int stop;                              /* 1: an I/O or memory error, run no more cells */
    int rounds;                            /* rounds per cell (1: the cell's own timing only) */
    int chunk;                             /* cells timed round-robin together (1 without rounds) */
    int *todo_idx;                         /* plan indices of the cells to run, ntodo of them */
    int ntodo;                             /* how many */
    qb_result_row *rows;                   /* the chunk's rows (written after their last round) */
    qb_samples_kept *kept;                 /* the chunk's timed samples, every round */
    char *retimed_ok;                      /* per chunk cell, 0: a later round failed, no more rounds */
    size_t *target;                        /* per chunk cell: the rounds it gets in all, decided after its
                                              first `rounds` (qb_rounds_target; 0: not yet) */
    qb_rounds_journal jr;                  /* rounds > 1: each round on disk until the row is written */
    char err[1024];                        /* the message of the last failed call */
} sweep_run;

/* An error message of the sweep on stderr; returns 2. */
static int fail_msg(const char *prefix, const char *msg)
{
    fprintf(stderr, "%sqbench sweep: %s\n", prefix, msg);
    return 2;
}

/* The cells to run: the plan, its shard, --only, the output paths, the
 * checks before any cell, the cells finished before (--resume). 0, or 2
 * after a message. */
static int plan_cells(sweep_run *s)
{
    const qb_sweep_opts *o = s->o;
    int shard = o->shard_n > 0;
    if (qb_plan_build(s->sc, &s->plan))
        return fail_msg("", "out of memory");
    s->total_cells = s->plan.n;
    s->si = shard ? o->shard_i : 1;
    s->sn = shard ? o->shard_n : 1;
    if (shard)
        qb_plan_shard(&s->plan, s->si, s->sn);
    if (o->only && qb_plan_only(&s->plan, o->only, s->err, sizeof s->err))
        return fail_msg("", s->err);
    if (o->outdir)
        snprintf(s->dir, sizeof s->dir, "%s", o->outdir);
    else if (shard)
        snprintf(s->dir, sizeof s->dir, "reports/%s-shard-%d-of-%d", s->sc->name, s->si, s->sn);
    else
        snprintf(s->dir, sizeof s->dir, "reports/%s", s->sc->name);
    snprintf(s->csv, sizeof s->csv, "%s/results.csv", s->dir);
    snprintf(s->meta, sizeof s->meta, "%s/results.meta.txt", s->dir);
    /* what a run would refuse (missing or corrupt models, data, energy table, cache, output
     * directory) stops here, before anything runs, and so in --dry-run too */
    if (qb_sweep_precheck(s->sc, &s->plan, s->dir, s->err, sizeof s->err))
        return fail_msg("", s->err);
    if (o->resume) {
        if (qb_results_finished(s->csv, &s->done, &s->ndone, s->err, sizeof s->err))
            return fail_msg("", s->err);
        if (s->ndone) /* no finished cells: done is NULL, which qsort may not take */
            qsort(s->done, (size_t)s->ndone, sizeof *s->done, cmp_str);
    } else if (!o->dry_run && access(s->csv, F_OK) == 0) {
        fprintf(stderr, "qbench sweep: %s exists: add --resume to complete it (finished cells are skipped), or "
                        "choose another -o DIR\n", s->csv);
        return 2;
    }
    for (int i = 0; i < s->plan.n; i++)
        s->todo += !finished(s->done, s->ndone, s->plan.cells[i].id);
    return 0;
}

/* --dry-run: the ids of the cells to run on stdout, the counts on stderr. */
static void print_dry_run(const sweep_run *s)
{
    const qb_sweep_opts *o = s->o;
    for (int i = 0; i < s->plan.n; i++)
        if (!finished(s->done, s->ndone, s->plan.cells[i].id))
            printf("%s\n", s->plan.cells[i].id);
    fprintf(stderr, "qbench sweep: %s: %d cells to run (plan %d; %d combinations pruned by rule", s->sc->name, s->todo,
            s->total_cells, s->plan.pruned);
    if (o->shard_n > 0)
        fprintf(stderr, "; shard %d/%d", s->si, s->sn);
    if (o->only)
        fprintf(stderr, "; --only '%s'", o->only);
    if (o->resume)
        fprintf(stderr, "; %d finished in %s", s->plan.n - s->todo, s->csv);
    fprintf(stderr, ")\n");
}

/* The metadata block of this run (results.meta.txt): scenario, plan,
 * shard, measurement settings, the harness's own overhead. 0, or 2 after
 * a message. */
static int write_metadata(sweep_run *s)
{
    const qb_scenario *sc = s->sc;
    char extra[2048];
    double ov_sample, ov_iter, clk_res, clk_read;
    /* the machine warmed up first (a CPU coming out of idle, its clock
     * and caches), until 10 ms blocks of fixed work agree within 1% */
    qb_settle_result wu;
    qb_measure_settle(qb_spin_work, NULL, NULL, NULL, QB_SWEEP_WARMUP_BLOCK_S, QB_SWEEP_WARMUP_TOL,
                      QB_SWEEP_WARMUP_MIN_S, QB_SWEEP_WARMUP_MAX_S, &wu);
    qb_measure_overhead(200000, &ov_sample, &ov_iter);
    qb_clock_calibrate(NULL, NULL, &clk_res, &clk_read);
    snprintf(extra, sizeof extra,
             "scenario: %s (%.300s)\nplan: %d cells, %d pruned; this run: %d cells (%d already finished)\n"
             "shard: %d/%d\nonly: %.200s\ncache: %s\npin: %d\nenergy_model: %.300s\n"
             "harness_overhead_ns: %.1f per timed sample (clock + call), %.1f per iteration in all\n"
             "clock: resolution %.1f ns, one read %.1f ns (a sample lasts at least 10x the larger)\n"
             "warm-up: %.2f s of fixed work in %d blocks of %.0f ms, %s (last two blocks' medians %.2f%% apart)\n",
             sc->name, sc->file, s->total_cells, s->plan.pruned, s->todo, s->plan.n - s->todo, s->si, s->sn,
             s->o->only ? s->o->only : "(all)", sc->cache == QB_CACHE_HOT ? "hot" : "cold (rotating input buffers)",
             sc->pin, sc->energy_model, ov_sample * 1e9, ov_iter * 1e9, clk_res * 1e9, clk_read * 1e9, wu.spent_s,
             wu.blocks, QB_SWEEP_WARMUP_BLOCK_S * 1e3, wu.settled ? "settled" : "not settled at its time bound",
             wu.last_change * 100);
    if (qb_meta_append(s->meta, s->mach, s->run_id, s->o->cmdline, extra, s->err, sizeof s->err))
        return fail_msg("", s->err);
    return 0;
}

/* Before the first cell: the output folder, the results file (left open
 * in s->w), --pin, --samples' log, the machine and run id, the metadata.
 * 0, or 2 after a message (the results file then closed). */
static int open_outputs(sweep_run *s)
{
    static qb_machine mach;
    if (qb_mkdir_p(s->dir)) {
        fprintf(stderr, "qbench sweep: %.500s: cannot create directory: %s\n", s->dir, strerror(errno));
        return 2;
    }
    if (qb_results_open(s->csv, &s->w, s->err, sizeof s->err))
        return fail_msg("", s->err);
    int rc = 0;
    if (s->sc->pin >= 0 && qb_pin_cpu(s->sc->pin, s->err, sizeof s->err)) {
        fprintf(stderr, "qbench sweep: --pin: %s\n", s->err);
        rc = 2;
    }
    if (!rc && s->o->keep_samples) {
        char spath[1100];
        snprintf(spath, sizeof spath, "%s/samples.csv", s->dir);
        if (qb_sample_log_open(&s->slog, spath, s->err, sizeof s->err))
            rc = fail_msg("", s->err);
        snprintf(spath, sizeof spath, "%s/probes.csv", s->dir);
        if (!rc && s->sc->rounds > 1 && qb_prober_open(&s->probe, spath, s->err, sizeof s->err))
            rc = fail_msg("", s->err);
    }
    if (!rc) {
        qb_machine_probe(&mach);
        s->mach = &mach;
        qb_run_id(&mach, s->run_id, sizeof s->run_id);
        rc = write_metadata(s);
    }
    if (rc) {
        qb_results_close(&s->w);
        qb_prober_close(&s->probe, NULL, 0);
    }
    return rc;
}

/* The progress line before cell j of the chunk (on a terminal, with -v). */
static void print_progress(const sweep_run *s, int j, const qb_cell *c)
{
    double el = qb_now() - s->t0;
    char els[32], eta[32];
    fmt_time(el, els, sizeof els);
    if (s->ndone_now)
        fmt_time(el / s->ndone_now * (s->todo - s->ndone_now), eta, sizeof eta);
    else
        snprintf(eta, sizeof eta, "?");
    if (s->o->verbosity && s->tty)
        fprintf(stderr, "\r\033[K[%d/%d] %s elapsed, ETA %s  %s%s", s->ndone_now + j + 1, s->todo, els, eta, c->id,
                s->rounds > 1 ? " (round 1)" : "");
}

/* The CPUs the rounds of cell c start on in turn (placement.h): those of a
 * one-thread cell timed in rounds and not pinned, one per two rounds at
 * most; else 1 (no rotation). */
static int cell_cpus(const sweep_run *s, const qb_cell *c)
{
    return s->rounds > 1 && s->sc->pin < 0 && c->threads == 1 ? qb_place_cpus(s->rounds / 2) : 1;
}

/* Round `round` of cell c starts on its CPU in turn (moved, then free),
 * when its rounds rotate (cell_cpus). */
static void place_round(const sweep_run *s, const qb_cell *c, int round)
{
    int ncpu = cell_cpus(s, c);
    if (ncpu > 1)
        qb_place_on_cpu(round, ncpu, 0);
}

/* --samples with rounds: the machine's speed right before round `round`
 * of cell c, on the CPU it starts on, logged to DIR/probes.csv (probe.h;
 * it changes no result). */
static void probe_round(sweep_run *s, const qb_cell *c, int round)
{
    if (!s->probe.f)
        return;
    qb_probe pr;
    qb_probe_time(&s->probe, &pr);
    if (qb_probe_log(&s->probe, s->run_id, c->id, round, &pr, s->err, sizeof s->err)) {
        s->rc = fail_msg(s->tty ? "\n" : "", s->err);
        s->stop = 1;
    }
}

/* The first round of the chunk's cn cells starting at c0 (each cell run
 * in full: model, accuracy, timing), or their rounds restored from the
 * journal. Returns how many cells have rows (fewer after an error). */
static int first_rounds(sweep_run *s, int c0, int cn)
{
    int rounds = s->rounds;
    for (int j = 0; j < cn && !s->stop; j++) {
        const qb_cell *c = &s->plan.cells[s->todo_idx[c0 + j]];
        print_progress(s, j, c);
        qb_row_init(&s->rows[j]);
        s->kept[j] = (qb_samples_kept){0};
        s->retimed_ok[j] = 1;
        s->target[j] = 0;
        if (rounds > 1 && qb_rounds_take(&s->jr, c->id, &s->rows[j], &s->kept[j])) {
            qb_result_note(&s->rows[j], "rounds 1-%zu restored from the journal of an interrupted run",
                           s->kept[j].block_n ? s->kept[j].nblocks : (size_t)(s->kept[j].x != NULL));
            continue;
        }
        void *pad = rounds > 1 ? qb_place_begin() : NULL; /* each round placed elsewhere (placement.h) */
        place_round(s, c, 0);
        probe_round(s, c, 0);
        int ran = qb_cell_run(c, s->sc, &s->rows[j], s->o->keep_samples || rounds > 1 ? &s->kept[j] : NULL);
        qb_place_end(pad);
        if (ran) {
            fprintf(stderr, "%sqbench sweep: %s: out of memory, stopping\n", s->tty ? "\r\033[K" : "", c->id);
            s->rc = 2;
            s->stop = 1;
            cn = j;
        } else if (rounds > 1 && qb_rounds_first(&s->jr, c->id, &s->rows[j], &s->kept[j], s->err, sizeof s->err)) {
            s->rc = fail_msg(s->tty ? "\n" : "", s->err);
            s->stop = 1;
            cn = j;
        }
    }
    return cn;
}

/* Seconds inside the timed samples of a cell so far (every round). */
static double timed_seconds(const qb_samples_kept *k)
{
    double t = 0;
    for (size_t i = 0; i < k->n; i++)
        t += k->x[i];
    return t * (double)(k->calls_per_sample > 0 ? k->calls_per_sample : 1);
}

/* Round round+1 of cell j of the chunk (an ok cell with round rounds
 * done; from round `rounds` on only when the cell was noisy then: up to
 * the count qb_rounds_target decides from its first rounds, at least
 * `retries` more, beyond those while its time budget allows):
 * its samples added to the cell's, the round kept in the journal.
 * 1 when a round was timed (or tried), else 0. */
static int later_round(sweep_run *s, const qb_cell *c, int j, int round)
{
    qb_samples_kept *k = &s->kept[j];
    size_t done_rounds = k->block_n ? k->nblocks : k->x != NULL;
    if (!k->x || !s->retimed_ok[j] || strcmp(s->rows[j].status, qb_status_name(QB_STATUS_OK)) ||
        done_rounds != (size_t)round) /* (a restored cell has some rounds already) */
        return 0;
    size_t min_rounds = (size_t)(s->rounds + s->sc->retries);
    if (round >= s->rounds && !s->target[j]) { /* the count is decided once, from the first rounds */
        qb_robust rb;
        if (qb_robust_rounds(k->x, k->block_n, k->nblocks, (size_t)cell_cpus(s, c), &rb))
            return 0;
        s->target[j] = qb_rounds_target(&rb, s->sc->ci_threshold, min_rounds);
    }
    if (round >= s->rounds) {
        if (!qb_round_wanted(done_rounds, s->target[j], min_rounds, timed_seconds(k), s->sc->max_time_s))
            return 0;
    }
    if (s->o->verbosity && s->tty)
        fprintf(stderr, "\r\033[K[%d/%d] %s (round %d)", s->ndone_now + j + 1, s->todo, c->id, round + 1);
    qb_samples_kept more = {0};
    void *pad = qb_place_begin();
    place_round(s, c, round);
    probe_round(s, c, round);
    int timed = qb_cell_retime(c, s->sc, &more, s->err, sizeof s->err);
    qb_place_end(pad);
    if (timed) {
        qb_result_note(&s->rows[j], "round %d not timed: %.300s", round + 1, s->err);
        s->retimed_ok[j] = 0;
    } else if (k->inputs_hash && more.inputs_hash != k->inputs_hash) {
        qb_result_note(&s->rows[j], "round %d not used: it timed other inputs than round 1", round + 1);
        s->retimed_ok[j] = 0;
    } else if (qb_samples_kept_add(k, more.x, more.n)) {
        fprintf(stderr, "%sqbench sweep: %s: out of memory, stopping\n", s->tty ? "\r\033[K" : "", c->id);
        s->rc = 2;
        s->stop = 1;
    } else if (qb_rounds_more(&s->jr, c->id, k, s->err, sizeof s->err)) {
        s->rc = fail_msg(s->tty ? "\n" : "", s->err);
        s->stop = 1;
    }
    qb_samples_kept_free(&more);
    return 1;
}

/* Cell j's row: the latency over every round, the identity columns,
 * appended to the results (and its samples to --samples' log); then the
 * counts, the exit code and the progress line. */
static void write_row(sweep_run *s, const qb_cell *c, int j)
{
    qb_result_row *row = &s->rows[j];
    qb_samples_kept *k = &s->kept[j];
    qb_robust rb;
    if (s->rounds > 1 && k->x && !strcmp(row->status, qb_status_name(QB_STATUS_OK)) &&
        !qb_robust_rounds(k->x, k->block_n, k->nblocks, (size_t)cell_cpus(s, c), &rb)) {
        qb_cell_latency(&rb, k->calls_per_sample, rb.ci_rel > s->sc->ci_threshold, (int)rb.blocks, s->sc, k->batch,
                        row);
        if (cell_cpus(s, c) > 1)
            qb_result_note(row, "rounds on %d CPUs in turn", cell_cpus(s, c));
        if (rb.batch_rounds)
            qb_result_note(row, "between rounds from batches of %zu consecutive rounds too", rb.batch_rounds);
    }
    identity(row, s->mach, s->run_id, s->sc->name);
    int bad = !s->stop && (qb_results_write(&s->w, row, s->err, sizeof s->err) ||
                           (s->o->keep_samples && k->x &&
                            qb_sample_log_write(&s->slog, s->run_id, c->id, k, s->err, sizeof s->err)));
    qb_samples_kept_free(k);
    if (bad) {
        s->rc = fail_msg(s->tty ? "\n" : "", s->err);
        s->stop = 1;
    }
    if (s->stop)
        return;
    s->ndone_now++;
    int st_i = qb_status_parse(row->status);
    if (st_i < 0)
        st_i = QB_STATUS_FAILED;
    const qb_status_traits *st = qb_status_traits_of(st_i);
    s->counts[st_i]++;
    if (st->exit_code > s->rc)
        s->rc = st->exit_code;
    report_cell(c, row, st, s->o->verbosity, s->tty, s->ndone_now, s->todo, qb_now() - s->t0, s->sc->file, s->dir);
}

/* One chunk of cells (all of them round-robin when rounds > 1): first
 * rounds, later rounds, then their rows. */
static void run_chunk(sweep_run *s, int c0)
{
    int cn = first_rounds(s, c0, s->ntodo - c0 < s->chunk ? s->ntodo - c0 : s->chunk);
    /* later rounds; then extra rounds for the cells still noisy (round-robin
     * too, so they are spread over time as well): as many as their first
     * rounds say they need, at least `retries`, within max_time_ms */
    int more = 1;
    for (int round = 1; !s->stop && s->rounds > 1 && more && round < QB_MAX_ROUNDS; round++) {
        more = round < s->rounds;
        for (int j = 0; j < cn && !s->stop; j++)
            more |= later_round(s, &s->plan.cells[s->todo_idx[c0 + j]], j, round);
    }
    for (int j = 0; j < cn; j++)
        write_row(s, &s->plan.cells[s->todo_idx[c0 + j]], j);
    if (!s->stop && s->rounds > 1 && qb_rounds_clear(&s->jr, s->err, sizeof s->err)) { /* the rows are written */
        s->rc = fail_msg("", s->err);
        s->stop = 1;
    }
}

/* Every cell not finished yet, chunk by chunk (rounds > 1: the cells of a
 * chunk are timed round-robin, so each cell's rounds are spread over the
 * chunk's time; docs/measurement.md). Sets s->rc. */
static void run_cells(sweep_run *s)
{
    s->rounds = s->sc->rounds > 1 ? s->sc->rounds : 1;
    s->chunk = s->rounds > 1 ? QB_ROUND_CHUNK : 1;
    s->todo_idx = malloc((size_t)(s->todo ? s->todo : 1) * sizeof *s->todo_idx);
    s->rows = calloc((size_t)s->chunk, sizeof *s->rows);
    s->kept = calloc((size_t)s->chunk, sizeof *s->kept);
    s->retimed_ok = calloc((size_t)s->chunk, 1);
    s->target = calloc((size_t)s->chunk, sizeof *s->target);
    s->rc = 0;
    if (!s->todo_idx || !s->rows || !s->kept || !s->retimed_ok || !s->target)
        s->rc = fail_msg("", "out of memory");
    if (!s->rc && s->rounds > 1 && qb_rounds_open(&s->jr, s->dir, s->o->resume, s->err, sizeof s->err))
        s->rc = fail_msg("", s->err);
    for (int i = 0; !s->rc && i < s->plan.n; i++)
        if (!finished(s->done, s->ndone, s->plan.cells[i].id))
            s->todo_idx[s->ntodo++] = i;
    s->stop = s->rc != 0;
    for (int c0 = 0; !s->stop && c0 < s->ntodo; c0 += s->chunk)
        run_chunk(s, c0);
    if (s->rounds > 1 && s->todo_idx && s->rows && s->kept && s->retimed_ok && s->target)
        qb_rounds_close(&s->jr);
    free(s->todo_idx);
    free(s->rows);
    free(s->kept);
    free(s->retimed_ok);
    free(s->target);
}

/* After the last cell: the files closed, the summary on stderr (-v). */
static void finish(sweep_run *s)
{
    qb_results_close(&s->w);
    if (s->o->keep_samples && qb_sample_log_close(&s->slog, s->err, sizeof s->err))
        s->rc = fail_msg("", s->err);
    if (qb_prober_close(&s->probe, s->err, sizeof s->err))
        s->rc = fail_msg("", s->err);
    if (s->o->verbosity) {
        char els[32];
        fmt_time(qb_now() - s->t0, els, sizeof els);
        fprintf(stderr, "%sqbench sweep: %d cells in %s: %d ok, %d noisy, %d unsupported, %d failed\n"
                        "results: %s\nmetadata: %s\n",
                s->tty ? "\r\033[K" : "", s->ndone_now, els, s->counts[QB_STATUS_OK], s->counts[QB_STATUS_NOISY],
                s->counts[QB_STATUS_UNSUPPORTED], s->counts[QB_STATUS_FAILED], s->csv, s->meta);
    }
}

int qb_sweep_run(qb_scenario *sc, const qb_sweep_opts *o)
{
    sweep_run s;
    memset(&s, 0, sizeof s);
    s.sc = sc;
    s.o = o;
    int rc = plan_cells(&s);
    if (!rc && o->dry_run) {
        print_dry_run(&s);
    } else if (!rc && !(rc = open_outputs(&s))) {
        s.tty = isatty(2);
        if (o->verbosity)
            fprintf(stderr, "qbench sweep: %s: %d cells -> %s (run %s)\n", sc->name, s.todo, s.csv, s.run_id);
        s.t0 = qb_now();
        run_cells(&s);
        finish(&s);
        rc = s.rc;
    }
    qb_ids_free(s.done, s.ndone);
    qb_plan_free(&s.plan);
    qb_cell_reset();
    return rc;
}
