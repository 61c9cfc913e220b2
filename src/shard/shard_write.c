/* SPDX-License-Identifier: BSD-3-Clause
 * shard_write.c: writing the sharded format (precomputed-sharded §3.1-§3.4): a whole shard
 * file built in memory from (key, bytes) items in CloudVolume's layout (all payloads, then all
 * minishard indexes) or TensorStore's (each minishard's payloads followed by its index), put
 * with one request; and CloudVolume's choice of sharding parameters (§4.1, §6). No MPI here. */
#include "shard/shard.h"

#include "compress/compress.h"
#include "io/store.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building a shard -------------------------------------------------------------------- */

typedef struct slot {
    uint64_t key;
    uint64_t minishard;
    size_t item;         /* position in the caller's list */
    size_t group;        /* sort rank of the minishard */
    uint64_t start, end; /* payload range relative to the end of the shard index */
} slot;

static int cmp_minishard_item(const void *a, const void *b)
{
    const slot *x = a, *y = b;
    if (x->minishard != y->minishard) {
        return x->minishard < y->minishard ? -1 : 1;
    }
    return x->item < y->item ? -1 : (x->item > y->item);
}

static int cmp_group_key(const void *a, const void *b)
{
    const slot *x = a, *y = b;
    if (x->group != y->group) {
        return x->group < y->group ? -1 : 1;
    }
    if (x->key != y->key) {
        return x->key < y->key ? -1 : 1;
    }
    return x->item < y->item ? -1 : (x->item > y->item);
}

static void store64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Append the encoded minishard index of slots [a, b) to out. */
static cv_status encode_index(const cv_shard_spec *s, const slot *sl, size_t a, size_t b, int level,
                              cv_buf *raw, cv_buf *out)
{
    size_t k = b - a;
    raw->len = 0;
    CV_TRY(cv__buf_reserve(raw, 24 * k));
    uint64_t prev_key = 0, prev_end = 0;
    for (size_t i = 0; i < k; i++) {
        const slot *x = &sl[a + i];
        store64(raw->data + 8 * i, x->key - prev_key);
        store64(raw->data + 8 * (k + i), x->start - prev_end);
        store64(raw->data + 8 * (2 * k + i), x->end - x->start);
        prev_key = x->key;
        prev_end = x->end;
    }
    raw->len = 24 * k;
    if (s->minishard_index_encoding == CV_SHARD_GZIP) {
        return cv_compress_gzip.compress(level, raw->data, raw->len, out);
    }
    return cv__buf_append(out, raw->data, raw->len);
}

/* Append the encoded minishard index of slots [a, b) and record its range in the shard index. */
static cv_status append_index(const cv_shard_spec *s, const slot *sl, size_t a, size_t b,
                              uint64_t index_bytes, int level, cv_buf *raw, cv_buf *out)
{
    uint64_t start = out->len - index_bytes;
    CV_TRY(encode_index(s, sl, a, b, level, raw, out));
    uint64_t end = out->len - index_bytes;
    store64(out->data + 16 * sl[a].minishard, start);
    store64(out->data + 16 * sl[a].minishard + 8, end);
    return CV_OK;
}

/* Locate and check the items and put their slots in file order: minishard groups (ranked as
 * the layout ranks them), keys ascending within one. */
static cv_status arrange(const cv_shard_spec *s, const cv_shard_item *items, size_t n,
                         cv_shard_layout layout, slot *sl, uint64_t *shard_out)
{
    uint64_t shard = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t sh;
        sl[i].key = items[i].key;
        sl[i].item = i;
        cv_shard_locate(s, items[i].key, &sh, &sl[i].minishard);
        if (i == 0) {
            shard = sh;
        } else if (sh != shard) {
            char a[40], b[40];
            cv_shard_file_name(s, shard, a, sizeof a);
            cv_shard_file_name(s, sh, b, sizeof b);
            return CV_FAIL(CV_ERR_ARG,
                           "build shard `%s': key %" PRIu64 " belongs in shard `%s' (key %" PRIu64
                           " is in `%s')",
                           a, items[i].key, b, items[0].key, a);
        }
    }
    /* Rank the minishards: CloudVolume keeps the order in which they first appear (its
     * dict order); TensorStore goes in increasing order. */
    qsort(sl, n, sizeof *sl, cmp_minishard_item);
    for (size_t i = 0; i < n; i++) {
        bool first = i == 0 || sl[i].minishard != sl[i - 1].minishard;
        sl[i].group =
            first ? (layout == CV_SHARD_LAYOUT_TENSORSTORE ? (size_t)sl[i].minishard : sl[i].item)
                  : sl[i - 1].group;
    }
    qsort(sl, n, sizeof *sl, cmp_group_key);
    for (size_t i = 1; i < n; i++) {
        if (sl[i].key == sl[i - 1].key) {
            return CV_FAIL(CV_ERR_ARG, "build shard: key %" PRIu64 " is given twice", sl[i].key);
        }
    }
    if (shard_out) {
        *shard_out = shard;
    }
    return CV_OK;
}

static cv_status build(const cv_shard_spec *s, const cv_shard_item *items, const size_t *tails,
                       size_t n, cv_shard_layout layout, int level, slot *sl, cv_buf *out,
                       cv_buf *raw, uint64_t *shard_out)
{
    for (size_t i = 0; i < n; i++) {
        if (items[i].len && !items[i].data) {
            return CV_FAIL(CV_ERR_ARG, "build shard: key %" PRIu64 " has no data", items[i].key);
        }
    }
    uint64_t shard = 0;
    CV_TRY(arrange(s, items, n, layout, sl, &shard));
    uint64_t index_bytes = cv__shard_index_bytes(s);
    if (index_bytes > SIZE_MAX / 2) {
        return CV_FAIL(CV_ERR_NOMEM, "build shard: a shard index of %" PRIu64 " bytes",
                       index_bytes);
    }
    size_t total = (size_t)index_bytes;
    for (size_t i = 0; i < n; i++) {
        total += items[i].len + 24;
        if (total < items[i].len) {
            return CV_FAIL(CV_ERR_NOMEM, "build shard: size overflow");
        }
    }
    CV_TRY(cv__buf_reserve(out, total));
    memset(out->data, 0, (size_t)index_bytes); /* absent minishards stay 0,0 */
    out->len = (size_t)index_bytes;

    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && sl[b].group == sl[a].group) {
            b++;
        }
        for (size_t i = a; i < b; i++) {
            const cv_shard_item *it = &items[sl[i].item];
            sl[i].start = out->len - index_bytes;
            if (s->data_encoding == CV_SHARD_GZIP) {
                CV_TRY(cv_compress_gzip.compress(level, it->data, it->len, out));
            } else {
                CV_TRY(cv__buf_append(out, it->data, it->len));
            }
            sl[i].end = out->len - index_bytes;
            if (tails) { /* the index names the value's last bytes; the rest precede them */
                sl[i].start = sl[i].end - tails[sl[i].item];
            }
        }
        if (layout == CV_SHARD_LAYOUT_TENSORSTORE) {
            CV_TRY(append_index(s, sl, a, b, index_bytes, level, raw, out));
        }
        a = b;
    }
    if (layout != CV_SHARD_LAYOUT_TENSORSTORE) {
        for (size_t a = 0; a < n;) {
            size_t b = a + 1;
            while (b < n && sl[b].group == sl[a].group) {
                b++;
            }
            CV_TRY(append_index(s, sl, a, b, index_bytes, level, raw, out));
            a = b;
        }
    }
    *shard_out = shard;
    return CV_OK;
}

static cv_status build_file(const cv_shard_spec *s, const cv_shard_item *items, const size_t *tails,
                            size_t n, cv_shard_layout layout, int level, uint64_t *shard,
                            uint8_t **data, size_t *len)
{
    CV_TRY(cv_shard_spec_validate(s));
    CV_TRY(cv__shard_check_write_index(s, "build shard", 0, NULL));
    if (n == 0 || !items) {
        return CV_FAIL(CV_ERR_ARG, "build shard: no items");
    }
    if (layout != CV_SHARD_LAYOUT_CLOUDVOLUME && layout != CV_SHARD_LAYOUT_TENSORSTORE) {
        return CV_FAIL(CV_ERR_ARG, "build shard: unknown layout %d", (int)layout);
    }
    if (n > SIZE_MAX / sizeof(slot)) {
        return CV_FAIL(CV_ERR_NOMEM, "build shard: %zu items", n);
    }
    slot *sl = cv_malloc(n * sizeof *sl);
    if (!sl) {
        return CV_FAIL(CV_ERR_NOMEM, "build shard: %zu items", n);
    }
    cv_buf out, raw;
    cv__buf_init(&out, 0);
    cv__buf_init(&raw, 0);
    uint64_t sh = 0;
    cv_status rc = build(s, items, tails, n, layout, level, sl, &out, &raw, &sh);
    cv_free(sl);
    cv__buf_fini(&raw);
    if (rc != CV_OK) {
        cv__buf_fini(&out);
        return rc;
    }
    *shard = sh;
    *data = cv__buf_take(&out, len);
    return CV_OK;
}

cv_status cv_shard_build(const cv_shard_spec *s, const cv_shard_item *items, size_t n,
                         cv_shard_layout layout, int level, uint64_t *shard, uint8_t **data,
                         size_t *len)
{
    return build_file(s, items, NULL, n, layout, level, shard, data, len);
}

cv_status cv__shard_build_tail(const cv_shard_spec *s, const cv_shard_item *items,
                               const size_t *tails, size_t n, uint64_t *shard, uint8_t **data,
                               size_t *len)
{
    if (s->data_encoding != CV_SHARD_RAW) {
        return CV_FAIL(CV_ERR_ARG, "build shard: values with leading bytes need data_encoding raw");
    }
    for (size_t i = 0; i < n; i++) {
        if (tails[i] > items[i].len) {
            return CV_FAIL(CV_ERR_ARG, "build shard: key %" PRIu64 ": %zu indexed bytes of %zu",
                           items[i].key, tails[i], items[i].len);
        }
    }
    return build_file(s, items, tails, n, CV_SHARD_LAYOUT_CLOUDVOLUME, -1, shard, data, len);
}

cv_status cv__shard_plan_file(const cv_shard_spec *s, const cv_shard_item *items, size_t n,
                              int level, size_t *order, cv_buf *head, cv_buf *tail)
{
    CV_TRY(cv_shard_spec_validate(s));
    CV_TRY(cv__shard_check_write_index(s, "plan shard", 0, NULL));
    if (n == 0 || !items) {
        return CV_FAIL(CV_ERR_ARG, "plan shard: no items");
    }
    if (n > SIZE_MAX / sizeof(slot)) {
        return CV_FAIL(CV_ERR_NOMEM, "plan shard: %zu items", n);
    }
    slot *sl = cv_malloc(n * sizeof *sl);
    if (!sl) {
        return CV_FAIL(CV_ERR_NOMEM, "plan shard: %zu items", n);
    }
    uint64_t index_bytes = cv__shard_index_bytes(s);
    cv_status rc = arrange(s, items, n, CV_SHARD_LAYOUT_CLOUDVOLUME, sl, NULL);
    if (rc == CV_OK && index_bytes > SIZE_MAX / 2) {
        rc = CV_FAIL(CV_ERR_NOMEM, "plan shard: a shard index of %" PRIu64 " bytes", index_bytes);
    }
    head->len = 0;
    if (rc == CV_OK) {
        rc = cv__buf_reserve(head, (size_t)index_bytes);
    }
    /* As build() lays it out, payloads as given: the same bytes without holding them. */
    uint64_t pos = 0;
    for (size_t i = 0; rc == CV_OK && i < n; i++) {
        sl[i].start = pos;
        pos += items[sl[i].item].len;
        sl[i].end = pos;
        order[i] = sl[i].item;
    }
    if (rc == CV_OK) {
        memset(head->data, 0, (size_t)index_bytes); /* absent minishards stay 0,0 */
        head->len = (size_t)index_bytes;
    }
    cv_buf raw;
    cv__buf_init(&raw, 0);
    tail->len = 0;
    for (size_t a = 0; rc == CV_OK && a < n;) {
        size_t b = a + 1;
        while (b < n && sl[b].group == sl[a].group) {
            b++;
        }
        uint64_t start = pos + tail->len;
        rc = encode_index(s, sl, a, b, level, &raw, tail);
        if (rc == CV_OK) {
            store64(head->data + 16 * sl[a].minishard, start);
            store64(head->data + 16 * sl[a].minishard + 8, pos + tail->len);
        }
        a = b;
    }
    cv__buf_fini(&raw);
    cv_free(sl);
    return rc;
}

typedef struct by_shard {
    uint64_t shard;
    size_t item;
} by_shard;

static int cmp_by_shard(const void *a, const void *b)
{
    const by_shard *x = a, *y = b;
    if (x->shard != y->shard) {
        return x->shard < y->shard ? -1 : 1;
    }
    return x->item < y->item ? -1 : (x->item > y->item);
}

cv_status cv_shard_write(cv_store *store, const char *prefix, const cv_shard_spec *s,
                         const cv_shard_item *items, size_t n, cv_shard_layout layout, int level)
{
    CV_TRY(cv_shard_spec_validate(s));
    if (!store || n == 0 || !items) {
        return CV_FAIL(CV_ERR_ARG, "write shards: no store or no items");
    }
    by_shard *order = cv_malloc(n * sizeof *order);
    cv_shard_item *group = cv_malloc(n * sizeof *group);
    if (!order || !group || n > SIZE_MAX / sizeof *order) {
        cv_free(order);
        cv_free(group);
        return CV_FAIL(CV_ERR_NOMEM, "write shards: %zu items", n);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t m;
        cv_shard_locate(s, items[i].key, &order[i].shard, &m);
        order[i].item = i;
    }
    /* Each shard's items keep the caller's order, which sets CloudVolume's minishard order. */
    qsort(order, n, sizeof *order, cmp_by_shard);
    cv_status rc = CV_OK;
    for (size_t a = 0; rc == CV_OK && a < n;) {
        size_t b = a;
        while (b < n && order[b].shard == order[a].shard) {
            group[b - a] = items[order[b].item];
            b++;
        }
        uint64_t shard;
        uint8_t *data = NULL;
        size_t len = 0;
        char key[CV_SHARD_KEY_MAX];
        rc = cv__shard_object_key(prefix, s, order[a].shard, key, sizeof key);
        if (rc == CV_OK) {
            rc = cv_shard_build(s, group, b - a, layout, level, &shard, &data, &len);
        }
        if (rc == CV_OK) {
            rc = cv_store_put(store, key, data, len, NULL, -1, "application/octet-stream");
            cv__shard_cache_invalidate(cv_store_url(store), key);
        }
        cv_free(data);
        a = b;
    }
    cv_free(order);
    cv_free(group);
    return rc;
}

/* ---- shard geometry and parameter choice ------------------------------------------------- */

cv_status cv_shard_image_shape(const cv_shard_spec *s, const int64_t grid_shape[3],
                               int64_t minishard_chunks[3], int64_t shard_chunks[3])
{
    CV_TRY(cv_shard_spec_validate(s));
    if (s->hash != CV_SHARD_HASH_IDENTITY) {
        return CV_FAIL(CV_ERR_ARG, "shard shape: with hash murmurhash3_x86_128 shards are not "
                                   "boxes of chunks");
    }
    int bits[3];
    for (int d = 0; d < 3; d++) {
        if (grid_shape[d] < 1) {
            return CV_FAIL(CV_ERR_ARG, "shard shape: grid axis %d has %" PRId64 " cells", d,
                           grid_shape[d]);
        }
    }
    cv_morton_bits(grid_shape, bits);
    int total = bits[0] + bits[1] + bits[2];
    if (total > 64) {
        return CV_FAIL(CV_ERR_ARG, "shard shape: the grid needs %d Morton bits, more than 64",
                       total);
    }
    if (s->preshift_bits + s->minishard_bits + s->shard_bits < total) {
        return CV_FAIL(CV_ERR_ARG,
                       "shard shape: preshift_bits %d + minishard_bits %d + shard_bits %d < the "
                       "grid's %d Morton bits, so one shard file would hold several boxes",
                       s->preshift_bits, s->minishard_bits, s->shard_bits, total);
    }
    /* Hand out Morton bits in interleaving order; after k bits the box is 2^n[d] chunks. */
    int ks[2] = {s->preshift_bits, s->preshift_bits + s->minishard_bits};
    int64_t *outs[2] = {minishard_chunks, shard_chunks};
    for (int w = 0; w < 2; w++) {
        int k = ks[w] < total ? ks[w] : total;
        int nb[3] = {0, 0, 0};
        for (int i = 0, used = 0; used < k; i++) {
            for (int d = 0; d < 3 && used < k; d++) {
                if (i < bits[d]) {
                    nb[d]++;
                    used++;
                }
            }
        }
        for (int d = 0; d < 3; d++) {
            outs[w][d] = (int64_t)1 << nb[d];
        }
    }
    return CV_OK;
}

/* Python's // and % for ints (floor division; result of % has the divisor's sign). */
static int64_t py_floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t py_mod(int64_t a, int64_t b)
{
    return a - py_floordiv(a, b) * b;
}

typedef struct image_bits {
    double num_shards, chunks_per_shard;
    int64_t max_bits, shard_bits, preshift_bits;
} image_bits;

static void update_bits(image_bits *b)
{
    b->shard_bits = (int64_t)ceil(log2(b->num_shards));
    b->preshift_bits = (int64_t)ceil(log2(b->chunks_per_shard));
    if (b->max_bits - b->shard_bits < b->preshift_bits) {
        b->preshift_bits = b->max_bits - b->shard_bits;
    }
}

/* The arithmetic of CloudVolume's compute_shard_params_for_image, step for step in doubles
 * where Python uses floats, so that edge cases round the same way. */
cv_status cv_shard_params_for_image(const int64_t size[3], const int64_t chunk[3],
                                    const char *encoding, cv_dtype dtype, uint64_t shard_bytes,
                                    cv_shard_spec *out)
{
    const double uncompressed_shard_bytesize = shard_bytes ? (double)shard_bytes : 3.5e9;
    const double max_shard_index_bytes = 8192, max_minishard_index_bytes = 40000;
    const double max_labels_per_minishard = 4000;
    size_t byte_width = cv_dtype_size(dtype);
    if (byte_width == 0) {
        return CV_FAIL(CV_ERR_ARG, "sharding parameters: invalid dtype");
    }
    uint64_t chunk_voxels = 1;
    double num_chunks = 1; /* exact below 2^53; Python divides it as a float anyway */
    image_bits b = {0, 0, 0, 0, 0};
    for (int d = 0; d < 3; d++) {
        if (size[d] < 1 || chunk[d] < 1 || chunk[d] > ((int64_t)1 << 20)) {
            return CV_FAIL(CV_ERR_ARG,
                           "sharding parameters: bad size %" PRId64 " or chunk size %" PRId64
                           " on axis %d",
                           size[d], chunk[d], d);
        }
        uint64_t g = (uint64_t)((size[d] + chunk[d] - 1) / chunk[d]);
        chunk_voxels *= (uint64_t)chunk[d];
        num_chunks *= (double)g;
        b.max_bits += (int64_t)ceil(log2((double)g));
    }
    double cps = ceil(uncompressed_shard_bytesize / (double)(chunk_voxels * byte_width));
    cps = exp2(floor(log2(cps)));
    if (num_chunks < cps) {
        cps = exp2(ceil(log2(num_chunks)));
    }
    b.chunks_per_shard = cps;
    b.num_shards = num_chunks / cps;
    update_bits(&b);

    double labels_per_minishard = cps;
    int64_t minishard_bits = 0;
    while (labels_per_minishard > max_labels_per_minishard) {
        labels_per_minishard /= 2;
        minishard_bits++;
        double minishard_size = 3 * 8 * labels_per_minishard;
        double shard_index_size = 2 * 8 * exp2((double)minishard_bits);
        bool minishard_too_big =
            minishard_size > max_minishard_index_bytes && minishard_bits > b.preshift_bits;
        if (minishard_too_big || shard_index_size > max_shard_index_bytes) {
            minishard_bits--;
            b.num_shards *= 2;
            update_bits(&b);
        }
    }
    /* preshift + minishard bits index the chunks of one shard: minishard bits come out of
     * preshift; single-slab volumes (size z == chunk z) get extra preshift bits. */
    int64_t preshift_bits = b.preshift_bits - minishard_bits;
    int64_t max_bits = b.max_bits;
    if (size[2] == chunk[2]) {
        int64_t additional = py_floordiv(preshift_bits, 3);
        for (int64_t i = 0; i < additional;) {
            max_bits++;
            preshift_bits++;
            if (py_mod(preshift_bits, 3) != 0) {
                i++;
            }
        }
    }
    int64_t shard_bits = max_bits - preshift_bits - minishard_bits;
    shard_bits = shard_bits > 0 ? shard_bits : 0;
    if (max_bits > 64) {
        return CV_FAIL(CV_ERR_ARG,
                       "sharding parameters: %" PRId64 " bits, more than a 64-bit integer, would "
                       "be needed for the chunk positions of size %" PRId64 "x%" PRId64 "x%" PRId64
                       " chunk %" PRId64 "x%" PRId64 "x%" PRId64,
                       max_bits, size[0], size[1], size[2], chunk[0], chunk[1], chunk[2]);
    }
    if (preshift_bits < 0) {
        return CV_FAIL(CV_ERR_ARG,
                       "sharding parameters: preshift bits cannot be negative (%" PRId64 ")",
                       preshift_bits);
    }
    if (preshift_bits + shard_bits + minishard_bits > max_bits) {
        return CV_FAIL(CV_ERR_ARG,
                       "sharding parameters: preshift %" PRId64 " + shard %" PRId64
                       " + minishard %" PRId64 " bits exceed the %" PRId64 " available",
                       preshift_bits, shard_bits, minishard_bits, max_bits);
    }
    static const char *const raw_encodings[] = {"jpeg", "png", "kempressed", "fpzip", "zfpc"};
    cv_shard_encoding data = CV_SHARD_GZIP;
    for (size_t i = 0; encoding && i < sizeof raw_encodings / sizeof raw_encodings[0]; i++) {
        if (strcmp(encoding, raw_encodings[i]) == 0) {
            data = CV_SHARD_RAW;
        }
    }
    cv_shard_spec s = {(int)preshift_bits, CV_SHARD_HASH_IDENTITY, (int)minishard_bits,
                       (int)shard_bits,    CV_SHARD_GZIP,          data};
    CV_TRY(cv_shard_spec_validate(&s));
    *out = s;
    return CV_OK;
}

cv_status cv_shard_params_for_hashed(uint64_t num_labels, uint64_t min_shards, cv_shard_spec *out)
{
    if (min_shards < 1) {
        return CV_FAIL(CV_ERR_ARG, "sharding parameters: min_shards must be at least 1");
    }
    double shard_bits = 0, minishard_bits = 0;
    if (num_labels > 0) {
        const double minishards_per_shard = 8192.0 / 2 / 8;
        const double labels_per_minishard = 32768.0 / 3 / 8;
        const double labels_per_shard = minishards_per_shard * labels_per_minishard;
        const double n = (double)num_labels;
        if (n >= labels_per_shard) {
            minishard_bits = ceil(log2(minishards_per_shard));
            shard_bits = ceil(log2(n / (labels_per_minishard * exp2(minishard_bits))));
        } else if (n >= labels_per_minishard) {
            minishard_bits = ceil(log2(n / labels_per_minishard));
        }
        /* Pack shards to capacity, allowing about 10% over. */
        if (n / (labels_per_shard * exp2(shard_bits)) <= 0.55) {
            shard_bits -= 1;
        }
        shard_bits = fmax(shard_bits, 0);
        double min_shard_bits = nearbyint(log2((double)min_shards)); /* numpy rounds to even */
        double delta = fmax(min_shard_bits - shard_bits, 0);
        shard_bits += delta;
        minishard_bits -= delta;
        shard_bits = fmax(shard_bits, min_shard_bits);
        minishard_bits = fmax(minishard_bits, 0);
    }
    cv_shard_spec s = {0,
                       CV_SHARD_HASH_MURMURHASH3_X86_128,
                       (int)minishard_bits,
                       (int)shard_bits,
                       CV_SHARD_GZIP,
                       CV_SHARD_GZIP};
    CV_TRY(cv_shard_spec_validate(&s));
    *out = s;
    return CV_OK;
}
