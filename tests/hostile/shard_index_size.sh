#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# shard_index_size.sh CVMPI: the shard index is 16 << minishard_bits bytes. Readers fetch its
# entries by offset, so a (sparse) 64 GiB index of minishard_bits 32 reads like any other;
# writers hold a shard's whole index, so a sharding whose index is above 256 MiB, or above
# the job's --memory, is refused before anything is written, in one line naming the info's
# scale or the --sharding argument and the sizes.
set -euo pipefail
HOSTILE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HOSTILE/../integration/lib.sh" "$@"

# make_layer DIR BITS ...: tests/hostile/sparse_shard_layer.py (see its header).
make_layer() { "$PY" "$HOSTILE/sparse_shard_layer.py" "$@"; }

SPEC='{"@type":"neuroglancer_uint64_sharded_v1","preshift_bits":0,"hash":"identity","shard_bits":0,"minishard_bits":'

section "minishard_bits 32 (a 64 GiB index, sparse): read and shard get by ranged reads"
make_layer big 32
[[ $(stat -c %s big/1_1_1/0.shard) == $(((16 << 32) + 4 * 32768 + 4 * 24)) ]] || fail "shard size"
expect_exit 0 "$CVMPI" read big --bbox 0,0,0,64,64,32 -o big.raw
expect_same_files expected.raw big.raw
expect_exit 0 "$CVMPI" shard get big/1_1_1 3 -o got3.raw
expect_same_files chunk3.raw got3.raw

section "writing into a scale whose index is 64 GiB: refused, naming the info and scale"
expect_exit 1 "$CVMPI" write big --bbox 0,0,0,64,64,32 -i expected.raw
expect_one_line_error
expect_stderr_contains "cvmpi: info \`file://$WORK/big/info' scale 1_1_1: sharding minishard_bits 32 makes a 64 GiB shard index per shard file (writing allows at most 256 MiB, minishard_bits 24)"
[[ $(stat -c %s big/1_1_1/0.shard) == $(((16 << 32) + 4 * 32768 + 4 * 24)) ]] || fail "shard rewritten"

section "minishard_bits 27 (2 GiB): refused before a shard file is written"
make_layer b27 27 raw --no-shard
expect_exit 1 "$CVMPI" write b27 --bbox 0,0,0,64,64,32 -i expected.raw
expect_one_line_error
expect_stderr_contains "cvmpi: info \`file://$WORK/b27/info' scale 1_1_1: sharding minishard_bits 27 makes a 2 GiB shard index per shard file (writing allows at most 256 MiB, minishard_bits 24)"
expect_files b27/1_1_1

section "create --sharding: refused naming --sharding, no info written"
expect_exit 1 "$CVMPI" create c25 --type image --dtype uint8 --size 64,64,32 --resolution 1,1,1 \
    --chunk 32,32,32 --sharding "${SPEC}25}"
expect_one_line_error
expect_stderr_contains "cvmpi: --sharding: sharding minishard_bits 25 makes a 512 MiB shard index per shard file (writing allows at most 256 MiB, minishard_bits 24)"
expect_no_file c25

section "transfer --sharding: refused naming --sharding, nothing written"
make_layer src 0 raw --no-shard
rm -rf src/1_1_1
"$PY" - <<'PY'
import json
i = json.load(open("src/info"))
del i["scales"][0]["sharding"]
json.dump(i, open("src/info", "w"))
PY
expect_exit 0 "$CVMPI" write src --bbox 0,0,0,64,64,32 -i expected.raw
expect_exit 1 "$CVMPI" transfer src dst --sharding "${SPEC}27}"
expect_one_line_error
expect_stderr_contains "--sharding: sharding minishard_bits 27 makes a 2 GiB shard index per shard file (writing allows at most 256 MiB, minishard_bits 24)"
expect_no_file dst

section "transfer into a scale whose 64 MiB index exceeds --memory: refused naming --memory"
make_layer d22 22 raw --no-shard
expect_exit 1 "$CVMPI" transfer src d22 --memory 32M
expect_one_line_error
expect_stderr_contains "cvmpi: transfer: d22 scale 1_1_1: sharding minishard_bits 22 makes a 64 MiB shard index per shard file, which its writer holds: more than the memory budget of 33.55 MB per rank (from --memory)"
expect_files d22/1_1_1
expect_no_temp_files d22
echo "PASS ($TEST_NAME)"
