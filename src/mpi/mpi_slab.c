/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_slab.c: the slab exchange of `cvmpi import`. Every rank holds one piece of the round's
 * group box in the source's axis order; it cuts the piece along the task boxes, transposes each
 * part to x fastest while packing it for the owner, and one MPI_Alltoallv delivers the parts.
 * Sender and receiver compute the same intersections in the same order (tasks ascending within
 * each destination), so no sizes or boxes travel. No HDF5 here. */
#include "mpi/cv_slab.h"

#include "mpi/cv_collective.h"

#include <limits.h>
#include <mpi.h>
#include <string.h>

void cv__slab_strides(const cv_slab_layout *l, const int64_t n[4], int64_t st[4])
{
    int64_t s = 1;
    memset(st, 0, 4 * sizeof st[0]);
    for (int i = l->ndims - 1; i >= 0; i--) {
        st[l->ax[i]] = s;
        s *= n[l->ax[i]];
    }
}

void cv__slab_xfast_strides(const int64_t n[4], int64_t st[4])
{
    st[0] = 1;
    st[1] = n[0];
    st[2] = n[0] * n[1];
    st[3] = n[0] * n[1] * n[2];
}

bool cv__slab_is_xfast(const cv_slab_layout *l)
{
    int64_t n[4] = {2, 3, 5, l->channels}, a[4], b[4];
    cv__slab_strides(l, n, a);
    cv__slab_xfast_strides(n, b);
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && (l->channels == 1 || a[3] == b[3]);
}

void cv__slab_permute(const uint8_t *src, const int64_t ss[4], uint8_t *dst, const int64_t ds[4],
                      const int64_t n[4], size_t es)
{
    size_t sx = (size_t)ss[0] * es, dx = (size_t)ds[0] * es;
    for (int64_t c = 0; c < n[3]; c++) {
        for (int64_t z = 0; z < n[2]; z++) {
            for (int64_t y = 0; y < n[1]; y++) {
                const uint8_t *s = src + (size_t)(c * ss[3] + z * ss[2] + y * ss[1]) * es;
                uint8_t *d = dst + (size_t)(c * ds[3] + z * ds[2] + y * ds[1]) * es;
                if (sx == es && dx == es) {
                    memcpy(d, s, (size_t)n[0] * es);
                    continue;
                }
                /* Fixed-size copies let the compiler emit plain loads and stores. */
                switch (es) {
                case 1:
                    for (int64_t x = 0; x < n[0]; x++, s += sx, d += dx) {
                        *d = *s;
                    }
                    break;
                case 2:
                    for (int64_t x = 0; x < n[0]; x++, s += sx, d += dx) {
                        memcpy(d, s, 2);
                    }
                    break;
                case 4:
                    for (int64_t x = 0; x < n[0]; x++, s += sx, d += dx) {
                        memcpy(d, s, 4);
                    }
                    break;
                case 8:
                    for (int64_t x = 0; x < n[0]; x++, s += sx, d += dx) {
                        memcpy(d, s, 8);
                    }
                    break;
                default:
                    for (int64_t x = 0; x < n[0]; x++, s += sx, d += dx) {
                        memcpy(d, s, es);
                    }
                    break;
                }
            }
        }
    }
}

cv_bbox cv__slab_piece(cv_bbox group, int axis, int r, int size)
{
    int64_t extent = group.max[axis] - group.min[axis];
    if (extent < 0) {
        extent = 0;
    }
    int64_t base = extent / size, extra = extent % size;
    int64_t start = group.min[axis] + r * base + (r < extra ? r : extra);
    cv_bbox b = group;
    b.min[axis] = start;
    b.max[axis] = start + base + (r < extra ? 1 : 0);
    return b;
}

/* floor(a / b) for b > 0 */
static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

cv_bbox cv__slab_round_piece(const cv_slab_round *rd, int r, int size)
{
    int a = rd->axis;
    int64_t c = rd->align_step, o = rd->align_origin;
    int64_t lo = rd->group.min[a], hi = rd->group.max[a];
    if (c <= 1 || hi <= lo) {
        return cv__slab_piece(rd->group, a, r, size);
    }
    int64_t first = floor_div(lo - o, c), cells = floor_div(hi - 1 - o, c) - first + 1;
    if (cells < size) {
        return cv__slab_piece(rd->group, a, r, size);
    }
    int64_t base = cells / size, extra = cells % size;
    int64_t c0 = first + r * base + (r < extra ? r : extra);
    int64_t c1 = c0 + base + (r < extra ? 1 : 0);
    cv_bbox b = rd->group;
    b.min[a] = o + c0 * c > lo ? o + c0 * c : lo;
    b.max[a] = o + c1 * c < hi ? o + c1 * c : hi;
    return b;
}

static void extents(cv_bbox b, int64_t channels, int64_t n[4])
{
    for (int d = 0; d < 3; d++) {
        n[d] = b.max[d] - b.min[d];
    }
    n[3] = channels;
}

/* Bytes of box `b` with all channels; 0 when empty. */
static uint64_t box_bytes(const cv_slab_layout *l, cv_bbox b)
{
    return cv_bbox_voxels(b) * (uint64_t)l->channels * l->elem_size;
}

/* Per-peer byte counts and displacements, checked against MPI's int counts. */
static cv_status counts_for(const cv_slab_layout *l, const cv_slab_round *rd, int rank, int size,
                            bool is_send, int *counts, int *displs, size_t *total)
{
    uint64_t sum = 0;
    cv_bbox mine = cv__slab_round_piece(rd, rank, size);
    for (int peer = 0; peer < size; peer++) {
        uint64_t bytes = 0;
        cv_bbox piece = is_send ? mine : cv__slab_round_piece(rd, peer, size);
        for (size_t i = 0; peer != rank && i < rd->n; i++) {
            if (rd->owner[i] == (is_send ? peer : rank)) {
                bytes += box_bytes(l, cv_bbox_intersect(piece, rd->boxes[i]));
            }
        }
        if (bytes > INT_MAX || sum > INT_MAX) {
            return CV_FAIL(CV_ERR_ARG,
                           "import: %llu bytes to exchange with one rank in one round; over "
                           "MPI's limit of %d (use a smaller --memory)",
                           (unsigned long long)(bytes > INT_MAX ? bytes : sum), INT_MAX);
        }
        counts[peer] = (int)bytes;
        displs[peer] = (int)sum;
        sum += bytes;
    }
    if (sum > INT_MAX) {
        return CV_FAIL(CV_ERR_ARG,
                       "import: %llu bytes to exchange in one round; over MPI's limit of %d "
                       "(use a smaller --memory)",
                       (unsigned long long)sum, INT_MAX);
    }
    *total = (size_t)sum;
    return CV_OK;
}

/* This rank's piece, cut along the task boxes, each part x fastest, grouped by owner; the
 * parts this rank owns are not packed (copy_own takes them straight from the slab). */
static void pack(const cv_slab_layout *l, const cv_slab_round *rd, cv_bbox piece,
                 const uint8_t *slab, int rank, int size, uint8_t *out)
{
    int64_t pn[4], ss[4];
    extents(piece, l->channels, pn);
    cv__slab_strides(l, pn, ss);
    for (int peer = 0; peer < size; peer++) {
        if (peer == rank) {
            continue;
        }
        for (size_t i = 0; i < rd->n; i++) {
            cv_bbox part = cv_bbox_intersect(piece, rd->boxes[i]);
            if (rd->owner[i] != peer || cv_bbox_is_empty(part)) {
                continue;
            }
            int64_t n[4], ds[4], off = 0;
            extents(part, l->channels, n);
            cv__slab_xfast_strides(n, ds);
            for (int d = 0; d < 3; d++) {
                off += (part.min[d] - piece.min[d]) * ss[d];
            }
            cv__slab_permute(slab + (size_t)off * l->elem_size, ss, out, ds, n, l->elem_size);
            out += box_bytes(l, part);
        }
    }
}

/* The parts of this rank's own piece that it owns: from the slab into the task buffers. */
static void copy_own(const cv_slab_layout *l, const cv_slab_round *rd, cv_bbox piece,
                     const uint8_t *slab, int rank, uint8_t *const *bufs)
{
    int64_t pn[4], ss[4];
    extents(piece, l->channels, pn);
    cv__slab_strides(l, pn, ss);
    for (size_t i = 0; i < rd->n; i++) {
        cv_bbox part = cv_bbox_intersect(piece, rd->boxes[i]);
        if (rd->owner[i] != rank || cv_bbox_is_empty(part) || (rd->in_slab && rd->in_slab[i])) {
            continue;
        }
        int64_t n[4], bn[4], ds[4], soff = 0, doff = 0;
        extents(part, l->channels, n);
        extents(rd->boxes[i], l->channels, bn);
        cv__slab_xfast_strides(bn, ds);
        for (int d = 0; d < 3; d++) {
            soff += (part.min[d] - piece.min[d]) * ss[d];
            doff += (part.min[d] - rd->boxes[i].min[d]) * ds[d];
        }
        cv__slab_permute(slab + (size_t)soff * l->elem_size, ss,
                         bufs[i] + (size_t)doff * l->elem_size, ds, n, l->elem_size);
    }
}

/* Parts from every other peer's piece into the owned task buffers. */
static void unpack(const cv_slab_layout *l, const cv_slab_round *rd, int rank, int size,
                   const uint8_t *in, uint8_t *const *bufs)
{
    for (int peer = 0; peer < size; peer++) {
        if (peer == rank) {
            continue;
        }
        cv_bbox piece = cv__slab_round_piece(rd, peer, size);
        for (size_t i = 0; i < rd->n; i++) {
            cv_bbox part = cv_bbox_intersect(piece, rd->boxes[i]);
            if (rd->owner[i] != rank || cv_bbox_is_empty(part)) {
                continue;
            }
            int64_t n[4], ss[4], bn[4], ds[4], off = 0;
            extents(part, l->channels, n);
            cv__slab_xfast_strides(n, ss);
            extents(rd->boxes[i], l->channels, bn);
            cv__slab_xfast_strides(bn, ds);
            for (int d = 0; d < 3; d++) {
                off += (part.min[d] - rd->boxes[i].min[d]) * ds[d];
            }
            cv__slab_permute(in, ss, bufs[i] + (size_t)off * l->elem_size, ds, n, l->elem_size);
            in += box_bytes(l, part);
        }
    }
}

bool cv__slab_reserve(uint8_t **p, size_t *cap, size_t n)
{
    if (n <= *cap && *p) {
        return true;
    }
    uint8_t *q = cv_malloc(n ? n : 1);
    if (!q) {
        return false;
    }
    cv_free(*p);
    *p = q;
    *cap = n;
    return true;
}

void cv__slab_scratch_fini(cv_slab_scratch *s)
{
    cv_free(s->slab);
    cv_free(s->send);
    cv_free(s->recv);
    cv_free(s->tasks);
    memset(s, 0, sizeof *s);
}

cv_status cv__slab_exchange(const cv_slab_layout *l, const cv_slab_round *round,
                            cv_slab_scratch *sc, uint8_t **bufs)
{
    int rank = cv_mpi_rank(), size = cv_mpi_active() ? cv_mpi_size() : 1;
    int *counts = cv_malloc(4 * (size_t)size * sizeof *counts);
    size_t n_send = 0, n_recv = 0, n_own = 0;
    cv_status rc = counts ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "import: exchange counts");
    int *scounts = counts, *sdispls = counts + size, *rcounts = counts + 2 * size,
        *rdispls = counts + 3 * size;
    for (size_t i = 0; i < round->n; i++) {
        bufs[i] = NULL;
        if (round->owner[i] == rank && !(round->in_slab && round->in_slab[i])) {
            n_own += (size_t)box_bytes(l, round->boxes[i]);
        }
    }
    if (rc == CV_OK) {
        rc = counts_for(l, round, rank, size, true, scounts, sdispls, &n_send);
    }
    if (rc == CV_OK) {
        rc = counts_for(l, round, rank, size, false, rcounts, rdispls, &n_recv);
    }
    /* Buffers are kept from round to round: fresh pages would cost a fault each. */
    if (rc == CV_OK && (!cv__slab_reserve(&sc->send, &sc->send_cap, n_send) ||
                        !cv__slab_reserve(&sc->recv, &sc->recv_cap, n_recv) ||
                        !cv__slab_reserve(&sc->tasks, &sc->tasks_cap, n_own))) {
        rc =
            CV_FAIL(CV_ERR_NOMEM, "import: exchange buffers of %zu bytes", n_send + n_recv + n_own);
    }
    cv_bbox mine = cv__slab_round_piece(round, rank, size);
    if (rc == CV_OK && n_send) {
        pack(l, round, mine, sc->slab, rank, size, sc->send);
    }
    /* Every rank must reach the Alltoallv, or none. */
    rc = cv_mpi_active() ? cv_mpi_agree(rc) : rc;
    if (rc == CV_OK && cv_mpi_active()) {
        cv_coll_alltoallv(sc->send, scounts, sdispls, MPI_BYTE, sc->recv, rcounts, rdispls,
                          MPI_BYTE, "the exchange of slab pieces");
    }
    if (rc == CV_OK) {
        size_t at = 0;
        for (size_t i = 0; i < round->n; i++) {
            if (round->owner[i] == rank && !(round->in_slab && round->in_slab[i])) {
                bufs[i] = sc->tasks + at;
                at += (size_t)box_bytes(l, round->boxes[i]);
            }
        }
        if (!cv_bbox_is_empty(mine)) {
            copy_own(l, round, mine, sc->slab, rank, bufs);
        }
        unpack(l, round, rank, size, sc->recv, bufs);
    }
    cv_free(counts);
    return rc;
}
