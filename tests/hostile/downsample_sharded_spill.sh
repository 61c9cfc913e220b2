#!/usr/bin/env bash
# `downsample --sharded` keeps each level's encoded chunks in spill files beside the journal
# until every shard is written. A job whose task failed writes no shard file and keeps the
# spill files for --resume; a spill record damaged meanwhile fails its checksum on resume with
# an error naming the file, no shard file is written, and a run without --resume starts over
# and gives the pyramid an uninterrupted run gives.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

random_layer src 96 64 64 4
cp -r src good
run "$CVMPI" downsample good --sharded --num-mips 2
[[ $RC == 0 ]] || fail "uninterrupted run"
cp -r src out
chunk=out/4_4_40/32-64_0-32_32-64.gz
cp "$chunk" keep.gz
truncate -s 50 "$chunk"
run "$CVMPI" downsample out --sharded --num-mips 2 --journal j
[[ $RC == 1 ]] || fail "a failed task must fail the job"
[[ -z $(find out -name '*.shard') ]] || fail "shard files written although a task failed"
[[ -s j/shards1/spill-r0.state && -s j/shards2/spill-r0.state ]] || fail "spill files not kept"
cp keep.gz "$chunk"
# flip two bytes of the first record's data (after its 32-byte header)
printf '\xff\xfe' | dd of=j/shards1/spill-r0.state bs=1 seek=40 conv=notrunc 2>/dev/null
run "$CVMPI" downsample out --sharded --num-mips 2 --journal j --resume
[[ $RC == 1 ]] || fail "a damaged spill record must fail the resumed job"
expect_stderr_contains "\`j/shards1/spill-r0.state': the state of node 0 at byte 32 fails its checksum (rerun without --resume)"
[[ -z $(find out -name '*.shard') ]] || fail "shard files written from a damaged spill file"
run "$CVMPI" downsample out --sharded --num-mips 2 --journal j
[[ $RC == 0 ]] || fail "a fresh run"
for f in $(cd good && find . -name '*.shard'); do expect_same_files "good/$f" "out/$f"; done
[[ $(find out -name '*.shard' | wc -l) == $(find good -name '*.shard' | wc -l) ]] || fail "other shard files"
expect_no_file j
echo "downsample_sharded_spill: ok"
