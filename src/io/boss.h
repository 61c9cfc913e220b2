/* SPDX-License-Identifier: BSD-3-Clause
 * boss.h: the parsers of store_boss.c (boss://COLLECTION/EXPERIMENT/CHANNEL, BossDB's REST
 * API as the intern client speaks it), declared here so that the unit tests and the fuzz
 * target reach them without a server. */
#ifndef CV_BOSS_H
#define CV_BOSS_H

#include "io/store.h"

/* The info CloudVolume's boss metadata makes from the three metadata answers (experiment,
 * coordinate frame, channel; JSON texts, not NUL-terminated): one channel, raw, 512x512x16
 * chunks, resolution round(voxel size) times the unit's nanometres, offset = start, size =
 * stop - start, num_hierarchy_levels - 1 more scales at 2x2x1 (anisotropic) or 2x2x2
 * (isotropic). `what` names the layer in errors. CV_ERR_CORRUPT naming the answer and member
 * at fault. Free *out with cv_info_free. */
cv_status cv__boss_info(const char *experiment, size_t experiment_len, const char *coord,
                        size_t coord_len, const char *channel, size_t channel_len, const char *what,
                        cv_info **out);

/* Append the decompressed bytes of a c-blosc 1 frame (a cutout answer) to out; the frame must
 * decode to exactly `want` bytes. CV_ERR_CORRUPT naming `what` otherwise. */
cv_status cv__boss_blosc_decode(const uint8_t *src, size_t n, size_t want, const char *what,
                                cv_buf *out);

#endif
