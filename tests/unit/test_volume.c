/* SPDX-License-Identifier: BSD-3-Clause
 * test_volume.c: volumes on mem://: write/read round trips against a reference computed here
 * (several dtypes, 1 and 3 channels, clipped edge chunks, a negative voxel_offset), background
 * fill, missing and corrupt chunks, alignment, delete_black_uploads (test-vectors §9),
 * compression choices, threads, and CloudVolume's redirect rules. */
#include "testlib.h"

#include "volume/volume.h"

/* ---- reference data -------------------------------------------------------------------- */

/* A pseudo-random value for voxel (x,y,z,c) of data set `salt`. */
static uint64_t vox(int64_t x, int64_t y, int64_t z, int64_t c, int salt)
{
    uint64_t h = (uint64_t)(x + 1000) * 73856093u ^ (uint64_t)(y + 1000) * 19349663u ^
                 (uint64_t)(z + 1000) * 83492791u ^ (uint64_t)(c + 1) * 2654435761u ^
                 (uint64_t)salt * 977u;
    h ^= h >> 13;
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

/* Store value `v` as an element of type `t` at `dst`. */
static void put_elem(cv_dtype t, uint64_t v, uint8_t *dst)
{
    switch (t) {
    case CV_UINT8: {
        uint8_t e = (uint8_t)(v % 251 + 2);
        memcpy(dst, &e, 1);
        break;
    }
    case CV_UINT16: {
        uint16_t e = (uint16_t)(v % 65521 + 2);
        memcpy(dst, &e, 2);
        break;
    }
    case CV_FLOAT32: {
        float e = (float)(v % 100000) * 0.5f + 0.25f;
        memcpy(dst, &e, 4);
        break;
    }
    case CV_UINT64:
        v |= (uint64_t)1 << 40;
        memcpy(dst, &v, 8);
        break;
    default:
        memset(dst, 0xAB, cv_dtype_size(t));
        break;
    }
}

/* The array (x fastest, channel slowest) of box `frame`: data set `salt` inside `bounds`, with
 * data set `over_salt` (zeros if negative) inside `over` (may be empty), background `bg`
 * outside `bounds`. */
static uint8_t *make_array(cv_dtype t, int64_t ch, cv_bbox frame, cv_bbox bounds, double bg,
                           int salt, cv_bbox over, int over_salt, size_t *len)
{
    size_t elem = cv_dtype_size(t);
    size_t n = (size_t)cv_bbox_voxels(frame) * (size_t)ch * elem;
    uint8_t *a = malloc(n ? n : 1);
    if (!a) {
        return NULL;
    }
    uint8_t bgv[8];
    cv__dtype_store(t, bg, bgv);
    size_t i = 0;
    for (int64_t c = 0; c < ch; c++) {
        for (int64_t z = frame.min[2]; z < frame.max[2]; z++) {
            for (int64_t y = frame.min[1]; y < frame.max[1]; y++) {
                for (int64_t x = frame.min[0]; x < frame.max[0]; x++, i += elem) {
                    cv_bbox p = cv_bbox_make(x, y, z, x + 1, y + 1, z + 1);
                    if (!cv_bbox_contains(bounds, p)) {
                        memcpy(a + i, bgv, elem);
                    } else if (!cv_bbox_is_empty(over) && cv_bbox_contains(over, p)) {
                        if (over_salt < 0) {
                            memset(a + i, 0, elem); /* zeros */
                        } else {
                            put_elem(t, vox(x, y, z, c, over_salt), a + i);
                        }
                    } else {
                        put_elem(t, vox(x, y, z, c, salt), a + i);
                    }
                }
            }
        }
    }
    *len = n;
    return a;
}

static const cv_bbox no_box = {{0, 0, 0}, {0, 0, 0}};

/* ---- volume helpers -------------------------------------------------------------------- */

typedef struct geom {
    int64_t size[3], offset[3], chunk[3];
} geom;

/* The corpus-like geometry: 70x50x23 at (-5,3,-7), chunks 32x32x16, grid 3x2x2. */
static const geom g_small = {{70, 50, 23}, {-5, 3, -7}, {32, 32, 16}};

static cv_info *make_info(cv_dtype t, int64_t ch, const geom *g, const char *encoding)
{
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "image";
    p.dtype = t;
    p.num_channels = ch;
    p.encoding = encoding;
    p.resolution[0] = 4;
    p.resolution[1] = 4;
    p.resolution[2] = 40;
    for (int d = 0; d < 3; d++) {
        p.size[d] = g->size[d];
        p.voxel_offset[d] = g->offset[d];
        p.chunk_size[d] = g->chunk[d];
    }
    cv_info *info = NULL;
    return cv_info_create(&p, &info) == CV_OK ? info : NULL;
}

/* Create a layer at `url` (replacing one there). NULL on failure. */
static cv_volume *create(const char *url, cv_dtype t, int64_t ch, const geom *g, const cv_opts *o)
{
    cv_info *info = make_info(t, ch, g, NULL);
    cv_volume *v = NULL;
    cv_status rc = info ? cv_volume_create(url, info, true, o, &v) : CV_ERR_INFO;
    cv_info_free(info);
    return rc == CV_OK ? v : NULL;
}

static cv_status delete_key(const char *key, void *arg)
{
    return cv_store_delete(arg, key);
}

/* Delete every object under `url` (mem:// layers are process-wide). */
static void wipe(const char *url)
{
    cv_store *s = NULL;
    if (cv_store_open(url, &s) == CV_OK) {
        cv_store_list(s, "", delete_key, s);
        cv_store_close(s);
    }
    cv_err_clear();
}

static cv_status count_key(const char *key, void *arg)
{
    (void)key;
    (*(int *)arg)++;
    return CV_OK;
}

static int count_objects(cv_volume *v, const char *prefix)
{
    int n = 0;
    if (cv_store_list(cv_volume_store(v), prefix, count_key, &n) != CV_OK) {
        return -1;
    }
    return n;
}

/* Read `box` and compare with the reference (data set `salt`, overlay, background). */
static void expect_read(cv_volume *v, int mip, cv_bbox box, int salt, cv_bbox over, int over_salt)
{
    const cv_info *info = cv_volume_info(v);
    size_t n = cv_volume_box_bytes(v, box), wn = 0;
    uint8_t *got = malloc(n);
    uint8_t *want = make_array(info->dtype, info->num_channels, box, cv_info_bounds(info, mip),
                               v->opts.background_color, salt, over, over_salt, &wn);
    memset(got, 0xEE, n);
    cv_status rc = cv_volume_read(v, mip, box, got, n);
    size_t bad_at = n;
    for (size_t i = 0; rc == CV_OK && i < n; i++) {
        if (got[i] != want[i]) {
            bad_at = i;
            break;
        }
    }
    if (rc != CV_OK || bad_at != n) {
        char b[160];
        cv_bbox_format(box, b, sizeof b);
        fprintf(stderr, "  read %s of %s: %s, first difference at byte %zu of %zu\n", b,
                cv_volume_url(v), cv_errname(rc), bad_at, n);
    }
    free(got);
    free(want);
    ASSERT_OK(rc);
    ASSERT_EQ(bad_at, n);
    ASSERT_EQ(wn, n);
}

/* Write data set `salt` to `box`. */
static cv_status write_box(cv_volume *v, int mip, cv_bbox box, int salt)
{
    const cv_info *info = cv_volume_info(v);
    size_t n = 0;
    uint8_t *a = make_array(info->dtype, info->num_channels, box, box, 0, salt, no_box, 0, &n);
    cv_status rc = a ? cv_volume_write(v, mip, box, a, n) : CV_ERR_NOMEM;
    free(a);
    return rc;
}

/* Write a constant value to `box`. */
static cv_status write_const(cv_volume *v, cv_bbox box, double value)
{
    const cv_info *info = cv_volume_info(v);
    size_t elem = cv_dtype_size(info->dtype);
    size_t n = cv_volume_box_bytes(v, box);
    uint8_t *a = malloc(n);
    if (!a) {
        return CV_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i += elem) {
        cv__dtype_store(info->dtype, value, a + i);
    }
    cv_status rc = cv_volume_write(v, 0, box, a, n);
    free(a);
    return rc;
}

static cv_opts opts_default(void)
{
    return cv_opts_default();
}

/* ---- round trips ----------------------------------------------------------------------- */

static void roundtrip_one(cv_dtype t, int64_t ch)
{
    char url[128];
    snprintf(url, sizeof url, "mem://test-volume-rt/%s-%d", cv_dtype_name(t), (int)ch);
    cv_opts o = opts_default();
    cv_volume *v = create(url, t, ch, &g_small, &o);
    ASSERT_TRUE(v != NULL);
    cv_bbox whole = cv_info_bounds(cv_volume_info(v), 0);
    ASSERT_TRUE(cv_bbox_equal(whole, cv_bbox_make(-5, 3, -7, 65, 53, 16)));
    int before = tl_failed_asserts;
    cv_status rc = write_box(v, 0, whole, 1);
    if (rc == CV_OK) {
        static const int64_t boxes[][6] = {
            {-5, 3, -7, 65, 53, 16}, {0, 10, -3, 37, 41, 9},  {64, 52, 15, 65, 53, 16},
            {1, 4, -6, 2, 5, -5},    {20, 30, 5, 62, 40, 12}, {-5, 3, -7, -4, 53, 16},
            {26, 34, 8, 28, 36, 10}, {59, 35, 9, 65, 53, 16},
        };
        for (size_t i = 0; i < sizeof boxes / sizeof boxes[0] && tl_failed_asserts == before; i++) {
            const int64_t *b = boxes[i];
            expect_read(v, 0, cv_bbox_make(b[0], b[1], b[2], b[3], b[4], b[5]), 1, no_box, 0);
        }
    }
    /* 12 chunk files, and the clipped last chunk holds exactly its voxels, x fastest,
     * channel slowest */
    int files = count_objects(v, "4_4_40/");
    uint64_t present = 0, total = 0;
    cv_status rc_ex = cv_volume_exists(v, 0, whole, &present, &total);
    char key[256];
    cv_bbox last = cv_bbox_make(59, 35, 9, 65, 53, 16);
    cv_volume_chunk_key(v, 0, last, key, sizeof key);
    uint8_t *stored = NULL;
    size_t stored_len = 0, want_len = 0;
    cv_status rc_get = cv_store_get(cv_volume_store(v), key, 0, &stored, &stored_len);
    uint8_t *want = make_array(t, ch, last, last, 0, 1, no_box, 0, &want_len);
    bool chunk_ok =
        rc_get == CV_OK && stored_len == want_len && memcmp(stored, want, want_len) == 0;
    cv_free(stored);
    free(want);
    cv_volume_close(v);
    wipe(url);
    ASSERT_OK(rc);
    ASSERT_EQ(files, 12);
    ASSERT_OK(rc_ex);
    ASSERT_EQ(present, 12);
    ASSERT_EQ(total, 12);
    ASSERT_STR_EQ(key, "4_4_40/59-65_35-53_9-16");
    ASSERT_EQ(want_len, 6 * 18 * 7 * (size_t)ch * cv_dtype_size(t));
    ASSERT_TRUE(chunk_ok);
}

static void roundtrip_dtypes_channels(void)
{
    static const struct {
        cv_dtype t;
        int64_t ch;
    } cases[] = {
        {CV_UINT8, 1},   {CV_UINT8, 3},   {CV_UINT16, 1}, {CV_UINT16, 3},
        {CV_FLOAT32, 1}, {CV_FLOAT32, 3}, {CV_UINT64, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int before = tl_failed_asserts;
        roundtrip_one(cases[i].t, cases[i].ch);
        if (tl_failed_asserts != before) {
            fprintf(stderr, "  (%s x%d)\n", cv_dtype_name(cases[i].t), (int)cases[i].ch);
            return;
        }
    }
}

static void chunk_keys_and_boxes(void)
{
    const char *url = "mem://test-volume-keys/layer";
    cv_opts o = opts_default();
    cv_volume *v = create(url, CV_UINT16, 3, &g_small, &o);
    ASSERT_TRUE(v != NULL);
    char key[256];
    int n = cv_volume_chunk_key(v, 0, cv_bbox_make(-5, 3, -7, 27, 35, 9), key, sizeof key);
    bool key_ok = strcmp(key, "4_4_40/-5-27_3-35_-7-9") == 0 && n == (int)strlen(key);
    size_t bytes = cv_volume_box_bytes(v, cv_bbox_make(0, 0, 0, 5, 4, 3));
    cv_bbox out;
    cv_status r1 = cv_volume_resolve_box(v, 0, cv_bbox_make(0, 10, -3, 37, 41, 9), &out);
    bool r1_ok = r1 == CV_OK && cv_bbox_equal(out, cv_bbox_make(0, 10, -3, 37, 41, 9));
    cv_err_clear();
    cv_status r2 = cv_volume_resolve_box(v, 0, cv_bbox_make(-6, 10, -3, 37, 41, 9), &out);
    bool r2_msg = strstr(cv_err_last()->what, "outside the volume bounds") != NULL;
    cv_err_clear();
    cv_status r3 = cv_volume_resolve_box(v, 0, cv_bbox_make(5, 10, -3, 5, 41, 9), &out);
    cv_err_clear();
    cv_status r4 = cv_volume_resolve_box(v, 1, cv_bbox_make(0, 10, -3, 37, 41, 9), &out);
    cv_err_clear();
    /* the upper bound itself is inside (inclusive range check of CloudVolume) */
    cv_status r5 = cv_volume_resolve_box(v, 0, cv_bbox_make(-5, 3, -7, 65, 53, 16), &out);
    cv_volume_close(v);
    /* autocrop clips instead of failing */
    o.autocrop = true;
    cv_volume *va = NULL;
    cv_status ra = cv_volume_open(url, &o, &va);
    cv_status r6 =
        ra == CV_OK ? cv_volume_resolve_box(va, 0, cv_bbox_make(-100, 0, 0, 10, 100, 5), &out) : ra;
    bool r6_ok = r6 == CV_OK && cv_bbox_equal(out, cv_bbox_make(-5, 3, 0, 10, 53, 5));
    cv_err_clear();
    cv_status r7 =
        ra == CV_OK ? cv_volume_resolve_box(va, 0, cv_bbox_make(100, 0, 0, 110, 10, 5), &out) : ra;
    cv_volume_close(va);
    wipe(url);
    ASSERT_TRUE(key_ok);
    ASSERT_EQ(bytes, 5 * 4 * 3 * 3 * 2);
    ASSERT_TRUE(r1_ok);
    ASSERT_EQ(r2, CV_ERR_BOUNDS);
    ASSERT_TRUE(r2_msg);
    ASSERT_EQ(r3, CV_ERR_ARG);
    ASSERT_EQ(r4, CV_ERR_ARG);
    ASSERT_OK(r5);
    ASSERT_OK(ra);
    ASSERT_TRUE(r6_ok);
    ASSERT_EQ(r7, CV_ERR_BOUNDS);
}

static void read_outside_unbounded(void)
{
    const char *url = "mem://test-volume-outside/layer";
    cv_opts o = opts_default();
    cv_volume *v = create(url, CV_FLOAT32, 1, &g_small, &o);
    ASSERT_TRUE(v != NULL);
    cv_status rc = write_box(v, 0, cv_info_bounds(cv_volume_info(v), 0), 5);
    cv_volume_close(v);
    ASSERT_OK(rc);
    cv_bbox partly = cv_bbox_make(-12, -3, -9, 10, 8, 0);
    cv_bbox beyond = cv_bbox_make(60, 50, 10, 80, 60, 30);
    int before = tl_failed_asserts;
    /* bounded: refused */
    v = NULL;
    ASSERT_OK(cv_volume_open(url, &o, &v));
    size_t nb = cv_volume_box_bytes(v, partly);
    float *buf = malloc(nb);
    cv_status rb = cv_volume_read(v, 0, partly, buf, nb);
    bool rb_msg = strstr(cv_err_last()->what, "outside the volume bounds") != NULL;
    cv_err_clear();
    free(buf);
    cv_volume_close(v);
    ASSERT_EQ(rb, CV_ERR_BOUNDS);
    ASSERT_TRUE(rb_msg);
    /* unbounded: background outside, 0 and then 7 */
    o.bounded = false;
    for (int bg = 0; bg <= 7 && tl_failed_asserts == before; bg += 7) {
        o.background_color = bg;
        v = NULL;
        ASSERT_OK(cv_volume_open(url, &o, &v));
        expect_read(v, 0, partly, 5, no_box, 0);
        expect_read(v, 0, beyond, 5, no_box, 0);
        cv_volume_close(v);
    }
    /* entirely outside: nothing is fetched, even from an empty layer */
    const char *url2 = "mem://test-volume-outside/empty";
    cv_volume *e = create(url2, CV_UINT8, 3, &g_small, &o);
    ASSERT_TRUE(e != NULL);
    uint8_t out[2 * 2 * 2 * 3];
    memset(out, 0xEE, sizeof out);
    cv_status re =
        cv_volume_read(e, 0, cv_bbox_make(-100, -100, -100, -98, -98, -98), out, sizeof out);
    cv_volume_close(e);
    wipe(url);
    wipe(url2);
    ASSERT_OK(re);
    for (size_t i = 0; i < sizeof out; i++) {
        ASSERT_EQ(out[i], 7);
    }
}

/* ---- missing and corrupt chunks -------------------------------------------------------- */

static void missing_chunks(void)
{
    const char *url = "mem://test-volume-missing/layer";
    cv_opts o = opts_default();
    cv_volume *v = create(url, CV_UINT8, 1, &g_small, &o);
    ASSERT_TRUE(v != NULL);
    /* write only the first chunk */
    cv_status rw = write_box(v, 0, cv_bbox_make(-5, 3, -7, 27, 35, 9), 3);
    cv_bbox box = cv_bbox_make(20, 20, 0, 30, 30, 5); /* touches chunk 0 and chunk (1,0,0) */
    uint8_t buf[10 * 10 * 5];
    cv_err_clear();
    cv_status rm = cv_volume_read(v, 0, box, buf, sizeof buf);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cv_err_last()->what);
    cv_err_clear();
    cv_volume_close(v);
    ASSERT_OK(rw);
    ASSERT_EQ(rm, CV_ERR_NOTFOUND);
    ASSERT_TRUE(strstr(msg, "chunk `4_4_40/27-59_3-35_-7-9' of mem://test-volume-missing/layer "
                            "is missing") != NULL);
    /* the chunk that is there reads fine on its own */
    v = NULL;
    ASSERT_OK(cv_volume_open(url, &o, &v));
    expect_read(v, 0, cv_bbox_make(20, 20, 0, 27, 30, 5), 3, no_box, 0);
    cv_volume_close(v);
    wipe(url);
}

/* Read `box` of the layer at `url` with `o` and compare: data set `salt` inside `data_box`,
 * `bg` elsewhere (uint8 layers). */
static bool read_matches(const char *url, const cv_opts *o, cv_bbox box, cv_bbox data_box, int salt,
                         uint8_t bg, cv_status *rc)
{
    cv_volume *v = NULL;
    *rc = cv_volume_open(url, o, &v);
    if (*rc != CV_OK) {
        return false;
    }
    size_t n = cv_volume_box_bytes(v, box), wn = 0;
    uint8_t *got = malloc(n);
    uint8_t *want = make_array(CV_UINT8, 1, box, data_box, bg, salt, no_box, 0, &wn);
    *rc = cv_volume_read(v, 0, box, got, n);
    bool same = *rc == CV_OK && wn == n && memcmp(got, want, n) == 0;
    free(got);
    free(want);
    cv_volume_close(v);
    return same;
}

static void fill_missing_and_empty_chunks(void)
{
    const char *url = "mem://test-volume-fill/layer";
    cv_opts o = opts_default();
    cv_volume *v = create(url, CV_UINT8, 1, &g_small, &o);
    ASSERT_TRUE(v != NULL);
    cv_bbox first = cv_bbox_make(-5, 3, -7, 27, 35, 9);
    cv_status rw = write_box(v, 0, first, 3);
    /* a zero-length chunk counts as missing */
    cv_status rz =
        cv_store_put(cv_volume_store(v), "4_4_40/27-59_3-35_-7-9", "", 0, NULL, -1, NULL);
    cv_volume_close(v);
    ASSERT_OK(rw);
    ASSERT_OK(rz);
    cv_bbox box = cv_bbox_make(20, 20, 0, 30, 30, 5);
    cv_status rc;
    bool same = read_matches(url, &o, box, first, 3, 0, &rc);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cv_err_last()->what);
    cv_err_clear();
    ASSERT_TRUE(!same);
    ASSERT_EQ(rc, CV_ERR_NOTFOUND);
    ASSERT_TRUE(strstr(msg, "chunk `4_4_40/27-59_3-35_-7-9'") != NULL);
    o.fill_missing = true;
    same = read_matches(url, &o, box, first, 3, 0, &rc);
    ASSERT_OK(rc);
    ASSERT_TRUE(same);
    o.background_color = 7;
    same = read_matches(url, &o, box, first, 3, 7, &rc);
    ASSERT_OK(rc);
    ASSERT_TRUE(same);
    /* the whole volume, with ten of twelve chunks absent */
    same = read_matches(url, &o, cv_bbox_make(-5, 3, -7, 65, 53, 16), first, 3, 7, &rc);
    ASSERT_OK(rc);
    ASSERT_TRUE(same);
    wipe(url);
}

static void corrupt_chunks(void)
{
    const char *url = "mem://test-volume-corrupt/layer";
    cv_opts o = opts_default();
    cv_volume *v = create(url, CV_UINT8, 1, &g_small, &o);
    ASSERT_TRUE(v != NULL);
    cv_store *s = cv_volume_store(v);
    /* wrong raw length (plain object) */
    cv_status r1 = cv_store_put(s, "4_4_40/-5-27_3-35_-7-9", "0123456789", 10, NULL, -1, NULL);
    /* bad gzip */
    cv_status r2 =
        s->ops->put(s, "4_4_40/27-59_3-35_-7-9.gz", "\x1f\x8bnot really gzip data", 22, NULL, NULL);
    /* valid gzip of the wrong length */
    uint8_t *wrong = calloc(32 * 32 * 16 + 1, 1);
    cv_status r3 = wrong ? cv_store_put(s, "4_4_40/-5-27_35-53_-7-9", wrong, 32 * 18 * 16 + 1,
                                        "gzip", -1, NULL)
                         : CV_ERR_NOMEM;
    free(wrong);
    cv_volume_close(v);
    ASSERT_OK(r1);
    ASSERT_OK(r2);
    ASSERT_OK(r3);
    o.fill_missing = true; /* corruption is never filled in */
    static const struct {
        int64_t box[6];
        const char *needle;
    } cases[] = {
        {{0, 5, 0, 3, 8, 2},
         "read chunk `4_4_40/-5-27_3-35_-7-9' of mem://test-volume-corrupt/layer: raw: expected "
         "16384 bytes"},
        {{30, 5, 0, 33, 8, 2}, "chunk `4_4_40/27-59_3-35_-7-9'"},
        {{0, 40, 0, 3, 42, 2}, "chunk `4_4_40/-5-27_35-53_-7-9'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int threads = 1; threads <= 3; threads += 2) {
            o.threads = threads;
            v = NULL;
            ASSERT_OK(cv_volume_open(url, &o, &v));
            uint8_t buf[64];
            const int64_t *b = cases[i].box;
            /* a box covering the bad chunk and a missing one behind it in z */
            cv_bbox big = cv_bbox_make(b[0], b[1], b[2], b[3], b[4], 16);
            uint8_t *bigbuf = malloc(cv_volume_box_bytes(v, big));
            cv_err_clear();
            cv_status rc = cv_volume_read(v, 0, cv_bbox_make(b[0], b[1], b[2], b[3], b[4], b[5]),
                                          buf, sizeof buf);
            bool msg = strstr(cv_err_last()->what, cases[i].needle) != NULL;
            cv_err_clear();
            cv_status rc_big = cv_volume_read(v, 0, big, bigbuf, cv_volume_box_bytes(v, big));
            bool msg_big = strstr(cv_err_last()->what, cases[i].needle) != NULL;
            if (!msg || !msg_big) {
                fprintf(stderr, "  case %zu threads %d: \"%s\"\n", i, threads, cv_err_last()->what);
            }
            cv_err_clear();
            free(bigbuf);
            cv_volume_close(v);
            ASSERT_EQ(rc, CV_ERR_CORRUPT);
            ASSERT_TRUE(msg);
            ASSERT_EQ(rc_big, CV_ERR_CORRUPT);
            ASSERT_TRUE(msg_big);
        }
    }
    wipe(url);
}

/* ---- writes ---------------------------------------------------------------------------- */

static void aligned_and_non_aligned_writes(void)
{
    const char *url = "mem://test-volume-align/layer";
    cv_opts o = opts_default();
    cv_volume *v = create(url, CV_UINT16, 3, &g_small, &o);
    ASSERT_TRUE(v != NULL);
    cv_bbox whole = cv_bbox_make(-5, 3, -7, 65, 53, 16);
    cv_status r0 = write_box(v, 0, whole, 1);
    /* aligned: grid lines, or the volume's upper bound */
    cv_status r1 = write_box(v, 0, cv_bbox_make(27, 35, 9, 65, 53, 16), 1);
    cv_status r2 = write_box(v, 0, cv_bbox_make(-5, 3, -7, 27, 35, 9), 1);
    cv_bbox odd = cv_bbox_make(0, 10, -3, 37, 41, 12);
    cv_err_clear();
    cv_status r3 = write_box(v, 0, odd, 2);
    bool r3_msg = strstr(cv_err_last()->what, "not aligned to the 32x32x16 chunk grid") != NULL &&
                  strstr(cv_err_last()->what, "-5,3,-7,59,53,16") != NULL;
    cv_err_clear();
    /* outside, bounded */
    cv_status r4 = write_box(v, 0, cv_bbox_make(-37, 3, -7, 27, 35, 9), 2);
    cv_err_clear();
    /* wrong source length */
    uint8_t small[8];
    cv_status r5 = cv_volume_write(v, 0, cv_bbox_make(-5, 3, -7, 27, 35, 9), small, sizeof small);
    cv_err_clear();
    cv_volume_close(v);
    ASSERT_OK(r0);
    ASSERT_OK(r1);
    ASSERT_OK(r2);
    ASSERT_EQ(r3, CV_ERR_ALIGN);
    ASSERT_TRUE(r3_msg);
    ASSERT_EQ(r4, CV_ERR_BOUNDS);
    ASSERT_EQ(r5, CV_ERR_ARG);
    /* nothing of the refused write landed */
    v = NULL;
    ASSERT_OK(cv_volume_open(url, &o, &v));
    expect_read(v, 0, whole, 1, no_box, 0);
    cv_volume_close(v);
    /* non_aligned_writes: the border chunks are read, painted and written back */
    o.non_aligned_writes = true;
    o.threads = 3;
    v = NULL;
    ASSERT_OK(cv_volume_open(url, &o, &v));
    ASSERT_OK(write_box(v, 0, odd, 2));
    expect_read(v, 0, whole, 1, odd, 2);
    cv_bbox odd2 = cv_bbox_make(26, 34, 8, 28, 36, 10); /* 8 chunks, 2x2x2 voxels */
    ASSERT_OK(write_box(v, 0, odd2, 3));
    cv_volume_close(v);
    /* expected: data set 1, then 2 in `odd`, then 3 in `odd2` */
    o.threads = 1;
    v = NULL;
    ASSERT_OK(cv_volume_open(url, &o, &v));
    expect_read(v, 0, odd2, 3, no_box, 0);
    expect_read(v, 0, cv_bbox_make(0, 10, -3, 26, 41, 8), 2, no_box, 0);
    expect_read(v, 0, cv_bbox_make(37, 3, -7, 65, 53, 16), 1, no_box, 0);
    expect_read(v, 0, cv_bbox_make(-5, 3, 12, 65, 53, 16), 1, no_box, 0);
    cv_volume_close(v);
    wipe(url);
}

static void non_aligned_missing_border(void)
{
    const char *url = "mem://test-volume-border/layer";
    cv_opts o = opts_default();
    o.non_aligned_writes = true;
    cv_volume *v = create(url, CV_UINT8, 1, &g_small, &o);
    ASSERT_TRUE(v != NULL);
    cv_bbox odd = cv_bbox_make(0, 10, -3, 10, 20, 2);
    cv_err_clear();
    cv_status r1 = write_box(v, 0, odd, 4);
    bool msg = strstr(cv_err_last()->what, "4_4_40/-5-27_3-35_-7-9") != NULL;
    cv_err_clear();
    cv_volume_close(v);
    ASSERT_EQ(r1, CV_ERR_NOTFOUND);
    ASSERT_TRUE(msg);
    /* with fill_missing the rest of the chunk is background_color */
    o.fill_missing = true;
    o.background_color = 5;
    cv_status rc;
    v = NULL;
    ASSERT_OK(cv_volume_open(url, &o, &v));
    cv_status r2 = write_box(v, 0, odd, 4);
    cv_volume_close(v);
    ASSERT_OK(r2);
    o.fill_missing = false; /* the chunk exists now */
    bool same = read_matches(url, &o, cv_bbox_make(-5, 3, -7, 27, 35, 9), odd, 4, 5, &rc);
    ASSERT_OK(rc);
    ASSERT_TRUE(same);
    wipe(url);
}

static void unbounded_write(void)
{
    /* bounded=false: the part inside the volume is written (it must be aligned) */
    const char *url = "mem://test-volume-unbounded/layer";
    cv_opts o = opts_default();
    o.bounded = false;
    cv_volume *v = create(url, CV_UINT8, 1, &g_small, &o);
    ASSERT_TRUE(v != NULL);
    cv_bbox box = cv_bbox_make(-37, -29, -23, 27, 35, 9);
    cv_status r1 = write_box(v, 0, box, 6);
    cv_status r2 = write_box(v, 0, cv_bbox_make(100, 100, 100, 101, 101, 101), 6);
    cv_err_clear();
    cv_volume_close(v);
    ASSERT_OK(r1);
    ASSERT_EQ(r2, CV_ERR_BOUNDS);
    o.fill_missing = true;
    cv_status rc;
    bool same = read_matches(url, &o, cv_bbox_make(-5, 3, -7, 65, 53, 16),
                             cv_bbox_make(-5, 3, -7, 27, 35, 9), 6, 0, &rc);
    ASSERT_OK(rc);
    ASSERT_TRUE(same);
    wipe(url);
}

static void delete_black_uploads(void)
{
    /* test-vectors §9: 256^3, 64^3 chunks; zeros to [64:192)^3 leave 56 files; with
     * background_color 1, writing all ones leaves none */
    const char *url = "mem://test-volume-black/layer";
    const geom g = {{256, 256, 256}, {0, 0, 0}, {64, 64, 64}};
    cv_opts o = opts_default();
    o.threads = 2;
    cv_volume *v = create(url, CV_UINT8, 1, &g, &o);
    ASSERT_TRUE(v != NULL);
    cv_bbox whole = cv_bbox_make(0, 0, 0, 256, 256, 256);
    cv_status r1 = write_box(v, 0, whole, 8);
    int n1 = count_objects(v, "4_4_40/");
    cv_volume_close(v);
    ASSERT_OK(r1);
    ASSERT_EQ(n1, 64);
    o.delete_black_uploads = true;
    v = NULL;
    ASSERT_OK(cv_volume_open(url, &o, &v));
    cv_status r2 = write_const(v, cv_bbox_make(64, 64, 64, 192, 192, 192), 0);
    int n2 = count_objects(v, "4_4_40/");
    uint64_t present = 0, total = 0;
    cv_status r3 = cv_volume_exists(v, 0, whole, &present, &total);
    cv_volume_close(v);
    ASSERT_OK(r2);
    ASSERT_EQ(n2, 56);
    ASSERT_OK(r3);
    ASSERT_EQ(present, 56);
    ASSERT_EQ(total, 64);
    /* the deleted chunks read as zeros with fill_missing; the rest is untouched */
    o.fill_missing = true;
    o.threads = 4;
    v = NULL;
    ASSERT_OK(cv_volume_open(url, &o, &v));
    expect_read(v, 0, cv_bbox_make(60, 60, 60, 200, 70, 70), 8,
                cv_bbox_make(64, 64, 64, 192, 192, 192), -1);
    cv_volume_close(v);
    o.background_color = 1;
    v = NULL;
    ASSERT_OK(cv_volume_open(url, &o, &v));
    cv_status r4 = write_const(v, whole, 1);
    int n4 = count_objects(v, "4_4_40/");
    cv_volume_close(v);
    wipe(url);
    ASSERT_OK(r4);
    ASSERT_EQ(n4, 0);
}

static void exists_and_delete(void)
{
    const char *url = "mem://test-volume-delete/layer";
    cv_opts o = opts_default();
    cv_volume *v = create(url, CV_UINT8, 1, &g_small, &o);
    ASSERT_TRUE(v != NULL);
    cv_bbox whole = cv_bbox_make(-5, 3, -7, 65, 53, 16);
    uint64_t present = 99, total = 0;
    ASSERT_OK(cv_volume_exists(v, 0, whole, &present, &total));
    ASSERT_EQ(present, 0);
    ASSERT_EQ(total, 12);
    ASSERT_OK(write_box(v, 0, cv_bbox_make(-5, 3, -7, 59, 53, 9), 1)); /* 4 chunks */
    ASSERT_OK(cv_volume_exists(v, 0, whole, &present, &total));
    ASSERT_EQ(present, 4);
    ASSERT_EQ(total, 12);
    ASSERT_OK(cv_volume_exists(v, 0, cv_bbox_make(0, 10, -3, 37, 41, 12), &present, &total));
    ASSERT_EQ(present, 4);
    ASSERT_EQ(total, 8);
    ASSERT_OK(cv_volume_exists(v, 0, cv_bbox_make(60, 40, 10, 61, 41, 11), &present, &total));
    ASSERT_EQ(present, 0);
    ASSERT_EQ(total, 1);
    /* delete needs an aligned box */
    ASSERT_FAILS(cv_volume_delete(v, 0, cv_bbox_make(0, 3, -7, 27, 35, 9)), CV_ERR_ALIGN,
                 "not aligned to the 32x32x16 chunk grid");
    ASSERT_OK(cv_volume_exists(v, 0, whole, &present, &total));
    ASSERT_EQ(present, 4);
    ASSERT_OK(cv_volume_delete(v, 0, cv_bbox_make(27, 3, -7, 65, 53, 9))); /* ends at bound */
    ASSERT_OK(cv_volume_exists(v, 0, whole, &present, &total));
    ASSERT_EQ(present, 2);
    ASSERT_EQ(count_objects(v, "4_4_40/"), 2);
    ASSERT_OK(cv_volume_delete(v, 0, whole));
    ASSERT_EQ(count_objects(v, "4_4_40/"), 0);
    ASSERT_EQ(count_objects(v, ""), 1); /* the info stays */
    ASSERT_FAILS(cv_volume_exists(v, 3, whole, &present, &total), CV_ERR_ARG, "no mip 3");
    cv_volume_close(v);
    wipe(url);
}

static bool raw_exists(cv_volume *v, const char *name)
{
    cv_store *s = cv_volume_store(v);
    bool yes = false;
    return s->ops->exists(s, name, &yes) == CV_OK && yes;
}

static void compression_choices(void)
{
    const char *url = "mem://test-volume-compress/layer";
    const char *key = "4_4_40/-5-27_3-35_-7-9";
    cv_bbox cell = cv_bbox_make(-5, 3, -7, 27, 35, 9);
    cv_opts o = opts_default();
    cv_volume *v = create(url, CV_UINT16, 1, &g_small, &o);
    ASSERT_TRUE(v != NULL);
    /* NULL: CloudVolume's default for raw, gzip (level 9 header) */
    cv_status r1 = write_box(v, 0, cell, 1);
    bool gz1 = raw_exists(v, "4_4_40/-5-27_3-35_-7-9.gz") && !raw_exists(v, key);
    cv_buf raw;
    cv__buf_init(&raw, 0);
    cv_store *s = cv_volume_store(v);
    cv_status rg = s->ops->get(s, "4_4_40/-5-27_3-35_-7-9.gz", &raw, NULL, 0);
    bool hdr9 = rg == CV_OK && raw.len > 10 && raw.data[8] == 0x02 && raw.data[9] == 0xff;
    cv__buf_fini(&raw);
    /* info is always stored uncompressed */
    bool info_plain = raw_exists(v, "info") && !raw_exists(v, "info.gz");
    cv_volume_close(v);
    ASSERT_OK(r1);
    ASSERT_TRUE(gz1);
    ASSERT_TRUE(hdr9);
    ASSERT_TRUE(info_plain);
    static const struct {
        const char *compress;
        int level;
        const char *stored, *absent;
    } cases[] = {
        {"", -1, "4_4_40/-5-27_3-35_-7-9", "4_4_40/-5-27_3-35_-7-9.gz"},
        {"br", -1, "4_4_40/-5-27_3-35_-7-9.br", "4_4_40/-5-27_3-35_-7-9"},
        {"gzip", 1, "4_4_40/-5-27_3-35_-7-9.gz", "4_4_40/-5-27_3-35_-7-9.br"},
        {"br", 11, "4_4_40/-5-27_3-35_-7-9.br", "4_4_40/-5-27_3-35_-7-9.gz"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        o.compress = cases[i].compress;
        o.compress_level = cases[i].level;
        v = NULL;
        ASSERT_OK(cv_volume_open(url, &o, &v));
        int salt = 10 + (int)i;
        cv_status rc = write_box(v, 0, cell, salt);
        bool layout = raw_exists(v, cases[i].stored) && !raw_exists(v, cases[i].absent);
        bool level1 = true;
        if (strcmp(cases[i].compress, "gzip") == 0) {
            cv__buf_init(&raw, 0);
            s = cv_volume_store(v);
            level1 = s->ops->get(s, cases[i].stored, &raw, NULL, 0) == CV_OK && raw.len > 10 &&
                     raw.data[8] == 0x04; /* XFL: fastest */
            cv__buf_fini(&raw);
        }
        if (!layout) {
            fprintf(stderr, "  compress \"%s\"\n", cases[i].compress);
        }
        ASSERT_OK(rc);
        expect_read(v, 0, cell, salt, no_box, 0);
        cv_volume_close(v);
        ASSERT_TRUE(layout);
        ASSERT_TRUE(level1);
    }
    /* an unknown compression fails the write */
    o.compress = "zstd";
    o.compress_level = -1;
    v = NULL;
    ASSERT_OK(cv_volume_open(url, &o, &v));
    cv_err_clear();
    cv_status rz = write_box(v, 0, cell, 1);
    cv_err_clear();
    cv_volume_close(v);
    wipe(url);
    ASSERT_EQ(rz, CV_ERR_UNSUPPORTED);
}

typedef struct chunk_dump {
    cv_store *s;
    char keys[64][64];
    uint8_t *data[64];
    size_t len[64];
    int n;
} chunk_dump;

static cv_status dump_chunk(const char *key, void *arg)
{
    chunk_dump *d = arg;
    if (d->n == 64) {
        return CV_FAIL(CV_ERR_ARG, "too many chunks");
    }
    snprintf(d->keys[d->n], sizeof d->keys[d->n], "%s", key);
    /* the stored (compressed) bytes, through the backend */
    char name[80];
    snprintf(name, sizeof name, "%s.gz", key);
    cv_buf b;
    cv__buf_init(&b, 0);
    CV_TRY(d->s->ops->get(d->s, name, &b, NULL, 0));
    d->data[d->n] = cv__buf_take(&b, &d->len[d->n]);
    d->n++;
    return CV_OK;
}

static void chunk_dump_free(chunk_dump *d)
{
    for (int i = 0; i < d->n; i++) {
        cv_free(d->data[i]);
    }
}

static void threads_identical(void)
{
    const geom g = {{100, 90, 40}, {3, -2, 1}, {32, 32, 16}}; /* 4x3x3 = 36 chunks */
    const char *urls[2] = {"mem://test-volume-threads/t1", "mem://test-volume-threads/t4"};
    static chunk_dump dumps[2];
    memset(dumps, 0, sizeof dumps);
    cv_bbox whole = cv_bbox_make(3, -2, 1, 103, 88, 41);
    cv_bbox cut = cv_bbox_make(10, 0, 5, 90, 80, 30);
    uint8_t *reads[2] = {NULL, NULL};
    size_t n = 0;
    cv_status rcs[2][3];
    for (int k = 0; k < 2; k++) {
        cv_opts o = opts_default();
        o.threads = k == 0 ? 1 : 4;
        cv_volume *v = create(urls[k], CV_UINT16, 3, &g, &o);
        ASSERT_TRUE(v != NULL);
        rcs[k][0] = write_box(v, 0, whole, 21);
        dumps[k].s = cv_volume_store(v);
        rcs[k][1] = cv_store_list(dumps[k].s, "4_4_40/", dump_chunk, &dumps[k]);
        n = cv_volume_box_bytes(v, cut);
        reads[k] = malloc(n);
        rcs[k][2] = cv_volume_read(v, 0, cut, reads[k], n);
        cv_volume_close(v);
        wipe(urls[k]);
    }
    bool same_chunks = dumps[0].n == 36 && dumps[1].n == 36;
    for (int i = 0; same_chunks && i < 36; i++) {
        same_chunks = strcmp(dumps[0].keys[i], dumps[1].keys[i]) == 0 &&
                      dumps[0].len[i] == dumps[1].len[i] &&
                      memcmp(dumps[0].data[i], dumps[1].data[i], dumps[0].len[i]) == 0;
    }
    bool same_reads = memcmp(reads[0], reads[1], n) == 0;
    chunk_dump_free(&dumps[0]);
    chunk_dump_free(&dumps[1]);
    free(reads[0]);
    free(reads[1]);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 3; i++) {
            ASSERT_OK(rcs[k][i]);
        }
    }
    ASSERT_TRUE(same_chunks);
    ASSERT_TRUE(same_reads);
}

static void second_mip(void)
{
    const char *url = "mem://test-volume-mip/layer";
    cv_opts o = opts_default();
    cv_volume *v = create(url, CV_UINT8, 1, &g_small, &o);
    ASSERT_TRUE(v != NULL);
    int64_t f[3] = {2, 2, 1};
    int idx = -1;
    cv_status r1 = cv_info_add_scale(cv_volume_info_mut(v), f, NULL, NULL, &idx);
    cv_status r2 = cv_volume_commit_info(v);
    cv_bbox b1 = cv_info_bounds(cv_volume_info(v), 1);
    cv_status r3 = write_box(v, 1, b1, 31);
    char key[128];
    cv_volume_chunk_key(v, 1, cv_bbox_make(-3, 1, -7, 29, 26, 9), key, sizeof key);
    bool yes = false;
    cv_status r4 = cv_store_exists(cv_volume_store(v), key, &yes);
    int n_chunks = count_objects(v, "8_8_40/");
    cv_volume_close(v);
    ASSERT_OK(r1);
    ASSERT_EQ(idx, 1);
    ASSERT_OK(r2);
    ASSERT_TRUE(cv_bbox_equal(b1, cv_bbox_make(-3, 1, -7, 32, 26, 16)));
    ASSERT_OK(r3);
    ASSERT_STR_EQ(key, "8_8_40/-3-29_1-26_-7-9");
    ASSERT_OK(r4);
    ASSERT_TRUE(yes);
    ASSERT_EQ(n_chunks, 2 * 1 * 2);
    v = NULL;
    ASSERT_OK(cv_volume_open(url, &o, &v));
    ASSERT_EQ(cv_volume_info(v)->n_scales, 2);
    expect_read(v, 1, cv_bbox_make(0, 2, -5, 31, 26, 12), 31, no_box, 0);
    uint8_t buf[8];
    ASSERT_FAILS(cv_volume_read(v, 2, cv_bbox_make(0, 0, 0, 1, 1, 1), buf, sizeof buf), CV_ERR_ARG,
                 "no mip 2");
    ASSERT_FAILS(cv_volume_read(v, 0, cv_bbox_make(0, 4, 0, 3, 5, 1), buf, 2), CV_ERR_ARG,
                 "buffer of 2 bytes, need 3");
    ASSERT_FAILS(cv_volume_write(v, 5, cv_bbox_make(0, 0, 0, 1, 1, 1), buf, 1), CV_ERR_ARG,
                 "no mip 5");
    cv_volume_close(v);
    wipe(url);
}

/* ---- info: create, open, commit -------------------------------------------------------- */

static void create_open_commit(void)
{
    const char *url = "mem://test-volume-info/layer";
    wipe(url);
    cv_opts o = opts_default();
    cv_volume *v = NULL;
    ASSERT_FAILS(cv_volume_open(url, &o, &v), CV_ERR_NOTFOUND,
                 "no info file at mem://test-volume-info/layer");
    cv_info *info = make_info(CV_UINT8, 1, &g_small, NULL);
    ASSERT_TRUE(info != NULL);
    cv_status r1 = cv_volume_create(url, info, false, &o, &v);
    cv_volume_close(v);
    v = NULL;
    cv_err_clear();
    cv_status r2 = cv_volume_create(url, info, false, &o, &v);
    bool r2_msg = strstr(cv_err_last()->what, "already exists") != NULL;
    cv_err_clear();
    cv_status r3 = cv_volume_create(url, info, true, &o, &v);
    /* commit_info writes exactly cv_info_to_json's text, uncompressed */
    int64_t f[3] = {2, 2, 1};
    cv_status r4 = r3 == CV_OK ? cv_info_add_scale(cv_volume_info_mut(v), f, NULL, NULL, NULL) : r3;
    cv_status r5 = r3 == CV_OK ? cv_volume_commit_info(v) : r3;
    char *json = NULL;
    size_t json_len = 0;
    cv_status r6 = r3 == CV_OK ? cv_info_to_json(cv_volume_info(v), &json, &json_len) : r3;
    uint8_t *stored = NULL;
    size_t stored_len = 0;
    cv_status r7 =
        r3 == CV_OK ? cv_store_get(cv_volume_store(v), "info", 0, &stored, &stored_len) : r3;
    bool same = r6 == CV_OK && r7 == CV_OK && stored_len == json_len &&
                memcmp(stored, json, json_len) == 0 && strstr(json, "\"8_8_40\"") != NULL;
    bool plain = r3 == CV_OK && raw_exists(v, "info") && !raw_exists(v, "info.gz");
    cv_free(json);
    cv_free(stored);
    cv_volume_close(v);
    /* an invalid info is refused before anything is written */
    info->scales[0].chunk_sizes[0][0] = 0;
    v = NULL;
    cv_err_clear();
    cv_status r8 = cv_volume_create("mem://test-volume-info/bad", info, true, &o, &v);
    cv_err_clear();
    cv_info_free(info);
    cv_store *s = NULL;
    bool bad_absent = false;
    if (cv_store_open("mem://test-volume-info/bad", &s) == CV_OK) {
        bool yes = true;
        bad_absent = cv_store_exists(s, "info", &yes) == CV_OK && !yes;
        cv_store_close(s);
    }
    /* an info that is not valid JSON */
    if (cv_store_open(url, &s) == CV_OK) {
        cv_store_put(s, "info", "{\"type\": ", 9, NULL, -1, NULL);
        cv_store_close(s);
    }
    v = NULL;
    cv_err_clear();
    cv_status r9 = cv_volume_open(url, &o, &v);
    bool r9_msg = strstr(cv_err_last()->what, "mem://test-volume-info/layer/info") != NULL;
    cv_err_clear();
    wipe(url);
    ASSERT_OK(r1);
    ASSERT_EQ(r2, CV_ERR_ARG);
    ASSERT_TRUE(r2_msg);
    ASSERT_OK(r3);
    ASSERT_OK(r4);
    ASSERT_OK(r5);
    ASSERT_TRUE(same);
    ASSERT_TRUE(plain);
    ASSERT_EQ(r8, CV_ERR_INFO);
    ASSERT_TRUE(bad_absent);
    ASSERT_EQ(r9, CV_ERR_CORRUPT);
    ASSERT_TRUE(r9_msg);
}

/* ---- redirects ------------------------------------------------------------------------- */

/* Write an info at `url` redirecting to `target` (NULL: none). */
static cv_status put_info(const char *url, const char *target)
{
    cv_info *info = make_info(CV_UINT8, 1, &g_small, NULL);
    if (!info) {
        return CV_ERR_INFO;
    }
    info->redirect = cv__strdup(target);
    char *json = NULL;
    size_t len = 0;
    cv_store *s = NULL;
    cv_status rc = cv_info_to_json(info, &json, &len);
    if (rc == CV_OK) {
        rc = cv_store_open(url, &s);
    }
    if (rc == CV_OK) {
        rc = cv_store_put(s, "info", json, len, NULL, -1, "application/json");
    }
    cv_store_close(s);
    cv_free(json);
    cv_info_free(info);
    return rc;
}

/* A chain of `n` infos name/v0 -> v1 -> ... -> v(n-1), the last without redirect. */
static cv_status make_chain(const char *name, int n)
{
    for (int i = 0; i < n; i++) {
        char url[128], next[128];
        snprintf(url, sizeof url, "mem://test-volume-redirect/%s/v%d", name, i);
        snprintf(next, sizeof next, "mem://test-volume-redirect/%s/v%d", name, i + 1);
        CV_TRY(put_info(url, i + 1 < n ? next : NULL));
    }
    return CV_OK;
}

static void redirect_chains(void)
{
    cv_opts o = opts_default();
    ASSERT_EQ(o.max_redirects, 10);
    /* 10 infos: the 10th fetch has no redirect, so max_redirects 10 resolves it */
    ASSERT_OK(make_chain("ten", 10));
    cv_volume *v = NULL;
    ASSERT_OK(cv_volume_open("mem://test-volume-redirect/ten/v0", &o, &v));
    ASSERT_STR_EQ(cv_volume_url(v), "mem://test-volume-redirect/ten/v9");
    ASSERT_TRUE(cv_volume_info(v)->redirect == NULL);
    ASSERT_TRUE(cv_volume_is_readonly(v));
    cv_volume_close(v);
    /* 11 infos: too many */
    ASSERT_OK(make_chain("eleven", 11));
    v = NULL;
    ASSERT_FAILS(cv_volume_open("mem://test-volume-redirect/eleven/v0", &o, &v), CV_ERR_INFO,
                 "too many redirects");
    ASSERT_TRUE(v == NULL);
    /* but from the second link on it fits */
    ASSERT_OK(cv_volume_open("mem://test-volume-redirect/eleven/v1", &o, &v));
    ASSERT_STR_EQ(cv_volume_url(v), "mem://test-volume-redirect/eleven/v10");
    cv_volume_close(v);
    /* a smaller limit */
    o.max_redirects = 3;
    v = NULL;
    ASSERT_OK(cv_volume_open("mem://test-volume-redirect/ten/v7", &o, &v));
    cv_volume_close(v);
    v = NULL;
    ASSERT_FAILS(cv_volume_open("mem://test-volume-redirect/ten/v6", &o, &v), CV_ERR_INFO,
                 "too many redirects (more than 3)");
    /* max_redirects 0: the info is taken as it is */
    o.max_redirects = 0;
    v = NULL;
    ASSERT_OK(cv_volume_open("mem://test-volume-redirect/ten/v0", &o, &v));
    ASSERT_STR_EQ(cv_volume_url(v), "mem://test-volume-redirect/ten/v0");
    ASSERT_STR_EQ(cv_volume_info(v)->redirect, "mem://test-volume-redirect/ten/v1");
    ASSERT_TRUE(!cv_volume_is_readonly(v));
    cv_volume_close(v);
    wipe("mem://test-volume-redirect/ten");
    wipe("mem://test-volume-redirect/eleven");
}

static void redirect_cycles_and_self(void)
{
    cv_opts o = opts_default();
    ASSERT_OK(put_info("mem://test-volume-redirect/cyc/a", "mem://test-volume-redirect/cyc/b"));
    ASSERT_OK(put_info("mem://test-volume-redirect/cyc/b", "mem://test-volume-redirect/cyc/c"));
    ASSERT_OK(put_info("mem://test-volume-redirect/cyc/c", "mem://test-volume-redirect/cyc/a"));
    cv_volume *v = NULL;
    ASSERT_FAILS(cv_volume_open("mem://test-volume-redirect/cyc/a", &o, &v), CV_ERR_INFO,
                 "cyclic redirect back to mem://test-volume-redirect/cyc/a");
    ASSERT_FAILS(cv_volume_open("mem://test-volume-redirect/cyc/b", &o, &v), CV_ERR_INFO, "cyclic");
    /* a redirect to itself (also spelled differently) ends the chain */
    ASSERT_OK(put_info("mem://test-volume-redirect/self/a",
                       "precomputed://mem://test-volume-redirect/self/a/"));
    ASSERT_OK(cv_volume_open("mem://test-volume-redirect/self/a", &o, &v));
    ASSERT_STR_EQ(cv_volume_url(v), "mem://test-volume-redirect/self/a");
    ASSERT_TRUE(!cv_volume_is_readonly(v));
    cv_volume_close(v);
    /* an unusable redirect target */
    ASSERT_OK(put_info("mem://test-volume-redirect/bad/a", "foo://elsewhere"));
    v = NULL;
    ASSERT_FAILS(cv_volume_open("mem://test-volume-redirect/bad/a", &o, &v), CV_ERR_UNSUPPORTED,
                 "follow redirect of mem://test-volume-redirect/bad/a");
    /* a redirect to a layer without info */
    ASSERT_OK(put_info("mem://test-volume-redirect/bad/b", "mem://test-volume-redirect/bad/none"));
    ASSERT_FAILS(cv_volume_open("mem://test-volume-redirect/bad/b", &o, &v), CV_ERR_NOTFOUND,
                 "no info file at mem://test-volume-redirect/bad/none");
    wipe("mem://test-volume-redirect/cyc");
    wipe("mem://test-volume-redirect/self");
    wipe("mem://test-volume-redirect/bad");
}

static void redirect_read_only(void)
{
    cv_opts o = opts_default();
    /* one hop: not read-only (CloudVolume's redirected_from = visited[:-1]) */
    ASSERT_OK(make_chain("one", 2));
    cv_volume *v = NULL;
    ASSERT_OK(cv_volume_open("mem://test-volume-redirect/one/v0", &o, &v));
    ASSERT_STR_EQ(cv_volume_url(v), "mem://test-volume-redirect/one/v1");
    ASSERT_TRUE(!cv_volume_is_readonly(v));
    cv_bbox cell = cv_bbox_make(-5, 3, -7, 27, 35, 9);
    cv_status r1 = write_box(v, 0, cell, 41);
    cv_volume_close(v);
    ASSERT_OK(r1);
    /* the data went to the final layer */
    v = NULL;
    ASSERT_OK(cv_volume_open("mem://test-volume-redirect/one/v1", &o, &v));
    expect_read(v, 0, cell, 41, no_box, 0);
    cv_volume_close(v);
    /* two hops: read-only; reads work, every write fails */
    ASSERT_OK(make_chain("two", 3));
    v = NULL;
    ASSERT_OK(cv_volume_open("mem://test-volume-redirect/two/v0", &o, &v));
    ASSERT_TRUE(cv_volume_is_readonly(v));
    ASSERT_FAILS(write_box(v, 0, cell, 42), CV_ERR_READONLY, "read-only");
    ASSERT_FAILS(cv_volume_commit_info(v), CV_ERR_READONLY, "read-only");
    ASSERT_FAILS(cv_volume_delete(v, 0, cell), CV_ERR_READONLY, "read-only");
    uint64_t present = 9, total = 0;
    ASSERT_OK(cv_volume_exists(v, 0, cell, &present, &total));
    ASSERT_EQ(present, 0);
    cv_volume_close(v);
    /* the final layer itself, opened directly, is writable */
    v = NULL;
    ASSERT_OK(cv_volume_open("mem://test-volume-redirect/two/v2", &o, &v));
    ASSERT_TRUE(!cv_volume_is_readonly(v));
    cv_volume_close(v);
    wipe("mem://test-volume-redirect/one");
    wipe("mem://test-volume-redirect/two");
}

/* cv_volume_open_info: the given info, nothing written until commit; cv_volume_set_info:
 * a validated replacement, seen by the next read and written by commit. */
static void open_info_set_info(void)
{
    const char *url = "mem://test-volume-open-info/layer";
    wipe(url);
    cv_opts o = opts_default();
    cv_info *info = make_info(CV_UINT8, 1, &g_small, NULL);
    ASSERT_TRUE(info != NULL);
    cv_volume *v = NULL;
    ASSERT_OK(cv_volume_open_info(url, info, &o, &v));
    ASSERT_TRUE(!raw_exists(v, "info"));
    ASSERT_EQ(cv_volume_info(v)->n_scales, 1);
    int64_t f[3] = {2, 2, 1};
    cv_info *two = NULL;
    ASSERT_OK(cv_info_copy(info, &two));
    ASSERT_OK(cv_info_add_scale(two, f, NULL, NULL, NULL));
    ASSERT_OK(cv_volume_set_info(v, two));
    ASSERT_EQ(cv_volume_info(v)->n_scales, 2);
    ASSERT_TRUE(!raw_exists(v, "info"));
    ASSERT_OK(cv_volume_commit_info(v));
    ASSERT_TRUE(raw_exists(v, "info"));
    /* an invalid info is refused and the handle keeps its own */
    two->scales[1].chunk_sizes[0][0] = 0;
    ASSERT_FAILS(cv_volume_set_info(v, two), CV_ERR_INFO, "chunk");
    ASSERT_EQ(cv_volume_info(v)->scales[1].chunk_sizes[0][0], 32);
    cv_volume_close(v);
    v = NULL;
    ASSERT_FAILS(cv_volume_open_info(url, two, &o, &v), CV_ERR_INFO, "chunk");
    ASSERT_TRUE(v == NULL);
    /* the committed info is what a plain open sees */
    ASSERT_OK(cv_volume_open(url, &o, &v));
    ASSERT_EQ(cv_volume_info(v)->n_scales, 2);
    cv_volume_close(v);
    cv_info_free(two);
    cv_info_free(info);
    wipe(url);
}

/* Writes of exactly one chunk from an array of that chunk (a clipped edge chunk too): the
 * chunk's bytes are the array's, as stored; all background under delete_black_uploads deletes
 * the chunk instead. */
static void one_chunk_writes(void)
{
    const char *url = "mem://test-volume-one-chunk/layer";
    const geom g = {{100, 128, 64}, {0, 0, 0}, {64, 64, 64}};
    cv_opts o = opts_default();
    cv_volume *v = create(url, CV_UINT16, 2, &g, &o);
    ASSERT_TRUE(v != NULL);
    static const int64_t x0[2] = {0, 64}, x1[2] = {64, 100};
    for (int cx = 0; cx < 2; cx++) {
        for (int cy = 0; cy < 2; cy++) {
            ASSERT_OK(
                write_box(v, 0, cv_bbox_make(x0[cx], 64 * cy, 0, x1[cx], 64 * cy + 64, 64), 5));
        }
    }
    cv_bbox whole = cv_bbox_make(0, 0, 0, 100, 128, 64);
    expect_read(v, 0, whole, 5, no_box, 0);
    /* the edge chunk's stored bytes are its array's */
    cv_bbox edge = cv_bbox_make(64, 64, 0, 100, 128, 64);
    size_t n = 0;
    uint8_t *want = make_array(CV_UINT16, 2, edge, edge, 0, 5, no_box, 0, &n);
    char key[256];
    cv_volume_chunk_key(v, 0, edge, key, sizeof key);
    uint8_t *got = NULL;
    size_t got_len = 0;
    ASSERT_OK(cv_store_get(cv_volume_store(v), key, 0, &got, &got_len));
    ASSERT_EQ(got_len, n);
    ASSERT_MEM_EQ(got, want, n);
    cv_free(got);
    free(want);
    cv_volume_close(v);
    o.delete_black_uploads = true;
    v = NULL;
    ASSERT_OK(cv_volume_open(url, &o, &v));
    ASSERT_EQ(count_objects(v, "4_4_40/"), 4);
    ASSERT_OK(write_const(v, edge, 0));
    ASSERT_EQ(count_objects(v, "4_4_40/"), 3);
    cv_volume_close(v);
    wipe(url);
}

/* A read of exactly one whole chunk of a raw layer stored as is goes straight into the
 * caller's array; one stored compressed, cut short, too long or absent is read the usual way:
 * the same values, counts and errors either way. */
static void plain_chunk_reads(void)
{
    const char *url = "mem://test-volume-plain-chunk/layer";
    const geom g = {{100, 128, 64}, {0, 0, 0}, {64, 64, 64}};
    cv_opts o = opts_default();
    o.compress = "";
    cv_volume *v = create(url, CV_UINT16, 2, &g, &o);
    ASSERT_TRUE(v != NULL);
    cv_bbox whole = cv_bbox_make(0, 0, 0, 100, 128, 64);
    ASSERT_OK(write_box(v, 0, whole, 9));
    cv_bbox full = cv_bbox_make(0, 64, 0, 64, 128, 64), edge = cv_bbox_make(64, 0, 0, 100, 64, 64);
    char key[256];
    cv_volume_chunk_key(v, 0, full, key, sizeof key);
    ASSERT_TRUE(raw_exists(v, key));
    cv_volume_stats before, after;
    cv_volume_get_stats(v, &before);
    expect_read(v, 0, full, 9, no_box, 0);
    expect_read(v, 0, edge, 9, no_box, 0);
    cv_volume_get_stats(v, &after);
    ASSERT_EQ(after.requests - before.requests, 2);
    ASSERT_EQ(after.chunks_read - before.chunks_read, 2);
    ASSERT_EQ(after.bytes_read - before.bytes_read, (64 * 64 + 36 * 64) * 64 * 2 * 2);
    /* the same chunk stored compressed instead */
    cv_store *s = cv_volume_store(v);
    size_t n = 0;
    uint8_t *want = make_array(CV_UINT16, 2, full, full, 0, 9, no_box, 0, &n);
    ASSERT_TRUE(want != NULL);
    ASSERT_OK(cv_store_delete(s, key));
    ASSERT_OK(cv_store_put(s, key, want, n, "gzip", -1, NULL));
    ASSERT_TRUE(!raw_exists(v, key));
    expect_read(v, 0, full, 9, no_box, 0);
    /* stored as is but one byte short, or one too long: the error names the chunk */
    char gz[272];
    snprintf(gz, sizeof gz, "%s.gz", key);
    ASSERT_OK(cv_store_delete(s, gz));
    uint8_t *got = malloc(n + 1);
    ASSERT_TRUE(got != NULL);
    memset(got, 0, n + 1);
    for (int extra = -1; extra <= 1; extra += 2) {
        ASSERT_OK(cv_store_put(s, key, got, n + (size_t)extra, "", -1, NULL));
        cv_err_clear();
        ASSERT_EQ(cv_volume_read(v, 0, full, got, n), CV_ERR_CORRUPT);
        ASSERT_TRUE(strstr(cv_err_last()->what, key) != NULL);
    }
    /* absent: an error naming it, or the background with fill_missing */
    ASSERT_OK(cv_store_delete(s, key));
    cv_err_clear();
    ASSERT_EQ(cv_volume_read(v, 0, full, got, n), CV_ERR_NOTFOUND);
    ASSERT_TRUE(strstr(cv_err_last()->what, key) != NULL);
    cv_volume_close(v);
    o.fill_missing = true;
    v = NULL;
    ASSERT_OK(cv_volume_open(url, &o, &v));
    memset(got, 0xEE, n);
    ASSERT_OK(cv_volume_read(v, 0, full, got, n));
    memset(want, 0, n);
    ASSERT_MEM_EQ(got, want, n);
    free(got);
    free(want);
    cv_volume_close(v);
    wipe(url);
}

TEST_MAIN(roundtrip_dtypes_channels, chunk_keys_and_boxes, read_outside_unbounded, missing_chunks,
          fill_missing_and_empty_chunks, corrupt_chunks, aligned_and_non_aligned_writes,
          non_aligned_missing_border, unbounded_write, delete_black_uploads, one_chunk_writes,
          plain_chunk_reads, exists_and_delete, compression_choices, threads_identical, second_mip,
          create_open_commit, redirect_chains, redirect_cycles_and_self, redirect_read_only,
          open_info_set_info)
