#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bench_s3.sh CVMPI CLOUD_CHECK [--quick]: issue 5's benchmark. Reads a 512x512x256 uint8 layer
# (64^3 chunks, raw and gzip) from a local s3rver (directly, without the Python SigV4 proxy, so
# the client is measured, not the proxy) with 1, 4, 16 and 64 requests in flight (cvmpi read
# --threads N), beside the same read from file://. One TSV line per measurement: backend,
# compression, in flight, seconds, MB/s (decoded voxels), requests/s; each the fastest of
# $BENCH_REPEAT runs (default 3). Run by hand on a Release build; --quick (CTest, label bench)
# uses a 128x128x64 layer, 1 and 4 in flight, one run each.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

SIZE=512,512,256
INFLIGHT="1 4 16 64"
REPEAT=${BENCH_REPEAT:-3}
if [[ ${3:-} == --quick ]]; then
    SIZE=128,128,64
    INFLIGHT="1 4"
    REPEAT=1
fi
IFS=, read -r SX SY SZ <<<"$SIZE"
BYTES=$((SX * SY * SZ))
CHUNKS=$(((SX / 64) * (SY / 64) * (SZ / 64)))

start_s3
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
DIRECT=s3://http://127.0.0.1:$S3_UPSTREAM/testbucket
np_gen in.raw "$BYTES" 9

printf 'backend\tcompress\tin_flight\tseconds\tMB/s\trequests/s\n'
for compress in none gzip; do
    for base in "$WORK/file" "$DIRECT"; do
        layer=$base/bench_$compress
        expect_exit 0 "$CVMPI" create "$layer" --type image --dtype uint8 --size "$SIZE" \
            --chunk 64,64,64 --resolution 4,4,40
        expect_exit 0 "$CVMPI" write "$layer" -i in.raw --bbox "0,0,0,$SIZE" \
            --compress "$compress" --threads 16
        for n in $INFLIGHT; do
            best=
            for ((r = 0; r < REPEAT; r++)); do
                expect_exit 0 "$CVMPI" read "$layer" -o out.raw --threads "$n"
                expect_same_files in.raw out.raw
                if [[ -z $best ]] || awk "BEGIN { exit !($SECS < $best) }"; then best=$SECS; fi
            done
            backend=${base%%:*}
            [[ $backend == /* ]] && backend="file"
            awk -v b="$backend" -v c="$compress" -v n="$n" -v s="$best" -v bytes="$BYTES" \
                -v req=$((CHUNKS + 1)) \
                'BEGIN { printf "%s\t%s\t%d\t%.2f\t%.1f\t%.0f\n", b, c, n, s, bytes / s / 1e6, req / s }'
        done
    done
done
