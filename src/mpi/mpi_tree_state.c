/* SPDX-License-Identifier: BSD-3-Clause
 * mpi_tree_state.c: record files of the downsample reduction tree (see cv_tree_state.h). */
#include "mpi/cv_tree_state.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libdeflate.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_VERSION 1u

struct cv_state_file {
    int fd;
    char *path;
    uint64_t end; /* bytes of whole records */
};

static uint32_t crc_of(const void *data, size_t n)
{
    return libdeflate_crc32(0, data, n);
}

static void put_header(uint8_t h[CV_STATE_HEADER_BYTES], uint64_t idx, uint64_t bytes,
                       uint32_t data_crc)
{
    uint32_t version = STATE_VERSION;
    memcpy(h, "CVST", 4);
    memcpy(h + 4, &version, 4);
    memcpy(h + 8, &idx, 8);
    memcpy(h + 16, &bytes, 8);
    memcpy(h + 24, &data_crc, 4);
    uint32_t head_crc = crc_of(h, 28);
    memcpy(h + 28, &head_crc, 4);
}

static bool get_header(const uint8_t h[CV_STATE_HEADER_BYTES], cv_state_rec *rec)
{
    uint32_t version, head_crc;
    memcpy(&version, h + 4, 4);
    memcpy(&head_crc, h + 28, 4);
    if (memcmp(h, "CVST", 4) != 0 || version != STATE_VERSION || head_crc != crc_of(h, 28)) {
        return false;
    }
    memcpy(&rec->idx, h + 8, 8);
    memcpy(&rec->bytes, h + 16, 8);
    memcpy(&rec->crc, h + 24, 4);
    return true;
}

static bool pread_all(int fd, void *buf, size_t n, uint64_t at)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = pread(fd, p, n, (off_t)at);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            if (got == 0) {
                errno = EIO;
            }
            return false;
        }
        p += got;
        n -= (size_t)got;
        at += (uint64_t)got;
    }
    return true;
}

static bool write_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t put = write(fd, p, n);
        if (put < 0 && errno == EINTR) {
            continue;
        }
        if (put <= 0) {
            return false;
        }
        p += put;
        n -= (size_t)put;
    }
    return true;
}

/* Walk the headers of an open file; call `each` for every whole record (when not NULL) and
 * return in *end the offset after the last one. A header that is damaged or claims more bytes
 * than the file has ends the walk: it is a record a crash cut short. */
typedef cv_status (*record_fn)(const cv_state_rec *rec, void *arg);

static cv_status walk(int fd, const char *path, uint32_t file, record_fn each, void *arg,
                      uint64_t *end)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return CV_FAIL(CV_ERR_IO, "stat `%s': %s", path, strerror(errno));
    }
    uint64_t size = (uint64_t)st.st_size, at = 0;
    while (size - at >= CV_STATE_HEADER_BYTES) {
        uint8_t h[CV_STATE_HEADER_BYTES];
        cv_state_rec rec = {.file = file};
        if (!pread_all(fd, h, sizeof h, at)) {
            return CV_FAIL(CV_ERR_IO, "read `%s': %s", path, strerror(errno));
        }
        if (!get_header(h, &rec) || rec.bytes > size - at - CV_STATE_HEADER_BYTES) {
            break;
        }
        rec.offset = at + CV_STATE_HEADER_BYTES;
        if (each) {
            CV_TRY(each(&rec, arg));
        }
        at = rec.offset + rec.bytes;
    }
    *end = at;
    return CV_OK;
}

cv_status cv_state_open(const char *path, bool truncate, cv_state_file **out)
{
    *out = NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0666);
    if (fd < 0) {
        return CV_FAIL(CV_ERR_IO, "open `%s': %s", path, strerror(errno));
    }
    uint64_t end = 0;
    cv_status rc = walk(fd, path, 0, NULL, NULL, &end);
    if (rc == CV_OK && ftruncate(fd, (off_t)end) != 0) {
        rc = CV_FAIL(CV_ERR_IO, "cut the torn end of `%s': %s", path, strerror(errno));
    }
    cv_state_file *f = rc == CV_OK ? cv_calloc(1, sizeof *f) : NULL;
    char *copy = f ? cv__strdup(path) : NULL;
    if (rc == CV_OK && !copy) {
        rc = CV_FAIL(CV_ERR_NOMEM, "open `%s'", path);
    }
    if (rc != CV_OK) {
        cv_free(f);
        close(fd);
        return rc;
    }
    f->fd = fd;
    f->path = copy;
    f->end = end;
    *out = f;
    return CV_OK;
}

cv_status cv_state_append(cv_state_file *f, uint64_t idx, const void *data, size_t n,
                          cv_state_rec *rec)
{
    uint8_t h[CV_STATE_HEADER_BYTES];
    uint32_t crc = crc_of(data, n);
    put_header(h, idx, n, crc);
    /* written at the known end: a failed append leaves a torn tail the next one overwrites */
    errno = 0;
    bool ok = pwrite(f->fd, h, sizeof h, (off_t)f->end) == (ssize_t)sizeof h &&
              lseek(f->fd, (off_t)(f->end + sizeof h), SEEK_SET) >= 0 && write_all(f->fd, data, n);
    if (!ok) {
        return CV_FAIL(CV_ERR_IO, "write `%s': %s", f->path,
                       errno ? strerror(errno) : "short write");
    }
    if (rec) {
        *rec = (cv_state_rec){
            .idx = idx, .offset = f->end + CV_STATE_HEADER_BYTES, .bytes = n, .crc = crc};
    }
    f->end += CV_STATE_HEADER_BYTES + (uint64_t)n;
    return CV_OK;
}

cv_status cv_state_read_own(const cv_state_file *f, const cv_state_rec *rec, void *data)
{
    return cv_state_read(f->fd, f->path, rec, data);
}

cv_status cv_state_close(cv_state_file *f)
{
    if (!f) {
        return CV_OK;
    }
    cv_status rc = CV_OK;
    if (fsync(f->fd) != 0 || close(f->fd) != 0) {
        rc = CV_FAIL(CV_ERR_IO, "close `%s': %s", f->path, strerror(errno));
    }
    cv_free(f->path);
    cv_free(f);
    return rc;
}

typedef struct scan_list {
    cv_state_rec **recs;
    size_t *n, *cap;
} scan_list;

static cv_status collect(const cv_state_rec *rec, void *arg)
{
    scan_list *l = arg;
    if (*l->n == *l->cap) {
        size_t cap = *l->cap ? *l->cap * 2 : 64;
        cv_state_rec *grown = cv_realloc(*l->recs, cap * sizeof *grown);
        if (!grown) {
            return CV_FAIL(CV_ERR_NOMEM, "tree state: record list of %zu", cap);
        }
        *l->recs = grown;
        *l->cap = cap;
    }
    (*l->recs)[(*l->n)++] = *rec;
    return CV_OK;
}

cv_status cv_state_scan(const char *path, uint32_t file, cv_state_rec **recs, size_t *n,
                        size_t *cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? CV_OK : CV_FAIL(CV_ERR_IO, "open `%s': %s", path, strerror(errno));
    }
    scan_list l = {recs, n, cap};
    uint64_t end;
    cv_status rc = walk(fd, path, file, collect, &l, &end);
    close(fd);
    return rc;
}

cv_status cv_state_read(int fd, const char *path, const cv_state_rec *rec, void *data)
{
    if (!pread_all(fd, data, (size_t)rec->bytes, rec->offset)) {
        return CV_FAIL(CV_ERR_IO, "read `%s': %s", path, strerror(errno));
    }
    if (crc_of(data, (size_t)rec->bytes) != rec->crc) {
        return CV_FAIL(CV_ERR_CORRUPT,
                       "`%s': the state of node %" PRIu64 " at byte %" PRIu64
                       " fails its checksum (rerun without --resume)",
                       path, rec->idx, rec->offset);
    }
    return CV_OK;
}

cv_status cv_state_note_ranks(const char *dir, int ranks, int *max_ranks)
{
    char path[4400], tmp[4420];
    snprintf(path, sizeof path, "%s/ranks", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int before = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%d", &before) != 1 || before < 0) {
            before = 0;
        }
        fclose(f);
    }
    *max_ranks = before > ranks ? before : ranks;
    f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%d\n", *max_ranks) > 0;
    ok = f && fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return CV_FAIL(CV_ERR_IO, "write `%s': %s", path, strerror(errno));
    }
    return CV_OK;
}

void cv_state_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                char path[4600];
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
            }
        }
        closedir(d);
    }
    rmdir(dir);
}
