/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_exchange_shm.c: messages between ranks of one node read straight from the sender's
 * memory. A rank packs a round's messages into a buffer other processes can map (a memfd); to
 * a peer on its node it sends only a notice (where the message lies in that buffer), and the
 * peer places the pieces from the sender's pages, then acknowledges. MPI would copy the message
 * once more (from the sender's buffer into the receiver's, by CMA or through its own shared
 * segment): for a re-chunking that moves most voxels between ranks that copy is the largest
 * cost of the exchange over plain tasks. Ranks on other nodes, and every rank when
 * CVMPI_EXCHANGE_SHM=0 or the system has no memfd or /proc, get the message itself.
 *
 * Ranks share a node when they see the same kernel (its boot id) and the same process id
 * namespace, so the sender's process id names the sender in the receiver's /proc. A sender
 * writes into its buffer again only once every notice pointing into it was acknowledged. */
#define _GNU_SOURCE /* memfd_create */
#include "mpi/cv_exchange_int.h"

#include "mpi/cv_mpi.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Acknowledgements of notices (receiver to sender); the notices go with the messages' tag. */
#define ACK_TAG 0x4359

/* What a rank tells the others of itself: its node and process, and whether peers may map
 * its buffer. */
typedef struct shm_card {
    uint64_t node;
    int64_t pid;
    int64_t fd; /* -1: this rank takes messages only */
} shm_card;

/* FNV-1a: the node's identity from its boot id and process id namespace. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 1099511628211ULL;
    }
    return h;
}

static bool node_identity(uint64_t *out)
{
    char boot[64] = {0};
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    bool ok = f && fgets(boot, sizeof boot, f) != NULL;
    if (f) {
        fclose(f);
    }
    struct stat ns;
    if (!ok || stat("/proc/self/ns/pid", &ns) != 0) {
        return false;
    }
    uint64_t h = fnv(14695981039346656037ULL, boot, strlen(boot));
    h = fnv(h, &ns.st_dev, sizeof ns.st_dev);
    *out = fnv(h, &ns.st_ino, sizeof ns.st_ino);
    return true;
}

/* Open process `pid`'s descriptor `fd` read-only as a peer does (its path, for messages, in
 * `path`); -1 with errno when refused. */
static int open_buffer(int64_t pid, int64_t fd, char path[64])
{
    snprintf(path, 64, "/proc/%lld/fd/%lld", (long long)pid, (long long)fd);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* This rank's shareable buffer, empty for now; false when the system cannot share it the way
 * peers will map it (checked on this process's own /proc entry). */
static bool make_buffer(cv_x_shm *s)
{
    const char *env = getenv("CVMPI_EXCHANGE_SHM");
    if (env && strcmp(env, "0") == 0) {
        return false;
    }
    int fd = memfd_create("cvmpi-exchange", MFD_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    char path[64];
    int probe = open_buffer(getpid(), fd, path);
    if (probe < 0) {
        close(fd);
        return false;
    }
    close(probe);
    s->fd = fd;
    return true;
}

void cv__x_shm_setup(cv_exchange *x)
{
    cv_x_shm *s = &x->shm;
    if (s->known) {
        return;
    }
    s->known = true;
    s->fd = -1;
    shm_card me = {0, (int64_t)getpid(), -1};
    if (node_identity(&me.node) && make_buffer(s)) {
        me.fd = s->fd;
    }
    int n = x->ranks, rank = cv__x_rank();
    shm_card *all = cv_calloc((size_t)n, sizeof *all);
    s->near = cv_calloc((size_t)n, sizeof *s->near);
    s->maps = cv_calloc((size_t)n, sizeof *s->maps);
    s->acks = cv_calloc((size_t)n, sizeof *s->acks);
    s->ack_peer = cv_calloc((size_t)n, sizeof *s->ack_peer);
    /* Every rank takes part in the collectives whatever its memory; without the tables no
     * rank shares its buffer. */
    int table_ok = all && s->near && s->maps && s->acks && s->ack_peer, all_ok = 0;
    cv_coll_allreduce(&table_ok, &all_ok, 1, MPI_INT, MPI_MIN, "the exchange's node table");
    if (all_ok) {
        cv_coll_gather(&me, (int)sizeof me, MPI_BYTE, all, (int)sizeof me, MPI_BYTE, 0,
                       "the exchange's node table");
        cv_coll_bcast(all, n * (int)sizeof *all, MPI_BYTE, 0, "the exchange's node table");
        int probe = -1;
        for (int r = 0; r < n; r++) {
            s->near[r] = r != rank && me.fd >= 0 && all[r].fd >= 0 && all[r].node == me.node;
            s->n_near += s->near[r];
            probe = s->near[r] && probe < 0 ? r : probe;
        }
        s->acks_cap = (size_t)n;
        /* Opening another process's descriptor may be refused (a hardened /proc): each rank
         * tries one peer's, and unless every try works no rank shares. */
        int can = 1, all_can = 0;
        if (probe >= 0) {
            char path[64];
            int fd = open_buffer(all[probe].pid, all[probe].fd, path);
            const char *refuse = getenv("CVMPI_TEST_EXCHANGE_PROBE_FAILS"); /* tests: this rank */
            can = fd >= 0 && !(refuse && atoi(refuse) == rank);
            if (fd >= 0) {
                close(fd);
            }
        }
        cv_coll_allreduce(&can, &all_can, 1, MPI_INT, MPI_MIN, "the exchange's node table");
        if (!all_can) {
            memset(s->near, 0, (size_t)n * sizeof *s->near);
            s->n_near = 0;
        }
    }
    cv_free(all);
    if (s->n_near == 0 && s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}

bool cv__x_shm_near(const cv_exchange *x, int rank)
{
    return x->shm.near && x->shm.near[rank];
}

uint8_t *cv__x_shm_buffer(cv_exchange *x, size_t bytes)
{
    cv_x_shm *s = &x->shm;
    if (bytes <= s->cap && s->data) {
        return s->data;
    }
    if (s->data) {
        munmap(s->data, s->cap);
        cv__x_release(x, s->cap);
        s->data = NULL;
        s->cap = 0;
    }
    /* The file only grows: pages a peer still maps stay valid; peers map it anew when a
     * notice names a larger size. */
    size_t want = bytes ? bytes : 1;
    struct stat st;
    if (fstat(s->fd, &st) != 0 ||
        ((size_t)st.st_size < want && ftruncate(s->fd, (off_t)want) != 0)) {
        return NULL;
    }
    void *p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    s->data = p;
    s->cap = want;
    cv__x_hold(x, want);
    return s->data;
}

void cv__x_shm_wait_acks(cv_exchange *x)
{
    cv_x_shm *s = &x->shm;
    if (s->n_acks > 0) {
        cv_coll_waitall((int)s->n_acks, s->acks, s->ack_peer,
                        "the exchange's acknowledgements of shared messages");
        s->n_acks = 0;
    }
}

void cv__x_shm_notice(cv_exchange *x, int peer, size_t offset, size_t len, bool failed,
                      cv_x_notice *out)
{
    cv_x_shm *s = &x->shm;
    *out = (cv_x_notice){.pid = (int64_t)getpid(),
                         .fd = s->fd,
                         .cap = s->cap,
                         .offset = offset,
                         .len = len,
                         .failed = failed ? 1 : 0};
    if (s->n_acks == s->acks_cap) {
        cv__x_shm_wait_acks(x); /* a round sends one notice per peer: only after a failure */
    }
    /* The pieces are in place before the notice leaves. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    s->ack_peer[s->n_acks] = peer;
    MPI_Irecv(NULL, 0, MPI_BYTE, peer, ACK_TAG, MPI_COMM_WORLD, &s->acks[s->n_acks++]);
}

cv_status cv__x_shm_message(cv_exchange *x, int peer, const cv_x_notice *n, size_t want,
                            const uint8_t **out)
{
    cv_x_shm *s = &x->shm;
    cv_x_map *m = &s->maps[peer];
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (n->len != want || n->offset > n->cap || n->cap - n->offset < n->len || n->fd < 0) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "exchange: rank %d's notice of %" PRIu64 " bytes at %" PRIu64 " of %" PRIu64
                       ", want %zu",
                       peer, n->len, n->offset, n->cap, want);
    }
    if (!m->data || m->pid != n->pid || m->fd != n->fd || m->cap < n->cap) {
        if (m->data) {
            munmap(m->data, m->cap);
            m->data = NULL;
        }
        char path[64];
        /* tests: a descriptor that is not there */
        int64_t bad = getenv("CVMPI_TEST_EXCHANGE_UNMAPPABLE") ? 1 << 20 : 0;
        int fd = open_buffer(n->pid, n->fd + bad, path);
        struct stat st;
        void *p = MAP_FAILED;
        const char *why = NULL;
        if (fd < 0 || fstat(fd, &st) != 0) {
            why = strerror(errno);
        } else if ((uint64_t)st.st_size < n->cap || n->cap == 0 || n->cap > SIZE_MAX) {
            why = "smaller than the notice says";
        } else if ((p = mmap(NULL, n->cap, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED) {
            why = strerror(errno);
        }
        if (fd >= 0) {
            close(fd);
        }
        if (p == MAP_FAILED) {
            return CV_FAIL(CV_ERR_IO,
                           "exchange: cannot map rank %d's message buffer %s (%" PRIu64
                           " bytes): %s",
                           peer, path, n->cap, why);
        }
        m->data = p;
        m->cap = n->cap;
        m->pid = n->pid;
        m->fd = n->fd;
    }
    *out = m->data + n->offset;
    return CV_OK;
}

void cv__x_shm_ack(int peer, MPI_Request *req)
{
    MPI_Isend(NULL, 0, MPI_BYTE, peer, ACK_TAG, MPI_COMM_WORLD, req);
}

void cv__x_shm_free(cv_exchange *x)
{
    cv_x_shm *s = &x->shm;
    if (!s->known) {
        return; /* never set up: nothing made (fd is 0 here, not a descriptor of ours) */
    }
    if (cv_mpi_active()) {
        cv__x_shm_wait_acks(x);
    }
    for (int r = 0; s->maps && r < x->ranks; r++) {
        if (s->maps[r].data) {
            munmap(s->maps[r].data, s->maps[r].cap);
        }
    }
    if (s->data) {
        munmap(s->data, s->cap);
        cv__x_release(x, s->cap);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    cv_free(s->maps);
    cv_free(s->near);
    cv_free(s->acks);
    cv_free(s->ack_peer);
    memset(s, 0, sizeof *s);
}
