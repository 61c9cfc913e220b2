/* SPDX-License-Identifier: BSD-3-Clause
 * mesh_store.c: a layer's mesh directory (precomputed-mesh-skeleton §1-3, CloudVolume's
 * PrecomputedMeshSource): the mesh info (absent = legacy), legacy meshes through "<id>:0"
 * manifests and their fragments (read, put as CloudVolume does, list), and multi-resolution
 * meshes: the binary manifest ("<id>.index" or the shard entry), the fragment bytes of one
 * level of detail by one ranged read, decoded through the Draco shim and placed in nm. */
#include "base/json_py.h"
#include "mesh/mesh.h"
#include "shard/shard.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cv_meshes {
    cv_volume *vol;
    cv_store *store;
    char *dir;
    bool is_multires;
    bool has_transform;
    double transform[12];
    int quant_bits;
    char *sharding_json;
    cv_shard_reader *reader;
};

static const char default_info[] =
    "{\"@type\": \"neuroglancer_legacy_mesh\", \"spatial_index\": null}";

static cv_status bad_info(const cv_meshes *k, const char *msg)
{
    return CV_FAIL(CV_ERR_INFO, "mesh info `%s/%s/info': %s", cv_store_url(k->store), k->dir, msg);
}

static cv_status parse_info(cv_meshes *k, const char *text, size_t len)
{
    char what[CV_SHARD_KEY_MAX + 64];
    snprintf(what, sizeof what, "%s/%s/info", cv_store_url(k->store), k->dir);
    cJSON *root;
    CV_TRY(cv__json_parse(text, len, what, &root));
    cv_status rc = CV_OK;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "@type");
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(root, "transform");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(root, "sharding");
    if (!cJSON_IsObject(root) || !cJSON_IsString(type)) {
        rc = bad_info(k, "\"@type\" is required");
    } else if (strcmp(type->valuestring, "neuroglancer_multilod_draco") == 0) {
        k->is_multires = true;
        const cJSON *bits = cJSON_GetObjectItemCaseSensitive(root, "vertex_quantization_bits");
        const cJSON *mul = cJSON_GetObjectItemCaseSensitive(root, "lod_scale_multiplier");
        if (!cv__json_is_int(bits) || bits->valuedouble < 1 || bits->valuedouble > 32) {
            rc = bad_info(k, "\"vertex_quantization_bits\" must be an integer 1..32");
        } else if (!cJSON_IsNumber(mul) || !(mul->valuedouble > 0)) {
            rc = bad_info(k, "\"lod_scale_multiplier\" must be a positive number");
        } else if (!tr) {
            rc = bad_info(k, "\"transform\" is required");
        }
        k->quant_bits = bits && cJSON_IsNumber(bits) ? (int)bits->valuedouble : 0;
    } else if (strcmp(type->valuestring, "neuroglancer_legacy_mesh") != 0) {
        rc = bad_info(k, "unknown \"@type\"");
    }
    if (rc == CV_OK && tr && !cJSON_IsNull(tr)) {
        int i = 0;
        for (const cJSON *c = cJSON_IsArray(tr) ? tr->child : NULL; c && i < 12; c = c->next) {
            if (cJSON_IsNumber(c)) {
                k->transform[i++] = c->valuedouble;
            }
        }
        if (i != 12 || cJSON_GetArraySize(tr) != 12) {
            rc = bad_info(k, "\"transform\" must be 12 numbers");
        }
        k->has_transform = true;
    }
    if (rc == CV_OK && sh && !cJSON_IsNull(sh)) {
        if (!k->is_multires) {
            rc = bad_info(k, "legacy meshes are never sharded");
        } else {
            char *s = cJSON_PrintUnformatted(sh);
            k->sharding_json = s ? cv__strdup(s) : NULL;
            cJSON_free(s);
            rc = k->sharding_json
                     ? cv_shard_reader_open(k->store, k->dir, k->sharding_json, &k->reader)
                     : CV_FAIL(CV_ERR_NOMEM, "mesh info");
        }
    }
    cJSON_Delete(root);
    return rc;
}

cv_status cv_meshes_open(cv_volume *vol, bool create, cv_meshes **out)
{
    cv_meshes *k = cv_calloc(1, sizeof *k);
    if (!k) {
        return CV_FAIL(CV_ERR_NOMEM, "meshes");
    }
    const double identity[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
    memcpy(k->transform, identity, sizeof identity);
    k->vol = vol;
    k->store = cv_volume_store(vol);
    const cv_info *vi = cv_volume_info(vol);
    const char *dir = vi->mesh && vi->mesh[0] ? vi->mesh : "mesh";
    while (*dir == '/') {
        dir++;
    }
    k->dir = cv__strdup(dir);
    if (!k->dir) {
        cv_free(k);
        return CV_FAIL(CV_ERR_NOMEM, "meshes");
    }
    for (size_t n = strlen(k->dir); n > 0 && k->dir[n - 1] == '/'; n--) {
        k->dir[n - 1] = '\0';
    }
    char key[CV_SHARD_KEY_MAX];
    snprintf(key, sizeof key, "%s/info", k->dir);
    uint8_t *data = NULL;
    size_t len = 0;
    cv_status rc = cv_store_get(k->store, key, 1 << 20, &data, &len);
    if (rc == CV_OK) {
        rc = parse_info(k, (const char *)data, len);
    } else if (rc == CV_ERR_NOTFOUND) {
        cv_err_clear();
        rc = CV_OK;
        if (create) {
            rc = cv_store_put(k->store, key, default_info, sizeof default_info - 1, NULL, -1,
                              "application/json");
        }
    }
    cv_free(data);
    if (rc == CV_OK && create && !vi->mesh) {
        cv_info *mi = cv_volume_info_mut(vol);
        mi->mesh = cv__strdup(k->dir);
        rc = mi->mesh ? cv_volume_commit_info(vol) : CV_FAIL(CV_ERR_NOMEM, "meshes");
    }
    if (rc != CV_OK) {
        cv_meshes_close(k);
        return rc;
    }
    *out = k;
    return CV_OK;
}

void cv_meshes_close(cv_meshes *k)
{
    if (!k) {
        return;
    }
    cv_shard_reader_close(k->reader);
    cv_free(k->sharding_json);
    cv_free(k->dir);
    cv_free(k);
}

const char *cv_meshes_dir(const cv_meshes *k)
{
    return k->dir;
}

bool cv_meshes_is_multires(const cv_meshes *k)
{
    return k->is_multires;
}

bool cv_meshes_is_sharded(const cv_meshes *k)
{
    return k->reader != NULL;
}

static void apply_transform(cv_mesh *m, const double t[12])
{
    for (size_t i = 0; i < m->n_vertices; i++) {
        float *v = m->vertices + 3 * i;
        double x = v[0], y = v[1], z = v[2];
        for (int r = 0; r < 3; r++) {
            v[r] = (float)(t[4 * r] * x + t[4 * r + 1] * y + t[4 * r + 2] * z + t[4 * r + 3]);
        }
    }
}

/* ---- legacy ---------------------------------------------------------------------------------- */

/* The fragment names of `id`'s manifest; CV_ERR_NOTFOUND (quietly) without one. */
static cv_status read_manifest(cv_meshes *k, uint64_t id, char ***names, size_t *n)
{
    char key[CV_SHARD_KEY_MAX], what[CV_SHARD_KEY_MAX + 64];
    snprintf(key, sizeof key, "%s/%" PRIu64 ":0", k->dir, id);
    snprintf(what, sizeof what, "%s/%s", cv_store_url(k->store), key);
    uint8_t *data;
    size_t len;
    cv_status rc = cv_store_get(k->store, key, 64 << 20, &data, &len);
    if (rc == CV_ERR_NOTFOUND) {
        return cv__notfound("mesh %" PRIu64 ": no manifest `%s'", id, what);
    }
    CV_TRY(rc);
    cJSON *root;
    rc = cv__json_parse((const char *)data, len, what, &root);
    cv_free(data);
    CV_TRY(rc);
    const cJSON *frags = cJSON_GetObjectItemCaseSensitive(root, "fragments");
    if (!cJSON_IsArray(frags)) {
        cJSON_Delete(root);
        return CV_FAIL(CV_ERR_CORRUPT, "mesh manifest `%s': no \"fragments\" array", what);
    }
    size_t count = (size_t)cJSON_GetArraySize(frags);
    char **list = cv_calloc(count + 1, sizeof *list);
    size_t i = 0;
    rc = list ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh manifest");
    for (const cJSON *c = frags->child; c && rc == CV_OK; c = c->next, i++) {
        if (!cJSON_IsString(c) || !c->valuestring[0]) {
            rc = CV_FAIL(CV_ERR_CORRUPT, "mesh manifest `%s': fragment %zu is not a name", what, i);
            break;
        }
        list[i] = cv__strdup(c->valuestring);
        rc = list[i] ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh manifest");
    }
    cJSON_Delete(root);
    if (rc != CV_OK) {
        for (size_t j = 0; list && j < count; j++) {
            cv_free(list[j]);
        }
        cv_free(list);
        return rc;
    }
    *names = list;
    *n = count;
    return CV_OK;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++) {
        cv_free(names[i]);
    }
    cv_free(names);
}

static cv_status get_legacy(cv_meshes *k, uint64_t id, cv_mesh **out)
{
    char **names;
    size_t n;
    CV_TRY(read_manifest(k, id, &names, &n));
    cv_mesh **parts = cv_calloc(n + 1, sizeof *parts);
    cv_status rc = parts ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh %" PRIu64, id);
    for (size_t i = 0; i < n && rc == CV_OK; i++) {
        char key[CV_SHARD_KEY_MAX], what[CV_SHARD_KEY_MAX + 64];
        snprintf(key, sizeof key, "%s/%s", k->dir, names[i]);
        snprintf(what, sizeof what, "`%s/%s'", cv_store_url(k->store), key);
        uint8_t *data;
        size_t len;
        rc = cv_store_get(k->store, key, 0, &data, &len);
        if (rc == CV_ERR_NOTFOUND) {
            cv_err_clear();
            rc = CV_FAIL(CV_ERR_NOTFOUND,
                         "mesh %" PRIu64 ": fragment %s named by manifest `%s/%" PRIu64
                         ":0' is missing",
                         id, what, k->dir, id);
            break;
        }
        if (rc == CV_OK) {
            rc = cv_mesh_fragment_decode(data, len, what, &parts[i]);
            cv_free(data);
        }
    }
    if (rc == CV_OK) {
        rc = cv_mesh_concat((const cv_mesh *const *)parts, n, out);
    }
    if (rc == CV_OK) {
        (*out)->id = id;
        if (k->has_transform) {
            apply_transform(*out, k->transform);
        }
    }
    for (size_t i = 0; parts && i < n; i++) {
        cv_mesh_free(parts[i]);
    }
    cv_free(parts);
    free_names(names, n);
    return rc;
}

cv_status cv_meshes_put(cv_meshes *k, uint64_t id, const cv_mesh *m)
{
    if (k->is_multires) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       "mesh %" PRIu64 ": writing multi-resolution meshes (%s/%s) is not supported",
                       id, cv_store_url(k->store), k->dir);
    }
    /* CloudVolume deletes the fragments an older manifest lists first. */
    char **names;
    size_t n;
    cv_status rc = read_manifest(k, id, &names, &n);
    if (rc == CV_OK) {
        for (size_t i = 0; i < n && rc == CV_OK; i++) {
            char key[CV_SHARD_KEY_MAX];
            snprintf(key, sizeof key, "%s/%s", k->dir, names[i]);
            rc = cv_store_delete(k->store, key);
        }
        free_names(names, n);
    } else if (rc == CV_ERR_NOTFOUND) {
        cv_err_clear();
        rc = CV_OK;
    }
    CV_TRY(rc);
    uint8_t *data;
    size_t len;
    CV_TRY(cv_mesh_fragment_encode(m, &data, &len));
    char key[CV_SHARD_KEY_MAX], manifest[128];
    snprintf(key, sizeof key, "%s/%" PRIu64 ":0:1", k->dir, id);
    rc = cv_store_put(k->store, key, data, len, "gzip", 6, "application/octet-stream");
    cv_free(data);
    CV_TRY(rc);
    int mn = snprintf(manifest, sizeof manifest, "{\"fragments\": [\"%" PRIu64 ":0:1\"]}", id);
    snprintf(key, sizeof key, "%s/%" PRIu64 ":0", k->dir, id);
    return cv_store_put(k->store, key, manifest, (size_t)mn, NULL, -1, "application/json");
}

/* ---- multi-resolution ------------------------------------------------------------------------ */

/* The manifest of `id`, and where its fragment data starts: in `object` at *data_offset. */
static cv_status multires_manifest(cv_meshes *k, uint64_t id, cv_multires_manifest **man,
                                   char *object, size_t cap, uint64_t *data_offset)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char what[CV_SHARD_KEY_MAX + 128];
    cv_status rc;
    if (k->reader) {
        uint64_t off, length;
        rc = cv__shard_reader_locate(k->reader, id, object, cap, &off, &length);
        if (rc == CV_ERR_NOTFOUND) {
            return cv__notfound("mesh %" PRIu64 ": not in the shards of %s/%s", id,
                                cv_store_url(k->store), k->dir);
        }
        CV_TRY(rc);
        snprintf(what, sizeof what, "%" PRIu64 " (manifest in %s/%s)", id, cv_store_url(k->store),
                 object);
        size_t got;
        uint8_t *raw;
        CV_TRY(cv_store_get_range(k->store, object, off, length, &raw, &got));
        if (got != length) {
            cv_free(raw);
            return CV_FAIL(CV_ERR_CORRUPT, "mesh %s: truncated", what);
        }
        cv_buf b;
        cv__buf_init(&b, 64 << 20);
        rc = cv__shard_reader_decode(k->reader, id, raw, got, &b);
        cv_free(raw);
        if (rc != CV_OK) {
            cv__buf_fini(&b);
            return rc;
        }
        data = cv__buf_take(&b, &len);
        *data_offset = off; /* fragments end where the manifest starts */
    } else {
        char key[CV_SHARD_KEY_MAX];
        snprintf(key, sizeof key, "%s/%" PRIu64 ".index", k->dir, id);
        snprintf(what, sizeof what, "`%s/%s'", cv_store_url(k->store), key);
        rc = cv_store_get(k->store, key, 64 << 20, &data, &len);
        if (rc == CV_ERR_NOTFOUND) {
            return cv__notfound("mesh %" PRIu64 ": no manifest %s", id, what);
        }
        CV_TRY(rc);
        snprintf(object, cap, "%s/%" PRIu64, k->dir, id);
        *data_offset = 0;
    }
    rc = cv_multires_manifest_decode(data, len, what, man);
    cv_free(data);
    CV_TRY(rc);
    if (k->reader) {
        if ((*man)->data_bytes > *data_offset) {
            cv_multires_manifest_free(*man);
            return CV_FAIL(CV_ERR_CORRUPT,
                           "mesh %s: %" PRIu64 " bytes of fragments do not fit before it", what,
                           (*man)->data_bytes);
        }
        *data_offset -= (*man)->data_bytes;
    }
    return CV_OK;
}

cv_status cv_meshes_lods(cv_meshes *k, uint64_t id, int *n)
{
    if (!k->is_multires) {
        char **names;
        size_t count;
        CV_TRY(read_manifest(k, id, &names, &count));
        free_names(names, count);
        *n = 1;
        return CV_OK;
    }
    cv_multires_manifest *man;
    char object[CV_SHARD_KEY_MAX];
    uint64_t off;
    CV_TRY(multires_manifest(k, id, &man, object, sizeof object, &off));
    *n = (int)man->num_lods;
    cv_multires_manifest_free(man);
    return CV_OK;
}

static cv_status get_multires(cv_meshes *k, uint64_t id, int lod, cv_mesh **out)
{
    cv_multires_manifest *man;
    char object[CV_SHARD_KEY_MAX];
    uint64_t base;
    CV_TRY(multires_manifest(k, id, &man, object, sizeof object, &base));
    cv_status rc = CV_OK;
    if (lod < 0 || (uint32_t)lod >= man->num_lods) {
        rc = CV_FAIL(CV_ERR_ARG, "mesh %" PRIu64 ": level of detail %d of %" PRIu32, id, lod,
                     man->num_lods);
        cv_multires_manifest_free(man);
        return rc;
    }
    uint64_t start = 0, length = 0;
    for (int l = 0; l <= lod; l++) {
        for (uint32_t i = 0; i < man->num_fragments[l]; i++) {
            *(l < lod ? &start : &length) += man->fragment_sizes[l][i];
        }
    }
    uint8_t *bytes = NULL;
    size_t got = 0;
    if (length) {
        rc = cv_store_get_range(k->store, object, base + start, length, &bytes, &got);
        if (rc == CV_OK && got != length) {
            rc = CV_FAIL(CV_ERR_CORRUPT,
                         "mesh %" PRIu64 ": `%s/%s' ends before the fragments of lod %d", id,
                         cv_store_url(k->store), object, lod);
        }
    }
    uint32_t n = man->num_fragments[lod];
    cv_mesh **parts = cv_calloc((size_t)n + 1, sizeof *parts);
    if (rc == CV_OK && !parts) {
        rc = CV_FAIL(CV_ERR_NOMEM, "mesh %" PRIu64, id);
    }
    double scale = ldexp(1.0, lod);
    double qmax = ldexp(1.0, k->quant_bits) - 1;
    uint64_t at = 0;
    size_t n_parts = 0;
    for (uint32_t i = 0; i < n && rc == CV_OK; i++) {
        uint32_t size = man->fragment_sizes[lod][i];
        if (size == 0) {
            continue;
        }
        char what[CV_SHARD_KEY_MAX + 128];
        snprintf(what, sizeof what, "mesh %" PRIu64 " lod %d fragment %" PRIu32 " in `%s/%s'", id,
                 lod, i, cv_store_url(k->store), object);
        uint32_t *q, *faces, nv, nf;
        rc = cv_draco_decode(bytes + at, size, what, &q, &nv, &faces, &nf);
        at += size;
        if (rc != CV_OK) {
            break;
        }
        cv_mesh *m;
        rc = cv_mesh_new(nv, nf, &m);
        if (rc == CV_OK) {
            for (uint32_t v = 0; v < nv; v++) {
                for (int d = 0; d < 3; d++) {
                    double pos = man->fragment_positions[lod][(size_t)d * n + i];
                    double x = man->grid_origin[d] + man->vertex_offsets[3 * lod + d] +
                               man->chunk_shape[d] * scale * (pos + q[3 * (size_t)v + d] / qmax);
                    m->vertices[3 * (size_t)v + d] = (float)x;
                }
            }
            memcpy(m->faces, faces, 12 * (size_t)nf);
            parts[n_parts++] = m;
        }
        cv_free(q);
        cv_free(faces);
    }
    if (rc == CV_OK) {
        rc = cv_mesh_concat((const cv_mesh *const *)parts, n_parts, out);
    }
    if (rc == CV_OK) {
        (*out)->id = id;
        apply_transform(*out, k->transform);
    }
    for (size_t i = 0; i < n_parts; i++) {
        cv_mesh_free(parts[i]);
    }
    cv_free(parts);
    cv_free(bytes);
    cv_multires_manifest_free(man);
    return rc;
}

cv_status cv_meshes_get(cv_meshes *k, uint64_t id, int lod, cv_mesh **out)
{
    if (!k->is_multires) {
        if (lod != 0) {
            return CV_FAIL(CV_ERR_ARG, "mesh %" PRIu64 ": legacy meshes have only lod 0", id);
        }
        return get_legacy(k, id, out);
    }
    return get_multires(k, id, lod, out);
}

/* ---- writing multi-resolution meshes ------------------------------------------------------- */

cv_status cv__meshes_put_multires(cv_meshes *k, uint64_t id, const uint8_t *data, size_t len,
                                  size_t manifest_len)
{
    char key[CV_SHARD_KEY_MAX];
    if (manifest_len > len) {
        return CV_FAIL(CV_ERR_ARG, "mesh %" PRIu64 ": manifest longer than the data", id);
    }
    /* no transport compression: readers take byte ranges of the fragment data */
    snprintf(key, sizeof key, "%s/%" PRIu64, k->dir, id);
    CV_TRY(cv_store_put(k->store, key, data, len - manifest_len, NULL, -1,
                        "application/octet-stream"));
    snprintf(key, sizeof key, "%s/%" PRIu64 ".index", k->dir, id);
    return cv_store_put(k->store, key, data + len - manifest_len, manifest_len, NULL, -1,
                        "application/octet-stream");
}

cv_status cv__meshes_write_shard(cv_meshes *k, const cv_shard_spec *spec, const uint64_t *ids,
                                 uint8_t *const *data, const size_t *len,
                                 const size_t *manifest_len, size_t n, uint64_t *shard_out)
{
    cv_shard_item *items = cv_calloc(n + 1, sizeof *items);
    if (!items) {
        return CV_FAIL(CV_ERR_NOMEM, "mesh shard of %zu labels", n);
    }
    for (size_t i = 0; i < n; i++) {
        items[i] = (cv_shard_item){ids[i], data[i], len[i]};
    }
    uint64_t shard;
    uint8_t *file = NULL;
    size_t flen = 0;
    cv_status rc = cv__shard_build_tail(spec, items, manifest_len, n, &shard, &file, &flen);
    cv_free(items);
    char key[CV_SHARD_KEY_MAX];
    if (rc == CV_OK) {
        rc = cv__shard_object_key(k->dir, spec, shard, key, sizeof key);
    }
    if (rc == CV_OK) {
        rc = cv_store_put(k->store, key, file, flen, NULL, -1, "application/octet-stream");
        cv__shard_cache_invalidate(cv_store_url(k->store), key);
    }
    cv_free(file);
    if (rc == CV_OK && shard_out) {
        *shard_out = shard;
    }
    return rc;
}

cv_status cv__meshes_set_multires(cv_meshes *k, int vqb, const double res[3],
                                  const cv_shard_spec *spec)
{
    char key[CV_SHARD_KEY_MAX], what[CV_SHARD_KEY_MAX + 64];
    snprintf(key, sizeof key, "%s/info", k->dir);
    snprintf(what, sizeof what, "%s/%s", cv_store_url(k->store), key);
    uint8_t *data = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    cv_status rc = cv_store_get(k->store, key, 1 << 20, &data, &len);
    if (rc == CV_OK) {
        rc = cv__json_parse((const char *)data, len, what, &root);
        if (rc == CV_OK && !cJSON_IsObject(root)) {
            rc = bad_info(k, "not a JSON object");
        }
    } else if (rc == CV_ERR_NOTFOUND) {
        cv_err_clear();
        rc = cv__json_parse(default_info, sizeof default_info - 1, what, &root);
    }
    cv_free(data);
    CV_TRY(rc);
    /* igneous' configure_multires_info: other members (mip, chunk_size, spatial_index) stay */
    cJSON *tr = cJSON_CreateArray();
    for (int i = 0; tr && i < 12; i++) {
        double v = i == 0 ? res[0] : i == 5 ? res[1] : i == 10 ? res[2] : 0;
        cJSON *num = cJSON_CreateNumber(v);
        if (!num || !cJSON_AddItemToArray(tr, num)) {
            cJSON_Delete(num);
            cJSON_Delete(tr);
            tr = NULL;
        } else if (v != floor(v)) {
            num->type |= CV_JSON_FLOAT;
        }
    }
    cJSON *sh = NULL;
    if (spec) {
        const char *enc[] = {"raw", "gzip"};
        sh = cJSON_CreateObject();
        if (sh &&
            !(cJSON_AddStringToObject(sh, "@type", "neuroglancer_uint64_sharded_v1") &&
              cJSON_AddNumberToObject(sh, "preshift_bits", spec->preshift_bits) &&
              cJSON_AddStringToObject(
                  sh, "hash",
                  spec->hash == CV_SHARD_HASH_IDENTITY ? "identity" : "murmurhash3_x86_128") &&
              cJSON_AddNumberToObject(sh, "minishard_bits", spec->minishard_bits) &&
              cJSON_AddNumberToObject(sh, "shard_bits", spec->shard_bits) &&
              cJSON_AddStringToObject(sh, "minishard_index_encoding",
                                      enc[spec->minishard_index_encoding]) &&
              cJSON_AddStringToObject(sh, "data_encoding", enc[spec->data_encoding]))) {
            cJSON_Delete(sh);
            sh = NULL;
        }
    }
    cJSON *type = cJSON_CreateString("neuroglancer_multilod_draco");
    cJSON *bits = cJSON_CreateNumber(vqb);
    cJSON *mul = cJSON_CreateRaw("1.0");
    cJSON *shv = sh ? sh : cJSON_CreateNull();
    const char *names[5] = {"@type", "vertex_quantization_bits", "transform",
                            "lod_scale_multiplier", "sharding"};
    cJSON *vals[5] = {type, bits, tr, mul, shv};
    rc = CV_OK;
    for (int i = 0; i < 5; i++) {
        if (!vals[i]) {
            rc = CV_FAIL(CV_ERR_NOMEM, "mesh info");
        }
    }
    for (int i = 0; i < 5; i++) {
        if (rc != CV_OK) {
            cJSON_Delete(vals[i]);
        } else if (cJSON_GetObjectItemCaseSensitive(root, names[i])) {
            cJSON_ReplaceItemInObjectCaseSensitive(root, names[i], vals[i]);
        } else {
            cJSON_AddItemToObject(root, names[i], vals[i]);
        }
    }
    if (rc == CV_OK && !spec) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "sharding");
    }
    char *text = NULL;
    size_t tlen = 0;
    if (rc == CV_OK) {
        rc = cv__json_dump_py_compact(root, &text, &tlen);
    }
    cJSON_Delete(root);
    if (rc == CV_OK) {
        rc = cv_store_put(k->store, key, text, tlen, NULL, -1, "application/json");
    }
    cv_free(text);
    CV_TRY(rc);
    /* read it back: this handle now serves the multi-resolution meshes */
    cv_shard_reader_close(k->reader);
    k->reader = NULL;
    cv_free(k->sharding_json);
    k->sharding_json = NULL;
    k->is_multires = false;
    k->has_transform = false;
    uint8_t *again = NULL;
    rc = cv_store_get(k->store, key, 1 << 20, &again, &len);
    if (rc == CV_OK) {
        rc = parse_info(k, (const char *)again, len);
    }
    cv_free(again);
    return rc;
}

/* ---- listing --------------------------------------------------------------------------------- */

typedef struct id_list {
    uint64_t *ids;
    size_t n, cap;
    cv_meshes *k;
    size_t dir_len;
} id_list;

static cv_status push_id(id_list *l, uint64_t id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        uint64_t *p = cv_realloc(l->ids, cap * sizeof *p);
        if (!p) {
            return CV_FAIL(CV_ERR_NOMEM, "list meshes");
        }
        l->ids = p;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return CV_OK;
}

static cv_status entry_id(uint64_t key, void *arg)
{
    return push_id(arg, key);
}

static cv_status list_key(const char *key, void *arg)
{
    id_list *l = arg;
    cv_meshes *k = l->k;
    if (strncmp(key, k->dir, l->dir_len) != 0 || key[l->dir_len] != '/') {
        return CV_OK;
    }
    const char *name = key + l->dir_len + 1;
    char buf[64];
    size_t n = strlen(name);
    uint64_t id;
    const char *suffix = !k->is_multires ? ":0" : k->reader ? ".shard" : ".index";
    size_t sn = strlen(suffix);
    if (n <= sn || n - sn >= sizeof buf || strcmp(name + n - sn, suffix) != 0) {
        return CV_OK;
    }
    memcpy(buf, name, n - sn);
    buf[n - sn] = '\0';
    if (!k->reader) {
        return cv__parse_segid(buf, &id) ? push_id(l, id) : CV_OK;
    }
    return cv__shard_file_keys(k->store, key, cv_shard_reader_spec(k->reader), entry_id, l);
}

cv_status cv_meshes_list(cv_meshes *k, uint64_t **ids, size_t *n)
{
    id_list l = {NULL, 0, 0, k, strlen(k->dir)};
    char prefix[CV_SHARD_KEY_MAX];
    snprintf(prefix, sizeof prefix, "%s/", k->dir);
    cv_status rc = cv_store_list(k->store, prefix, list_key, &l);
    if (rc != CV_OK) {
        cv_free(l.ids);
        return rc;
    }
    cv__sort_ids(l.ids, &l.n);
    *ids = l.ids;
    *n = l.n;
    return CV_OK;
}

cv_status cv_meshes_query(cv_meshes *k, const double min[3], const double max[3], uint64_t **ids,
                          size_t *n)
{
    char key[CV_SHARD_KEY_MAX];
    snprintf(key, sizeof key, "%s/info", k->dir);
    uint8_t *data = NULL;
    size_t len = 0;
    cv_status rc = cv_store_get(k->store, key, 1 << 20, &data, &len);
    bool has_index = false;
    if (rc == CV_OK) {
        cJSON *root = NULL;
        rc = cv__json_parse((const char *)data, len, key, &root);
        has_index =
            rc == CV_OK && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "spatial_index"));
        cJSON_Delete(root);
    } else if (rc == CV_ERR_NOTFOUND) {
        cv_err_clear();
        rc = CV_OK;
    }
    cv_free(data);
    CV_TRY(rc);
    if (!has_index) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, "meshes of %s: the mesh info has no spatial_index",
                       cv_store_url(k->store));
    }
    return cv__spatial_query(k->store, k->dir, min, max, ids, n);
}
