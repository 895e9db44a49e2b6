/*
 * eintr.c - an LD_PRELOAD shim for the bad-input suite's I/O-fault cases
 * (tests/bad_inputs/run.sh): write(2) on a file descriptor above 2 fails
 * with EINTR on every third call and writes only half of the bytes on the
 * next one, as a signal or a nearly full pipe or disk can make it. A
 * writer that retries EINTR and continues after short writes produces the
 * same file as without the shim; one that does not loses or cuts rows.
 * At exit, when QB_EINTR_LOG names a file, appends "EINTR SHORT" (the
 * faults it injected) to it, so the test knows the faults happened.
 * Built by make test as $(BUILD)/tests/eintr.so.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

static unsigned injected_eintr; /* write calls failed with EINTR */
static unsigned injected_short; /* write calls that wrote half */

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real_write)(int, const void *, size_t);
    static unsigned calls;
    if (!real_write)
        real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (fd > 2 && n > 1) {
        calls++;
        if (calls % 3 == 1) {
            injected_eintr++;
            errno = EINTR;
            return -1;
        }
        if (calls % 3 == 2) {
            injected_short++;
            return real_write(fd, buf, n / 2);
        }
    }
    return real_write(fd, buf, n);
}

__attribute__((destructor)) static void report(void)
{
    const char *log = getenv("QB_EINTR_LOG");
    FILE *f = log && *log ? fopen(log, "a") : NULL;
    if (f) {
        fprintf(f, "%u %u\n", injected_eintr, injected_short);
        fclose(f);
    }
}
