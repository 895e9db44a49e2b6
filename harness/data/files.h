/*
 * files.h - small file helpers the caches share (zoo models, QAT models,
 * quantized sweep models): content hashing and mkdir -p.
 */
#ifndef QB_FILES_H
#define QB_FILES_H

#include <stddef.h>
#include <stdint.h>

#define QB_FNV_OFFSET 0xcbf29ce484222325ull /* FNV-1a 64-bit initial value */

/* FNV-1a (64 bit) of n bytes, continuing from h (start with QB_FNV_OFFSET). */
uint64_t qb_fnv1a(uint64_t h, const void *p, size_t n);
/* FNV-1a of a file's bytes; 0 when it cannot be read. */
uint64_t qb_file_hash(const char *path);
/* mkdir -p: 0, or -1 with errno set. */
int qb_mkdir_p(const char *dir);

#endif
