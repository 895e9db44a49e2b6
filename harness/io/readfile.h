/*
 * readfile.h - opening a file to read, the one way every reader of a
 * user's file does it: fopen(path, "r") that refuses a directory (which
 * fopen accepts and which then fails on the first read with a puzzling
 * message), so the caller reports "PATH: cannot open[ WHAT]: REASON".
 */
#ifndef QB_READFILE_H
#define QB_READFILE_H

#include <stddef.h>
#include <stdio.h>

/* The open stream, or NULL with "PATH: cannot open[ WHAT]: REASON" in err
 * (REASON: strerror, or "is a directory"); what (e.g. "the plan") may be
 * NULL. */
FILE *qb_open_read(const char *path, const char *what, char *err, size_t errlen);

#endif
