/* SPDX-License-Identifier: BSD-3-Clause
 * dtype.c: the element types of Precomputed volumes: names as in the info "data_type",
 * sizes, and conversion of a background value to an element. */
#include "base/cv_internal.h"

#include <math.h>
#include <string.h>

static const struct {
    cv_dtype t;
    const char *name;
    size_t size;
} types[] = {
    {CV_UINT8, "uint8", 1},     {CV_INT8, "int8", 1},     {CV_UINT16, "uint16", 2},
    {CV_INT16, "int16", 2},     {CV_UINT32, "uint32", 4}, {CV_INT32, "int32", 4},
    {CV_UINT64, "uint64", 8},   {CV_INT64, "int64", 8},   {CV_FLOAT32, "float32", 4},
    {CV_FLOAT64, "float64", 8},
};

cv_dtype cv_dtype_from_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(types[i].name, name) == 0) {
            return types[i].t;
        }
    }
    return CV_DTYPE_INVALID;
}

const char *cv_dtype_name(cv_dtype t)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (types[i].t == t) {
            return types[i].name;
        }
    }
    return NULL;
}

size_t cv_dtype_size(cv_dtype t)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (types[i].t == t) {
            return types[i].size;
        }
    }
    return 0;
}

bool cv_dtype_is_neuroglancer(cv_dtype t)
{
    return t != CV_DTYPE_INVALID && t != CV_INT64 && t != CV_FLOAT64;
}

static double clamp(double v, double lo, double hi)
{
    if (isnan(v)) {
        return 0;
    }
    return v < lo ? lo : (v > hi ? hi : v);
}

void cv__dtype_store(cv_dtype t, double v, void *dst)
{
    switch (t) {
    case CV_UINT8: {
        uint8_t x = (uint8_t)clamp(v, 0, UINT8_MAX);
        memcpy(dst, &x, 1);
        break;
    }
    case CV_INT8: {
        int8_t x = (int8_t)clamp(v, INT8_MIN, INT8_MAX);
        memcpy(dst, &x, 1);
        break;
    }
    case CV_UINT16: {
        uint16_t x = (uint16_t)clamp(v, 0, UINT16_MAX);
        memcpy(dst, &x, 2);
        break;
    }
    case CV_INT16: {
        int16_t x = (int16_t)clamp(v, INT16_MIN, INT16_MAX);
        memcpy(dst, &x, 2);
        break;
    }
    case CV_UINT32: {
        uint32_t x = (uint32_t)clamp(v, 0, UINT32_MAX);
        memcpy(dst, &x, 4);
        break;
    }
    case CV_INT32: {
        int32_t x = (int32_t)clamp(v, INT32_MIN, INT32_MAX);
        memcpy(dst, &x, 4);
        break;
    }
    case CV_UINT64: {
        uint64_t x = v >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)clamp(v, 0, 1.8e19);
        memcpy(dst, &x, 8);
        break;
    }
    case CV_INT64: {
        int64_t x = v >= 9223372036854775807.0 ? INT64_MAX : (int64_t)clamp(v, -9.2e18, 9.2e18);
        memcpy(dst, &x, 8);
        break;
    }
    case CV_FLOAT32: {
        float x = (float)v;
        memcpy(dst, &x, 4);
        break;
    }
    case CV_FLOAT64:
        memcpy(dst, &v, 8);
        break;
    case CV_DTYPE_INVALID:
        break;
    }
}
