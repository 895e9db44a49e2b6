/* readfile.c - opening a file to read, refusing a directory (readfile.h). */
#include "harness/io/readfile.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

FILE *qb_open_read(const char *path, const char *what, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) || S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "%s: cannot open%s%s: %s", path, what ? " " : "", what ? what : "",
                 f ? "is a directory" : strerror(errno));
        if (f)
            fclose(f);
        return NULL;
    }
    return f;
}
