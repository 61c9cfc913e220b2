/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_journal.c: the resume journal (see cv_journal.h). One file per rank: the line
 * "cvmpi-journal 2 <signature>", then one 30-byte record per finished task,
 * "<task id, 20 decimal digits> <checksum, 8 hex digits>\n". The fixed size and the checksum
 * (FNV-1a of the 20 digits) mean a record cut short by a crash, or a cut record followed by an
 * appended one, can never read as another task's id. */
#include "mpi/cv_journal.h"

#include "mpi/cv_collective.h"
#include "mpi/cv_mpi.h"

#include <mpi.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOURNAL_VERSION "2"
#define ID_DIGITS 20
#define RECORD_BYTES (ID_DIGITS + 1 + 8 + 1)

struct cv_journal {
    int fd;
    char *path;
    uint64_t n_tasks;
    uint8_t *done;          /* bitmap of finished tasks loaded at open */
    uint64_t n_done, n_bad; /* over every rank's files, once loaded */
    int n_files;            /* journal files this rank read (debug log) */
    bool resume;
    char *signature;
};

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    }
    return h;
}

static uint32_t record_checksum(const char *digits)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < ID_DIGITS; i++) {
        h = (h ^ (uint8_t)digits[i]) * 16777619u;
    }
    return h;
}

cv_status cv_journal_dir(const char *journal_dir, const char *dst_url, const char *signature,
                         char *dir, size_t cap)
{
    int n;
    uint64_t id = fnv1a64(signature);
    if (journal_dir) {
        n = snprintf(dir, cap, "%s", journal_dir);
    } else if (strncmp(dst_url, "file://", 7) == 0) {
        n = snprintf(dir, cap, "%s/.cvmpi-journal/%016" PRIx64, dst_url + 7, id);
    } else {
        const char *state = getenv("XDG_STATE_HOME");
        const char *home = getenv("HOME");
        if (state && state[0] == '/') {
            n = snprintf(dir, cap, "%s/cvmpi/journal/%016" PRIx64, state, id);
        } else if (home && home[0] == '/') {
            n = snprintf(dir, cap, "%s/.local/state/cvmpi/journal/%016" PRIx64, home, id);
        } else {
            return CV_FAIL(CV_ERR_ARG,
                           "no place for the journal of a job writing %s: neither "
                           "XDG_STATE_HOME nor HOME is set; pass --journal DIR",
                           dst_url);
        }
    }
    if (n < 0 || (size_t)n >= cap) {
        return CV_FAIL(CV_ERR_ARG, "journal directory name too long");
    }
    return CV_OK;
}

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

/* A whole record, checksum right: its task id. */
static bool parse_record(const char *line, uint64_t *id)
{
    if (strlen(line) != RECORD_BYTES || line[ID_DIGITS] != ' ' || line[RECORD_BYTES - 1] != '\n') {
        return false;
    }
    uint64_t v = 0;
    for (int i = 0; i < ID_DIGITS; i++) {
        if (line[i] < '0' || line[i] > '9' || v > (UINT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(line[i] - '0');
    }
    /* Compared digit by digit: snprintf here was most of the cost of loading a journal. */
    static const char hex[] = "0123456789abcdef";
    uint32_t sum = record_checksum(line);
    for (int i = 0; i < 8; i++) {
        if (line[ID_DIGITS + 1 + i] != hex[(sum >> (28 - 4 * i)) & 0xf]) {
            return false;
        }
    }
    *id = v;
    return true;
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
    snprintf(want, sizeof want, "cvmpi-journal " JOURNAL_VERSION " %s\n", signature);
    if (!fgets(line, sizeof line, f)) {
        /* Empty, or a header cut by a crash: nothing recorded yet. */
    } else if (strcmp(line, want) != 0 && strchr(line, '\n')) {
        rc = CV_FAIL(CV_ERR_ARG,
                     "journal `%s' belongs to another job: remove it, or pass another --journal",
                     path);
    }
    while (rc == CV_OK && fgets(line, sizeof line, f)) {
        uint64_t id;
        if (!parse_record(line, &id) || id >= j->n_tasks) {
            j->n_bad++; /* a record cut short by a crash (or damaged): its task is redone */
            continue;
        }
        j->done[id / 8] |= (uint8_t)(1u << (id % 8));
    }
    fclose(f);
    return rc;
}

bool cv_journal_peek_signature(const char *dir, char *buf, size_t cap)
{
    char *path = cv__asprintf("%s/rank-0.log", dir);
    FILE *f = path ? fopen(path, "r") : NULL;
    cv_free(path);
    if (!f) {
        return false;
    }
    char line[512];
    const char *prefix = "cvmpi-journal " JOURNAL_VERSION " ";
    bool ok = fgets(line, sizeof line, f) && strncmp(line, prefix, strlen(prefix)) == 0 &&
              strchr(line, '\n');
    fclose(f);
    if (ok) {
        *strchr(line, '\n') = '\0';
        snprintf(buf, cap, "%s", line + strlen(prefix));
    }
    return ok;
}

/* The rank number of a journal file name "rank-<r>.log", or -1. */
static long journal_rank_of(const char *name)
{
    if (!is_journal_name(name)) {
        return -1;
    }
    long r = 0;
    const char *s = name + 5;
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '.')) {
        return -1; /* the path is rebuilt from the number, so "rank-01.log" is not rank 1's */
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        if (r > (LONG_MAX - 9) / 10) {
            return -1;
        }
        r = r * 10 + (*s - '0');
    }
    return strcmp(s, ".log") == 0 ? r : -1;
}

static int compare_longs(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* The rank numbers of the journal files in `dir`, ascending (none when it does not exist). */
static cv_status list_journal_ranks(const char *dir, long **out, long *n_out)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) {
        return CV_OK;
    }
    long *list = NULL, n = 0, cap = 0;
    cv_status rc = CV_OK;
    struct dirent *e;
    while (rc == CV_OK && (e = readdir(d)) != NULL) {
        long r = journal_rank_of(e->d_name);
        if (r < 0) {
            continue;
        }
        if (n == cap) {
            long grown = cap ? cap * 2 : 64;
            long *bigger = grown < INT_MAX / (long)sizeof *list
                               ? cv_realloc(list, (size_t)grown * sizeof *list)
                               : NULL;
            if (!bigger) {
                rc = CV_FAIL(CV_ERR_NOMEM, "journal `%s': list of %ld files", dir, n);
                break;
            }
            list = bigger;
            cap = grown;
        }
        list[n++] = r;
    }
    closedir(d);
    if (rc != CV_OK) {
        cv_free(list);
        return rc;
    }
    if (n > 1) {
        qsort(list, (size_t)n, sizeof *list, compare_longs);
    }
    *out = list;
    *n_out = n;
    return CV_OK;
}

/* This rank's share of the files earlier runs left: the file of rank k when k mod `ranks` is
 * `rank`, whatever rank count wrote them. */
static cv_status load_share(cv_journal *j, const char *dir, const char *signature, int rank,
                            int ranks, const long *list, long n)
{
    cv_status rc = CV_OK;
    for (long i = 0; rc == CV_OK && i < n; i++) {
        if (list[i] % ranks != rank) {
            continue;
        }
        char *path = cv__asprintf("%s/rank-%ld.log", dir, list[i]);
        rc = path ? load_file(j, path, signature) : CV_FAIL(CV_ERR_NOMEM, "journal");
        j->n_files++;
        cv_free(path);
    }
    return rc;
}

static uint64_t count_bits(const uint8_t *map, size_t n)
{
    uint64_t bits = 0;
    for (size_t i = 0; i < n; i++) {
        bits += (uint64_t)__builtin_popcount(map[i]);
    }
    return bits;
}

/* Every rank gets the union of the finished tasks and the sum of the damaged records: one
 * bitwise OR of the bitmaps (in pieces whose count fits an int) and one sum. Collective. */
static void merge_ranks(cv_journal *j, size_t map_bytes)
{
    const size_t piece = (size_t)1 << 30;
    for (size_t at = 0; at < map_bytes; at += piece) {
        size_t n = map_bytes - at < piece ? map_bytes - at : piece;
        cv_coll_allreduce(MPI_IN_PLACE, j->done + at, (int)n, MPI_BYTE, MPI_BOR,
                          "the merge of the journals");
    }
    uint64_t bad = j->n_bad;
    cv_coll_allreduce(&bad, &j->n_bad, 1, MPI_UINT64_T, MPI_SUM, "the journals' damaged records");
}

/* Rank 0's list of files to every rank, in pieces through a fixed buffer so that a rank
 * which cannot hold the list still takes part (its failure is agreed afterwards). */
static void share_list(long **list, long *n, int rank, cv_status *rc)
{
    cv_coll_bcast(n, 1, MPI_LONG, 0, "the journal file list");
    if (rank != 0 && *n > 0) {
        *list = cv_malloc((size_t)*n * sizeof **list);
        if (!*list && *rc == CV_OK) {
            *rc = CV_FAIL(CV_ERR_NOMEM, "journal: list of %ld files", *n);
        }
    }
    long piece[1024];
    for (long at = 0; at < *n; at += 1024) {
        int k = (int)(*n - at < 1024 ? *n - at : 1024);
        if (rank == 0) {
            memcpy(piece, *list + at, (size_t)k * sizeof *piece);
        }
        cv_coll_bcast(piece, k, MPI_LONG, 0, "the journal file list");
        if (rank != 0 && *list) {
            memcpy(*list + at, piece, (size_t)k * sizeof *piece);
        }
    }
}

/* Resume in O(own share): with P ranks, rank r reads the files of earlier ranks r, r + P, ...
 * (rank 0 lists the directory once and sends the others the rank numbers found), then the
 * ranks merge what they read; without MPI, one process reads every file. Collective when MPI
 * is active. */
static cv_status load_done(cv_journal *j, const char *dir, const char *signature, int rank,
                           size_t map_bytes, cv_status rc)
{
    bool mpi = cv_mpi_active();
    int ranks = mpi ? cv_mpi_size() : 1;
    long *list = NULL, n = 0;
    if (!mpi || rank == 0) {
        cv_status listed = list_journal_ranks(dir, &list, &n);
        rc = rc == CV_OK ? listed : rc;
    }
    if (mpi) {
        share_list(&list, &n, rank, &rc);
    }
    if (rc == CV_OK) {
        rc = load_share(j, dir, signature, mpi ? rank : 0, ranks, list, n);
    }
    cv_free(list);
    if (mpi) {
        rc = cv_mpi_agree(rc);
        if (rc == CV_OK) {
            merge_ranks(j, map_bytes);
        }
    }
    if (rc == CV_OK) {
        j->n_done = count_bits(j->done, map_bytes);
        CV_LOG(CV_LOG_DEBUG, "journal: read %d of the %ld files in `%s'", j->n_files, n, dir);
    }
    return rc;
}

cv_status cv_journal_open(const char *dir, const char *signature, int rank, bool resume,
                          uint64_t n_tasks, cv_journal **out)
{
    cv_status rc = make_dirs(dir);
    cv_journal *j = cv_calloc(1, sizeof *j);
    size_t map_bytes = (size_t)(n_tasks / 8 + 1);
    if (j) {
        j->fd = -1;
        j->n_tasks = n_tasks;
        j->resume = resume;
        j->done = cv_calloc(map_bytes, 1);
        j->path = cv__asprintf("%s/rank-%d.log", dir, rank);
        j->signature = cv__strdup(signature);
    }
    if (rc == CV_OK && (!j || !j->done || !j->path || !j->signature)) {
        rc = CV_FAIL(CV_ERR_NOMEM, "journal");
    }
    if (resume) {
        /* Every rank takes part in the collectives, even one that already failed. */
        rc = load_done(j, dir, signature, rank, map_bytes, rc);
    }
    if (rc != CV_OK) {
        cv_journal_close(j);
        return rc;
    }
    *out = j;
    return CV_OK;
}

/* Cut the file after its last newline: a record (or header) torn by a crash must not be
 * continued by the next append. */
static cv_status drop_torn_tail(int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return CV_FAIL(CV_ERR_IO, "stat journal `%s': %s", path, strerror(errno));
    }
    off_t end = st.st_size;
    char block[4096];
    while (end > 0) {
        off_t start = end > (off_t)sizeof block ? end - (off_t)sizeof block : 0;
        ssize_t got = pread(fd, block, (size_t)(end - start), start);
        if (got != end - start) {
            return CV_FAIL(CV_ERR_IO, "read journal `%s': %s", path,
                           got < 0 ? strerror(errno) : "short read");
        }
        ssize_t i = got;
        while (i > 0 && block[i - 1] != '\n') {
            i--;
        }
        if (i > 0) {
            end = start + i;
            break;
        }
        end = start;
    }
    if (end != st.st_size && ftruncate(fd, end) != 0) {
        return CV_FAIL(CV_ERR_IO, "truncate journal `%s': %s", path, strerror(errno));
    }
    return CV_OK;
}

/* The directory entry of a new journal file must survive a crash too. */
static void sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? cv__asprintf("%.*s", (int)(slash - path), path) : cv__strdup(".");
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    cv_free(dir);
}

cv_status cv_journal_start(cv_journal *j)
{
    /* Keep this rank's earlier records on resume; start fresh otherwise. */
    j->fd = open(j->path, O_RDWR | O_CREAT | O_CLOEXEC | (j->resume ? 0 : O_TRUNC), 0666);
    if (j->fd < 0) {
        return CV_FAIL(CV_ERR_IO, "open journal `%s': %s", j->path, strerror(errno));
    }
    CV_TRY(drop_torn_tail(j->fd, j->path));
    off_t size = lseek(j->fd, 0, SEEK_END);
    if (size < 0) {
        return CV_FAIL(CV_ERR_IO, "seek journal `%s': %s", j->path, strerror(errno));
    }
    if (size == 0) {
        char head[400];
        int n = snprintf(head, sizeof head, "cvmpi-journal " JOURNAL_VERSION " %s\n", j->signature);
        if (n < 0 || (size_t)n >= sizeof head) {
            return CV_FAIL(CV_ERR_ARG, "journal `%s': job signature too long", j->path);
        }
        if (write(j->fd, head, (size_t)n) != n || fsync(j->fd) != 0) {
            return CV_FAIL(CV_ERR_IO, "write journal `%s': %s", j->path, strerror(errno));
        }
        sync_parent(j->path);
    }
    return CV_OK;
}

cv_status cv_journal_begin(const char *dir, const char *signature, bool resume, uint64_t n_tasks,
                           cv_journal **out)
{
    *out = NULL;
    if (cv_mpi_rank() == 0 && !resume) {
        cv_journal_remove(dir);
    }
    if (cv_mpi_active()) {
        cv_coll_barrier("the removal of an old journal");
    }
    CV_TRY(cv_mpi_agree(cv_journal_open(dir, signature, cv_mpi_rank(), resume, n_tasks, out)));
    /* Every rank has read its share of the journal before any rank changes its own file. */
    if (cv_mpi_active()) {
        cv_coll_barrier("the reading of every journal");
    }
    return cv_mpi_agree(cv_journal_start(*out));
}

bool cv_journal_is_done(const cv_journal *j, uint64_t id)
{
    return id < j->n_tasks && (j->done[id / 8] & (1u << (id % 8)));
}

uint64_t cv_journal_count_done(const cv_journal *j)
{
    return j->n_done;
}

uint64_t cv_journal_count_bad(const cv_journal *j)
{
    return j->n_bad;
}

cv_status cv_journal_record(cv_journal *j, uint64_t id)
{
    char line[RECORD_BYTES + 1];
    snprintf(line, sizeof line, "%0*" PRIu64 " ", ID_DIGITS, id);
    snprintf(line + ID_DIGITS + 1, 10, "%08" PRIx32 "\n", record_checksum(line));
    /* One write() of a whole record at the end of the file. */
    if (write(j->fd, line, RECORD_BYTES) != RECORD_BYTES) {
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
    const char *slash = strrchr(dir, '/');
    char *parent = slash ? cv__asprintf("%.*s", (int)(slash - dir), dir) : NULL;
    if (parent && cv__str_ends_with(parent, "/.cvmpi-journal")) {
        rmdir(parent); /* only when no other job's journal is left in it */
    }
    cv_free(parent);
}

void cv_journal_end(cv_journal *j, const char *dir, cv_status job_rc, bool keep)
{
    cv_journal_close(j);
    if (job_rc != CV_OK || keep || !dir) {
        return;
    }
    if (cv_mpi_active()) {
        cv_coll_barrier("the removal of the journal");
    }
    if (cv_mpi_rank() == 0) {
        cv_journal_remove(dir);
    }
}
