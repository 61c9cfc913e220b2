#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A rank killed (kill -9) between writing an object's temporary file and renaming it leaves
# .cvmpi-tmp-* in the destination. On --resume every job kind that writes a layer removes,
# before any rank writes, the temporaries of the objects it owns in every scale it writes, and
# says how many: import (chunks, and --sharded shard files), downsample and
# transfer --downsample (every new scale), exchange rounds (re-chunking), hashed shards and a
# transfer whose tasks are whole shard files. Each job is killed mid-way (one rank, SIGKILL);
# then temporaries named as the writer names them (.cvmpi-tmp-PID-N-OBJECT) are planted for
# objects of every scale it writes; the resumed run leaves none and its layer is byte-identical
# to an uninterrupted run's (one process without mpirun where it fits --memory: the bytes do
# not depend on the rank count, and it spares an mpirun start-up; plans: --dry-run --ranks 2).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
if ! command -v mpirun >/dev/null; then
    echo "SKIP: resume_stale_tmp_jobs needs mpirun"
    exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
export OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_mpi_yield_when_idle=1

records() { cat "$1"/rank-*.log 2>/dev/null | grep -vc '^cvmpi-journal' || true; }

# digest DIR: every file's name and content hash, sorted.
digest() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); }

# interrupt JOURNAL N CVMPI-ARGS...: run the job on 2 ranks, each task slowed down, and SIGKILL
# one rank once JOURNAL holds N records (a job that finished first is left as it is).
interrupt()
{
    local journal=$1 n=$2
    shift 2
    CVMPI_TEST_TASK_DELAY_MS=60 mpirun -n 2 "$CVMPI" "$@" >"$CAPTURE/killed" 2>&1 &
    local job=$!
    for _ in $(seq 1 1200); do
        [[ $(records "$journal") -ge $n ]] && break
        kill -0 "$job" 2>/dev/null || break
        sleep 0.05
    done
    local victim
    victim=$(pgrep -P "$job" | tail -n 1 || true)
    if [[ -n $victim ]]; then
        kill -KILL "$victim" 2>/dev/null || true
    fi
    if wait "$job"; then
        echo "note: $1 $2 finished before a rank could be killed"
    fi
}

# plant LAYER REF SCALE...: in each SCALE of LAYER, the temporaries of the first two objects
# (chunks or shard files) the uninterrupted run REF wrote there; sets PLANTED to the number of
# temporaries now in LAYER (a killed rank may have left some of its own).
plant()
{
    local layer=$1 ref=$2 scale object i
    shift 2
    for scale in "$@"; do
        mkdir -p "$layer/$scale"
        i=0
        for object in $(find "$ref/$scale" -maxdepth 1 -type f -printf '%f\n' | LC_ALL=C sort |
            head -n 2); do
            echo partial >"$layer/$scale/.cvmpi-tmp-424242-$i-$object"
            i=$((i + 1))
        done
        [[ $i == 2 ]] || fail "$ref/$scale has fewer than 2 objects"
    done
    PLANTED=$(find "$layer" -name '.cvmpi-tmp-*' | wc -l)
}

# resumed LAYER REF CVMPI-ARGS...: --resume on 2 ranks removes every temporary, says how many
# (in all), and gives REF's bytes.
resumed()
{
    local layer=$1 ref=$2
    shift 2
    run mpirun -n 2 "$CVMPI" -v "$@" --resume
    [[ $RC == 0 ]] || fail "resume of $layer"
    # One line per job (transfer --downsample runs two).
    local said
    said=$(awk '/info: removed [0-9]+ temporary files? a stopped run left behind$/ { n += $4 }
        END { print n + 0 }' "$ERR")
    [[ $said == "$PLANTED" ]] || fail "$layer: the log says $said temporary files were removed, want $PLANTED"
    expect_no_temp_files "$layer"
    [[ "$(digest "$ref")" == "$(digest "$layer")" ]] ||
        fail "$layer differs from an uninterrupted run"
}

scales() { (cd "$1" && find . -mindepth 1 -maxdepth 1 -type d -printf '%P\n' | LC_ALL=C sort); }

random_layer src 192 160 64 21

section "downsample: every new scale"
cp -r src ds-ref
cp -r src ds
DS=(--num-mips 3 --memory 1M)
expect_exit 0 "$CVMPI" downsample ds-ref "${DS[@]}"
interrupt j-ds 3 downsample ds "${DS[@]}" --journal j-ds
new_scales=$(scales ds-ref | grep -vx 4_4_40)
[[ $(echo "$new_scales" | wc -l) == 3 ]] || fail "want 3 new scales, got: $new_scales"
# shellcheck disable=SC2086 # one word per scale
plant ds ds-ref $new_scales
resumed ds ds-ref downsample ds "${DS[@]}" --journal j-ds

section "transfer --downsample: the transferred scale and every new one"
TD=(--downsample 2 --memory 1M)
expect_exit 0 "$CVMPI" transfer src td-ref "${TD[@]}"
interrupt j-td/downsample 2 transfer src td "${TD[@]}" --journal j-td
# shellcheck disable=SC2046
plant td td-ref $(scales td-ref)
resumed td td-ref transfer src td "${TD[@]}" --journal j-td

section "exchange rounds: re-chunking"
RX=(--chunk-size 48,48,24 --memory 960K --threads 1)
run "$CVMPI" transfer src x --dry-run --ranks 2 "${RX[@]}"
grep -q '^plan: [0-9]* exchange rounds' "$OUT" || fail "re-chunking does not run as exchange rounds"
# one rank cannot fit a round of these in --memory: the reference runs on 2 too
expect_exit 0 mpirun -n 2 "$CVMPI" transfer src rx-ref "${RX[@]}"
interrupt j-rx 2 transfer src rx "${RX[@]}" --journal j-rx
plant rx rx-ref 4_4_40
resumed rx rx-ref transfer src rx "${RX[@]}" --journal j-rx

section "hashed shards: tasks spill chunks, owners write the shard files"
SPEC='{"@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 0, "minishard_bits": 1, "shard_bits": 4, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}'
HX=(--sharding "$SPEC" --memory 1200K --threads 1)
run "$CVMPI" transfer src x --dry-run --ranks 2 "${HX[@]}"
grep -q '^plan: hashed shards (murmurhash3_x86_128): 60 chunks in 16 shard files' "$OUT" ||
    fail "hashed shards: no spill plan"
expect_exit 0 "$CVMPI" transfer src hx-ref "${HX[@]}"
interrupt j-hx 2 transfer src hx "${HX[@]}" --journal j-hx
plant hx hx-ref 4_4_40
resumed hx hx-ref transfer src hx "${HX[@]}" --journal j-hx

section "transfer: tasks that are whole shard files"
SX=(--sharded --shard-bytes 40K --memory 300K)
expect_exit 0 "$CVMPI" transfer src sx-ref "${SX[@]}"
[[ $(find sx-ref/4_4_40 -name '*.shard' | wc -l) -ge 4 ]] || fail "want several shard files"
interrupt j-sx 2 transfer src sx "${SX[@]}" --journal j-sx
plant sx sx-ref 4_4_40
resumed sx sx-ref transfer src sx "${SX[@]}" --journal j-sx

if "$PY" -c "import h5py" 2>/dev/null; then
    "$PY" - <<'PY'
import h5py, numpy as np
a = np.random.default_rng(5).integers(0, 65536, (64, 96, 128)).astype("uint16")
with h5py.File("src.h5", "w") as f:
    f.create_dataset("vol", data=a, chunks=(16, 32, 32))
PY
    for kind in chunks shards; do
        section "import: $kind"
        IM=(--chunk 16,16,16 --memory 64K --resolution 1,1,1)
        [[ $kind == chunks ]] || IM=(--chunk 16,16,16 --memory 400K --resolution 1,1,1 --sharded
            --shard-bytes 40K)
        expect_exit 0 "$CVMPI" import src.h5:/vol "im-$kind-ref" "${IM[@]}"
        interrupt "j-im-$kind" 2 import src.h5:/vol "im-$kind" "${IM[@]}" --journal "j-im-$kind"
        plant "im-$kind" "im-$kind-ref" 1_1_1
        resumed "im-$kind" "im-$kind-ref" import src.h5:/vol "im-$kind" "${IM[@]}" \
            --journal "j-im-$kind"
    done
else
    echo "SKIP: import cases (no python3-h5py)"
fi
echo "resume_stale_tmp_jobs: ok"
