/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_sched.c: the task scheduler (see cv_sched.h). Without MPI (a plain `cvmpi` run), with
 * one rank or with the static schedule it needs no window.
 *
 * Rank 0's window (uint64 words): the claim counter (its top bit: abort), the finished count,
 * two words per rank, then one word of flags per task. A rank's task word names the task it is
 * on (MPI_Put by its owner alone, for the monitor and for idle ranks watching for stragglers).
 * Its batch word packs the batch's first task, how many the owner has taken and where the
 * batch ends: an idle rank takes the last unstarted task by lowering the end, and the owner,
 * back from a task long enough to have been watched (half the reissue floor), takes its next
 * by raising its count. A task's flags count the copies handed out and say which run finished
 * first. Only fetch-and-op is used (Open MPI 4.1's osc/rdma over shared memory crashes in a
 * compare-and-swap); a batch update that lost a race is undone by the rank that made it.
 * Between short tasks nothing waits for rank 0. */
#include "mpi/cv_sched.h"

#include "mpi/cv_collective.h"
#include "mpi/cv_progress.h"
#include "mpi/cv_report.h"
#include "mpi/cv_transfer.h"

#include <inttypes.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { W_CLAIM, W_FINISHED, W_RANKS };
#define W_TASK(r) (W_RANKS + 2 * (MPI_Aint)(r))
#define W_BATCH(r) (W_RANKS + 2 * (MPI_Aint)(r) + 1)
#define W_FLAGS(s, t) (W_TASK((s)->size) + (MPI_Aint)(t))

#define ABORT_BIT (UINT64_C(1) << 63) /* in the claim counter */
#define COPY_BIT (UINT64_C(1) << 63)  /* task word: a reissued copy */
/* task flags */
#define F_TAKEN 1 /* copies handed out, counted in the low bits */
#define F_TAKEN_MASK 0xffff
#define F_COPY_DONE (UINT64_C(1) << 16)
#define F_OWNER_DONE (UINT64_C(1) << 17)
#define MAX_FLAGGED (UINT64_C(1) << 22) /* tasks with flags (32 MB on rank 0) */
/* batch word: first task << 28 | tasks the owner took << 14 | (batch end + BACK_BIAS) */
#define FIELD_BITS 14
#define FIELD_MASK ((UINT64_C(1) << FIELD_BITS) - 1)
#define BACK_BIAS 4096
#define NONE UINT64_MAX

#define MAX_BATCH 4096         /* fits a batch word field with BACK_BIAS */
#define BATCH_SECONDS 1.0      /* a batch is about this much work, for progress and stragglers */
#define N_SAMPLES 256          /* recent task times kept for the median */
#define POLL_SECONDS 0.05      /* an idle rank's look at the others, at most */
#define POLL_MIN_SECONDS 0.001 /* and at least */
#define FLUSH_SECONDS 0.25     /* finished counts of a rank that does not claim reach rank 0 */
#define PROBE_SECONDS 0.001    /* static: how often to look for an abort message */
#define DEFAULT_FLOOR 10.0     /* seconds before a task can be reissued */
#define ABORT_TAG 1

struct cv_sched {
    uint64_t n_tasks;
    bool is_static, reissue;
    int rank, size;
    uint64_t next_static;
    /* dynamic: the batch [cur, end), the counter as last seen */
    uint64_t cur, end, seen;
    uint64_t batch_start, front; /* the batch's first task, tasks taken as its word says */
    bool exhausted, aborted;
    /* the task last handed out */
    uint64_t task;
    bool task_copy;   /* a reissued copy of rank task_from's task */
    bool check_batch; /* it ran long: others may have taken tasks of the batch */
    int task_from;
    double task_start; /* < 0: none */
    double samples[N_SAMPLES], mean;
    size_t n_samples;
    double floor_seconds;
    /* an idle rank's view of the others: the task word and since when it is unchanged */
    uint64_t *watch_word, *watch_tried; /* and the task of each a copy was last asked for */
    double *watch_since;
    /* finished tasks not yet added on rank 0 (static: when it last probed for an abort) */
    uint64_t pending_done, done_buf;
    double last_flush;
    /* counters for the debug line */
    uint64_t n_rma, n_claims, n_moved, n_copies;
    /* what rank 0's monitor reads without a window */
    uint64_t local_task, local_done_next, local_done_other;
    bool have_win;
    MPI_Win win;
    uint64_t *base;
    uint64_t task_buf, batch_buf; /* origins of words being written */
    /* static: --fail-fast as messages */
    bool have_comm, abort_sent;
    MPI_Comm comm;
    MPI_Request *abort_reqs;
};

static double reissue_floor(void)
{
    const char *v = getenv("CVMPI_REISSUE_AFTER");
    if (!v || !*v) {
        return DEFAULT_FLOOR;
    }
    char *end;
    double f = strtod(v, &end);
    if (*end || !(f > 0) || f > 1e9) {
        CV_LOG(CV_LOG_WARN,
               "CVMPI_REISSUE_AFTER=`%s' is not a positive number of seconds; using %g", v,
               DEFAULT_FLOOR);
        return DEFAULT_FLOOR;
    }
    return f;
}

cv_status cv_sched_open(uint64_t n_tasks, bool is_static, cv_sched **out)
{
    cv_sched *s = cv_calloc(1, sizeof *s);
    if (!s) {
        return CV_FAIL(CV_ERR_NOMEM, "scheduler");
    }
    s->n_tasks = n_tasks;
    s->is_static = is_static;
    s->rank = cv_mpi_rank();
    s->size = cv_mpi_active() ? cv_mpi_size() : 1;
    s->next_static = (uint64_t)s->rank;
    s->task = NONE;
    s->task_start = -1;
    s->local_task = NONE;
    s->floor_seconds = DEFAULT_FLOOR;
    if (s->size > 1 && is_static) {
        s->abort_reqs = cv_calloc((size_t)s->size, sizeof *s->abort_reqs);
        if (!s->abort_reqs || MPI_Comm_dup(MPI_COMM_WORLD, &s->comm) != MPI_SUCCESS) {
            cv_free(s->abort_reqs);
            cv_free(s);
            return CV_FAIL(CV_ERR_MPI, "scheduler: MPI_Comm_dup failed");
        }
        s->have_comm = true;
    } else if (s->size > 1) {
        MPI_Aint slots = W_TASK(s->size) + (MPI_Aint)(n_tasks <= MAX_FLAGGED ? n_tasks : 0);
        MPI_Aint size = s->rank == 0 ? slots * (MPI_Aint)sizeof(uint64_t) : 0;
        s->watch_word = cv_calloc((size_t)s->size, sizeof *s->watch_word);
        s->watch_since = cv_calloc((size_t)s->size, sizeof *s->watch_since);
        s->watch_tried = cv_calloc((size_t)s->size, sizeof *s->watch_tried);
        if (!s->watch_word || !s->watch_since || !s->watch_tried) {
            cv_free(s->watch_tried);
            cv_free(s->watch_word);
            cv_free(s->watch_since);
            cv_free(s);
            return CV_FAIL(CV_ERR_NOMEM, "scheduler");
        }
        for (int r = 0; r < s->size; r++) {
            s->watch_word[r] = NONE;
            s->watch_tried[r] = NONE;
        }
        if (MPI_Win_allocate(size, sizeof(uint64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &s->base,
                             &s->win) != MPI_SUCCESS) {
            cv_free(s->watch_word);
            cv_free(s->watch_since);
            cv_free(s->watch_tried);
            cv_free(s);
            return CV_FAIL(CV_ERR_MPI, "scheduler: MPI_Win_allocate failed");
        }
        if (s->rank == 0) {
            for (MPI_Aint i = 0; i < slots; i++) {
                s->base[i] = 0;
            }
        }
        cv_coll_barrier("the start of the tasks");
        MPI_Win_lock_all(MPI_MODE_NOCHECK, s->win);
        s->have_win = true;
    }
    s->last_flush = cv_now();
    *out = s;
    return CV_OK;
}

void cv_sched_allow_reissue(cv_sched *s)
{
    s->reissue = s->have_win && s->n_tasks <= MAX_FLAGGED;
    s->floor_seconds = reissue_floor();
}

/* ---- one-sided helpers (every one counted for the debug line) ------------------------------ */

static uint64_t rma_fetch(cv_sched *s, MPI_Aint slot, uint64_t value, MPI_Op op)
{
    uint64_t old = 0;
    MPI_Fetch_and_op(&value, &old, MPI_UINT64_T, 0, slot, op, s->win);
    MPI_Win_flush(0, s->win);
    s->n_rma++;
    return old;
}

/* Put without waiting for rank 0, only for the buffer to be free again. */
static void publish_task(cv_sched *s, uint64_t word)
{
    s->task_buf = word;
    MPI_Put(&s->task_buf, 1, MPI_UINT64_T, 0, W_TASK(s->rank), 1, MPI_UINT64_T, s->win);
    MPI_Win_flush_local(0, s->win);
    s->n_rma++;
}

/* At most every FLUSH_SECONDS between claims (rounds of an exchange make none): waits. */
static void send_done_count(cv_sched *s)
{
    if (!s->pending_done) {
        return;
    }
    s->done_buf = s->pending_done;
    s->pending_done = 0;
    MPI_Accumulate(&s->done_buf, 1, MPI_UINT64_T, 0, W_FINISHED, 1, MPI_UINT64_T, MPI_SUM, s->win);
    MPI_Win_flush(0, s->win);
    s->n_rma++;
    s->last_flush = cv_now();
}

static uint64_t batch_word(uint64_t start, uint64_t len)
{
    return start << (2 * FIELD_BITS) | (len + BACK_BIAS);
}

static uint64_t batch_first(uint64_t w)
{
    return w >> (2 * FIELD_BITS);
}

/* Tasks of the batch not taken by idle ranks, counted from its first (0 with no batch). */
static int64_t batch_len(uint64_t w)
{
    return w ? (int64_t)(w & FIELD_MASK) - BACK_BIAS : 0;
}

static uint64_t word_task(uint64_t w)
{
    w &= ~COPY_BIT;
    return w ? w - 1 : NONE;
}

/* ---- batches ------------------------------------------------------------------------------ */

static void note_sample(cv_sched *s, double seconds)
{
    s->samples[s->n_samples % N_SAMPLES] = seconds;
    s->n_samples++;
    s->mean = s->n_samples == 1 ? seconds : 0.9 * s->mean + 0.1 * seconds;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_sample(const cv_sched *s)
{
    size_t n = s->n_samples < N_SAMPLES ? s->n_samples : N_SAMPLES;
    if (!n) {
        return 0;
    }
    double v[N_SAMPLES];
    memcpy(v, s->samples, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* Guided self-scheduling: a share of what is left, at most about BATCH_SECONDS of work; the
 * first claim takes one task to learn how long a task takes. */
static uint64_t batch_size(const cv_sched *s)
{
    if (!s->n_samples) {
        return 1;
    }
    uint64_t remaining = s->seen < s->n_tasks ? s->n_tasks - s->seen : 1;
    uint64_t k = remaining / (2 * (uint64_t)s->size);
    double by_time = s->mean > 0 ? BATCH_SECONDS / s->mean : MAX_BATCH;
    if (by_time < (double)k) {
        k = (uint64_t)by_time;
    }
    return k < 1 ? 1 : k > MAX_BATCH ? MAX_BATCH : k;
}

/* One round trip: this rank's finished count goes with the claim, the abort flag comes back. */
static bool claim(cv_sched *s)
{
    uint64_t k = batch_size(s), add = s->pending_done, old = 0;
    if (add) {
        MPI_Accumulate(&add, 1, MPI_UINT64_T, 0, W_FINISHED, 1, MPI_UINT64_T, MPI_SUM, s->win);
        s->n_rma++;
    }
    MPI_Fetch_and_op(&k, &old, MPI_UINT64_T, 0, W_CLAIM, MPI_SUM, s->win);
    MPI_Win_flush(0, s->win);
    s->pending_done = 0;
    s->last_flush = cv_now();
    s->n_rma++;
    s->n_claims++;
    if (old & ABORT_BIT) {
        s->aborted = true;
        return false;
    }
    if (old >= s->n_tasks) {
        return false;
    }
    s->cur = old;
    s->end = s->n_tasks - old < k ? s->n_tasks : old + k;
    s->seen = old + k;
    if (s->reissue) {
        s->batch_buf = batch_word(old, s->end - old);
        s->batch_start = old;
        s->front = 0;
        MPI_Accumulate(&s->batch_buf, 1, MPI_UINT64_T, 0, W_BATCH(s->rank), 1, MPI_UINT64_T,
                       MPI_REPLACE, s->win);
        MPI_Win_flush(0, s->win);
        s->n_rma++;
    }
    return true;
}

/* After a long task: the next task of the batch, unless idle ranks took the rest (false, with
 * the batch ended). */
static bool advance_checked(cv_sched *s, uint64_t *id)
{
    uint64_t rel = s->cur - s->batch_start;
    uint64_t add = (rel + 1 - s->front) << FIELD_BITS;
    uint64_t old = rma_fetch(s, W_BATCH(s->rank), add, MPI_SUM);
    s->front = rel + 1;
    int64_t len = batch_len(old);
    if ((int64_t)rel >= len) {
        s->cur = s->end;
        return false;
    }
    *id = s->cur++;
    s->end = s->batch_start + (uint64_t)len;
    return true;
}

/* ---- stragglers --------------------------------------------------------------------------- */

static void nap(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Whether rank r, on task t with batch word b, has unstarted tasks in its batch. */
static bool has_unstarted(uint64_t t, uint64_t b)
{
    uint64_t first = batch_first(b);
    int64_t len = batch_len(b);
    return b && t >= first && len > 0 && first + (uint64_t)len > t + 1;
}

/* Take the last unstarted task of rank r's batch, or failing that a copy of the task it is on.
 * The words are as read. */
static bool take_over(cv_sched *s, int r, const uint64_t *words, double age, uint64_t *id)
{
    uint64_t t = word_task(words[0]), b = words[1];
    if (has_unstarted(t, b)) {
        uint64_t old = rma_fetch(s, W_BATCH(r), UINT64_MAX, MPI_SUM); /* end - 1 */
        int64_t len = batch_len(old);
        if (batch_first(old) != batch_first(b) || !has_unstarted(t, old) ||
            (int64_t)((old >> FIELD_BITS) & FIELD_MASK) > len - 1) {
            rma_fetch(s, W_BATCH(r), 1, MPI_SUM); /* lost a race: undo */
            return false;
        }
        *id = batch_first(old) + (uint64_t)len - 1;
        s->n_moved++;
        CV_LOG(CV_LOG_INFO,
               "task %" PRIu64 " moved from rank %d (on task %" PRIu64 " for %.0f s) to rank %d",
               *id, r, t, age, s->rank);
        return true;
    }
    s->watch_tried[r] = t;
    if (rma_fetch(s, W_FLAGS(s, t), F_TAKEN, MPI_SUM) & (F_TAKEN_MASK | F_OWNER_DONE)) {
        return false;
    }
    *id = t;
    s->task_copy = true;
    s->task_from = r;
    s->n_copies++;
    CV_LOG(CV_LOG_WARN,
           "task %" PRIu64 " reissued: rank %d has been on it for %.0f s; rank %d runs it too", t,
           r, age, s->rank);
    return true;
}

/* The counter is exhausted: watch the others until none is on a task that could be taken
 * over; true with a task taken over. */
static bool watch_stragglers(cv_sched *s, uint64_t *id)
{
    MPI_Aint n = 2 * (MPI_Aint)s->size;
    uint64_t *view = cv_malloc((size_t)n * sizeof *view);
    if (!view) {
        return false;
    }
    double median = median_sample(s);
    double deadline = 3 * median > s->floor_seconds ? 3 * median : s->floor_seconds;
    bool got = false;
    double watch_start = cv_now();
    while (!got && !s->aborted && !cv_mpi_terminated()) {
        uint64_t counter = 0, none = 0;
        /* plain reads: a stale batch word only makes a take-over below fail (and be undone) */
        MPI_Fetch_and_op(&none, &counter, MPI_UINT64_T, 0, W_CLAIM, MPI_NO_OP, s->win);
        MPI_Get(view, (int)n, MPI_UINT64_T, 0, W_RANKS, (int)n, MPI_UINT64_T, s->win);
        MPI_Win_flush(0, s->win);
        s->n_rma += 2;
        if (counter & ABORT_BIT) {
            s->aborted = true;
            break;
        }
        double now = cv_now();
        bool busy = false;
        int best = -1;
        double best_age = 0;
        for (int r = 0; r < s->size; r++) {
            const uint64_t *w = &view[2 * r];
            if (r == s->rank || !w[0] || (w[0] & COPY_BIT)) {
                continue; /* idle, or on a copy: nothing to take */
            }
            busy = true;
            if (w[0] != s->watch_word[r]) {
                s->watch_word[r] = w[0];
                s->watch_since[r] = now;
                continue;
            }
            uint64_t t = word_task(w[0]);
            bool can = has_unstarted(t, w[1]) || s->watch_tried[r] != t;
            double age = now - s->watch_since[r];
            if (can && age >= deadline && age > best_age) {
                best = r;
                best_age = age;
            }
        }
        if (best >= 0) {
            got = take_over(s, best, &view[2 * best], best_age, id);
        } else if (!busy) {
            break;
        } else {
            /* every idle rank reads every rank's words: fewer looks when there are many; a
             * quarter of the time watched so far, so that the last task's end is seen soon
             * (the job's end waits for this rank) without looking often on a long wait */
            double most = POLL_SECONDS * (1 + s->size / 32), wait = (now - watch_start) / 4;
            nap(wait < POLL_MIN_SECONDS ? POLL_MIN_SECONDS : wait > most ? most : wait);
        }
    }
    cv_free(view);
    return got;
}

/* ---- the interface ------------------------------------------------------------------------ */

static bool hand_out(cv_sched *s, uint64_t id, uint64_t *out)
{
    *out = id;
    s->task = id;
    s->task_start = cv_now();
    return true;
}

static bool next_static(cv_sched *s, uint64_t *id)
{
    double now = s->have_comm && !s->aborted ? cv_now() : 0;
    if (now - s->last_flush >= PROBE_SECONDS) {
        int flag = 0;
        MPI_Iprobe(MPI_ANY_SOURCE, ABORT_TAG, s->comm, &flag, MPI_STATUS_IGNORE);
        s->aborted = flag != 0;
        s->last_flush = now;
    }
    if (s->aborted || s->next_static >= s->n_tasks) {
        return false;
    }
    hand_out(s, s->next_static, id);
    s->next_static += (uint64_t)s->size;
    return true;
}

bool cv_sched_next(cv_sched *s, uint64_t *id)
{
    s->task_copy = false;
    if (s->is_static) {
        return next_static(s, id);
    }
    if (!s->have_win) {
        if (s->aborted || s->cur >= s->n_tasks) {
            return false;
        }
        return hand_out(s, s->cur++, id);
    }
    if (s->aborted) {
        return false;
    }
    bool checked = s->check_batch;
    s->check_batch = false;
    if (checked && s->cur < s->end) {
        uint64_t t;
        if (advance_checked(s, &t)) {
            return hand_out(s, t, id);
        }
    }
    if (s->cur < s->end) {
        return hand_out(s, s->cur++, id);
    }
    if (!s->exhausted && claim(s)) {
        return hand_out(s, s->cur++, id);
    }
    if (s->aborted) {
        return false;
    }
    /* idle from here (again, after a task taken over) */
    s->exhausted = true;
    publish_task(s, 0);
    send_done_count(s);
    MPI_Win_flush(0, s->win);
    uint64_t t;
    if (s->reissue && !s->aborted && watch_stragglers(s, &t)) {
        hand_out(s, t, id);
        return true;
    }
    return false;
}

/* Test hook: the rank that starts task $CVMPI_TEST_SLOW_TASK becomes slow, every task of its
 * own from then on taking $CVMPI_TEST_SLOW_MS longer. */
static void test_slow(cv_sched *s, uint64_t id)
{
    static int slow = -1;
    const char *task = getenv("CVMPI_TEST_SLOW_TASK"), *ms = getenv("CVMPI_TEST_SLOW_MS");
    if (!task || !ms || s->task_copy) {
        return;
    }
    if (slow < 0 && strtoull(task, NULL, 10) == id) {
        slow = 1;
    }
    if (slow > 0) {
        nap((double)strtol(ms, NULL, 10) / 1000);
    }
}

void cv_sched_working_on(cv_sched *s, uint64_t id)
{
    bool current = id == s->task && s->task_start >= 0;
    cv_coll_task(id);
    if (!s->have_win) {
        __atomic_store_n(&s->local_task, id, __ATOMIC_RELAXED);
    } else if (id != NONE) {
        publish_task(s, (id + 1) | (current && s->task_copy ? COPY_BIT : 0));
    } else if (s->task == NONE || s->task_start < 0) {
        /* A task from cv_sched_next stays named until the next one or the end of the tasks
         * (the job only journals it in between). */
        publish_task(s, 0);
    }
    if (id != NONE && current) {
        test_slow(s, id);
    }
}

uint64_t cv_sched_peek_task(const cv_sched *s, int r)
{
    if (!s->have_win) {
        return r == s->rank ? __atomic_load_n(&s->local_task, __ATOMIC_RELAXED) : NONE;
    }
    return word_task(__atomic_load_n(&s->base[W_TASK(r)], __ATOMIC_RELAXED));
}

uint64_t cv_sched_peek_finished(const cv_sched *s)
{
    if (!s->have_win) {
        /* static: rank 0's share stands for every rank's */
        uint64_t est = __atomic_load_n(&s->local_done_next, __ATOMIC_RELAXED) * (uint64_t)s->size +
                       __atomic_load_n(&s->local_done_other, __ATOMIC_RELAXED);
        return est < s->n_tasks ? est : s->n_tasks;
    }
    return __atomic_load_n(&s->base[W_FINISHED], __ATOMIC_RELAXED);
}

/* A long own task, or a copy: which of the two runs finished first. */
static bool settle(cv_sched *s)
{
    if (s->task_copy) {
        return !(rma_fetch(s, W_FLAGS(s, s->task), F_COPY_DONE, MPI_SUM) & F_OWNER_DONE);
    }
    uint64_t old = rma_fetch(s, W_FLAGS(s, s->task), F_OWNER_DONE, MPI_SUM);
    if ((old & F_TAKEN_MASK) && !(old & F_COPY_DONE)) {
        CV_LOG(CV_LOG_INFO, "task %" PRIu64 " finished here before its reissued copy", s->task);
    }
    return !(old & F_COPY_DONE);
}

bool cv_sched_done(cv_sched *s)
{
    bool first = true, ran = s->task_start >= 0;
    double took = ran ? cv_now() - s->task_start : 0;
    if (ran) {
        note_sample(s, took);
    }
    if (ran && s->reissue && (s->task_copy || took >= s->floor_seconds / 2)) {
        first = settle(s);
        s->check_batch = !s->task_copy;
    }
    s->task_start = -1;
    if (!first) {
        CV_LOG(CV_LOG_INFO, "task %" PRIu64 " was finished first by another rank", s->task);
        return false;
    }
    cv_report_count_task();
    if (!s->have_win) {
        __atomic_add_fetch(ran ? &s->local_done_next : &s->local_done_other, 1, __ATOMIC_RELAXED);
        return true;
    }
    s->pending_done++;
    if (cv_now() - s->last_flush >= FLUSH_SECONDS) {
        send_done_count(s);
    }
    return true;
}

void cv_sched_abort(cv_sched *s)
{
    if (!s->abort_sent && s->have_win) {
        rma_fetch(s, W_CLAIM, ABORT_BIT, MPI_BOR);
    }
    if (!s->abort_sent && s->have_comm) {
        for (int r = 0; r < s->size; r++) {
            s->abort_reqs[r] = MPI_REQUEST_NULL;
            if (r != s->rank) {
                MPI_Isend(NULL, 0, MPI_BYTE, r, ABORT_TAG, s->comm, &s->abort_reqs[r]);
            }
        }
    }
    s->abort_sent = true;
    s->aborted = true;
}

void cv_sched_close(cv_sched *s)
{
    if (!s) {
        return;
    }
    CV_LOG(CV_LOG_DEBUG,
           "scheduler: %" PRIu64 " claims, %" PRIu64 " one-sided operations, %" PRIu64
           " tasks moved here, %" PRIu64 " reissued here",
           s->n_claims, s->n_rma, s->n_moved, s->n_copies);
    if (s->have_win) {
        cv_coll_barrier("the end of the tasks"); /* MPI_Win_free waits without a deadline */
        MPI_Win_unlock_all(s->win);
        MPI_Win_free(&s->win);
    }
    if (s->have_comm) {
        /* Receive every abort message sent to this rank, so none is left in flight. */
        int sent = s->abort_sent, senders = 0;
        MPI_Allreduce(&sent, &senders, 1, MPI_INT, MPI_SUM, s->comm);
        for (int i = 0; i < senders - sent; i++) {
            MPI_Recv(NULL, 0, MPI_BYTE, MPI_ANY_SOURCE, ABORT_TAG, s->comm, MPI_STATUS_IGNORE);
        }
        if (s->abort_sent) {
            MPI_Waitall(s->size, s->abort_reqs, MPI_STATUSES_IGNORE);
        }
        MPI_Comm_free(&s->comm);
    }
    cv_free(s->abort_reqs);
    cv_free(s->watch_word);
    cv_free(s->watch_since);
    cv_free(s->watch_tried);
    cv_free(s);
}
