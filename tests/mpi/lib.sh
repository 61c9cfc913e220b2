# Shared helpers for the MPI tests: a scratch directory removed on exit, mpirun set up for
# root and oversubscription on loopback, and a generated source layer.
set -euo pipefail
CVMPI=${1:?usage: $0 PATH/TO/cvmpi}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_mpi_yield_when_idle=1
export ASAN_OPTIONS=detect_leaks=0

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

run_np() { # run_np N cvmpi-args...
    local n=$1
    shift
    mpirun -n "$n" "$CVMPI" "$@"
}

# make_source DIR DTYPE SIZE OFFSET CHUNK: a layer filled with a deterministic pattern.
make_source() {
    local dir=$1 dtype=$2 size=$3 offset=$4 chunk=$5
    "$CVMPI" create "$dir" --type image --dtype "$dtype" --size "$size" --offset "$offset" \
        --resolution 4,4,40 --chunk "$chunk" > /dev/null
    /usr/bin/python3 - "$dtype" "$size" src.npy <<'PY'
import sys, numpy as np
dtype, size, out = sys.argv[1], [int(v) for v in sys.argv[2].split(",")], sys.argv[3]
rng = np.random.default_rng(11)
a = rng.integers(0, 200, size=size + [1]).astype(dtype)
a[: size[0] // 3] = 0  # some all-black chunks
np.save(out, np.asfortranarray(a))
PY
    local x y z ox oy oz
    IFS=, read -r x y z <<< "$size"
    IFS=, read -r ox oy oz <<< "$offset"
    "$CVMPI" write "$dir" --bbox "$ox,$oy,$oz,$((ox + x)),$((oy + y)),$((oz + z))" -i src.npy
}

# digest DIR: one line per file (name and content hash), sorted; ignores nothing.
digest() {
    (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}
