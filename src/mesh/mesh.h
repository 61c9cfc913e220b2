/* SPDX-License-Identifier: BSD-3-Clause
 * mesh.h: internals of the mesh room shared by its files and reachable from tests and the
 * commands: simplification (mesh_simplify.c), Draco encoding (mesh_draco.cc). No MPI here. */
#ifndef CV_MESH_H
#define CV_MESH_H

#include "base/cv_internal.h"

/* What cv__mesh_simplify() may do. At least one limit must be set. */
typedef struct cv_simplify_opts {
    /* Largest distance (nm, the mesh's units) of an output vertex from the input surface;
     * < 0 or infinite: no limit. */
    double max_error;
    /* Stop once the mesh has at most this many triangles; 0: no target. */
    uint64_t target_faces;
    /* [n_vertices] of the input, nonzero = locked: the vertex keeps its exact position and is
     * never removed (free neighbours may merge into it), so seams shared with another tile stay
     * closed. NULL: none. */
    const uint8_t *locked;
    /* Lock the vertices of open (boundary) edges too. */
    bool lock_boundary;
} cv_simplify_opts;

/* Quadric edge collapse (Garland-Heckbert, area-weighted planes, boundary edges held by
 * perpendicular planes), cheapest collapse first, ties by vertex index, so the result is the
 * same on every run. A collapse is refused if it would change the topology (link condition;
 * edges with more than two triangles and vertices joining separate fans are never touched),
 * flip or squash a triangle, repeat a triangle, or (with max_error) put the new vertex farther
 * than max_error from the input triangles it replaces. Output: the surviving vertices in input
 * order (locked ones bit for bit), triangles in input order with their winding; degenerate
 * input triangles are dropped. *kept (optional, free with cv_free) gets each output vertex's
 * input index. */
cv_status cv__mesh_simplify(const cv_mesh *in, const cv_simplify_opts *o, cv_mesh **out,
                            uint32_t **kept);

/* Mark (set to 1) in locked[n_vertices] the vertices lying on a face of the box
 * [min, max] (some coordinate equal to min[d] or max[d]): the tile border vertices a
 * neighbouring tile shares. */
void cv__mesh_lock_box(const cv_mesh *m, const float min[3], const float max[3], uint8_t *locked);

/* Draco-encode a triangle mesh whose positions are the integers q[nv][3] (each < 2^bits), as
 * DracoPy does for igneous' multi-resolution fragments: a uint32 POSITION attribute (Draco
 * quantizes float attributes only, so the integers are stored as given), metadata entries
 * quantization_bits/range/origin, speed 10 - level for encoding and decoding (level 0..10).
 * *out: free with cv_free. CV_ERR_UNSUPPORTED in a build without libdraco. */
cv_status cv__draco_encode(const uint32_t *q, uint32_t nv, const uint32_t *faces, uint32_t nf,
                           int bits, int level, uint8_t **out, size_t *len);

/* Decode a Draco mesh as DracoPy does (graphene fragments): Draco's quantization undone, so
 * *positions holds 3 n_vertices float32 coordinates (nm). CV_ERR_UNSUPPORTED without libdraco. */
cv_status cv__draco_decode_nm(const uint8_t *data, size_t len, const char *what, float **positions,
                              uint32_t *n_vertices, uint32_t **faces, uint32_t *n_faces);

/* How a label's mesh becomes a multi-resolution mesh (igneous-jobs §3.3). */
typedef struct cv_multires_opts {
    int num_lods;         /* levels beyond the finest one, at most (igneous nlod; CLI 1) */
    int vqb;              /* vertex_quantization_bits (10 or 16) */
    int level;            /* Draco compression level 0..10 (igneous CLI 7) */
    double min_chunk[3];  /* smallest octree node, voxels (256^3) */
    double resolution[3]; /* nm per voxel of the mesh mip: stored-model space is voxels */
} cv_multires_opts;

/* One label's whole mesh (nm, vertices shared between its pieces) as igneous' process_mesh:
 * level k simplified from k-1 to max(4, faces / 2^k) triangles (open edges kept for k <= 2),
 * as many levels as the smallest extent allows (log2(extent / min_chunk)) up to num_lods;
 * the octree over all levels; level L cut along the planes of its nodes (L = 0) or of its
 * children (L > 0) and one Draco fragment per non-empty node, Z-ordered, with an empty
 * fragment for a node whose children have geometry. *data (free with cv_free) = all fragments
 * (level 0 first) then the manifest, whose length is *manifest_len. A mesh without triangles
 * or flat in some axis gives *len = 0 (no mesh, as igneous skips it). */
cv_status cv__multires_build(const cv_mesh *m, const cv_multires_opts *o, uint8_t **data,
                             size_t *len, size_t *manifest_len);

/* The mesh info's "mip" member (the level the meshes were made from), -1 if absent. */
int cv__meshes_mip(const cv_meshes *k);
/* Write one label's multi-resolution mesh (cv__multires_build's bytes) unsharded:
 * "<id>" = the fragment data, "<id>.index" = the manifest, uncompressed. */
cv_status cv__meshes_put_multires(cv_meshes *k, uint64_t id, const uint8_t *data, size_t len,
                                  size_t manifest_len);
/* Write one whole shard file of the mesh directory holding labels ids[0..n) (all of one
 * shard; the index entry of each is its manifest, the fragment data just before it).
 * *shard_out (optional): the shard number. */
cv_status cv__meshes_write_shard(cv_meshes *k, const cv_shard_spec *spec, const uint64_t *ids,
                                 uint8_t *const *data, const size_t *len,
                                 const size_t *manifest_len, size_t n, uint64_t *shard_out);
/* Make the mesh directory's info multi-resolution as igneous' configure_multires_info does
 * (members such as mip, chunk_size, spatial_index stay): @type neuroglancer_multilod_draco,
 * vertex_quantization_bits, transform = the mesh mip's resolution (stored model = voxels),
 * lod_scale_multiplier 1.0, sharding (`spec`, or none). `k` then reads the new meshes. */
cv_status cv__meshes_set_multires(cv_meshes *k, int vqb, const double res[3],
                                  const cv_shard_spec *spec);

#endif
