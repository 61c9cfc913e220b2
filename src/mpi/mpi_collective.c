/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_collective.c: collectives with a deadline and the board that names a stuck rank (see
 * cv_collective.h). Only the main thread calls these (MPI_THREAD_FUNNELED); rank 0's monitor
 * thread only reads the board's memory. */
#include "mpi/cv_collective.h"

#include "base/checked.h"
#include "mpi/cv_progress.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* One rank's slot on the board, in 64-bit words. */
enum {
    SLOT_ENTERED, /* collectives entered */
    SLOT_LEFT,    /* collectives left */
    SLOT_TASK,    /* task id, UINT64_MAX: none */
    SLOT_BEATS,   /* bumped at every update: a rank that updates is not stuck */
    SLOT_P2P,     /* 1 while waiting for point-to-point messages (cv_coll_waitsome) */
    SLOT_PHASE,   /* 64 bytes of text, NUL-terminated */
    SLOT_WORDS = SLOT_PHASE + 8,
};

#define DEFAULT_TIMEOUT 600.0

static struct {
    bool open;
    MPI_Win win;
    uint64_t *base; /* rank 0: n slots */
    int rank, n;
    uint64_t mine[SLOT_WORDS];
    uint64_t *snap;  /* the board as last read */
    uint64_t *seen;  /* each rank's beat count when last read */
    double *seen_at; /* when it last changed */
} board = {.mine = {[SLOT_TASK] = UINT64_MAX}};

static double timeout_s = DEFAULT_TIMEOUT;
static char job[32];
static char hint[160] = "run the same command again";

void cv_mpi_set_collective_timeout(double seconds)
{
    timeout_s = seconds;
}

void cv_mpi_set_job(const char *name, const char *resume_hint)
{
    snprintf(job, sizeof job, "%s", name ? name : "");
    if (*job) {
        cv_coll_phase("%s", job); /* until the job says more */
    }
    if (resume_hint) {
        snprintf(hint, sizeof hint, "%s", resume_hint);
    }
}

static void publish(void)
{
    if (!board.open) {
        return;
    }
    board.mine[SLOT_BEATS]++;
    MPI_Put(board.mine, SLOT_WORDS, MPI_UINT64_T, 0, (MPI_Aint)board.rank * SLOT_WORDS, SLOT_WORDS,
            MPI_UINT64_T, board.win);
    MPI_Win_flush(0, board.win);
}

void cv_coll_phase(const char *fmt, ...)
{
    char text[sizeof(uint64_t) * 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    char *slot = (char *)&board.mine[SLOT_PHASE];
    if (strcmp(slot, text) != 0) {
        memcpy(slot, text, sizeof text);
        publish();
    }
}

void cv_coll_task(uint64_t id)
{
    board.mine[SLOT_TASK] = id;
    publish();
}

bool cv_coll_peek_waiting(int r)
{
    if (!board.open || !board.base || r < 0 || r >= board.n) {
        return false;
    }
    const uint64_t *s = board.base + (size_t)r * SLOT_WORDS;
    return __atomic_load_n(&s[SLOT_ENTERED], __ATOMIC_RELAXED) !=
               __atomic_load_n(&s[SLOT_LEFT], __ATOMIC_RELAXED) ||
           __atomic_load_n(&s[SLOT_P2P], __ATOMIC_RELAXED) != 0;
}

void cv_coll__open(void)
{
    int n = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    MPI_Comm_rank(MPI_COMM_WORLD, &board.rank);
    uint64_t words, bytes;
    if (n < 2 || !cv__mul_u64((uint64_t)n, SLOT_WORDS, &words) || words > INT32_MAX ||
        !cv__mul_u64(words, sizeof(uint64_t), &bytes)) {
        return; /* one rank never waits for another */
    }
    board.n = n;
    board.snap = cv_calloc((size_t)words, sizeof *board.snap);
    board.seen = cv_calloc((size_t)n, sizeof *board.seen);
    board.seen_at = cv_calloc((size_t)n, sizeof *board.seen_at);
    int ok = board.snap && board.seen && board.seen_at, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Aint size = board.rank == 0 ? (MPI_Aint)bytes : 0;
    if (!all_ok || MPI_Win_allocate(size, sizeof(uint64_t), MPI_INFO_NULL, MPI_COMM_WORLD,
                                    &board.base, &board.win) != MPI_SUCCESS) {
        cv_free(board.snap);
        cv_free(board.seen);
        cv_free(board.seen_at);
        board.base = NULL;
        return; /* collectives then wait without a deadline */
    }
    if (board.rank == 0) {
        memset(board.base, 0, (size_t)bytes);
        for (int r = 0; r < n; r++) {
            board.base[(size_t)r * SLOT_WORDS + SLOT_TASK] = UINT64_MAX;
        }
    }
    MPI_Barrier(MPI_COMM_WORLD); /* the board is set before anyone writes to it */
    MPI_Win_lock_all(MPI_MODE_NOCHECK, board.win);
    board.open = true;
}

void cv_coll__close(void)
{
    if (!board.open) {
        return;
    }
    /* MPI_Finalize waits for every rank without a deadline: meet here first. */
    cv_coll_barrier("the end of the job");
    board.open = false;
    MPI_Win_unlock_all(board.win);
    MPI_Win_free(&board.win);
    cv_free(board.snap);
    cv_free(board.seen);
    cv_free(board.seen_at);
    board.base = NULL;
}

/* The first 2 ms a yield (an answer on its way costs no sleep), then naps of a quarter of
 * the time waited so far, up to 1 ms: a short wait ends as soon as its answer comes, a long
 * one wakes rarely, and a waiting rank takes next to no CPU from the ranks still working on
 * the same cores. Exchange rounds wait this long at each step of their lock step: with naps
 * from 200 us on, the overshoot of a nap cost them a sixth of their time (docs/performance.md). */
static void nap(double waited)
{
    if (waited < 0.002) {
        sched_yield();
        return;
    }
    long ns = (long)(waited * 0.25e9);
    struct timespec ts = {0, ns > 1000000L ? 1000000L : ns};
    nanosleep(&ts, NULL);
}

static void read_board(void)
{
    int words = board.n * SLOT_WORDS;
    MPI_Get(board.snap, words, MPI_UINT64_T, 0, 0, words, MPI_UINT64_T, board.win);
    MPI_Win_flush(0, board.win);
    memcpy(board.snap + (size_t)board.rank * SLOT_WORDS, board.mine, sizeof board.mine);
}

/* "task 17, exchange round 3" from a rank's slot. */
static void describe(const uint64_t *s, char *buf, size_t cap)
{
    char phase[sizeof(uint64_t) * 8 + 1];
    memcpy(phase, &s[SLOT_PHASE], sizeof phase - 1);
    phase[sizeof phase - 1] = '\0';
    if (s[SLOT_TASK] != UINT64_MAX) {
        snprintf(buf, cap, "task %llu, %s", (unsigned long long)s[SLOT_TASK],
                 *phase ? phase : "starting");
    } else {
        snprintf(buf, cap, "%s", *phase ? phase : "starting");
    }
}

/* snprintf at the end of buf, truncating. */
static void append(char *buf, size_t cap, const char *fmt, ...) CV_PRINTF(3, 4);
static void append(char *buf, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

static void abort_job(const char *what, double waited, const int *stuck, int n_stuck, int n_inside)
{
    enum { SHOWN = 8 };
    char names[256] = "", last[1024] = "", mine[128], where[64] = "";
    for (int i = 0; i < n_stuck && i < SHOWN; i++) {
        char d[128];
        describe(board.snap + (size_t)stuck[i] * SLOT_WORDS, d, sizeof d);
        append(names, sizeof names, "%s%d", i ? ", " : "", stuck[i]);
        if (n_stuck == 1) {
            append(last, sizeof last, "%s", d);
        } else {
            append(last, sizeof last, "%srank %d: %s", i ? "; " : "", stuck[i], d);
        }
    }
    if (n_stuck > SHOWN) {
        append(names, sizeof names, " and %d more", n_stuck - SHOWN);
    }
    uint64_t me[SLOT_WORDS];
    memcpy(me, board.mine, sizeof me);
    me[SLOT_TASK] = UINT64_MAX; /* our own phase says where we wait */
    describe(me, mine, sizeof mine);
    if (*job) {
        snprintf(where, sizeof where, "%s: ", job);
    }
    if (n_stuck == 0) {
        fprintf(stderr,
                "cvmpi: %severy rank reached %s (%s) but it has not completed after %.0f s; "
                "aborting (--collective-timeout %g): %s\n",
                where, what, mine, waited, timeout_s, hint);
    } else {
        fprintf(stderr,
                "cvmpi: %srank%s %s %s %s %s (%s) after %.0f s (last: %s); aborting "
                "(--collective-timeout %g): %s\n",
                where, n_stuck > 1 ? "s" : "", names, n_stuck > 1 ? "have" : "has",
                n_inside == 0         ? "not reached"
                : n_inside == n_stuck ? "stopped responding in"
                                      : "not reached or stopped responding in",
                what, mine, waited, last, timeout_s, hint);
    }
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

/* Reads the board; aborts the job when the ranks that have not reached collective `seq` have
 * shown no progress for the deadline. The lowest rank that has arrived speaks; the others
 * wait a little longer, in case it cannot. */
static void check(uint64_t seq, const char *what, double start, double now, bool first)
{
    publish(); /* a heartbeat: this rank waits, it is not stopped */
    read_board();
    enum { MAX_NAMED = 64 };
    int stuck[MAX_NAMED];
    int n_stuck = 0, n_missing = 0, n_inside = 0, speaker = -1;
    for (int r = 0; r < board.n; r++) {
        const uint64_t *s = board.snap + (size_t)r * SLOT_WORDS;
        if (first || s[SLOT_BEATS] != board.seen[r]) {
            board.seen_at[r] = first ? start : now;
            board.seen[r] = s[SLOT_BEATS];
        }
        bool arrived = s[SLOT_ENTERED] >= seq, idle = now - board.seen_at[r] >= timeout_s;
        n_missing += !arrived;
        if (arrived && !idle) {
            speaker = speaker < 0 ? r : speaker;
        }
        /* Not arrived and no progress, or arrived but no heartbeat (stopped inside). */
        if (idle && r != board.rank) {
            if (n_stuck < MAX_NAMED) {
                stuck[n_stuck] = r;
            }
            n_stuck++;
            n_inside += arrived;
        }
    }
    double grace = speaker == board.rank ? 0 : timeout_s / 2 + 2;
    for (int i = 0; i < n_stuck && i < MAX_NAMED; i++) {
        if (now - board.seen_at[stuck[i]] < timeout_s + grace) {
            return;
        }
    }
    if (n_stuck > 0) {
        abort_job(what, now - start, stuck, n_stuck, n_inside);
    }
    /* Everyone arrived and is alive, yet it does not complete. */
    if (n_missing == 0 && now - start >= 2 * timeout_s + grace) {
        abort_job(what, now - start, NULL, 0, 0);
    }
}

/* Enter a collective on the board (its sequence number) and note when. */
static void enter(cv_coll_pending *p)
{
    p->seq = ++board.mine[SLOT_ENTERED];
    publish();
    p->start = cv_now();
}

/* Wait for a collective entered with enter(), under the deadline. */
static int finish(cv_coll_pending *p, const char *what)
{
    double every = timeout_s / 4 < 1 ? (timeout_s / 4 > 0.05 ? timeout_s / 4 : 0.05) : 1;
    double next_check = cv_now() + every;
    bool first = true;
    int rc, done = 0;
    for (;;) {
        rc = MPI_Test(&p->req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done) {
            break;
        }
        double now = cv_now();
        if (timeout_s > 0 && now >= next_check) {
            check(p->seq, what, p->start, now, first);
            first = false;
            next_check = now + every;
        }
        nap(now - p->start);
    }
    board.mine[SLOT_LEFT] = p->seq;
    publish();
    return rc;
}

static int wait_for(int started, MPI_Request *req, const char *what)
{
    if (started != MPI_SUCCESS) {
        return started;
    }
    if (!board.open) {
        return MPI_Wait(req, MPI_STATUS_IGNORE);
    }
    cv_coll_pending p = {.req = *req};
    enter(&p);
    return finish(&p, what);
}

int cv_coll_iallreduce(const void *in, void *out, int n, MPI_Datatype type, MPI_Op op,
                       cv_coll_pending *p)
{
    memset(p, 0, sizeof *p);
    p->req = MPI_REQUEST_NULL;
    if (!cv_mpi_active()) {
        p->rc = cv_coll__single(in, 0, n, type, out, 0, type);
        return p->rc;
    }
    p->rc = MPI_Iallreduce(in, out, n, type, op, MPI_COMM_WORLD, &p->req);
    p->active = p->rc == MPI_SUCCESS;
    if (p->active && board.open) {
        enter(p);
    }
    return p->rc;
}

int cv_coll_finish(cv_coll_pending *p, const char *what)
{
    if (!p->active) {
        return p->rc;
    }
    p->active = false;
    return board.open ? finish(p, what) : MPI_Wait(&p->req, MPI_STATUS_IGNORE);
}

int cv_coll_barrier(const char *what)
{
    if (!cv_mpi_active()) {
        return MPI_SUCCESS;
    }
    MPI_Request req;
    return wait_for(MPI_Ibarrier(MPI_COMM_WORLD, &req), &req, what);
}

int cv_coll_allreduce(const void *in, void *out, int n, MPI_Datatype type, MPI_Op op,
                      const char *what)
{
    if (!cv_mpi_active()) {
        return cv_coll__single(in, 0, n, type, out, 0, type);
    }
    MPI_Request req;
    return wait_for(MPI_Iallreduce(in, out, n, type, op, MPI_COMM_WORLD, &req), &req, what);
}

int cv_coll_reduce(const void *in, void *out, int n, MPI_Datatype type, MPI_Op op, int root,
                   const char *what)
{
    if (!cv_mpi_active()) {
        return cv_coll__single(in, 0, n, type, out, 0, type);
    }
    MPI_Request req;
    return wait_for(MPI_Ireduce(in, out, n, type, op, root, MPI_COMM_WORLD, &req), &req, what);
}

int cv_coll_bcast(void *buf, int n, MPI_Datatype type, int root, const char *what)
{
    if (!cv_mpi_active()) {
        return MPI_SUCCESS;
    }
    MPI_Request req;
    return wait_for(MPI_Ibcast(buf, n, type, root, MPI_COMM_WORLD, &req), &req, what);
}

int cv_coll_gather(const void *in, int n_in, MPI_Datatype in_type, void *out, int n_out,
                   MPI_Datatype out_type, int root, const char *what)
{
    if (!cv_mpi_active()) {
        return cv_coll__single(in, 0, n_in, in_type, out, 0, out_type);
    }
    MPI_Request req;
    return wait_for(
        MPI_Igather(in, n_in, in_type, out, n_out, out_type, root, MPI_COMM_WORLD, &req), &req,
        what);
}

int cv_coll_gatherv(const void *in, int n_in, MPI_Datatype in_type, void *out, const int *counts,
                    const int *displs, MPI_Datatype out_type, int root, const char *what)
{
    if (!cv_mpi_active()) {
        return cv_coll__single(in, 0, n_in, in_type, out, displs[0], out_type);
    }
    MPI_Request req;
    return wait_for(
        MPI_Igatherv(in, n_in, in_type, out, counts, displs, out_type, root, MPI_COMM_WORLD, &req),
        &req, what);
}

int cv_coll_alltoall(const void *in, int n_in, MPI_Datatype in_type, void *out, int n_out,
                     MPI_Datatype out_type, const char *what)
{
    if (!cv_mpi_active()) {
        return cv_coll__single(in, 0, n_in, in_type, out, 0, out_type);
    }
    MPI_Request req;
    return wait_for(MPI_Ialltoall(in, n_in, in_type, out, n_out, out_type, MPI_COMM_WORLD, &req),
                    &req, what);
}

int cv_coll_alltoallv(const void *in, const int *in_counts, const int *in_displs,
                      MPI_Datatype in_type, void *out, const int *out_counts, const int *out_displs,
                      MPI_Datatype out_type, const char *what)
{
    if (!cv_mpi_active()) {
        return cv_coll__single(in, in_displs[0], in_counts[0], in_type, out, out_displs[0],
                               out_type);
    }
    MPI_Request req;
    return wait_for(MPI_Ialltoallv(in, in_counts, in_displs, in_type, out, out_counts, out_displs,
                                   out_type, MPI_COMM_WORLD, &req),
                    &req, what);
}

/* ---- point-to-point waits -------------------------------------------------------------------- */

static bool slot_waits(const uint64_t *s)
{
    return s[SLOT_ENTERED] != s[SLOT_LEFT] || s[SLOT_P2P] != 0;
}

/* The deadline of a point-to-point wait: the peers of the requests still open are the ranks
 * this one waits for. One of them showing no progress for the deadline is named (a rank that
 * waits itself beats, so it is not); the lowest waiting rank speaks first, the others a little
 * later. All of them alive and waiting for twice the deadline: nothing will come. */
static void check_peers(int n, const MPI_Request *reqs, const int *peers, const char *what,
                        double start, double now, bool first)
{
    publish();
    read_board();
    enum { MAX_NAMED = 64 };
    int stuck[MAX_NAMED];
    int n_stuck = 0, n_inside = 0, n_alive_waiting = 0, n_open = 0, speaker = -1;
    for (int r = 0; r < board.n; r++) {
        const uint64_t *s = board.snap + (size_t)r * SLOT_WORDS;
        if (first || s[SLOT_BEATS] != board.seen[r]) {
            board.seen_at[r] = first ? start : now;
            board.seen[r] = s[SLOT_BEATS];
        }
        if (speaker < 0 && slot_waits(s) && now - board.seen_at[r] < timeout_s) {
            speaker = r;
        }
    }
    bool *counted = cv_calloc((size_t)board.n, sizeof *counted); /* once a second: cheap */
    for (int i = 0; i < n; i++) {
        int p = peers[i];
        if (reqs[i] == MPI_REQUEST_NULL || p < 0 || p >= board.n || p == board.rank ||
            (counted && counted[p])) {
            continue; /* a peer of several requests is counted once */
        }
        if (counted) {
            counted[p] = true;
        }
        n_open++;
        const uint64_t *s = board.snap + (size_t)p * SLOT_WORDS;
        if (now - board.seen_at[p] >= timeout_s) {
            if (n_stuck < MAX_NAMED) {
                stuck[n_stuck] = p;
            }
            n_stuck++;
            n_inside += slot_waits(s);
        } else {
            n_alive_waiting += slot_waits(s);
        }
    }
    cv_free(counted);
    double grace = speaker == board.rank ? 0 : timeout_s / 2 + 2;
    for (int i = 0; i < n_stuck && i < MAX_NAMED; i++) {
        if (now - board.seen_at[stuck[i]] < timeout_s + grace) {
            return;
        }
    }
    if (n_stuck > 0) {
        abort_job(what, now - start, stuck, n_stuck, n_inside);
    }
    if (n_open > 0 && n_alive_waiting == n_open && now - start >= 2 * timeout_s + grace) {
        abort_job(what, now - start, NULL, 0, 0);
    }
}

int cv_coll_waitsome(int n, MPI_Request *reqs, const int *peers, int *outcount, int *indices,
                     MPI_Status *statuses, const char *what)
{
    if (!board.open) {
        return MPI_Waitsome(n, reqs, outcount, indices, statuses);
    }
    /* Published with the first heartbeat (after about a second), not now: a put to rank 0's
     * window may wait until rank 0 enters MPI, which would hold up every short wait. */
    board.mine[SLOT_P2P] = 1;
    double start = cv_now();
    double every = timeout_s / 4 < 1 ? (timeout_s / 4 > 0.05 ? timeout_s / 4 : 0.05) : 1;
    double next_check = start + every;
    bool first = true;
    int rc;
    for (;;) {
        rc = MPI_Testsome(n, reqs, outcount, indices, statuses);
        if (rc != MPI_SUCCESS || *outcount != 0) {
            break; /* some completed, or none was open (MPI_UNDEFINED) */
        }
        double now = cv_now();
        if (timeout_s > 0 && now >= next_check) {
            check_peers(n, reqs, peers, what, start, now, first);
            first = false;
            next_check = now + every;
        }
        nap(now - start);
    }
    board.mine[SLOT_P2P] = 0;
    if (!first) {
        publish(); /* the flag went out with a heartbeat: take it back */
    }
    return rc;
}

int cv_coll_waitall(int n, MPI_Request *reqs, const int *peers, const char *what)
{
    enum { BATCH = 64 }; /* keeps MPI_Waitsome's indices and statuses on the stack */
    int idx[BATCH], done = 0;
    MPI_Status st[BATCH];
    for (int base = 0; base < n;) {
        if (reqs[base] == MPI_REQUEST_NULL) {
            base++; /* completed requests are set to MPI_REQUEST_NULL */
            continue;
        }
        int k = n - base < BATCH ? n - base : BATCH;
        int rc = cv_coll_waitsome(k, reqs + base, peers + base, &done, idx, st, what);
        if (rc != MPI_SUCCESS) {
            return rc;
        }
    }
    return MPI_SUCCESS;
}
