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

int qb_sweep_run(qb_scenario *sc, const qb_sweep_opts *o)
{
    const char *outdir = o->outdir, *only = o->only;
    int shard = o->shard_n > 0, resume = o->resume, dry = o->dry_run, verbosity = o->verbosity;
    int keep_samples = o->keep_samples;
    char err[1024];
    qb_plan plan;
    if (qb_plan_build(sc, &plan)) {
        fprintf(stderr, "qbench sweep: out of memory\n");
        return 2;
    }
    int total_cells = plan.n, si = shard ? o->shard_i : 1, sn = shard ? o->shard_n : 1;
    if (shard)
        qb_plan_shard(&plan, si, sn);
    if (only && qb_plan_only(&plan, only, err, sizeof err)) {
        fprintf(stderr, "qbench sweep: %s\n", err);
        qb_plan_free(&plan);
        return 2;
    }
    char dir[1024], csv[1100], meta[1100];
    if (outdir)
        snprintf(dir, sizeof dir, "%s", outdir);
    else if (shard)
        snprintf(dir, sizeof dir, "reports/%s-shard-%d-of-%d", sc->name, si, sn);
    else
        snprintf(dir, sizeof dir, "reports/%s", sc->name);
    snprintf(csv, sizeof csv, "%s/results.csv", dir);
    snprintf(meta, sizeof meta, "%s/results.meta.txt", dir);

    /* what a run would refuse (missing or corrupt models, data, energy table, cache, output
     * directory) stops here, before anything runs, and so in --dry-run too */
    if (qb_sweep_precheck(sc, &plan, dir, err, sizeof err)) {
        fprintf(stderr, "qbench sweep: %s\n", err);
        qb_plan_free(&plan);
        return 2;
    }
    /* finished cells (resume) */
    char **done = NULL;
    int ndone = 0, rc = 2;
    if (resume) {
        if (qb_results_finished(csv, &done, &ndone, err, sizeof err)) {
            fprintf(stderr, "qbench sweep: %s\n", err);
            qb_plan_free(&plan);
            return 2;
        }
        if (ndone) /* no finished cells: done is NULL, which qsort may not take */
            qsort(done, (size_t)ndone, sizeof *done, cmp_str);
    } else if (!dry && access(csv, F_OK) == 0) {
        fprintf(stderr, "qbench sweep: %s exists: add --resume to complete it (finished cells are skipped), or "
                        "choose another -o DIR\n", csv);
        qb_plan_free(&plan);
        return 2;
    }
    int todo = 0;
    for (int i = 0; i < plan.n; i++)
        todo += !finished(done, ndone, plan.cells[i].id);
    if (dry) {
        for (int i = 0; i < plan.n; i++)
            if (!finished(done, ndone, plan.cells[i].id))
                printf("%s\n", plan.cells[i].id);
        fprintf(stderr, "qbench sweep: %s: %d cells to run (plan %d; %d combinations pruned by rule", sc->name, todo,
                total_cells, plan.pruned);
        if (shard)
            fprintf(stderr, "; shard %d/%d", si, sn);
        if (only)
            fprintf(stderr, "; --only '%s'", only);
        if (resume)
            fprintf(stderr, "; %d finished in %s", plan.n - todo, csv);
        fprintf(stderr, ")\n");
        rc = 0;
        goto out;
    }

    if (qb_mkdir_p(dir)) {
        fprintf(stderr, "qbench sweep: %.500s: cannot create directory: %s\n", dir, strerror(errno));
        goto out;
    }
    qb_results_writer w;
    if (qb_results_open(csv, &w, err, sizeof err)) {
        fprintf(stderr, "qbench sweep: %s\n", err);
        goto out;
    }
    if (sc->pin >= 0 && qb_pin_cpu(sc->pin, err, sizeof err)) {
        fprintf(stderr, "qbench sweep: --pin: %s\n", err);
        qb_results_close(&w);
        goto out;
    }
    qb_sample_log slog = {0};
    if (keep_samples) {
        char spath[1100];
        snprintf(spath, sizeof spath, "%s/samples.csv", dir);
        if (qb_sample_log_open(&slog, spath, err, sizeof err)) {
            fprintf(stderr, "qbench sweep: %s\n", err);
            qb_results_close(&w);
            goto out;
        }
    }
    static qb_machine mach;
    qb_machine_probe(&mach);
    char run_id[96];
    qb_run_id(&mach, run_id, sizeof run_id);
    char extra[2048];
    const char *cmdline = o->cmdline;
    double ov_sample, ov_iter, clk_res, clk_read;
    qb_measure_overhead(200000, &ov_sample, &ov_iter);
    qb_clock_calibrate(NULL, NULL, &clk_res, &clk_read);
    snprintf(extra, sizeof extra,
             "scenario: %s (%.300s)\nplan: %d cells, %d pruned; this run: %d cells (%d already finished)\n"
             "shard: %d/%d\nonly: %.200s\ncache: %s\npin: %d\nenergy_model: %.300s\n"
             "harness_overhead_ns: %.1f per timed sample (clock + call), %.1f per iteration in all\n"
             "clock: resolution %.1f ns, one read %.1f ns (a sample lasts at least 10x the larger)\n",
             sc->name, sc->file, total_cells, plan.pruned, todo, plan.n - todo, si, sn, only ? only : "(all)",
             sc->cache == QB_CACHE_HOT ? "hot" : "cold (rotating input buffers)", sc->pin, sc->energy_model,
             ov_sample * 1e9, ov_iter * 1e9, clk_res * 1e9, clk_read * 1e9);
    if (qb_meta_append(meta, &mach, run_id, cmdline, extra, err, sizeof err)) {
        fprintf(stderr, "qbench sweep: %s\n", err);
        qb_results_close(&w);
        goto out;
    }
    int tty = isatty(2), ndone_now = 0, counts[QB_STATUS_COUNT] = {0};
    if (verbosity)
        fprintf(stderr, "qbench sweep: %s: %d cells -> %s (run %s)\n", sc->name, todo, csv, run_id);
    double t0 = qb_now();
    rc = 0;
    /* rounds > 1: the cells of a chunk are timed round-robin, so each
     * cell's rounds are spread over the chunk's time (docs/measurement.md) */
    int rounds = sc->rounds > 1 ? sc->rounds : 1, chunk = rounds > 1 ? QB_ROUND_CHUNK : 1, ntodo = 0;
    int *todo_idx = malloc((size_t)(todo ? todo : 1) * sizeof *todo_idx);
    qb_result_row *rows = calloc((size_t)chunk, sizeof *rows);
    qb_samples_kept *kept = calloc((size_t)chunk, sizeof *kept);
    char *retimed_ok = calloc((size_t)chunk, 1);
    if (!todo_idx || !rows || !kept || !retimed_ok) {
        fprintf(stderr, "qbench sweep: out of memory\n");
        rc = 2;
    }
    qb_rounds_journal jr; /* rounds > 1: each round on disk until the row is written (rounds.h) */
    if (!rc && rounds > 1 && qb_rounds_open(&jr, dir, resume, err, sizeof err)) {
        fprintf(stderr, "qbench sweep: %s\n", err);
        rc = 2;
    }
    for (int i = 0; !rc && i < plan.n; i++)
        if (!finished(done, ndone, plan.cells[i].id))
            todo_idx[ntodo++] = i;
    int stop = rc != 0;
    for (int c0 = 0; !stop && c0 < ntodo; c0 += chunk) {
        int cn = ntodo - c0 < chunk ? ntodo - c0 : chunk;
        for (int j = 0; j < cn && !stop; j++) { /* the cells (their first round) */
            const qb_cell *c = &plan.cells[todo_idx[c0 + j]];
            double el = qb_now() - t0;
            char els[32], eta[32];
            fmt_time(el, els, sizeof els);
            if (ndone_now)
                fmt_time(el / ndone_now * (todo - ndone_now), eta, sizeof eta);
            else
                snprintf(eta, sizeof eta, "?");
            if (verbosity && tty)
                fprintf(stderr, "\r\033[K[%d/%d] %s elapsed, ETA %s  %s%s", ndone_now + j + 1, todo, els, eta, c->id,
                        rounds > 1 ? " (round 1)" : "");
            qb_row_init(&rows[j]);
            kept[j] = (qb_samples_kept){0};
            retimed_ok[j] = 1;
            if (rounds > 1 && qb_rounds_take(&jr, c->id, &rows[j], &kept[j])) {
                qb_result_note(&rows[j], "rounds 1-%zu restored from the journal of an interrupted run",
                               kept[j].block_n ? kept[j].nblocks : (size_t)(kept[j].x != NULL));
                continue;
            }
            void *pad = rounds > 1 ? qb_place_begin() : NULL; /* each round placed elsewhere (placement.h) */
            int ran = qb_cell_run(c, sc, &rows[j], keep_samples || rounds > 1 ? &kept[j] : NULL);
            qb_place_end(pad);
            if (ran) {
                fprintf(stderr, "%sqbench sweep: %s: out of memory, stopping\n", tty ? "\r\033[K" : "", c->id);
                rc = 2;
                stop = 1;
                cn = j;
            } else if (rounds > 1 && qb_rounds_first(&jr, c->id, &rows[j], &kept[j], err, sizeof err)) {
                fprintf(stderr, "%sqbench sweep: %s\n", tty ? "\n" : "", err);
                rc = 2;
                stop = 1;
                cn = j;
            }
        }
        /* later rounds; then, while a cell is noisy, up to `retries` extra rounds */
        for (int round = 1; !stop && rounds > 1 && round < rounds + sc->retries; round++)
            for (int j = 0; j < cn && !stop; j++) {
                const qb_cell *c = &plan.cells[todo_idx[c0 + j]];
                size_t done_rounds = kept[j].block_n ? kept[j].nblocks : kept[j].x != NULL;
                if (!kept[j].x || !retimed_ok[j] || strcmp(rows[j].status, qb_status_name(QB_STATUS_OK)) ||
                    done_rounds != (size_t)round) /* (a restored cell has some rounds already) */
                    continue;
                if (round >= rounds) {
                    qb_robust rb;
                    if (!qb_robust_blocks(kept[j].x, kept[j].block_n, kept[j].nblocks, &rb) &&
                        rb.ci_rel <= sc->ci_threshold)
                        continue;
                }
                if (verbosity && tty)
                    fprintf(stderr, "\r\033[K[%d/%d] %s (round %d)", ndone_now + j + 1, todo, c->id, round + 1);
                qb_samples_kept more = {0};
                void *pad = qb_place_begin();
                int timed = qb_cell_retime(c, sc, &more, err, sizeof err);
                qb_place_end(pad);
                if (timed) {
                    qb_result_note(&rows[j], "round %d not timed: %.300s", round + 1, err);
                    retimed_ok[j] = 0;
                } else if (kept[j].inputs_hash && more.inputs_hash != kept[j].inputs_hash) {
                    qb_result_note(&rows[j], "round %d not used: it timed other inputs than round 1", round + 1);
                    retimed_ok[j] = 0;
                } else if (qb_samples_kept_add(&kept[j], more.x, more.n)) {
                    fprintf(stderr, "%sqbench sweep: %s: out of memory, stopping\n", tty ? "\r\033[K" : "", c->id);
                    rc = 2;
                    stop = 1;
                } else if (qb_rounds_more(&jr, c->id, &kept[j], err, sizeof err)) {
                    fprintf(stderr, "%sqbench sweep: %s\n", tty ? "\n" : "", err);
                    rc = 2;
                    stop = 1;
                }
                qb_samples_kept_free(&more);
            }
        for (int j = 0; j < cn; j++) {
            const qb_cell *c = &plan.cells[todo_idx[c0 + j]];
            qb_result_row *row = &rows[j];
            qb_robust rb;
            if (rounds > 1 && kept[j].x && !strcmp(row->status, qb_status_name(QB_STATUS_OK)) &&
                !qb_robust_blocks(kept[j].x, kept[j].block_n, kept[j].nblocks, &rb))
                qb_cell_latency(&rb, kept[j].calls_per_sample, rb.ci_rel > sc->ci_threshold, (int)rb.blocks, sc,
                                kept[j].batch, row);
            identity(row, &mach, run_id, sc->name);
            int bad = !stop && (qb_results_write(&w, row, err, sizeof err) ||
                                (keep_samples && kept[j].x &&
                                 qb_sample_log_write(&slog, run_id, c->id, &kept[j], err, sizeof err)));
            qb_samples_kept_free(&kept[j]);
            if (bad) {
                fprintf(stderr, "%sqbench sweep: %s\n", tty ? "\n" : "", err);
                rc = 2;
                stop = 1;
            }
            if (stop)
                continue;
            ndone_now++;
            int k = qb_status_parse(row->status);
            if (k < 0)
                k = QB_STATUS_FAILED;
            const qb_status_traits *st = qb_status_traits_of(k);
            counts[k]++;
            if (st->exit_code > rc)
                rc = st->exit_code;
            report_cell(c, row, st, verbosity, tty, ndone_now, todo, qb_now() - t0, sc->file, dir);
        }
        if (!stop && rounds > 1 && qb_rounds_clear(&jr, err, sizeof err)) { /* the chunk's rows are written */
            fprintf(stderr, "qbench sweep: %s\n", err);
            rc = 2;
            stop = 1;
        }
    }
    if (rounds > 1 && todo_idx && rows && kept && retimed_ok)
        qb_rounds_close(&jr);
    free(todo_idx);
    free(rows);
    free(kept);
    free(retimed_ok);
    qb_results_close(&w);
    if (keep_samples && qb_sample_log_close(&slog, err, sizeof err)) {
        fprintf(stderr, "qbench sweep: %s\n", err);
        rc = 2;
    }
    if (verbosity) {
        char els[32];
        fmt_time(qb_now() - t0, els, sizeof els);
        fprintf(stderr, "%sqbench sweep: %d cells in %s: %d ok, %d noisy, %d unsupported, %d failed\n"
                        "results: %s\nmetadata: %s\n",
                tty ? "\r\033[K" : "", ndone_now, els, counts[QB_STATUS_OK], counts[QB_STATUS_NOISY], counts[QB_STATUS_UNSUPPORTED],
                counts[QB_STATUS_FAILED], csv, meta);
    }
out:
    qb_ids_free(done, ndone);
    qb_plan_free(&plan);
    qb_cell_reset();
    return rc;
}
