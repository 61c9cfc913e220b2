#!/usr/bin/env bash
# The chunk copy fast path of `cvmpi transfer` (same encoding, chunk size and bounds): for a
# gzip'd and an uncompressed raw source, with the default, none, gzip and br transport
# compression, the objects written with -n 1, 2 and 3 are byte-identical to those of the
# decoding path (--decode); with the source's own compression they are the source's files
# byte for byte. A truncated gzip chunk, a raw chunk of the wrong length and a missing chunk
# still fail their task naming the key; with --fill-missing the missing chunk is written as
# the decoding path writes it. A jpeg layer's chunks are copied, not re-encoded. Box shards of
# raw and compressed_segmentation take the chunks as stored where re-encoding gives the same,
# and so do hashed shards (murmurhash3_x86_128), whose chunks travel to their shard's owner.
source "$(dirname "$0")/lib.sh"
make_source src uint16 300,200,70 5,-3,2 64,64,16
SCALE=4_4_40
# the same voxels stored uncompressed
"$CVMPI" create raw --type image --dtype uint16 --size 300,200,70 --offset 5,-3,2 \
    --resolution 4,4,40 --chunk 64,64,16 > /dev/null
"$CVMPI" write raw --bbox 5,-3,2,305,197,72 -i src.npy --compress none
ls src/$SCALE | grep -q '\.gz$' || fail "gzip source has no .gz chunks"
ls raw/$SCALE | grep -q '\.gz$' && fail "raw source has .gz chunks"
n_chunks=$(ls src/$SCALE | wc -l)

for source in src raw; do
    for compress in default none gzip br; do
        args=()
        [ "$compress" = default ] || args=(--compress "$compress")
        tag=$source-$compress
        "$CVMPI" transfer "$source" "dec-$tag" --memory 1M --decode "${args[@]}" > log 2>&1 ||
            { cat log; fail "$tag: decoding path"; }
        digest "dec-$tag" > "d-dec-$tag"
        for n in 1 2 3; do
            CV_LOG=info run_np "$n" transfer "$source" "out-$tag-$n" --memory 1M "${args[@]}" \
                --report "report-$tag-$n.json" > log 2>&1 || { cat log; fail "$tag: $n ranks"; }
            grep -q "copied as stored" log || { cat log; fail "$tag: fast path not taken"; }
            digest "out-$tag-$n" | diff "d-dec-$tag" - > /dev/null ||
                fail "$tag: $n ranks differ from the decoding path"
            /usr/bin/python3 - "report-$tag-$n.json" "$n_chunks" <<'PY' || fail "$tag: report"
import json, sys
t = json.load(open(sys.argv[1]))["total"]
n = int(sys.argv[2])
assert t["chunks_read"] == n and t["chunks_written"] == n, t
assert t["voxel_bytes"] == 300 * 200 * 70 * 2 and t["tasks_failed"] == 0, t
PY
        done
    done
done
# the source's own compression: its files, byte for byte
(cd src/$SCALE && sha256sum ./*) > a
(cd out-src-default-1/$SCALE && sha256sum ./*) | diff a - > /dev/null || fail "gzip files not copied"
(cd src/$SCALE && sha256sum ./*) > a
(cd out-src-gzip-2/$SCALE && sha256sum ./*) | diff a - > /dev/null || fail "gzip files not copied"
(cd raw/$SCALE && sha256sum ./*) > a
(cd out-raw-none-3/$SCALE && sha256sum ./*) | diff a - > /dev/null || fail "raw files not copied"
ls out-raw-br-1/$SCALE | grep -q '\.br$' || fail "br: not recompressed"
"$CVMPI" read out-raw-br-2 -o back.npy
cmp src.npy back.npy || fail "br: content differs from the source"

# corrupt and missing chunks: the task fails naming the key, the others are written
expect_fail() { # expect_fail WHAT KEY LAYER ARGS...
    local what=$1 key=$2 layer=$3
    shift 3
    rm -rf bad-out
    set +e
    # every rank exits by itself: no grace period for mpirun's kill of the job's processes
    OMPI_MCA_odls_base_sigkill_timeout=0 run_np 2 transfer "$layer" bad-out --memory 1M "$@" > log 2>&1
    local rc=$?
    set -e
    [ "$rc" = 1 ] || { cat log; fail "$what: exit $rc, want 1"; }
    grep -q "1 task failed" log || { cat log; fail "$what: failure count"; }
    grep -q "$key" log || { cat log; fail "$what: key not named"; }
    [ "$(ls bad-out/$SCALE | wc -l)" -gt $((n_chunks / 2)) ] || fail "$what: other tasks not done"
}
KEY=69-133_61-125_18-34
cp -r src bad
head -c 100 "src/$SCALE/$KEY.gz" > "bad/$SCALE/$KEY.gz"
expect_fail "truncated gzip" "$SCALE/$KEY" bad
printf 'garbage' > "bad/$SCALE/$KEY.gz"
expect_fail "not gzip" "$SCALE/$KEY" bad
expect_fail "not gzip, recompressed" "$SCALE/$KEY" bad --compress br
rm -rf bad
cp -r raw bad
head -c 1000 "raw/$SCALE/$KEY" > "bad/$SCALE/$KEY"
expect_fail "short raw chunk" "$SCALE/$KEY" bad
rm "bad/$SCALE/$KEY"
expect_fail "missing chunk" "$SCALE/$KEY" bad
# --fill-missing: the missing chunk is written as the decoding path writes it
"$CVMPI" transfer bad fill-dec --memory 1M --fill-missing --decode > log 2>&1 || { cat log; fail "fill dec"; }
run_np 2 transfer bad fill-copy --memory 1M --fill-missing > log 2>&1 || { cat log; fail "fill copy"; }
digest fill-copy | diff <(digest fill-dec) - > /dev/null || fail "--fill-missing differs from decoding"
[ -e "fill-copy/$SCALE/$KEY.gz" ] || fail "--fill-missing: the missing chunk was not written"

# a lossy encoding is copied, not re-encoded (re-encoding jpeg would change the bytes)
"$CVMPI" create jpg --type image --dtype uint8 --size 128,128,32 --resolution 4,4,40 \
    --chunk 64,64,32 --encoding jpeg > /dev/null
/usr/bin/python3 -c 'import numpy as np; np.save("j.npy", np.asfortranarray(
    np.random.default_rng(3).integers(0, 255, (128, 128, 32, 1)).astype(np.uint8)))'
"$CVMPI" write jpg --bbox 0,0,0,128,128,32 -i j.npy
run_np 2 transfer jpg jpg-out --memory 1M > log 2>&1 || { cat log; fail "jpeg copy"; }
(cd jpg/$SCALE && sha256sum ./*) > a
(cd jpg-out/$SCALE && sha256sum ./*) | diff a - > /dev/null || fail "jpeg chunks were re-encoded"
"$CVMPI" transfer jpg jpg-dec --memory 1M --decode > log 2>&1 || { cat log; fail "jpeg decode"; }
(cd jpg-dec/$SCALE && sha256sum ./*) | diff -q a - > /dev/null && fail "jpeg: --decode did not re-encode"
# box shards (--sharded): the chunks go into the shard files as stored where that is what
# encoding them gives (raw; compressed_segmentation as its encoder lays it out), else decoded
# and encoded again (a cseg chunk with 4 bytes more, which decodes the same; a missing one with
# --fill-missing): the shard files of --decode, byte for byte
"$CVMPI" create seg --type segmentation --dtype uint64 --size 96,80,40 --offset 3,0,-2 \
    --resolution 4,4,40 --chunk 32,32,16 --encoding compressed_segmentation > /dev/null
/usr/bin/python3 -c 'import numpy as np; x, y, z = np.meshgrid(np.arange(96), np.arange(80),
    np.arange(40), indexing="ij"); np.save("s.npy", np.asfortranarray(((1 << 40) + x // 7 +
    1000 * (y // 9) + (z // 5) * 77777)[..., None].astype(np.uint64)))'
"$CVMPI" write seg --bbox 3,0,-2,99,80,38 -i s.npy
/usr/bin/python3 - "seg/$SCALE/35-67_32-64_14-30.gz" <<'PY'
import gzip, sys
with open(sys.argv[1], "rb") as f:
    b = gzip.decompress(f.read())
with open(sys.argv[1], "wb") as f:
    f.write(gzip.compress(b + bytes(4)))
PY
rm "seg/$SCALE/3-35_0-32_-2-14.gz"
for layer in seg raw; do
    run_np 1 transfer $layer "shd-dec-$layer" --sharded --fill-missing --decode > log 2>&1 ||
        { cat log; fail "$layer: --sharded --decode"; }
    CV_LOG=info run_np 2 transfer $layer "shd-$layer" --sharded --fill-missing > log 2>&1 ||
        { cat log; fail "$layer: --sharded"; }
    grep -q "into the shard files as stored" log || { cat log; fail "$layer: shards not copied"; }
    [ -n "$(find "shd-$layer" -name '*.shard')" ] || fail "$layer: no shard files"
    digest "shd-$layer" | diff <(digest "shd-dec-$layer") - > /dev/null ||
        fail "$layer: shards differ from the decoding path's"
done
# hashed shards (murmurhash3_x86_128): the chunks travel to their shard's owner as stored where
# that is what encoding them gives, else decoded and encoded again: the shard files of
# --decode, byte for byte (the non-canonical and the missing chunk of seg included)
MURMUR='{"@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 0, "minishard_bits": 1, "shard_bits": 2, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}'
for layer in seg raw; do
    run_np 1 transfer $layer "hsh-dec-$layer" --sharding "$MURMUR" --fill-missing --decode \
        > log 2>&1 || { cat log; fail "$layer: --sharding murmurhash --decode"; }
    CV_LOG=info run_np 2 transfer $layer "hsh-$layer" --sharding "$MURMUR" --fill-missing \
        > log 2>&1 || { cat log; fail "$layer: --sharding murmurhash"; }
    grep -q "owners as stored" log || { cat log; fail "$layer: hashed chunks not taken as stored"; }
    [ -n "$(find "hsh-$layer" -name '*.shard')" ] || fail "$layer: no hashed shard files"
    digest "hsh-$layer" | diff <(digest "hsh-dec-$layer") - > /dev/null ||
        fail "$layer: hashed shards differ from the decoding path's"
done
echo "transfer_copy: ok"
