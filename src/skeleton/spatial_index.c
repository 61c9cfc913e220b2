/* SPDX-License-Identifier: BSD-3-Clause
 * spatial_index.c: CloudVolume's spatial index of mesh and skeleton directories
 * (precomputed-mesh-skeleton §6): "<dir>/<bbox>.spatial" JSON files, one per grid cell, each
 * mapping segment ids to their physical bounding box in that cell. A query reads the cells
 * whose file-name box meets the query box and returns the ids whose boxes meet it. No MPI. */
#include "base/json_py.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "x0-x1_y0-y1_z0-z1.spatial" with decimal numbers (possibly negative or fractional). */
static bool parse_name_box(const char *name, double lo[3], double hi[3])
{
    char buf[256];
    size_t n = strlen(name);
    if (n >= sizeof buf || !cv__str_ends_with(name, ".spatial")) {
        return false;
    }
    memcpy(buf, name, n - 8);
    buf[n - 8] = '\0';
    const char *s = buf;
    for (int d = 0; d < 3; d++) {
        char *end;
        lo[d] = strtod(s, &end);
        if (end == s || *end != '-') {
            return false;
        }
        s = end + 1;
        hi[d] = strtod(s, &end);
        if (end == s || *end != (d < 2 ? '_' : '\0')) {
            return false;
        }
        s = end + 1;
    }
    return true;
}

typedef struct query {
    cv_store *store;
    const char *dir;
    size_t dir_len;
    const double *min, *max;
    uint64_t *ids;
    size_t n, cap;
} query;

static bool meets(const double lo[3], const double hi[3], const double *min, const double *max)
{
    for (int d = 0; d < 3; d++) {
        if (!(lo[d] < max[d] && hi[d] >= min[d])) {
            return false;
        }
    }
    return true;
}

static cv_status cell(const char *key, void *arg)
{
    query *q = arg;
    double lo[3], hi[3];
    if (strncmp(key, q->dir, q->dir_len) != 0 || key[q->dir_len] != '/' ||
        !parse_name_box(key + q->dir_len + 1, lo, hi) || !meets(lo, hi, q->min, q->max)) {
        return CV_OK;
    }
    uint8_t *data;
    size_t len;
    CV_TRY(cv_store_get(q->store, key, 256 << 20, &data, &len));
    char what[4200];
    snprintf(what, sizeof what, "%s/%s", cv_store_url(q->store), key);
    cJSON *root;
    cv_status rc = cv__json_parse((const char *)data, len, what, &root);
    cv_free(data);
    CV_TRY(rc);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return CV_FAIL(CV_ERR_CORRUPT, "spatial index `%s': not a JSON object", what);
    }
    for (const cJSON *c = root->child; c && rc == CV_OK; c = c->next) {
        uint64_t id;
        double b[6];
        int i = 0;
        for (const cJSON *x = c->child; cJSON_IsArray(c) && x && i < 6; x = x->next) {
            b[i++] = cJSON_IsNumber(x) ? x->valuedouble : 0;
        }
        if (!cv__parse_segid(c->string, &id) || i != 6 || cJSON_GetArraySize(c) != 6) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "spatial index `%s': entry \"%s\" is not id: [6 numbers]",
                         what, c->string);
            break;
        }
        if (!meets(b, b + 3, q->min, q->max)) {
            continue;
        }
        if (q->n == q->cap) {
            size_t cap = q->cap ? 2 * q->cap : 256;
            uint64_t *p = cv_realloc(q->ids, cap * sizeof *p);
            if (!p) {
                rc = CV_FAIL(CV_ERR_NOMEM, "spatial index ids");
                break;
            }
            q->ids = p;
            q->cap = cap;
        }
        q->ids[q->n++] = id;
    }
    cJSON_Delete(root);
    return rc;
}

cv_status cv__spatial_query(cv_store *store, const char *dir, const double min[3],
                            const double max[3], uint64_t **ids, size_t *n)
{
    query q = {store, dir, strlen(dir), min, max, NULL, 0, 0};
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/", dir);
    cv_status rc = cv_store_list(store, prefix, cell, &q);
    if (rc != CV_OK) {
        cv_free(q.ids);
        return rc;
    }
    cv__sort_ids(q.ids, &q.n);
    *ids = q.ids;
    *n = q.n;
    return CV_OK;
}
