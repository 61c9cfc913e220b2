/* SPDX-License-Identifier: BSD-3-Clause
 * mesh_graphene.c: meshes of graphene:// layers as CloudVolume's graphene mesh sources
 * (graphene-boss-zfpc spec §1.7): the manifest from the server's meshing API, then the
 * fragments from the mesh directory under data_dir: unsharded named files (Draco or legacy),
 * or, when the mesh info has "sharding", initial fragments as byte ranges of the shard files
 * under initial/ and dynamic ones as whole files. */
#include "mesh/mesh.h"
#include "volume/graphene.h"
#include "volume/volume.h"

#include "base/json_py.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest fragment read: the manifest's byte ranges are untrusted. */
#define FRAGMENT_MAX ((size_t)256 << 20)

/* Whether {mesh_dir}/info has a non-null "sharding" (a missing info: unsharded). */
static cv_status mesh_is_sharded(cv_volume *v, const char *dir, bool *sharded)
{
    char key[1024];
    snprintf(key, sizeof key, "%s/info", dir);
    uint8_t *data;
    size_t len;
    cv_status rc = cv_store_get(v->store, key, 16 << 20, &data, &len);
    if (rc == CV_ERR_NOTFOUND) {
        cv_err_clear();
        *sharded = false;
        return CV_OK;
    }
    CV_TRY(rc);
    char *what = cv__asprintf("%s/%s", cv_store_url(v->store), key);
    cJSON *root = NULL;
    rc = what ? cv__json_parse((const char *)data, len, what, &root)
              : CV_FAIL(CV_ERR_NOMEM, "mesh info");
    cv_free(data);
    if (rc == CV_OK) {
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(root, "sharding");
        *sharded = sh && !cJSON_IsNull(sh);
        if (*sharded && !cJSON_IsObject(sh)) {
            rc = CV_FAIL(CV_ERR_INFO, "mesh info `%s': \"sharding\" must be an object", what);
        }
    }
    cJSON_Delete(root);
    cv_free(what);
    return rc;
}

static cv_status fetch_manifest(cv_volume *v, uint64_t id, bool sharded, char ***names,
                                uint64_t **seg_ids, size_t *n)
{
    cv_graphene *g = v->graphene;
    const cv_graphene_url *u = &g->url;
    int level = cv__graphene_layer(&g->meta, id);
    if (level > g->meta.max_meshed_layer) {
        level = g->meta.max_meshed_layer;
    }
    const char *query = sharded ? "?verify=True&return_seg_ids=1" : "?verify=True";
    char *url = g->api == CV_GRAPHENE_API_V1
                    ? cv__asprintf("%s/meshing/api/v1/table/%s/manifest/%" PRIu64 ":0%s", u->base,
                                   u->dataset, id, query)
                    : cv__asprintf("%s/meshing/1.0/%s/manifest/%" PRIu64 ":0%s", u->base,
                                   u->dataset, id, query);
    if (!url) {
        return CV_FAIL(CV_ERR_NOMEM, "mesh manifest");
    }
    /* CloudVolume sends the start layer as a JSON body of the GET, without a Content-Type. */
    char body[48];
    snprintf(body, sizeof body, "{\"start_layer\": %d}", level);
    const char *headers[] = {"Content-Type:", NULL};
    cv_buf answer;
    cv__buf_init(&answer, 64 << 20);
    cv_status rc = cv__graphene_request(g, "GET", url, body, strlen(body), headers, &answer);
    if (rc == CV_OK) {
        rc = cv__graphene_parse_manifest((const char *)answer.data, answer.len, url, names, seg_ids,
                                         n);
    }
    cv__buf_fini(&answer);
    cv_free(url);
    return rc;
}

/* One fragment's bytes as a mesh in nm: Draco (as DracoPy decodes it) when `draco_only` or the
 * bytes start with DRACO, else the legacy format. */
static cv_status decode_fragment(const uint8_t *data, size_t len, const char *what, bool draco_only,
                                 cv_mesh **out)
{
    if (!draco_only && !(len >= 5 && memcmp(data, "DRACO", 5) == 0)) {
        return cv_mesh_fragment_decode(data, len, what, out);
    }
    float *pos;
    uint32_t nv, nf, *faces;
    CV_TRY(cv__draco_decode_nm(data, len, what, &pos, &nv, &faces, &nf));
    cv_mesh *m;
    cv_status rc = cv_mesh_new(nv, nf, &m);
    if (rc == CV_OK) {
        memcpy(m->vertices, pos, 12 * (size_t)nv);
        memcpy(m->faces, faces, 12 * (size_t)nf);
        *out = m;
    }
    cv_free(pos);
    cv_free(faces);
    return rc;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The bytes of fragment `name` (sharded: initial byte range or dynamic file). */
static cv_status fetch_fragment(cv_volume *v, const char *name, bool sharded, uint64_t id,
                                uint8_t **data, size_t *len, char *what, size_t what_cap)
{
    const cv_graphene_meta *m = &v->graphene->meta;
    char key[2048], object[512];
    uint64_t off, size;
    cv_status rc;
    bool initial =
        sharded && cv__graphene_initial_fragment(name, object, sizeof object, &off, &size);
    if (sharded && name[0] == '~' && !initial) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "mesh %" PRIu64 ": manifest fragment `%s' is not "
                       "~LAYER/SHARD.shard:OFFSET:SIZE",
                       id, name);
    }
    if (initial && size > FRAGMENT_MAX) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "mesh %" PRIu64 ": manifest fragment `%s' is %" PRIu64
                       " bytes, more than the %zu a fragment may have",
                       id, name, size, FRAGMENT_MAX);
    }
    if (initial) {
        snprintf(key, sizeof key, "%s/initial/%s", m->mesh_dir, object);
        snprintf(what, what_cap, "`%s/%s' bytes %" PRIu64 "..%" PRIu64, cv_store_url(v->store), key,
                 off, off + size);
        rc = cv_store_get_range(v->store, key, off, size, data, len);
        if (rc == CV_OK && *len != size) {
            cv_free(*data);
            rc = CV_FAIL(CV_ERR_CORRUPT, "mesh %" PRIu64 ": %s: only %zu bytes", id, what, *len);
        }
    } else {
        if (sharded) {
            snprintf(key, sizeof key, "%s/%s/%s", m->mesh_dir, m->unsharded_mesh_dir, name);
        } else {
            snprintf(key, sizeof key, "%s/%s", m->mesh_dir, name);
        }
        snprintf(what, what_cap, "`%s/%s'", cv_store_url(v->store), key);
        rc = cv_store_get(v->store, key, 0, data, len);
    }
    if (rc == CV_ERR_NOTFOUND) {
        cv_err_clear();
        rc = CV_FAIL(CV_ERR_NOTFOUND,
                     "mesh %" PRIu64 ": fragment %s named by the manifest is "
                     "missing",
                     id, what);
    }
    return rc;
}

cv_status cv_graphene_mesh_get(cv_volume *v, uint64_t id, cv_mesh **out)
{
    if (!v->graphene) {
        return CV_FAIL(CV_ERR_ARG, "mesh %" PRIu64 ": %s is not a graphene:// layer", id,
                       cv_store_url(v->store));
    }
    bool sharded;
    CV_TRY(mesh_is_sharded(v, v->graphene->meta.mesh_dir, &sharded));
    char **names;
    uint64_t *seg_ids;
    size_t n;
    CV_TRY(fetch_manifest(v, id, sharded, &names, &seg_ids, &n));
    cv_free(seg_ids);
    if (!sharded) {
        /* CloudVolume sorts the fragments by name so that decoding is deterministic. */
        qsort(names, n, sizeof *names, cmp_name);
    }
    cv_mesh **parts = cv_calloc(n + 1, sizeof *parts);
    cv_status rc = parts ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh %" PRIu64, id);
    size_t k = 0;
    for (size_t i = 0; i < n && rc == CV_OK; i++) {
        if (!names[i][0]) {
            continue; /* the sharded manifest's placeholder for an unmeshed id */
        }
        char what[2200];
        uint8_t *data;
        size_t len;
        rc = fetch_fragment(v, names[i], sharded, id, &data, &len, what, sizeof what);
        if (rc == CV_OK) {
            rc = decode_fragment(data, len, what, sharded, &parts[k]);
            k += rc == CV_OK;
            cv_free(data);
        }
    }
    if (rc == CV_OK && k == 0) {
        rc = CV_FAIL(CV_ERR_NOTFOUND, "mesh %" PRIu64 ": the manifest of %s lists no fragment", id,
                     v->graphene->url.base);
    }
    if (rc == CV_OK) {
        rc = cv_mesh_concat((const cv_mesh *const *)parts, k, out);
    }
    if (rc == CV_OK) {
        (*out)->id = id;
    }
    for (size_t i = 0; parts && i < k; i++) {
        cv_mesh_free(parts[i]);
    }
    cv_free(parts);
    for (size_t i = 0; i < n; i++) {
        cv_free(names[i]);
    }
    cv_free(names);
    return rc;
}
