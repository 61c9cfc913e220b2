#!/usr/bin/env bash
# `cvmpi transfer` and scales: without --mip every scale of the source is copied (options
# applied to each) and the destination declares exactly the scales written; with --mip only that
# one (plus --downsample's). Options that contradict an existing scale of the destination are
# refused with exit 2 before anything is written. --level sets the gzip level (default 9, the
# bytes written before --level existed).
source "$(dirname "$0")/lib.sh"
make_source L uint8 128,128,16 0,0,0 32,32,16
"$CVMPI" -q downsample L --num-mips 2 > /dev/null

scales() { # scales DIR: the keys of its info's scales, in order, comma separated
    /usr/bin/python3 -c 'import json, sys
print(",".join(s["key"] for s in json.load(open(sys.argv[1] + "/info"))["scales"]))' "$1"
}
encodings() {
    /usr/bin/python3 -c 'import json, sys
print(",".join(s["encoding"] for s in json.load(open(sys.argv[1] + "/info"))["scales"]))' "$1"
}
same_voxels() { # same_voxels A MIP_A B MIP_B
    "$CVMPI" read "$1" --mip "$2" -o a.npy
    "$CVMPI" read "$3" --mip "$4" -o b.npy
    cmp -s a.npy b.npy || fail "$1 mip $2 and $3 mip $4 differ"
}
expect_usage() { # expect_usage TEXT ARGS...: exit 2 and TEXT on stderr
    local text=$1
    shift
    set +e
    run_np 2 "$@" > out 2> err
    local rc=$?
    set -e
    [ "$rc" = 2 ] || { cat out err; fail "$*: exit $rc, want 2"; }
    grep -qF -- "$text" err || { cat err; fail "$*: want '$text'"; }
}

# every scale, copied as stored; every scale reads back as the source's
run_np 2 transfer L ALL --memory 1M > log 2>&1 || { cat log; fail "transfer all scales"; }
[ "$(scales ALL)" = "4_4_40,8_8_40,16_16_40" ] || fail "ALL has scales $(scales ALL)"
for m in 0 1 2; do same_voxels L $m ALL $m; done
[ "$(digest L)" = "$(digest ALL)" ] || fail "a plain copy of every scale differs from the source"
grep -q "chunks copied as stored, compress gzip level 9" log || { cat log; fail "summary"; }
# every scale re-encoded: the encoding applies to all of them
run_np 2 transfer L PNG --encoding png > log 2>&1 || { cat log; fail "transfer --encoding png"; }
[ "$(scales PNG)" = "4_4_40,8_8_40,16_16_40" ] || fail "PNG has scales $(scales PNG)"
[ "$(encodings PNG)" = "png,png,png" ] || fail "PNG has encodings $(encodings PNG)"
for m in 0 1 2; do same_voxels L $m PNG $m; done
# resumable per scale: --journal DIR keeps one journal per scale
run_np 2 transfer L J --journal jdir --keep-journal > log 2>&1 || { cat log; fail "transfer --journal"; }
run_np 2 transfer L J --journal jdir --keep-journal --resume > log 2>&1 || { cat log; fail "transfer --resume"; }
[ -d jdir/mip-0 ] && [ -d jdir/mip-2 ] || fail "no journal per scale: $(ls jdir)"

# one scale: the destination declares only it
run_np 2 transfer L ONE --mip 1 > log 2>&1 || { cat log; fail "transfer --mip 1"; }
[ "$(scales ONE)" = "8_8_40" ] || fail "ONE has scales $(scales ONE)"
same_voxels L 1 ONE 0
cp ONE/info info.before
# options that contradict the existing scale: exit 2, nothing changed
expect_usage "transfer: --sharded conflicts with scale 8_8_40 of file://$PWD/ONE, which is unsharded" \
    transfer L ONE --mip 1 --sharded
expect_usage "transfer: --encoding png conflicts with scale 8_8_40 of file://$PWD/ONE, which has encoding raw" \
    transfer L ONE --mip 1 --encoding png
expect_usage "transfer: --chunk-size 16,16,16 conflicts with scale 8_8_40 of file://$PWD/ONE, which has chunk size 32,32,16" \
    transfer L ONE --mip 1 --chunk-size 16,16,16
cmp -s info.before ONE/info || fail "a refused transfer changed the info"
# a scale the destination lacks is added (finest first), with the options
run_np 2 transfer L ONE --mip 0 --encoding png > log 2>&1 || { cat log; fail "add a scale"; }
[ "$(scales ONE)" = "4_4_40,8_8_40" ] || fail "ONE has scales $(scales ONE)"
[ "$(encodings ONE)" = "png,raw" ] || fail "ONE has encodings $(encodings ONE)"
same_voxels L 0 ONE 0
same_voxels L 1 ONE 1
# --mip with --downsample: that scale and the new levels above it
run_np 2 transfer L TOP --mip 2 --downsample 1 > log 2>&1 || { cat log; fail "--mip 2 --downsample 1"; }
[ "$(scales TOP)" = "16_16_40,32_32_40" ] || fail "TOP has scales $(scales TOP)"

# an encoding no scale can take: refused before anything is written
"$CVMPI" create SEG --type segmentation --dtype uint64 --size 64,64,16 --resolution 4,4,40 \
    --chunk 32,32,16 --max-mip 1 > /dev/null
set +e
run_np 2 transfer SEG SEGJ --encoding jpeg --fill-missing > out 2> err
rc=$?
set -e
[ "$rc" = 1 ] || { cat err; fail "jpeg for uint64: exit $rc"; }
grep -q "jpeg" err || { cat err; fail "jpeg for uint64: error"; }
[ ! -e SEGJ ] || fail "a refused transfer created its destination"

# a scale that cannot be planned (an exchange round over the memory budget): nothing written
set +e
run_np 2 transfer L NOPLAN --chunk-size 48,48,16 --memory 64K > out 2> err
rc=$?
set -e
[ "$rc" = 1 ] || { cat out err; fail "unplannable: exit $rc"; }
grep -q "more than the 0.07 MB memory budget" err || { cat err; fail "unplannable: error"; }
[ ! -e NOPLAN ] || fail "an unplannable transfer created its destination"
# re-chunking every scale, as tasks or exchange rounds
run_np 2 transfer L RECHUNK --chunk-size 48,48,16 --memory 700K > log 2>&1 || { cat log; fail "re-chunk"; }
for m in 0 1 2; do same_voxels L $m RECHUNK $m; done

# --level: another gzip effort, the same voxels; the default is the bytes of before (level 9)
run_np 2 transfer L FAST --level 1 > log 2>&1 || { cat log; fail "--level 1"; }
grep -q "compress gzip level 1" log || { cat log; fail "the summary does not show level 1"; }
[ "$(digest L)" != "$(digest FAST)" ] || fail "--level 1 wrote the same bytes as level 9"
for f in FAST/4_4_40/*.gz; do gzip -t "$f" || fail "$f is not valid gzip"; done
for m in 0 1 2; do same_voxels L $m FAST $m; done
run_np 2 transfer L DEC --decode > log 2>&1 || { cat log; fail "--decode"; }
[ "$(digest L)" = "$(digest DEC)" ] || fail "the default level changed the bytes"
run_np 2 transfer L NINE --decode --level 9 > log 2>&1 || { cat log; fail "--level 9"; }
[ "$(digest L)" = "$(digest NINE)" ] || fail "--level 9 differs from the default"
expect_usage "--level 3 needs gzip or br: --compress none has no levels" \
    transfer L X --compress none --level 3
expect_usage "--level 3: the chunks of scale 4_4_40 (encoding png) are written without transport compression; give --compress gzip or br" \
    transfer L X --encoding png --level 3
[ ! -e X ] || fail "a refused --level created its destination"
expect_usage "bad --level \`13' (gzip 0..12, br 0..11)" transfer L X --level 13
echo "transfer_scales: ok"
