/* SPDX-License-Identifier: BSD-3-Clause
 * cv_mesh_merge.h: a layer's legacy meshes -> multi-resolution meshes across MPI ranks
 * (igneous' mesh merge-sharded / merge --nlod). */
#ifndef CV_MESH_MERGE_H
#define CV_MESH_MERGE_H

#include "base/cv_internal.h"
#include "mesh/mesh.h"

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

/* Shared with `mesh forge --sharded`, which builds the same files from fragments it receives
 * over MPI instead of reading them back. */

/* CloudVolume's hashed sharding for n_labels meshes with at least ceil(n_labels / per)
 * shards (per 0: 1000): murmurhash, gzip minishard indexes, raw data (each entry is a label's
 * fragments followed by its manifest, which the index points at). */
cv_status cv_mesh_merge_shard_spec(uint64_t n_labels, uint64_t per, cv_shard_spec *spec);

/* A label's mesh before welding (its fragments concatenated, nm): *raw, free with
 * cv_mesh_free. */
typedef cv_status (*cv_mesh_pieces_fn)(void *arg, uint64_t id, cv_mesh **raw);

/* One whole shard file holding labels ids[0..n) (ascending, all of one shard): each label's
 * pieces are welded (identical vertices merged, CloudVolume's consolidate) and built into its
 * multi-resolution mesh (cv__multires_build); labels without one are skipped; the file is
 * written once, unless every label was skipped. Adds to acc's written, skipped, shards, bytes. */
cv_status cv_mesh_merge_write_shard(cv_meshes *k, const cv_shard_spec *spec,
                                    const cv_multires_opts *mo, const uint64_t *ids, size_t n,
                                    cv_mesh_pieces_fn pieces, void *arg, cv_mesh_merge_stats *acc);

#endif
