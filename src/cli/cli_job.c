/* SPDX-License-Identifier: BSD-3-Clause
 * cli_job.c: what the commands that run through the MPI driver share: the job's name for the
 * collective deadline, --ranks of a plan, the pyramid after a job, and the box progress bar
 * of `read`/`write`. Kept apart from cli.c, which the front (main_front.c) also links. */
#include "cli/cli.h"

#include "mpi/cv_mpi.h"
#include "mpi/cv_progress.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The progress of `read`/`write` (see cli_box_progress_start). */
static struct {
    const char *what;
    bool tty, drawn;
    double start, last;
    size_t before, total; /* cli_box_progress_part */
    size_t shown;         /* the count last drawn */
    pthread_mutex_t lock;
} box_progress = {.lock = PTHREAD_MUTEX_INITIALIZER};

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Called by the chunk workers: a bar once the box has taken a second (at once with
 * --progress), redrawn every half second. The last chunk's call waits for a worker drawing an
 * earlier count, so the bar always ends at N/N; a count below one drawn is never drawn. */
static void draw_box_progress(size_t done, size_t total)
{
    size_t all = box_progress.total ? box_progress.total : total;
    size_t now_done = box_progress.total ? done + box_progress.before : done;
    if (now_done == all) {
        pthread_mutex_lock(&box_progress.lock);
    } else if (pthread_mutex_trylock(&box_progress.lock) != 0) {
        return; /* another worker is drawing */
    }
    done = now_done;
    total = all;
    /* --progress/--no-progress are parsed after the hook is set: look at them here */
    int forced = cv_progress_forced();
    bool wanted = forced == 1 || (forced < 0 && box_progress.tty);
    double now = seconds_now(), elapsed = now - box_progress.start;
    if (wanted && (forced == 1 || elapsed >= 1.0) &&
        (done >= box_progress.shown || !box_progress.drawn) &&
        (done == total || now - box_progress.last >= 0.5 || !box_progress.drawn)) {
        char bar[31];
        double frac = total ? (double)done / (double)total : 1;
        for (int i = 0; i < 30; i++) {
            bar[i] = i < (int)(frac * 30) ? '#' : '.';
        }
        bar[30] = '\0';
        long eta = done ? (long)(elapsed * (double)(total - done) / (double)done) : 0;
        fprintf(stderr, "\r%s [%s] %zu/%zu chunks %5.1f%% ETA %ld:%02ld:%02ld ", box_progress.what,
                bar, done, total, frac * 100, eta / 3600, eta / 60 % 60, eta % 60);
        fflush(stderr);
        box_progress.drawn = true;
        box_progress.last = now;
        box_progress.shown = done;
    }
    pthread_mutex_unlock(&box_progress.lock);
}

void cli_box_progress_start(const char *what)
{
    if (!cli_shows_box_progress(what)) {
        return;
    }
    box_progress.what = what;
    box_progress.tty = isatty(STDERR_FILENO);
    box_progress.start = seconds_now();
    cv__set_progress(draw_box_progress);
}

void cli_box_progress_part(size_t before, size_t total)
{
    box_progress.before = before;
    box_progress.total = total;
}

void cli_box_progress_end(void)
{
    cv__set_progress(NULL);
    box_progress.before = box_progress.total = box_progress.shown = 0;
    if (box_progress.drawn) {
        fputc('\n', stderr);
        box_progress.drawn = false;
    }
}

/* The job's name and what to do after it is aborted, for the collective deadline's message. */
void cli_name_job(const char *cmd, const struct option *longopts, bool from_file)
{
    bool resumable = false;
    for (size_t k = 0; longopts[k].name; k++) {
        resumable = resumable || strcmp(longopts[k].name, "resume") == 0;
    }
    cv_mpi_set_job(cmd, !resumable
                            ? (from_file ? "run the job again" : "run the same command again")
                        : from_file ? "run the job again with \"resume\": true in its options"
                                    : "run the same command with --resume");
}

bool cli_check_plan_ranks(const char *cmd, int ranks, bool dry_run)
{
    if (ranks > 0 && !dry_run) {
        cli_usage(cmd, "--ranks N plans for N ranks: it needs --dry-run");
        return false;
    }
    if (ranks > 0) {
        cv_mpi_plan_for(ranks);
    }
    return true;
}

cv_status cli_downsample_check(const cv_info *planned, void *arg)
{
    cv_downsample_params *d = arg;
    d->method = -1;
    d->plan_info = planned;
    d->check_only = true;
    cv_status rc = cv_mpi_downsample(d);
    d->check_only = false;
    d->plan_info = NULL;
    return rc;
}

cv_status cli_downsample_after(cv_downsample_params *d, const char *job_journal_dir)
{
    char dir[4096];
    d->method = -1;
    if (job_journal_dir) {
        snprintf(dir, sizeof dir, "%s/downsample", job_journal_dir);
        d->journal_dir = dir;
    }
    cv_status rc = cv_mpi_downsample(d);
    d->journal_dir = NULL; /* `dir` ends here */
    return rc;
}
