/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_stale_temps.c: on --resume, remove the temporary files a stopped run left in the scales a
 * job writes (see cv_stale_temps.h). The store layer finds them and knows their name format;
 * this file decides which objects belong to the job. */
#include "mpi/cv_stale_temps.h"

#include "io/store.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The objects of one scale that the job owns. */
typedef struct owned {
    cv_grid grid;
    cv_bbox region; /* voxels of the scale */
    bool whole;     /* the region is the whole scale */
    bool sharded;
    cv_shard_spec spec;
    int64_t shape[3]; /* chunks per axis */
} owned;

/* Whether `object` is a chunk of the scale ("x0-x1_y0-y1_z0-z1", maybe .gz/.br) whose box
 * meets the region. */
static bool owned_chunk(const owned *o, const char *object)
{
    cv_bbox box;
    if (cv_chunk_name_parse(object, &box) != CV_OK) {
        cv_err_clear();
        return false;
    }
    int64_t cell[3];
    for (int d = 0; d < 3; d++) {
        int64_t rel = box.min[d] - o->grid.bounds.min[d];
        if (rel < 0 || rel % o->grid.chunk[d] != 0 || rel / o->grid.chunk[d] >= o->shape[d]) {
            return false;
        }
        cell[d] = rel / o->grid.chunk[d];
    }
    return cv_bbox_equal(box, cv_grid_cell_box(&o->grid, cell)) &&
           !cv_bbox_is_empty(cv_bbox_intersect(box, o->region));
}

/* Whether `object` is a shard file of the scale ("1f.shard") holding a chunk of the region. */
static bool owned_shard(const owned *o, const char *object)
{
    char *end;
    uint64_t shard = strtoull(object, &end, 16);
    char name[40];
    if (end == object || strcmp(end, ".shard") != 0 ||
        (o->spec.shard_bits < 64 && shard >> o->spec.shard_bits) ||
        cv_shard_file_name(&o->spec, shard, name, sizeof name) >= (int)sizeof name ||
        strcmp(name, object) != 0) {
        return false;
    }
    if (o->whole) {
        return true;
    }
    /* A stopped run leaves a handful of temporaries: look for a chunk of the region in it. */
    int64_t lo[3], hi[3], c[3];
    cv_grid_cells(&o->grid, o->region, lo, hi);
    for (c[2] = lo[2]; c[2] < hi[2]; c[2]++) {
        for (c[1] = lo[1]; c[1] < hi[1]; c[1]++) {
            for (c[0] = lo[0]; c[0] < hi[0]; c[0]++) {
                uint64_t code, s, mini;
                if (cv_morton_code(o->shape, c, &code) != CV_OK) {
                    cv_err_clear();
                    return false;
                }
                cv_shard_locate(&o->spec, code, &s, &mini);
                if (s == shard) {
                    return true;
                }
            }
        }
    }
    return false;
}

static bool owned_object(const char *object, void *arg)
{
    const owned *o = arg;
    return o->sharded ? owned_shard(o, object) : owned_chunk(o, object);
}

static cv_status sweep(cv_volume *v, const int *mips, int n, const cv_bbox *regions,
                       size_t *removed)
{
    const cv_info *info = cv_volume_info(v);
    for (int i = 0; i < n; i++) {
        const cv_scale *sc = &info->scales[mips[i]];
        owned o;
        memset(&o, 0, sizeof o);
        o.grid = cv_info_grid(info, mips[i]);
        cv_grid_shape(&o.grid, o.shape);
        o.region = regions ? cv_bbox_intersect(regions[i], o.grid.bounds) : o.grid.bounds;
        o.whole = cv_bbox_equal(o.region, o.grid.bounds);
        o.sharded = sc->sharding_json != NULL;
        if (o.sharded) {
            CV_TRY(cv_shard_spec_parse(sc->sharding_json, strlen(sc->sharding_json), sc->key,
                                       &o.spec));
        }
        /* Age 0: no rank of the job writes yet, and nothing else writes what it owns. */
        CV_TRY(cv__store_remove_stale_temps(cv_volume_store(v), sc->key, 0, owned_object, &o,
                                            removed));
    }
    return CV_OK;
}

cv_status cv_mpi_remove_stale_temps(cv_volume *v, const int *mips, int n, const cv_bbox *regions)
{
    cv_status rc = CV_OK;
    if (cv_mpi_rank() == 0) {
        size_t removed = 0;
        rc = sweep(v, mips, n, regions, &removed);
        if (rc == CV_OK && removed) {
            CV_LOG(CV_LOG_INFO, "removed %zu temporary file%s a stopped run left behind", removed,
                   removed == 1 ? "" : "s");
        }
    }
    return cv_mpi_agree(rc);
}
