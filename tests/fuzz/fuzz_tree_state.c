/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_tree_state.c: the downsample tree's state files (mpi/cv_tree_state.h) from untrusted
 * bytes: the input is written as a state file, scanned, every record read back, then opened
 * for appending (which cuts a torn or garbage tail) and appended to. Invariants: scanning never
 * fails on a readable file; a record lies within the file; reading one gives CV_OK or
 * CV_ERR_CORRUPT; opening keeps exactly the scanned records and the file ends where the last
 * one does; a record appended after them scans back as the last, whole. */
#include "fuzz_common.h"
#include "mpi/cv_tree_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[64];

static void write_file(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz-tree-state-%d", (int)getpid());
    }
    FILE *f = fopen(path, "wb");
    FUZZ_ASSERT(f != NULL);
    FUZZ_ASSERT(fwrite(data, 1, size, f) == size);
    FUZZ_ASSERT(fclose(f) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_file(data, size);
    cv_state_rec *recs = NULL;
    size_t n = 0, cap = 0;
    FUZZ_ASSERT(cv_state_scan(path, 3, &recs, &n, &cap) == CV_OK);
    uint64_t end = 0;
    int fd = open(path, O_RDONLY);
    FUZZ_ASSERT(fd >= 0);
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(recs[i].file == 3);
        FUZZ_ASSERT(recs[i].offset == end + CV_STATE_HEADER_BYTES);
        FUZZ_ASSERT(recs[i].bytes <= size - recs[i].offset);
        end = recs[i].offset + recs[i].bytes;
        uint8_t *buf = malloc(recs[i].bytes ? (size_t)recs[i].bytes : 1);
        FUZZ_ASSERT(buf != NULL);
        cv_status rc = cv_state_read(fd, path, &recs[i], buf);
        FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT);
        free(buf);
    }
    close(fd);

    cv_state_file *f = NULL;
    FUZZ_ASSERT(cv_state_open(path, false, &f) == CV_OK);
    struct stat st;
    FUZZ_ASSERT(stat(path, &st) == 0 && (uint64_t)st.st_size == end);
    static const uint8_t extra[5] = {1, 2, 3, 4, 5};
    cv_state_rec added;
    FUZZ_ASSERT(cv_state_append(f, 77, extra, sizeof extra, &added) == CV_OK);
    FUZZ_ASSERT(cv_state_close(f) == CV_OK);
    size_t before = n;
    n = 0;
    FUZZ_ASSERT(cv_state_scan(path, 0, &recs, &n, &cap) == CV_OK);
    FUZZ_ASSERT(n == before + 1 && recs[n - 1].idx == 77 && recs[n - 1].bytes == sizeof extra);
    FUZZ_ASSERT(recs[n - 1].offset == end + CV_STATE_HEADER_BYTES);
    uint8_t back[sizeof extra];
    fd = open(path, O_RDONLY);
    FUZZ_ASSERT(fd >= 0 && cv_state_read(fd, path, &recs[n - 1], back) == CV_OK);
    FUZZ_ASSERT(memcmp(back, extra, sizeof extra) == 0);
    close(fd);
    cv_free(recs);
    unlink(path);
    return 0;
}
