/* SPDX-License-Identifier: BSD-3-Clause
 * mesh.h: internals of the mesh room shared by its files and reachable from tests and the
 * commands: simplification (mesh_simplify.c). No MPI here. */
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

#endif
