/* SPDX-License-Identifier: BSD-3-Clause
 * fuzz_zarr.c: the zarr v2 reading path of `cvmpi import` (mpi/zarr_io.c): a .zarray parsed,
 * then one stored chunk decoded (none, gzip, zlib, zstd, blosc as built). Input: the .zarray
 * text (or 'N' and an N5 attributes.json), a NUL byte, the chunk's stored bytes (N5: a block
 * with its header); shapes, dtype and codec come from the input.
 * Only documented codes; a parsed array has 1-4 dims, chunks >= 1, a known dtype and a chunk
 * size equal to the product (at most CV_ZARR_CHUNK_MAX); chunk strides stay inside the chunk;
 * a decoded chunk of a raw array is the input bytes (swapped when big-endian). */
#include "fuzz_common.h"

#include "mpi/cv_zarr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_err_clear();
    const uint8_t *nul = memchr(data, 0, size);
    size_t meta_len = nul ? (size_t)(nul - data) : size;
    const uint8_t *chunk = nul ? nul + 1 : data + size;
    size_t chunk_len = nul ? size - meta_len - 1 : 0;
    cv_zarr_meta m;
    bool n5 = size > 0 && data[0] == 'N';
    cv_status rc =
        n5 ? cv__n5_parse((const char *)data + 1, meta_len - 1, "fuzz/attributes.json", &m)
           : cv__zarr_parse((const char *)data, meta_len, "fuzz/.zarray", &m);
    FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_ARG || rc == CV_ERR_CORRUPT);
    if (rc != CV_OK) {
        return 0;
    }
    FUZZ_ASSERT(m.ndims >= 1 && m.ndims <= 4 && m.dtype != CV_DTYPE_INVALID);
    uint64_t elems = 1;
    for (int i = 0; i < 4; i++) {
        FUZZ_ASSERT(m.chunks[i] >= 1 && m.grid[i] * m.chunks[i] >= m.shape[i]);
        elems *= m.chunks[i];
    }
    FUZZ_ASSERT(elems * m.itemsize == m.chunk_bytes && m.chunk_bytes <= CV_ZARR_CHUNK_MAX);
    uint64_t st[4], last = 0;
    cv__zarr_chunk_strides(&m, st);
    for (int i = 0; i < 4; i++) {
        last += (m.chunks[i] - 1) * st[i];
    }
    FUZZ_ASSERT(last == elems - 1);
    uint64_t idx[4] = {m.grid[0] - 1, m.grid[1] - 1, m.grid[2] - 1, m.grid[3] - 1};
    char key[128];
    FUZZ_ASSERT(cv__zarr_chunk_key(&m, idx, key, sizeof key));
    if (m.chunk_bytes > ((uint64_t)4 << 20)) {
        return 0;
    }
    uint8_t *out = malloc((size_t)m.chunk_bytes + 1), *tmp = malloc((size_t)m.chunk_bytes + 1);
    FUZZ_ASSERT(out && tmp);
    cv__zarr_fill(&m, out);
    if (chunk_len <= cv__zarr_stored_max(&m)) {
        rc = cv__zarr_decode(&m, chunk, chunk_len, out, tmp, "fuzz/0.0.0");
        FUZZ_ASSERT(rc == CV_OK || rc == CV_ERR_CORRUPT || rc == CV_ERR_NOMEM);
        if (rc == CV_OK && m.codec == CV_ZARR_RAW && !m.n5) {
            FUZZ_ASSERT(chunk_len == m.chunk_bytes);
            for (size_t i = 0; i < chunk_len; i++) {
                size_t e = i - i % m.itemsize, k = i % m.itemsize;
                FUZZ_ASSERT(out[m.big_endian ? e + m.itemsize - 1 - k : i] == chunk[i]);
            }
        }
    }
    free(out);
    free(tmp);
    return 0;
}
