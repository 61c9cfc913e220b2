/* SPDX-License-Identifier: BSD-3-Clause
 * skeleton_store.c: a layer's skeleton directory (precomputed skeletons.md §storage,
 * CloudVolume's PrecomputedSkeletonSource): its info (transform, vertex_attributes, sharding,
 * spatial_index; CloudVolume's default when absent, written as json.dumps does), skeletons by
 * segment id unsharded ("<dir>/<id>", gzip) or sharded (murmurhash shards through the shard
 * reader and writer), listing, and the spatial index query. No MPI here. */
#include "base/json_py.h"
#include "shard/shard.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cv_skeletons {
    cv_volume *vol;
    cv_store *store;
    char *dir;
    cJSON *info; /* the info as read (or CloudVolume's default), rewritten on change */
    double transform[12];
    cv_skel_attr attrs[CV_SKEL_MAX_ATTRS];
    int n_attrs;
    char *sharding_json;
    cv_shard_spec spec;
    cv_shard_reader *reader;
};

/* CloudVolume's default_info(), in its key order ("sharding": null is dropped on commit). */
static const char default_info[] =
    "{\"@type\": \"neuroglancer_skeletons\", \"transform\": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], "
    "\"vertex_attributes\": [{\"id\": \"radius\", \"data_type\": \"float32\", \"num_components\": "
    "1}, {\"id\": \"vertex_types\", \"data_type\": \"uint8\", \"num_components\": 1}], "
    "\"spatial_index\": null}";

static cv_status bad_info(const cv_skeletons *k, const char *fmt, ...) CV_PRINTF(2, 3);
static cv_status bad_info(const cv_skeletons *k, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return CV_FAIL(CV_ERR_INFO, "skeleton info `%s/%s/info': %s", cv_store_url(k->store), k->dir,
                   msg);
}

/* Fill the parsed fields from k->info. */
static cv_status parse_info(cv_skeletons *k)
{
    const cJSON *root = k->info;
    if (!cJSON_IsObject(root)) {
        return bad_info(k, "not a JSON object");
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "@type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "neuroglancer_skeletons") != 0) {
        return bad_info(k, "\"@type\" must be \"neuroglancer_skeletons\"");
    }
    const double identity[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
    memcpy(k->transform, identity, sizeof identity);
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(root, "transform");
    if (tr && !cJSON_IsNull(tr)) {
        if (!cJSON_IsArray(tr) || cJSON_GetArraySize(tr) != 12) {
            return bad_info(k, "\"transform\" must be 12 numbers");
        }
        int i = 0;
        for (const cJSON *c = tr->child; c; c = c->next, i++) {
            if (!cJSON_IsNumber(c)) {
                return bad_info(k, "\"transform\" must be 12 numbers");
            }
            k->transform[i] = c->valuedouble;
        }
    }
    k->n_attrs = 0;
    const cJSON *va = cJSON_GetObjectItemCaseSensitive(root, "vertex_attributes");
    if (va && !cJSON_IsNull(va)) {
        if (!cJSON_IsArray(va)) {
            return bad_info(k, "\"vertex_attributes\" must be an array");
        }
        for (const cJSON *c = va->child; c; c = c->next) {
            if (k->n_attrs == CV_SKEL_MAX_ATTRS) {
                return bad_info(k, "more than 16 vertex attributes");
            }
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
            const cJSON *dt = cJSON_GetObjectItemCaseSensitive(c, "data_type");
            const cJSON *nc = cJSON_GetObjectItemCaseSensitive(c, "num_components");
            if (!cJSON_IsString(id) || !id->valuestring[0] ||
                strlen(id->valuestring) >= CV_SKEL_ID_MAX) {
                return bad_info(k, "a vertex attribute needs an \"id\" (1-63 characters)");
            }
            cv_skel_attr *a = &k->attrs[k->n_attrs];
            memset(a, 0, sizeof *a);
            snprintf(a->id, sizeof a->id, "%s", id->valuestring);
            for (int j = 0; j < k->n_attrs; j++) {
                if (strcmp(k->attrs[j].id, a->id) == 0) {
                    return bad_info(k, "vertex attribute \"%s\" given twice", a->id);
                }
            }
            a->dtype = cJSON_IsString(dt) ? cv_dtype_from_name(dt->valuestring) : CV_DTYPE_INVALID;
            if (!cv__skel_attr_dtype_ok(a->dtype)) {
                return bad_info(k, "vertex attribute \"%s\": bad \"data_type\"", a->id);
            }
            if (!cv__json_is_int(nc) || nc->valuedouble < 1 || nc->valuedouble > 1024) {
                return bad_info(k, "vertex attribute \"%s\": bad \"num_components\"", a->id);
            }
            a->components = (uint32_t)nc->valuedouble;
            k->n_attrs++;
        }
    }
    cv_free(k->sharding_json);
    k->sharding_json = NULL;
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(root, "sharding");
    if (sh && !cJSON_IsNull(sh)) {
        char *text = cJSON_PrintUnformatted(sh);
        if (!text) {
            return CV_FAIL(CV_ERR_NOMEM, "skeleton info");
        }
        k->sharding_json = cv__strdup(text);
        cJSON_free(text);
        if (!k->sharding_json) {
            return CV_FAIL(CV_ERR_NOMEM, "skeleton info");
        }
        char what[256];
        snprintf(what, sizeof what, "skeleton info `%s/%s/info' sharding", cv_store_url(k->store),
                 k->dir);
        CV_TRY(cv_shard_spec_parse(k->sharding_json, strlen(k->sharding_json), what, &k->spec));
    }
    return CV_OK;
}

static cv_status write_info(cv_skeletons *k)
{
    char *text;
    size_t len;
    CV_TRY(cv__json_dump_py_compact(k->info, &text, &len));
    char key[CV_SHARD_KEY_MAX];
    snprintf(key, sizeof key, "%s/info", k->dir);
    cv_status rc = cv_store_put(k->store, key, text, len, NULL, -1, "application/json");
    cv_free(text);
    return rc;
}

static cv_status open_reader(cv_skeletons *k)
{
    cv_shard_reader_close(k->reader);
    k->reader = NULL;
    if (k->sharding_json) {
        CV_TRY(cv_shard_reader_open(k->store, k->dir, k->sharding_json, &k->reader));
    }
    return CV_OK;
}

cv_status cv_skeletons_open(cv_volume *vol, bool create, cv_skeletons **out)
{
    cv_skeletons *k = cv_calloc(1, sizeof *k);
    if (!k) {
        return CV_FAIL(CV_ERR_NOMEM, "skeletons");
    }
    k->vol = vol;
    k->store = cv_volume_store(vol);
    const cv_info *vi = cv_volume_info(vol);
    const char *dir = vi->skeletons && vi->skeletons[0] ? vi->skeletons : "skeletons";
    /* Strip slashes around the directory name. */
    while (*dir == '/') {
        dir++;
    }
    k->dir = cv__strdup(dir);
    if (!k->dir) {
        cv_free(k);
        return CV_FAIL(CV_ERR_NOMEM, "skeletons");
    }
    for (size_t n = strlen(k->dir); n > 0 && k->dir[n - 1] == '/'; n--) {
        k->dir[n - 1] = '\0';
    }
    char key[CV_SHARD_KEY_MAX], what[CV_SHARD_KEY_MAX + 64];
    snprintf(key, sizeof key, "%s/info", k->dir);
    snprintf(what, sizeof what, "%s/%s", cv_store_url(k->store), key);
    uint8_t *data = NULL;
    size_t len = 0;
    cv_status rc = cv_store_get(k->store, key, 1 << 20, &data, &len);
    bool is_default = rc == CV_ERR_NOTFOUND;
    if (is_default) {
        cv_err_clear();
        rc = cv__json_parse(default_info, sizeof default_info - 1, "default skeleton info",
                            &k->info);
    } else if (rc == CV_OK) {
        rc = cv__json_parse((const char *)data, len, what, &k->info);
    }
    cv_free(data);
    if (rc == CV_OK) {
        rc = parse_info(k);
    }
    if (rc == CV_OK && create && is_default) {
        rc = write_info(k);
    }
    if (rc == CV_OK && create && !vi->skeletons) {
        cv_info *mi = cv_volume_info_mut(vol);
        mi->skeletons = cv__strdup(k->dir);
        rc = mi->skeletons ? cv_volume_commit_info(vol) : CV_FAIL(CV_ERR_NOMEM, "skeletons");
    }
    if (rc == CV_OK) {
        rc = open_reader(k);
    }
    if (rc != CV_OK) {
        cv_skeletons_close(k);
        return rc;
    }
    *out = k;
    return CV_OK;
}

void cv_skeletons_close(cv_skeletons *k)
{
    if (!k) {
        return;
    }
    cv_shard_reader_close(k->reader);
    cJSON_Delete(k->info);
    cv_free(k->sharding_json);
    cv_free(k->dir);
    cv_free(k);
}

const char *cv_skeletons_dir(const cv_skeletons *k)
{
    return k->dir;
}

bool cv_skeletons_is_sharded(const cv_skeletons *k)
{
    return k->sharding_json != NULL;
}

int cv_skeletons_attrs(const cv_skeletons *k, const cv_skel_attr **attrs)
{
    *attrs = k->attrs;
    return k->n_attrs;
}

cv_status cv_skeletons_set_sharding(cv_skeletons *k, const cv_shard_spec *spec)
{
    cJSON *sh = NULL;
    if (spec) {
        CV_TRY(cv_shard_spec_validate(spec));
        /* CloudVolume's ShardingSpecification.to_dict() order. */
        const char *enc[] = {"raw", "gzip"};
        sh = cJSON_CreateObject();
        if (!sh || !cJSON_AddStringToObject(sh, "@type", "neuroglancer_uint64_sharded_v1") ||
            !cJSON_AddNumberToObject(sh, "preshift_bits", spec->preshift_bits) ||
            !cJSON_AddStringToObject(
                sh, "hash",
                spec->hash == CV_SHARD_HASH_IDENTITY ? "identity" : "murmurhash3_x86_128") ||
            !cJSON_AddNumberToObject(sh, "minishard_bits", spec->minishard_bits) ||
            !cJSON_AddNumberToObject(sh, "shard_bits", spec->shard_bits) ||
            !cJSON_AddStringToObject(sh, "minishard_index_encoding",
                                     enc[spec->minishard_index_encoding]) ||
            !cJSON_AddStringToObject(sh, "data_encoding", enc[spec->data_encoding])) {
            cJSON_Delete(sh);
            return CV_FAIL(CV_ERR_NOMEM, "skeleton info sharding");
        }
    }
    /* Keep the member's place (CloudVolume's dict keeps the default info's key order, where
     * "sharding" follows "vertex_attributes"). */
    if (cJSON_GetObjectItemCaseSensitive(k->info, "sharding")) {
        if (sh) {
            cJSON_ReplaceItemInObjectCaseSensitive(k->info, "sharding", sh);
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(k->info, "sharding");
        }
    } else if (sh) {
        cJSON *after = cJSON_GetObjectItemCaseSensitive(k->info, "vertex_attributes");
        if (after && after->next) {
            sh->string = cv__strdup("sharding");
            /* cJSON has no insert-after for objects: splice by hand. */
            cJSON *next = after->next;
            after->next = sh;
            sh->prev = after;
            sh->next = next;
            next->prev = sh;
        } else {
            cJSON_AddItemToObject(k->info, "sharding", sh);
        }
    }
    CV_TRY(parse_info(k));
    CV_TRY(write_info(k));
    return open_reader(k);
}

static void key_of(const cv_skeletons *k, uint64_t id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%" PRIu64, k->dir, id);
}

cv_status cv_skeletons_get(cv_skeletons *k, uint64_t id, cv_skeleton **out)
{
    uint8_t *data;
    size_t len;
    char key[CV_SHARD_KEY_MAX], what[CV_SHARD_KEY_MAX + 128];
    key_of(k, id, key, sizeof key);
    cv_status rc;
    if (k->reader) {
        snprintf(what, sizeof what, "%" PRIu64 " (sharded, in %s/%s)", id, cv_store_url(k->store),
                 k->dir);
        rc = cv_shard_reader_get(k->reader, id, 0, &data, &len);
    } else {
        snprintf(what, sizeof what, "`%s/%s'", cv_store_url(k->store), key);
        rc = cv_store_get(k->store, key, 0, &data, &len);
    }
    if (rc == CV_ERR_NOTFOUND) {
        return cv__notfound("skeleton %s: not found", what);
    }
    CV_TRY(rc);
    cv_skeleton *s;
    rc = cv_skeleton_decode(data, len, k->attrs, k->n_attrs, what, &s);
    cv_free(data);
    CV_TRY(rc);
    s->id = id;
    memcpy(s->transform, k->transform, sizeof s->transform);
    *out = s;
    return CV_OK;
}

/* Writers hold each shard's whole index: refuse a sharding whose index is too large before
 * anything is read or encoded. */
static cv_status check_shard_index(const cv_skeletons *k)
{
    char what[CV_SHARD_KEY_MAX + 64];
    snprintf(what, sizeof what, "skeleton info `%s/%s/info'", cv_store_url(k->store), k->dir);
    return cv__shard_check_write_index(&k->spec, what, 0, NULL);
}

cv_status cv_skeletons_put(cv_skeletons *k, const cv_skeleton *const *list, size_t n)
{
    if (k->reader) {
        CV_TRY(check_shard_index(k));
    }
    cv_shard_item *items = k->reader ? cv_calloc(n + 1, sizeof *items) : NULL;
    uint8_t **encoded = k->reader ? cv_calloc(n + 1, sizeof *encoded) : NULL;
    if (k->reader && (!items || !encoded)) {
        cv_free(items);
        cv_free(encoded);
        return CV_FAIL(CV_ERR_NOMEM, "skeletons: %zu items", n);
    }
    cv_status rc = CV_OK;
    size_t done = 0;
    for (; done < n && rc == CV_OK; done++) {
        uint8_t *data;
        size_t len;
        rc = cv_skeleton_encode(list[done], k->attrs, k->n_attrs, &data, &len);
        if (rc != CV_OK) {
            break;
        }
        if (items) {
            items[done] = (cv_shard_item){list[done]->id, data, len};
            encoded[done] = data;
            continue;
        }
        char key[CV_SHARD_KEY_MAX];
        key_of(k, list[done]->id, key, sizeof key);
        rc = cv_store_put(k->store, key, data, len, "gzip", -1, "application/octet-stream");
        cv_free(data);
    }
    if (items) {
        if (rc == CV_OK) {
            rc = cv_shard_write(k->store, k->dir, &k->spec, items, n, CV_SHARD_LAYOUT_CLOUDVOLUME,
                                -1);
        }
        for (size_t i = 0; i < done; i++) {
            cv_free(encoded[i]);
        }
        cv_free(items);
        cv_free(encoded);
    }
    return rc;
}

cv_status cv__skeletons_write_encoded(cv_skeletons *k, const cv_shard_item *items, size_t n)
{
    if (!k->reader) {
        return CV_FAIL(CV_ERR_ARG, "skeletons of %s are not sharded", cv_store_url(k->store));
    }
    CV_TRY(check_shard_index(k));
    return cv_shard_write(k->store, k->dir, &k->spec, items, n, CV_SHARD_LAYOUT_CLOUDVOLUME, -1);
}

const cv_shard_spec *cv__skeletons_spec(const cv_skeletons *k)
{
    return k->reader ? &k->spec : NULL;
}

/* ---- adding to existing shards ------------------------------------------------------------- */

typedef struct kept {
    cv_shard_item *items;
    uint8_t **owned;
    size_t n, cap;
    const cv_skeleton *const *replace;
    size_t n_replace;
} kept;

static cv_status keep_entry(uint64_t key, const uint8_t *data, size_t n, void *arg)
{
    kept *k = arg;
    for (size_t i = 0; i < k->n_replace; i++) {
        if (k->replace[i]->id == key) {
            return CV_OK;
        }
    }
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        cv_shard_item *it = cv_realloc(k->items, cap * sizeof *it);
        if (it) {
            k->items = it;
        }
        uint8_t **ow = it ? cv_realloc(k->owned, cap * sizeof *ow) : NULL;
        if (!it || !ow) {
            return CV_FAIL(CV_ERR_NOMEM, "skeleton shard entries");
        }
        k->owned = ow;
        k->cap = cap;
    }
    uint8_t *copy = cv_malloc(n);
    if (!copy) {
        return CV_FAIL(CV_ERR_NOMEM, "skeleton shard entry");
    }
    memcpy(copy, data, n);
    k->owned[k->n] = copy;
    k->items[k->n++] = (cv_shard_item){key, copy, n};
    return CV_OK;
}

cv_status cv_skeletons_update(cv_skeletons *k, const cv_skeleton *const *list, size_t n)
{
    if (!k->reader) {
        return cv_skeletons_put(k, list, n);
    }
    CV_TRY(check_shard_index(k));
    /* Each shard the skeletons fall in: its other entries (decoded payloads; the writer
     * encodes them again), then the new ones; written whole once. */
    uint64_t *shards = cv_malloc((n + 1) * sizeof *shards);
    if (!shards) {
        return CV_FAIL(CV_ERR_NOMEM, "skeletons");
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t mini;
        cv_shard_locate(&k->spec, list[i]->id, &shards[i], &mini);
    }
    size_t n_shards = n;
    cv__sort_ids(shards, &n_shards);
    cv_status rc = CV_OK;
    for (size_t s = 0; s < n_shards && rc == CV_OK; s++) {
        char name[64], key[CV_SHARD_KEY_MAX];
        cv_shard_file_name(&k->spec, shards[s], name, sizeof name);
        snprintf(key, sizeof key, "%s/%s", k->dir, name);
        kept kp = {NULL, NULL, 0, 0, list, n};
        uint8_t *file = NULL;
        size_t len = 0;
        rc = cv_store_get(k->store, key, 0, &file, &len);
        if (rc == CV_ERR_NOTFOUND) {
            cv_err_clear();
            rc = CV_OK;
        } else if (rc == CV_OK) {
            char what[CV_SHARD_KEY_MAX + 64];
            snprintf(what, sizeof what, "%s/%s", cv_store_url(k->store), key);
            rc = cv_shard_decode(&k->spec, file, len, what, 0, keep_entry, &kp);
        }
        cv_free(file);
        /* The new skeletons of this shard, encoded (no longer filtered out). */
        kp.n_replace = 0;
        for (size_t i = 0; i < n && rc == CV_OK; i++) {
            uint64_t sh, mini;
            cv_shard_locate(&k->spec, list[i]->id, &sh, &mini);
            if (sh != shards[s]) {
                continue;
            }
            uint8_t *data;
            size_t dlen;
            rc = cv_skeleton_encode(list[i], k->attrs, k->n_attrs, &data, &dlen);
            if (rc == CV_OK) {
                rc = keep_entry(list[i]->id, data, dlen, &kp);
                cv_free(data);
            }
        }
        if (rc == CV_OK) {
            rc = cv_shard_write(k->store, k->dir, &k->spec, kp.items, kp.n,
                                CV_SHARD_LAYOUT_CLOUDVOLUME, -1);
        }
        for (size_t i = 0; i < kp.n; i++) {
            cv_free(kp.owned[i]);
        }
        cv_free(kp.items);
        cv_free(kp.owned);
    }
    cv_free(shards);
    return rc;
}

/* ---- listing --------------------------------------------------------------------------------- */

typedef struct id_list {
    uint64_t *ids;
    size_t n, cap;
    const char *dir;
    size_t dir_len;
    cv_skeletons *k;
} id_list;

static cv_status push_id(id_list *l, uint64_t id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        uint64_t *p = cv_realloc(l->ids, cap * sizeof *p);
        if (!p) {
            return CV_FAIL(CV_ERR_NOMEM, "list ids");
        }
        l->ids = p;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return CV_OK;
}

/* A decimal segment id without sign or leading zeros; false otherwise. */
bool cv__parse_segid(const char *s, uint64_t *out)
{
    if (!*s || (s[0] == '0' && s[1])) {
        return false;
    }
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

static cv_status entry_id(uint64_t key, void *arg)
{
    return push_id(arg, key);
}

static cv_status list_key(const char *key, void *arg)
{
    id_list *l = arg;
    if (strncmp(key, l->dir, l->dir_len) != 0 || key[l->dir_len] != '/') {
        return CV_OK;
    }
    const char *name = key + l->dir_len + 1;
    uint64_t id;
    if (!l->k->reader) {
        return cv__parse_segid(name, &id) ? push_id(l, id) : CV_OK;
    }
    if (!cv__str_ends_with(name, ".shard") || strchr(name, '/')) {
        return CV_OK;
    }
    return cv__shard_file_keys(l->k->store, key, &l->k->spec, entry_id, l);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y);
}

cv_status cv__sort_ids(uint64_t *ids, size_t *n)
{
    if (*n > 1) {
        qsort(ids, *n, sizeof *ids, cmp_u64);
    }
    size_t m = 0;
    for (size_t i = 0; i < *n; i++) {
        if (m == 0 || ids[m - 1] != ids[i]) {
            ids[m++] = ids[i];
        }
    }
    *n = m;
    return CV_OK;
}

cv_status cv_skeletons_list(cv_skeletons *k, uint64_t **ids, size_t *n)
{
    id_list l = {NULL, 0, 0, k->dir, strlen(k->dir), k};
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

cv_status cv_skeletons_query(cv_skeletons *k, const double min[3], const double max[3],
                             uint64_t **ids, size_t *n)
{
    const cJSON *si = cJSON_GetObjectItemCaseSensitive(k->info, "spatial_index");
    if (!cJSON_IsObject(si)) {
        return CV_FAIL(CV_ERR_UNSUPPORTED, "skeletons of %s: the info has no spatial_index",
                       cv_store_url(k->store));
    }
    return cv__spatial_query(k->store, k->dir, min, max, ids, n);
}
