/* SPDX-License-Identifier: BSD-3-Clause
 * info.c: the multiscale volume "info" JSON <-> struct cv_info (precomputed-volume spec §2):
 * parsing with a message naming the offending field, every validation rule of §2.3/§2.4,
 * CloudVolume-identical serialization, and CloudVolume's create_new_info/add_scale arithmetic
 * (cloudvolume-conventions §7). Unknown members are kept and written back. */
#include "base/checked.h"
#include "base/json_py.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers --------------------------------------------------------------------- */

static char *lowercase_dup(const char *s)
{
    char *p = cv__strdup(s);
    for (char *q = p; q && *q; q++) {
        *q = (char)tolower((unsigned char)*q);
    }
    return p;
}

static bool has_decimals(double v)
{
    return v != floor(v);
}

/* Field path for messages, e.g. "scales[2].chunk_sizes". */
static cv_status bad(const char *what, const char *field, const char *fmt, ...) CV_PRINTF(3, 4);
static cv_status bad(const char *what, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return CV_FAIL(CV_ERR_INFO, "info `%s': %s: %s", what, field, msg);
}

static cv_status get_int3(const cJSON *arr, const char *what, const char *field, int64_t out[3])
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != 3) {
        return bad(what, field, "must be a list of 3 integers");
    }
    for (int d = 0; d < 3; d++) {
        const cJSON *v = cJSON_GetArrayItem(arr, d);
        if (!cv__json_is_int(v)) {
            return bad(what, field, "must be a list of 3 integers");
        }
        out[d] = (int64_t)v->valuedouble;
    }
    return CV_OK;
}

static cv_status get_string(const cJSON *obj, const char *name, const char *what, const char *field,
                            bool required, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    *out = NULL;
    if (!v) {
        return required ? bad(what, field, "missing") : CV_OK;
    }
    if (!cJSON_IsString(v)) {
        return bad(what, field, "must be a string");
    }
    *out = cv__strdup(v->valuestring);
    return *out ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "info");
}

/* Members not in `known` are moved into a new object printed to *extra_json. */
static cv_status collect_extra(const cJSON *obj, const char *const *known, char **extra_json)
{
    cJSON *extra = NULL;
    for (const cJSON *c = obj->child; c; c = c->next) {
        bool is_known = false;
        for (const char *const *k = known; *k; k++) {
            if (strcmp(c->string, *k) == 0) {
                is_known = true;
            }
        }
        if (is_known) {
            continue;
        }
        if (!extra) {
            extra = cJSON_CreateObject();
        }
        cJSON *dup = cJSON_Duplicate(c, 1);
        if (!extra || !dup) {
            cJSON_Delete(extra);
            cJSON_Delete(dup);
            return CV_FAIL(CV_ERR_NOMEM, "info extra members");
        }
        cJSON_AddItemToObject(extra, c->string, dup);
    }
    *extra_json = NULL;
    if (extra) {
        /* Python's formatting keeps floats such as 1.0 typed as floats. */
        size_t len;
        cv_status rc = cv__json_dump_py(extra, extra_json, &len);
        cJSON_Delete(extra);
        return rc;
    }
    return CV_OK;
}

/* ---- free / copy ----------------------------------------------------------------------- */

static void scale_fini(cv_scale *s)
{
    cv_free(s->key);
    cv_free(s->encoding);
    cv_free(s->sharding_json);
    /* extra_json strings come from cJSON's allocator, which is malloc here */
    cv_free(s->extra_json);
    memset(s, 0, sizeof *s);
}

void cv_info_free(cv_info *info)
{
    if (!info) {
        return;
    }
    for (int i = 0; i < info->n_scales; i++) {
        scale_fini(&info->scales[i]);
    }
    cv_free(info->scales);
    cv_free(info->type);
    cv_free(info->mesh);
    cv_free(info->skeletons);
    cv_free(info->segment_properties);
    cv_free(info->redirect);
    cv_free(info->extra_json);
    cv_free(info);
}

static cv_status scale_copy(const cv_scale *src, cv_scale *dst)
{
    *dst = *src;
    dst->key = cv__strdup(src->key);
    dst->encoding = cv__strdup(src->encoding);
    dst->sharding_json = cv__strdup(src->sharding_json);
    dst->extra_json = cv__strdup(src->extra_json);
    if ((src->key && !dst->key) || (src->encoding && !dst->encoding) ||
        (src->sharding_json && !dst->sharding_json) || (src->extra_json && !dst->extra_json)) {
        scale_fini(dst);
        return CV_FAIL(CV_ERR_NOMEM, "copy scale");
    }
    return CV_OK;
}

cv_status cv_info_copy(const cv_info *src, cv_info **out)
{
    cv_info *c = cv_calloc(1, sizeof *c);
    if (!c) {
        return CV_FAIL(CV_ERR_NOMEM, "copy info");
    }
    *c = *src;
    c->scales = cv_calloc((size_t)(src->n_scales ? src->n_scales : 1), sizeof *c->scales);
    c->n_scales = 0;
    c->type = cv__strdup(src->type);
    c->mesh = cv__strdup(src->mesh);
    c->skeletons = cv__strdup(src->skeletons);
    c->segment_properties = cv__strdup(src->segment_properties);
    c->redirect = cv__strdup(src->redirect);
    c->extra_json = cv__strdup(src->extra_json);
    cv_status rc = c->scales ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "copy info");
    for (int i = 0; rc == CV_OK && i < src->n_scales; i++) {
        rc = scale_copy(&src->scales[i], &c->scales[i]);
        if (rc == CV_OK) {
            c->n_scales++;
        }
    }
    if (rc != CV_OK) {
        cv_info_free(c);
        return rc;
    }
    *out = c;
    return CV_OK;
}

/* ---- parse ----------------------------------------------------------------------------- */

static const char *const known_top[] = {"@type",    "type", "data_type", "num_channels",
                                        "scales",   "mesh", "skeletons", "segment_properties",
                                        "redirect", NULL};
static const char *const known_scale[] = {"key",
                                          "size",
                                          "voxel_offset",
                                          "resolution",
                                          "chunk_sizes",
                                          "encoding",
                                          "compressed_segmentation_block_size",
                                          "sharding",
                                          "jpeg_quality",
                                          "png_level",
                                          "hidden",
                                          NULL};

static cv_status parse_scale(const cJSON *js, int i, const char *what, cv_scale *s)
{
    char field[96];
    s->jpeg_quality = -1;
    s->png_level = -1;
    s->has_hidden = -1;
    if (!cJSON_IsObject(js)) {
        snprintf(field, sizeof field, "scales[%d]", i);
        return bad(what, field, "must be an object");
    }
#define FIELD(name) (snprintf(field, sizeof field, "scales[%d].%s", i, name), field)
    CV_TRY(get_string(js, "key", what, FIELD("key"), true, &s->key));
    CV_TRY(get_string(js, "encoding", what, FIELD("encoding"), true, &s->encoding));
    char *lower = lowercase_dup(s->encoding);
    cv_free(s->encoding);
    s->encoding = lower;

    const cJSON *v = cJSON_GetObjectItemCaseSensitive(js, "size");
    if (!v) {
        return bad(what, FIELD("size"), "missing");
    }
    CV_TRY(get_int3(v, what, FIELD("size"), s->size));
    v = cJSON_GetObjectItemCaseSensitive(js, "voxel_offset");
    if (v) {
        CV_TRY(get_int3(v, what, FIELD("voxel_offset"), s->voxel_offset));
    }
    v = cJSON_GetObjectItemCaseSensitive(js, "resolution");
    if (!v) {
        return bad(what, FIELD("resolution"), "missing");
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3) {
        return bad(what, FIELD("resolution"), "must be a list of 3 numbers");
    }
    for (int d = 0; d < 3; d++) {
        const cJSON *r = cJSON_GetArrayItem(v, d);
        if (!cJSON_IsNumber(r)) {
            return bad(what, FIELD("resolution"), "must be a list of 3 numbers");
        }
        s->resolution[d] = r->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(js, "chunk_sizes");
    if (!v) {
        return bad(what, FIELD("chunk_sizes"), "missing");
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1) {
        return bad(what, FIELD("chunk_sizes"), "must be a non-empty list of [x,y,z] sizes");
    }
    if (cJSON_GetArraySize(v) > CV_MAX_CHUNK_SIZES) {
        return bad(what, FIELD("chunk_sizes"), "more than %d entries", CV_MAX_CHUNK_SIZES);
    }
    for (const cJSON *c = v->child; c; c = c->next) {
        char sub[112];
        snprintf(sub, sizeof sub, "scales[%d].chunk_sizes[%d]", i, s->n_chunk_sizes);
        CV_TRY(get_int3(c, what, sub, s->chunk_sizes[s->n_chunk_sizes]));
        s->n_chunk_sizes++;
    }
    v = cJSON_GetObjectItemCaseSensitive(js, "compressed_segmentation_block_size");
    if (v) {
        CV_TRY(get_int3(v, what, FIELD("compressed_segmentation_block_size"), s->cseg_block));
        for (int d = 0; d < 3; d++) {
            if (s->cseg_block[d] < 1) {
                return bad(what, field, "each size must be >= 1");
            }
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(js, "sharding");
    if (v && !cJSON_IsNull(v)) { /* null means unsharded (TensorStore); never written back */
        if (!cJSON_IsObject(v)) {
            return bad(what, FIELD("sharding"), "must be an object");
        }
        s->sharding_json = cJSON_PrintUnformatted(v);
        if (!s->sharding_json) {
            return CV_FAIL(CV_ERR_NOMEM, "info");
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(js, "jpeg_quality");
    if (v) {
        if (!cv__json_is_int(v)) {
            return bad(what, FIELD("jpeg_quality"), "must be an integer");
        }
        s->jpeg_quality = v->valuedouble < 0 ? -2 : (int)fmin(1000, v->valuedouble);
    }
    v = cJSON_GetObjectItemCaseSensitive(js, "png_level");
    if (v) {
        if (!cv__json_is_int(v)) {
            return bad(what, FIELD("png_level"), "must be an integer");
        }
        s->png_level = v->valuedouble < 0 ? -2 : (int)fmin(1000, v->valuedouble);
    }
    v = cJSON_GetObjectItemCaseSensitive(js, "hidden");
    if (v) {
        if (!cJSON_IsBool(v)) {
            return bad(what, FIELD("hidden"), "must be true or false");
        }
        s->has_hidden = cJSON_IsTrue(v) ? 1 : 0;
    }
#undef FIELD
    return collect_extra(js, known_scale, &s->extra_json);
}

static cv_status parse_root(const cJSON *root, const char *what, cv_info *info)
{
    if (!cJSON_IsObject(root)) {
        return CV_FAIL(CV_ERR_INFO, "info `%s': must be a JSON object", what);
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "@type");
    if (v) {
        if (!cJSON_IsString(v) || strcmp(v->valuestring, "neuroglancer_multiscale_volume") != 0) {
            return bad(what, "@type", "must be \"neuroglancer_multiscale_volume\"");
        }
        info->has_at_type = true;
    }
    char *raw = NULL;
    CV_TRY(get_string(root, "type", what, "type", true, &raw));
    info->type = lowercase_dup(raw);
    cv_free(raw);
    CV_TRY(get_string(root, "data_type", what, "data_type", true, &raw));
    char *dt = lowercase_dup(raw);
    info->dtype = cv_dtype_from_name(dt);
    cv_free(dt);
    if (info->dtype == CV_DTYPE_INVALID) {
        cv_status rc = bad(what, "data_type", "unknown data type \"%s\"", raw);
        cv_free(raw);
        return rc;
    }
    cv_free(raw);
    v = cJSON_GetObjectItemCaseSensitive(root, "num_channels");
    if (!v) {
        return bad(what, "num_channels", "missing");
    }
    if (!cv__json_is_int(v)) {
        return bad(what, "num_channels", "must be an integer");
    }
    info->num_channels = (int64_t)v->valuedouble;
    CV_TRY(get_string(root, "mesh", what, "mesh", false, &info->mesh));
    CV_TRY(get_string(root, "skeletons", what, "skeletons", false, &info->skeletons));
    CV_TRY(get_string(root, "segment_properties", what, "segment_properties", false,
                      &info->segment_properties));
    CV_TRY(get_string(root, "redirect", what, "redirect", false, &info->redirect));

    v = cJSON_GetObjectItemCaseSensitive(root, "scales");
    if (!v) {
        return bad(what, "scales", "missing");
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1) {
        return bad(what, "scales", "must be a non-empty list");
    }
    int n = cJSON_GetArraySize(v);
    info->scales = cv_calloc((size_t)n, sizeof *info->scales);
    if (!info->scales) {
        return CV_FAIL(CV_ERR_NOMEM, "info");
    }
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        info->n_scales = i + 1; /* so cv_info_free() releases a half-parsed scale */
        CV_TRY(parse_scale(c, i, what, &info->scales[i]));
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(c, "resolution");
        for (const cJSON *r = res->child; r; r = r->next) {
            if (r->type & CV_JSON_FLOAT) { /* "8.0": Python keeps it a float */
                info->resolution_is_float = true;
            }
        }
        for (int d = 0; d < 3; d++) {
            if (has_decimals(info->scales[i].resolution[d])) {
                info->resolution_is_float = true;
            }
        }
        /* CloudVolume keys of float resolutions keep their ".0" ("9.0_9.0_40.0"). */
        if (strchr(info->scales[i].key, '.') && !strstr(info->scales[i].key, "..")) {
            info->resolution_is_float = true;
        }
    }
    return collect_extra(root, known_top, &info->extra_json);
}

cv_status cv_info_parse(const char *json, size_t len, const char *what, cv_info **out)
{
    cJSON *root;
    CV_TRY(cv__json_parse(json, len, what, &root));
    cv_info *info = cv_calloc(1, sizeof *info);
    if (!info) {
        cJSON_Delete(root);
        return CV_FAIL(CV_ERR_NOMEM, "info");
    }
    cv_status rc = parse_root(root, what, info);
    cJSON_Delete(root);
    if (rc == CV_OK) {
        rc = cv_info_validate(info);
        if (rc != CV_OK) {
            cv__err_wrap("info `%s'", what);
        }
    }
    if (rc != CV_OK) {
        cv_info_free(info);
        return rc;
    }
    *out = info;
    return CV_OK;
}

/* ---- validate -------------------------------------------------------------------------- */

static int bits_needed(int64_t g)
{
    int b = 0;
    for (uint64_t v = g > 1 ? (uint64_t)(g - 1) : 0; v; v >>= 1) {
        b++;
    }
    return b;
}

/* Encoding compatibility, precomputed-volume spec §2.4. Returns NULL if fine, else why. */
static const char *encoding_problem(const char *enc, cv_dtype t, int64_t ch)
{
    bool u8 = t == CV_UINT8, f32 = t == CV_FLOAT32, f64 = t == CV_FLOAT64;
    bool unsigned_int = t == CV_UINT8 || t == CV_UINT16 || t == CV_UINT32 || t == CV_UINT64;
    if (strcmp(enc, "raw") == 0) {
        return NULL;
    }
    if (strcmp(enc, "jpeg") == 0) {
        return u8 && (ch == 1 || ch == 3) ? NULL : "jpeg needs uint8 with 1 or 3 channels";
    }
    if (strcmp(enc, "png") == 0) {
        return (u8 || t == CV_UINT16) && ch >= 1 && ch <= 4
                   ? NULL
                   : "png needs uint8 or uint16 with 1 to 4 channels";
    }
    if (strcmp(enc, "compressed_segmentation") == 0) {
        return t == CV_UINT32 || t == CV_UINT64 ? NULL
                                                : "compressed_segmentation needs uint32 or uint64";
    }
    if (strcmp(enc, "compresso") == 0) {
        return unsigned_int && ch == 1 ? NULL
                                       : "compresso needs an unsigned integer type, 1 channel";
    }
    if (strcmp(enc, "crackle") == 0) {
        return unsigned_int && ch == 1 ? NULL : "crackle needs an unsigned integer type, 1 channel";
    }
    if (strcmp(enc, "jxl") == 0) {
        return u8 && (ch == 1 || ch == 3 || ch == 4) ? NULL
                                                     : "jxl needs uint8 with 1, 3 or 4 channels";
    }
    if (strcmp(enc, "fpzip") == 0 || strcmp(enc, "zfpc") == 0) {
        return f32 || f64 ? NULL : "needs float32 or float64";
    }
    if (strcmp(enc, "kempressed") == 0) {
        return f32 ? NULL : "kempressed needs float32";
    }
    return "unknown encoding";
}

cv_status cv_info_validate(const cv_info *info)
{
    const char *w = "in memory";
    if (!info->type ||
        (strcmp(info->type, "image") != 0 && strcmp(info->type, "segmentation") != 0)) {
        return CV_FAIL(CV_ERR_INFO, "type: must be \"image\" or \"segmentation\"");
    }
    if (info->dtype == CV_DTYPE_INVALID || !cv_dtype_name(info->dtype)) {
        return CV_FAIL(CV_ERR_INFO, "data_type: unknown data type");
    }
    if (info->num_channels < 1) {
        return CV_FAIL(CV_ERR_INFO, "num_channels: must be >= 1 (got %" PRId64 ")",
                       info->num_channels);
    }
    bool is_seg = strcmp(info->type, "segmentation") == 0;
    if (is_seg && info->num_channels != 1) {
        return CV_FAIL(CV_ERR_INFO, "num_channels: must be 1 for segmentation (got %" PRId64 ")",
                       info->num_channels);
    }
    if (info->n_scales < 1) {
        return CV_FAIL(CV_ERR_INFO, "scales: must be a non-empty list");
    }
    (void)w;
    for (int i = 0; i < info->n_scales; i++) {
        const cv_scale *s = &info->scales[i];
#define SFAIL(...) (cv__fail(CV_ERR_INFO, __FILE__, __LINE__, __VA_ARGS__))
        if (!s->key || !*s->key) {
            return SFAIL("scales[%d].key: must be a non-empty string", i);
        }
        if (s->key[0] == '/') {
            return SFAIL("scales[%d].key: must be a relative path (got \"%s\")", i, s->key);
        }
        for (int d = 0; d < 3; d++) {
            if (s->size[d] < 1) {
                return SFAIL("scales[%d].size: each size must be >= 1 (got %" PRId64 ")", i,
                             s->size[d]);
            }
            if (!isfinite(s->resolution[d]) || s->resolution[d] <= 0) {
                return SFAIL("scales[%d].resolution: each value must be finite and > 0", i);
            }
            if ((s->voxel_offset[d] > 0 && s->size[d] > INT64_MAX - s->voxel_offset[d]) ||
                llabs(s->voxel_offset[d]) > (INT64_C(1) << 53)) {
                return SFAIL("scales[%d].voxel_offset: voxel_offset + size overflows", i);
            }
        }
        /* Every box, chunk, task and slab of the scale lies inside it: when the whole scale's
         * bytes fit in 63 bits, so does every count derived from it. */
        uint64_t scale_bytes;
        if (!cv__mul4_u64((uint64_t)s->size[0], (uint64_t)s->size[1], (uint64_t)s->size[2],
                          (uint64_t)info->num_channels, &scale_bytes) ||
            !cv__mul_u64(scale_bytes, cv_dtype_size(info->dtype), &scale_bytes) ||
            scale_bytes > (uint64_t)INT64_MAX) {
            return SFAIL("scales[%d].size: %" PRId64 " x %" PRId64 " x %" PRId64
                         " voxels x %" PRId64 " channels x %zu bytes is more than 2^63 - 1 bytes",
                         i, s->size[0], s->size[1], s->size[2], info->num_channels,
                         cv_dtype_size(info->dtype));
        }
        if (s->n_chunk_sizes < 1) {
            return SFAIL("scales[%d].chunk_sizes: must be a non-empty list", i);
        }
        for (int c = 0; c < s->n_chunk_sizes; c++) {
            for (int d = 0; d < 3; d++) {
                if (s->chunk_sizes[c][d] < 1) {
                    return SFAIL("scales[%d].chunk_sizes[%d]: each size must be >= 1", i, c);
                }
                /* Codecs describe a chunk with 32-bit shapes. */
                if (s->chunk_sizes[c][d] > INT32_MAX) {
                    return SFAIL("scales[%d].chunk_sizes[%d]: each size must be <= 2^31 - 1 "
                                 "(got %" PRId64 ")",
                                 i, c, s->chunk_sizes[c][d]);
                }
            }
        }
        if (!s->encoding) {
            return SFAIL("scales[%d].encoding: missing", i);
        }
        const char *why = encoding_problem(s->encoding, info->dtype, info->num_channels);
        if (why) {
            return SFAIL("scales[%d].encoding: \"%s\" with %s x%" PRId64 ": %s", i, s->encoding,
                         cv_dtype_name(info->dtype), info->num_channels, why);
        }
        bool is_cseg = strcmp(s->encoding, "compressed_segmentation") == 0;
        bool has_block = s->cseg_block[0] || s->cseg_block[1] || s->cseg_block[2];
        if (is_cseg && !has_block) {
            return SFAIL("scales[%d].compressed_segmentation_block_size: missing", i);
        }
        if (!is_cseg && has_block) {
            return SFAIL("scales[%d].compressed_segmentation_block_size: only allowed with "
                         "compressed_segmentation encoding",
                         i);
        }
        for (int d = 0; is_cseg && d < 3; d++) {
            if (s->cseg_block[d] < 1) {
                return SFAIL("scales[%d].compressed_segmentation_block_size: each size must be "
                             ">= 1",
                             i);
            }
        }
        /* The codec's bound (CV_CSEG_MAX_BLOCK_VOXELS, 2^24): one block's indices, up to a
         * 32-bit word per voxel, stay addressable by the format's 24-bit word offsets; every
         * product below it is exact, and each size fits the codec's 32-bit fields. */
        uint64_t block_voxels;
        if (is_cseg && (!cv__mul4_u64((uint64_t)s->cseg_block[0], (uint64_t)s->cseg_block[1],
                                      (uint64_t)s->cseg_block[2], 1, &block_voxels) ||
                        block_voxels > CV_CSEG_MAX_BLOCK_VOXELS)) {
            return SFAIL("scales[%d].compressed_segmentation_block_size: %" PRId64 " x %" PRId64
                         " x %" PRId64 " is more than 2^24 voxels per block",
                         i, s->cseg_block[0], s->cseg_block[1], s->cseg_block[2]);
        }
        if (s->jpeg_quality != -1) {
            if (strcmp(s->encoding, "jpeg") != 0) {
                return SFAIL("scales[%d].jpeg_quality: only allowed with jpeg encoding", i);
            }
            if (s->jpeg_quality < 0 || s->jpeg_quality > 100) {
                return SFAIL("scales[%d].jpeg_quality: must be in [0, 100]", i);
            }
        }
        if (s->png_level != -1) {
            if (strcmp(s->encoding, "png") != 0) {
                return SFAIL("scales[%d].png_level: only allowed with png encoding", i);
            }
            if (s->png_level < 0 || s->png_level > 9) {
                return SFAIL("scales[%d].png_level: must be in [0, 9]", i);
            }
        }
        if (s->sharding_json) {
            if (s->n_chunk_sizes != 1) {
                return SFAIL("scales[%d].chunk_sizes: a sharded scale must have exactly one", i);
            }
            int bits = 0;
            for (int d = 0; d < 3; d++) {
                bits += bits_needed((s->size[d] + s->chunk_sizes[0][d] - 1) / s->chunk_sizes[0][d]);
            }
            if (bits > 64) {
                return SFAIL("scales[%d].sharding: not compatible with the sharded format because "
                             "the chunk keys would exceed 64 bits",
                             i);
            }
        }
#undef SFAIL
    }
    return CV_OK;
}

/* ---- serialize ------------------------------------------------------------------------- */

static cJSON *int3(const int64_t v[3])
{
    cJSON *a = cJSON_CreateArray();
    for (int d = 0; a && d < 3; d++) {
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[d]));
    }
    return a;
}

static cJSON *resolution_json(const double r[3], bool as_float)
{
    cJSON *a = cJSON_CreateArray();
    for (int d = 0; a && d < 3; d++) {
        char num[64];
        if (as_float) {
            cv_format_pyfloat(r[d], num, sizeof num);
            cJSON_AddItemToArray(a, cJSON_CreateRaw(num));
        } else {
            cJSON_AddItemToArray(a, cJSON_CreateNumber(r[d]));
        }
    }
    return a;
}

/* Add the members of a stored JSON object text to `dst` (members already there win). */
static void merge_extra(cJSON *dst, const char *extra_json)
{
    if (!extra_json) {
        return;
    }
    cJSON *extra = cJSON_Parse(extra_json);
    if (extra) {
        cv__json_mark_floats(extra, extra_json, strlen(extra_json));
    }
    for (cJSON *c = extra ? extra->child : NULL; c; c = c->next) {
        if (!cJSON_GetObjectItemCaseSensitive(dst, c->string)) {
            cJSON_AddItemToObject(dst, c->string, cJSON_Duplicate(c, 1));
        }
    }
    cJSON_Delete(extra);
}

static cJSON *scale_json(const cv_scale *s, bool res_float)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    cJSON_AddStringToObject(o, "key", s->key);
    cJSON_AddItemToObject(o, "size", int3(s->size));
    cJSON_AddItemToObject(o, "voxel_offset", int3(s->voxel_offset));
    cJSON_AddItemToObject(o, "resolution", resolution_json(s->resolution, res_float));
    cJSON *cs = cJSON_AddArrayToObject(o, "chunk_sizes");
    for (int c = 0; cs && c < s->n_chunk_sizes; c++) {
        cJSON_AddItemToArray(cs, int3(s->chunk_sizes[c]));
    }
    cJSON_AddStringToObject(o, "encoding", s->encoding);
    if (s->cseg_block[0] || s->cseg_block[1] || s->cseg_block[2]) {
        cJSON_AddItemToObject(o, "compressed_segmentation_block_size", int3(s->cseg_block));
    }
    if (s->sharding_json) {
        cJSON_AddItemToObject(o, "sharding", cJSON_Parse(s->sharding_json));
    }
    if (s->jpeg_quality >= 0) {
        cJSON_AddNumberToObject(o, "jpeg_quality", s->jpeg_quality);
    }
    if (s->png_level >= 0) {
        cJSON_AddNumberToObject(o, "png_level", s->png_level);
    }
    if (s->has_hidden >= 0) {
        cJSON_AddBoolToObject(o, "hidden", s->has_hidden);
    }
    merge_extra(o, s->extra_json);
    return o;
}

cv_status cv_info_to_json(const cv_info *info, char **out, size_t *len)
{
    CV_TRY(cv_info_validate(info));
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return CV_FAIL(CV_ERR_NOMEM, "info to json");
    }
    if (info->has_at_type) {
        cJSON_AddStringToObject(o, "@type", "neuroglancer_multiscale_volume");
    }
    cJSON_AddStringToObject(o, "type", info->type);
    cJSON_AddStringToObject(o, "data_type", cv_dtype_name(info->dtype));
    cJSON_AddNumberToObject(o, "num_channels", (double)info->num_channels);
    cJSON *scales = cJSON_AddArrayToObject(o, "scales");
    for (int i = 0; scales && i < info->n_scales; i++) {
        cJSON_AddItemToArray(scales, scale_json(&info->scales[i], info->resolution_is_float));
    }
    if (info->mesh) {
        cJSON_AddStringToObject(o, "mesh", info->mesh);
    }
    if (info->skeletons) {
        cJSON_AddStringToObject(o, "skeletons", info->skeletons);
    }
    if (info->segment_properties) {
        cJSON_AddStringToObject(o, "segment_properties", info->segment_properties);
    }
    if (info->redirect) {
        cJSON_AddStringToObject(o, "redirect", info->redirect);
    }
    merge_extra(o, info->extra_json);
    cv_status rc = cv__json_dump_py(o, out, len);
    cJSON_Delete(o);
    return rc;
}

/* ---- create / scales ------------------------------------------------------------------- */

static cv_status scale_key(const double res[3], bool as_float, char **out)
{
    char part[3][64];
    for (int d = 0; d < 3; d++) {
        if (as_float) {
            cv_format_pyfloat(res[d], part[d], sizeof part[d]);
        } else {
            snprintf(part[d], sizeof part[d], "%" PRId64, (int64_t)res[d]);
        }
    }
    *out = cv__asprintf("%s_%s_%s", part[0], part[1], part[2]);
    return *out ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "scale key");
}

/* The divisor of n closest to 64; ties go to the first found enumerating i, n/i for
 * i = 1..sqrt(n), as CloudVolume's find_closest_divisor. */
static int64_t closest_divisor_to_64(int64_t n)
{
    int64_t best = n;
    bool have = false;
    for (int64_t i = 1; i * i <= n; i++) {
        if (n % i != 0) {
            continue;
        }
        int64_t cand[2] = {i, n / i};
        for (int k = 0; k < 2; k++) {
            if (!have || llabs(cand[k] - 64) < llabs(best - 64)) {
                best = cand[k];
                have = true;
            }
        }
    }
    return best;
}

static int64_t floordiv64(int64_t a, int64_t d)
{
    int64_t q = a / d;
    return (a % d != 0 && a < 0) ? q - 1 : q;
}

cv_status cv_info_add_scale(cv_info *info, const int64_t factor[3], const int64_t *chunk_size,
                            const char *encoding, int *index_out)
{
    if (info->n_scales < 1) {
        return CV_FAIL(CV_ERR_ARG, "add scale: info has no scale 0");
    }
    for (int d = 0; d < 3; d++) {
        if (factor[d] < 1) {
            return CV_FAIL(CV_ERR_ARG, "add scale: factor must be >= 1 on every axis");
        }
    }
    const cv_scale *s0 = &info->scales[0];
    cv_scale ns;
    memset(&ns, 0, sizeof ns);
    ns.jpeg_quality = -1;
    ns.png_level = -1;
    ns.has_hidden = -1;
    for (int d = 0; d < 3; d++) {
        ns.resolution[d] = s0->resolution[d] * (double)factor[d];
        ns.size[d] = (s0->size[d] + factor[d] - 1) / factor[d];
        ns.voxel_offset[d] = floordiv64(s0->voxel_offset[d], factor[d]);
        ns.chunk_sizes[0][d] =
            chunk_size ? chunk_size[d] : closest_divisor_to_64(s0->chunk_sizes[0][d]);
    }
    ns.n_chunk_sizes = 1;
    ns.encoding = cv__strdup(encoding ? encoding : s0->encoding);
    if (ns.encoding && strcmp(ns.encoding, "compressed_segmentation") == 0) {
        bool s0_has = s0->cseg_block[0] || s0->cseg_block[1] || s0->cseg_block[2];
        for (int d = 0; d < 3; d++) {
            ns.cseg_block[d] = s0_has ? s0->cseg_block[d] : 8;
        }
    }
    if (!ns.encoding || scale_key(ns.resolution, info->resolution_is_float, &ns.key) != CV_OK) {
        scale_fini(&ns);
        return CV_FAIL(CV_ERR_NOMEM, "add scale");
    }
    for (int i = 0; i < info->n_scales; i++) {
        if (memcmp(info->scales[i].resolution, ns.resolution, sizeof ns.resolution) == 0) {
            scale_fini(&info->scales[i]);
            info->scales[i] = ns;
            if (index_out) {
                *index_out = i;
            }
            return CV_OK;
        }
    }
    cv_scale *grown = cv_realloc(info->scales, sizeof *grown * (size_t)(info->n_scales + 1));
    if (!grown) {
        scale_fini(&ns);
        return CV_FAIL(CV_ERR_NOMEM, "add scale");
    }
    info->scales = grown;
    info->scales[info->n_scales] = ns;
    if (index_out) {
        *index_out = info->n_scales;
    }
    info->n_scales++;
    return CV_OK;
}

cv_status cv_info_remove_scale(cv_info *info, int mip)
{
    if (mip < 0 || mip >= info->n_scales) {
        return CV_FAIL(CV_ERR_ARG, "remove scale: no mip %d (have %d)", mip, info->n_scales);
    }
    if (info->n_scales == 1) {
        return CV_FAIL(CV_ERR_ARG, "remove scale: cannot remove the only scale");
    }
    scale_fini(&info->scales[mip]);
    memmove(&info->scales[mip], &info->scales[mip + 1],
            sizeof *info->scales * (size_t)(info->n_scales - mip - 1));
    info->n_scales--;
    return CV_OK;
}

cv_status cv_info_create(const cv_info_params *p, cv_info **out)
{
    cv_info *info = cv_calloc(1, sizeof *info);
    cv_scale *s = cv_calloc(1, sizeof *s);
    if (!info || !s) {
        cv_free(info);
        cv_free(s);
        return CV_FAIL(CV_ERR_NOMEM, "create info");
    }
    info->scales = s;
    info->n_scales = 1;
    info->type = cv__strdup(p->type ? p->type : "image");
    info->dtype = p->dtype;
    info->num_channels = p->num_channels ? p->num_channels : 1;
    info->mesh = cv__strdup(p->mesh);
    info->skeletons = cv__strdup(p->skeletons);
    info->resolution_is_float = p->resolution_is_float;
    for (int d = 0; d < 3; d++) {
        if (has_decimals(p->resolution[d])) {
            info->resolution_is_float = true;
        }
    }
    s->jpeg_quality = -1;
    s->png_level = -1;
    s->has_hidden = -1;
    s->n_chunk_sizes = 1;
    bool no_chunk = !p->chunk_size[0] && !p->chunk_size[1] && !p->chunk_size[2];
    for (int d = 0; d < 3; d++) {
        s->size[d] = p->size[d];
        s->voxel_offset[d] = p->voxel_offset[d];
        s->resolution[d] = p->resolution[d];
        s->chunk_sizes[0][d] = no_chunk ? 64 : p->chunk_size[d];
    }
    s->encoding = lowercase_dup(p->encoding ? p->encoding : "raw");
    cv_status rc = s->encoding && info->type
                       ? scale_key(s->resolution, info->resolution_is_float, &s->key)
                       : CV_FAIL(CV_ERR_NOMEM, "create info");
    int64_t factor[3] = {2, 2, 1};
    if (p->factor[0] || p->factor[1] || p->factor[2]) {
        memcpy(factor, p->factor, sizeof factor);
    }
    /* Extra mips are added before scale 0 gets its block size, as CloudVolume does, so they
     * carry the default (8,8,8). */
    for (int mip = 1; rc == CV_OK && mip <= p->max_mip; mip++) {
        int64_t f[3];
        for (int d = 0; d < 3; d++) {
            f[d] = 1;
            for (int k = 0; k < mip; k++) {
                f[d] *= factor[d];
            }
        }
        rc = cv_info_add_scale(info, f, info->scales[0].chunk_sizes[0], NULL, NULL);
    }
    if (rc == CV_OK && strcmp(info->scales[0].encoding, "compressed_segmentation") == 0) {
        bool given = p->cseg_block[0] || p->cseg_block[1] || p->cseg_block[2];
        for (int d = 0; d < 3; d++) {
            info->scales[0].cseg_block[d] = given ? p->cseg_block[d] : 8;
        }
    }
    if (rc == CV_OK) {
        rc = cv_info_validate(info);
    }
    if (rc != CV_OK) {
        cv_info_free(info);
        return rc;
    }
    *out = info;
    return CV_OK;
}

cv_status cv_info_find_mip(const cv_info *info, const double res[3], int *mip)
{
    for (int i = 0; i < info->n_scales; i++) {
        if (memcmp(info->scales[i].resolution, res, sizeof(double) * 3) == 0) {
            *mip = i;
            return CV_OK;
        }
    }
    char list[512] = "";
    size_t used = 0;
    for (int i = 0; i < info->n_scales && used < sizeof list - 64; i++) {
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%g,%g,%g", i ? " " : "",
                                 info->scales[i].resolution[0], info->scales[i].resolution[1],
                                 info->scales[i].resolution[2]);
    }
    return CV_FAIL(CV_ERR_ARG, "no scale with resolution %g,%g,%g (available: %s)", res[0], res[1],
                   res[2], list);
}

cv_bbox cv_info_bounds(const cv_info *info, int mip)
{
    const cv_scale *s = &info->scales[mip];
    cv_bbox b;
    for (int d = 0; d < 3; d++) {
        b.min[d] = s->voxel_offset[d];
        b.max[d] = s->voxel_offset[d] + s->size[d];
    }
    return b;
}

cv_grid cv_info_grid(const cv_info *info, int mip)
{
    cv_grid g;
    for (int d = 0; d < 3; d++) {
        g.chunk[d] = info->scales[mip].chunk_sizes[0][d];
    }
    g.bounds = cv_info_bounds(info, mip);
    return g;
}
