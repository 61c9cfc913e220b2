/* SPDX-License-Identifier: BSD-3-Clause
 * cv_hashed.h: transfers into a hashed-sharded scale (murmurhash: a shard's chunks lie all over
 * the volume, so no box of the source makes a whole shard). Three steps, each within --memory,
 * none reading the source twice, and nothing scanning the whole chunk grid:
 *  1. tasks (scheduled as any transfer's) read boxes of the source, encode every destination
 *     chunk in them and append it, keyed by its Morton code, to this rank's spill file in the
 *     journal directory (records of cv_tree_state.h);
 *  2. after the last task, collective rounds (cv_tree_exchange.h) move each record to the rank
 *     owning its shard (shard mod ranks), into that rank's inbox file;
 *  3. each owner writes its shards whole, one at a time, chunks in z, y, x order as the
 *     single-process writer does (byte-identical shard files): laid out from the records'
 *     sizes, then written chunk by chunk from the inbox, so on a file:// store an owner holds
 *     one chunk of a shard of any size, on s3:// and gs:// one chunk and one upload part
 *     (elsewhere, and for --bbox, the whole shard). A job over part of the scale
 *     (--bbox) first reads every existing shard file it will rewrite (a damaged one fails the
 *     job before any write), then rewrites each with the chunks of its old file outside the
 *     region kept as they were; black chunks dropped with --delete-black travel as empty
 *     records so that their shards lose them.
 * A task is journaled after its records are appended, a shard (journal id tasks + shard) after
 * its file is written, so --resume redoes neither; a resumed run with any rank count reads the
 * spill files of every earlier run's ranks. The spill files stay until the job succeeds. */
#ifndef CV_HASHED_H
#define CV_HASHED_H

#include "mpi/cv_journal.h"
#include "volume/volume.h"

typedef struct cv_hashed cv_hashed;

typedef struct cv_hashed_params {
    const cv_info *dst_info;
    int dst_mip;
    cv_bbox region;   /* whole chunks; short of the scale (--bbox), each shard written is
                       * read first and keeps its chunks outside the region */
    uint64_t n_tasks; /* journal ids below this are tasks; shard s is n_tasks + s */
    size_t memory;    /* per rank, bytes */
    int ranks;
    const char *subdir;  /* the spill directory under the journal's; NULL = "hashed" */
    const char *what;    /* how errors name the job; NULL = "transfer to sharded scale" */
    bool streams;        /* the destination store writes a file piece by piece (file://, s3://,
                          * gs://): owners hold a chunk of a shard at a time, not the shard */
    size_t part_bytes;   /* with streams: the upload part the store holds besides (0: file://) */
    const char *dst_url; /* for errors: the destination (its scheme); NULL = not named */
} cv_hashed_params;

/* The plan's figures for one scale (cv_hashed_figures). */
typedef struct cv_hashed_figures {
    uint64_t n_chunks, n_shards; /* n_shards: 2^shard_bits, the ids a shard can have */
    double largest_chunks;       /* chunks in the largest shard, at most (an estimate if hashed) */
    double shard_bytes;          /* that shard, decoded */
    double owner_peak;           /* a shard owner's memory writing it */
    double exchange_peak;        /* a rank's memory in the exchange rounds */
    size_t round_bytes;          /* each exchange round, each way */
    double n_files;              /* shard files the chunks fill: the objects written */
    bool files_exact;            /* n_files exact (identity hash), else expected (murmurhash) */
    double region_bytes;         /* the region's voxels, decoded */
    bool streams;                /* owners write a shard chunk by chunk (file://, s3://, gs://) */
    size_t part_bytes;           /* with streams: the upload part an owner holds (0: file://) */
} cv_hashed_figures;

/* Check the destination and the memory the exchange and the shard writes need. Not
 * collective, no MPI. CV_ERR_ARG / CV_ERR_UNSUPPORTED naming the scale and what is needed. */
cv_status cv_hashed_plan(const cv_hashed_params *p, cv_hashed **out);
void cv_hashed_free(cv_hashed *h); /* closes the spill file; NULL is fine */
/* Journal ids: the tasks, then one per shard. */
uint64_t cv_hashed_ids(const cv_hashed *h);
/* Print the plan's shard figures (rank 0, --dry-run). */
void cv_hashed_print(const cv_hashed *h);
void cv_hashed_get_figures(const cv_hashed *h, cv_hashed_figures *out);

/* Collective, before any task: the spill directory <dir>/<subdir> (emptied unless `resume`)
 * and this rank's spill file. Several cv_hashed of one job need different subdirs. */
cv_status cv_hashed_start(cv_hashed *h, const char *dir, bool resume);
/* A task: encode every destination chunk of `box` (whole chunks of dst_mip) from its voxels
 * (`n` bytes, x fastest, channel slowest) and append them to this rank's spill file. Thread
 * safe only in the sense that one task runs at a time per rank. */
cv_status cv_hashed_task(cv_hashed *h, cv_volume *dst, cv_bbox box, const void *voxels, size_t n);
/* The same from the same chunks of scale `src_mip` of `src` as stored (the caller checks
 * cv__volume_can_copy_encoded): a chunk whose stored bytes are what encoding its voxels gives
 * (cv__codec_is_canonical) is spilled as it is, gzipped when the shards are; the others are
 * decoded and encoded again, a missing one (with src's fill_missing) is the background: the
 * records cv_hashed_task of the voxels would spill. `check` decodes every chunk.
 * *voxel_bytes: the decoded bytes of the chunks. */
cv_status cv_hashed_task_stored(cv_hashed *h, cv_volume *src, int src_mip, cv_volume *dst,
                                cv_bbox box, bool check, uint64_t *voxel_bytes);
/* Collective, after every task: unless some rank's task failed (`tasks_ok` is false on it),
 * move the records to their shards' owners and write each owned shard the journal does not
 * list, journaling it. *written counts this rank's shard files. */
cv_status cv_hashed_finish(cv_hashed *h, cv_volume *dst, cv_journal *journal, bool tasks_ok,
                           uint64_t *written);
/* Rank 0, once the job succeeded: remove the spill directory. */
void cv_hashed_remove(const cv_hashed *h);

#endif
