/* SPDX-License-Identifier: BSD-3-Clause
 * test_downsample.c: the downsampling kernels (cloudvolume-conventions §7.4): tiny cases
 * computed by hand, then every method, factors (2,2,1), (2,2,2), (3,3,1), odd and even sizes
 * and the image/segmentation dtypes against tests/interop/downsample_ref.py (numpy), exactly. */
#include "testlib.h"

#include <unistd.h>

static void avg_3x3x1_u8(void)
{
    /* odd edges replicate: (1+2+4+5)/4=3, (3+3+6+6)/4=4, (7+8+7+8)/4=7, 9 */
    const uint8_t in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    uint8_t out[4];
    int64_t shape[3] = {3, 3, 1}, f[3] = {2, 2, 1}, os[3];
    ASSERT_OK(cv_downsample(CV_UINT8, 1, in, shape, f, CV_DS_AVERAGE, false, out, os));
    ASSERT_EQ(os[0], 2);
    ASSERT_EQ(os[1], 2);
    ASSERT_EQ(os[2], 1);
    ASSERT_EQ(out[0], 3);
    ASSERT_EQ(out[1], 4);
    ASSERT_EQ(out[2], 7);
    ASSERT_EQ(out[3], 9);
    /* negative sums truncate toward zero: -10/4 = -2 */
    const int8_t neg[4] = {-1, -2, -3, -4};
    int8_t o8;
    int64_t s2[3] = {2, 2, 1};
    ASSERT_OK(cv_downsample(CV_INT8, 1, neg, s2, f, CV_DS_AVERAGE, false, &o8, os));
    ASSERT_EQ(o8, -2);
    /* sparse average ignores zeros: (0+0+4+6)/2 = 5 */
    const uint8_t sp[4] = {0, 0, 4, 6};
    uint8_t o;
    ASSERT_OK(cv_downsample(CV_UINT8, 1, sp, s2, f, CV_DS_AVERAGE, true, &o, os));
    ASSERT_EQ(o, 5);
    /* (3,3,1) on 3x3: numpy path, 45/9 = 5 */
    int64_t f3[3] = {3, 3, 1};
    ASSERT_OK(cv_downsample(CV_UINT8, 1, in, shape, f3, CV_DS_AVERAGE, false, &o, os));
    ASSERT_EQ(o, 5);
}

static void mode_ties(void)
{
    int64_t s2[3] = {2, 2, 1}, s8[3] = {2, 2, 2}, f221[3] = {2, 2, 1}, f222[3] = {2, 2, 2}, os[3];
    uint32_t out;
    /* countless: a==d, b==c -> b */
    const uint32_t abcd[4] = {1, 2, 2, 1};
    ASSERT_OK(cv_downsample(CV_UINT32, 1, abcd, s2, f221, CV_DS_MODE, false, &out, os));
    ASSERT_EQ(out, 2);
    /* all different -> d */
    const uint32_t diff[4] = {1, 2, 3, 4};
    ASSERT_OK(cv_downsample(CV_UINT32, 1, diff, s2, f221, CV_DS_MODE, false, &out, os));
    ASSERT_EQ(out, 4);
    /* sparse: zeros never win unless all zero */
    const uint32_t zeros[4] = {0, 0, 0, 3};
    ASSERT_OK(cv_downsample(CV_UINT32, 1, zeros, s2, f221, CV_DS_MODE, true, &out, os));
    ASSERT_EQ(out, 3);
    ASSERT_OK(cv_downsample(CV_UINT32, 1, zeros, s2, f221, CV_DS_MODE, false, &out, os));
    ASSERT_EQ(out, 0);
    /* 2x2x2: 5 and 7 three times each, 9 twice -> the first, 5 */
    const uint32_t tie[8] = {5, 7, 7, 5, 7, 5, 9, 9};
    ASSERT_OK(cv_downsample(CV_UINT32, 1, tie, s8, f222, CV_DS_MODE, false, &out, os));
    ASSERT_EQ(out, 5);
    /* the upper plane all equal wins over a first-plane pair */
    const uint32_t top[8] = {1, 1, 2, 3, 4, 4, 4, 4};
    ASSERT_OK(cv_downsample(CV_UINT32, 1, top, s8, f222, CV_DS_MODE, false, &out, os));
    ASSERT_EQ(out, 4);
    /* 4x4x1 mode runs two countless steps; (3,3,1) strides */
    uint64_t big[16], o64;
    for (int i = 0; i < 16; i++) {
        big[i] = (uint64_t)(i % 4 < 2 ? 7 : 8) << 40;
    }
    int64_t s16[3] = {4, 4, 1}, f441[3] = {4, 4, 1}, f331[3] = {3, 3, 1};
    ASSERT_OK(cv_downsample(CV_UINT64, 1, big, s16, f441, CV_DS_MODE, false, &o64, os));
    ASSERT_EQ(o64 >> 40, 7);
    uint64_t o2[4];
    ASSERT_OK(cv_downsample(CV_UINT64, 1, big, s16, f331, CV_DS_MODE, false, o2, os));
    ASSERT_EQ(os[0], 2);
    ASSERT_EQ(o2[1] >> 40, 8); /* voxel (3,0) */
}

static void bad_args(void)
{
    uint8_t in[1] = {0}, out[1];
    int64_t s[3] = {1, 1, 1}, f0[3] = {0, 1, 1}, f[3] = {1, 1, 1}, os[3];
    ASSERT_FAILS(cv_downsample(CV_UINT8, 1, in, s, f0, CV_DS_MODE, false, out, os), CV_ERR_ARG,
                 "factor");
    ASSERT_FAILS(cv_downsample(CV_DTYPE_INVALID, 1, in, s, f, CV_DS_MODE, false, out, os),
                 CV_ERR_ARG, "dtype");
    ASSERT_EQ(cv_downsample_method_from_name("mode"), CV_DS_MODE);
    ASSERT_EQ(cv_downsample_method_from_name("auto"), -1);
}

/* ---- against the numpy reference --------------------------------------------------------- */

typedef struct ref_case {
    char name[32];
    cv_dtype t;
    int64_t ch, shape[3], f[3];
    cv_downsample_method m;
    bool sparse;
    int levels;
} ref_case;

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Test data: images random; segmentation blocky labels with zeros and large values. */
static void fill(const ref_case *c, void *buf, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t x = i % c->shape[0], y = i / c->shape[0] % c->shape[1];
        int64_t z = i / (c->shape[0] * c->shape[1]) % c->shape[2];
        uint64_t r = rnd();
        uint64_t label = (uint64_t)((x / 3 + (y / 2) * 3 + z * 5) % 6);
        if (r % 5 == 0) {
            label = r % 4;
        }
        switch (c->t) {
        case CV_UINT8:
            ((uint8_t *)buf)[i] = (uint8_t)(r % 7 == 0 ? 0 : r);
            break;
        case CV_INT8:
            ((int8_t *)buf)[i] = (int8_t)(uint8_t)r;
            break;
        case CV_UINT16:
            ((uint16_t *)buf)[i] = (uint16_t)(r % 7 == 0 ? 0 : r);
            break;
        case CV_INT16:
            ((int16_t *)buf)[i] = (int16_t)(uint16_t)r;
            break;
        case CV_FLOAT32:
            ((float *)buf)[i] = r % 7 == 0 ? 0.0f : (float)((int64_t)(r % 200001) - 100000) / 37.0f;
            break;
        case CV_FLOAT64:
            ((double *)buf)[i] = (double)((int64_t)(r % 200001) - 100000) / 37.0;
            break;
        case CV_UINT32:
            ((uint32_t *)buf)[i] = (uint32_t)(label * 1000003u + (label ? 4294000000u : 0));
            break;
        case CV_INT32:
            ((int32_t *)buf)[i] = (int32_t)label - 3;
            break;
        case CV_UINT64:
            ((uint64_t *)buf)[i] = label ? label * 0x100000001ull + 0xfffffff000000000ull : 0;
            break;
        case CV_INT64:
            ((int64_t *)buf)[i] = (int64_t)label * 1000000007 - 2;
            break;
        case CV_DTYPE_INVALID:
            break;
        }
    }
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        return -1;
    }
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    return p;
}

static const char *method_name(cv_downsample_method m)
{
    static const char *const names[] = {"average", "mode", "min", "max", "striding"};
    return names[m];
}

static void against_numpy(void)
{
    /* Sizes 1, 2, 3, 63, 64, 65 and 127 along each axis; the larger shapes get 6 levels, so
     * the carried sums of multi-level averages are truncated and restarted on the way. */
    static const int64_t shapes[][3] = {
        {1, 1, 1},   {2, 2, 2},   {3, 3, 3},   {63, 2, 3},   {64, 3, 2},   {65, 5, 3}, {127, 3, 2},
        {3, 63, 2},  {2, 64, 3},  {5, 65, 1},  {1, 127, 3},  {3, 2, 63},   {2, 3, 64}, {1, 5, 65},
        {2, 1, 127}, {65, 63, 3}, {64, 64, 2}, {127, 65, 9}, {63, 127, 17}};
    static const int64_t factors[][3] = {{2, 2, 1}, {2, 2, 2}, {3, 3, 1}};
    static const cv_dtype types[] = {CV_UINT8, CV_UINT16, CV_FLOAT32, CV_UINT32, CV_UINT64,
                                     CV_INT8,  CV_INT16,  CV_INT32,   CV_INT64,  CV_FLOAT64};
    const int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
    char dir[] = "/tmp/cvmpi-ds-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    enum { MAX_CASES = 3200 };
    ref_case *cases = calloc(MAX_CASES, sizeof *cases);
    int n = 0, rot = 0;
    char path[512];
    snprintf(path, sizeof path, "%s/manifest", dir);
    FILE *man = fopen(path, "w");
    ASSERT_TRUE(man != NULL);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        int per = ti < 5 ? n_shapes : 1; /* the five issue dtypes fully, the rest a sample */
        for (int m = 0; m <= CV_DS_STRIDING; m++) {
            for (int sp = 0; sp < 2; sp++) {
                for (int fi = 0; fi < 3; fi++) {
                    for (int k = 0; k < per && n < MAX_CASES; k++) {
                        ref_case *c = &cases[n];
                        snprintf(c->name, sizeof c->name, "c%d", n);
                        c->t = types[ti];
                        c->ch = rot % 5 == 0 ? 2 : 1;
                        memcpy(c->shape, shapes[ti < 5 ? k : rot % n_shapes], sizeof c->shape);
                        memcpy(c->f, factors[fi], sizeof c->f);
                        c->m = (cv_downsample_method)m;
                        c->sparse = sp;
                        c->levels =
                            c->shape[0] * c->shape[1] * c->shape[2] > 40000 ? 6 : 1 + rot % 3;
                        rot++;
                        n++;
                        fprintf(man,
                                "%s %s %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
                                " %" PRId64 " %" PRId64 " %s %d %d\n",
                                c->name, cv_dtype_name(c->t), c->ch, c->shape[0], c->shape[1],
                                c->shape[2], c->f[0], c->f[1], c->f[2], method_name(c->m), sp,
                                c->levels);
                        size_t esz = cv_dtype_size(c->t);
                        int64_t nv = c->shape[0] * c->shape[1] * c->shape[2] * c->ch;
                        void *buf = malloc((size_t)nv * esz);
                        fill(c, buf, nv);
                        snprintf(path, sizeof path, "%s/%s.in", dir, c->name);
                        ASSERT_TRUE(write_file(path, buf, (size_t)nv * esz) == 0);
                        free(buf);
                    }
                }
            }
        }
    }
    fclose(man);
    char cmd[1024];
    char script[512];
    snprintf(script, sizeof script, "%s", __FILE__);
    char *slash = strrchr(script, '/');
    ASSERT_TRUE(slash != NULL);
    snprintf(slash, sizeof script - (size_t)(slash - script), "/../interop/downsample_ref.py");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s/manifest %s", script, dir, dir);
    ASSERT_EQ(system(cmd), 0);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        ref_case *c = &cases[i];
        size_t esz = cv_dtype_size(c->t), len;
        snprintf(path, sizeof path, "%s/%s.in", dir, c->name);
        uint8_t *in = read_file(path, &len);
        void *lv[6];
        int64_t shp[6][3], cur[3];
        memcpy(cur, c->shape, sizeof cur);
        for (int k = 0; k < c->levels; k++) {
            cv_downsample_shape(cur, c->f, cur);
            lv[k] = malloc((size_t)(cur[0] * cur[1] * cur[2] * c->ch) * esz);
        }
        ASSERT_OK(cv_downsample_pyramid(c->t, c->ch, in, c->shape, c->f, c->m, c->sparse, c->levels,
                                        lv, shp));
        for (int k = 0; k < c->levels; k++) {
            snprintf(path, sizeof path, "%s/%s.%d.out", dir, c->name, k + 1);
            uint8_t *want = read_file(path, &len);
            size_t got_len = (size_t)(shp[k][0] * shp[k][1] * shp[k][2] * c->ch) * esz;
            if (!want || len != got_len || memcmp(want, lv[k], len) != 0) {
                if (bad++ < 10) {
                    fprintf(stderr,
                            "  mismatch %s %s ch%" PRId64 " %" PRId64 "x%" PRId64 "x%" PRId64
                            " f %" PRId64 ",%" PRId64 ",%" PRId64 " %s sparse=%d level %d\n",
                            c->name, cv_dtype_name(c->t), c->ch, c->shape[0], c->shape[1],
                            c->shape[2], c->f[0], c->f[1], c->f[2], method_name(c->m), c->sparse,
                            k + 1);
                }
            }
            free(want);
            free(lv[k]);
        }
        free(in);
    }
    free(cases);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
    printf("  %d cases against numpy\n", n);
    ASSERT_EQ(bad, 0);
}

TEST_MAIN(avg_3x3x1_u8, mode_ties, bad_args, against_numpy)
