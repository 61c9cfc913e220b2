#!/usr/bin/env bash
# The same transfer with 1, 2, 3 and 4 ranks writes byte-identical objects: raw->gzip,
# raw->raw re-chunked 64x64x16 -> 128x128x32, static and dynamic schedules, a size that is
# not a multiple of the chunk size and a non-zero voxel_offset.
source "$(dirname "$0")/lib.sh"
make_source src uint16 300,200,70 5,-3,2 64,64,16

for case in "gzip:" "rechunk:--chunk-size 128,128,32 --compress none" "static:--schedule static" \
    "sharded:--sharded --shard-bytes 300K --chunk-size 32,32,16"; do
    name=${case%%:*}
    args=${case#*:}
    for n in 1 2 3 4; do
        # shellcheck disable=SC2086
        run_np "$n" transfer src "out-$name-$n" --memory 4M $args > "log-$name-$n" 2>&1 ||
            { cat "log-$name-$n"; fail "$name with $n ranks"; }
        grep -q "failed of" "log-$name-$n" || fail "$name: no summary line"
    done
    digest "out-$name-1" > "d-$name-1"
    [ "$(wc -l < "d-$name-1")" -gt 10 ] || fail "$name: too few objects"
    for n in 2 3 4; do
        digest "out-$name-$n" | diff "d-$name-1" - > /dev/null || fail "$name: $n ranks differ from 1"
    done
    # the content is the source's
    "$CVMPI" read "out-$name-1" -o back.npy
    cmp src.npy back.npy || fail "$name: content differs from the source"
done
# sharded output: only shard files, each written once, readable by an independent reader
ls out-sharded-1/4_4_40 | grep -qv '\.shard$' && fail "sharded: non-shard files"
/usr/bin/python3 "$(dirname "$0")/../interop/precomputed_ref.py" check out-sharded-1 src.npy > /dev/null ||
    fail "sharded: the reference reader disagrees"
# re-chunked output really has the new chunk size
ls out-rechunk-1/4_4_40 | grep -qx -- '5-133_-3-125_2-34' || fail "rechunk: chunk names"
grep -q '"encoding": "raw"' out-gzip-1/info || fail "info"
ls out-gzip-1/4_4_40 | grep -q '\.gz$' || fail "gzip: chunks not compressed"
echo "transfer_ranks: ok"
