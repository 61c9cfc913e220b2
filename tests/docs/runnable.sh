#!/usr/bin/env bash
# Runs every example of the docs that a user can run locally: each fenced block whose info string
# is `sh runnable` in README.md and docs/*.md, in document order, with `bash -euo pipefail` in one
# scratch directory that holds the sample the quick start makes (sample/stack.h5 and the layer
# sample/layer, imported and downsampled under mpirun as jobs/quickstart.sh does) and `jobs/`.
# `cvmpi` on PATH is the binary given. Fails naming the file and line of the first failing block.
#   runnable.sh CVMPI [FILE.md ...]
set -euo pipefail
CVMPI=${1:?usage: runnable.sh CVMPI [FILE.md ...]}
shift
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CVMPI=$(cd "$(dirname "$CVMPI")" && pwd)/$(basename "$CVMPI")
if [ $# -eq 0 ]; then set -- "$REPO/README.md" "$REPO"/docs/*.md; fi
docs=()
for doc in "$@"; do docs+=("$(cd "$(dirname "$doc")" && pwd)/$(basename "$doc")"); done
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/bin"
ln -s "$CVMPI" "$WORK/bin/cvmpi"
# The examples' python3 is the one the tests use (with Debian's numpy and h5py).
ln -s /usr/bin/python3 "$WORK/bin/python3"
export PATH="$WORK/bin:$PATH"
# mpirun as tests/mpi/lib.sh runs it: as root, oversubscribed, on loopback.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_mpi_yield_when_idle=1 ASAN_OPTIONS=detect_leaks=0
cd "$WORK"
cp -r "$REPO/jobs" jobs

# The sample of jobs/quickstart.sh: smooth blobs plus noise, 64 x 256 x 256 (z, y, x), 4x4x40 nm.
mkdir sample
/usr/bin/python3 "$REPO/jobs/make_sample.py" sample/stack.h5
mpirun -n 2 cvmpi -q import sample/stack.h5:/raw "file://$WORK/sample/layer" --chunk 64,64,32 \
    --downsample 4 --journal sample/journal > /dev/null

# Extract the blocks: one script per block, named by its file and the line of its fence.
/usr/bin/python3 - "$WORK/blocks" "$REPO" "${docs[@]}" <<'PY'
import os, re, sys
out, repo, docs = sys.argv[1], sys.argv[2], sys.argv[3:]
os.makedirs(out)
n = 0
for doc in docs:
    lines = open(doc, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(```+)\s*sh runnable\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, fence, indent = i + 1, m.group(2), len(m.group(1))
        body = []
        i += 1
        while i < len(lines) and not re.match(r"^\s*" + fence + r"\s*$", lines[i]):
            body.append(lines[i][indent:])
            i += 1
        n += 1
        name = os.path.relpath(doc, repo)
        with open(os.path.join(out, "%04d" % n), "w") as f:
            f.write("%s:%d\n" % (name, start) + "\n".join(body) + "\n")
        i += 1
print("runnable.sh: %d runnable blocks" % n)
PY

count=0
for block in "$WORK"/blocks/*; do
    where=$(head -n 1 "$block")
    tail -n +2 "$block" > "$WORK/block.sh"
    if ! (cd "$WORK" && bash -euo pipefail "$WORK/block.sh") > "$WORK/block.log" 2>&1; then
        echo "runnable.sh: the block at $where fails:" >&2
        sed 's/^/    /' "$WORK/block.sh" >&2
        echo "  its output:" >&2
        tail -n 30 "$WORK/block.log" >&2
        exit 1
    fi
    count=$((count + 1))
done
[ "$count" -gt 0 ] || {
    echo "runnable.sh: no \`sh runnable' block found" >&2
    exit 1
}
echo "runnable.sh: $count blocks ran"
