/*
 * norm_meta.c - the input normalisation of a model in its metadata:
 * "qbench.norm.mean" and "qbench.norm.std" hold one value per channel,
 * comma-separated ("%.9g", so a float survives the round trip exactly),
 * for input = (pixel / 255 - mean) / std; "qbench.norm.input" says so in
 * words for other tools. Written by the zoo trainer, read back by eval
 * and anything else that feeds dataset images to a model.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/norm_meta.h"

/* "v0,v1,..." of n floats into buf. */
static void join(const float *v, int n, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%.9g", i ? "," : "", v[i]);
}

int qb_norm_to_graph(struct qb_graph *g, const qb_norm *norm)
{
    char buf[256];
    join(norm->mean, norm->channels, buf, sizeof buf);
    if (qb_graph_set_meta(g, QB_META_NORM_MEAN, buf))
        return -1;
    join(norm->std, norm->channels, buf, sizeof buf);
    if (qb_graph_set_meta(g, QB_META_NORM_STD, buf))
        return -1;
    return qb_graph_set_meta(g, "qbench.norm.input", "(pixel/255 - mean) / std per channel, NCHW");
}

/* Parse "v0,v1,..." (1..QB_NORM_MAX_CH finite values); count or -1. */
static int split(const char *s, float *out)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || n == QB_NORM_MAX_CH)
            return -1;
        out[n++] = (float)v;
        while (*end == ' ')
            end++;
        if (!*end)
            return n;
        if (*end != ',')
            return -1;
        p = end + 1;
    }
}

int qb_norm_from_graph(const struct qb_graph *g, qb_norm *norm)
{
    const char *m = qb_graph_get_meta(g, QB_META_NORM_MEAN), *s = qb_graph_get_meta(g, QB_META_NORM_STD);
    if (!m || !s)
        return -1;
    qb_norm r;
    memset(&r, 0, sizeof r);
    int nm = split(m, r.mean), ns = split(s, r.std);
    if (nm < 1 || nm != ns)
        return -1;
    for (int c = 0; c < ns; c++)
        if (!(r.std[c] > 0))
            return -1;
    r.channels = nm;
    *norm = r;
    return 0;
}
