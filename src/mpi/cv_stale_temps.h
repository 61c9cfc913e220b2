/* SPDX-License-Identifier: BSD-3-Clause
 * cv_stale_temps.h: what every job that writes a layer does on --resume, before any of its
 * ranks writes: remove the temporary files (.cvmpi-tmp-*) that a stopped run (kill -9, a lost
 * node) left beside the objects it was writing. */
#ifndef CV_STALE_TEMPS_H
#define CV_STALE_TEMPS_H

#include "mpi/cv_mpi.h"

/* Collective; rank 0 does the work, before any rank writes. For each of the `n` scales `mips`
 * of `v` it removes the temporaries of the objects the job owns: the chunks (unsharded scale)
 * or shard files (sharded scale) that hold voxels of the job's region in that scale,
 * `regions[i]` in the scale's voxels (NULL: the whole scale), whether or not the journal says
 * they are done. These have no other writer: a job alone writes its region, and none of its
 * ranks is writing yet, so every such temporary is a stopped run's. Temporaries of any other
 * object (outside the region, or a name that is no object of the scale) may belong to another
 * process's live write and are left (`cvmpi delete` removes those an hour old). Logs the count
 * (info). Only file:// layers have temporaries; elsewhere this does nothing. */
cv_status cv_mpi_remove_stale_temps(cv_volume *v, const int *mips, int n, const cv_bbox *regions);

#endif
