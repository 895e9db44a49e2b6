/*
 * atomic.c - complete-or-absent file writes (temporary file + fsync +
 * rename), and the check of standard output's write errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/io/atomic.h"

int qb_atomic_open(qb_atomic *a, const char *path, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path) {
        snprintf(err, errlen, "%.200s...: path too long", path);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s: cannot write: is a directory", path);
            return -1;
        }
        if (!S_ISREG(st.st_mode)) { /* a device or FIFO: no rename over it */
            a->f = fopen(path, "wb");
            if (!a->f) {
                snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
                return -1;
            }
            return 0;
        }
    }
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    snprintf(a->tmp, sizeof a->tmp, "%.*s.%s.tmpXXXXXX", dirlen, path, slash ? slash + 1 : path);
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        a->tmp[0] = 0;
        return -1;
    }
    mode_t um = umask(0);
    umask(um);
    if (fchmod(fd, 0666 & ~um) != 0 || !(a->f = fdopen(fd, "wb"))) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        close(fd);
        unlink(a->tmp);
        a->tmp[0] = 0;
        return -1;
    }
    return 0;
}

int qb_atomic_commit(qb_atomic *a, char *err, size_t errlen)
{
    if (!a->f) {
        snprintf(err, errlen, "%s: cannot write: not open", a->path);
        return -1;
    }
    int bad = ferror(a->f) || fflush(a->f) != 0;
    int saved = errno;
    if (!bad && a->tmp[0] && fsync(fileno(a->f)) != 0) {
        bad = 1;
        saved = errno;
    }
    if (fclose(a->f) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    a->f = NULL;
    if (!bad && a->tmp[0] && rename(a->tmp, a->path) != 0) {
        bad = 1;
        saved = errno;
    }
    if (bad) {
        snprintf(err, errlen, "%s: cannot write: %s", a->path, saved ? strerror(saved) : "I/O error");
        if (a->tmp[0])
            unlink(a->tmp);
        a->tmp[0] = 0;
        return -1;
    }
    a->tmp[0] = 0;
    return 0;
}

void qb_atomic_abort(qb_atomic *a)
{
    if (a->f)
        fclose(a->f);
    a->f = NULL;
    if (a->tmp[0])
        unlink(a->tmp);
    a->tmp[0] = 0;
}

int qb_atomic_write(const char *path, const void *buf, size_t len, char *err, size_t errlen)
{
    qb_atomic a;
    if (qb_atomic_open(&a, path, err, errlen))
        return -1;
    if (len && fwrite(buf, 1, len, a.f) != len) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        qb_atomic_abort(&a);
        return -1;
    }
    return qb_atomic_commit(&a, err, errlen);
}

int qb_stdout_check(char *err, size_t errlen)
{
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        snprintf(err, errlen, "standard output: cannot write: %s", errno ? strerror(errno) : "I/O error");
        return -1;
    }
    return 0;
}
