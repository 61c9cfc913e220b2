/* SPDX-License-Identifier: BSD-3-Clause
 * cv_exchange_int.h: internals shared by the exchange files: mpi_exchange.c (planning, the
 * plan printout, each rank's traffic in a round, message parts, agreement) and
 * mpi_exchange_rechunk.c (a re-chunking round and its point-to-point trade). Not for other
 * callers. */
#ifndef CV_EXCHANGE_INT_H
#define CV_EXCHANGE_INT_H

#include "mpi/cv_exchange.h"

#include "mpi/cv_collective.h"

#include "volume/volume.h"

/* MPI counts are ints: a message to one peer goes in parts of at most this many bytes. */
#define CV_X_MESSAGE_LIMIT ((size_t)1 << 30)

typedef struct held {
    int64_t cell[3];
    cv_bbox box;
    uint8_t *data;
    size_t n;
    bool is_fresh; /* read in this round (not kept from the previous one) */
    bool to_read;  /* its buffer is taken, its voxels not read yet */
} held;

/* Spare buffers of one full chunk of a grid, kept across rounds: after the first rounds no
 * chunk buffer is allocated (no page faults, no munmap). Their memory stays counted as held. */
typedef struct cv_x_spares {
    uint8_t **buf;
    size_t n, slots;
    size_t bytes; /* of each buffer */
} cv_x_spares;

/* A buffer that only grows, kept across rounds (a round's messages, sent or received). */
typedef struct cv_x_arena {
    uint8_t *data;
    size_t cap;
} cv_x_arena;

/* A message left in the sender's shared buffer (mpi_exchange_shm.c): sent in its place to a
 * rank of the same node. All fields 8 bytes: no padding. */
typedef struct cv_x_notice {
    int64_t pid, fd;           /* the sender's buffer: /proc/PID/fd/FD */
    uint64_t cap, offset, len; /* its size, and the message in it */
    int64_t failed;            /* the sender failed: no message */
} cv_x_notice;

/* A peer's shared buffer as mapped here. */
typedef struct cv_x_map {
    uint8_t *data; /* mapped read-only */
    size_t cap;
    int64_t pid, fd;
} cv_x_map;

typedef struct cv_x_shm {
    bool known; /* the node table is made (cv__x_shm_setup) */
    bool *near; /* by rank: on this node, both sharing: messages go as notices */
    int n_near;
    int fd;        /* this rank's buffer (a memfd), -1: none */
    uint8_t *data; /* mapped here, cap bytes (counted as held) */
    size_t cap;
    MPI_Request *acks; /* acknowledgements awaited for notices sent */
    int *ack_peer;
    size_t n_acks, acks_cap;
    cv_x_map *maps;           /* by rank */
    uint64_t messages_shared; /* tests: messages read from a peer's buffer */
} cv_x_shm;

struct cv_exchange {
    cv_exchange_kind kind;
    int ranks, threads, src_mip, dst_mip;
    size_t memory, bpv;
    bool skip_existing;
    cv_grid sg, dg;
    cv_bbox region;
    uint64_t n_rounds;
    double est_peak; /* bytes per rank in the largest round, as planned */
    /* re-chunking */
    int64_t col[2], col_first[2], ncol[2], rows, zrounds;
    /* source chunks kept for the next round (re-chunking) */
    held *cache;
    size_t n_cache;
    uint64_t cache_round;
    size_t *peer_bytes;         /* ranks entries, zero between uses: a round's traffic per rank */
    int *touched;               /* ranks entries: which of peer_bytes are set */
    size_t message_limit;       /* bytes per message part (CV_X_MESSAGE_LIMIT; tests lower it) */
    struct rechunk_round *next; /* the next round, made ready while this one was settled */
    size_t held, held_peak;     /* bytes of chunk data held now and at most (cv__x_hold) */
    /* buffers kept from round to round: at most what the largest round needed of each kind,
     * so their sum stays within the planned peak */
    cv_x_spares src_spares, dst_spares;
    cv_x_arena send_arena, recv_arena;
    size_t chunk_buffers_made, chunk_buffers_taken; /* tests: what the spares saved */
    uint64_t rounds_packed_ahead; /* tests: rounds whose messages left as the round began */
    cv_x_shm shm;                 /* messages to ranks of this node (mpi_exchange_shm.c) */
};

/* One peer of a rank in a round and the bytes (piece heads included) going to or from it. */
typedef struct cv_x_peer {
    int rank;
    size_t bytes;
} cv_x_peer;

/* Bytes of one full chunk of grid g (all channels). */
size_t cv__x_chunk_bytes(const cv_exchange *x, const cv_grid *g);
/* The rank that owns chunk `cell` of grid g: its linear grid index mod ranks. */
int cv__x_owner(const cv_grid *g, const int64_t cell[3], int ranks);
/* This rank (0 without MPI). */
int cv__x_rank(void);
/* The same in two steps (work may go between them): also settles whether every rank made the
 * next round's buffers (next_ready on every rank). */
typedef struct cv_x_agreement {
    int in[3], all[3];
    cv_coll_pending pending;
} cv_x_agreement;
void cv__x_agree_start(cv_x_agreement *a, cv_status rc, bool stop_here, bool next_ready);
cv_status cv__x_agree_finish(cv_x_agreement *a, cv_status rc, cv_exchange_result *out,
                             bool *next_ready);
/* Settle a round's outcome on every rank with one reduction (cv_mpi_agree only on failure):
 * failed_here on the lowest failing rank only, stop on every rank if any passed stop_here.
 * Collective. */
cv_status cv__x_agree(cv_status rc, bool stop_here, cv_exchange_result *out);
/* Bytes of one piece message entry: its head (the piece's box) then its voxels. */
size_t cv__x_piece_bytes(const cv_exchange *x, cv_bbox piece);
/* Rank `me`'s traffic in the round writing `box`, from the plan alone (no MPI): the ranks it
 * sends pieces to (the owners of the destination chunks its source chunks overlap) and the
 * ranks it receives from (the owners of the source chunks overlapping its destination chunks),
 * each once, sorted by rank, `me` included when it keeps pieces. Symmetric over the ranks:
 * what r sends to s is what s receives from r. Free both with cv_free. */
cv_status cv__x_traffic(cv_exchange *x, cv_bbox box, int me, cv_x_peer **send, int *n_send,
                        cv_x_peer **recv, int *n_recv);
/* A message of `bytes` goes in cv__x_parts(bytes, limit) parts (at least 1, each at most
 * `limit` bytes, limit >= 1); part i starts at i * limit. */
size_t cv__x_parts(size_t bytes, size_t limit);
size_t cv__x_part_len(size_t bytes, size_t limit, size_t i);
/* One re-chunking round (see cv_exchange_round). Collective. */
cv_status cv__x_round_rechunk(cv_exchange *x, uint64_t round, uint64_t next, cv_volume *src,
                              cv_volume *dst, bool stop_here, cv_exchange_result *out);
/* Count chunk data this rank holds for the rounds (source chunks, messages, destination
 * chunks) where it is made and freed; any thread. The peak is what --memory must bound. */
void cv__x_hold(cv_exchange *x, size_t bytes);
void cv__x_release(cv_exchange *x, size_t bytes);
/* A buffer of one full chunk from `s` (a spare, else a new one, counted as held); NULL when
 * memory runs out. Give it back with cv__x_give_chunk. Calling thread only. */
uint8_t *cv__x_take_chunk(cv_exchange *x, cv_x_spares *s);
void cv__x_give_chunk(cv_exchange *x, cv_x_spares *s, uint8_t *buf); /* NULL is fine */
/* At least `bytes` of arena `a` (its old contents are not kept); NULL when memory runs out. */
uint8_t *cv__x_arena(cv_exchange *x, cv_x_arena *a, size_t bytes);
/* Messages to ranks of this node (mpi_exchange_shm.c). Setup is collective (the first round
 * every rank runs); it finds which ranks share this node and can map each other's buffer. */
void cv__x_shm_setup(cv_exchange *x);
bool cv__x_shm_near(const cv_exchange *x, int rank);
/* This rank's shared buffer of at least `bytes` (contents not kept); NULL when it cannot grow.
 * Write into it only after cv__x_shm_wait_acks. */
uint8_t *cv__x_shm_buffer(cv_exchange *x, size_t bytes);
/* Wait until every notice sent so far was acknowledged (its reader is done with the buffer). */
void cv__x_shm_wait_acks(cv_exchange *x);
/* The notice for `peer` of the message of `len` bytes at `offset` in the shared buffer (or of
 * this rank's failure), and the wait for its acknowledgement. Send it right after. */
void cv__x_shm_notice(cv_exchange *x, int peer, size_t offset, size_t len, bool failed,
                      cv_x_notice *out);
/* The message a notice from `peer` points at, `want` bytes, mapped here. */
cv_status cv__x_shm_message(cv_exchange *x, int peer, const cv_x_notice *n, size_t want,
                            const uint8_t **out);
/* Acknowledge a notice of `peer` once its message is read (or never will be). */
void cv__x_shm_ack(int peer, MPI_Request *req);
/* Wait for the last acknowledgements, unmap and close everything. */
void cv__x_shm_free(cv_exchange *x);
/* Forget the source chunks kept for the next round (not the next round made ahead). */
void cv__x_drop_kept(cv_exchange *x);
/* Free the next round's buffers and chunks made ahead (none: nothing). Not collective. */
void cv__x_drop_next(cv_exchange *x);

#endif
