#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The local disk cache (--cache, docs/cache.md) against a request-counting HTTP server
# (counting_http.py): a second read makes no request, the layout and bytes are CloudVolume's,
# rewritten objects are seen once --cache-max-age says so, LRU eviction under --cache-bytes,
# `cvmpi cache ls|du|clear`, and concurrent readers filing the same
# entries leave only whole ones.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

count()
{
    "$PY" -c "import urllib.request, sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$PORT/$1').read().decode())"
}
expect_requests()
{
    local got
    got=$(count __count)
    [[ $got == "$1" ]] || fail "expected $1 requests at the server, got $got ($2)"
    count __reset >/dev/null
}
expect_out()
{
    diff <(printf '%s' "$1") "$OUT" >/dev/null || fail "stdout differs: got $(cat "$OUT"), want $1"
}

section "a 64x64x16 uint8 layer of 4 gzip chunks, served over HTTP"
expect_exit 0 "$CVMPI" create L --type image --dtype uint8 --size 64,64,16 --resolution 1,1,1 \
    --chunk 32,32,16
np_gen a.bin 65536 1
expect_exit 0 "$CVMPI" write L -i a.bin --format raw --bbox 0,0,0,64,64,16
PORT=$(free_port)
serve http "$PORT" "$PY" "$HERE/counting_http.py" "$WORK" "$PORT"
U=http://127.0.0.1:$PORT/L
D=$WORK/c/http/127.0.0.1:$PORT/L
C00=1_1_1/0-32_0-32_0-16.gz

section "first read: info + 4 chunks; second read: no request, same voxels"
expect_exit 0 "$CVMPI" read "$U" --cache="$WORK/c" --cache-info-age 3600 -o r1.bin --format raw
expect_requests 5 "first read"
expect_same_files a.bin r1.bin
expect_exit 0 "$CVMPI" read "$U" --cache="$WORK/c" --cache-info-age 3600 -o r2.bin --format raw
expect_requests 0 "second read"
expect_same_files a.bin r2.bin
# CloudVolume's layout, the bytes as fetched (gzip stays gzip)
expect_same_files L/$C00 "$D/$C00"
expect_same_files L/info "$D/info"
[[ ! -e $D/1_1_1/0-32_0-32_0-16 ]] || fail "an uncompressed copy beside the .gz"
# the info is fetched at every start by default
expect_exit 0 "$CVMPI" read "$U" --cache="$WORK/c" -o r2.bin --format raw
expect_requests 1 "default --cache-info-age 0"
# CLOUD_VOLUME_CACHE_DIR is the default base
run env CLOUD_VOLUME_CACHE_DIR="$WORK/c" "$CVMPI" read "$U" --cache --cache-info-age 9 -o r2.bin \
    --format raw
[[ $RC == 0 ]] || fail "read with CLOUD_VOLUME_CACHE_DIR"
expect_requests 0 "CLOUD_VOLUME_CACHE_DIR"
# and HOME's ~/.cloudvolume/cache without it
expect_exit 0 "$CVMPI" read "$U" --cache --bbox 0,0,0,32,32,16 -o r3.bin --format raw
[[ -f $HOME/.cloudvolume/cache/http/127.0.0.1:$PORT/L/$C00 ]] || fail "no entry under ~/.cloudvolume"
count __reset >/dev/null

section "the jobs read their source through the cache: transfer, verify, export"
expect_exit 0 "$CVMPI" transfer "$U" T --cache="$WORK/c" --cache-info-age 3600
expect_requests 0 "transfer from a cached layer"
expect_exit 0 "$CVMPI" verify "$U" T --cache="$WORK/c" --cache-info-age 3600
expect_requests 0 "verify of a cached layer"
[[ ! -e $WORK/c/file ]] || fail "a file:// layer was cached"
expect_exit 0 "$CVMPI" export "$U" e.h5:/img --cache="$WORK/c" --cache-info-age 3600
expect_requests 0 "export of a cached layer"
expect_exit 2 "$CVMPI" downsample "$U" --cache
expect_stderr_contains "option \`--cache' is not known"

section "cvmpi cache ls / du"
S00=$(stat -c %s "$D/$C00")
expect_exit 0 "$CVMPI" cache ls "$U" --cache "$WORK/c"
sizes=$(cd "$D" && for f in 1_1_1/*.gz info; do printf '%s\t%s\n' "$(stat -c %s "$f")" "$f"; done)
expect_out "$sizes
"
expect_exit 0 "$CVMPI" cache du "$U" --cache "$WORK/c"
total=$(find "$D" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
expect_out "$total	5	$D
"
expect_exit 0 "$CVMPI" cache ls --cache "$WORK/c"
expect_out "$(printf '%s\n' "$sizes" | sed "s#\t#\thttp/127.0.0.1:$PORT/L/#")
"

section "a rewritten chunk is served from the cache until --cache-max-age says it is stale"
np_gen b.bin 16384 2
expect_exit 0 "$CVMPI" write L -i b.bin --format raw --bbox 0,0,0,32,32,16
expect_exit 0 "$CVMPI" read "$U" --cache="$WORK/c" --cache-info-age 3600 --cache-max-age 60 \
    --bbox 0,0,0,32,32,16 -o old.bin --format raw
expect_requests 0 "fresh entry"
cmp -s old.bin b.bin && fail "the rewritten chunk was fetched while its entry was fresh"
touch -m -d '-120 seconds' "$D/1_1_1/0-32_0-32_0-16.cvmeta"
expect_exit 0 "$CVMPI" read "$U" --cache="$WORK/c" --cache-info-age 3600 --cache-max-age 60 \
    --bbox 0,0,0,32,32,16 -o new.bin --format raw
expect_requests 1 "stale entry"
expect_same_files b.bin new.bin
expect_same_files L/$C00 "$D/$C00"

section "LRU eviction under --cache-bytes"
entry() { echo $(($(stat -c %s "$D/$1.gz") + $(stat -c %s "$D/$1.cvmeta"))); }
K1=1_1_1/0-32_0-32_0-16 K2=1_1_1/32-64_0-32_0-16 K3=1_1_1/0-32_32-64_0-16 K4=1_1_1/32-64_32-64_0-16
touch -a -d '-4 minutes' "$D/$K1.cvmeta"
touch -a -d '-3 minutes' "$D/$K2.cvmeta"
touch -a -d '-2 minutes' "$D/$K3.cvmeta"
touch -a -d '-1 minutes' "$D/$K4.cvmeta"
rm -rf "$HOME/.cloudvolume"
all=$(find "$WORK/c" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
# reading K1 makes it the most recent; the info is filed anew; K2 is the oldest then
limit=$((all - $(entry $K2)))
expect_exit 0 "$CVMPI" read "$U" --cache="$WORK/c" --cache-bytes "$limit" --cache-max-age 3600 \
    --bbox 0,0,0,32,32,16 -o r4.bin --format raw
expect_exit 0 "$CVMPI" cache ls "$U" --cache "$WORK/c"
expect_out "$(entry $K1 >/dev/null; stat -c %s "$D/$K1.gz")	$K1.gz
$(stat -c %s "$D/$K3.gz")	$K3.gz
$(stat -c %s "$D/$K4.gz")	$K4.gz
$(stat -c %s "$D/info")	info
"
now=$(find "$WORK/c" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
((now <= limit)) || fail "cache holds $now bytes, over the limit $limit"
# a limit of one chunk entry: K3 and K4 go before K1 (read last) and the info (filed last)
limit=$(($(entry $K1) + $(stat -c %s "$D/info") + $(stat -c %s "$D/info.cvmeta")))
expect_exit 0 "$CVMPI" read "$U" --cache="$WORK/c" --cache-bytes "$limit" --cache-max-age 3600 \
    --bbox 0,0,0,32,32,16 -o r4.bin --format raw
expect_exit 0 "$CVMPI" cache ls "$U" --cache "$WORK/c"
expect_out "$(stat -c %s "$D/$K1.gz")	$K1.gz
$(stat -c %s "$D/info")	info
"
count __reset >/dev/null

section "cvmpi cache clear"
expect_exit 0 "$CVMPI" cache clear "$U" --cache "$WORK/c"
expect_out "removed 2 cached objects from $D
"
expect_exit 0 "$CVMPI" cache du --cache "$WORK/c"
expect_out "0	0	$WORK/c
"
expect_exit 1 "$CVMPI" cache ls L --cache "$WORK/c"
expect_stderr_contains "cvmpi: cache: \`L' is local (file:// and mem:// are never cached)"

section "concurrent readers filing the same entries leave only whole ones"
np_gen big.bin 65536 3
expect_exit 0 "$CVMPI" write L -i big.bin --format raw --bbox 0,0,0,64,64,16
pids=()
for i in 1 2 3 4; do
    "$CVMPI" read "$U" --cache="$WORK/c" --threads 4 -o "p$i.bin" --format raw &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent reader failed"; done
for i in 1 2 3 4; do expect_same_files big.bin "p$i.bin"; done
for k in $K1 $K2 $K3 $K4; do expect_same_files "L/$k.gz" "$D/$k.gz"; done
[[ -z $(find "$WORK/c" -name '.cvmpi-cache-tmp-*') ]] || fail "temporary files left behind"
count __reset >/dev/null
expect_exit 0 "$CVMPI" read "$U" --cache="$WORK/c" --cache-info-age 60 -o p5.bin --format raw
expect_requests 0 "after the concurrent readers"
echo "PASS"
