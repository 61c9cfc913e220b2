/* SPDX-License-Identifier: BSD-3-Clause
 * cv_mesh_merge.h: a layer's legacy meshes -> multi-resolution meshes across MPI ranks
 * (igneous' mesh merge-sharded / merge --nlod). */
#ifndef CV_MESH_MERGE_H
#define CV_MESH_MERGE_H

#include "base/cv_internal.h"

typedef struct cv_mesh_merge_opts {
    int nlod;                      /* levels beyond the finest, at most (igneous CLI 1) */
    int vqb;                       /* vertex_quantization_bits: 10 or 16 */
    int level;                     /* Draco compression level (igneous CLI 7) */
    double min_chunk;              /* smallest octree node, voxels per axis (256) */
    bool sharded;                  /* neuroglancer_uint64_sharded_v1, else <id> + <id>.index */
    uint64_t max_labels_per_shard; /* igneous CLI 1000 */
} cv_mesh_merge_opts;

typedef struct cv_mesh_merge_stats {
    uint64_t labels;  /* with a legacy manifest, all ranks */
    uint64_t written; /* multi-resolution meshes written */
    uint64_t skipped; /* no triangles or flat in an axis (igneous skips them) */
    uint64_t shards;  /* shard files written (0 unsharded) */
    uint64_t bytes;   /* fragment and manifest bytes written */
    double seconds;   /* wall time, slowest rank */
} cv_mesh_merge_stats;

/* cv_mpi_mesh_merge() :
 * Read every label's legacy fragments (its "<id>:0" manifest) from the mesh directory of the
 * layer at `layer`, weld identical vertices (CloudVolume's consolidate, closing the seams of
 * meshing tasks), build the multi-resolution mesh of each (cv__multires_build, at the mesh
 * info's "mip", else 0) and write it into the same directory; finally rank 0 rewrites the mesh
 * info as neuroglancer_multilod_draco (the legacy files stay). Sharded: CloudVolume's hashed
 * parameters for that many labels with at least ceil(labels / max_labels_per_shard) shards,
 * raw data, gzip minishard indexes; shard s belongs to rank s mod ranks, which reads, builds
 * and writes each of its shard files once, whole. Unsharded: labels dealt round-robin.
 * Collective over MPI_COMM_WORLD (or one process without MPI); every rank returns the same
 * status, and the info is left alone on failure. */
cv_status cv_mpi_mesh_merge(const char *layer, const cv_mesh_merge_opts *o,
                            cv_mesh_merge_stats *stats);

#endif
