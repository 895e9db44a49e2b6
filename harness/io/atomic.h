/*
 * atomic.h - files that are either complete or absent. A writer opens a
 * temporary file in the destination's directory, writes, and commits:
 * fflush + fsync + rename over the destination, so a crash, a full disk
 * or a kill leaves the old file (or nothing), never a half-written one.
 * Destinations that are not regular files (/dev/null, /dev/full, a FIFO)
 * are written in place, with every error still reported.
 */
#ifndef QB_ATOMIC_H
#define QB_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    char path[1024]; /* the destination */
    char tmp[1100];  /* the temporary file beside it; empty when writing in place */
    FILE *f;         /* the stream to write to; NULL once committed or aborted */
} qb_atomic;

/* Open a writer for path. 0, or -1 with a message naming the file and the reason. */
int qb_atomic_open(qb_atomic *a, const char *path, char *err, size_t errlen);
/* Finish: flush, fsync, close, rename. 0, or -1 with a message; on failure
 * the temporary file is removed and the destination is left as it was. */
int qb_atomic_commit(qb_atomic *a, char *err, size_t errlen);
/* Give up: close and remove the temporary file (no-op after commit). */
void qb_atomic_abort(qb_atomic *a);
/* Write len bytes of buf to path atomically (open + fwrite + commit). */
int qb_atomic_write(const char *path, const void *buf, size_t len, char *err, size_t errlen);

/* Flush standard output and report a write error on it (a full disk, a
 * closed pipe): 0, or -1 with a message. Verbs that print results call it
 * before they exit so that `qbench table > /dev/full` does not exit 0. */
int qb_stdout_check(char *err, size_t errlen);

#endif
