/* SPDX-License-Identifier: BSD-3-Clause
 * marching_cubes.h: surfaces of every label of a segmentation, by marching cubes over voxel
 * centres with zmesh's conventions (igneous-jobs §2.3): each label meshed on its own as a
 * binary mask, no interpolation (every vertex is the midpoint of a cube edge), vertices placed
 * at (half-voxel coordinate / 2 + 0.5) * resolution, so voxel g spans [g, g+1) * resolution.
 *
 * Vertices are kept as keys: integer half-voxel coordinates relative to a key origin shared
 * by every piece of a job (21 bits per axis), so the pieces of a label meshed apart (tiles,
 * seams between tiles) name a shared vertex by the same key and meet without cracks.
 *
 * Ambiguous cube faces are split the same way wherever they occur (the label's corners on
 * a face meet only along an edge, never across the diagonal), so a label's surface is closed
 * and every triangle edge has exactly two triangles when the whole label is meshed. */
#ifndef CV_MARCHING_CUBES_H
#define CV_MARCHING_CUBES_H

#include "base/cv_internal.h"

/* Largest extent (voxels, per axis) of what one key origin can address: the region meshed
 * plus the zero layer below it and the one above it. */
#define CV_MC_MAX_EXTENT ((INT64_C(1) << 20) - 2)

/* The triangles of one label: three vertex keys each. */
typedef struct cv_mc_label {
    uint64_t label;
    size_t n_tris, cap;
    uint64_t *keys;
} cv_mc_label;

/* Triangles of many labels, in the order they were made. */
typedef struct cv_mc_soup {
    cv_mc_label *labels; /* in order of first appearance */
    size_t n, cap;
    uint32_t *slots; /* open addressing: label -> index + 1 */
    size_t n_slots;
    size_t last; /* index of the last label used (cubes repeat labels) */
} cv_mc_soup;

void cv_mc_soup_init(cv_mc_soup *s);
void cv_mc_soup_fini(cv_mc_soup *s);
/* Give back the spare capacity of every label's triangle list (kept while a piece waits). */
void cv_mc_soup_trim(cv_mc_soup *s);
/* The label's triangles, or NULL when it has none. */
const cv_mc_label *cv_mc_soup_find(const cv_mc_soup *s, uint64_t label);

/* Mesh every 2x2x2 cube of voxel centres of `labels` (dims[0] x dims[1] x dims[2], x
 * fastest) into `out`. Element (0,0,0) lies at `origin`, in voxels from the key origin (each
 * component >= 0, origin + dims <= CV_MC_MAX_EXTENT + 2). Label 0 is background. */
cv_status cv_mc_run(const uint64_t *labels, const int64_t dims[3], const int64_t origin[3],
                    cv_mc_soup *out);

/* One label's triangles as a mesh: each key once, numbered in the order the triangles use them
 * (so the bytes depend only on the triangles and their order), positions in nanometres:
 * ((key / 2) + key_origin + 0.5) * resolution per axis; key_origin is in voxels. */
cv_status cv_mc_label_mesh(const cv_mc_label *l, const int64_t key_origin[3],
                           const double resolution[3], cv_mesh **out);

/* The triangles of cube configuration `mask` (bit i: corner i, at x = i & 1, y = i >> 1 & 1,
 * z = i >> 2 & 1, is inside): *n triangles, each three corners-pairs' midpoints as half-voxel
 * offsets 0..2 per axis into tri[k][vertex][axis]. For tests. */
void cv_mc_case(unsigned mask, int *n, int8_t tri[][3][3]);

#endif
