/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_mesh_forge.c: `cvmpi mesh forge` (cv_mesh_forge.h).
 *
 * Cubes and tiles: marching cubes works on the cubes between voxel centres. A tile [a, b) owns
 * the cubes whose lowest corner c has a <= c < b on every axis (and c = a - 1 on an axis where
 * the tile starts the region: the zero layer that closes the surface there). The cubes with
 * c = b - 1 reach the first voxel plane of the next tile: the halo. So a tile is meshed in two
 * steps: when read, the cubes inside it; once the halo has arrived, three seam slabs (c0 = b0 -
 * 1; c1 = b1 - 1; c2 = b2 - 1, each cube in one slab only) from the tile's last planes (kept,
 * the rest of the tile is dropped) and the halo planes. Beyond the region the halo is zeros.
 *
 * The halo exchange: a tile's first planes are the halo of up to seven tiles below it (the
 * faces, edges and corner it touches). Each rank packs, tile by tile in ascending order, the
 * pieces for tiles of other ranks into one buffer per rank; the receiver enumerates the same
 * pieces in the same order, so no piece carries a header. One point-to-point message per pair
 * of ranks that share a tile face (tiles are dealt in contiguous runs, so mostly neighbours).
 *
 * Every vertex is an integer key shared by all pieces (marching_cubes.h): the fragments of a
 * label meet across tile borders at identical vertices, and the bytes of every fragment depend
 * only on the data and the tiles, never on the number of ranks. */
#include "mpi/cv_mesh_forge.h"

#include "mesh/marching_cubes.h"
#include "mesh/mesh.h"
#include "mpi/cv_collective.h"
#include "mpi/cv_journal.h"
#include "mpi/cv_mesh_route.h"
#include "mpi/cv_plan.h"
#include "mpi/cv_progress.h"
#include "mpi/cv_transfer.h"

#include <inttypes.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HALO_TAG 4711
#define MESSAGE_MAX ((size_t)1 << 30)

/* What one tile keeps between reading and finishing. */
typedef struct tile {
    uint64_t id;
    cv_bbox box;
    int64_t n[3], lo[3];
    uint64_t *shell[3]; /* its last plane along each axis: [b_d - 1] */
    uint64_t *halo[3];  /* the plane just above it along each axis: [b_d], incl. edges */
    cv_mc_soup soup;
} tile;

typedef struct count_map {
    uint64_t *keys, *counts;
    size_t n, n_slots;
} count_map;

typedef struct job {
    const cv_mesh_forge_params *p;
    cv_volume *vol;
    int mip;
    cv_dtype dtype;
    double res[3];
    cv_bbox region;
    int64_t key_origin[3];
    cv_plan plan;
    cv_plan_params plan_params;
    int rank, size;
    uint64_t first, last; /* this rank's tiles [first, last) */
    tile *tiles;
    count_map counts;
    uint64_t *dust; /* sorted labels below --dust */
    size_t n_dust;
    cv_journal *journal;
    char dir[256];
    cv_buf pairs; /* (label, tile id) of every fragment written or found written */
    uint64_t fragments, tiles_done, tiles_skipped, halo_bytes;
    /* --sharded */
    uint64_t n_labels; /* not dust, in the whole region */
    cv_shard_spec spec;
    cv_mesh_route *route;
    cv_meshes *meshes;
    char journal_path[4096];
} job;

/* ---- plan ---------------------------------------------------------------------------------- */

static uint64_t run_start(uint64_t n_tasks, int rank, int size)
{
    return (uint64_t)((unsigned __int128)n_tasks * (unsigned)rank / (unsigned)size);
}

static int owner_of(const job *j, uint64_t id)
{
    int r = (int)((unsigned __int128)id * (unsigned)j->size / j->plan.n_tasks);
    while (r > 0 && run_start(j->plan.n_tasks, r, j->size) > id) {
        r--;
    }
    while (r + 1 < j->size && run_start(j->plan.n_tasks, r + 1, j->size) <= id) {
        r++;
    }
    return r;
}

static void tile_coords(const job *j, uint64_t id, int64_t c[3])
{
    c[0] = (int64_t)(id % (uint64_t)j->plan.counts[0]);
    c[1] = (int64_t)(id / (uint64_t)j->plan.counts[0] % (uint64_t)j->plan.counts[1]);
    c[2] = (int64_t)(id / (uint64_t)j->plan.counts[0] / (uint64_t)j->plan.counts[1]);
}

/* The tile at coordinates c, false outside the plan. */
static bool tile_at(const job *j, const int64_t c[3], uint64_t *id)
{
    for (int d = 0; d < 3; d++) {
        if (c[d] < 0 || c[d] >= j->plan.counts[d]) {
            return false;
        }
    }
    *id = ((uint64_t)c[2] * (uint64_t)j->plan.counts[1] + (uint64_t)c[1]) *
              (uint64_t)j->plan.counts[0] +
          (uint64_t)c[0];
    return true;
}

/* The halo plane of tile box u along axis d: x_d = b_d, the other axes [a, b]. */
static cv_bbox halo_plane(cv_bbox u, int d)
{
    cv_bbox p = u;
    for (int k = 0; k < 3; k++) {
        p.max[k] = u.max[k] + 1;
    }
    p.min[d] = u.max[d];
    return p;
}

static double task_bytes(const int64_t shape[3], void *arg)
{
    const job *j = arg;
    double v = (double)shape[0] * (double)shape[1] * (double)shape[2];
    double padded = (double)(shape[0] + 1) * (double)(shape[1] + 1) * (double)(shape[2] + 1);
    double faces = 6.0 * ((double)(shape[0] + 1) * (double)(shape[1] + 1) +
                          (double)(shape[1] + 1) * (double)(shape[2] + 1) +
                          (double)(shape[0] + 1) * (double)(shape[2] + 1));
    /* the stored voxels, their uint64 copy with the zero layer, the planes kept, and each
     * chunk worker's fetched, decoded and unpacked chunk */
    int64_t chunk_voxels =
        j->plan_params.align[0][0] * j->plan_params.align[0][1] * j->plan_params.align[0][2];
    return v * (double)cv_dtype_size(j->dtype) + padded * 8.0 + faces * 8.0 +
           3.0 * (double)j->plan_params.threads * (double)chunk_voxels * 8.0;
}

static cv_status make_plan(job *j)
{
    const cv_mesh_forge_params *p = j->p;
    const cv_info *info = cv_volume_info(j->vol);
    if (!info->type || strcmp(info->type, "segmentation") != 0) {
        return CV_FAIL(CV_ERR_ARG,
                       "mesh forge: %s is an %s layer; meshes are made from segmentation layers "
                       "(\"type\": \"segmentation\" in its info)",
                       p->layer, info->type ? info->type : "untyped");
    }
    j->dtype = info->dtype;
    if (j->dtype != CV_UINT8 && j->dtype != CV_UINT16 && j->dtype != CV_UINT32 &&
        j->dtype != CV_UINT64) {
        return CV_FAIL(CV_ERR_ARG,
                       "mesh forge: %s holds %s voxels; segmentation labels must be uint8, "
                       "uint16, uint32 or uint64",
                       p->layer, cv_dtype_name(j->dtype));
    }
    CV_TRY(cv_info_select_mip(info, p->mip_text ? p->mip_text : "0", &j->mip));
    memcpy(j->res, info->scales[j->mip].resolution, sizeof j->res);
    cv_grid g = cv_info_grid(info, j->mip);
    j->region = g.bounds;
    if (p->bbox_text) {
        cv_bbox want;
        CV_TRY(cv_bbox_parse(p->bbox_text, &want));
        j->region = cv_grid_expand(&g, want);
        if (cv_bbox_is_empty(j->region)) {
            char vol[160];
            cv_bbox_format(g.bounds, vol, sizeof vol);
            return CV_FAIL(CV_ERR_BOUNDS,
                           "mesh forge: --bbox %s lies outside the volume (%s at mip %d)",
                           p->bbox_text, vol, j->mip);
        }
    }
    for (int d = 0; d < 3; d++) {
        if (j->region.max[d] - j->region.min[d] > CV_MC_MAX_EXTENT) {
            return CV_FAIL(CV_ERR_UNSUPPORTED,
                           "mesh forge: the region is %" PRId64 " voxels along %c, more than "
                           "%" PRId64 " (mesh it in parts with --bbox)",
                           j->region.max[d] - j->region.min[d], "xyz"[d], CV_MC_MAX_EXTENT);
        }
        j->key_origin[d] = j->region.min[d] - 1;
    }
    cv_plan_params *pp = &j->plan_params;
    memset(pp, 0, sizeof *pp);
    pp->region = j->region;
    memcpy(pp->origin, g.bounds.min, sizeof pp->origin);
    memcpy(pp->align[0], g.chunk, sizeof pp->align[0]);
    pp->bytes_per_voxel = cv_dtype_size(j->dtype) + 8;
    const char *source = "--memory";
    pp->memory = p->memory ? p->memory : cv_mpi_default_memory(&source);
    pp->overhead = 1.0;
    pp->threads = p->threads > 0 ? p->threads : 4;
    /* Tiles for many ranks whatever the rank count: fragment names (tile boxes) and the
     * journal must not depend on it. */
    pp->min_tasks = 64;
    pp->clip = true;
    pp->task_bytes = task_bytes;
    pp->task_bytes_arg = j;
    CV_TRY(cv_plan_make(pp, &j->plan));
    if (j->rank == 0 && !p->dry_run) {
        CV_LOG(CV_LOG_INFO, "memory budget %.0f MB per rank (from %s)", (double)pp->memory / 1e6,
               source);
    }
    return CV_OK;
}

static void print_plan(const job *j)
{
    char region[160];
    cv_bbox_format(j->region, region, sizeof region);
    int ranks = cv_mpi_plan_ranks();
    uint64_t per_rank = (j->plan.n_tasks + (uint64_t)ranks - 1) / (uint64_t)ranks;
    const int64_t *s = j->plan.task_shape;
    double tile_mb = cv_plan_shape_bytes(&j->plan_params, s) / 1e6;
    double planes_mb =
        6.0 * 8.0 *
        ((double)(s[0] + 1) * (double)(s[1] + 1) + (double)(s[1] + 1) * (double)(s[2] + 1) +
         (double)(s[0] + 1) * (double)(s[2] + 1)) /
        1e6;
    printf("plan: %" PRIu64 " tiles of %" PRId64 "x%" PRId64 "x%" PRId64 " voxels (%" PRId64
           "x%" PRId64 "x%" PRId64 ") over %s at mip %d, resolution %g,%g,%g nm\n",
           j->plan.n_tasks, s[0], s[1], s[2], j->plan.counts[0], j->plan.counts[1],
           j->plan.counts[2], region, j->mip, j->res[0], j->res[1], j->res[2]);
    if (j->p->sharded) {
        const cv_mesh_merge_opts *mm = &j->p->multires;
        printf("plan: fragments: one per label and tile it touches (at most %" PRIu64
               " per label), sent to the rank owning the label's shard, never written\n",
               j->plan.n_tasks);
        printf("plan: shards: CloudVolume's hashed sharding for the labels counted once every "
               "tile is read (at least one shard per %" PRIu64 " labels), shard s built and "
               "written once by rank s mod %d into %s/ (neuroglancer_multilod_draco, up to %d "
               "coarser levels, %d-bit vertices, Draco level %d, octree nodes from %g voxels)\n",
               mm->max_labels_per_shard, ranks, j->dir, mm->nlod, mm->vqb, mm->level,
               mm->min_chunk);
    } else {
        printf("plan: fragments: one \"<id>:0:<tile bbox>\" per label and tile it touches (at "
               "most %" PRIu64 " per label), manifests \"<id>:0\" in %s/\n",
               j->plan.n_tasks, j->dir);
    }
    printf("plan: %d rank%s, up to %" PRIu64 " tiles each; memory per rank: %.1f MB while "
           "reading a tile (budget %.1f MB), plus %.3f MB of kept planes per tile and the "
           "tile's triangles (about 24 bytes each) until its seams are made\n",
           ranks, ranks == 1 ? "" : "s", per_rank, tile_mb, (double)j->plan_params.memory / 1e6,
           planes_mb);
    if (j->p->sharded) {
        printf("plan: memory per rank also holds the fragments of its shards until the last "
               "tile is meshed: at most %.1f MB (--memory; the job stops, naming the rank, if "
               "they need more), then one shard's meshes while it is built\n",
               (double)j->plan_params.memory / 1e6);
    }
    if (j->p->dust) {
        printf("plan: --dust %" PRIu64 ": labels with fewer voxels in the whole region get no "
               "mesh (counts summed over every tile)\n",
               j->p->dust);
    }
}

/* ---- counting voxels ------------------------------------------------------------------------ */

static size_t count_slot(uint64_t key, size_t n_slots)
{
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (n_slots - 1);
}

static cv_status count_add(count_map *m, uint64_t key, uint64_t n)
{
    if (2 * (m->n + 1) > m->n_slots) {
        size_t slots = m->n_slots ? 2 * m->n_slots : 1024;
        uint64_t *keys = cv_calloc(slots, sizeof *keys), *counts = cv_calloc(slots, sizeof *counts);
        if (!keys || !counts) {
            cv_free(keys);
            cv_free(counts);
            return CV_FAIL(CV_ERR_NOMEM, "mesh forge: voxel counts of %zu labels", m->n);
        }
        for (size_t i = 0; i < m->n_slots; i++) {
            if (m->counts[i]) {
                size_t s = count_slot(m->keys[i], slots);
                while (counts[s]) {
                    s = (s + 1) & (slots - 1);
                }
                keys[s] = m->keys[i];
                counts[s] = m->counts[i];
            }
        }
        cv_free(m->keys);
        cv_free(m->counts);
        m->keys = keys;
        m->counts = counts;
        m->n_slots = slots;
    }
    size_t s = count_slot(key, m->n_slots);
    while (m->counts[s] && m->keys[s] != key) {
        s = (s + 1) & (m->n_slots - 1);
    }
    if (!m->counts[s]) {
        m->keys[s] = key;
        m->n++;
    }
    m->counts[s] += n;
    return CV_OK;
}

static cv_status count_labels(count_map *m, const uint64_t *v, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = i + 1;
        while (k < n && v[k] == v[i]) {
            k++;
        }
        if (v[i]) {
            CV_TRY(count_add(m, v[i], k - i));
        }
        i = k;
    }
    return CV_OK;
}

static int by_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int by_pair(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0]) {
        return x[0] < y[0] ? -1 : 1;
    }
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Every rank gets every rank's counts; the labels whose sum is below --dust are dust, the
 * others are counted (j->n_labels). */
static cv_status find_dust(job *j)
{
    cv_buf mine;
    cv__buf_init(&mine, 0);
    cv_status rc = CV_OK;
    for (size_t i = 0; i < j->counts.n_slots && rc == CV_OK; i++) {
        if (j->counts.counts[i]) {
            uint64_t pair[2] = {j->counts.keys[i], j->counts.counts[i]};
            rc = cv__buf_append(&mine, pair, sizeof pair);
        }
    }
    int *lens = cv_calloc((size_t)j->size, sizeof *lens);
    int *displs = cv_calloc((size_t)j->size, sizeof *displs);
    uint64_t *all = NULL;
    size_t total = 0;
    if (rc == CV_OK && (!lens || !displs)) {
        rc = CV_FAIL(CV_ERR_NOMEM, "mesh forge: dust counts");
    }
    int my_len = (int)(mine.len / 8);
    if (rc == CV_OK && mine.len / 8 > INT_MAX) {
        rc = CV_FAIL(CV_ERR_UNSUPPORTED, "mesh forge --dust: too many labels on one rank");
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK && cv_coll_gather(&my_len, 1, MPI_INT, lens, 1, MPI_INT, 0,
                                      "the dust counts' sizes") != MPI_SUCCESS) {
        rc = CV_FAIL(CV_ERR_MPI, "gather of dust counts");
    }
    if (rc == CV_OK &&
        cv_coll_bcast(lens, j->size, MPI_INT, 0, "the dust counts' sizes") != MPI_SUCCESS) {
        rc = CV_FAIL(CV_ERR_MPI, "broadcast of dust counts");
    }
    for (int r = 0; rc == CV_OK && r < j->size; r++) {
        if (total + (size_t)lens[r] > INT_MAX) {
            rc = CV_FAIL(CV_ERR_UNSUPPORTED, "mesh forge --dust: more than 2^30 labels");
            break;
        }
        displs[r] = (int)total;
        total += (size_t)lens[r];
    }
    if (rc == CV_OK) {
        all = cv_malloc(total * 8 + 16);
        rc = all ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh forge: %zu dust counts", total / 2);
    }
    rc = cv_mpi_agree(rc);
    /* gather to rank 0, which finds the dust and broadcasts it */
    if (rc == CV_OK &&
        cv_coll_gatherv(mine.data ? mine.data : (void *)&total, my_len, MPI_UINT64_T, all, lens,
                        displs, MPI_UINT64_T, 0, "the dust counts") != MPI_SUCCESS) {
        rc = CV_FAIL(CV_ERR_MPI, "gather of dust counts");
    }
    cv__buf_fini(&mine);
    uint64_t n_dust = 0, n_labels = 0;
    if (rc == CV_OK && j->rank == 0) {
        size_t n = total / 2;
        qsort(all, n, 16, by_pair);
        for (size_t i = 0; i < n;) {
            uint64_t label = all[2 * i], sum = 0;
            for (; i < n && all[2 * i] == label; i++) {
                sum += all[2 * i + 1];
            }
            if (sum < j->p->dust) {
                all[n_dust++] = label;
            } else {
                n_labels++;
            }
        }
    }
    rc = cv_mpi_agree(rc);
    uint64_t sizes[2] = {n_dust, n_labels};
    if (rc == CV_OK &&
        cv_coll_bcast(sizes, 2, MPI_UINT64_T, 0, "the number of dust labels") != MPI_SUCCESS) {
        rc = CV_FAIL(CV_ERR_MPI, "broadcast of dust labels");
    }
    n_dust = sizes[0];
    j->n_labels = sizes[1];
    if (rc == CV_OK) {
        if (j->rank != 0) {
            cv_free(all);
        }
        j->dust = j->rank == 0 ? all : cv_malloc(n_dust * 8 + 8);
        all = NULL;
        rc = j->dust ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh forge: dust labels");
    }
    rc = cv_mpi_agree(rc);
    for (uint64_t at = 0; rc == CV_OK && at < n_dust; at += INT_MAX / 2) {
        int k = (int)(n_dust - at < INT_MAX / 2 ? n_dust - at : INT_MAX / 2);
        if (cv_coll_bcast(j->dust + at, k, MPI_UINT64_T, 0, "the dust labels") != MPI_SUCCESS) {
            rc = CV_FAIL(CV_ERR_MPI, "broadcast of dust labels");
        }
    }
    j->n_dust = (size_t)n_dust;
    cv_free(all);
    cv_free(lens);
    cv_free(displs);
    return rc;
}

static bool is_dust(const job *j, uint64_t label)
{
    return j->n_dust && bsearch(&label, j->dust, j->n_dust, sizeof *j->dust, by_u64);
}

/* ---- the halo ------------------------------------------------------------------------------ */

/* Copy the voxels of `piece` (inside box `src_box`, x fastest) to or from `dst`. */
static void copy_box(uint64_t *dst, cv_bbox dst_box, const uint64_t *src, cv_bbox src_box,
                     cv_bbox piece)
{
    int64_t ds[3], ss[3];
    for (int d = 0; d < 3; d++) {
        ds[d] = dst_box.max[d] - dst_box.min[d];
        ss[d] = src_box.max[d] - src_box.min[d];
    }
    size_t row = (size_t)(piece.max[0] - piece.min[0]) * sizeof *dst;
    for (int64_t z = piece.min[2]; z < piece.max[2]; z++) {
        for (int64_t y = piece.min[1]; y < piece.max[1]; y++) {
            size_t di = (size_t)((piece.min[0] - dst_box.min[0]) +
                                 ds[0] * ((y - dst_box.min[1]) + ds[1] * (z - dst_box.min[2])));
            size_t si = (size_t)((piece.min[0] - src_box.min[0]) +
                                 ss[0] * ((y - src_box.min[1]) + ss[1] * (z - src_box.min[2])));
            memcpy(dst + di, src + si, row);
        }
    }
}

static tile *own_tile(job *j, uint64_t id)
{
    return id >= j->first && id < j->last ? &j->tiles[id - j->first] : NULL;
}

/* The pieces tile `v` (a box) gives to the halos of the tiles below it, in the one order both
 * sides use: for each of the seven neighbours u = v - e, each axis d, the part of v in u's
 * halo plane d. `fn` is called with u's id, d and the piece; returns false to stop. */
typedef bool (*piece_fn)(job *j, uint64_t u, int d, cv_bbox piece, void *arg);

static bool for_pieces(job *j, uint64_t v, piece_fn fn, void *arg)
{
    int64_t c[3];
    tile_coords(j, v, c);
    cv_bbox vb = cv_plan_task_box(&j->plan, v);
    for (int e = 1; e < 8; e++) {
        int64_t uc[3] = {c[0] - (e & 1), c[1] - (e >> 1 & 1), c[2] - (e >> 2 & 1)};
        uint64_t u;
        if (!tile_at(j, uc, &u)) {
            continue;
        }
        cv_bbox ub = cv_plan_task_box(&j->plan, u);
        for (int d = 0; d < 3; d++) {
            cv_bbox piece = cv_bbox_intersect(halo_plane(ub, d), vb);
            if (!cv_bbox_is_empty(piece) && !fn(j, u, d, piece, arg)) {
                return false;
            }
        }
    }
    return true;
}

static cv_bbox halo_box(const tile *t, int d)
{
    return halo_plane(t->box, d);
}

typedef struct pack_arg {
    const uint64_t *voxels; /* the source tile's, x fastest in `box` */
    cv_bbox box;
    cv_buf *out; /* per rank */
    cv_status rc;
} pack_arg;

static bool pack_piece(job *j, uint64_t u, int d, cv_bbox piece, void *arg)
{
    pack_arg *a = arg;
    int r = owner_of(j, u);
    if (r == j->rank) {
        tile *t = own_tile(j, u);
        copy_box(t->halo[d], halo_box(t, d), a->voxels, a->box, piece);
        return true;
    }
    size_t n = (size_t)cv_bbox_voxels(piece);
    size_t at = a->out[r].len;
    a->rc = cv__buf_reserve(&a->out[r], at + n * 8);
    if (a->rc != CV_OK) {
        return false;
    }
    copy_box((uint64_t *)(a->out[r].data + at), piece, a->voxels, a->box, piece);
    a->out[r].len = at + n * 8;
    j->halo_bytes += n * 8;
    return true;
}

typedef struct unpack_arg {
    const uint8_t *data;
    size_t len, at;
    bool counting;
} unpack_arg;

static bool unpack_piece(job *j, uint64_t u, int d, cv_bbox piece, void *arg)
{
    unpack_arg *a = arg;
    if (owner_of(j, u) != j->rank) {
        return true;
    }
    size_t n = (size_t)cv_bbox_voxels(piece) * 8;
    if (!a->counting) {
        if (a->at + n > a->len) {
            return false;
        }
        tile *t = own_tile(j, u);
        copy_box(t->halo[d], halo_box(t, d), (const uint64_t *)(a->data + a->at), piece, piece);
    }
    a->at += n;
    return true;
}

/* Bytes rank `from` sends this rank, or with data, their unpacking. */
static bool walk_from(job *j, int from, unpack_arg *a)
{
    uint64_t s = run_start(j->plan.n_tasks, from, j->size),
             e = run_start(j->plan.n_tasks, from + 1, j->size);
    for (uint64_t v = s; v < e; v++) {
        if (!for_pieces(j, v, unpack_piece, a)) {
            return false;
        }
    }
    return true;
}

/* One message per pair of ranks (in parts of at most 1 GiB). Collective. */
static cv_status exchange_halos(job *j, cv_buf *out)
{
    if (!cv_mpi_active()) {
        return CV_OK;
    }
    size_t n_req = 0, cap = 0;
    MPI_Request *reqs = NULL;
    int *peers = NULL;
    uint8_t **in = cv_calloc((size_t)j->size, sizeof *in);
    size_t *in_len = cv_calloc((size_t)j->size, sizeof *in_len);
    cv_status rc = in && in_len ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh forge: halo exchange");
    for (int r = 0; rc == CV_OK && r < j->size; r++) {
        if (r == j->rank) {
            continue;
        }
        unpack_arg a = {.counting = true};
        walk_from(j, r, &a);
        in_len[r] = a.at;
        size_t parts = (in_len[r] + MESSAGE_MAX - 1) / MESSAGE_MAX +
                       (out[r].len + MESSAGE_MAX - 1) / MESSAGE_MAX;
        if (n_req + parts > cap) {
            cap = 2 * (n_req + parts) + 8;
            MPI_Request *nr = cv_realloc(reqs, cap * sizeof *nr);
            int *np = nr ? cv_realloc(peers, cap * sizeof *np) : NULL;
            if (nr) {
                reqs = nr;
            }
            if (!nr || !np) {
                rc = CV_FAIL(CV_ERR_NOMEM, "mesh forge: halo requests");
                break;
            }
            peers = np;
        }
        if (in_len[r]) {
            in[r] = cv_malloc(in_len[r]);
            if (!in[r]) {
                rc = CV_FAIL(CV_ERR_NOMEM, "mesh forge: %zu halo bytes from rank %d", in_len[r], r);
                break;
            }
        }
        for (size_t at = 0; at < in_len[r]; at += MESSAGE_MAX) {
            size_t k = in_len[r] - at < MESSAGE_MAX ? in_len[r] - at : MESSAGE_MAX;
            peers[n_req] = r;
            MPI_Irecv(in[r] + at, (int)k, MPI_BYTE, r, HALO_TAG, MPI_COMM_WORLD, &reqs[n_req++]);
        }
        for (size_t at = 0; at < out[r].len; at += MESSAGE_MAX) {
            size_t k = out[r].len - at < MESSAGE_MAX ? out[r].len - at : MESSAGE_MAX;
            peers[n_req] = r;
            MPI_Isend(out[r].data + at, (int)k, MPI_BYTE, r, HALO_TAG, MPI_COMM_WORLD,
                      &reqs[n_req++]);
        }
    }
    /* Post what was posted, whatever failed: the peers' messages must be matched. */
    cv_coll_phase("exchanging tile faces");
    if (n_req && cv_coll_waitall((int)n_req, reqs, peers, "the halo exchange") != MPI_SUCCESS &&
        rc == CV_OK) {
        rc = CV_FAIL(CV_ERR_MPI, "mesh forge: halo exchange");
    }
    for (int r = 0; rc == CV_OK && r < j->size; r++) {
        if (r != j->rank && in_len[r]) {
            unpack_arg a = {.data = in[r], .len = in_len[r]};
            if (!walk_from(j, r, &a) || a.at != in_len[r]) {
                rc = CV_FAIL(CV_ERR_MPI, "mesh forge: halo from rank %d has the wrong size", r);
            }
        }
    }
    for (int r = 0; in && r < j->size; r++) {
        cv_free(in[r]);
    }
    cv_free(in);
    cv_free(in_len);
    cv_free(reqs);
    cv_free(peers);
    return rc;
}

/* ---- tiles --------------------------------------------------------------------------------- */

static void tile_free(tile *t)
{
    for (int d = 0; d < 3; d++) {
        cv_free(t->shell[d]);
        cv_free(t->halo[d]);
        t->shell[d] = t->halo[d] = NULL;
    }
    cv_mc_soup_fini(&t->soup);
}

static cv_status tile_init(job *j, tile *t, uint64_t id)
{
    t->id = id;
    t->box = cv_plan_task_box(&j->plan, id);
    cv_mc_soup_init(&t->soup);
    for (int d = 0; d < 3; d++) {
        t->n[d] = t->box.max[d] - t->box.min[d];
        t->lo[d] = t->box.min[d] == j->region.min[d];
    }
    for (int d = 0; d < 3; d++) {
        int u = d == 0 ? 1 : 0, v = d == 2 ? 1 : 2;
        t->shell[d] = cv_calloc((size_t)t->n[u] * (size_t)t->n[v], 8);
        t->halo[d] = cv_calloc((size_t)(t->n[u] + 1) * (size_t)(t->n[v] + 1), 8);
        if (!t->shell[d] || !t->halo[d]) {
            return CV_FAIL(CV_ERR_NOMEM, "mesh forge: planes of tile %" PRIu64, id);
        }
    }
    return CV_OK;
}

static uint64_t to_label(const uint8_t *raw, cv_dtype t, size_t i)
{
    switch (t) {
    case CV_UINT8:
        return raw[i];
    case CV_UINT16: {
        uint16_t v;
        memcpy(&v, raw + 2 * i, 2);
        return v;
    }
    case CV_UINT32: {
        uint32_t v;
        memcpy(&v, raw + 4 * i, 4);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, raw + 8 * i, 8);
        return v;
    }
    }
}

/* Read the tile, mesh its inside cubes, keep its last planes, hand out its first planes. */
static cv_status tile_read(job *j, tile *t, uint8_t *raw, size_t raw_cap, uint64_t *lab,
                           cv_buf *out)
{
    size_t n = cv_volume_box_bytes(j->vol, t->box);
    if (n > raw_cap) {
        return CV_FAIL(CV_ERR_ARG, "mesh forge: tile %" PRIu64 " needs %zu bytes", t->id, n);
    }
    CV_TRY(cv_volume_read(j->vol, j->mip, t->box, raw, n));
    size_t nv = (size_t)cv_bbox_voxels(t->box);
    /* The voxels as labels, then framed with a zero layer below on axes starting the region. */
    uint64_t *plain = lab;
    for (size_t i = 0; i < nv; i++) {
        plain[i] = to_label(raw, j->dtype, i);
    }
    CV_TRY(count_labels(&j->counts, plain, nv));
    for (int d = 0; d < 3; d++) {
        cv_bbox s = t->box;
        s.min[d] = s.max[d] - 1;
        copy_box(t->shell[d], s, plain, t->box, s);
    }
    pack_arg pa = {.voxels = plain, .box = t->box, .out = out};
    for_pieces(j, t->id, pack_piece, &pa);
    CV_TRY(pa.rc);
    /* Inside cubes: voxels [a - lo, b - 1]; the zero layer needs a framed copy. */
    cv_bbox inner = t->box;
    for (int d = 0; d < 3; d++) {
        inner.min[d] -= t->lo[d];
    }
    int64_t dims[3], origin[3];
    for (int d = 0; d < 3; d++) {
        dims[d] = inner.max[d] - inner.min[d];
        origin[d] = inner.min[d] - j->key_origin[d];
    }
    if (t->lo[0] || t->lo[1] || t->lo[2]) {
        uint64_t *framed = lab + nv;
        memset(framed, 0, (size_t)cv_bbox_voxels(inner) * 8);
        copy_box(framed, inner, plain, t->box, t->box);
    }
    CV_TRY(cv_mc_run(t->lo[0] || t->lo[1] || t->lo[2] ? lab + nv : plain, dims, origin, &t->soup));
    cv_mc_soup_trim(&t->soup); /* the triangles wait for the seams */
    return CV_OK;
}

/* The label at voxel v for the seams of tile t. */
static uint64_t seam_voxel(const job *j, const tile *t, const int64_t v[3])
{
    for (int d = 0; d < 3; d++) {
        if (v[d] < j->region.min[d] || v[d] >= j->region.max[d]) {
            return 0;
        }
    }
    for (int d = 0; d < 3; d++) {
        if (v[d] == t->box.max[d]) {
            int u = d == 0 ? 1 : 0, w = d == 2 ? 1 : 2; /* the plane's axes, x fastest */
            return t->halo[d][(size_t)(v[u] - t->box.min[u]) +
                              (size_t)(t->n[u] + 1) * (size_t)(v[w] - t->box.min[w])];
        }
    }
    for (int d = 0; d < 3; d++) {
        if (v[d] == t->box.max[d] - 1) {
            int u = d == 0 ? 1 : 0, w = d == 2 ? 1 : 2; /* the plane's axes, x fastest */
            return t->shell[d][(size_t)(v[u] - t->box.min[u]) +
                               (size_t)t->n[u] * (size_t)(v[w] - t->box.min[w])];
        }
    }
    return 0; /* not reached: seams hold only the last planes and the halo */
}

/* The cubes across the tile's upper faces: slab d has c_d = b_d - 1, the axes before it
 * c < b - 1 (their slabs took the rest), the axes after it all of the tile's cubes. */
static cv_status tile_seams(job *j, tile *t, uint64_t *scratch)
{
    for (int d = 0; d < 3; d++) {
        cv_bbox s;
        for (int k = 0; k < 3; k++) {
            s.min[k] = t->box.min[k] - t->lo[k];
            s.max[k] = k < d ? t->box.max[k] : t->box.max[k] + 1;
        }
        s.min[d] = t->box.max[d] - 1;
        int64_t dims[3], origin[3];
        for (int k = 0; k < 3; k++) {
            dims[k] = s.max[k] - s.min[k];
            origin[k] = s.min[k] - j->key_origin[k];
        }
        size_t i = 0;
        for (int64_t z = s.min[2]; z < s.max[2]; z++) {
            for (int64_t y = s.min[1]; y < s.max[1]; y++) {
                for (int64_t x = s.min[0]; x < s.max[0]; x++) {
                    scratch[i++] = seam_voxel(j, t, (int64_t[3]){x, y, z});
                }
            }
        }
        CV_TRY(cv_mc_run(scratch, dims, origin, &t->soup));
    }
    return CV_OK;
}

static int by_label(const void *a, const void *b)
{
    uint64_t x = ((const cv_mc_label *)a)->label, y = ((const cv_mc_label *)b)->label;
    return x < y ? -1 : x > y;
}

/* Simplify a fragment within --simplify nm, keeping the vertices on the planes it shares with
 * the neighbouring tiles (through the voxel centres a and b: (a + 0.5) x resolution), and
 * their neighbours, where they are, so fragments still meet exactly. */
static cv_status simplify(const job *j, const tile *t, cv_mesh **m)
{
    float lo[3], hi[3];
    for (int d = 0; d < 3; d++) {
        /* the same arithmetic as cv_mc_label_mesh's, so the floats compare equal */
        double a = (double)(2 * (t->box.min[d] - j->key_origin[d])) * 0.5;
        double b = (double)(2 * (t->box.max[d] - j->key_origin[d])) * 0.5;
        lo[d] = (float)((a + (double)j->key_origin[d] + 0.5) * j->res[d]);
        hi[d] = (float)((b + (double)j->key_origin[d] + 0.5) * j->res[d]);
    }
    size_t nv = (size_t)(*m)->n_vertices;
    uint8_t *locked = cv_calloc(2 * nv + 1, 1), *on_plane = locked + nv;
    if (!locked) {
        return CV_FAIL(CV_ERR_NOMEM, "mesh forge: simplify label %" PRIu64, (*m)->id);
    }
    cv__mesh_lock_box(*m, lo, hi, on_plane);
    /* Their neighbours too: a free vertex next to two border vertices could otherwise fold
     * into one of them and join the two by a new edge along the border plane, which the
     * neighbouring tile may make as well (four triangles on one edge once merged). */
    for (uint32_t f = 0; f < (*m)->n_faces; f++) {
        const uint32_t *tri = (*m)->faces + 3 * (size_t)f;
        if (on_plane[tri[0]] || on_plane[tri[1]] || on_plane[tri[2]]) {
            locked[tri[0]] = locked[tri[1]] = locked[tri[2]] = 1;
        }
    }
    cv_simplify_opts o = {.max_error = j->p->simplify_nm, .locked = locked, .lock_boundary = true};
    cv_mesh *out;
    cv_status rc = cv__mesh_simplify(*m, &o, &out, NULL);
    cv_free(locked);
    if (rc == CV_OK) {
        out->id = (*m)->id;
        cv_mesh_free(*m);
        *m = out;
    }
    return rc;
}

/* Write the tile's fragments (unless a resumed job wrote them) and note them for manifests;
 * with --sharded, queue them for their shard's owner instead. */
static cv_status tile_write(job *j, tile *t, bool written_before)
{
    cv_store *store = cv_volume_store(j->vol);
    char bbox[160];
    cv_chunk_name_format(t->box, bbox, sizeof bbox);
    cv_mc_label *labels = t->soup.labels;
    /* ascending ids, so the writes (and a listing of them) follow one order */
    if (t->soup.n > 1) {
        qsort(labels, t->soup.n, sizeof *labels, by_label);
    }
    for (size_t i = 0; i < t->soup.n; i++) {
        const cv_mc_label *l = &labels[i];
        if (l->n_tris == 0 || is_dust(j, l->label)) {
            continue;
        }
        if (!j->route) {
            uint64_t pair[2] = {l->label, t->id};
            CV_TRY(cv__buf_append(&j->pairs, pair, sizeof pair));
        }
        j->fragments++;
        if (written_before) {
            continue;
        }
        cv_mesh *m;
        CV_TRY(cv_mc_label_mesh(l, j->key_origin, j->res, &m));
        if (j->p->simplify_nm > 0) {
            cv_status rc = simplify(j, t, &m);
            if (rc != CV_OK) {
                cv_mesh_free(m);
                return rc;
            }
        }
        if (j->route) {
            cv_status rc = cv_mesh_route_add(j->route, l->label, t->id, m);
            cv_mesh_free(m);
            CV_TRY(rc);
            continue;
        }
        uint8_t *data;
        size_t len;
        cv_status rc = cv_mesh_fragment_encode(m, &data, &len);
        cv_mesh_free(m);
        CV_TRY(rc);
        char key[512];
        snprintf(key, sizeof key, "%s/%" PRIu64 ":0:%s", j->dir, l->label, bbox);
        rc = cv_store_put(store, key, data, len, "gzip", -1, "model/mesh");
        cv_free(data);
        CV_TRY(rc);
    }
    return CV_OK;
}

/* ---- manifests ----------------------------------------------------------------------------- */

typedef struct named {
    uint64_t label;
    char name[200];
} named;

static int by_name(const void *a, const void *b)
{
    const named *x = a, *y = b;
    if (x->label != y->label) {
        return x->label < y->label ? -1 : 1;
    }
    return strcmp(x->name, y->name);
}

/* (label, tile) pairs to the rank owning the label, which writes its manifest: the fragment
 * names sorted as a listing of the mesh directory gives them. Collective. */
static cv_status write_manifests(job *j, uint64_t *n_written)
{
    size_t n_pairs = j->pairs.len / 16;
    const uint64_t *pairs = (const uint64_t *)j->pairs.data;
    int *sc = cv_calloc((size_t)j->size, sizeof *sc),
        *rcnt = cv_calloc((size_t)j->size, sizeof *rcnt);
    int *sd = cv_calloc((size_t)j->size, sizeof *sd), *rd = cv_calloc((size_t)j->size, sizeof *rd);
    uint64_t *send = cv_malloc(j->pairs.len + 16), *recv = NULL;
    cv_status rc =
        sc && rcnt && sd && rd && send ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh forge: manifests");
    if (rc == CV_OK && 2 * n_pairs > INT_MAX) {
        rc = CV_FAIL(CV_ERR_UNSUPPORTED, "mesh forge: more than 2^30 fragments on one rank");
    }
    for (size_t i = 0; rc == CV_OK && i < n_pairs; i++) {
        sc[pairs[2 * i] % (uint64_t)j->size] += 2;
    }
    for (int r = 0, at = 0; rc == CV_OK && r < j->size; r++) {
        sd[r] = at;
        at += sc[r];
    }
    if (rc == CV_OK) {
        int *fill = cv_calloc((size_t)j->size, sizeof *fill);
        rc = fill ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh forge: manifests");
        for (size_t i = 0; rc == CV_OK && i < n_pairs; i++) {
            int r = (int)(pairs[2 * i] % (uint64_t)j->size);
            memcpy(send + sd[r] + fill[r], pairs + 2 * i, 16);
            fill[r] += 2;
        }
        cv_free(fill);
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK &&
        cv_coll_alltoall(sc, 1, MPI_INT, rcnt, 1, MPI_INT, "the manifest counts") != MPI_SUCCESS) {
        rc = CV_FAIL(CV_ERR_MPI, "mesh forge: manifest counts");
    }
    size_t total = 0;
    for (int r = 0; rc == CV_OK && r < j->size; r++) {
        if (total + (size_t)rcnt[r] > INT_MAX) {
            rc = CV_FAIL(CV_ERR_UNSUPPORTED, "mesh forge: more than 2^30 fragments to one rank");
            break;
        }
        rd[r] = (int)total;
        total += (size_t)rcnt[r];
    }
    if (rc == CV_OK) {
        recv = cv_malloc(total * 8 + 16);
        rc = recv ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh forge: manifests");
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK && cv_coll_alltoallv(send, sc, sd, MPI_UINT64_T, recv, rcnt, rd, MPI_UINT64_T,
                                         "the manifest exchange") != MPI_SUCCESS) {
        rc = CV_FAIL(CV_ERR_MPI, "mesh forge: manifest exchange");
    }
    size_t n = total / 2;
    named *names = rc == CV_OK ? cv_malloc(n * sizeof *names + 1) : NULL;
    if (rc == CV_OK && !names) {
        rc = CV_FAIL(CV_ERR_NOMEM, "mesh forge: %zu fragment names", n);
    }
    for (size_t i = 0; rc == CV_OK && i < n; i++) {
        char bbox[160];
        cv_chunk_name_format(cv_plan_task_box(&j->plan, recv[2 * i + 1]), bbox, sizeof bbox);
        names[i].label = recv[2 * i];
        snprintf(names[i].name, sizeof names[i].name, "%" PRIu64 ":0:%s", recv[2 * i], bbox);
    }
    if (rc == CV_OK && n > 1) {
        qsort(names, n, sizeof *names, by_name);
    }
    cv_buf json;
    cv__buf_init(&json, 0);
    uint64_t written = 0;
    cv_store *store = cv_volume_store(j->vol);
    for (size_t i = 0; rc == CV_OK && i < n;) {
        uint64_t label = names[i].label;
        json.len = 0;
        rc = cv__buf_append(&json, "{\"fragments\": [", 15);
        for (size_t k = i; rc == CV_OK && k < n && names[k].label == label; k++) {
            if (k > i) {
                rc = cv__buf_append(&json, ", ", 2);
            }
            if (rc == CV_OK) {
                rc = cv__buf_append(&json, "\"", 1);
            }
            if (rc == CV_OK) {
                rc = cv__buf_append(&json, names[k].name, strlen(names[k].name));
            }
            if (rc == CV_OK) {
                rc = cv__buf_append(&json, "\"", 1);
            }
        }
        while (i < n && names[i].label == label) {
            i++;
        }
        if (rc == CV_OK) {
            rc = cv__buf_append(&json, "]}", 2);
        }
        char key[300];
        snprintf(key, sizeof key, "%s/%" PRIu64 ":0", j->dir, label);
        if (rc == CV_OK) {
            rc = cv_store_put(store, key, json.data, json.len, NULL, -1, "application/json");
            written++;
        }
    }
    cv__buf_fini(&json);
    cv_free(names);
    cv_free(send);
    cv_free(recv);
    cv_free(sc);
    cv_free(rcnt);
    cv_free(sd);
    cv_free(rd);
    *n_written = written;
    return rc;
}

/* ---- the mesh directory -------------------------------------------------------------------- */

/* The directory's name (the info's "mesh", else igneous' mesh_mip_<M>_err_<E>, E the
 * --simplify bound, 0 without). */
static void mesh_dir_name(job *j)
{
    const cv_info *info = cv_volume_info(j->vol);
    const char *dir = info->mesh && info->mesh[0] ? info->mesh : NULL;
    if (dir) {
        while (*dir == '/') {
            dir++;
        }
        snprintf(j->dir, sizeof j->dir, "%s", dir);
        for (size_t n = strlen(j->dir); n > 0 && j->dir[n - 1] == '/'; n--) {
            j->dir[n - 1] = '\0';
        }
    } else {
        snprintf(j->dir, sizeof j->dir, "mesh_mip_%d_err_%g", j->mip, j->p->simplify_nm);
    }
}

/* Rank 0: the mesh info (igneous' legacy info when absent; a multi-resolution one is refused)
 * and the layer's "mesh" member. */
static cv_status prepare_dir(job *j)
{
    cv_store *store = cv_volume_store(j->vol);
    char key[300];
    snprintf(key, sizeof key, "%s/info", j->dir);
    uint8_t *data = NULL;
    size_t len = 0;
    cv_status rc = cv_store_get(store, key, 1 << 20, &data, &len);
    cv_free(data);
    if (rc == CV_ERR_NOTFOUND) {
        cv_err_clear();
        const int64_t *s = j->plan.task_shape;
        char info[256];
        int n = snprintf(info, sizeof info,
                         "{\"@type\": \"neuroglancer_legacy_mesh\", \"mip\": %d, \"chunk_size\": "
                         "[%" PRId64 ", %" PRId64 ", %" PRId64 "], \"spatial_index\": null}",
                         j->mip, s[0], s[1], s[2]);
        rc = cv_store_put(store, key, info, (size_t)n, NULL, -1, "application/json");
    }
    CV_TRY(rc);
    cv_info *mi = cv_volume_info_mut(j->vol);
    if (!mi->mesh || !mi->mesh[0]) {
        char *dir = cv__strdup(j->dir);
        if (!dir) {
            return CV_FAIL(CV_ERR_NOMEM, "mesh forge");
        }
        cv_free(mi->mesh);
        mi->mesh = dir;
        CV_TRY(cv_volume_commit_info(j->vol));
    }
    return CV_OK;
}

/* Every rank: the directory must hold legacy meshes. Rank 0 set the layer's "mesh" member;
 * the others take it in memory. */
static cv_status check_dir(job *j)
{
    cv_info *mi = cv_volume_info_mut(j->vol);
    if (!mi->mesh || !mi->mesh[0]) {
        char *dir = cv__strdup(j->dir);
        if (!dir) {
            return CV_FAIL(CV_ERR_NOMEM, "mesh forge");
        }
        cv_free(mi->mesh);
        mi->mesh = dir;
    }
    cv_meshes *k;
    CV_TRY(cv_meshes_open(j->vol, false, &k));
    bool multires = cv_meshes_is_multires(k);
    cv_meshes_close(k);
    if (multires) {
        return CV_FAIL(CV_ERR_ARG,
                       "mesh forge: %s/%s/info is a multi-resolution mesh directory "
                       "(neuroglancer_multilod_draco); forge %s: set the layer's \"mesh\" to "
                       "another directory",
                       cv_volume_url(j->vol), j->dir,
                       j->p->sharded ? "--sharded writes a new one, not over one already made"
                                     : "writes legacy meshes");
    }
    return CV_OK;
}

/* ---- --sharded ----------------------------------------------------------------------------- */

/* Once the labels are counted: the shard parameters, the journal of written shards and the
 * fragment queues. Collective. */
static cv_status start_sharded(job *j)
{
    const cv_mesh_forge_params *p = j->p;
    const cv_mesh_merge_opts *mm = &p->multires;
    cv_status rc = cv_mesh_merge_shard_spec(j->n_labels, mm->max_labels_per_shard, &j->spec);
    if (rc == CV_OK) {
        rc = cv_meshes_open(j->vol, false, &j->meshes);
    }
    rc = cv_mpi_agree(rc);
    char region[160], signature[1024];
    cv_bbox_format(j->region, region, sizeof region);
    snprintf(signature, sizeof signature,
             "mesh-forge-sharded layer=%s mip=%d region=%s tile=%" PRId64 ",%" PRId64 ",%" PRId64
             " dust=%" PRIu64 " simplify=%.17g dir=%s lods=%d vqb=%d level=%d min-chunk=%.17g "
             "labels=%" PRIu64 " shard-bits=%d minishard-bits=%d preshift-bits=%d",
             cv_volume_url(j->vol), j->mip, region, j->plan.task_shape[0], j->plan.task_shape[1],
             j->plan.task_shape[2], p->dust, p->simplify_nm, j->dir, mm->nlod, mm->vqb, mm->level,
             mm->min_chunk, j->n_labels, j->spec.shard_bits, j->spec.minishard_bits,
             j->spec.preshift_bits);
    if (rc == CV_OK) {
        rc = cv_mpi_agree(cv_journal_dir(p->journal_dir, cv_volume_url(j->vol), signature,
                                         j->journal_path, sizeof j->journal_path));
    }
    uint64_t n_shards = (uint64_t)1 << j->spec.shard_bits;
    if (rc == CV_OK) {
        rc = cv_journal_begin(j->journal_path, signature, p->resume, n_shards, &j->journal);
    }
    if (rc == CV_OK && p->resume && j->rank == 0) {
        CV_LOG(CV_LOG_INFO, "resuming: %" PRIu64 " of %" PRIu64 " shards already written",
               cv_journal_count_done(j->journal), n_shards);
    }
    if (rc == CV_OK) {
        size_t budget = j->plan_params.memory;
        rc = cv_mpi_agree(cv_mesh_route_new(&j->spec, budget, j->journal, &j->route));
    }
    return rc;
}

/* ---- the job ------------------------------------------------------------------------------- */

static cv_status run(job *j, cv_mesh_forge_stats *st)
{
    const cv_mesh_forge_params *p = j->p;
    uint64_t n_tiles = j->last - j->first;
    j->tiles = cv_calloc(n_tiles + 1, sizeof *j->tiles);
    cv_status rc =
        j->tiles ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh forge: %" PRIu64 " tiles", n_tiles);
    for (uint64_t i = 0; rc == CV_OK && i < n_tiles; i++) {
        rc = tile_init(j, &j->tiles[i], j->first + i);
    }
    const int64_t *s = j->plan.task_shape;
    size_t tile_voxels = (size_t)s[0] * (size_t)s[1] * (size_t)s[2];
    size_t framed = (size_t)(s[0] + 1) * (size_t)(s[1] + 1) * (size_t)(s[2] + 1);
    size_t raw_cap = tile_voxels * cv_dtype_size(j->dtype);
    uint8_t *raw = rc == CV_OK ? cv_malloc(raw_cap) : NULL;
    uint64_t *lab = rc == CV_OK ? cv_malloc((tile_voxels + framed) * 8) : NULL;
    cv_buf *out = cv_calloc((size_t)j->size, sizeof *out);
    if (rc == CV_OK && (!raw || !lab || !out)) {
        rc = CV_FAIL(CV_ERR_NOMEM,
                     "mesh forge: buffers of a %" PRId64 "x%" PRId64 "x%" PRId64 " tile", s[0],
                     s[1], s[2]);
    }
    for (int r = 0; out && r < j->size; r++) {
        cv__buf_init(&out[r], 0);
    }
    cv_coll_phase("reading tiles");
    for (uint64_t i = 0; rc == CV_OK && i < n_tiles && !cv_mpi_terminated(); i++) {
        cv_coll_task(j->first + i);
        rc = tile_read(j, &j->tiles[i], raw, raw_cap, lab, out);
        if (rc != CV_OK) {
            char box[160];
            cv_bbox_format(j->tiles[i].box, box, sizeof box);
            cv__err_wrap("tile %" PRIu64 " (%s)", j->first + i, box);
        }
    }
    cv_coll_task(UINT64_MAX);
    cv_free(raw);
    cv_free(lab);
    if (cv_mpi_terminated() && rc == CV_OK) {
        rc = CV_FAIL(CV_ERR_IO, "mesh forge interrupted while reading tiles; run the same "
                                "command with --resume");
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK) {
        rc = cv_mpi_agree(exchange_halos(j, out));
    }
    for (int r = 0; out && r < j->size; r++) {
        cv__buf_fini(&out[r]);
    }
    cv_free(out);
    if (rc == CV_OK && (p->dust || p->sharded)) {
        rc = find_dust(j);
    }
    if (rc == CV_OK && p->sharded) {
        rc = start_sharded(j);
    }
    /* The seams' largest slab: one tile face two voxels thick. */
    size_t slab = 2 * (size_t)(s[0] + 2) * (size_t)(s[1] + 2) * (size_t)(s[2] + 2) /
                  (size_t)(s[0] < s[1] ? (s[0] < s[2] ? s[0] : s[2]) : (s[1] < s[2] ? s[1] : s[2]));
    uint64_t *scratch = rc == CV_OK ? cv_malloc((slab + 8) * 8) : NULL;
    if (rc == CV_OK && !scratch) {
        rc = CV_FAIL(CV_ERR_NOMEM, "mesh forge: seam buffer");
    }
    cv_coll_phase("finishing tiles");
    /* --sharded: in rounds, each ending with the fragment exchange, so every rank takes part
     * in as many as the rank with the most tiles */
    uint64_t rounds =
        p->sharded ? (j->plan.n_tasks + (uint64_t)j->size - 1) / (uint64_t)j->size : n_tiles;
    for (uint64_t i = 0; rc == CV_OK && i < rounds; i++) {
        if (i < n_tiles) {
            tile *t = &j->tiles[i];
            cv_coll_task(t->id);
            bool before = !p->sharded && j->journal && cv_journal_is_done(j->journal, t->id);
            rc = tile_seams(j, t, scratch);
            if (rc == CV_OK) {
                rc = tile_write(j, t, before);
            }
            if (rc == CV_OK && !before && !p->sharded) {
                rc = cv_journal_record(j->journal, t->id);
            }
            if (rc != CV_OK) {
                char box[160];
                cv_bbox_format(t->box, box, sizeof box);
                cv__err_wrap("tile %" PRIu64 " (%s)", t->id, box);
            }
            *(before ? &j->tiles_skipped : &j->tiles_done) += 1;
            tile_free(t);
        }
        if (p->sharded) {
            char what[96];
            snprintf(what, sizeof what, "tile round %" PRIu64 " of %" PRIu64, i + 1, rounds);
            rc = cv_mpi_agree(rc);
            if (rc == CV_OK) {
                rc = cv_mesh_route_exchange(j->route, what);
            }
        }
    }
    cv_coll_task(UINT64_MAX);
    cv_free(scratch);
    rc = cv_mpi_agree(rc);
    uint64_t manifests = 0;
    cv_mesh_merge_stats built;
    memset(&built, 0, sizeof built);
    if (rc == CV_OK && p->sharded) {
        cv_coll_phase("writing shards");
        const cv_mesh_merge_opts *mm = &p->multires;
        cv_multires_opts mo = {.num_lods = mm->nlod,
                               .vqb = mm->vqb,
                               .level = mm->level,
                               .min_chunk = {mm->min_chunk, mm->min_chunk, mm->min_chunk}};
        memcpy(mo.resolution, j->res, sizeof mo.resolution);
        rc = cv_mpi_agree(cv_mesh_route_write(j->route, j->meshes, &mo, &built));
        if (rc == CV_OK) {
            rc = cv_mpi_agree(j->rank == 0
                                  ? cv__meshes_set_multires(j->meshes, mm->vqb, j->res, &j->spec)
                                  : CV_OK);
        }
    } else if (rc == CV_OK) {
        cv_coll_phase("writing manifests");
        rc = write_manifests(j, &manifests);
        rc = cv_mpi_agree(rc);
    }
    if (rc == CV_OK && st) {
        cv_volume_stats vs;
        cv_volume_get_stats(j->vol, &vs);
        uint64_t local[7] = {j->tiles_done, j->tiles_skipped, j->fragments,  manifests,
                             vs.bytes_read, j->halo_bytes,    vs.chunks_read},
                 global[7];
        cv_coll_allreduce(local, global, 7, MPI_UINT64_T, MPI_SUM, "the job's totals");
        st->chunks_read = global[6];
        cv_grid g = cv_info_grid(cv_volume_info(j->vol), j->mip);
        int64_t cmin[3], cmax[3];
        cv_grid_cells(&g, j->region, cmin, cmax);
        st->chunks = (uint64_t)(cmax[0] - cmin[0]) * (uint64_t)(cmax[1] - cmin[1]) *
                     (uint64_t)(cmax[2] - cmin[2]);
        st->tiles = global[0];
        st->tiles_skipped = global[1];
        st->fragments = global[2];
        st->manifests = global[3];
        st->bytes_read = global[4];
        st->halo_bytes = global[5];
        st->dust_labels = j->n_dust;
        st->voxels = cv_bbox_voxels(j->region);
    }
    if (rc == CV_OK && st && p->sharded) {
        uint64_t local[4] = {built.written, built.skipped, built.shards, built.bytes}, global[4];
        cv_mesh_route_stats rs;
        if (cv_coll_allreduce(local, global, 4, MPI_UINT64_T, MPI_SUM, "the shards' totals") !=
            MPI_SUCCESS) {
            return CV_FAIL(CV_ERR_MPI, "mesh forge: the shards' totals");
        }
        CV_TRY(cv_mesh_route_stats_get(j->route, &rs));
        st->labels = j->n_labels;
        st->meshes = global[0];
        st->skipped = global[1];
        st->shards = global[2];
        st->mesh_bytes = global[3];
        st->fragments = rs.fragments;
        st->sent_bytes = rs.sent_bytes;
        st->held_peak = rs.held_peak;
        st->shards_before = rs.shards_before;
    }
    return rc;
}

cv_status cv_mpi_mesh_forge(const cv_mesh_forge_params *p, cv_mesh_forge_stats *stats)
{
    double t0 = cv_now();
    job j;
    memset(&j, 0, sizeof j);
    j.p = p;
    j.rank = cv_mpi_rank();
    j.size = cv_mpi_size();
    cv__buf_init(&j.pairs, 0);
    cv_opts o = cv_opts_default();
    o.fill_missing = p->fill_missing;
    o.threads = p->threads > 0 ? p->threads : 4;
    cv_status rc = cv_volume_open(p->layer, &o, &j.vol);
    if (rc == CV_OK && p->sharded && !cv_draco_available()) {
        /* known before any tile is read */
        rc = CV_FAIL(CV_ERR_UNSUPPORTED, "mesh forge --sharded: Draco encoding needs a build "
                                         "with libdraco (Debian libdraco-dev)");
    }
    if (rc == CV_OK) {
        rc = make_plan(&j);
    }
    if (rc == CV_OK) {
        mesh_dir_name(&j);
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK && p->dry_run) {
        if (j.rank == 0) {
            print_plan(&j);
        }
        cv_volume_close(j.vol);
        return CV_OK;
    }
    if (rc == CV_OK) {
        rc = cv_mpi_agree(j.rank == 0 ? prepare_dir(&j) : CV_OK);
    }
    if (rc == CV_OK) {
        rc = cv_mpi_agree(check_dir(&j));
    }
    if (rc == CV_OK && !p->sharded) {
        char region[160], signature[1024];
        cv_bbox_format(j.region, region, sizeof region);
        snprintf(signature, sizeof signature,
                 "mesh-forge layer=%s mip=%d region=%s tile=%" PRId64 ",%" PRId64 ",%" PRId64
                 " dust=%" PRIu64 " simplify=%.17g dir=%s",
                 cv_volume_url(j.vol), j.mip, region, j.plan.task_shape[0], j.plan.task_shape[1],
                 j.plan.task_shape[2], p->dust, p->simplify_nm, j.dir);
        rc = cv_mpi_agree(cv_journal_dir(p->journal_dir, cv_volume_url(j.vol), signature,
                                         j.journal_path, sizeof j.journal_path));
        if (rc == CV_OK) {
            rc = cv_journal_begin(j.journal_path, signature, p->resume, j.plan.n_tasks, &j.journal);
        }
        if (rc == CV_OK && p->resume && j.rank == 0) {
            CV_LOG(CV_LOG_INFO, "resuming: %" PRIu64 " of %" PRIu64 " tiles already written",
                   cv_journal_count_done(j.journal), j.plan.n_tasks);
        }
    }
    if (rc == CV_OK) {
        j.first = run_start(j.plan.n_tasks, j.rank, j.size);
        j.last = run_start(j.plan.n_tasks, j.rank + 1, j.size);
        rc = run(&j, stats);
    }
    cv_journal_end(j.journal, j.journal ? j.journal_path : NULL, rc, p->keep_journal);
    cv_mesh_route_free(j.route);
    cv_meshes_close(j.meshes);
    for (uint64_t i = 0; j.tiles && i < j.last - j.first; i++) {
        tile_free(&j.tiles[i]);
    }
    cv_free(j.tiles);
    cv_free(j.counts.keys);
    cv_free(j.counts.counts);
    cv_free(j.dust);
    cv__buf_fini(&j.pairs);
    if (rc == CV_OK && stats) {
        double secs = cv_now() - t0, slowest = secs;
        cv_coll_allreduce(&secs, &slowest, 1, MPI_DOUBLE, MPI_MAX, "the job's wall time");
        stats->seconds = slowest;
        snprintf(stats->dir, sizeof stats->dir, "%s", j.dir);
    }
    cv_volume_close(j.vol);
    return rc;
}
