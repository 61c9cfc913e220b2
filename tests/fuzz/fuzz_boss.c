/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_boss.c: the boss:// parsers (io/store_boss.c; built with libcurl and libblosc). Input:
 * one selector byte, then the three metadata answers (experiment, coordinate frame, channel)
 * separated by NUL bytes (selector even), or a cutout answer (selector odd: two bytes of the
 * wanted size, then the frame).
 * Metadata: only OK or CORRUPT; a made info validates, has one channel, raw 512x512x16 chunks
 * at mip 0 and 1..32 scales, and serializes. Cutout: only OK or CORRUPT; success appends
 * exactly the wanted bytes; a frame python-blosc could make (the memcpyed one built here from
 * the payload) always decodes to the payload. */
#include "fuzz_common.h"

#ifdef CV_HAVE_BOSS

#include "io/boss.h"

static void fuzz_meta(const uint8_t *p, size_t n)
{
    const char *parts[3] = {"", "", ""};
    size_t lens[3] = {0, 0, 0};
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n && k < 3; i++) {
        if (i == n || p[i] == 0) {
            parts[k] = (const char *)p + start;
            lens[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    cv_info *info = NULL;
    const cv_status rc =
        cv__boss_info(parts[0], lens[0], parts[1], lens[1], parts[2], lens[2], "fuzz", &info);
    FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_CORRUPT, cv_errname(rc));
    if (rc == CV_OK) {
        FUZZ_ASSERT(cv_info_validate(info) == CV_OK);
        FUZZ_ASSERT(info->num_channels == 1 && info->n_scales >= 1 && info->n_scales <= 32);
        FUZZ_ASSERT(info->scales[0].chunk_sizes[0][0] == 512 &&
                    info->scales[0].chunk_sizes[0][2] == 16);
        char *json = NULL;
        size_t len = 0;
        FUZZ_ASSERT(cv_info_to_json(info, &json, &len) == CV_OK);
        cv_free(json);
        cv_info_free(info);
    }
}

static void fuzz_cutout(const uint8_t *p, size_t n)
{
    if (n < 2) {
        return;
    }
    const size_t want = (size_t)p[0] | (size_t)p[1] << 8;
    cv_buf out;
    cv__buf_init(&out, 0);
    cv_status rc = cv__boss_blosc_decode(p + 2, n - 2, want, "fuzz", &out);
    FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_CORRUPT, cv_errname(rc));
    FUZZ_ASSERT(rc == CV_OK ? out.len == want : true);
    cv__buf_fini(&out);
    /* a memcpyed frame of the payload: version 2, format 1, flags 0x02, typesize 1 */
    const size_t m = n - 2;
    uint8_t *frame = malloc(16 + m);
    FUZZ_ASSERT(frame != NULL);
    const uint32_t sizes[3] = {(uint32_t)m, (uint32_t)m, (uint32_t)(16 + m)};
    frame[0] = 2;
    frame[1] = 1;
    frame[2] = 0x02;
    frame[3] = 1;
    for (int i = 0; i < 3; i++) {
        for (int b = 0; b < 4; b++) {
            frame[4 + 4 * i + b] = (uint8_t)(sizes[i] >> (8 * b));
        }
    }
    memcpy(frame + 16, p + 2, m);
    cv_err_clear();
    cv__buf_init(&out, 0);
    rc = cv__boss_blosc_decode(frame, 16 + m, m, "fuzz", &out);
    FUZZ_ASSERT_MSG(rc == CV_OK, "memcpyed frame");
    FUZZ_ASSERT(out.len == m && (m == 0 || memcmp(out.data, p + 2, m) == 0));
    cv__buf_fini(&out);
    free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    if (size < 1) {
        return 0;
    }
    if (data[0] & 1) {
        fuzz_cutout(data + 1, size - 1);
    } else {
        fuzz_meta(data + 1, size - 1);
    }
    cv_err_clear();
    return 0;
}

#else /* !CV_HAVE_BOSS */

#include "io/store.h"

/* Only a library without boss:// may leave the target empty (a target built without the
 * library's definitions once fuzzed nothing). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    FUZZ_ASSERT(strstr(cv__store_schemes(), "boss") == NULL);
    return 0;
}

#endif
