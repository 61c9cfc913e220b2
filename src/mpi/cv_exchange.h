/* SPDX-License-Identifier: BSD-3-Clause
 * cv_exchange.h: re-chunking transfers whose work cannot be cut into independent tasks (one
 * box aligned to both chunk grids does not fit the memory budget), done in memory-bounded
 * collective ROUNDS in which ranks trade data: every source chunk is read once, by one rank;
 * its pieces travel to the ranks that own the destination chunks they belong to; each
 * destination chunk is assembled, encoded and written once, by one rank.
 * (Hashed-sharded destinations go through spill files instead: cv_hashed.h.)
 *
 * The trade is sparse: the plan is deterministic, so each rank works out alone which ranks it
 * sends to (the owners of the destination chunks its source chunks overlap), which send to it,
 * and every message's size; messages travel point to point (MPI_Isend / MPI_Irecv) between
 * those neighbours only, in parts of at most 1 GiB (MPI counts are ints), so a round costs a
 * rank O(neighbours) messages, not O(ranks). Per round: the messages and one outcome
 * MPI_Iallreduce, which also settles whether every rank made the next round's buffers; while it
 * travels each rank reads its source chunks of the next round (with more than one rank, when
 * the caller names the next round). A round not made ready so (the first, one after a skipped
 * or failed round) starts with a readiness MPI_Allreduce of an int once every buffer is made;
 * with --skip-existing one more MPI_Allreduce, for which each rank checks only the destination
 * chunks it owns. Chunk and message buffers are kept from round to round and re-used (each
 * at most what the largest round needs): the peak is one planned round's.
 * What overlaps: a round's reads, and the packing of its messages, with the previous round's
 * outcome, so its messages leave the moment it begins; the pieces a rank keeps are placed
 * while its messages travel; each destination chunk is encoded and written (by the chunk
 * threads) as soon as its last piece is in, while the rest still travel.
 * Rounds are the journal unit; their geometry (not the rank count) is in the journal's job
 * signature, so --resume with another rank count re-uses it (cv_exchange_use_geometry).
 * Collective over MPI_COMM_WORLD unless said otherwise. */
#ifndef CV_EXCHANGE_H
#define CV_EXCHANGE_H

#include "mpi/cv_mpi.h"

typedef struct cv_exchange cv_exchange;

typedef enum cv_exchange_kind {
    CV_EXCHANGE_RECHUNK = 1, /* pieces of decoded source chunks go to destination chunk owners */
} cv_exchange_kind;

typedef struct cv_exchange_params {
    cv_exchange_kind kind;
    const cv_info *src_info, *dst_info;
    int src_mip, dst_mip;
    cv_bbox region; /* aligned to the destination chunk grid, inside the volume */
    size_t memory;  /* per rank, bytes */
    int threads;    /* chunk workers per rank */
    int ranks;      /* the rank count the rounds are planned for */
    bool skip_existing;
} cv_exchange_params;

/* Plan the rounds. Not collective and makes no MPI calls: every rank gets the same plan from
 * the same parameters. CV_ERR_ARG naming the memory needed when one round cannot fit. */
cv_status cv_exchange_plan(const cv_exchange_params *p, cv_exchange **out);
void cv_exchange_free(cv_exchange *x); /* NULL is fine */
uint64_t cv_exchange_rounds(const cv_exchange *x);
/* The destination box a round writes. */
cv_bbox cv_exchange_round_box(const cv_exchange *x, uint64_t round);
/* A short text identifying the rounds' geometry, for the journal's job signature
 * ("rechunk column=X,Y rows=R"; the same for any rank count). */
void cv_exchange_signature(const cv_exchange *x, char *buf, size_t cap);

/* The rounds' geometry: columns of col[0] x col[1] voxels, `rows` destination chunk rows. */
typedef struct cv_exchange_geometry {
    int64_t col[2], rows;
} cv_exchange_geometry;
void cv_exchange_geometry_of(const cv_exchange *x, cv_exchange_geometry *g);
/* The geometry in a job signature written by cv_exchange_signature; false when none. */
bool cv_exchange_parse_signature(const char *text, cv_exchange_geometry *g);
/* Re-plan the rounds with geometry `g` (a journal's, written with another rank count or
 * --memory). CV_ERR_ARG when `g` does not suit the chunk grids or does not fit the memory
 * budget with this plan's rank count. Not collective. */
cv_status cv_exchange_use_geometry(cv_exchange *x, const cv_exchange_geometry *g);
/* Bytes of a largest round's voxels on one rank, for progress (MB/s). */
uint64_t cv_exchange_round_bytes(const cv_exchange *x);
/* Print the plan to stdout: rounds, their shape, the neighbours a rank trades with and the
 * messages of a round, per rank the bytes read, sent, received and written in the largest
 * round, and the expected peak memory. Not collective (rank 0). */
void cv_exchange_print(const cv_exchange *x);

typedef struct cv_exchange_result {
    bool failed_here;     /* the round failed with this rank's error (it reports it) */
    bool stop;            /* some rank asked to stop: every rank stops after this round */
    uint64_t voxel_bytes; /* source voxel bytes this rank read */
} cv_exchange_result;

/* Run round `round`: read, trade, assemble/encode, write. `next` is the round the caller runs
 * after it (UINT64_MAX: none, or not known yet); when it is round + 1, its buffers are made and
 * its source chunks read while the ranks settle this round's outcome. Collective; every rank
 * returns the same status (the lowest failing rank's error record is copied to all); failed_here is
 * true on exactly one rank when the round failed. `stop_here` (this rank was told to stop, e.g.
 * SIGTERM) is settled in the same final reduction: out->stop is the same on every rank. A
 * failure after the readiness check (a read) fails the round on every rank; chunks completed
 * before the failure was known may have been written (whole and correct: the round is redone
 * on --resume). */
cv_status cv_exchange_round(cv_exchange *x, uint64_t round, uint64_t next, cv_volume *src,
                            cv_volume *dst, bool stop_here, cv_exchange_result *out);
/* --skip-existing: true on every rank when every destination chunk of a re-chunking round
 * exists already (each rank looks at the chunks it owns, then one MPI_Allreduce). Collective. */
bool cv_exchange_round_exists(cv_exchange *x, uint64_t round, cv_volume *dst);
/* Forget source chunks kept for the next round (call when a round is skipped). Not collective. */
void cv_exchange_drop_cache(cv_exchange *x);

#endif
