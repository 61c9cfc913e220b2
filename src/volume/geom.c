/* SPDX-License-Identifier: BSD-3-Clause
 * geom.c: bounding boxes, the chunk grid of a scale and chunk file names
 * (precomputed-volume spec §3: grid starts at voxel_offset, upper faces clipped,
 * names "x0-x1_y0-y1_z0-z1" with signed decimal integers). */
#include "base/checked.h"
#include "base/cv_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cv_bbox cv_bbox_make(int64_t x0, int64_t y0, int64_t z0, int64_t x1, int64_t y1, int64_t z1)
{
    cv_bbox b = {{x0, y0, z0}, {x1, y1, z1}};
    return b;
}

bool cv_bbox_is_empty(cv_bbox b)
{
    return b.max[0] <= b.min[0] || b.max[1] <= b.min[1] || b.max[2] <= b.min[2];
}

bool cv__bbox_voxels_checked(cv_bbox b, uint64_t *out)
{
    if (cv_bbox_is_empty(b)) {
        *out = 0;
        return true;
    }
    /* Subtract as uint64: max - min of a box parsed from text can exceed INT64_MAX. */
    return cv__mul4_u64((uint64_t)b.max[0] - (uint64_t)b.min[0],
                        (uint64_t)b.max[1] - (uint64_t)b.min[1],
                        (uint64_t)b.max[2] - (uint64_t)b.min[2], 1, out);
}

uint64_t cv_bbox_voxels(cv_bbox b)
{
    uint64_t n;
    cv__bbox_voxels_checked(b, &n); /* saturates at UINT64_MAX */
    return n;
}

cv_bbox cv_bbox_intersect(cv_bbox a, cv_bbox b)
{
    cv_bbox r;
    for (int d = 0; d < 3; d++) {
        r.min[d] = a.min[d] > b.min[d] ? a.min[d] : b.min[d];
        r.max[d] = a.max[d] < b.max[d] ? a.max[d] : b.max[d];
        if (r.max[d] < r.min[d]) {
            r.max[d] = r.min[d];
        }
    }
    return r;
}

bool cv_bbox_contains(cv_bbox outer, cv_bbox inner)
{
    for (int d = 0; d < 3; d++) {
        if (inner.min[d] < outer.min[d] || inner.max[d] > outer.max[d]) {
            return false;
        }
    }
    return true;
}

bool cv_bbox_equal(cv_bbox a, cv_bbox b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Parse one signed decimal integer ending at a char in `stops`; advances *p. */
static bool parse_i64(const char **p, const char *stops, int64_t *out)
{
    const char *s = *p;
    if (!(*s == '-' || (*s >= '0' && *s <= '9'))) {
        return false;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    bool stop_ok = *stops ? (*end != '\0' && strchr(stops, *end) != NULL) : *end == '\0';
    if (errno || end == s || !stop_ok) {
        return false;
    }
    *out = (int64_t)v;
    *p = end;
    return true;
}

cv_status cv_bbox_parse(const char *text, cv_bbox *out)
{
    int64_t v[6];
    const char *p = text;
    for (int i = 0; i < 6; i++) {
        if (!parse_i64(&p, i < 5 ? "," : "", &v[i])) {
            return CV_FAIL(CV_ERR_ARG, "bad box `%s': want x0,y0,z0,x1,y1,z1 (integers)", text);
        }
        if (i < 5) {
            p++;
        }
    }
    *out = cv_bbox_make(v[0], v[1], v[2], v[3], v[4], v[5]);
    return CV_OK;
}

int cv_bbox_format(cv_bbox b, char *buf, size_t cap)
{
    return snprintf(buf, cap,
                    "%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64,
                    b.min[0], b.min[1], b.min[2], b.max[0], b.max[1], b.max[2]);
}

/* Floor division for possibly negative numerators; d > 0. */
static int64_t floordiv(int64_t a, int64_t d)
{
    int64_t q = a / d;
    return (a % d != 0 && a < 0) ? q - 1 : q;
}

void cv_grid_shape(const cv_grid *g, int64_t shape[3])
{
    for (int d = 0; d < 3; d++) {
        int64_t size = g->bounds.max[d] - g->bounds.min[d];
        shape[d] = size <= 0 ? 0 : (size + g->chunk[d] - 1) / g->chunk[d];
    }
}

cv_bbox cv_grid_cell_box(const cv_grid *g, const int64_t cell[3])
{
    cv_bbox b;
    for (int d = 0; d < 3; d++) {
        b.min[d] = g->bounds.min[d] + cell[d] * g->chunk[d];
        b.max[d] = b.min[d] + g->chunk[d];
        if (b.max[d] > g->bounds.max[d]) {
            b.max[d] = g->bounds.max[d];
        }
    }
    return b;
}

void cv_grid_cells(const cv_grid *g, cv_bbox box, int64_t cmin[3], int64_t cmax[3])
{
    cv_bbox in = cv_bbox_intersect(box, g->bounds);
    bool empty = cv_bbox_is_empty(in);
    for (int d = 0; d < 3; d++) {
        if (empty) {
            cmin[d] = cmax[d] = 0;
            continue;
        }
        cmin[d] = floordiv(in.min[d] - g->bounds.min[d], g->chunk[d]);
        cmax[d] = floordiv(in.max[d] - g->bounds.min[d] + g->chunk[d] - 1, g->chunk[d]);
    }
}

cv_bbox cv_grid_expand(const cv_grid *g, cv_bbox box)
{
    cv_bbox r;
    for (int d = 0; d < 3; d++) {
        int64_t o = g->bounds.min[d], c = g->chunk[d];
        r.min[d] = o + floordiv(box.min[d] - o, c) * c;
        r.max[d] = o + floordiv(box.max[d] - o + c - 1, c) * c;
    }
    return cv_bbox_intersect(r, g->bounds);
}

cv_bbox cv_grid_shrink(const cv_grid *g, cv_bbox box)
{
    cv_bbox r;
    for (int d = 0; d < 3; d++) {
        int64_t o = g->bounds.min[d], c = g->chunk[d];
        r.min[d] = o + floordiv(box.min[d] - o + c - 1, c) * c;
        r.max[d] =
            box.max[d] >= g->bounds.max[d] ? g->bounds.max[d] : o + floordiv(box.max[d] - o, c) * c;
        if (r.max[d] < r.min[d]) {
            r.max[d] = r.min[d];
        }
    }
    return r;
}

bool cv_grid_is_aligned(const cv_grid *g, cv_bbox box)
{
    return cv_bbox_equal(cv_grid_expand(g, box), box);
}

int cv_chunk_name_format(cv_bbox b, char *buf, size_t cap)
{
    return snprintf(buf, cap,
                    "%" PRId64 "-%" PRId64 "_%" PRId64 "-%" PRId64 "_%" PRId64 "-%" PRId64,
                    b.min[0], b.max[0], b.min[1], b.max[1], b.min[2], b.max[2]);
}

static const char *const compression_suffixes[] = {".gz", ".br", ".zstd", ".xz", ".bz2"};

cv_status cv_chunk_name_parse(const char *name, cv_bbox *out)
{
    char tmp[160];
    size_t n = strlen(name);
    if (n >= sizeof tmp) {
        return CV_FAIL(CV_ERR_ARG, "bad chunk name `%.40s...': too long", name);
    }
    memcpy(tmp, name, n + 1);
    for (size_t i = 0; i < sizeof compression_suffixes / sizeof compression_suffixes[0]; i++) {
        if (cv__str_ends_with(tmp, compression_suffixes[i])) {
            tmp[n - strlen(compression_suffixes[i])] = '\0';
            break;
        }
    }
    /* Each part is "begin-end"; a leading '-' is begin's sign, "--" precedes a negative end. */
    const char *p = tmp;
    cv_bbox b;
    for (int d = 0; d < 3; d++) {
        if (!parse_i64(&p, "-", &b.min[d])) {
            return CV_FAIL(CV_ERR_ARG, "bad chunk name `%s'", name);
        }
        p++;
        if (!parse_i64(&p, d < 2 ? "_" : "", &b.max[d])) {
            return CV_FAIL(CV_ERR_ARG, "bad chunk name `%s'", name);
        }
        if (d < 2) {
            p++;
        }
    }
    *out = b;
    return CV_OK;
}
