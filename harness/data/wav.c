/*
 * wav.c - audio files (WAV, and whatever else libsndfile reads: FLAC,
 * AIFF ...) as mono float samples in [-1, 1]. See inputs.h.
 */
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/inputs.h"

void qb_audio_free(qb_audio *a)
{
    free(a->x);
    memset(a, 0, sizeof *a);
}

int qb_audio_load(const char *path, qb_audio *a, qb_err *e)
{
    memset(a, 0, sizeof *a);
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f) {
        qb_errf(e, "%s: audio: %s", path, sf_strerror(NULL));
        return -1;
    }
    int rc = -1;
    if (info.channels != 1) {
        qb_errf(e, "%s: channels: %d channels; qbench reads mono audio (mix it down first)", path, info.channels);
        goto out;
    }
    if (info.frames <= 0 || info.frames > (1LL << 31)) {
        qb_errf(e, "%s: frames: %lld samples (want 1 to 2^31)", path, (long long)info.frames);
        goto out;
    }
    /* a data chunk cut short: libsndfile reads what is there and notes
     * "data : N (should be M)" in its log */
    char log[4096] = "";
    sf_command(f, SFC_GET_LOG_INFO, log, sizeof log);
    const char *dl = strstr(log, "\ndata : ");
    const char *nl = dl ? strchr(dl + 1, '\n') : NULL;
    const char *sb = dl ? strstr(dl, "should be") : NULL;
    if (sb && (!nl || sb < nl)) {
        qb_errf(e, "%s: data: truncated (the header announces more bytes than the file holds: %.*s)", path,
                (int)((nl ? nl : sb + 20) - dl - 1), dl + 1);
        goto out;
    }
    /* read in blocks: the header's frame count is a claim, and a corrupt or
     * compressed file must not make us allocate what it cannot fill */
    sf_count_t got = 0, cap = 0;
    for (;;) {
        if (got == cap) {
            sf_count_t ncap = cap ? cap * 2 : 65536;
            if (ncap > info.frames)
                ncap = info.frames;
            float *nx = ncap > cap ? realloc(a->x, (size_t)ncap * sizeof(float) + 1) : NULL;
            if (!nx)
                break;
            a->x = nx;
            cap = ncap;
        }
        sf_count_t r = sf_readf_float(f, a->x + got, cap - got);
        if (r <= 0)
            break;
        got += r;
    }
    if (!a->x) {
        qb_errf(e, "%s: out of memory", path);
        goto out;
    }
    if (got != info.frames || sf_error(f)) {
        qb_errf(e, "%s: data: truncated (%lld of the %lld samples its header announces)", path, (long long)got,
                (long long)info.frames);
        goto out;
    }
    a->rate = info.samplerate;
    a->frames = info.frames;
    rc = 0;
out:
    sf_close(f);
    if (rc)
        qb_audio_free(a);
    return rc;
}
