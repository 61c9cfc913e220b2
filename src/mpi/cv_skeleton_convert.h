/* SPDX-License-Identifier: BSD-3-Clause
 * cv_skeleton_convert.h: many SWC files into a layer's skeleton directory across MPI ranks. */
#ifndef CV_SKELETON_CONVERT_H
#define CV_SKELETON_CONVERT_H

#include "base/cv_internal.h"

typedef struct cv_convert_stats {
    uint64_t skeletons; /* converted, all ranks */
    uint64_t shards;    /* shard files written, all ranks (0 unsharded) */
    uint64_t bytes;     /* encoded skeleton bytes, all ranks */
    double seconds;     /* wall time, slowest rank */
} cv_convert_stats;

/* cv_mpi_skeletons_convert() :
 * Read every "<segid>.swc" of directory `swc_dir` (osteoid's from_swc) and store it under
 * its id in the skeleton directory of the layer at `layer` (created as CloudVolume's default
 * if absent). With `sharded`, an unsharded directory first gets CloudVolume's hashed
 * parameters for that many ids (compute_shard_params_for_hashed, at least
 * `min_shards` shard files; 0 = 1). Files are dealt to ranks
 * round-robin; each rank parses and encodes its share, then the encoded skeletons travel to
 * the rank that owns their shard (shard number mod ranks) with one MPI_Alltoallv, and each
 * owner writes each of its shard files once, whole. Unsharded: each rank writes its own.
 * Collective over MPI_COMM_WORLD; every rank returns the same status. */
cv_status cv_mpi_skeletons_convert(const char *layer, const char *swc_dir, bool sharded,
                                   uint64_t min_shards, cv_convert_stats *stats);

#endif
