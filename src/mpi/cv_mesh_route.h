/* SPDX-License-Identifier: BSD-3-Clause
 * cv_mesh_route.h: `mesh forge --sharded`'s fragments on their way to the rank that owns
 * their label's shard (shard number mod ranks), which holds them until every tile is meshed
 * and then builds and writes each of its shard files once (cv_mesh_merge_write_shard). No
 * fragment is written to storage. Collective calls are marked. */
#ifndef CV_MESH_ROUTE_H
#define CV_MESH_ROUTE_H

#include "mpi/cv_journal.h"
#include "mpi/cv_mesh_merge.h"

typedef struct cv_mesh_route cv_mesh_route;

typedef struct cv_mesh_route_stats {
    uint64_t fragments;     /* fragments routed (all ranks) */
    uint64_t sent_bytes;    /* fragment bytes sent to other ranks (all ranks) */
    uint64_t held_peak;     /* fragment bytes held by the fullest rank */
    uint64_t shards_before; /* shards a resumed job had written */
} cv_mesh_route_stats;

/* Fragments of labels whose shard `journal` (NULL: none) records as written are dropped.
 * `budget`: the fragment bytes this rank may hold. */
cv_status cv_mesh_route_new(const cv_shard_spec *spec, size_t budget, cv_journal *journal,
                            cv_mesh_route **out);
void cv_mesh_route_free(cv_mesh_route *r);

/* Queue label `id`'s fragment from tile `tile` for the owner of its shard. */
cv_status cv_mesh_route_add(cv_mesh_route *r, uint64_t id, uint64_t tile, const cv_mesh *m);

/* Collective: every rank's queued fragments to their owners. Fails on every rank, naming
 * the rank, when one would hold more than its budget. `what` names the round for errors. */
cv_status cv_mesh_route_exchange(cv_mesh_route *r, const char *what);

/* This rank's shards, ascending: each label's fragments concatenated in tile order, welded,
 * built and written as one shard file; each shard written is recorded in the journal. Adds to
 * acc. Not collective. */
cv_status cv_mesh_route_write(cv_mesh_route *r, cv_meshes *k, const cv_multires_opts *mo,
                              cv_mesh_merge_stats *acc);

/* Collective: the totals over all ranks. */
cv_status cv_mesh_route_stats_get(const cv_mesh_route *r, cv_mesh_route_stats *st);

#endif
