/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_mesh_merge.c: legacy meshes -> multi-resolution meshes across ranks (cv_mesh_merge.h).
 * Each rank owns whole shard files (shard number mod ranks), so every file is written once,
 * by one rank, and no mesh travels between ranks: the owner reads the legacy fragments of
 * its labels itself. */
#include "mesh/mesh.h"
#include "mpi/cv_collective.h"
#include "mpi/cv_mesh_merge.h"
#include "mpi/cv_mpi.h"
#include "mpi/cv_progress.h"

#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Voxel coordinates past this cannot be placed exactly by the float32 manifest. */
#define MAX_VOXEL_COORD 16777216.0

typedef struct label_shard {
    uint64_t shard;
    uint64_t id;
} label_shard;

static int by_shard_id(const void *a, const void *b)
{
    const label_shard *x = a, *y = b;
    if (x->shard != y->shard) {
        return x->shard < y->shard ? -1 : 1;
    }
    return x->id < y->id ? -1 : (x->id > y->id);
}

typedef struct built {
    uint8_t *data;
    size_t len, manifest_len;
} built;

/* One label: its unwelded mesh -> welded -> multi-resolution bytes (len 0: skipped). */
static cv_status build_label(cv_mesh_pieces_fn pieces, void *arg, uint64_t id,
                             const cv_multires_opts *mo, built *out)
{
    cv_mesh *raw = NULL, *m = NULL;
    memset(out, 0, sizeof *out);
    CV_TRY(pieces(arg, id, &raw));
    cv_status rc = cv_mesh_consolidate(raw, &m);
    cv_mesh_free(raw);
    CV_TRY(rc);
    m->id = id;
    for (size_t i = 0; i < 3 * (size_t)m->n_vertices; i++) {
        double x = m->vertices[i] / mo->resolution[i % 3];
        if (!(fabs(x) < MAX_VOXEL_COORD)) {
            rc = CV_FAIL(CV_ERR_CORRUPT,
                         "mesh %" PRIu64 ": vertex %zu at %g nm lies past 2^24 voxels, which the "
                         "multi-resolution manifest (float32) cannot place",
                         id, i / 3, (double)m->vertices[i]);
            break;
        }
    }
    if (rc == CV_OK) {
        rc = cv__multires_build(m, mo, &out->data, &out->len, &out->manifest_len);
    }
    cv_mesh_free(m);
    return rc;
}

/* The legacy meshes of the directory, fragments concatenated. */
static cv_status legacy_pieces(void *arg, uint64_t id, cv_mesh **raw)
{
    return cv_meshes_get(arg, id, 0, raw);
}

cv_status cv_mesh_merge_shard_spec(uint64_t n_labels, uint64_t per, cv_shard_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    per = per ? per : 1000;
    uint64_t min_shards = n_labels / per + (n_labels % per != 0);
    CV_TRY(cv_shard_params_for_hashed(n_labels ? n_labels : 1, min_shards ? min_shards : 1, spec));
    spec->data_encoding = CV_SHARD_RAW; /* the fragments precede the indexed manifest */
    return CV_OK;
}

cv_status cv_mesh_merge_write_shard(cv_meshes *k, const cv_shard_spec *spec,
                                    const cv_multires_opts *mo, const uint64_t *ids, size_t n,
                                    cv_mesh_pieces_fn pieces, void *arg, cv_mesh_merge_stats *acc)
{
    built *bl = cv_calloc(n + 1, sizeof *bl);
    uint64_t *kid = cv_malloc(n * sizeof *kid + 1);
    uint8_t **kdata = cv_malloc(n * sizeof *kdata + 1);
    size_t *klen = cv_malloc(n * sizeof *klen + 1);
    size_t *kman = cv_malloc(n * sizeof *kman + 1);
    size_t kept = 0;
    uint64_t bytes = 0;
    cv_status rc = bl && kid && kdata && klen && kman
                       ? CV_OK
                       : CV_FAIL(CV_ERR_NOMEM, "mesh shard of %zu labels", n);
    for (size_t i = 0; rc == CV_OK && i < n; i++) {
        cv_coll_task(ids[i]);
        rc = build_label(pieces, arg, ids[i], mo, &bl[i]);
        if (rc == CV_OK && bl[i].len == 0) {
            acc->skipped++;
        } else if (rc == CV_OK) {
            kid[kept] = ids[i];
            kdata[kept] = bl[i].data;
            klen[kept] = bl[i].len;
            kman[kept] = bl[i].manifest_len;
            bytes += bl[i].len;
            kept++;
        }
    }
    if (rc == CV_OK && kept) {
        rc = cv__meshes_write_shard(k, spec, kid, kdata, klen, kman, kept, NULL);
    }
    if (rc == CV_OK && kept) {
        acc->shards++;
        acc->written += kept;
        acc->bytes += bytes;
    }
    for (size_t i = 0; bl && i < n; i++) {
        cv_free(bl[i].data);
    }
    cv_free(bl);
    cv_free(kid);
    cv_free(kdata);
    cv_free(klen);
    cv_free(kman);
    return rc;
}

cv_status cv_mpi_mesh_merge(const char *layer, const cv_mesh_merge_opts *o,
                            cv_mesh_merge_stats *stats)
{
    double t0 = cv_now();
    int rank = cv_mpi_rank(), size = cv_mpi_size();
    cv_volume *v = NULL;
    cv_meshes *k = NULL;
    uint64_t *ids = NULL;
    size_t n = 0;
    cv_status rc = cv_volume_open(layer, NULL, &v);
    if (rc == CV_OK) {
        rc = cv_meshes_open(v, false, &k);
    }
    if (rc == CV_OK && cv_meshes_is_multires(k)) {
        rc = CV_FAIL(CV_ERR_ARG, "mesh merge: %s/%s is already multi-resolution", layer,
                     cv_meshes_dir(k));
    }
    if (rc == CV_OK) {
        rc = cv_meshes_list(k, &ids, &n);
    }
    if (rc == CV_OK && n == 0) {
        rc =
            CV_FAIL(CV_ERR_NOTFOUND, "mesh merge: no legacy meshes (\"<id>:0\" manifests) in %s/%s",
                    layer, cv_meshes_dir(k));
    }
    cv_multires_opts mo = {.num_lods = o->nlod,
                           .vqb = o->vqb,
                           .level = o->level,
                           .min_chunk = {o->min_chunk, o->min_chunk, o->min_chunk}};
    int mip = k ? cv__meshes_mip(k) : -1;
    if (rc == CV_OK) {
        mip = mip < 0 ? 0 : mip;
        const cv_info *info = cv_volume_info(v);
        if (mip >= info->n_scales) {
            rc = CV_FAIL(CV_ERR_INFO, "mesh merge: the mesh info's mip %d is not a scale of %s",
                         mip, layer);
        } else {
            for (int d = 0; d < 3; d++) {
                mo.resolution[d] = info->scales[mip].resolution[d];
            }
        }
    }
    rc = cv_mpi_agree(rc);
    cv_shard_spec spec;
    memset(&spec, 0, sizeof spec);
    if (rc == CV_OK && o->sharded) {
        rc = cv_mesh_merge_shard_spec(n, o->max_labels_per_shard, &spec);
    }
    cv_mesh_merge_stats acc;
    memset(&acc, 0, sizeof acc);
    if (rc == CV_OK && o->sharded) {
        label_shard *ls = cv_malloc(n * sizeof *ls + 1);
        uint64_t *group = cv_malloc(n * sizeof *group + 1);
        rc = ls && group ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "mesh merge: %zu labels", n);
        for (size_t i = 0; rc == CV_OK && i < n; i++) {
            uint64_t mini;
            ls[i].id = ids[i];
            cv_shard_locate(&spec, ids[i], &ls[i].shard, &mini);
        }
        if (rc == CV_OK) {
            qsort(ls, n, sizeof *ls, by_shard_id);
        }
        for (size_t a = 0; rc == CV_OK && a < n;) {
            size_t b = a;
            while (b < n && ls[b].shard == ls[a].shard) {
                group[b - a] = ls[b].id;
                b++;
            }
            if (ls[a].shard % (uint64_t)size == (uint64_t)rank) {
                rc = cv_mesh_merge_write_shard(k, &spec, &mo, group, b - a, legacy_pieces, k, &acc);
            }
            a = b;
        }
        cv_free(ls);
        cv_free(group);
    } else if (rc == CV_OK) {
        for (size_t i = (size_t)rank; rc == CV_OK && i < n; i += (size_t)size) {
            built bl;
            cv_coll_task(ids[i]);
            rc = build_label(legacy_pieces, k, ids[i], &mo, &bl);
            if (rc == CV_OK && bl.len == 0) {
                acc.skipped++;
            } else if (rc == CV_OK) {
                rc = cv__meshes_put_multires(k, ids[i], bl.data, bl.len, bl.manifest_len);
                acc.written++;
                acc.bytes += bl.len;
            }
            cv_free(bl.data);
        }
    }
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK && rank == 0) {
        rc = cv__meshes_set_multires(k, o->vqb, mo.resolution, o->sharded ? &spec : NULL);
        if (rc == CV_OK && !cv_volume_info(v)->mesh) {
            /* Neuroglancer finds meshes only through the layer's "mesh" member */
            cv_meshes *named = NULL;
            rc = cv_meshes_open(v, true, &named);
            cv_meshes_close(named);
        }
    }
    rc = cv_mpi_agree(rc);
    cv_free(ids);
    cv_meshes_close(k);
    cv_volume_close(v);
    if (rc == CV_OK && stats) {
        uint64_t local[4] = {acc.written, acc.skipped, acc.shards, acc.bytes},
                 global[4] = {0, 0, 0, 0};
        double secs = cv_now() - t0, slowest = secs;
        if (cv_mpi_active()) {
            cv_coll_allreduce(local, global, 4, MPI_UINT64_T, MPI_SUM, "the job's totals");
            cv_coll_allreduce(&secs, &slowest, 1, MPI_DOUBLE, MPI_MAX, "the job's wall time");
        } else {
            memcpy(global, local, sizeof local);
        }
        stats->labels = n;
        stats->written = global[0];
        stats->skipped = global[1];
        stats->shards = global[2];
        stats->bytes = global[3];
        stats->seconds = slowest;
    }
    return rc;
}
