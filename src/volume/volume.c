/* SPDX-License-Identifier: BSD-3-Clause
 * volume.c: opening and creating layers: fetch and validate the info (following "redirect"
 * as CloudVolume does, cloudvolume-conventions §5), commit it, and the helpers that map a
 * scale's chunks to codecs, keys and array regions. */
#include "volume/volume.h"

#include "base/checked.h"
#include "io/cache.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

cv_opts cv_opts_default(void)
{
    cv_opts o;
    memset(&o, 0, sizeof o);
    o.bounded = true;
    o.compress_level = -1;
    o.max_redirects = 10;
    o.threads = 1;
    return o;
}

static cv_status fetch_info(cv_store *s, cv_info **out)
{
    uint8_t *data;
    size_t len;
    cv_status rc = cv_store_get(s, "info", 64 << 20, &data, &len);
    if (rc == CV_ERR_NOTFOUND) {
        return CV_FAIL(CV_ERR_NOTFOUND, "no info file at %s", cv_store_url(s));
    }
    CV_TRY(rc);
    char *what = cv__asprintf("%s/info", cv_store_url(s));
    rc = what ? cv_info_parse((const char *)data, len, what, out) : CV_FAIL(CV_ERR_NOMEM, "info");
    cv_free(what);
    cv_free(data);
    return rc;
}

/* Open the store at `url` with the volume options' disk cache attached (if any). */
static cv_status open_store(const char *url, const cv_opts *o, cv_store **out)
{
    CV_TRY(cv_store_open(url, out));
    if (!o->cache) {
        return CV_OK;
    }
    cv_cache_cfg cfg = {o->cache, o->cache_max_age, o->cache_info_age, o->cache_bytes};
    cv_status rc = cv__store_attach_cache(*out, &cfg);
    if (rc != CV_OK) {
        cv_store_close(*out);
        *out = NULL;
    }
    return rc;
}

/* The handle's in-memory LRU, when asked for. */
static cv_status open_lru(cv_volume *v)
{
    if (v->opts.lru_bytes == 0) {
        return CV_OK;
    }
    v->lru = cv__chunk_lru_new(v->opts.lru_bytes);
    return v->lru ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "open volume");
}

/* Follow redirects: at most max_redirects fetches, no cycles (CloudVolume's semantics). */
static cv_status open_following(const char *cloudpath, const cv_opts *o, cv_store **store_out,
                                cv_info **info_out, int *hops_out)
{
    int max_redirects = o->max_redirects;
    enum { MAX_VISITED = 64 };
    char *visited[MAX_VISITED];
    int n_visited = 0;
    cv_store *s = NULL;
    cv_info *info = NULL;
    CV_TRY(open_store(cloudpath, o, &s));
    cv_status rc = CV_OK;
    int fetches = max_redirects > 0 ? max_redirects : 1;
    if (fetches > MAX_VISITED - 1) {
        fetches = MAX_VISITED - 1;
    }
    visited[n_visited++] = cv__strdup(cv_store_url(s));
    bool done = false;
    for (int i = 0; i < fetches && rc == CV_OK; i++) {
        rc = fetch_info(s, &info);
        if (rc != CV_OK) {
            break;
        }
        if (max_redirects <= 0 || !info->redirect || !*info->redirect) {
            done = true;
            break;
        }
        cv_store *next = NULL;
        rc = open_store(info->redirect, o, &next);
        if (rc != CV_OK) {
            cv__err_wrap("follow redirect of %s", cv_store_url(s));
            break;
        }
        if (strcmp(cv_store_url(next), cv_store_url(s)) == 0) {
            cv_store_close(next);
            done = true;
            break;
        }
        for (int k = 0; k < n_visited; k++) {
            if (strcmp(visited[k], cv_store_url(next)) == 0) {
                rc = CV_FAIL(CV_ERR_INFO, "open %s: cyclic redirect back to %s", cloudpath,
                             cv_store_url(next));
            }
        }
        if (rc != CV_OK) {
            cv_store_close(next);
            break;
        }
        visited[n_visited++] = cv__strdup(cv_store_url(next));
        cv_store_close(s);
        cv_info_free(info);
        info = NULL;
        s = next;
    }
    if (rc == CV_OK && !done) {
        rc = CV_FAIL(CV_ERR_INFO, "open %s: too many redirects (more than %d)", cloudpath,
                     max_redirects);
    }
    for (int k = 0; k < n_visited; k++) {
        cv_free(visited[k]);
    }
    if (rc != CV_OK) {
        cv_info_free(info);
        cv_store_close(s);
        return rc;
    }
    *store_out = s;
    *info_out = info;
    *hops_out = n_visited - 1;
    return CV_OK;
}

cv_status cv_volume_open(const char *cloudpath, const cv_opts *o, cv_volume **out)
{
    cv_opts opts = o ? *o : cv_opts_default();
    if (strncmp(cloudpath, "graphene://", 11) == 0) {
        return cv__graphene_open(cloudpath, &opts, out);
    }
    cv_store *s;
    cv_info *info;
    int hops;
    CV_TRY(open_following(cloudpath, &opts, &s, &info, &hops));
    cv_volume *v = cv_calloc(1, sizeof *v);
    if (!v) {
        cv_info_free(info);
        cv_store_close(s);
        return CV_FAIL(CV_ERR_NOMEM, "open volume");
    }
    v->store = s;
    v->info = info;
    v->opts = opts;
    v->readonly = hops >= 2;
    cv_status rc = open_lru(v);
    if (rc != CV_OK) {
        cv_volume_close(v);
        return rc;
    }
    *out = v;
    return CV_OK;
}

cv_status cv_volume_create(const char *cloudpath, const cv_info *info, bool overwrite,
                           const cv_opts *o, cv_volume **out)
{
    CV_TRY(cv_info_validate(info));
    cv_volume *v = cv_calloc(1, sizeof *v);
    if (!v) {
        return CV_FAIL(CV_ERR_NOMEM, "create volume");
    }
    v->opts = o ? *o : cv_opts_default();
    cv_status rc = cv_store_open(cloudpath, &v->store);
    bool exists = false;
    if (rc == CV_OK) {
        rc = cv_store_exists(v->store, "info", &exists);
    }
    if (rc == CV_OK && exists && !overwrite) {
        rc = CV_FAIL(CV_ERR_ARG, "create %s: an info file already exists there",
                     cv_store_url(v->store));
    }
    if (rc == CV_OK) {
        rc = cv_info_copy(info, &v->info);
    }
    if (rc == CV_OK) {
        rc = cv_volume_commit_info(v);
    }
    if (rc != CV_OK) {
        cv_volume_close(v);
        return rc;
    }
    *out = v;
    return CV_OK;
}

cv_status cv_volume_open_info(const char *cloudpath, const cv_info *info, const cv_opts *o,
                              cv_volume **out)
{
    CV_TRY(cv_info_validate(info));
    cv_volume *v = cv_calloc(1, sizeof *v);
    if (!v) {
        return CV_FAIL(CV_ERR_NOMEM, "open volume");
    }
    v->opts = o ? *o : cv_opts_default();
    cv_status rc = open_store(cloudpath, &v->opts, &v->store);
    if (rc == CV_OK) {
        rc = cv_info_copy(info, &v->info);
    }
    if (rc == CV_OK) {
        rc = open_lru(v);
    }
    if (rc != CV_OK) {
        cv_volume_close(v);
        return rc;
    }
    *out = v;
    return CV_OK;
}

cv_status cv_volume_set_info(cv_volume *v, const cv_info *info)
{
    CV_TRY(cv_info_validate(info));
    cv_info *copy;
    CV_TRY(cv_info_copy(info, &copy));
    /* The readers were opened with the old scales' sharding; kept chunks may be stale. */
    cv__volume_close_shard_readers(v);
    cv__chunk_lru_clear(v->lru);
    cv_info_free(v->info);
    v->info = copy;
    return CV_OK;
}

static struct {
    atomic_uint_fast64_t n_read, n_written, n_deleted, n_missing, requests;
    atomic_uint_fast64_t bytes_read, bytes_written, io_ns, codec_ns;
} closed;

void cv__volume_stats_closed(cv_volume_stats *out)
{
    out->chunks_read = atomic_load(&closed.n_read);
    out->chunks_written = atomic_load(&closed.n_written);
    out->chunks_deleted = atomic_load(&closed.n_deleted);
    out->chunks_missing = atomic_load(&closed.n_missing);
    out->requests = atomic_load(&closed.requests);
    out->bytes_read = atomic_load(&closed.bytes_read);
    out->bytes_written = atomic_load(&closed.bytes_written);
    out->io_seconds = (double)atomic_load(&closed.io_ns) * 1e-9;
    out->codec_seconds = (double)atomic_load(&closed.codec_ns) * 1e-9;
}

void cv_volume_close(cv_volume *v)
{
    if (!v) {
        return;
    }
    atomic_fetch_add(&closed.n_read, atomic_load(&v->n_read));
    atomic_fetch_add(&closed.n_written, atomic_load(&v->n_written));
    atomic_fetch_add(&closed.n_deleted, atomic_load(&v->n_deleted));
    atomic_fetch_add(&closed.n_missing, atomic_load(&v->n_missing));
    atomic_fetch_add(&closed.requests, atomic_load(&v->n_requests));
    atomic_fetch_add(&closed.bytes_read, atomic_load(&v->bytes_read));
    atomic_fetch_add(&closed.bytes_written, atomic_load(&v->bytes_written));
    atomic_fetch_add(&closed.io_ns, atomic_load(&v->io_ns));
    atomic_fetch_add(&closed.codec_ns, atomic_load(&v->codec_ns));
    cv__volume_close_shard_readers(v);
    cv__volume_write_fini(v);
    cv__graphene_free(v->graphene);
    cv__chunk_lru_free(v->lru);
    cv_info_free(v->info);
    cv_store_close(v->store);
    cv_free(v);
}

const cv_info *cv_volume_info(const cv_volume *v)
{
    return v->info;
}

cv_info *cv_volume_info_mut(cv_volume *v)
{
    return v->info;
}

cv_store *cv_volume_store(cv_volume *v)
{
    return v->store;
}

const char *cv_volume_url(const cv_volume *v)
{
    return cv_store_url(v->store);
}

bool cv_volume_is_readonly(const cv_volume *v)
{
    return v->readonly;
}

cv_status cv_volume_commit_info(cv_volume *v)
{
    if (v->readonly) {
        return CV_FAIL(CV_ERR_READONLY, "commit info of %s: opened through redirects, read-only",
                       cv_store_url(v->store));
    }
    char *json;
    size_t len;
    CV_TRY(cv_info_to_json(v->info, &json, &len));
    /* info is always stored uncompressed, as CloudVolume does. */
    cv_status rc = cv_store_put(v->store, "info", json, len, NULL, -1, "application/json");
    cv_free(json);
    return rc;
}

cv_status cv_volume_provenance(cv_volume *v, cv_provenance **out)
{
    uint8_t *data;
    size_t len;
    cv_status rc = cv_store_get(v->store, "provenance", 64 << 20, &data, &len);
    if (rc == CV_ERR_NOTFOUND) {
        cv_err_clear();
        *out = cv_provenance_new();
        return *out ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "provenance");
    }
    CV_TRY(rc);
    char *what = cv__asprintf("%s/provenance", cv_store_url(v->store));
    rc = what ? cv_provenance_parse((const char *)data, len, what, out)
              : CV_FAIL(CV_ERR_NOMEM, "provenance");
    cv_free(what);
    cv_free(data);
    return rc;
}

cv_status cv_volume_commit_provenance(cv_volume *v, const cv_provenance *p)
{
    if (v->readonly) {
        return CV_FAIL(CV_ERR_READONLY,
                       "commit provenance of %s: opened through redirects, "
                       "read-only",
                       cv_store_url(v->store));
    }
    char *json;
    size_t len;
    CV_TRY(cv_provenance_to_json(p, &json, &len));
    cv_status rc = cv_store_put(v->store, "provenance", json, len, NULL, -1, "application/json");
    cv_free(json);
    return rc;
}

cv_status cv__volume_check_mip(const cv_volume *v, int mip)
{
    if (mip < 0 || mip >= v->info->n_scales) {
        return CV_FAIL(CV_ERR_ARG, "%s: no mip %d (scales 0..%d)", cv_store_url(v->store), mip,
                       v->info->n_scales - 1);
    }
    return CV_OK;
}

cv_status cv__volume_codec(const cv_volume *v, int mip, const cv_codec **out)
{
    const char *enc = v->info->scales[mip].encoding;
    const cv_codec *c = cv__codec_find(enc);
    if (!c) {
        return CV_FAIL(CV_ERR_UNSUPPORTED,
                       "%s mip %d: encoding \"%s\" is not supported by this "
                       "build (have: %s)",
                       cv_store_url(v->store), mip, enc, cv__codec_names());
    }
    *out = c;
    return CV_OK;
}

cv_chunk_desc cv__volume_chunk_desc(const cv_volume *v, int mip, cv_bbox cell_box)
{
    cv_chunk_desc d;
    memset(&d, 0, sizeof d);
    d.dtype = v->info->dtype;
    d.channels = (uint32_t)v->info->num_channels;
    for (int i = 0; i < 3; i++) {
        d.shape[i] = (uint32_t)(cell_box.max[i] - cell_box.min[i]);
        d.cseg_block[i] = (uint32_t)v->info->scales[mip].cseg_block[i];
    }
    d.scale_extra = v->info->scales[mip].extra_json;
    return d;
}

int cv_volume_chunk_key(const cv_volume *v, int mip, cv_bbox cell_box, char *buf, size_t cap)
{
    char name[160];
    cv_chunk_name_format(cell_box, name, sizeof name);
    return snprintf(buf, cap, "%s/%s", v->info->scales[mip].key, name);
}

/* Bytes of `b`; false if they do not fit in 64 bits. */
static bool box_bytes(const cv_volume *v, cv_bbox b, uint64_t *out)
{
    uint64_t voxels;
    return cv__bbox_voxels_checked(b, &voxels) &&
           cv__mul4_u64(voxels, (uint64_t)v->info->num_channels, cv_dtype_size(v->info->dtype), 1,
                        out);
}

size_t cv_volume_box_bytes(const cv_volume *v, cv_bbox b)
{
    uint64_t n;
    if (!box_bytes(v, b, &n) || n > SIZE_MAX) {
        return SIZE_MAX;
    }
    return (size_t)n;
}

/* The machine's memory in bytes (INT64_MAX when unknown). */
static size_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) {
        return (size_t)INT64_MAX;
    }
    uint64_t mem;
    return cv__mul_u64((uint64_t)pages, (uint64_t)page, &mem) && mem < (uint64_t)INT64_MAX
               ? (size_t)mem
               : (size_t)INT64_MAX;
}

size_t cv__volume_max_bytes(const cv_volume *v)
{
    if (v->opts.max_bytes > 0) {
        return v->opts.max_bytes < (size_t)INT64_MAX ? v->opts.max_bytes : (size_t)INT64_MAX;
    }
    /* No single box or chunk larger than the machine's memory can be held: refuse it up front
     * instead of asking malloc (which may overcommit and fail later, page by page). Asked once:
     * sysconf(_SC_PHYS_PAGES) is a sysinfo(2) call, and this runs for every chunk read. */
    static _Atomic size_t machine_bytes;
    size_t known = atomic_load_explicit(&machine_bytes, memory_order_relaxed);
    if (known) {
        return known;
    }
    known = physical_memory();
    atomic_store_explicit(&machine_bytes, known, memory_order_relaxed);
    return known;
}

cv_status cv_volume_check_box(const cv_volume *v, cv_bbox b, size_t *bytes)
{
    uint64_t n;
    char rb[160];
    cv_bbox_format(b, rb, sizeof rb);
    if (!box_bytes(v, b, &n)) {
        /* Only an estimate can be printed: the exact count needs more than 64 bits. */
        double est = 1;
        for (int d = 0; d < 3; d++) {
            est *= (double)((uint64_t)b.max[d] - (uint64_t)b.min[d]);
        }
        est *= (double)v->info->num_channels * (double)cv_dtype_size(v->info->dtype);
        return CV_FAIL(CV_ERR_ARG, "%s: box %s of %.4g bytes does not fit in 64 bits",
                       cv_store_url(v->store), rb, est);
    }
    if (n > cv__volume_max_bytes(v)) {
        return CV_FAIL(CV_ERR_ARG,
                       "%s: box %s of %" PRIu64 " bytes does not fit in memory (%zu bytes)",
                       cv_store_url(v->store), rb, n, cv__volume_max_bytes(v));
    }
    *bytes = (size_t)n;
    return CV_OK;
}

cv_status cv_volume_resolve_box(const cv_volume *v, int mip, cv_bbox req, cv_bbox *out)
{
    CV_TRY(cv__volume_check_mip(v, mip));
    cv_bbox bounds = cv_info_bounds(v->info, mip);
    char rb[160], bb[160];
    cv_bbox_format(req, rb, sizeof rb);
    cv_bbox_format(bounds, bb, sizeof bb);
    if (cv_bbox_is_empty(req)) {
        return CV_FAIL(CV_ERR_ARG, "box %s is empty (a box is x0,y0,z0,x1,y1,z1 with x0 < x1 ...)",
                       rb);
    }
    cv_bbox box = req;
    if (v->opts.autocrop) {
        box = cv_bbox_intersect(req, bounds);
        if (cv_bbox_is_empty(box)) {
            return CV_FAIL(CV_ERR_BOUNDS, "box %s lies outside the volume %s at mip %d", rb, bb,
                           mip);
        }
    } else if (v->opts.bounded && !cv_bbox_contains(bounds, req)) {
        return CV_FAIL(CV_ERR_BOUNDS, "box %s is outside the volume bounds %s at mip %d", rb, bb,
                       mip);
    }
    *out = box;
    return CV_OK;
}

cv_status cv__volume_select_box(const cv_volume *v, const char *mip_text, const char *bbox_text,
                                int *mip, cv_bbox *box)
{
    int m = 0;
    if (mip_text) {
        CV_TRY(cv_info_select_mip(v->info, mip_text, &m));
    }
    cv_bbox req = cv_info_bounds(v->info, m);
    if (bbox_text) {
        CV_TRY(cv_bbox_parse(bbox_text, &req));
    }
    CV_TRY(cv_volume_resolve_box(v, m, req, box));
    *mip = m;
    return CV_OK;
}

/* Offset of voxel (x,y,z,c) in an array framed by `f`. */
static size_t frame_index(cv_bbox f, int64_t x, int64_t y, int64_t z, int64_t c)
{
    size_t sx = (size_t)(f.max[0] - f.min[0]), sy = (size_t)(f.max[1] - f.min[1]),
           sz = (size_t)(f.max[2] - f.min[2]);
    return (size_t)(x - f.min[0]) +
           sx * ((size_t)(y - f.min[1]) + sy * ((size_t)(z - f.min[2]) + sz * (size_t)c));
}

void cv__copy_region(size_t elem, int64_t channels, const uint8_t *src, cv_bbox src_frame,
                     uint8_t *dst, cv_bbox dst_frame, cv_bbox region)
{
    if (cv_bbox_is_empty(region)) {
        return;
    }
    size_t row = (size_t)(region.max[0] - region.min[0]) * elem;
    if (cv_bbox_equal(region, src_frame) && cv_bbox_equal(region, dst_frame)) {
        /* the whole array, as a whole chunk read into a buffer of its own (exchange rounds):
         * one copy rather than a call per row */
        memcpy(dst, src, (size_t)cv_bbox_voxels(region) * elem * (size_t)channels);
        return;
    }
    for (int64_t c = 0; c < channels; c++) {
        for (int64_t z = region.min[2]; z < region.max[2]; z++) {
            for (int64_t y = region.min[1]; y < region.max[1]; y++) {
                memcpy(dst + elem * frame_index(dst_frame, region.min[0], y, z, c),
                       src + elem * frame_index(src_frame, region.min[0], y, z, c), row);
            }
        }
    }
}

void cv__fill_background(const cv_volume *v, uint8_t *dst, cv_bbox frame, cv_bbox region)
{
    if (cv_bbox_is_empty(region)) {
        return;
    }
    size_t elem = cv_dtype_size(v->info->dtype);
    uint8_t value[8];
    cv__dtype_store(v->info->dtype, v->opts.background_color, value);
    bool zero = true;
    for (size_t i = 0; i < elem; i++) {
        zero = zero && value[i] == 0;
    }
    size_t n = (size_t)(region.max[0] - region.min[0]);
    for (int64_t c = 0; c < v->info->num_channels; c++) {
        for (int64_t z = region.min[2]; z < region.max[2]; z++) {
            for (int64_t y = region.min[1]; y < region.max[1]; y++) {
                uint8_t *p = dst + elem * frame_index(frame, region.min[0], y, z, c);
                if (zero) {
                    memset(p, 0, n * elem);
                    continue;
                }
                for (size_t i = 0; i < n; i++) {
                    memcpy(p + i * elem, value, elem);
                }
            }
        }
    }
}

uint64_t cv__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cv_volume_get_stats(const cv_volume *v, cv_volume_stats *out)
{
    out->chunks_read = atomic_load(&v->n_read);
    out->chunks_written = atomic_load(&v->n_written);
    out->chunks_deleted = atomic_load(&v->n_deleted);
    out->chunks_missing = atomic_load(&v->n_missing);
    out->requests = atomic_load(&v->n_requests);
    out->bytes_read = atomic_load(&v->bytes_read);
    out->bytes_written = atomic_load(&v->bytes_written);
    out->io_seconds = (double)atomic_load(&v->io_ns) * 1e-9;
    out->codec_seconds = (double)atomic_load(&v->codec_ns) * 1e-9;
}

bool cv__all_background(const cv_volume *v, const uint8_t *p, size_t n)
{
    size_t elem = cv_dtype_size(v->info->dtype);
    uint8_t value[8];
    cv__dtype_store(v->info->dtype, v->opts.background_color, value);
    for (size_t i = 0; i < n; i += elem) {
        if (memcmp(p + i, value, elem) != 0) {
            return false;
        }
    }
    return true;
}

/* Fetch the chunk's encoded bytes (transport compression undone) into `out`, counted. */
static cv_status fetch_stored(cv_volume *v, int mip, cv_bbox cell_box, const char *key, size_t want,
                              cv_buf *out, cv_buf *scratch)
{
    /* An encoded chunk is never far larger than its voxels; the cap stops bombs early. */
    out->max = want * 2 + (1 << 20);
    uint64_t t0 = cv__now_ns();
    cv_status rc = v->info->scales[mip].sharding_json
                       ? cv__volume_fetch_sharded(v, mip, cell_box, out, scratch)
                       : cv__store_get_into(v->store, key, out, scratch);
    atomic_fetch_add(&v->io_ns, cv__now_ns() - t0);
    atomic_fetch_add(&v->n_requests, 1);
    if (rc == CV_ERR_NOTFOUND) {
        atomic_fetch_add(&v->n_missing, 1);
        return rc;
    }
    if (rc != CV_OK) {
        cv__err_wrap("read chunk `%s' of %s", key, cv_store_url(v->store));
        return rc;
    }
    if (out->len == 0) {
        atomic_fetch_add(&v->n_missing, 1);
        return cv__notfound("chunk `%s' of %s is empty", key, cv_store_url(v->store));
    }
    atomic_fetch_add(&v->n_read, 1);
    atomic_fetch_add(&v->bytes_read, out->len);
    return CV_OK;
}

/* The chunk's key and decoded size, refused when it cannot fit in memory. */
static cv_status chunk_key_size(cv_volume *v, int mip, cv_bbox cell_box, char *key, size_t cap,
                                size_t *want)
{
    cv_volume_chunk_key(v, mip, cell_box, key, cap);
    cv_chunk_desc d = cv__volume_chunk_desc(v, mip, cell_box);
    *want = cv__chunk_desc_bytes(&d);
    if (*want > cv__volume_max_bytes(v)) {
        return CV_FAIL(CV_ERR_ARG,
                       "read chunk `%s' of %s: %zu bytes do not fit in memory (%zu bytes)", key,
                       cv_store_url(v->store), *want, cv__volume_max_bytes(v));
    }
    return CV_OK;
}

cv_status cv__volume_fetch_stored(cv_volume *v, int mip, cv_bbox cell_box, cv_buf *out,
                                  cv_buf *scratch)
{
    char key[4096];
    size_t want;
    CV_TRY(chunk_key_size(v, mip, cell_box, key, sizeof key, &want));
    return fetch_stored(v, mip, cell_box, key, want, out, scratch);
}

cv_status cv__volume_decode_chunk(cv_volume *v, int mip, cv_bbox cell_box, const cv_buf *stored,
                                  cv_buf *out)
{
    const cv_codec *codec = NULL;
    CV_TRY(cv__volume_codec(v, mip, &codec));
    cv_chunk_desc d = cv__volume_chunk_desc(v, mip, cell_box);
    size_t want = cv__chunk_desc_bytes(&d);
    out->len = 0;
    out->max = want;
    uint64_t t0 = cv__now_ns();
    cv_status rc = codec->decode(&d, stored->data, stored->len, out);
    atomic_fetch_add(&v->codec_ns, cv__now_ns() - t0);
    if (rc == CV_OK && out->len != want) {
        rc = CV_FAIL(CV_ERR_CORRUPT, "%s: decoded to %zu bytes, want %zu", codec->name, out->len,
                     want);
    }
    if (rc != CV_OK) {
        char key[4096];
        cv_volume_chunk_key(v, mip, cell_box, key, sizeof key);
        cv__err_wrap("read chunk `%s' of %s", key, cv_store_url(v->store));
    }
    return rc;
}

cv_status cv__volume_fetch_chunk(cv_volume *v, int mip, cv_bbox cell_box, cv_buf *out,
                                 cv_buf *scratch, cv_buf *scratch2)
{
    const cv_codec *codec = NULL;
    CV_TRY(cv__volume_codec(v, mip, &codec));
    char key[4096];
    size_t want;
    CV_TRY(chunk_key_size(v, mip, cell_box, key, sizeof key, &want));
    out->max = want;
    if (v->lru && cv__chunk_lru_get(v->lru, mip, cell_box.min, out)) {
        return CV_OK;
    }
    CV_TRY(fetch_stored(v, mip, cell_box, key, want, scratch, scratch2));
    cv_status rc = CV_OK;
    out->len = 0;
    out->max = want;
    if (codec == &cv_codec_raw && scratch->len == want) {
        /* raw decodes to itself: hand the fetched bytes over instead of copying them, one
         * whole copy of the chunk less (tests/bench/bench_volume.c). */
        cv_buf fetched = *scratch;
        *scratch = *out;
        *out = fetched;
        out->max = want;
    } else {
        rc = cv__volume_decode_chunk(v, mip, cell_box, scratch, out);
    }
    if (rc == CV_OK && v->lru) {
        cv__chunk_lru_put(v->lru, mip, cell_box.min, out->data, out->len);
    }
    return rc;
}

cv_status cv__volume_read_plain_chunk(cv_volume *v, int mip, cv_bbox cell_box, uint8_t *dst,
                                      size_t n, bool *done)
{
    *done = false;
    const cv_codec *codec = NULL;
    CV_TRY(cv__volume_codec(v, mip, &codec));
    if (codec != &cv_codec_raw || v->lru || v->info->scales[mip].sharding_json ||
        !cv__store_reads_plain(v->store)) {
        return CV_OK;
    }
    char key[4096];
    size_t want;
    CV_TRY(chunk_key_size(v, mip, cell_box, key, sizeof key, &want));
    if (want != n) {
        return CV_OK;
    }
    cv_buf into = {.data = dst, .len = 0, .cap = n, .max = n}; /* never grown: see store.h */
    uint64_t t0 = cv__now_ns();
    cv_status rc = cv__store_get_plain(v->store, key, &into);
    if (rc != CV_OK || into.len != want) {
        /* key.gz or key.br, absent, cut short or too long: the usual way reads it again and
         * says what it is */
        cv_err_clear();
        return CV_OK;
    }
    atomic_fetch_add(&v->io_ns, cv__now_ns() - t0);
    atomic_fetch_add(&v->n_requests, 1);
    atomic_fetch_add(&v->n_read, 1);
    atomic_fetch_add(&v->bytes_read, into.len);
    *done = true;
    return CV_OK;
}

const char *cv_version(void)
{
    static char text[320];
    if (!text[0]) {
        snprintf(text, sizeof text, "%s (storage: %s; codecs: %s; meshes: legacy%s)", "0.1.0",
                 cv__store_schemes(), cv__codec_names(),
                 cv_draco_available() ? " multires-draco" : "");
    }
    return text;
}
