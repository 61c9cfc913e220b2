/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_graphene.c: the parsers of graphene:// answers and paths (volume/graphene_parse.c) on
 * untrusted bytes. The first byte picks the parser (mod 8); the rest is the input:
 *   0 the server's info (graph fields), 1 a roots_binary answer for N ids (N = the next two
 *   bytes), 2 a leaves answer {"leaf_ids": [...]}, 3 a mesh manifest, 4 a graphene:// URL,
 *   5 an initial fragment name, 6 a timestamp, 7 an l2_chunk_children_binary answer.
 * Only OK or the documented error; a roots answer parses exactly when it is 8 N bytes and
 * round-trips; so do (l2, supervoxel) pairs at 16 bytes each; ids and names come back as many
 * as the arrays hold; a parsed URL's parts are non-empty and re-parse to the same parts. */
#include "fuzz_common.h"

#include "volume/graphene.h"

#include <inttypes.h>

static void check_meta(const char *text, size_t n)
{
    cv_graphene_meta m;
    cv_status rc = cv__graphene_parse_meta(text, n, "fuzz", &m);
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_INFO || rc == CV_ERR_CORRUPT);
    if (rc == CV_OK) {
        FUZZ_ASSERT(m.data_dir && m.data_dir[0] && m.mesh_dir && m.unsharded_mesh_dir);
        FUZZ_ASSERT(m.n_layers >= 1 && m.n_layers <= 255);
        FUZZ_ASSERT(m.n_bits_for_layer_id >= 1 && m.n_bits_for_layer_id <= 63);
        FUZZ_ASSERT(m.max_meshed_layer >= 1 && (m.api_versions & ~3u) == 0);
        FUZZ_ASSERT(cv__graphene_layer(&m, UINT64_MAX) >= 1);
        FUZZ_ASSERT(m.l2_spatial_bits >= -1 && 3 * m.l2_spatial_bits <= 64 - m.n_bits_for_layer_id);
        cv__graphene_meta_fini(&m);
    }
}

static void check_roots(const uint8_t *p, size_t n)
{
    if (n < 2) {
        return;
    }
    size_t ids = (size_t)p[0] | (size_t)p[1] << 8;
    p += 2;
    n -= 2;
    uint64_t *roots = malloc(8 * ids + 8);
    FUZZ_ASSERT(roots != NULL);
    cv_status rc = cv__graphene_parse_roots(p, n, ids, "fuzz", roots);
    FUZZ_ASSERT((rc == CV_OK) == (n == 8 * ids));
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT);
    for (size_t i = 0; rc == CV_OK && i < ids; i++) {
        for (int b = 0; b < 8; b++) {
            FUZZ_ASSERT((uint8_t)(roots[i] >> (8 * b)) == p[8 * i + (size_t)b]);
        }
    }
    free(roots);
}

static void check_pairs(const uint8_t *p, size_t n)
{
    uint64_t *pairs = NULL;
    size_t count = 0;
    cv_status rc = cv__graphene_parse_pairs(p, n, "fuzz", &pairs, &count);
    FUZZ_ASSERT((rc == CV_OK) == (n % 16 == 0));
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT);
    for (size_t i = 0; rc == CV_OK && i < 2 * count; i++) {
        for (int b = 0; b < 8; b++) {
            FUZZ_ASSERT((uint8_t)(pairs[i] >> (8 * b)) == p[8 * i + (size_t)b]);
        }
    }
    FUZZ_ASSERT(rc != CV_OK || (pairs != NULL && count == n / 16));
    cv_free(pairs);
}

static void check_ids(const char *text, size_t n)
{
    uint64_t *ids = NULL;
    size_t count = 0;
    cv_status rc = cv__graphene_parse_ids(text, n, "leaf_ids", true, "fuzz", &ids, &count);
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT);
    FUZZ_ASSERT(rc != CV_OK || ids != NULL);
    FUZZ_ASSERT(rc != CV_OK || count <= n);
    cv_free(ids);
}

static void check_manifest(const char *text, size_t n)
{
    char **names = NULL;
    uint64_t *seg_ids = NULL;
    size_t count = 0;
    cv_status rc = cv__graphene_parse_manifest(text, n, "fuzz", &names, &seg_ids, &count);
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT);
    if (rc == CV_OK) {
        for (size_t i = 0; i < count; i++) {
            FUZZ_ASSERT(names[i] != NULL);
            char object[64];
            uint64_t off, size;
            if (cv__graphene_initial_fragment(names[i], object, sizeof object, &off, &size)) {
                FUZZ_ASSERT(off <= UINT64_MAX - size && strlen(object) < sizeof object);
            }
            cv_free(names[i]);
        }
        FUZZ_ASSERT(names[count] == NULL);
        cv_free(names);
        cv_free(seg_ids);
    }
}

static void check_url(const char *text)
{
    cv_graphene_url u;
    cv_status rc = cv__graphene_parse_url(text, &u);
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_ARG || rc == CV_ERR_UNSUPPORTED);
    if (rc != CV_OK) {
        return;
    }
    FUZZ_ASSERT(u.fqdn[0] && u.modality[0] && u.version[0] && u.dataset[0]);
    FUZZ_ASSERT(strchr(u.fqdn, '/') == NULL && strchr(u.fqdn, '@') == NULL);
    /* The canonical URL of the parts parses to the same parts. */
    char again[1024];
    const char *route = strcmp(u.version, "table") == 0 ? "table"
                        : strcmp(u.version, "v1") == 0  ? "api/v1"
                                                        : "1.0";
    snprintf(again, sizeof again, "graphene://%s/%s/%s/%s", u.base, u.modality, route, u.dataset);
    cv_graphene_url v;
    FUZZ_ASSERT_MSG(cv__graphene_parse_url(again, &v) == CV_OK, again);
    FUZZ_ASSERT_MSG(memcmp(&u, &v, sizeof u) == 0 ||
                        (strcmp(u.base, v.base) == 0 && strcmp(u.dataset, v.dataset) == 0 &&
                         strcmp(u.version, v.version) == 0),
                    again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    cv_err_clear();
    int which = data[0] % 8;
    data++;
    size--;
    char *text = fuzz_cstr(data, size, 1 << 16);
    size_t tn = strlen(text);
    switch (which) {
    case 0:
        check_meta(text, tn);
        break;
    case 1:
        check_roots(data, size);
        break;
    case 2:
        check_ids(text, tn);
        break;
    case 3:
        check_manifest(text, tn);
        break;
    case 4:
        check_url(text);
        break;
    case 5: {
        char object[32];
        uint64_t off, len;
        if (cv__graphene_initial_fragment(text, object, sizeof object, &off, &len)) {
            FUZZ_ASSERT(text[0] == '~' && off <= UINT64_MAX - len && strlen(object) < 32);
        }
        break;
    }
    case 7:
        check_pairs(data, size);
        break;
    default: {
        int64_t t;
        cv_status rc = cv_timestamp_parse(text, &t);
        FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_ARG);
        break;
    }
    }
    free(text);
    return 0;
}
