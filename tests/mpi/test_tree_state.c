/* SPDX-License-Identifier: BSD-3-Clause
 * test_tree_state.c: the downsample tree's state files and exchange rounds in one process
 * (no MPI), under the leak checker: records land at the offsets the format gives and read back
 * exactly; a record torn by a crash (or garbage) at the end is cut off before appending; a
 * damaged record fails its checksum naming the file and node; the exchange delivers every
 * record exactly once in rounds of one record, and refuses rounds smaller than a record. */
#include "mpi/cv_tree_exchange.h"
#include "testlib.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "%s", "/tmp/cvmpi-tree-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)((i * 131u + seed * 7u) >> 3);
    }
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_records_round_trip(void)
{
    make_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/s0-r0.state", dir);
    static uint8_t data[70000], back[70000];
    fill(data, sizeof data, 1);
    cv_state_file *f = NULL;
    ASSERT_OK(cv_state_open(path, false, &f));
    cv_state_rec r[3];
    ASSERT_OK(cv_state_append(f, 7, data, 0, &r[0]));
    ASSERT_OK(cv_state_append(f, 3, data, 100, &r[1]));
    ASSERT_OK(cv_state_append(f, 9, data, 70000, &r[2]));
    ASSERT_OK(cv_state_close(f));
    /* header 32 bytes before each record's data */
    ASSERT_EQ(r[0].offset, 32);
    ASSERT_EQ(r[1].offset, 64);
    ASSERT_EQ(r[2].offset, 196);
    ASSERT_EQ(file_size(path), 196 + 70000);

    cv_state_rec *recs = NULL;
    size_t n = 0, cap = 0;
    ASSERT_OK(cv_state_scan(path, 5, &recs, &n, &cap));
    ASSERT_EQ(n, 3);
    uint64_t want_idx[3] = {7, 3, 9}, want_bytes[3] = {0, 100, 70000};
    int fd = open(path, O_RDONLY);
    ASSERT_TRUE(fd >= 0);
    for (size_t i = 0; i < 3; i++) {
        ASSERT_EQ(recs[i].idx, want_idx[i]);
        ASSERT_EQ(recs[i].bytes, want_bytes[i]);
        ASSERT_EQ(recs[i].offset, r[i].offset);
        ASSERT_EQ(recs[i].file, 5);
        ASSERT_OK(cv_state_read(fd, path, &recs[i], back));
        ASSERT_MEM_EQ(back, data, (size_t)want_bytes[i]);
    }
    close(fd);
    cv_free(recs);
    recs = NULL;
    cap = 0;
    /* a missing file has no records */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.state", dir);
    n = 0;
    ASSERT_OK(cv_state_scan(missing, 0, &recs, &n, &cap));
    ASSERT_EQ(n, 0);
    cv_free(recs);
    remove_dir();
}

static void test_torn_tail_is_cut(void)
{
    make_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/s1-r2.state", dir);
    uint8_t data[500];
    fill(data, sizeof data, 2);
    cv_state_file *f = NULL;
    ASSERT_OK(cv_state_open(path, false, &f));
    ASSERT_OK(cv_state_append(f, 1, data, 200, NULL));
    ASSERT_OK(cv_state_append(f, 2, data, 300, NULL));
    ASSERT_OK(cv_state_close(f));
    /* a crash cut the second record's data short */
    ASSERT_TRUE(truncate(path, 32 + 200 + 32 + 150) == 0);
    ASSERT_OK(cv_state_open(path, false, &f));
    ASSERT_EQ(file_size(path), 232);
    cv_state_rec r;
    ASSERT_OK(cv_state_append(f, 4, data + 10, 50, &r));
    ASSERT_EQ(r.offset, 264);
    ASSERT_OK(cv_state_close(f));
    /* garbage after the last record (not a header) is cut too */
    FILE *g = fopen(path, "ab");
    ASSERT_TRUE(g != NULL);
    fputs("this is not a record header, 32+ bytes of it", g);
    fclose(g);
    ASSERT_OK(cv_state_open(path, false, &f));
    ASSERT_EQ(file_size(path), 314);
    ASSERT_OK(cv_state_close(f));

    cv_state_rec *recs = NULL;
    size_t n = 0, cap = 0;
    ASSERT_OK(cv_state_scan(path, 0, &recs, &n, &cap));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(recs[0].idx, 1);
    ASSERT_EQ(recs[1].idx, 4);
    ASSERT_EQ(recs[1].bytes, 50);
    cv_free(recs);
    /* truncate = true starts empty */
    ASSERT_OK(cv_state_open(path, true, &f));
    ASSERT_EQ(file_size(path), 0);
    ASSERT_OK(cv_state_close(f));
    remove_dir();
}

static void test_damaged_record_fails_checksum(void)
{
    make_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/s0-r1.state", dir);
    uint8_t data[64], back[64];
    fill(data, sizeof data, 3);
    cv_state_file *f = NULL;
    cv_state_rec r;
    ASSERT_OK(cv_state_open(path, false, &f));
    ASSERT_OK(cv_state_append(f, 12, data, sizeof data, &r));
    ASSERT_OK(cv_state_close(f));
    int fd = open(path, O_RDWR);
    ASSERT_TRUE(fd >= 0);
    uint8_t flipped = (uint8_t)(data[5] ^ 0x40);
    ASSERT_TRUE(pwrite(fd, &flipped, 1, (off_t)r.offset + 5) == 1);
    char want[200];
    snprintf(want, sizeof want, "`%s': the state of node 12 at byte 32 fails its checksum", path);
    ASSERT_FAILS(cv_state_read(fd, path, &r, back), CV_ERR_CORRUPT, want);
    /* a damaged header ends the records: nothing is read from it */
    uint8_t bad = 'X';
    ASSERT_TRUE(pwrite(fd, &bad, 1, 0) == 1);
    close(fd);
    cv_state_rec *recs = NULL;
    size_t n = 0, cap = 0;
    ASSERT_OK(cv_state_scan(path, 0, &recs, &n, &cap));
    ASSERT_EQ(n, 0);
    cv_free(recs);
    remove_dir();
}

/* Two files of records, delivered to this (the only) rank in rounds of one record each. */
static void test_exchange_rounds_of_one_record(void)
{
    make_dir();
    char p0[128], p1[128], pin[128];
    snprintf(p0, sizeof p0, "%s/s0-r0.state", dir);
    snprintf(p1, sizeof p1, "%s/s0-r1.state", dir);
    snprintf(pin, sizeof pin, "%s/in1-r0.state", dir);
    static uint8_t data[8][1000];
    cv_state_file *f0 = NULL, *f1 = NULL;
    ASSERT_OK(cv_state_open(p0, false, &f0));
    ASSERT_OK(cv_state_open(p1, false, &f1));
    /* nodes 7..0 alternate between the files, with sizes 300..1000 */
    for (int i = 7; i >= 0; i--) {
        fill(data[i], sizeof data[i], (unsigned)i + 10);
        ASSERT_OK(
            cv_state_append(i % 2 ? f1 : f0, (uint64_t)i, data[i], 300 + 100 * (size_t)i, NULL));
    }
    ASSERT_OK(cv_state_close(f0));
    ASSERT_OK(cv_state_close(f1));
    char *paths[2] = {p0, p1};
    cv_state_rec *recs = NULL;
    size_t n = 0, cap = 0;
    ASSERT_OK(cv_state_scan(p0, 0, &recs, &n, &cap));
    ASSERT_OK(cv_state_scan(p1, 1, &recs, &n, &cap));
    ASSERT_EQ(n, 8);
    cv_tree_send sends[8];
    for (size_t i = 0; i < n; i++) {
        sends[i] = (cv_tree_send){recs[i], 0};
    }
    cv_free(recs);

    cv_state_file *inbox = NULL;
    cv_state_rec *got = NULL;
    size_t n_got = 0;
    ASSERT_OK(cv_state_open(pin, true, &inbox));
    /* a round smaller than one record cannot move it */
    ASSERT_FAILS(cv_tree_exchange(sends, 8, paths, 2, 1000, cv_tree_wire_bytes(1000) - 1, inbox,
                                  &got, &n_got),
                 CV_ERR_ARG, "rounds of 1015 bytes cannot hold a state of 1000");
    ASSERT_OK(
        cv_tree_exchange(sends, 8, paths, 2, 1000, cv_tree_wire_bytes(1000), inbox, &got, &n_got));
    ASSERT_EQ(n_got, 8);
    uint8_t back[1000];
    for (size_t i = 0; i < n_got; i++) {
        ASSERT_EQ(got[i].idx, i);
        ASSERT_EQ(got[i].bytes, 300 + 100 * i);
        ASSERT_OK(cv_state_read_own(inbox, &got[i], back));
        ASSERT_MEM_EQ(back, data[i], (size_t)got[i].bytes);
    }
    ASSERT_EQ(file_size(pin), 8 * 32 + (300 + 1000) * 8 / 2);
    cv_free(got);
    ASSERT_OK(cv_state_close(inbox));
    remove_dir();
}

TEST_MAIN(test_records_round_trip, test_torn_tail_is_cut, test_damaged_record_fails_checksum,
          test_exchange_rounds_of_one_record)
