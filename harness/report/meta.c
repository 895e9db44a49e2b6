/*
 * meta.c - machine and build metadata of a run (meta.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "harness/measure/counters.h"
#include "harness/measure/energy.h"
#include "harness/report/meta.h"
#include "kernels/kernels.h"

#ifndef QB_CFLAGS_STR
#define QB_CFLAGS_STR "unknown"
#endif

/* First line of a command's output into buf; 0 when it ran and printed. */
static int first_line(const char *cmd, char *buf, size_t len)
{
    buf[0] = 0;
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int ok = fgets(buf, (int)len, p) != NULL;
    int st = pclose(p);
    buf[strcspn(buf, "\n")] = 0;
    return ok && st == 0 ? 0 : -1;
}

void qb_machine_probe(qb_machine *m)
{
    memset(m, 0, sizeof *m);
    if (gethostname(m->host, sizeof m->host - 1))
        snprintf(m->host, sizeof m->host, "unknown");
    snprintf(m->cpu, sizeof m->cpu, "%s", qb_cpu_model());
    qb_cpu_feature_names(qb_cpu_features(), m->isa_flags, sizeof m->isa_flags);
    m->cores = sysconf(_SC_NPROCESSORS_ONLN);
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "r");
    if (!f || !fgets(m->governor, sizeof m->governor, f))
        snprintf(m->governor, sizeof m->governor, "unreadable (no cpufreq: a VM?)");
    if (f)
        fclose(f);
    m->governor[strcspn(m->governor, "\n")] = 0;
    struct utsname u;
    if (!uname(&u))
        snprintf(m->kernel, sizeof m->kernel, "%.40s %.60s %.100s %.30s", u.sysname, u.release, u.version, u.machine);
#ifdef __clang__
    snprintf(m->compiler, sizeof m->compiler, "clang %s", __clang_version__);
#else
    snprintf(m->compiler, sizeof m->compiler, "gcc %s", __VERSION__);
#endif
    snprintf(m->cflags, sizeof m->cflags, "%s", QB_CFLAGS_STR);
    char sha[64], dirty[8];
#ifdef QB_GIT_SHA
    /* the revision the binary was built from (Makefile), which made the numbers: the current directory's
     * checkout may be another one (a sweep run elsewhere, or a pull without a rebuild) */
    if (strncmp(QB_GIT_SHA, "unknown", 7)) {
        snprintf(m->git_sha, sizeof m->git_sha, "%s", QB_GIT_SHA);
    } else
#endif
    if (first_line("git rev-parse --short=12 HEAD 2>/dev/null", sha, sizeof sha) || !sha[0]) {
        snprintf(m->git_sha, sizeof m->git_sha, "unknown");
    } else {
        /* any line from status means modified tracked files */
        int mod = !first_line("git status --porcelain --untracked-files=no 2>/dev/null", dirty, sizeof dirty) ||
                  dirty[0];
        snprintf(m->git_sha, sizeof m->git_sha, "%.50s%s", sha, mod && dirty[0] ? "-dirty" : "");
    }
    char why[300];
    int papi = qb_papi_probe(why, sizeof why);
    snprintf(m->papi, sizeof m->papi, "%s: %s", papi ? "yes" : "no", why);
    qb_rapl r;
    int rapl = qb_rapl_open(&r, why, sizeof why) == 0;
    snprintf(m->rapl, sizeof m->rapl, "%s: %.280s", rapl ? "yes" : "no", why);
}

void qb_run_id(const qb_machine *m, char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
    char host[64];
    snprintf(host, sizeof host, "%.60s", m->host);
    for (char *p = host; *p; p++) /* keep run ids plain words */
        if (*p == ',' || *p == '"' || *p == ' ' || *p == '/')
            *p = '_';
    snprintf(buf, len, "%s-%s-%ld", ts, host, (long)getpid());
}

int qb_meta_append(const char *path, const qb_machine *m, const char *run_id, const char *cmdline,
                   const char *extra, char *err, size_t errlen)
{
    FILE *f = fopen(path, "a");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
        return -1;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[40];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "[run %s]\n", run_id);
    fprintf(f, "date: %s\ncommand: %s\nhost: %s\ncpu: %s\nisa_flags: %s\ncores: %ld\ngovernor: %s\n", date, cmdline,
            m->host, m->cpu, m->isa_flags, m->cores, m->governor);
    fprintf(f, "kernel: %s\ncompiler: %s\ncflags: %s\ngit_sha: %s\npapi: %s\nrapl: %s\n", m->kernel, m->compiler,
            m->cflags, m->git_sha, m->papi, m->rapl);
    if (extra && *extra)
        fputs(extra, f);
    fputc('\n', f);
    int bad = ferror(f);
    if (fflush(f) || bad || fsync(fileno(f))) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}
