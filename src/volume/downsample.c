/* SPDX-License-Identifier: BSD-3-Clause
 * downsample.c: one-level and pyramid downsampling kernels (cloudvolume-conventions §7.4:
 * tinybrain average pooling with replicated odd edges, countless 2x2x1 and 2x2x2 mode, the
 * numpy path for other dtypes and factors, min/max, striding, sparse). The exact rules are in
 * cvmpi.h; tests/interop/downsample_ref.py is the independent numpy version. */
#include "base/cv_internal.h"

#include <string.h>

typedef struct ds_geom {
    int64_t s[3]; /* source shape */
    int64_t f[3]; /* factor of this step */
    int64_t o[3]; /* output shape */
} ds_geom;

enum ds_kernel { K_STRIDE, K_MIN, K_MAX, K_AVG_FAST, K_AVG, K_COUNTLESS, K_MODE222, K_MODE };

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Float -> integer as the reference does: truncate toward zero, clamp to the type's range
 * (`lim` is the first value above the maximum, a power of two). */
#define DS_TO_INT(T, LO, HI, LIM, q)                                                               \
    (!((q) > (double)(LO)) ? (T)(LO) : (double)(q) >= (LIM) ? (T)(HI) : (T)(q))

/* Kernels shared by every dtype. `vals` holds prod(f) elements (generic mode). */
#define DS_COMMON(T, SUF, ACC, CONV)                                                               \
    static void stride_##SUF(const T *src, T *dst, const ds_geom *g)                               \
    {                                                                                              \
        const int64_t sx = g->s[0], sy = g->s[1];                                                  \
        for (int64_t oz = 0; oz < g->o[2]; oz++) {                                                 \
            for (int64_t oy = 0; oy < g->o[1]; oy++) {                                             \
                const T *row = src + (oz * g->f[2] * sy + oy * g->f[1]) * sx;                      \
                for (int64_t ox = 0, x = 0; ox < g->o[0]; ox++, x += g->f[0]) {                    \
                    *dst++ = row[x];                                                               \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static void minmax_##SUF(const T *src, T *dst, const ds_geom *g, bool want_max, bool sparse)   \
    {                                                                                              \
        const int64_t sx = g->s[0], sy = g->s[1], sz = g->s[2];                                    \
        for (int64_t oz = 0; oz < g->o[2]; oz++) {                                                 \
            int64_t z0 = oz * g->f[2], z1 = min64(z0 + g->f[2], sz);                               \
            for (int64_t oy = 0; oy < g->o[1]; oy++) {                                             \
                int64_t y0 = oy * g->f[1], y1 = min64(y0 + g->f[1], sy);                           \
                for (int64_t ox = 0; ox < g->o[0]; ox++) {                                         \
                    int64_t x0 = ox * g->f[0], x1 = min64(x0 + g->f[0], sx);                       \
                    T best = 0;                                                                    \
                    bool have = false;                                                             \
                    for (int64_t z = z0; z < z1; z++) {                                            \
                        for (int64_t y = y0; y < y1; y++) {                                        \
                            const T *row = src + (z * sy + y) * sx;                                \
                            for (int64_t x = x0; x < x1; x++) {                                    \
                                T v = row[x];                                                      \
                                if (sparse && v == 0) {                                            \
                                    continue;                                                      \
                                }                                                                  \
                                if (!have || (want_max ? v > best : v < best)) {                   \
                                    best = v;                                                      \
                                    have = true;                                                   \
                                }                                                                  \
                            }                                                                      \
                        }                                                                          \
                    }                                                                              \
                    *dst++ = best;                                                                 \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static void avg_##SUF(const T *src, T *dst, const ds_geom *g, bool sparse)                     \
    {                                                                                              \
        const int64_t sx = g->s[0], sy = g->s[1], sz = g->s[2];                                    \
        for (int64_t oz = 0; oz < g->o[2]; oz++) {                                                 \
            int64_t z0 = oz * g->f[2], z1 = min64(z0 + g->f[2], sz);                               \
            for (int64_t oy = 0; oy < g->o[1]; oy++) {                                             \
                int64_t y0 = oy * g->f[1], y1 = min64(y0 + g->f[1], sy);                           \
                for (int64_t ox = 0; ox < g->o[0]; ox++) {                                         \
                    int64_t x0 = ox * g->f[0], x1 = min64(x0 + g->f[0], sx);                       \
                    ACC acc = 0;                                                                   \
                    int64_t n = 0;                                                                 \
                    for (int64_t z = z0; z < z1; z++) {                                            \
                        for (int64_t y = y0; y < y1; y++) {                                        \
                            const T *row = src + (z * sy + y) * sx;                                \
                            for (int64_t x = x0; x < x1; x++) {                                    \
                                if (sparse && row[x] == 0) {                                       \
                                    continue;                                                      \
                                }                                                                  \
                                acc += (ACC)row[x];                                                \
                                n++;                                                               \
                            }                                                                      \
                        }                                                                          \
                    }                                                                              \
                    ACC q = n ? acc / (ACC)n : (ACC)0;                                             \
                    *dst++ = CONV(q);                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static void mode_##SUF(const T *src, T *dst, const ds_geom *g, bool sparse, T *vals)           \
    {                                                                                              \
        const int64_t sx = g->s[0], sy = g->s[1], sz = g->s[2];                                    \
        for (int64_t oz = 0; oz < g->o[2]; oz++) {                                                 \
            int64_t z0 = oz * g->f[2], z1 = min64(z0 + g->f[2], sz);                               \
            for (int64_t oy = 0; oy < g->o[1]; oy++) {                                             \
                int64_t y0 = oy * g->f[1], y1 = min64(y0 + g->f[1], sy);                           \
                for (int64_t ox = 0; ox < g->o[0]; ox++) {                                         \
                    int64_t x0 = ox * g->f[0], x1 = min64(x0 + g->f[0], sx);                       \
                    int64_t n = 0;                                                                 \
                    for (int64_t z = z0; z < z1; z++) {                                            \
                        for (int64_t y = y0; y < y1; y++) {                                        \
                            const T *row = src + (z * sy + y) * sx;                                \
                            for (int64_t x = x0; x < x1; x++) {                                    \
                                if (!(sparse && row[x] == 0)) {                                    \
                                    vals[n++] = row[x];                                            \
                                }                                                                  \
                            }                                                                      \
                        }                                                                          \
                    }                                                                              \
                    T best = 0;                                                                    \
                    int64_t best_n = 0;                                                            \
                    for (int64_t t = 0; t < n && best_n * 2 <= n; t++) {                           \
                        int64_t c = 0;                                                             \
                        for (int64_t j = 0; j < n; j++) {                                          \
                            c += vals[j] == vals[t];                                               \
                        }                                                                          \
                        if (c > best_n) {                                                          \
                            best_n = c;                                                            \
                            best = vals[t];                                                        \
                        }                                                                          \
                    }                                                                              \
                    *dst++ = best;                                                                 \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* countless 2x2x1: a==b: a; a==c: a; b==c: b; else d. Odd edges clamp (spec §7.4). */        \
    static void countless_##SUF(const T *src, T *dst, const ds_geom *g)                            \
    {                                                                                              \
        const int64_t sx = g->s[0], sy = g->s[1];                                                  \
        for (int64_t z = 0; z < g->s[2]; z++) {                                                    \
            for (int64_t oy = 0; oy < g->o[1]; oy++) {                                             \
                int64_t y0 = 2 * oy, y1 = y0 + 1 < sy ? y0 + 1 : y0;                               \
                const T *restrict r0 = src + (z * sy + y0) * sx;                                   \
                const T *restrict r1 = src + (z * sy + y1) * sx;                                   \
                T *restrict o = dst;                                                               \
                const int64_t pairs = sx / 2;                                                      \
                /* Branches as tinybrain's (labels mostly agree with their neighbours, so they     \
                 * predict well); no edge tests inside the row. */                                 \
                for (int64_t i = 0; i < pairs; i++) {                                              \
                    T a = r0[2 * i], b = r0[2 * i + 1], c = r1[2 * i];                             \
                    o[i] = a == b || a == c ? a : b == c ? b : r1[2 * i + 1];                      \
                }                                                                                  \
                if (sx & 1) {                                                                      \
                    o[pairs] = r0[sx - 1]; /* a == b: the edge voxel itself */                     \
                }                                                                                  \
                dst += g->o[0];                                                                    \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* 2x2x2 mode: v0..v3 equal: v0; v4..v7 equal: v4; else the first with count >= 4, else        \
     * the first with the strictly highest count. Odd edges clamp. */                              \
    static void mode222_##SUF(const T *src, T *dst, const ds_geom *g)                              \
    {                                                                                              \
        const int64_t sx = g->s[0], sy = g->s[1], sz = g->s[2];                                    \
        for (int64_t oz = 0; oz < g->o[2]; oz++) {                                                 \
            int64_t z0 = 2 * oz, z1 = z0 + 1 < sz ? z0 + 1 : z0;                                   \
            for (int64_t oy = 0; oy < g->o[1]; oy++) {                                             \
                int64_t y0 = 2 * oy, y1 = y0 + 1 < sy ? y0 + 1 : y0;                               \
                const T *r00 = src + (z0 * sy + y0) * sx, *r01 = src + (z0 * sy + y1) * sx;        \
                const T *r10 = src + (z1 * sy + y0) * sx, *r11 = src + (z1 * sy + y1) * sx;        \
                for (int64_t ox = 0; ox < g->o[0]; ox++) {                                         \
                    int64_t x0 = 2 * ox, x1 = x0 + 1 < sx ? x0 + 1 : x0;                           \
                    T v[8] = {r00[x0], r00[x1], r01[x0], r01[x1],                                  \
                              r10[x0], r10[x1], r11[x0], r11[x1]};                                 \
                    if (v[0] == v[1] && v[1] == v[2] && v[2] == v[3]) {                            \
                        *dst++ = v[0];                                                             \
                        continue;                                                                  \
                    }                                                                              \
                    if (v[4] == v[5] && v[5] == v[6] && v[6] == v[7]) {                            \
                        *dst++ = v[4];                                                             \
                        continue;                                                                  \
                    }                                                                              \
                    T best = v[0];                                                                 \
                    int best_n = 0;                                                                \
                    for (int t = 0; t < 8; t++) {                                                  \
                        int c = 0;                                                                 \
                        for (int j = 0; j < 8; j++) {                                              \
                            c += v[j] == v[t];                                                     \
                        }                                                                          \
                        if (c > best_n) {                                                          \
                            best_n = c;                                                            \
                            best = v[t];                                                           \
                            if (c >= 4) {                                                          \
                                break;                                                             \
                            }                                                                      \
                        }                                                                          \
                    }                                                                              \
                    *dst++ = best;                                                                 \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

/* Fast average, factor (2,2,1) or (2,2,2), odd edges replicated. Integers: wider sum, shift
 * truncating toward zero. Floats: summed in T in block order, times 1/4 or 1/8. */
#define DS_AVG_FAST(T, SUF, SUMT, FINISH)                                                          \
    static void avgfast_##SUF(const T *src, T *dst, const ds_geom *g)                              \
    {                                                                                              \
        const int64_t sx = g->s[0], sy = g->s[1], sz = g->s[2];                                    \
        const int64_t pairs = sx / 2;                                                              \
        const bool three = g->f[2] == 2, odd = (sx & 1) != 0;                                      \
        for (int64_t oz = 0; oz < g->o[2]; oz++) {                                                 \
            int64_t z0 = oz * g->f[2], z1 = three && z0 + 1 < sz ? z0 + 1 : z0;                    \
            for (int64_t oy = 0; oy < g->o[1]; oy++) {                                             \
                int64_t y0 = 2 * oy, y1 = y0 + 1 < sy ? y0 + 1 : y0;                               \
                const T *restrict a = src + (z0 * sy + y0) * sx;                                   \
                const T *restrict b = src + (z0 * sy + y1) * sx;                                   \
                const T *restrict c = src + (z1 * sy + y0) * sx;                                   \
                const T *restrict d = src + (z1 * sy + y1) * sx;                                   \
                T *restrict o = dst + (oz * g->o[1] + oy) * g->o[0];                               \
                /* Interior pairs without edge tests (so the compiler vectorizes), then the        \
                 * odd last column counted twice, summed in block order. */                        \
                if (!three) {                                                                      \
                    for (int64_t i = 0; i < pairs; i++) {                                          \
                        SUMT s = (SUMT)((SUMT)a[2 * i] + (SUMT)a[2 * i + 1] + (SUMT)b[2 * i] +     \
                                        (SUMT)b[2 * i + 1]);                                       \
                        o[i] = FINISH(s, 2);                                                       \
                    }                                                                              \
                    if (odd) {                                                                     \
                        SUMT s = (SUMT)((SUMT)a[sx - 1] + (SUMT)a[sx - 1] + (SUMT)b[sx - 1] +      \
                                        (SUMT)b[sx - 1]);                                          \
                        o[pairs] = FINISH(s, 2);                                                   \
                    }                                                                              \
                    continue;                                                                      \
                }                                                                                  \
                for (int64_t i = 0; i < pairs; i++) {                                              \
                    SUMT s = (SUMT)((SUMT)a[2 * i] + (SUMT)a[2 * i + 1] + (SUMT)b[2 * i] +         \
                                    (SUMT)b[2 * i + 1] + (SUMT)c[2 * i] + (SUMT)c[2 * i + 1] +     \
                                    (SUMT)d[2 * i] + (SUMT)d[2 * i + 1]);                          \
                    o[i] = FINISH(s, 3);                                                           \
                }                                                                                  \
                if (odd) {                                                                         \
                    SUMT s = (SUMT)((SUMT)a[sx - 1] + (SUMT)a[sx - 1] + (SUMT)b[sx - 1] +          \
                                    (SUMT)b[sx - 1] + (SUMT)c[sx - 1] + (SUMT)c[sx - 1] +          \
                                    (SUMT)d[sx - 1] + (SUMT)d[sx - 1]);                            \
                    o[pairs] = FINISH(s, 3);                                                       \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

#define FIN_INT(s, k) (s >= 0 ? (s >> k) : -((-s) >> k))
#define FIN_UINT(s, k) (s >> k)
#define FIN_F32(s, k) ((float)(s * (k == 2 ? 0.25 : 0.125)))
#define FIN_F64(s, k) (s * (k == 2 ? 0.25 : 0.125))

#define CONV_U8(q) DS_TO_INT(uint8_t, 0, UINT8_MAX, 256.0, q)
#define CONV_I8(q) DS_TO_INT(int8_t, INT8_MIN, INT8_MAX, 128.0, q)
#define CONV_U16(q) DS_TO_INT(uint16_t, 0, UINT16_MAX, 65536.0, q)
#define CONV_I16(q) DS_TO_INT(int16_t, INT16_MIN, INT16_MAX, 32768.0, q)
#define CONV_U32(q) DS_TO_INT(uint32_t, 0, UINT32_MAX, 4294967296.0, q)
#define CONV_I32(q) DS_TO_INT(int32_t, INT32_MIN, INT32_MAX, 2147483648.0, q)
#define CONV_U64(q) DS_TO_INT(uint64_t, 0, UINT64_MAX, 18446744073709551616.0, q)
#define CONV_I64(q) DS_TO_INT(int64_t, INT64_MIN, INT64_MAX, 9223372036854775808.0, q)
#define CONV_F(q) (q)

/* Per dtype: all kernels, and the dispatcher running `k` over every channel. */
#define DS_TYPE(T, SUF, ACC, CONV, FAST)                                                           \
    DS_COMMON(T, SUF, ACC, CONV)                                                                   \
    static void step_##SUF(enum ds_kernel k, const void *src_v, void *dst_v, const ds_geom *g,     \
                           int64_t channels, bool sparse, void *vals)                              \
    {                                                                                              \
        const T *src = src_v;                                                                      \
        T *dst = dst_v;                                                                            \
        const int64_t in_n = g->s[0] * g->s[1] * g->s[2], out_n = g->o[0] * g->o[1] * g->o[2];     \
        for (int64_t c = 0; c < channels; c++, src += in_n, dst += out_n) {                        \
            switch (k) {                                                                           \
            case K_STRIDE:                                                                         \
                stride_##SUF(src, dst, g);                                                         \
                break;                                                                             \
            case K_MIN:                                                                            \
            case K_MAX:                                                                            \
                minmax_##SUF(src, dst, g, k == K_MAX, sparse);                                     \
                break;                                                                             \
            case K_AVG_FAST:                                                                       \
                FAST(src, dst, g, sparse);                                                         \
                break;                                                                             \
            case K_AVG:                                                                            \
                avg_##SUF(src, dst, g, sparse);                                                    \
                break;                                                                             \
            case K_COUNTLESS:                                                                      \
                countless_##SUF(src, dst, g);                                                      \
                break;                                                                             \
            case K_MODE222:                                                                        \
                mode222_##SUF(src, dst, g);                                                        \
                break;                                                                             \
            case K_MODE:                                                                           \
                mode_##SUF(src, dst, g, sparse, vals);                                             \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    }

/* Sums in a wider type (tinybrain's PromotedType): 8 values of the type fit. float sums in
 * double, rounded to float once at the end. */
DS_AVG_FAST(uint8_t, u8, uint16_t, FIN_UINT)
DS_AVG_FAST(int8_t, i8, int16_t, FIN_INT)
DS_AVG_FAST(uint16_t, u16, uint32_t, FIN_UINT)
DS_AVG_FAST(int16_t, i16, int32_t, FIN_INT)
DS_AVG_FAST(float, f32, double, FIN_F32)
DS_AVG_FAST(double, f64, double, FIN_F64)

#define FAST_U8(s, d, g, sp) avgfast_u8(s, d, g)
#define FAST_I8(s, d, g, sp) avgfast_i8(s, d, g)
#define FAST_U16(s, d, g, sp) avgfast_u16(s, d, g)
#define FAST_I16(s, d, g, sp) avgfast_i16(s, d, g)
#define FAST_F32(s, d, g, sp) avgfast_f32(s, d, g)
#define FAST_F64(s, d, g, sp) avgfast_f64(s, d, g)
#define FAST_NONE_U32(s, d, g, sp) avg_u32(s, d, g, sp)
#define FAST_NONE_I32(s, d, g, sp) avg_i32(s, d, g, sp)
#define FAST_NONE_U64(s, d, g, sp) avg_u64(s, d, g, sp)
#define FAST_NONE_I64(s, d, g, sp) avg_i64(s, d, g, sp)

DS_TYPE(uint8_t, u8, float, CONV_U8, FAST_U8)
DS_TYPE(int8_t, i8, float, CONV_I8, FAST_I8)
DS_TYPE(uint16_t, u16, float, CONV_U16, FAST_U16)
DS_TYPE(int16_t, i16, float, CONV_I16, FAST_I16)
DS_TYPE(uint32_t, u32, float, CONV_U32, FAST_NONE_U32)
DS_TYPE(int32_t, i32, float, CONV_I32, FAST_NONE_I32)
DS_TYPE(uint64_t, u64, float, CONV_U64, FAST_NONE_U64)
DS_TYPE(int64_t, i64, float, CONV_I64, FAST_NONE_I64)
DS_TYPE(float, f32, float, CONV_F, FAST_F32)
DS_TYPE(double, f64, double, CONV_F, FAST_F64)

static void run_step(cv_dtype t, enum ds_kernel k, const void *src, void *dst, const ds_geom *g,
                     int64_t channels, bool sparse, void *vals)
{
    switch (t) {
    case CV_UINT8:
        step_u8(k, src, dst, g, channels, sparse, vals);
        break;
    case CV_INT8:
        step_i8(k, src, dst, g, channels, sparse, vals);
        break;
    case CV_UINT16:
        step_u16(k, src, dst, g, channels, sparse, vals);
        break;
    case CV_INT16:
        step_i16(k, src, dst, g, channels, sparse, vals);
        break;
    case CV_UINT32:
        step_u32(k, src, dst, g, channels, sparse, vals);
        break;
    case CV_INT32:
        step_i32(k, src, dst, g, channels, sparse, vals);
        break;
    case CV_UINT64:
        step_u64(k, src, dst, g, channels, sparse, vals);
        break;
    case CV_INT64:
        step_i64(k, src, dst, g, channels, sparse, vals);
        break;
    case CV_FLOAT32:
        step_f32(k, src, dst, g, channels, sparse, vals);
        break;
    case CV_FLOAT64:
        step_f64(k, src, dst, g, channels, sparse, vals);
        break;
    case CV_DTYPE_INVALID:
        break;
    }
}

int cv_downsample_method_from_name(const char *name)
{
    static const char *const names[] = {"average", "mode", "min", "max", "striding"};
    for (int i = 0; i < 5; i++) {
        if (name && strcmp(name, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void cv_downsample_shape(const int64_t src_shape[3], const int64_t factor[3], int64_t dst_shape[3])
{
    for (int i = 0; i < 3; i++) {
        dst_shape[i] = factor[i] > 0 ? ceil_div(src_shape[i], factor[i]) : 0;
    }
}

static bool is_pow2(int64_t v)
{
    return v > 0 && (v & (v - 1)) == 0;
}

static bool fast_avg_dtype(cv_dtype t)
{
    return t == CV_UINT8 || t == CV_INT8 || t == CV_UINT16 || t == CV_INT16 || t == CV_FLOAT32 ||
           t == CV_FLOAT64;
}

/* The kernel for one step of factor f (after decomposition). */
static enum ds_kernel pick_kernel(cv_dtype t, cv_downsample_method m, bool sparse,
                                  const int64_t f[3])
{
    bool f221 = f[0] == 2 && f[1] == 2 && f[2] == 1, f222 = f[0] == 2 && f[1] == 2 && f[2] == 2;
    switch (m) {
    case CV_DS_AVERAGE:
        return !sparse && (f221 || f222) && fast_avg_dtype(t) ? K_AVG_FAST : K_AVG;
    case CV_DS_MODE:
        if (sparse) {
            return K_MODE;
        }
        return f221 ? K_COUNTLESS : f222 ? K_MODE222 : K_MODE;
    case CV_DS_MIN:
        return K_MIN;
    case CV_DS_MAX:
        return K_MAX;
    case CV_DS_STRIDING:
        break;
    }
    return K_STRIDE;
}

cv_status cv_downsample(cv_dtype t, int64_t channels, const void *src, const int64_t src_shape[3],
                        const int64_t factor[3], cv_downsample_method method, bool sparse,
                        void *dst, int64_t dst_shape[3])
{
    size_t esz = cv_dtype_size(t);
    if (esz == 0 || channels < 1 || (int)method < 0 || method > CV_DS_STRIDING) {
        return CV_FAIL(CV_ERR_ARG, "downsample: bad dtype, channel count or method");
    }
    int64_t block = 1;
    for (int i = 0; i < 3; i++) {
        if (src_shape[i] < 1 || factor[i] < 1 || factor[i] > (1 << 20)) {
            return CV_FAIL(CV_ERR_ARG, "downsample: bad shape or factor on axis %d", i);
        }
        block *= factor[i];
    }
    cv_downsample_shape(src_shape, factor, dst_shape);
    if (block == 1) {
        memcpy(dst, src, (size_t)(src_shape[0] * src_shape[1] * src_shape[2] * channels) * esz);
        return CV_OK;
    }
    /* Mode with power-of-two factors (not sparse) runs in 2x steps; the rest in one step. */
    bool steps = method == CV_DS_MODE && !sparse;
    for (int i = 0; i < 3; i++) {
        steps = steps && is_pow2(factor[i]);
    }
    if (method == CV_DS_MODE && !sparse && !steps) {
        method = CV_DS_STRIDING; /* non-power-of-two segmentation factors stride */
    }
    ds_geom g;
    if (!steps || (factor[0] <= 2 && factor[1] <= 2 && factor[2] <= 2)) {
        void *vals = NULL;
        enum ds_kernel k = pick_kernel(t, method, sparse, factor);
        if (k == K_MODE && !(vals = cv_malloc((size_t)block * esz))) {
            return CV_FAIL(CV_ERR_NOMEM, "downsample: out of memory");
        }
        memcpy(g.s, src_shape, sizeof g.s);
        memcpy(g.f, factor, sizeof g.f);
        memcpy(g.o, dst_shape, sizeof g.o);
        run_step(t, k, src, dst, &g, channels, sparse, vals);
        cv_free(vals);
        return CV_OK;
    }
    /* Several 2x steps: ping-pong through temporaries sized for the first step's output. */
    int64_t rem[3] = {factor[0], factor[1], factor[2]}, cur[3];
    memcpy(cur, src_shape, sizeof cur);
    int64_t f1[3] = {rem[0] > 1 ? 2 : 1, rem[1] > 1 ? 2 : 1, rem[2] > 1 ? 2 : 1}, s1[3];
    cv_downsample_shape(cur, f1, s1);
    size_t cap = (size_t)(s1[0] * s1[1] * s1[2] * channels) * esz;
    uint8_t *tmp[2] = {cv_malloc(cap), cv_malloc(cap)};
    uint8_t *vals = cv_malloc(8 * esz);
    if (!tmp[0] || !tmp[1] || !vals) {
        cv_free(tmp[0]);
        cv_free(tmp[1]);
        cv_free(vals);
        return CV_FAIL(CV_ERR_NOMEM, "downsample: out of memory");
    }
    const void *in = src;
    for (int n = 0;; n++) {
        for (int i = 0; i < 3; i++) {
            g.f[i] = rem[i] > 1 ? 2 : 1;
            rem[i] /= g.f[i];
        }
        bool last = rem[0] == 1 && rem[1] == 1 && rem[2] == 1;
        memcpy(g.s, cur, sizeof g.s);
        cv_downsample_shape(cur, g.f, g.o);
        void *out = last ? dst : (void *)tmp[n & 1];
        run_step(t, pick_kernel(t, CV_DS_MODE, false, g.f), in, out, &g, channels, false, vals);
        memcpy(cur, g.o, sizeof cur);
        in = out;
        if (last) {
            break;
        }
    }
    cv_free(tmp[0]);
    cv_free(tmp[1]);
    cv_free(vals);
    return CV_OK;
}

cv_status cv_downsample_pyramid(cv_dtype t, int64_t channels, const void *src,
                                const int64_t src_shape[3], const int64_t factor[3],
                                cv_downsample_method method, bool sparse, int n_levels,
                                void *const dst[], int64_t (*dst_shapes)[3])
{
    return cv_downsample_levels(t, channels, src, src_shape, factor, method, sparse, 0, n_levels,
                                dst, dst_shapes, NULL);
}

/* ---- carried sums (tinybrain's multi-mip average pooling) ----------------------------------
 * For 2x2x1 and 2x2x2 averages of 8- and 16-bit integers, level k is not computed from level
 * k-1's truncated voxels: the sums of the source voxels (odd edges replicated) are carried
 * from level to level and each level is rendered as sum >> (bits x levels since the last
 * reset), truncating toward zero. Every `period` levels (when tinybrain's accumulator would
 * next overflow: 4 levels for 2x2x1, 8 for 2x2x2 8-bit, 5 for 2x2x2 16-bit) the sums are
 * shifted right (an arithmetic shift) and carrying starts again. The sums fit in 32 bits in
 * every case (unsigned for unsigned types: 255 x 8^8 < 2^32; signed: -128 x 8^8 = -2^31). */

static bool carries_sums(cv_dtype t, cv_downsample_method m, bool sparse, const int64_t f[3])
{
    bool small = t == CV_UINT8 || t == CV_INT8 || t == CV_UINT16 || t == CV_INT16;
    bool f22 = f[0] == 2 && f[1] == 2 && (f[2] == 1 || f[2] == 2);
    return m == CV_DS_AVERAGE && !sparse && small && f22;
}

static int sum_period(cv_dtype t, const int64_t f[3])
{
    if (f[2] == 1) {
        return 4;
    }
    return t == CV_UINT8 || t == CV_INT8 ? 8 : 5;
}

/* Sums of 2x2(x2) blocks of `src` (type T) into `dst` (accumulator A), edges replicated. */
#define DS_BLOCK_SUM(T, A, NAME)                                                                   \
    static void NAME(const T *src, const int64_t s[3], bool three, A *dst)                         \
    {                                                                                              \
        const int64_t sx = s[0], sy = s[1], sz = s[2];                                             \
        const int64_t osx = (sx + 1) / 2, osy = (sy + 1) / 2, osz = three ? (sz + 1) / 2 : sz;     \
        const int64_t pairs = sx / 2;                                                              \
        for (int64_t oz = 0; oz < osz; oz++) {                                                     \
            int64_t z0 = three ? 2 * oz : oz, z1 = three && z0 + 1 < sz ? z0 + 1 : z0;             \
            for (int64_t oy = 0; oy < osy; oy++) {                                                 \
                int64_t y0 = 2 * oy, y1 = y0 + 1 < sy ? y0 + 1 : y0;                               \
                const T *restrict a = src + (z0 * sy + y0) * sx;                                   \
                const T *restrict b = src + (z0 * sy + y1) * sx;                                   \
                const T *restrict c = src + (z1 * sy + y0) * sx;                                   \
                const T *restrict d = src + (z1 * sy + y1) * sx;                                   \
                A *restrict o = dst + (oz * osy + oy) * osx;                                       \
                if (three) {                                                                       \
                    for (int64_t i = 0; i < pairs; i++) {                                          \
                        o[i] = (A)((A)a[2 * i] + (A)a[2 * i + 1] + (A)b[2 * i] + (A)b[2 * i + 1] + \
                                   (A)c[2 * i] + (A)c[2 * i + 1] + (A)d[2 * i] + (A)d[2 * i + 1]); \
                    }                                                                              \
                    if (sx & 1) {                                                                  \
                        o[pairs] =                                                                 \
                            (A)(2 * ((A)a[sx - 1] + (A)b[sx - 1] + (A)c[sx - 1] + (A)d[sx - 1]));  \
                    }                                                                              \
                } else {                                                                           \
                    for (int64_t i = 0; i < pairs; i++) {                                          \
                        o[i] = (A)((A)a[2 * i] + (A)a[2 * i + 1] + (A)b[2 * i] + (A)b[2 * i + 1]); \
                    }                                                                              \
                    if (sx & 1) {                                                                  \
                        o[pairs] = (A)(2 * ((A)a[sx - 1] + (A)b[sx - 1]));                         \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

/* The pyramid of one channel of type T with accumulator A. `in` holds voxels (first_level 0)
 * or the sums of first_level; sums[2] are scratch arrays of the first output level's size. */
#define DS_CARRIED(T, A, SUF, SIGNED)                                                              \
    DS_BLOCK_SUM(T, A, bsum_##SUF)                                                                 \
    DS_BLOCK_SUM(A, A, bsumacc_##SUF)                                                              \
    static void carried_##SUF(const void *in, const int64_t shape[3], bool three, int bits,        \
                              int period, int first_level, int n_levels, void *const outs[],       \
                              A *sums[2], A *state_out)                                            \
    {                                                                                              \
        int64_t cur[3] = {shape[0], shape[1], shape[2]};                                           \
        const A *prev = first_level > 0 ? (const A *)in : NULL;                                    \
        A *out = NULL;                                                                             \
        for (int k = 0; k < n_levels; k++) {                                                       \
            int level = first_level + k + 1;                                                       \
            int64_t o[3] = {(cur[0] + 1) / 2, (cur[1] + 1) / 2,                                    \
                            three ? (cur[2] + 1) / 2 : cur[2]};                                    \
            const int64_t n = o[0] * o[1] * o[2];                                                  \
            out = sums[k & 1];                                                                     \
            if (prev) {                                                                            \
                bsumacc_##SUF(prev, cur, three, out);                                              \
            } else {                                                                               \
                bsum_##SUF((const T *)in, cur, three, out);                                        \
            }                                                                                      \
            const int sh = bits * ((level - 1) % period + 1);                                      \
            T *restrict px = (T *)outs[k];                                                         \
            for (int64_t i = 0; i < n; i++) {                                                      \
                if (SIGNED) {                                                                      \
                    int64_t v = out[i];                                                            \
                    px[i] = (T)(v >= 0 ? v >> sh : -((-v) >> sh));                                 \
                } else {                                                                           \
                    px[i] = (T)(out[i] >> sh);                                                     \
                }                                                                                  \
            }                                                                                      \
            if (level % period == 0) {                                                             \
                for (int64_t i = 0; i < n; i++) {                                                  \
                    out[i] = (A)(out[i] >> (bits * period)); /* floor, as tinybrain */             \
                }                                                                                  \
            }                                                                                      \
            prev = out;                                                                            \
            memcpy(cur, o, sizeof cur);                                                            \
        }                                                                                          \
        if (state_out) {                                                                           \
            memcpy(state_out, out, (size_t)(cur[0] * cur[1] * cur[2]) * sizeof(A));                \
        }                                                                                          \
    }
DS_CARRIED(uint8_t, uint32_t, u8, 0)
DS_CARRIED(int8_t, int32_t, i8, 1)
DS_CARRIED(uint16_t, uint32_t, u16, 0)
DS_CARRIED(int16_t, int32_t, i16, 1)

/* Carried levels in slabs along z, each made whole before the next (so the sums stay in cache
 * and are never larger than one slab's first level): with 2x2x1 every plane is independent;
 * with 2x2x2 a slab of 2^n_levels planes is. Only the volume's last slab has odd edges, as
 * in one call over everything. */
static cv_status carried_levels(cv_dtype t, int64_t channels, const void *state,
                                const int64_t shape[3], const int64_t f[3], int first_level,
                                int n_levels, void *const dst[], int64_t (*dst_shapes)[3],
                                void *state_out)
{
    const bool three = f[2] == 2;
    const int bits = three ? 3 : 2, period = sum_period(t, f);
    int64_t cur[3] = {shape[0], shape[1], shape[2]};
    for (int k = 0; k < n_levels; k++) {
        cv_downsample_shape(cur, f, dst_shapes[k]);
        memcpy(cur, dst_shapes[k], sizeof cur);
    }
    const int64_t slab = three ? (n_levels < 30 ? INT64_C(1) << n_levels : shape[2]) : 1;
    const int64_t thick = slab < shape[2] ? slab : shape[2];
    const size_t n1 =
        (size_t)(((shape[0] + 1) / 2) * ((shape[1] + 1) / 2) * (three ? (thick + 1) / 2 : 1));
    uint32_t *sums[2] = {cv_malloc(n1 * 4), cv_malloc(n1 * 4)};
    if (!sums[0] || !sums[1]) {
        cv_free(sums[0]);
        cv_free(sums[1]);
        return CV_FAIL(CV_ERR_NOMEM, "downsample: sums of %zu voxels", n1);
    }
    const size_t in_vb = first_level > 0 ? 4 : cv_dtype_size(t), esz = cv_dtype_size(t);
    const int64_t in_plane = shape[0] * shape[1], in_n = in_plane * shape[2];
    for (int64_t c = 0; c < channels; c++) {
        for (int64_t z0 = 0; z0 < shape[2]; z0 += slab) {
            int64_t ss[3] = {shape[0], shape[1], shape[2] - z0 < slab ? shape[2] - z0 : slab};
            const void *in = (const uint8_t *)state + (size_t)(c * in_n + z0 * in_plane) * in_vb;
            void *outs[64];
            uint32_t *so = NULL;
            for (int k = 0; k < n_levels; k++) {
                const int64_t *o = dst_shapes[k];
                int64_t zk = three ? z0 >> (k + 1) : z0, plane = o[0] * o[1];
                size_t at = (size_t)(c * plane * o[2] + zk * plane);
                outs[k] = (uint8_t *)dst[k] + at * esz;
                if (k == n_levels - 1 && state_out) {
                    so = (uint32_t *)state_out + at;
                }
            }
            switch (t) {
            case CV_UINT8:
                carried_u8(in, ss, three, bits, period, first_level, n_levels, outs, sums, so);
                break;
            case CV_INT8:
                carried_i8(in, ss, three, bits, period, first_level, n_levels, outs,
                           (int32_t **)(void *)sums, (int32_t *)so);
                break;
            case CV_UINT16:
                carried_u16(in, ss, three, bits, period, first_level, n_levels, outs, sums, so);
                break;
            default:
                carried_i16(in, ss, three, bits, period, first_level, n_levels, outs,
                            (int32_t **)(void *)sums, (int32_t *)so);
                break;
            }
        }
    }
    cv_free(sums[0]);
    cv_free(sums[1]);
    return CV_OK;
}

/* ---- carried float32 (tinybrain's numpy path) -----------------------------------------------
 * 8/16-bit averages with factors other than 2x2x1/2x2x2 go through numpy in tinybrain: the
 * image is made float32 once and each level is averaged from the previous level's float32
 * values; only the output of each level is truncated to the dtype. */
static bool carries_float(cv_dtype t, cv_downsample_method m, const int64_t f[3])
{
    bool small = t == CV_UINT8 || t == CV_INT8 || t == CV_UINT16 || t == CV_INT16;
    bool f22 = f[0] == 2 && f[1] == 2 && (f[2] == 1 || f[2] == 2);
    return m == CV_DS_AVERAGE && small && !f22;
}

static void float_to_dtype(cv_dtype t, const float *src, int64_t n, void *dst)
{
    for (int64_t i = 0; i < n; i++) {
        switch (t) {
        case CV_UINT8:
            ((uint8_t *)dst)[i] = CONV_U8(src[i]);
            break;
        case CV_INT8:
            ((int8_t *)dst)[i] = CONV_I8(src[i]);
            break;
        case CV_UINT16:
            ((uint16_t *)dst)[i] = CONV_U16(src[i]);
            break;
        default:
            ((int16_t *)dst)[i] = CONV_I16(src[i]);
            break;
        }
    }
}

static cv_status float_levels(cv_dtype t, int64_t channels, const void *state,
                              const int64_t shape[3], const int64_t f[3], bool sparse,
                              int first_level, int n_levels, void *const dst[],
                              int64_t (*dst_shapes)[3], void *state_out)
{
    const int64_t in_n = shape[0] * shape[1] * shape[2] * channels;
    int64_t s1[3];
    cv_downsample_shape(shape, f, s1);
    const size_t n1 = (size_t)(s1[0] * s1[1] * s1[2] * channels);
    float *conv = first_level == 0 ? cv_malloc((size_t)in_n * sizeof(float)) : NULL;
    float *buf[2] = {cv_malloc(n1 * sizeof(float)), cv_malloc(n1 * sizeof(float))};
    cv_status rc = CV_OK;
    if ((first_level == 0 && !conv) || !buf[0] || !buf[1]) {
        rc = CV_FAIL(CV_ERR_NOMEM, "downsample: float32 levels of %zu voxels", n1);
    }
    if (rc == CV_OK && conv) {
        for (int64_t i = 0; i < in_n; i++) {
            switch (t) {
            case CV_UINT8:
                conv[i] = (float)((const uint8_t *)state)[i];
                break;
            case CV_INT8:
                conv[i] = (float)((const int8_t *)state)[i];
                break;
            case CV_UINT16:
                conv[i] = (float)((const uint16_t *)state)[i];
                break;
            default:
                conv[i] = (float)((const int16_t *)state)[i];
                break;
            }
        }
    }
    const float *in = conv ? conv : (const float *)state;
    const int64_t *in_shape = shape;
    for (int k = 0; k < n_levels && rc == CV_OK; k++) {
        float *out = buf[k & 1];
        rc = cv_downsample(CV_FLOAT32, channels, in, in_shape, f, CV_DS_AVERAGE, sparse, out,
                           dst_shapes[k]);
        const int64_t *o = dst_shapes[k];
        float_to_dtype(t, out, o[0] * o[1] * o[2] * channels, dst[k]);
        in = out;
        in_shape = dst_shapes[k];
    }
    if (rc == CV_OK && state_out) {
        const int64_t *o = dst_shapes[n_levels - 1];
        memcpy(state_out, in, (size_t)(o[0] * o[1] * o[2] * channels) * sizeof(float));
    }
    cv_free(conv);
    cv_free(buf[0]);
    cv_free(buf[1]);
    return rc;
}

size_t cv_downsample_state_size(cv_dtype t, cv_downsample_method method, bool sparse,
                                const int64_t factor[3], int level)
{
    bool carried = carries_sums(t, method, sparse, factor) || carries_float(t, method, factor);
    return level > 0 && carried ? sizeof(uint32_t) : cv_dtype_size(t);
}

cv_status cv_downsample_levels(cv_dtype t, int64_t channels, const void *state,
                               const int64_t shape[3], const int64_t factor[3],
                               cv_downsample_method method, bool sparse, int first_level,
                               int n_levels, void *const dst[], int64_t (*dst_shapes)[3],
                               void *state_out)
{
    if (n_levels < 1 || n_levels > 32 || first_level < 0) {
        return CV_FAIL(CV_ERR_ARG, "downsample: want 1 to 32 levels, not %d", n_levels);
    }
    if (carries_sums(t, method, sparse, factor) &&
        !(first_level == 0 && n_levels == 1 && !state_out)) {
        if (channels < 1 || shape[0] < 1 || shape[1] < 1 || shape[2] < 1) {
            return CV_FAIL(CV_ERR_ARG, "downsample: bad shape or channel count");
        }
        return carried_levels(t, channels, state, shape, factor, first_level, n_levels, dst,
                              dst_shapes, state_out);
    }
    if (carries_float(t, method, factor) && !(first_level == 0 && n_levels == 1 && !state_out)) {
        if (channels < 1 || shape[0] < 1 || shape[1] < 1 || shape[2] < 1) {
            return CV_FAIL(CV_ERR_ARG, "downsample: bad shape or channel count");
        }
        return float_levels(t, channels, state, shape, factor, sparse, first_level, n_levels, dst,
                            dst_shapes, state_out);
    }
    const void *in = state;
    const int64_t *in_shape = shape;
    for (int k = 0; k < n_levels; k++) {
        CV_TRY(cv_downsample(t, channels, in, in_shape, factor, method, sparse, dst[k],
                             dst_shapes[k]));
        in = dst[k];
        in_shape = dst_shapes[k];
    }
    if (state_out) {
        const int64_t *s = dst_shapes[n_levels - 1];
        memcpy(state_out, dst[n_levels - 1],
               (size_t)(s[0] * s[1] * s[2] * channels) * cv_dtype_size(t));
    }
    return CV_OK;
}
