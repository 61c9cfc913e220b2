/* SPDX-License-Identifier: BSD-3-Clause
 * cv_tree_exchange.h: deliver the downsample tree's node states (records of cv_tree_state.h
 * files) to the ranks that own their parents, in rounds whose buffers stay within a byte
 * budget on every rank, whatever the rank count and however the records are spread.
 *
 * Each round, every sender offers each receiver some of its pending records (at most `cap` in
 * all, shared fairly among the receivers it has records for), every receiver grants at most
 * `cap` of what it was offered (shared fairly among its senders), and the granted records move
 * in one MPI_Alltoallv whose counts stay far below INT_MAX. Fair shares rotate with the round,
 * and at least one record moves per round while any is pending, so the loop ends. */
#ifndef CV_TREE_EXCHANGE_H
#define CV_TREE_EXCHANGE_H

#include "mpi/cv_tree_state.h"

/* One record to deliver: where it is in the sender's files, and the rank that takes it. */
typedef struct cv_tree_send {
    cv_state_rec rec;
    int dest;
} cv_tree_send;

/* Bytes a record of `bytes` data takes in a round's buffer. */
size_t cv_tree_wire_bytes(size_t bytes);

/* Deliver `sends` (records of the files `paths`, by rec.file) to their ranks, reordering
 * `sends`. Every record is at most `max_bytes`; each round sends and receives at most
 * `round_bytes` per rank (at least cv_tree_wire_bytes(max_bytes), at most 1 GiB). What this
 * rank receives is appended to `inbox` and its locations returned in *got, sorted by node
 * index (free with cv_free). Collective. */
cv_status cv_tree_exchange(cv_tree_send *sends, size_t n_sends, char *const *paths, size_t n_paths,
                           size_t max_bytes, size_t round_bytes, cv_state_file *inbox,
                           cv_state_rec **got, size_t *n_got);

#endif
