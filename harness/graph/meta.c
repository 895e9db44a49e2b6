/*
 * meta.c - model metadata of a graph: key/value strings, kept in the
 * order they were first set, saved as ONNX ModelProto.metadata_props
 * (onnx_export.c) and loaded from it (onnx_import.c).
 */
#include <stdlib.h>
#include <string.h>

#include "harness/graph/graph.h"

int qb_graph_set_meta(qb_graph *g, const char *key, const char *value)
{
    for (int i = 0; i < g->nmeta; i++)
        if (!strcmp(g->meta_key[i], key)) {
            char *v = strdup(value);
            if (!v)
                return -1;
            free(g->meta_value[i]);
            g->meta_value[i] = v;
            return 0;
        }
    char **k = realloc(g->meta_key, sizeof(char *) * (size_t)(g->nmeta + 1));
    if (!k)
        return -1;
    g->meta_key = k;
    char **v = realloc(g->meta_value, sizeof(char *) * (size_t)(g->nmeta + 1));
    if (!v)
        return -1;
    g->meta_value = v;
    char *ks = strdup(key), *vs = strdup(value);
    if (!ks || !vs) {
        free(ks);
        free(vs);
        return -1;
    }
    g->meta_key[g->nmeta] = ks;
    g->meta_value[g->nmeta] = vs;
    g->nmeta++;
    return 0;
}

const char *qb_graph_get_meta(const qb_graph *g, const char *key)
{
    for (int i = 0; i < g->nmeta; i++)
        if (!strcmp(g->meta_key[i], key))
            return g->meta_value[i];
    return NULL;
}

void qb_graph_clear_meta(qb_graph *g)
{
    for (int i = 0; i < g->nmeta; i++) {
        free(g->meta_key[i]);
        free(g->meta_value[i]);
    }
    free(g->meta_key);
    free(g->meta_value);
    g->meta_key = g->meta_value = NULL;
    g->nmeta = 0;
}
