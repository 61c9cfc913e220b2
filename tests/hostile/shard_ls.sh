#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# shard_ls.sh CVMPI: `cvmpi shard ls` used to read each whole shard file into memory and decode
# every entry, so a sparse shard file with a 64 GiB index (minishard_bits 32) failed. It now
# reads the shard index 1 MiB at a time and each non-empty minishard index by byte ranges:
# exact entries, file bytes and stored bytes; --decoded reads the entries one at a time; a
# truncated file, an index or an entry past the end, or a file stored only compressed fails
# in one line naming the file (and the minishard) with exit 1; a sparse 4 GiB index
# (minishard_bits 28, 16 times the largest a writer builds) lists with a peak RSS under 64 MiB,
# where the whole file used to be read. (minishard_bits 32, a 64 GiB index, lists in 12 MB
# too, but reading 64 GiB of holes takes a minute: too long for a test.)
set -euo pipefail
HOSTILE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HOSTILE/../integration/lib.sh" "$@"

# make_layer DIR BITS ...: tests/hostile/sparse_shard_layer.py (see its header).
make_layer() { "$PY" "$HOSTILE/sparse_shard_layer.py" "$@"; }

# put64 FILE OFFSET VALUE: overwrite 8 bytes little-endian.
put64()
{
    "$PY" -c "
import struct, sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2])); f.write(struct.pack('<Q', int(sys.argv[3])))" "$@"
}

# ls_line NAME ENTRIES BYTES STORED [DECODED]: a line of `shard ls`.
ls_line()
{
    if (($# == 5)); then
        printf '%-24s %10d entries %14d bytes (%d stored, %d decoded)' "$1" "$2" "$3" "$4" "$5"
    else
        printf '%-24s %10d entries %14d bytes (%d stored)' "$1" "$2" "$3" "$4"
    fi
}

# With minishard_bits 2 the file is: the 64-byte shard index, the four 32768-byte chunks at
# [64, 131136), the four 24-byte minishard indexes at [131136, 131232).
SIZE=131232
good()
{
    rm -rf "$1"
    make_layer "$1" 2 raw
}

section "exact entries, file bytes and stored bytes; --decoded"
good L
expect_exit 0 "$CVMPI" shard ls L
expect_stdout "$(ls_line 0.shard 4 $SIZE 131072)
1 shard files, 4 entries, $SIZE bytes (131072 stored)"
expect_exit 0 "$CVMPI" shard ls L/1_1_1 --decoded
expect_stdout "$(ls_line 0.shard 4 $SIZE 131072 131072)
1 shard files, 4 entries, $SIZE bytes (131072 stored, 131072 decoded)"

section "gzip data: stored bytes as written, --decoded reads each entry back to 131072"
make_layer G 2 gzip
stored=$(cat G.stored)
gsize=$(stat -c %s G/1_1_1/0.shard)
[[ $gsize == $((64 + stored + 96)) ]] || fail "gzip shard size"
expect_exit 0 "$CVMPI" shard ls G
expect_stdout "$(ls_line 0.shard 4 "$gsize" "$stored")
1 shard files, 4 entries, $gsize bytes ($stored stored)"
expect_exit 0 "$CVMPI" shard ls G --decoded
expect_stdout "$(ls_line 0.shard 4 "$gsize" "$stored" 131072)
1 shard files, 4 entries, $gsize bytes ($stored stored, 131072 decoded)"
expect_exit 2 "$CVMPI" shard get G 0 -o x.raw --decoded
expect_stderr_contains "--decoded is for ls"

section "a truncated shard file: names the file and the minishard"
truncate -s 131200 L/1_1_1/0.shard
expect_exit 1 "$CVMPI" shard ls L
expect_one_line_error
expect_stderr_contains "cvmpi: shard \`1_1_1/0.shard' in file://$WORK/L: minishard 2 index at bytes [131184, 131208) lies past the end of the file (131200 bytes)"
truncate -s 40 L/1_1_1/0.shard
expect_exit 1 "$CVMPI" shard ls L
expect_one_line_error
expect_stderr_contains "cvmpi: shard \`1_1_1/0.shard' in file://$WORK/L: truncated shard index: the file has 40 bytes but the index has 64"

section "a shard index entry past the end, or past any file"
good L
put64 L/1_1_1/0.shard 24 $((131072 + 24 + 24000))
expect_exit 1 "$CVMPI" shard ls L
expect_one_line_error
expect_stderr_contains "cvmpi: shard \`1_1_1/0.shard' in file://$WORK/L: minishard 1 index at bytes [131160, 155160) lies past the end of the file ($SIZE bytes)"
good L
put64 L/1_1_1/0.shard 16 $(((1 << 62) + 1))
put64 L/1_1_1/0.shard 24 18446744073709551615
expect_exit 1 "$CVMPI" shard ls L
expect_one_line_error
expect_stderr_contains "cvmpi: shard \`1_1_1/0.shard' in file://$WORK/L: minishard 1 index range [4611686018427387905, 18446744073709551615) lies past the end of any possible file"

section "a chunk past the end: its minishard index names it"
good L
put64 L/1_1_1/0.shard $((131136 + 3 * 24 + 16)) 1000000 # minishard 3's size of chunk 3
expect_exit 1 "$CVMPI" shard ls L
expect_one_line_error
expect_stderr_contains "cvmpi: shard \`1_1_1/0.shard' in file://$WORK/L: minishard 3: chunk 3 at bytes [98368, 1098368) lies past the end of the file ($SIZE bytes)"

section "a shard file stored only gzip-compressed cannot be read by ranges"
good L
gzip L/1_1_1/0.shard
expect_exit 1 "$CVMPI" shard ls L
expect_one_line_error
expect_stderr_contains "cvmpi: shard \`1_1_1/0.shard' in file://$WORK/L: not found uncompressed (shard files are read by byte ranges, which a .gz or .br variant cannot serve)"

section "minishard_bits 28: a sparse file with a 4 GiB index lists with bounded memory"
make_layer B 28 raw
BIG=$(((16 << 28) + 131072 + 96))
[[ $(stat -c %s B/1_1_1/0.shard) == "$BIG" ]] || fail "sparse shard size"
asan=0
[[ $(ASAN_OPTIONS=help=1 "$CVMPI" --version 2>&1) == *AddressSanitizer* ]] && asan=1
if [[ -x /usr/bin/time ]] && ((asan == 0)); then
    expect_exit 0 /usr/bin/time -f %M -o rss.kib "$CVMPI" shard ls B
    kib=$(tail -n 1 rss.kib)
    echo "shard ls of the 4 GiB index: peak RSS $((kib / 1024)) MiB"
    ((kib <= 64 * 1024)) || fail "shard ls peaked at $kib KiB (64 MiB allowed)"
else
    expect_exit 0 "$CVMPI" shard ls B
fi
expect_stdout "$(ls_line 0.shard 4 "$BIG" 131072)
1 shard files, 4 entries, $BIG bytes (131072 stored)"
echo "PASS ($TEST_NAME)"
