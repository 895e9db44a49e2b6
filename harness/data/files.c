/*
 * files.c - content hashing and mkdir -p for the caches (files.h).
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "harness/data/files.h"

uint64_t qb_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t qb_file_hash(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint64_t h = QB_FNV_OFFSET;
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        h = qb_fnv1a(h, buf, k);
    fclose(f);
    return h;
}

int qb_mkdir_p(const char *dir)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *s = p + 1;; s++) {
        char c = *s;
        if (c == '/' || !c) {
            *s = 0;
            if (mkdir(p, 0777) && errno != EEXIST)
                return -1;
            *s = c;
        }
        if (!c)
            return 0;
    }
}
