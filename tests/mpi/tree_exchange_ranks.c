/* SPDX-License-Identifier: BSD-3-Clause
 * tree_exchange_ranks.c DIR: the tree exchange across the ranks of mpirun. State files as five
 * ranks of an earlier run left them (DIR/s0-r0..4.state, 40 records of 100..4000 bytes) are
 * read by however many ranks run now, rank r taking files r, r + P, ...; records go mostly to
 * rank 0 (a skewed tree) in rounds of two records. Every rank checks it received exactly the
 * records meant for it, each once and byte for byte, and that no round overflowed. */
#include "mpi/cv_mpi.h"
#include "mpi/cv_tree_exchange.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>

#define OLD_RANKS 5
#define RECORDS 40
#define MAX_BYTES 4000

static size_t bytes_of(uint64_t idx)
{
    return 100 + (size_t)(idx * 97 % (MAX_BYTES - 99));
}

static uint8_t byte_of(uint64_t idx, size_t i)
{
    return (uint8_t)(idx * 31 + i * 7 + (i >> 8));
}

static int dest_of(uint64_t idx, int size)
{
    return idx % 4 == 0 ? (int)(idx / 4 % (uint64_t)size) : 0;
}

static int fail(const char *what, uint64_t idx)
{
    fprintf(stderr, "rank %d: %s (node %llu)\n", cv_mpi_rank(), what, (unsigned long long)idx);
    return 1;
}

static int check(int size, const cv_state_file *inbox, const cv_state_rec *got, size_t n_got)
{
    static uint8_t back[MAX_BYTES];
    size_t want = 0;
    for (uint64_t idx = 0; idx < RECORDS; idx++) {
        want += dest_of(idx, size) == cv_mpi_rank();
    }
    if (n_got != want) {
        return fail("wrong number of records", n_got);
    }
    for (size_t i = 0; i < n_got; i++) {
        if (dest_of(got[i].idx, size) != cv_mpi_rank() || (i && got[i].idx <= got[i - 1].idx)) {
            return fail("a record meant for another rank, or twice", got[i].idx);
        }
        if (got[i].bytes != bytes_of(got[i].idx) ||
            cv_state_read_own(inbox, &got[i], back) != CV_OK) {
            return fail("wrong size or unreadable", got[i].idx);
        }
        for (size_t k = 0; k < got[i].bytes; k++) {
            if (back[k] != byte_of(got[i].idx, k)) {
                return fail("wrong bytes", got[i].idx);
            }
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (cv_mpi_init(&argc, &argv) != CV_OK || argc != 2) {
        fprintf(stderr, "usage: mpirun -n N tree_exchange_ranks DIR\n");
        return 2;
    }
    int rank = cv_mpi_rank(), size = cv_mpi_size(), bad = 0;
    char path[512];
    static uint8_t data[MAX_BYTES];
    if (rank == 0) {
        /* the earlier run's five files: node idx in file idx % 5 */
        for (int q = 0; q < OLD_RANKS && !bad; q++) {
            cv_state_file *f = NULL;
            snprintf(path, sizeof path, "%s/s0-r%d.state", argv[1], q);
            bad |= cv_state_open(path, true, &f) != CV_OK;
            for (uint64_t idx = (uint64_t)q; idx < RECORDS && !bad; idx += OLD_RANKS) {
                for (size_t k = 0; k < bytes_of(idx); k++) {
                    data[k] = byte_of(idx, k);
                }
                bad |= cv_state_append(f, idx, data, bytes_of(idx), NULL) != CV_OK;
            }
            bad |= cv_state_close(f) != CV_OK;
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    char *paths[OLD_RANKS];
    size_t n_paths = 0, n = 0, cap = 0;
    cv_state_rec *recs = NULL;
    for (int q = rank; q < OLD_RANKS; q += size) {
        snprintf(path, sizeof path, "%s/s0-r%d.state", argv[1], q);
        paths[n_paths] = cv__strdup(path);
        bad |= cv_state_scan(path, (uint32_t)n_paths, &recs, &n, &cap) != CV_OK;
        n_paths++;
    }
    cv_tree_send *sends = cv_calloc(n ? n : 1, sizeof *sends);
    for (size_t i = 0; i < n; i++) {
        sends[i] = (cv_tree_send){recs[i], dest_of(recs[i].idx, size)};
    }
    cv_free(recs);
    snprintf(path, sizeof path, "%s/in1-r%d.state", argv[1], rank);
    cv_state_file *inbox = NULL;
    bad |= cv_state_open(path, true, &inbox) != CV_OK;
    cv_state_rec *got = NULL;
    size_t n_got = 0;
    cv_status rc = cv_tree_exchange(sends, n, paths, n_paths, MAX_BYTES,
                                    2 * cv_tree_wire_bytes(MAX_BYTES), inbox, &got, &n_got);
    if (rc != CV_OK) {
        fprintf(stderr, "rank %d: %s\n", rank, cv_err_last()->what);
        bad = 1;
    }
    bad |= rc == CV_OK && check(size, inbox, got, n_got);
    cv_state_close(inbox);
    cv_free(got);
    cv_free(sends);
    for (size_t i = 0; i < n_paths; i++) {
        cv_free(paths[i]);
    }
    int any = bad;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("tree exchange on %d ranks: %s\n", size, any ? "FAILED" : "ok");
    }
    cv_mpi_finalize();
    return any;
}
