/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_journal.c: the resume journal (see cv_journal.h). Plain text, one file per rank:
 * "cvmpi-journal 1 <signature>" then one finished task id per line. */
#include "cv_journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cv_journal {
    int fd;
    char *path;
    uint64_t n_tasks;
    uint8_t *done; /* bitmap of finished tasks loaded at open */
    uint64_t n_done;
    bool resume;
    char *signature;
};

static cv_status make_dirs(const char *dir)
{
    char *p = cv__strdup(dir);
    if (!p) {
        return CV_FAIL(CV_ERR_NOMEM, "journal");
    }
    for (char *s = p + 1;; s++) {
        bool end = *s == '\0';
        if (*s == '/' || end) {
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                cv_status rc =
                    CV_FAIL(CV_ERR_IO, "create journal directory `%s': %s", p, strerror(errno));
                cv_free(p);
                return rc;
            }
            if (end) {
                break;
            }
            *s = '/';
        }
    }
    cv_free(p);
    return CV_OK;
}

static bool is_journal_name(const char *name)
{
    return strncmp(name, "rank-", 5) == 0 && cv__str_ends_with(name, ".log");
}

static cv_status load_file(cv_journal *j, const char *path, const char *signature)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return CV_FAIL(CV_ERR_IO, "read journal `%s': %s", path, strerror(errno));
    }
    char line[512];
    cv_status rc = CV_OK;
    char want[400];
    snprintf(want, sizeof want, "cvmpi-journal 1 %s\n", signature);
    if (!fgets(line, sizeof line, f) || strcmp(line, want) != 0) {
        rc = CV_FAIL(CV_ERR_ARG,
                     "journal `%s' belongs to another job: remove it, or pass another --journal",
                     path);
    }
    while (rc == CV_OK && fgets(line, sizeof line, f)) {
        char *end;
        unsigned long long id = strtoull(line, &end, 10);
        if (end == line || *end != '\n') {
            continue; /* a line cut short by a crash */
        }
        if (id < j->n_tasks && !(j->done[id / 8] & (1u << (id % 8)))) {
            j->done[id / 8] |= (uint8_t)(1u << (id % 8));
            j->n_done++;
        }
    }
    fclose(f);
    return rc;
}

cv_status cv_journal_open(const char *dir, const char *signature, int rank, bool resume,
                          uint64_t n_tasks, cv_journal **out)
{
    CV_TRY(make_dirs(dir));
    cv_journal *j = cv_calloc(1, sizeof *j);
    if (!j) {
        return CV_FAIL(CV_ERR_NOMEM, "journal");
    }
    j->fd = -1;
    j->n_tasks = n_tasks;
    j->done = cv_calloc((size_t)(n_tasks / 8 + 1), 1);
    j->path = cv__asprintf("%s/rank-%d.log", dir, rank);
    cv_status rc = j->done && j->path ? CV_OK : CV_FAIL(CV_ERR_NOMEM, "journal");
    if (rc == CV_OK && resume) {
        DIR *d = opendir(dir);
        struct dirent *e;
        while (rc == CV_OK && d && (e = readdir(d)) != NULL) {
            if (!is_journal_name(e->d_name)) {
                continue;
            }
            char *path = cv__asprintf("%s/%s", dir, e->d_name);
            rc = path ? load_file(j, path, signature) : CV_FAIL(CV_ERR_NOMEM, "journal");
            cv_free(path);
        }
        if (d) {
            closedir(d);
        }
    }
    j->resume = resume;
    j->signature = cv__strdup(signature);
    if (rc == CV_OK && !j->signature) {
        rc = CV_FAIL(CV_ERR_NOMEM, "journal");
    }
    if (rc != CV_OK) {
        cv_journal_close(j);
        return rc;
    }
    *out = j;
    return CV_OK;
}

cv_status cv_journal_start(cv_journal *j)
{
    bool resume = j->resume;
    const char *signature = j->signature;
    /* Append on resume (keeping this rank's earlier entries); start fresh otherwise. */
    j->fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (resume ? 0 : O_TRUNC), 0666);
    if (j->fd < 0) {
        return CV_FAIL(CV_ERR_IO, "open journal `%s': %s", j->path, strerror(errno));
    }
    struct stat st;
    if (fstat(j->fd, &st) == 0 && st.st_size == 0) {
        char head[400];
        int n = snprintf(head, sizeof head, "cvmpi-journal 1 %s\n", signature);
        if (write(j->fd, head, (size_t)n) != n) {
            return CV_FAIL(CV_ERR_IO, "write journal `%s': %s", j->path, strerror(errno));
        }
    }
    return CV_OK;
}

bool cv_journal_is_done(const cv_journal *j, uint64_t id)
{
    return id < j->n_tasks && (j->done[id / 8] & (1u << (id % 8)));
}

uint64_t cv_journal_count_done(const cv_journal *j)
{
    return j->n_done;
}

cv_status cv_journal_record(cv_journal *j, uint64_t id)
{
    char line[32];
    int n = snprintf(line, sizeof line, "%" PRIu64 "\n", id);
    /* One write() of a short line with O_APPEND: a crash leaves whole lines or a cut last one. */
    if (write(j->fd, line, (size_t)n) != n) {
        return CV_FAIL(CV_ERR_IO, "write journal `%s': %s", j->path, strerror(errno));
    }
    return CV_OK;
}

void cv_journal_close(cv_journal *j)
{
    if (!j) {
        return;
    }
    if (j->fd >= 0) {
        fsync(j->fd);
        close(j->fd);
    }
    cv_free(j->path);
    cv_free(j->done);
    cv_free(j->signature);
    cv_free(j);
}

void cv_journal_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (is_journal_name(e->d_name)) {
            char *path = cv__asprintf("%s/%s", dir, e->d_name);
            if (path) {
                unlink(path);
            }
            cv_free(path);
        }
    }
    if (d) {
        closedir(d);
    }
    rmdir(dir);
}
