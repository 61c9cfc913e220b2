/* SPDX-License-Identifier: BSD-3-Clause
 * cv_tree_state.h: the node states of the downsample reduction tree (and the chunks a transfer
 * into hashed shards spills, cv_hashed.h), kept on disk between the
 * stages so a rank holds one node's arrays at a time, whatever the number of nodes it makes.
 * Each rank appends the states it makes in a stage to its own file as checksummed records; the
 * next stage's exchange reads them back and each receiver appends what arrives to its inbox
 * file. One file per rank and stage rather than one per node: millions of small files in one
 * directory are a metadata storm on a parallel filesystem.
 *
 * A record is a 32-byte header (magic "CVST", version, node index, data bytes, CRC-32 of the
 * data, CRC-32 of the header before it) and the data. A record is appended with one write()
 * before the node is recorded in the journal, so a killed rank never journals a node whose
 * state is missing; a record cut short by a crash is cut off when the file is next opened for
 * appending, and a damaged one fails its CRC when read. Files are fsynced when closed. */
#ifndef CV_TREE_STATE_H
#define CV_TREE_STATE_H

#include "base/cv_internal.h"

#define CV_STATE_HEADER_BYTES 32

/* Where a record lives: file `file` of the reader's list, its data at `offset`. */
typedef struct cv_state_rec {
    uint64_t idx, offset, bytes;
    uint32_t file, crc;
} cv_state_rec;

typedef struct cv_state_file cv_state_file;

/* Open `path` for appending records, creating it if missing, or empty when `truncate`. A torn
 * record at its end is cut off first. */
cv_status cv_state_open(const char *path, bool truncate, cv_state_file **out);
/* Append one record; *rec (when not NULL) tells where it went (file number 0). */
cv_status cv_state_append(cv_state_file *f, uint64_t idx, const void *data, size_t n,
                          cv_state_rec *rec);
/* Read back a record this file holds (the inbox). */
cv_status cv_state_read_own(const cv_state_file *f, const cv_state_rec *rec, void *data);
/* fsync and close; NULL is a no-op. */
cv_status cv_state_close(cv_state_file *f);

/* Read-only: the headers of the whole records of `path`, appended to *recs (growing *cap) with
 * file number `file`. A missing file has none. */
cv_status cv_state_scan(const char *path, uint32_t file, cv_state_rec **recs, size_t *n,
                        size_t *cap);
/* Read a record's data from `fd` (the file `path`) and check its CRC. */
cv_status cv_state_read(int fd, const char *path, const cv_state_rec *rec, void *data);

/* Rank 0 of a job keeping state files in `dir`: <dir>/ranks records the most ranks any run of
 * the job had, so a resumed run knows whose files to read; *max_ranks gets that count with
 * `ranks` (this run's) included. */
cv_status cv_state_note_ranks(const char *dir, int ranks, int *max_ranks);
/* Remove every file of `dir`, then the directory (after a job, or before a fresh one). */
void cv_state_remove_dir(const char *dir);

#endif
