/* SPDX-License-Identifier: BSD-3-Clause
 * cv_mesh_forge.h: `cvmpi mesh forge`: legacy meshes of every label of a segmentation layer,
 * made across ranks (igneous' mesh forge and mesh merge as one job). Collective over
 * MPI_COMM_WORLD (or a single process without MPI). */
#ifndef CV_MESH_FORGE_H
#define CV_MESH_FORGE_H

#include "mpi/cv_mesh_merge.h"
#include "mpi/cv_mpi.h"

typedef struct cv_mesh_forge_params {
    const char *layer;
    const char *mip_text;  /* index or resolution; NULL = 0 */
    const char *bbox_text; /* NULL = the whole volume */
    uint64_t dust;         /* labels with fewer voxels (in the whole region) get no mesh */
    double simplify_nm;    /* > 0: quadric simplification, no vertex moved farther (nm) */
    size_t memory;         /* per rank; 0 = default */
    int threads;           /* chunk workers per rank */
    bool fill_missing, resume, dry_run, keep_journal;
    const char *journal_dir; /* NULL = cv_journal_dir's default */
    /* One pass to sharded multi-resolution meshes: the fragments travel to the rank owning
     * their label's shard instead of being written; `multires` as for `mesh merge-sharded`
     * (its `sharded` member is not used: always sharded). */
    bool sharded;
    cv_mesh_merge_opts multires;
} cv_mesh_forge_params;

typedef struct cv_mesh_forge_stats {
    uint64_t tiles, tiles_skipped; /* tiles written now, tiles a resumed job had written */
    uint64_t fragments, manifests, dust_labels;
    uint64_t voxels;              /* in the region */
    uint64_t bytes_read;          /* stored (encoded) chunk bytes read, all ranks */
    uint64_t chunks_read, chunks; /* chunks read by all ranks; chunks in the region */
    uint64_t halo_bytes;          /* face voxels sent between ranks */
    double seconds;               /* slowest rank */
    /* --sharded */
    uint64_t labels;                /* meshed labels (not dust) in the region */
    uint64_t shards, shards_before; /* shard files written; shards a resumed job had written */
    uint64_t meshes, skipped;       /* multi-resolution meshes written; labels without one */
    uint64_t mesh_bytes;            /* bytes of those meshes (fragments and manifests) */
    uint64_t sent_bytes;            /* fragment bytes sent to other ranks */
    uint64_t held_peak;             /* fragment bytes held by the fullest rank */
    char dir[256];                  /* the mesh directory */
} cv_mesh_forge_stats;

/* Run the job. The region (the volume at the mip, or --bbox expanded to whole chunks) is cut
 * into chunk-aligned tiles dealt to ranks in contiguous runs. Each rank reads its tiles once,
 * meshes the cubes inside each, and sends the tile's first voxel planes to the ranks of the
 * tiles below it, which need them for the cubes across their upper faces (the halo); after
 * the halo exchange every tile's fragment is completed and written as "<id>:0:<tile bbox>",
 * and the manifests "<id>:0" are written by the rank that owns the id (id mod ranks). The
 * region is closed with zeros on all six faces. With `sharded`, no fragment is written: after
 * the voxel counts are summed (giving the labels, hence the shard parameters), the tiles are
 * finished in rounds, each followed by an exchange that carries every fragment to the rank
 * owning its label's shard (shard mod ranks, cv_mesh_route.h); that rank then builds the
 * multi-resolution mesh of each label and writes each of its shard files once, and rank 0
 * makes the mesh info multi-resolution. Every rank returns the same status; rank 0 prints the
 * plan with dry_run and fills `stats` (when not NULL). */
cv_status cv_mpi_mesh_forge(const cv_mesh_forge_params *p, cv_mesh_forge_stats *stats);

#endif
