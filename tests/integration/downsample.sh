#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# downsample.sh CVMPI: `cvmpi downsample` makes a 3-mip pyramid (cloudvolume-conventions §7.4)
# of generated layers, over several blocks and clipped edge blocks; every level read back must
# equal tests/interop/downsample_ref.py's levels of the whole volume exactly.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
# `cvmpi downsample` starts MPI (a singleton here); Open MPI's own leaks cannot be suppressed
# for LeakSanitizer, so leak checks are off as in tests/mpi (the kernels are leak-checked by
# test_downsample).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
REF=$TEST_DIR/../interop/downsample_ref.py

# case NAME TYPE DTYPE SIZE OFFSET CHUNK FACTOR METHOD(name for the reference) EXTRA...
case_()
{
    local name=$1 type=$2 dtype=$3 size=$4 offset=$5 chunk=$6 factor=$7 method=$8
    shift 8
    section "$name: $type $dtype size $size offset $offset chunk $chunk factor $factor $method $*"
    IFS=, read -r sx sy sz <<<"$size"
    IFS=, read -r ox oy oz <<<"$offset"
    IFS=, read -r fx fy fz <<<"$factor"
    expect_exit 0 "$CVMPI" create "$name" --type "$type" --dtype "$dtype" --size "$size" \
        --offset "$offset" --chunk "$chunk" --resolution 4,4,40
    "$PY" - "$name.in" "$dtype" "$sx" "$sy" "$sz" <<'PYEOF'
import sys
import numpy as np
path, dt, sx, sy, sz = sys.argv[1], np.dtype(sys.argv[2]), *map(int, sys.argv[3:])
rng = np.random.default_rng(5)
if dt.kind == "f" or dt.itemsize == 1:
    a = rng.integers(0, 256, size=(sz, sy, sx)).astype(dt)
else:
    z, y, x = np.meshgrid(np.arange(sz), np.arange(sy), np.arange(sx), indexing="ij")
    a = ((x // 5 + (y // 3) * 7 + z * 3) % 9).astype(dt)
    noise = rng.integers(0, 9, size=a.shape).astype(dt)
    a = np.where(rng.random(a.shape) < 0.2, noise, a)
    a = np.where(a > 0, a + dt.type(1 << 30), a).astype(dt)
a.tofile(path)
PYEOF
    expect_exit 0 "$CVMPI" write "$name" --bbox "$ox,$oy,$oz,$((ox + sx)),$((oy + sy)),$((oz + sz))" \
        -i "$name.in" --format raw
    expect_exit 0 "$CVMPI" downsample "$name" --num-mips 3 --factor "$factor" "$@"
    grep -q "^downsampled mip 0 to mips 1..3: " "$OUT" || fail "unexpected summary: $(cat "$OUT")"
    local sparse=0
    [[ " $* " == *" --sparse "* ]] && sparse=1
    echo "$name $dtype 1 $sx $sy $sz $fx $fy $fz $method $sparse 3" >"$name.manifest"
    "$PY" "$REF" "$name.manifest" . || fail "reference failed"
    for k in 1 2 3; do
        expect_exit 0 "$CVMPI" read "$name" --mip "$k" -o "$name.$k.got" --format raw
        expect_same_files "$name.$k.got" "$name.$k.out"
    done
    expect_exit 0 "$CVMPI" info --json "$name"
    grep -q '"resolution"' "$OUT" || fail "no info"
}

case_ img image uint8 300,200,10 0,0,0 16,16,4 2,2,1 average
case_ seg segmentation uint64 150,90,9 8,-16,3 16,16,4 2,2,1 mode
case_ seg3 segmentation uint32 70,45,20 0,0,0 16,16,4 2,2,2 mode --sparse
case_ imgmin image uint16 70,45,20 0,0,0 8,8,8 2,2,2 max --method max
case_ f32 image float32 100,50,6 0,0,0 8,8,2 3,3,1 average --chunk-size 8,8,2
section "bad input: one-line errors, exit 1 (2 for usage), nothing reported as done"
expect_exit 1 "$CVMPI" downsample nowhere --num-mips 2
expect_one_line_error
expect_exit 2 "$CVMPI" downsample img --factor 1,1,1
expect_exit 2 "$CVMPI" downsample img --method median
expect_exit 1 "$CVMPI" downsample img --num-mips 2 --memory 1K --threads 4
expect_stderr_contains "more than --memory"
expect_one_line_error
expect_exit 0 "$CVMPI" create bad --type image --dtype uint8 --size 64,64,4 --chunk 32,32,4 \
    --resolution 4,4,40
head -c 16384 /dev/urandom >zeros
expect_exit 0 "$CVMPI" write bad --bbox 0,0,0,64,64,4 -i zeros --format raw --compress none
truncate -s 100 bad/4_4_40/32-64_0-32_0-4
expect_exit 1 "$CVMPI" downsample bad --num-mips 1 --journal jbad
expect_stderr_contains "32-64_0-32_0-4"
grep -q "1 failed" "$OUT" || fail "the corrupt chunk's task is not reported as failed"

section "sharded: the plan per level (precomputed worked example: 2048x2048x512 uint8, 64^3)"
expect_exit 0 "$CVMPI" create big --type image --dtype uint8 --size 2048,2048,512 --chunk 64,64,64 \
    --resolution 4,4,40
expect_exit 0 "$CVMPI" downsample big --sharded --shard-bytes 1e8 --num-mips 3 --memory 1G --threads 4 --dry-run \
    --ranks 4
grep 'shard' "$OUT" >sharded.plan
cat >sharded.want <<'WANT'
plan: mip 1 (8_8_40) sharded: hash identity, preshift 8, minishard 0, shard 3 bits; 2048 chunks in 8 shard files (the objects written); per shard 67.11 MB decoded on average, the largest up to 67.11 MB (256 chunks); 136.7 MB per rank to exchange and write them (a shard written chunk by chunk)
plan: mip 2 (16_16_40) sharded: hash identity, preshift 8, minishard 0, shard 1 bits; 512 chunks in 2 shard files (the objects written); per shard 67.11 MB decoded on average, the largest up to 67.11 MB (256 chunks); 136.6 MB per rank to exchange and write them (a shard written chunk by chunk)
plan: mip 3 (32_32_40) sharded: hash identity, preshift 7, minishard 0, shard 0 bits; 128 chunks in 1 shard file (the objects written); per shard 33.55 MB decoded on average, the largest up to 33.55 MB (128 chunks); 136.6 MB per rank to exchange and write them (a shard written chunk by chunk)
plan: sharded levels: chunks encoded by the tasks and tree nodes, spilled beside the journal, then sent to their shards' owners level by level; peak 136.7 MB per rank (budget 1073.7 MB)
plan: the new levels write 11 shard files in all (no chunk files)
WANT
expect_same_files sharded.plan sharded.want
expect_no_file big/8_8_40
grep -q '"sharding"' big/info && fail "--dry-run committed the info"
# the default 3.5e9 bytes: one shard per level (preshift 11, 9 and 7 bits)
expect_exit 0 "$CVMPI" downsample big --sharded --num-mips 3 --memory 4G --threads 4 --dry-run
[[ $(grep -c 'minishard 0, shard 0 bits' "$OUT") == 3 ]] || fail "default shard size: want one shard per level"
grep -q 'mip 1 (8_8_40) sharded: hash identity, preshift 11, ' "$OUT" || fail "default shard size: mip 1"
# a shard larger than the memory budget (536.87 MB at mip 1, --memory 100M) is written chunk
# by chunk: the plan fits (it was refused, the owner holding the shard twice)
expect_exit 0 "$CVMPI" downsample big --sharded --num-mips 3 --memory 100M --threads 4 --dry-run
grep -qF "1 shard file (the objects written); per shard 536.87 MB decoded on average" "$OUT" ||
    fail "default shard size: mip 1's shard"
grep -qF "level by level; peak 104.9 MB per rank (budget 104.9 MB)" "$OUT" || fail "the shards' peak"
expect_no_file big/8_8_40

section "sharded: --sharding, one object per scale"
MURMUR='{"@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 0, "minishard_bits": 1, "shard_bits": 1, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}'
IDENT='{"@type": "neuroglancer_uint64_sharded_v1", "hash": "identity", "preshift_bits": 1, "minishard_bits": 0, "shard_bits": 3, "minishard_index_encoding": "raw", "data_encoding": "raw"}'
expect_exit 0 "$CVMPI" create segsh --type segmentation --dtype uint64 --size 150,90,9 --offset 8,-16,3 \
    --chunk 16,16,4 --resolution 4,4,40
expect_exit 0 "$CVMPI" write segsh --bbox 8,-16,3,158,74,12 -i seg.in --format raw
expect_exit 0 "$CVMPI" downsample segsh --num-mips 2 --sharding "[$MURMUR, $IDENT]" --memory 64M --threads 4
grep -q "^wrote [0-9]* shard files of mips 1\.\.2$" "$OUT" || fail "no shard summary: $(cat "$OUT")"
"$PY" - <<'PYEOF' || fail "info sharding of --sharding [..]"
import json
s = json.load(open("segsh/info"))["scales"]
assert s[1]["sharding"]["hash"] == "murmurhash3_x86_128" and s[1]["sharding"]["shard_bits"] == 1
assert s[2]["sharding"] == {"@type": "neuroglancer_uint64_sharded_v1", "data_encoding": "raw",
                            "hash": "identity", "minishard_bits": 0,
                            "minishard_index_encoding": "raw", "preshift_bits": 1,
                            "shard_bits": 3}, s[2]["sharding"]
PYEOF
for k in 1 2; do
    expect_exit 0 "$CVMPI" read segsh --mip "$k" -o "segsh.$k.got" --format raw
    expect_same_files "segsh.$k.got" "seg.$k.out"
done
expect_exit 1 "$CVMPI" downsample segsh --num-mips 2 --sharding "[$MURMUR]" --dry-run
expect_one_line_error
expect_stderr_contains "cvmpi: --sharding: an array of 1 sharding object for 2 new scales (give one object for every scale, or an array of one per scale)"
expect_exit 1 "$CVMPI" downsample segsh --num-mips 2 --sharding '{"@type": "neuroglancer_uint64_sharded_v1"}' --dry-run
expect_one_line_error
expect_stderr_contains "cvmpi: --sharding"
expect_exit 2 "$CVMPI" downsample segsh --sharded --sharding "$MURMUR"
expect_stderr_contains "--sharded and --sharding exclude each other"
expect_exit 2 "$CVMPI" downsample segsh --shard-bytes 1M
expect_stderr_contains "--shard-bytes needs --sharded"
expect_exit 2 "$CVMPI" downsample segsh --sharded --compress br
expect_stderr_contains "--compress br does not apply to sharded scales (their chunks are compressed as the sharding's data_encoding says)"
section "transfer/import --sharded --downsample --dry-run: the new levels' shards, before anything exists"
expect_exit 0 "$CVMPI" create pyr --type image --dtype uint8 --size 200,180,48 --chunk 32,32,16 \
    --resolution 4,4,40
expect_exit 0 "$CVMPI" transfer pyr pyr-sharded --sharded --shard-bytes 60K --downsample 2 \
    --memory 64M --threads 4 --dry-run --ranks 3
cat >pyr.want <<'WANT'
plan: 36 tasks of 64x64x16 voxels (4x3x3 tasks) over 0,0,0,200,180,48 at mip 0
plan: box shards: 36 shard files of 64x64x16 voxels (0.1 MB decoded each, less at the edges); a task writes 1 whole shard, each file once
plan: 1.7 MB of voxels in all, 0.1 MB per task, expected peak 0.3 MB per rank (budget 67.1 MB), 3 ranks of 4 chunk threads
plan: per rank: about 12 tasks, 36 source chunks read (0.0 GB of voxels); journal 0.0 MB in all (30 bytes per finished task)
transfer: then --downsample 2 of pyr-sharded in the same job
plan: mip 0 0,0,0,200,180,48 -> mips 1..2, factor 2,2,1, average, 3 ranks
plan: stage 0: 12 tasks of 128x128x16 voxels read from mip 0, levels 1..2 made in memory, 0.3 MB per task (peak 0.9 MB, budget 67.1 MB)
plan: 1.7 MB of source voxels read once, 0.0 MB sent up the tree, 0.5 MB of new levels written (raw)
plan: per rank: about 4 tasks and 0 tree nodes; tree state files up to 0.0 GB beside the journal; journal 0.0 MB in all (30 bytes per task or node)
plan: expected peak 0.9 MB per rank (tasks 0.9 MB, tree exchange 0.0 MB, tree nodes 0.0 MB; budget 67.1 MB)
plan: mip 1 (8_8_40) sharded: hash identity, preshift 2, minishard 0, shard 4 bits; 36 chunks in 12 shard files (the objects written); per shard 0.04 MB decoded on average, the largest up to 0.07 MB (4 chunks); 67.1 MB per rank to exchange and write them (a shard written chunk by chunk)
plan: mip 2 (16_16_40) sharded: hash identity, preshift 2, minishard 0, shard 2 bits; 12 chunks in 3 shard files (the objects written); per shard 0.04 MB decoded on average, the largest up to 0.07 MB (4 chunks); 67.1 MB per rank to exchange and write them (a shard written chunk by chunk)
plan: sharded levels: chunks encoded by the tasks and tree nodes, spilled beside the journal, then sent to their shards' owners level by level; peak 67.1 MB per rank (budget 67.1 MB)
plan: the new levels write 15 shard files in all (no chunk files)
WANT
expect_same_files "$OUT" pyr.want
expect_no_file pyr-sharded
# the planned shard files are the ones written (identity hash: counted exactly)
expect_exit 0 "$CVMPI" transfer pyr pyr-sharded --fill-missing --sharded --shard-bytes 60K \
    --downsample 2 --memory 64M --threads 4
[[ $(ls pyr-sharded/8_8_40 | wc -l) == 12 && $(ls pyr-sharded/16_16_40 | wc -l) == 3 ]] ||
    fail "shard files written: $(ls pyr-sharded/8_8_40 pyr-sharded/16_16_40)"
if "$PY" -c "import h5py" 2>/dev/null; then
    "$PY" -c "import h5py
with h5py.File('pyr.h5', 'w') as f: f.create_dataset('/raw', shape=(48, 180, 200), dtype='uint8')"
    expect_exit 0 "$CVMPI" import pyr.h5:/raw pyr-imported --resolution 4,4,40 --chunk 32,32,16 \
        --sharded --shard-bytes 60K --downsample 2 --memory 64M --threads 4 --dry-run
    # the import's own plan (3 lines), then the same pyramid as the transfer's, on 1 rank
    sed -n '4,$p' "$OUT" >pyr-import.got
    sed -n '5,$p' pyr.want |
        sed 's/^transfer: then --downsample 2 of pyr-sharded/import: then --downsample 2 of pyr-imported/;
             s/3 ranks$/1 rank/; s/about 4 tasks/about 12 tasks/' >pyr-import.want
    expect_same_files pyr-import.got pyr-import.want
    expect_no_file pyr-imported
else
    echo "downsample: import --dry-run skipped (no python3-h5py)"
fi

section "a store that takes a shard file in one request: refused before the copy writes anything"
# mip 1's shard (16 chunks, 0.26 MB) held twice does not fit 600K; file:// streams it
expect_exit 1 "$CVMPI" transfer pyr mem://pyr/sharded --fill-missing --sharded --shard-bytes 400K \
    --downsample 2 --memory 600K --threads 4
expect_one_line_error
expect_stderr_contains "cvmpi: downsample to sharded scale 8_8_40: a shard of up to 16 chunks is 0.26 MB decoded; on mem:// a shard file is put in one request, so its owner holds it whole, twice: about 0.57 MB with 0.01 MB of exchange index, over the 0.52 MB memory budget (raise --memory or use smaller shards: a lower --shard-bytes, or more shard_bits in --sharding; file://, s3:// and gs:// write shards chunk by chunk)"
[[ ! -s $OUT ]] || fail "the copy ran before the pyramid was refused: $(cat "$OUT")"
expect_exit 1 "$CVMPI" transfer pyr mem://pyr/sharded --fill-missing --sharded --shard-bytes 400K \
    --memory 400K --threads 4
expect_one_line_error
expect_stderr_contains "cvmpi: transfer to sharded scale 4_4_40: a shard of up to 16 chunks is 0.26 MB decoded; on mem:// a shard file is put in one request"
expect_exit 0 "$CVMPI" transfer pyr pyr-streamed --fill-missing --sharded --shard-bytes 400K \
    --downsample 2 --memory 600K --threads 4
echo "downsample: all passed"
