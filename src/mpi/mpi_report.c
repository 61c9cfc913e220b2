/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_report.c: the report of a job (see cv_report.h). */
#include "mpi/cv_report.h"

#include "mpi/cv_collective.h"
#include "volume/volume.h"

#include <errno.h>
#include <inttypes.h>
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define N_FIELDS (sizeof(cv_rank_report) / sizeof(double))
#define MAX_FAILURES_LISTED 100

static const char *const names[N_FIELDS] = {
    "tasks_done",     "tasks_skipped",  "tasks_failed",   "voxel_bytes",   "chunks_read",
    "chunks_written", "chunks_deleted", "chunks_missing", "bytes_read",    "bytes_written",
    "requests",       "retries",        "io_seconds",     "codec_seconds", "wall_seconds",
};

static struct {
    cv_buf command_line; /* a JSON list, made before getopt permutes argv */
    time_t start_wall;
    double start;
    char *path, *job, *src, *dst;
    bool have_figures;
    cv_rank_report figures;
    uint64_t tasks_finished, tasks_failed;
    cv_buf failures; /* a JSON list's items, this rank's first MAX_FAILURES_LISTED */
} ctx;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Copies: `cvmpi run` frees the arguments it made before main() writes the report. */
static char *copy(char *old, const char *s)
{
    cv_free(old);
    return s ? cv__strdup(s) : NULL;
}

void cv_report_set_path(const char *path)
{
    ctx.path = copy(ctx.path, path);
}

const char *cv_report_path(void)
{
    return ctx.path;
}

void cv_report_set_args(const char *job, int n, char *const *args)
{
    ctx.job = copy(ctx.job, job);
    ctx.src = copy(ctx.src, n > 0 ? args[n >= 2 ? n - 2 : 0] : NULL);
    ctx.dst = copy(ctx.dst, n > 0 ? args[n - 1] : NULL);
}

void cv_report_set_figures(const cv_rank_report *mine)
{
    ctx.figures = *mine;
    ctx.have_figures = true;
}

void cv_report_count_task(void)
{
    pthread_mutex_lock(&lock);
    ctx.tasks_finished++;
    pthread_mutex_unlock(&lock);
}

/* `s` as a JSON string. */
static void append_json_string(cv_buf *b, const char *s)
{
    cv__buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            snprintf(esc, sizeof esc, "\\%c", *p);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
        } else {
            esc[0] = (char)*p;
            esc[1] = '\0';
        }
        cv__buf_append(b, esc, strlen(esc));
    }
    cv__buf_append(b, "\"", 1);
}

/* Whether `arg` is --secrets (or an abbreviation getopt takes for it), with or without
 * "=VALUE": its value is credentials and never goes into a report. */
static bool is_secrets_option(const char *arg, bool *has_value)
{
    size_t n = strcspn(arg, "=");
    *has_value = arg[n] == '=';
    return n >= 4 && n <= 9 && strncmp(arg, "--secrets", n) == 0;
}

void cv_report_begin(int argc, char **argv)
{
    cv__buf_fini(&ctx.command_line);
    cv__buf_append(&ctx.command_line, "[", 1);
    bool hide_next = false;
    for (int i = 0; i < argc; i++) {
        if (i) {
            cv__buf_append(&ctx.command_line, ", ", 2);
        }
        bool has_value = false;
        if (hide_next) {
            append_json_string(&ctx.command_line, "(hidden)");
            hide_next = false;
        } else if (is_secrets_option(argv[i], &has_value) && has_value) {
            append_json_string(&ctx.command_line, "--secrets=(hidden)");
        } else {
            hide_next = is_secrets_option(argv[i], &has_value);
            append_json_string(&ctx.command_line, argv[i]);
        }
    }
    cv__buf_append(&ctx.command_line, "]", 1);
    ctx.start_wall = time(NULL);
    ctx.start = now();
}

void cv_report_note_failure(uint64_t id, const char *box, const char *why)
{
    pthread_mutex_lock(&lock);
    if (ctx.tasks_failed++ < MAX_FAILURES_LISTED) {
        char head[256];
        snprintf(head, sizeof head,
                 "%s{\"task\": %" PRIu64 ", \"box\": ", ctx.failures.len ? ", " : "", id);
        cv__buf_append(&ctx.failures, head, strlen(head));
        append_json_string(&ctx.failures, box);
        cv__buf_append(&ctx.failures, ", \"cause\": ", 11);
        append_json_string(&ctx.failures, why);
        cv__buf_append(&ctx.failures, "}", 1);
    }
    pthread_mutex_unlock(&lock);
}

static void append_fields(cv_buf *b, const double *v)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        char num[96];
        snprintf(num, sizeof num, "%s\"%s\": %.17g", i ? ", " : "", names[i], v[i]);
        cv__buf_append(b, num, strlen(num));
    }
}

/* This rank's figures: the job's own, else the counters. */
static void my_figures(double seconds, double *v)
{
    cv_rank_report r = ctx.figures;
    if (!ctx.have_figures) {
        cv_volume_stats s;
        cv__volume_stats_closed(&s);
        uint64_t failed = ctx.tasks_failed;
        r = (cv_rank_report){
            .tasks_done = (double)(ctx.tasks_finished > failed ? ctx.tasks_finished - failed : 0),
            .tasks_failed = (double)failed,
            .chunks_read = (double)s.chunks_read,
            .chunks_written = (double)s.chunks_written,
            .chunks_deleted = (double)s.chunks_deleted,
            .chunks_missing = (double)s.chunks_missing,
            .bytes_read = (double)s.bytes_read,
            .bytes_written = (double)s.bytes_written,
            .requests = (double)s.requests,
            .io_seconds = s.io_seconds,
            .codec_seconds = s.codec_seconds,
        };
    }
    r.wall_seconds = seconds;
    memcpy(v, &r, sizeof r);
}

/* This rank's entry of "ranks" after its numbers: error and failed tasks. */
static char *my_text(cv_status rc, size_t *len)
{
    cv_buf b;
    cv__buf_init(&b, 0);
    cv__buf_append(&b, ", \"error\": ", 11);
    if (rc == CV_OK) {
        cv__buf_append(&b, "null", 4);
    } else {
        const cv_err *e = cv_err_last();
        append_json_string(&b, e->what[0] ? e->what : "the job failed (exit status 1)");
    }
    cv__buf_append(&b, ", \"failures\": [", 15);
    if (ctx.failures.len) {
        cv__buf_append(&b, ctx.failures.data, ctx.failures.len);
    }
    cv__buf_append(&b, "]", 1);
    return (char *)cv__buf_take(&b, len);
}

/* Rank 0: the whole document. `texts` holds every rank's my_text, `offsets` where each starts. */
static cv_status write_file(const double *all, const char *texts, const int *lens,
                            const int *offsets, int size, double wall, cv_status rc)
{
    cv_buf b;
    cv__buf_init(&b, 0);
    char line[256];
    cv__buf_append(&b, "{\"job\": ", 8);
    append_json_string(&b, ctx.job ? ctx.job : "");
    cv__buf_append(&b, ",\n \"command_line\": ", 19);
    if (ctx.command_line.len) {
        cv__buf_append(&b, ctx.command_line.data, ctx.command_line.len);
    }
    cv__buf_append(&b, ",\n \"source\": ", 13);
    if (ctx.src) {
        append_json_string(&b, ctx.src);
    } else {
        cv__buf_append(&b, "null", 4);
    }
    cv__buf_append(&b, ", \"destination\": ", 17);
    if (ctx.dst) {
        append_json_string(&b, ctx.dst);
    } else {
        cv__buf_append(&b, "null", 4);
    }
    struct tm tm;
    char start[64];
    gmtime_r(&ctx.start_wall, &tm);
    strftime(start, sizeof start, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(line, sizeof line,
             ",\n \"start_time\": \"%s\", \"wall_seconds\": %.17g, \"n_ranks\": %d, \"status\": "
             "\"%s\",\n \"ranks\": [\n",
             start, wall, size, rc == CV_OK ? "ok" : "failed");
    cv__buf_append(&b, line, strlen(line));
    double total[N_FIELDS] = {0};
    for (int r = 0; r < size; r++) {
        const double *v = all + (size_t)r * N_FIELDS;
        snprintf(line, sizeof line, "  {\"rank\": %d, ", r);
        cv__buf_append(&b, line, strlen(line));
        append_fields(&b, v);
        cv__buf_append(&b, texts + offsets[r], (size_t)lens[r]);
        cv__buf_append(&b, r + 1 < size ? "},\n" : "}\n", r + 1 < size ? 3 : 2);
        for (size_t i = 0; i < N_FIELDS; i++) {
            total[i] += v[i];
        }
    }
    total[N_FIELDS - 1] = wall; /* the job's wall time, not the sum over ranks */
    cv__buf_append(&b, " ], \"total\": {", 14);
    append_fields(&b, total);
    cv__buf_append(&b, "}}\n", 3);
    cv_status st = CV_OK;
    FILE *f = fopen(ctx.path, "w");
    if (!f) {
        st = CV_FAIL(CV_ERR_IO, "write report `%s': %s", ctx.path, strerror(errno));
    } else {
        bool ok = b.data && fwrite(b.data, 1, b.len, f) == b.len;
        if (fclose(f) != 0 || !ok) {
            st = CV_FAIL(CV_ERR_IO, "write report `%s': %s", ctx.path,
                         b.data ? strerror(errno) : "out of memory");
        }
    }
    cv__buf_fini(&b);
    return st;
}

cv_status cv_report_finish(cv_status job_rc)
{
    if (!ctx.path) {
        return CV_OK;
    }
    int size = cv_mpi_size(), rank = cv_mpi_rank();
    double wall = now() - ctx.start, mine[N_FIELDS];
    my_figures(wall, mine);
    size_t my_len;
    char *text = my_text(job_rc, &my_len);
    cv_err saved = *cv_err_last();
    double *all = rank == 0 ? cv_calloc((size_t)size, sizeof mine) : NULL;
    int *lens = rank == 0 ? cv_calloc((size_t)size, 2 * sizeof *lens) : NULL;
    int len = text ? (int)my_len : 0;
    char *texts = NULL;
    if (cv_mpi_active()) {
        cv_coll_allreduce(MPI_IN_PLACE, &wall, 1, MPI_DOUBLE, MPI_MAX, "the job's wall time");
        cv_coll_gather(mine, (int)N_FIELDS, MPI_DOUBLE, all, (int)N_FIELDS, MPI_DOUBLE, 0,
                       "the report's figures");
        cv_coll_gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, "the report's text lengths");
    } else if (rank == 0 && all && lens) {
        memcpy(all, mine, sizeof mine);
        lens[0] = len;
    }
    int *offsets = lens ? lens + size : NULL;
    size_t sum = 0;
    for (int r = 0; offsets && r < size; r++) {
        offsets[r] = (int)sum;
        sum += (size_t)lens[r];
    }
    if (rank == 0 && lens) {
        texts = cv_malloc(sum + 1);
    }
    if (cv_mpi_active()) {
        cv_coll_gatherv(text, len, MPI_CHAR, texts, lens, offsets, MPI_CHAR, 0,
                        "the report's texts");
    } else if (texts && len) {
        memcpy(texts, text, (size_t)len);
    }
    cv_status rc = CV_OK;
    if (rank == 0) {
        rc = all && lens && texts ? write_file(all, texts, lens, offsets, size, wall, job_rc)
                                  : CV_FAIL(CV_ERR_NOMEM, "report `%s'", ctx.path);
    }
    cv_free(all);
    cv_free(lens);
    cv_free(texts);
    cv_free(text);
    rc = cv_mpi_agree(rc);
    if (rc == CV_OK) {
        cv__err_set(&saved); /* the job's own error stays the last one */
    }
    return rc;
}

void cv_report_end(void)
{
    cv__buf_fini(&ctx.failures);
    cv__buf_fini(&ctx.command_line);
    cv_free(ctx.path);
    cv_free(ctx.job);
    cv_free(ctx.src);
    cv_free(ctx.dst);
    ctx.path = ctx.job = ctx.src = ctx.dst = NULL;
}
