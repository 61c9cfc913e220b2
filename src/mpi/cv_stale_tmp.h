/* SPDX-License-Identifier: BSD-3-Clause
 * cv_stale_tmp.h: on --resume, remove the temporary files (.cvmpi-tmp-*) a killed run left in a
 * file:// destination, for the chunks of tasks this run will redo. The file store writes each
 * object to "<dir>/.cvmpi-tmp-<pid>-<n>-<name>" and renames it into place; a rank killed
 * between the two leaves the temporary behind. Temporaries are never read as chunks, so this is
 * housekeeping: only chunk names are recognised (shard files are left alone). */
#ifndef CV_STALE_TMP_H
#define CV_STALE_TMP_H

#include "base/cv_internal.h"

/* Whether the chunk with this box is written by a task the job will (re)do. */
typedef bool (*cv_chunk_redone_fn)(cv_bbox chunk, void *arg);

/* Rank 0 only, before any rank writes: remove the temporaries in the scale directory
 * `scale_key` of `dst_url` (nothing for other than file://) whose chunk `redone` accepts.
 * *n_removed: how many. */
cv_status cv_remove_stale_chunk_temporaries(const char *dst_url, const char *scale_key,
                                            cv_chunk_redone_fn redone, void *arg,
                                            uint64_t *n_removed);

#endif
