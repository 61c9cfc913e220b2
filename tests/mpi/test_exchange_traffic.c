/* SPDX-License-Identifier: BSD-3-Clause
 * test_exchange_traffic.c: the plan-only parts of the sparse exchange, without MPI: messages
 * cut into parts under MPI's int counts (with small artificial limits), each rank's traffic in
 * a round computed alone agreeing with every other rank's (what r sends to s is what s
 * receives from r, peers sorted and once each), and the round geometry a journal records being
 * read back and re-used (or refused) with another rank count; and a message read from a
 * peer's shared buffer through its notice, with notices that lie refused. */
#define _GNU_SOURCE /* memfd_create */
#include "mpi/cv_exchange_int.h"
#include "testlib.h"

#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static cv_info *make_info_sized(const int64_t chunk[3], int64_t sx, int64_t sy, int64_t sz)
{
    cv_info_params p;
    memset(&p, 0, sizeof p);
    p.type = "image";
    p.dtype = CV_UINT16;
    p.resolution[0] = p.resolution[1] = p.resolution[2] = 8;
    p.size[0] = sx;
    p.size[1] = sy;
    p.size[2] = sz;
    p.voxel_offset[0] = -3;
    p.voxel_offset[1] = 5;
    p.voxel_offset[2] = 7;
    memcpy(p.chunk_size, chunk, sizeof p.chunk_size);
    cv_info *info = NULL;
    return cv_info_create(&p, &info) == CV_OK ? info : NULL;
}

static cv_info *make_info(const int64_t chunk[3])
{
    return make_info_sized(chunk, 100, 90, 50);
}

static cv_exchange *plan(const cv_info *si, const cv_info *di, size_t memory, int ranks)
{
    cv_exchange_params p = {
        .kind = CV_EXCHANGE_RECHUNK,
        .src_info = si,
        .dst_info = di,
        .region = cv_info_bounds(di, 0),
        .memory = memory,
        .threads = 1,
        .ranks = ranks,
    };
    cv_exchange *x = NULL;
    return cv_exchange_plan(&p, &x) == CV_OK ? x : NULL;
}

static void message_parts(void)
{
    ASSERT_EQ(cv__x_parts(0, 1000), (size_t)1);
    ASSERT_EQ(cv__x_parts(1, 1000), (size_t)1);
    ASSERT_EQ(cv__x_parts(1000, 1000), (size_t)1);
    ASSERT_EQ(cv__x_parts(1001, 1000), (size_t)2);
    ASSERT_EQ(cv__x_parts(2500, 1000), (size_t)3);
    ASSERT_EQ(cv__x_part_len(2500, 1000, 0), (size_t)1000);
    ASSERT_EQ(cv__x_part_len(2500, 1000, 2), (size_t)500);
    ASSERT_EQ(cv__x_part_len(2500, 1000, 3), (size_t)0);
    ASSERT_EQ(cv__x_parts(7, 1), (size_t)7);
    /* Every byte in exactly one part, no part over the limit, for awkward sizes and limits. */
    static const size_t limits[] = {1, 3, 7, 1000, 4096};
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
        for (size_t bytes = 0; bytes < 20000; bytes += 997) {
            size_t sum = 0, n = cv__x_parts(bytes, limits[l]);
            for (size_t i = 0; i < n; i++) {
                ASSERT_TRUE(cv__x_part_len(bytes, limits[l], i) <= limits[l]);
                ASSERT_TRUE(i + 1 == n || cv__x_part_len(bytes, limits[l], i) == limits[l]);
                sum += cv__x_part_len(bytes, limits[l], i);
            }
            ASSERT_EQ(sum, bytes);
        }
    }
    /* A 6 GiB message to one peer (over INT_MAX) under the real limit: 6 parts of 1 GiB. */
    size_t big = (size_t)6 << 30;
    ASSERT_EQ(cv__x_parts(big, CV_X_MESSAGE_LIMIT), (size_t)6);
    ASSERT_TRUE(CV_X_MESSAGE_LIMIT <= (size_t)INT_MAX);
    ASSERT_EQ(cv__x_parts(big + 1, CV_X_MESSAGE_LIMIT), (size_t)7);
    ASSERT_EQ(cv__x_part_len(big + 1, CV_X_MESSAGE_LIMIT, 6), (size_t)1);
}

static void traffic_is_symmetric_and_sparse(void)
{
    static const int64_t sc[3] = {32, 32, 16}, dc[3] = {24, 20, 12};
    cv_info *si = make_info(sc), *di = make_info(dc);
    ASSERT_TRUE(si && di);
    static const int rank_counts[] = {1, 2, 3, 5, 7, 16};
    for (size_t k = 0; k < sizeof rank_counts / sizeof rank_counts[0]; k++) {
        int n = rank_counts[k];
        cv_exchange *x = plan(si, di, 3000000, n);
        ASSERT_TRUE(x != NULL);
        size_t *sent = calloc((size_t)n * (size_t)n, sizeof *sent);
        size_t *got = calloc((size_t)n * (size_t)n, sizeof *got);
        int most_peers = 0;
        for (uint64_t r = 0; r < cv_exchange_rounds(x); r++) {
            cv_bbox box = cv_exchange_round_box(x, r);
            memset(sent, 0, (size_t)n * (size_t)n * sizeof *sent);
            memset(got, 0, (size_t)n * (size_t)n * sizeof *got);
            size_t total = 0;
            for (int me = 0; me < n; me++) {
                cv_x_peer *sp = NULL, *rp = NULL;
                int ns = 0, nr = 0;
                ASSERT_OK(cv__x_traffic(x, box, me, &sp, &ns, &rp, &nr));
                for (int i = 0; i < ns; i++) {
                    ASSERT_TRUE(i == 0 || sp[i].rank > sp[i - 1].rank);
                    ASSERT_TRUE(sp[i].bytes > 0);
                    sent[(size_t)me * (size_t)n + (size_t)sp[i].rank] = sp[i].bytes;
                }
                for (int i = 0; i < nr; i++) {
                    ASSERT_TRUE(i == 0 || rp[i].rank > rp[i - 1].rank);
                    got[(size_t)rp[i].rank * (size_t)n + (size_t)me] = rp[i].bytes;
                    total += rp[i].bytes;
                }
                most_peers = ns > most_peers ? ns : most_peers;
                cv_free(sp);
                cv_free(rp);
            }
            ASSERT_MEM_EQ(sent, got, (size_t)n * (size_t)n * sizeof *sent);
            /* Every voxel of the round travels once (plus a 48-byte head per piece). */
            uint64_t voxel_bytes = cv_bbox_voxels(box) * 2;
            ASSERT_TRUE(total >= voxel_bytes && (total - voxel_bytes) % 48 == 0);
        }
        ASSERT_TRUE(most_peers <= n);
        cv_free(sent);
        cv_free(got);
        cv_exchange_free(x);
    }
    /* 1024 ranks on a larger layer: a rank holds the few source and destination chunks of a
     * round its --memory allows, whose pieces reach at most 3x3x3 chunks each, so its peers
     * are a few dozen of the 1023 others in every round, however many ranks there are. */
    cv_info *bs = make_info_sized(sc, 1500, 1500, 400), *bd = make_info_sized(dc, 1500, 1500, 400);
    ASSERT_TRUE(bs && bd);
    cv_exchange *x = plan(bs, bd, 1000000, 1024);
    ASSERT_TRUE(x != NULL);
    int most_s = 0, most_r = 0;
    for (uint64_t r = 0; r < cv_exchange_rounds(x); r += 7) {
        for (int me = 0; me < 1024; me += 97) {
            cv_x_peer *sp = NULL, *rp = NULL;
            int ns = 0, nr = 0;
            ASSERT_OK(cv__x_traffic(x, cv_exchange_round_box(x, r), me, &sp, &ns, &rp, &nr));
            most_s = ns > most_s ? ns : most_s;
            most_r = nr > most_r ? nr : most_r;
            cv_free(sp);
            cv_free(rp);
        }
    }
    ASSERT_TRUE(most_s > 0 && most_s <= 100 && most_r > 0 && most_r <= 100);
    cv_exchange_free(x);
    cv_info_free(bs);
    cv_info_free(bd);
    cv_info_free(si);
    cv_info_free(di);
}

static void journal_geometry_reused(void)
{
    static const int64_t sc[3] = {32, 32, 16}, dc[3] = {24, 20, 12};
    cv_info *si = make_info(sc), *di = make_info(dc);
    ASSERT_TRUE(si && di);
    cv_exchange *x7 = plan(si, di, 3000000, 7), *x2 = plan(si, di, 3000000, 2);
    ASSERT_TRUE(x7 && x2);
    char sig[128];
    cv_exchange_signature(x7, sig, sizeof sig);
    ASSERT_TRUE(strncmp(sig, "rechunk column=", 15) == 0);
    ASSERT_TRUE(strstr(sig, "ranks") == NULL);
    cv_exchange_geometry g, g7;
    cv_exchange_geometry_of(x7, &g7);
    ASSERT_TRUE(cv_exchange_parse_signature(sig, &g));
    ASSERT_MEM_EQ(&g, &g7, sizeof g);
    ASSERT_TRUE(!cv_exchange_parse_signature("rechunk column=96,x rows=2", &g));
    ASSERT_TRUE(!cv_exchange_parse_signature("rechunk column=-96,96 rows=2", &g));
    ASSERT_TRUE(!cv_exchange_parse_signature("task=1,2,3", &g));
    /* 7 ranks' rounds are larger than 2 ranks' and do not fit 2 ranks' budget... */
    ASSERT_TRUE(cv_exchange_rounds(x7) < cv_exchange_rounds(x2));
    ASSERT_FAILS(cv_exchange_use_geometry(x2, &g7), CV_ERR_ARG,
                 "with 2 ranks, more than the 3.00 MB memory budget (resume with more ranks");
    /* ...but 2 ranks' rounds fit 7 ranks: their boxes come back exactly. */
    cv_exchange_geometry g2;
    cv_exchange_geometry_of(x2, &g2);
    ASSERT_OK(cv_exchange_use_geometry(x7, &g2));
    ASSERT_EQ(cv_exchange_rounds(x7), cv_exchange_rounds(x2));
    for (uint64_t r = 0; r < cv_exchange_rounds(x2); r++) {
        cv_bbox a = cv_exchange_round_box(x7, r), b = cv_exchange_round_box(x2, r);
        ASSERT_MEM_EQ(&a, &b, sizeof a);
    }
    /* A geometry that is no multiple of both chunk grids is refused. */
    cv_exchange_geometry bad = {.col = {g2.col[0] + 1, g2.col[1]}, .rows = 1};
    ASSERT_FAILS(cv_exchange_use_geometry(x7, &bad), CV_ERR_ARG, "do not fit these chunk grids");
    cv_exchange_free(x7);
    cv_exchange_free(x2);
    cv_info_free(si);
    cv_info_free(di);
}

/* Destination chunks go round the ranks so that every rank gets its share of each row, plane
 * and grid edge: with 2 ranks a checkerboard whatever the grid's shape (rows of an odd or even
 * number of cells); with 3 ranks and rows of a multiple of 3 cells, the cells at the upper x
 * edge (the smaller ones) spread over every rank, within one of each other. */
static void owners_balanced(void)
{
    static const int64_t sizes[][3] = {{11, 11, 13}, {6, 6, 7}, {9, 4, 5}, {1, 1, 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        cv_grid g;
        memset(&g, 0, sizeof g);
        for (int d = 0; d < 3; d++) {
            g.chunk[d] = 10;
            g.bounds.max[d] = 10 * sizes[i][d] - 3; /* the last cell of each axis smaller */
        }
        int64_t shape[3], c[3];
        cv_grid_shape(&g, shape);
        ASSERT_EQ(shape[0], sizes[i][0]);
        int edge[3] = {0, 0, 0};
        for (c[2] = 0; c[2] < shape[2]; c[2]++) {
            for (c[1] = 0; c[1] < shape[1]; c[1]++) {
                for (c[0] = 0; c[0] < shape[0]; c[0]++) {
                    ASSERT_EQ(cv__x_owner(&g, c, 2), (int)((c[0] + c[1] + c[2]) % 2));
                    ASSERT_EQ(cv__x_owner(&g, c, 1), 0);
                    int o = cv__x_owner(&g, c, 3);
                    ASSERT_TRUE(o >= 0 && o < 3);
                    edge[o] += c[0] == shape[0] - 1;
                }
            }
        }
        if (shape[0] % 3 == 0 && shape[1] * shape[2] >= 3) {
            int lo = edge[0] < edge[1] ? edge[0] : edge[1],
                hi = edge[0] > edge[1] ? edge[0] : edge[1];
            lo = edge[2] < lo ? edge[2] : lo;
            hi = edge[2] > hi ? edge[2] : hi;
            ASSERT_TRUE(hi - lo <= 1);
        }
    }
}

/* A notice from "rank 1" pointing into a memfd of this process: the message is the buffer's
 * bytes, mapped once and re-mapped when the buffer grows; a notice pointing past the buffer,
 * of the wrong length, or at a descriptor that is not there fails naming the rank. */
static void shared_messages(void)
{
    int64_t c64[3] = {64, 64, 64}, c96[3] = {96, 96, 40};
    cv_info *si = make_info(c64), *di = make_info(c96);
    cv_exchange *x = plan(si, di, (size_t)1 << 30, 2);
    ASSERT_TRUE(x != NULL);
    x->shm.known = true; /* as cv__x_shm_setup leaves it with no peer to share with */
    x->shm.fd = -1;
    x->shm.maps = cv_calloc(2, sizeof *x->shm.maps);
    int fd = memfd_create("test-exchange", MFD_CLOEXEC);
    ASSERT_TRUE(fd >= 0 && ftruncate(fd, 4096) == 0);
    uint8_t bytes[4096];
    for (size_t i = 0; i < sizeof bytes; i++) {
        bytes[i] = (uint8_t)(i * 7 + 3);
    }
    ASSERT_EQ(pwrite(fd, bytes, sizeof bytes, 0), (ssize_t)sizeof bytes);
    cv_x_notice n = {.pid = getpid(), .fd = fd, .cap = 4096, .offset = 1000, .len = 500};
    const uint8_t *msg = NULL;
    ASSERT_OK(cv__x_shm_message(x, 1, &n, 500, &msg));
    ASSERT_MEM_EQ(msg, bytes + 1000, 500);
    /* the buffer grows: a notice of the larger size maps it anew */
    ASSERT_TRUE(ftruncate(fd, 8192) == 0);
    uint8_t tail[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
    ASSERT_EQ(pwrite(fd, tail, sizeof tail, 8000), (ssize_t)sizeof tail);
    n = (cv_x_notice){.pid = getpid(), .fd = fd, .cap = 8192, .offset = 8000, .len = 16};
    ASSERT_OK(cv__x_shm_message(x, 1, &n, 16, &msg));
    ASSERT_MEM_EQ(msg, tail, 16);
    ASSERT_EQ(x->shm.maps[1].cap, (size_t)8192);
    /* notices that lie */
    n = (cv_x_notice){.pid = getpid(), .fd = fd, .cap = 8192, .offset = 8100, .len = 100};
    ASSERT_FAILS(cv__x_shm_message(x, 1, &n, 100, &msg), CV_ERR_CORRUPT, "rank 1's notice");
    n = (cv_x_notice){.pid = getpid(), .fd = fd, .cap = 8192, .offset = 0, .len = 100};
    ASSERT_FAILS(cv__x_shm_message(x, 1, &n, 99, &msg), CV_ERR_CORRUPT, "want 99");
    n = (cv_x_notice){
        .pid = getpid(), .fd = fd, .cap = UINT64_MAX, .offset = UINT64_MAX - 1, .len = 1};
    ASSERT_FAILS(cv__x_shm_message(x, 1, &n, 1, &msg), CV_ERR_IO, "smaller than the notice says");
    n = (cv_x_notice){.pid = getpid(), .fd = 1 << 20, .cap = 4096, .offset = 0, .len = 10};
    ASSERT_FAILS(cv__x_shm_message(x, 1, &n, 10, &msg), CV_ERR_IO,
                 "cannot map rank 1's message buffer");
    close(fd);
    cv_exchange_free(x);
    cv_info_free(si);
    cv_info_free(di);
}

TEST_MAIN(message_parts, traffic_is_symmetric_and_sparse, journal_geometry_reused, owners_balanced,
          shared_messages)
