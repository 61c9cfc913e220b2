/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_shard_index.c: shard files from untrusted bytes (precomputed-sharded §3): the shard
 * index, minishard indexes (raw or gzip) and payloads, through cv_shard_decode() and through
 * a cv_shard_reader on mem://, and entry by entry through cv__shard_file_scan (cvmpi shard
 * ls: ranged reads of the index in pieces and of each minishard index, each entry read by its
 * range). Invariants: only CV_OK / CV_ERR_CORRUPT (/ NOTFOUND for the reader) come back,
 * naming the file; on a file that decodes whole, the reader never says corrupt and returns
 * one of the payloads stored under the key, and the scan hands out the same entries in the
 * same order with the same values; re-encoding the decoded entries decodes the same.
 * Input: byte 0 = hash | mi gzip << 1 | data gzip << 2 | minishard_bits << 3 (0..7);
 * byte 1 % 65 = preshift_bits; bytes 2..9 = a key to look up; the rest = the shard file. */
#include "fuzz_common.h"
#include "shard/shard.h"

#define HDR 10
#define MAX_ENTRIES 256

typedef struct entry {
    uint64_t key;
    uint8_t *data;
    size_t n;
} entry;

typedef struct entries {
    entry e[MAX_ENTRIES];
    size_t n;
    bool truncated;
} entries;

static cv_status collect(uint64_t key, const uint8_t *data, size_t n, void *arg)
{
    entries *es = arg;
    if (es->n == MAX_ENTRIES) {
        es->truncated = true;
        return CV_OK;
    }
    entry *e = &es->e[es->n];
    e->data = malloc(n ? n : 1);
    FUZZ_ASSERT(e->data != NULL);
    if (n) {
        memcpy(e->data, data, n);
    }
    e->key = key;
    e->n = n;
    es->n++;
    return CV_OK;
}

static void entries_free(entries *es)
{
    for (size_t i = 0; i < es->n; i++) {
        free(es->e[i].data);
    }
    es->n = 0;
}

/* Is (data, n) one of the payloads stored under key? */
static bool has_payload(const entries *es, uint64_t key, const uint8_t *data, size_t n)
{
    for (size_t i = 0; i < es->n; i++) {
        if (es->e[i].key == key && es->e[i].n == n && (n == 0 || !memcmp(es->e[i].data, data, n))) {
            return true;
        }
    }
    return false;
}

static bool unique_keys(const entries *es)
{
    for (size_t i = 0; i < es->n; i++) {
        for (size_t j = i + 1; j < es->n; j++) {
            if (es->e[i].key == es->e[j].key) {
                return false;
            }
        }
    }
    return true;
}

typedef struct scan_state {
    cv_store *st;
    const cv_shard_spec *s;
    const entries *es;
    bool whole_ok;
    size_t n;
    cv_buf out, scratch;
} scan_state;

static cv_status scan_fn(const cv_shard_file_entry *e, void *arg)
{
    scan_state *sc = arg;
    size_t i = sc->n++;
    if (i >= MAX_ENTRIES) {
        return CV_OK;
    }
    cv_status rc = cv__shard_file_read_entry(sc->st, "0.shard", sc->s, e, &sc->out, &sc->scratch);
    FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_CORRUPT, cv_errname(rc));
    if (rc == CV_ERR_CORRUPT) {
        FUZZ_ASSERT_MSG(strstr(cv_err_last()->what, "0.shard") != NULL, "names the file");
    }
    if (sc->whole_ok) {
        const entry *want = &sc->es->e[i];
        FUZZ_ASSERT_MSG(rc == CV_OK, "an entry of a file that decodes whole reads cleanly");
        FUZZ_ASSERT_MSG(e->key == want->key && sc->out.len == want->n &&
                            (want->n == 0 || !memcmp(sc->out.data, want->data, want->n)),
                        "the scan's entry is the decoder's");
    }
    cv_err_clear();
    return CV_OK;
}

/* The scan of cvmpi shard ls: never a crash, corrupt only naming the file, and on a file
 * that decodes whole exactly the decoder's entries. */
static void scan_checks(cv_store *st, const cv_shard_spec *s, size_t len, const entries *es,
                        bool whole_ok)
{
    scan_state sc = {st, s, es, whole_ok, 0, {0}, {0}};
    cv__buf_init(&sc.out, FUZZ_MAX_OUT);
    cv__buf_init(&sc.scratch, 0);
    cv_err_clear();
    cv_status rc = cv__shard_file_scan(st, "0.shard", s, len, scan_fn, &sc);
    FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_CORRUPT, cv_errname(rc));
    if (rc == CV_ERR_CORRUPT) {
        FUZZ_ASSERT_MSG(strstr(cv_err_last()->what, "0.shard") != NULL, "names the file");
    }
    if (whole_ok) {
        FUZZ_ASSERT_MSG(rc == CV_OK, "a file that decodes whole scans cleanly");
        FUZZ_ASSERT_MSG(sc.n == es->n, "the scan finds the decoder's entries");
    }
    cv__buf_fini(&sc.out);
    cv__buf_fini(&sc.scratch);
    cv_err_clear();
}

static void reader_checks(const cv_shard_spec *s, const uint8_t *file, size_t len, uint64_t probe,
                          const entries *es, bool whole_ok)
{
    cv_store *st = NULL;
    FUZZ_ASSERT(cv_store_open("mem://fuzz/shard", &st) == CV_OK);
    /* shard_bits is 0: every key lives in 0.shard */
    FUZZ_ASSERT(cv_store_put(st, "0.shard", file, len, NULL, -1, NULL) == CV_OK);
    char *json = NULL;
    size_t json_len = 0;
    FUZZ_ASSERT(cv_shard_spec_to_json(s, &json, &json_len) == CV_OK);
    cv_shard_reader *r = NULL;
    FUZZ_ASSERT(cv_shard_reader_open(st, "", json, &r) == CV_OK);
    cv_free(json);
    cv_shard_cache_clear(); /* the same name holds other bytes on every run */

    size_t n_keys = es->n < 16 ? es->n : 16;
    for (size_t i = 0; i <= n_keys; i++) {
        uint64_t key = i < n_keys ? es->e[i].key : probe;
        uint8_t *v = NULL;
        size_t n = 0;
        cv_err_clear();
        cv_status rc = cv_shard_reader_get(r, key, FUZZ_MAX_OUT, &v, &n);
        FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_NOTFOUND || rc == CV_ERR_CORRUPT,
                        cv_errname(rc));
        if (rc == CV_ERR_CORRUPT) {
            FUZZ_ASSERT_MSG(strstr(cv_err_last()->what, "0.shard") != NULL, "names the file");
        }
        if (whole_ok) {
            FUZZ_ASSERT_MSG(rc != CV_ERR_CORRUPT, "a file that decodes whole reads cleanly");
            FUZZ_ASSERT_MSG(rc != CV_OK || has_payload(es, key, v, n),
                            "the reader returns a stored payload");
        }
        cv_free(v);
    }
    cv_err_clear();
    cv_shard_reader_close(r);
    scan_checks(st, s, len, es, whole_ok);
    FUZZ_ASSERT(cv_store_delete(st, "0.shard") == CV_OK);
    cv_store_close(st);
}

/* Re-encode the decoded entries in both layouts: the result decodes to the same entries. */
static void rebuild_checks(const cv_shard_spec *s, const entries *es)
{
    cv_shard_item items[MAX_ENTRIES];
    for (size_t i = 0; i < es->n; i++) {
        items[i].key = es->e[i].key;
        items[i].data = es->e[i].data;
        items[i].len = es->e[i].n;
    }
    for (int layout = 0; layout < 2; layout++) {
        uint64_t shard = 1;
        uint8_t *file = NULL;
        size_t len = 0;
        FUZZ_ASSERT(cv_shard_build(s, items, es->n, (cv_shard_layout)layout, 1, &shard, &file,
                                   &len) == CV_OK);
        FUZZ_ASSERT(shard == 0);
        entries *again = calloc(1, sizeof *again);
        FUZZ_ASSERT(again != NULL);
        FUZZ_ASSERT(cv_shard_decode(s, file, len, "rebuilt", FUZZ_MAX_OUT, collect, again) ==
                    CV_OK);
        FUZZ_ASSERT(again->n == es->n);
        for (size_t i = 0; i < again->n; i++) {
            FUZZ_ASSERT(has_payload(es, again->e[i].key, again->e[i].data, again->e[i].n));
        }
        entries_free(again);
        free(again);
        cv_free(file);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR) {
        return 0;
    }
    cv_err_clear();
    cv_shard_spec s;
    s.hash = data[0] & 1 ? CV_SHARD_HASH_MURMURHASH3_X86_128 : CV_SHARD_HASH_IDENTITY;
    s.minishard_index_encoding = data[0] & 2 ? CV_SHARD_GZIP : CV_SHARD_RAW;
    s.data_encoding = data[0] & 4 ? CV_SHARD_GZIP : CV_SHARD_RAW;
    s.minishard_bits = (data[0] >> 3) & 7;
    s.preshift_bits = data[1] % 65;
    s.shard_bits = 0;
    uint64_t probe = 0;
    for (int i = 0; i < 8; i++) {
        probe |= (uint64_t)data[2 + i] << (8 * i);
    }
    const uint8_t *file = data + HDR;
    size_t len = size - HDR;

    entries *es = calloc(1, sizeof *es);
    FUZZ_ASSERT(es != NULL);
    cv_status rc = cv_shard_decode(&s, file, len, "fuzz.shard", FUZZ_MAX_OUT, collect, es);
    FUZZ_ASSERT_MSG(rc == CV_OK || rc == CV_ERR_CORRUPT, cv_errname(rc));
    if (rc == CV_ERR_CORRUPT) {
        FUZZ_ASSERT_MSG(strstr(cv_err_last()->what, "fuzz.shard") != NULL, "names the file");
    }
    bool whole_ok = rc == CV_OK && !es->truncated;
    reader_checks(&s, file, len, probe, es, whole_ok);
    if (whole_ok && es->n > 0 && unique_keys(es)) {
        rebuild_checks(&s, es);
    }
    entries_free(es);
    free(es);
    cv_err_clear();
    return 0;
}
