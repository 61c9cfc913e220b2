#!/usr/bin/env bash
# Progress and --report of MPI jobs. Under mpirun on a terminal rank 0 (only) draws the bar
# (mpirun's stderr is the terminal, the ranks' are pipes); --no-progress silences it,
# --progress forces it; the last progress line's rate is the final summary's. Every MPI job
# (transfer, verify, downsample, import, export, skeleton convert, a job file) writes
# --report FILE.json with the command line, source, destination, start time, the wall time of
# the job (not the sum over ranks), per-rank figures, failed tasks and errors.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
command -v mpirun > /dev/null || { echo "mpirun not installed: skipped"; exit 0; }
command -v script > /dev/null || fail "script (util-linux) missing"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_mpi_yield_when_idle=1
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 # Open MPI's own leaks

"$CVMPI" create src --type image --dtype uint8 --size 64,64,8 --resolution 1,1,1 \
    --chunk 32,32,8 > /dev/null
$PY -c "import numpy as np; np.save('a.npy', (np.arange(64 * 64 * 8) % 251).astype(np.uint8).reshape(64, 64, 8, 1, order='F'))"
"$CVMPI" write src --bbox 0,0,0,64,64,8 -i a.npy

section "a bar on the terminal under mpirun, from rank 0 only"
script -qec "mpirun -n 2 '$CVMPI' transfer src t1" /dev/null > tty.log || { cat tty.log; fail "transfer"; }
[[ $(grep -ac $'\rtransfer \[#' tty.log) == 1 ]] || { cat -A tty.log; fail "want one bar"; }
grep -aq "cvmpi: transfer: 4/4" tty.log && fail "log line on a terminal"
bar_rate=$(grep -ao $'\rtransfer \[#*\] 4/4 tasks 100.0% *[0-9.]* MB/s' tty.log | awk '{print $(NF-1)}')
sum_rate=$(grep -ao '([0-9.]* MB/s) on 2 ranks' tty.log | tr -d '(' | awk '{print $1}')
[[ -n $bar_rate && $bar_rate == "$sum_rate" ]] || fail "bar rate $bar_rate, summary $sum_rate"
script -qec "mpirun -n 2 '$CVMPI' transfer src t2 --no-progress" /dev/null > tty2.log ||
    fail "transfer --no-progress"
grep -aq "4/4" tty2.log && { cat -A tty2.log; fail "--no-progress drew progress"; }

section "a log line otherwise, --progress forces the bar"
mpirun -n 2 "$CVMPI" transfer src t3 > out3 2> err3 || fail "transfer"
grep -q $'\r' err3 && fail "bar without a terminal"
line_rate=$(grep -o '^cvmpi: transfer: 4/4 tasks (100.0%), [0-9.]* MB/s' err3 | awk '{print $(NF-1)}')
sum_rate=$(grep -o '([0-9.]* MB/s)' out3 | tr -d '()' | awk '{print $1}')
[[ -n $line_rate && $line_rate == "$sum_rate" ]] || fail "line rate $line_rate, summary $sum_rate"
mpirun -n 2 "$CVMPI" transfer src t4 --progress > out4 2> err4 || fail "transfer --progress"
[[ $(grep -ac $'\rtransfer \[#' err4) == 1 ]] || fail "--progress drew no bar"

section "--report on every MPI job"
$PY - <<'PY'
import h5py, numpy as np
with h5py.File("in.h5", "w") as f:
    f["/img"] = (np.arange(16 * 32 * 32) % 200).astype(np.uint8).reshape(16, 32, 32)
PY
mkdir swc
printf '1 0 0 0 0 1 -1\n2 0 10 0 0 1 1\n' > swc/5.swc
"$CVMPI" create sk --type segmentation --dtype uint64 --size 64,64,64 --resolution 8,8,8 > /dev/null
printf '{"command": "transfer", "args": ["src", "j1"], "options": {"report": "run.json"}}\n' > job.json
mpirun -n 2 "$CVMPI" transfer src tr --report transfer.json > /dev/null 2>&1 || fail "transfer"
mpirun -n 2 "$CVMPI" verify src tr --report verify.json > /dev/null 2>&1 || fail "verify"
mpirun -n 2 "$CVMPI" downsample tr --num-mips 1 --report downsample.json > /dev/null 2>&1 ||
    fail "downsample"
mpirun -n 2 "$CVMPI" import in.h5:/img im --chunk 16,16,8 --resolution 1,1,1 \
    --report import.json > /dev/null 2>&1 ||
    fail "import"
mpirun -n 2 "$CVMPI" export src out.h5:/v --report export.json > /dev/null 2>&1 || fail "export"
mpirun -n 2 "$CVMPI" skeleton convert swc sk --report skeleton.json > /dev/null 2>&1 ||
    fail "skeleton convert"
mpirun -n 2 "$CVMPI" run job.json > run.log 2>&1 || { cat run.log; fail "run"; }
rm -r src/1_1_1/0-32_0-32_0-8*
if mpirun -n 2 "$CVMPI" transfer src bad --report failed.json > /dev/null 2>&1; then
    fail "transfer of a layer with a missing chunk passed"
fi
$PY - "$CVMPI" <<'PY'
import json, re, sys
cvmpi = sys.argv[1]
def check(name, job, argv, src, dst, status="ok"):
    r = json.load(open(name))
    assert r["job"] == job, (name, r["job"])
    assert r["command_line"] == [cvmpi] + argv, (name, r["command_line"])
    assert (r["source"], r["destination"]) == (src, dst), (name, r["source"], r["destination"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["start_time"]), r["start_time"]
    assert r["status"] == status and r["n_ranks"] == 2 and len(r["ranks"]) == 2, (name, r)
    walls = [x["wall_seconds"] for x in r["ranks"]]
    assert r["wall_seconds"] == max(walls) == r["total"]["wall_seconds"], (name, r)
    assert [x["rank"] for x in r["ranks"]] == [0, 1], name
    return r
r = check("transfer.json", "transfer", ["transfer", "src", "tr", "--report", "transfer.json"], "src", "tr")
assert r["total"]["tasks_done"] == 4 and r["total"]["chunks_written"] == 4, r["total"]
assert all(x["error"] is None and x["failures"] == [] for x in r["ranks"]), r
r = check("verify.json", "verify", ["verify", "src", "tr", "--report", "verify.json"], "src", "tr")
assert r["total"]["tasks_done"] == 4 and r["total"]["chunks_read"] == 8, r["total"]
r = check("downsample.json", "downsample",
          ["downsample", "tr", "--num-mips", "1", "--report", "downsample.json"], "tr", "tr")
assert r["total"]["chunks_written"] == 1 and r["total"]["chunks_read"] == 4, r["total"]
r = check("import.json", "import", ["import", "in.h5:/img", "im", "--chunk", "16,16,8",
          "--resolution", "1,1,1", "--report", "import.json"], "in.h5:/img", "im")
assert r["total"]["chunks_written"] == 8, r["total"]
r = check("export.json", "export", ["export", "src", "out.h5:/v", "--report", "export.json"],
          "src", "out.h5:/v")
assert r["total"]["chunks_read"] == 4, r["total"]
check("skeleton.json", "skeleton", ["skeleton", "convert", "swc", "sk", "--report",
      "skeleton.json"], "swc", "sk")
check("run.json", "transfer", ["run", "job.json"], "src", "j1")
r = check("failed.json", "transfer", ["transfer", "src", "bad", "--report", "failed.json"],
          "src", "bad", "failed")
fails = [f for x in r["ranks"] for f in x["failures"]]
assert len(fails) == 1 and r["total"]["tasks_failed"] == 1, r
assert fails[0]["box"] == "0,0,0,32,32,8" and "is missing (use --fill-missing)" in fails[0]["cause"], fails
assert all(x["error"] and "1 of 4 tasks failed" in x["error"] for x in r["ranks"]), r
PY
echo "ux_job_report: ok"

section "--secrets never reaches a report (whole, abbreviated, with =)"
secret='{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3tvalue"}'
"$CVMPI" transfer src s1 --fill-missing --secrets "$secret" --report s1.json > /dev/null 2>&1 || fail "secrets"
"$CVMPI" transfer src s2 --fill-missing --secr "$secret" --report s2.json > /dev/null 2>&1 || fail "--secr"
"$CVMPI" transfer src s3 --fill-missing "--secrets=$secret" --report s3.json > /dev/null 2>&1 || fail "--secrets="
grep -l "s3cr3tvalue\|AKIDEXAMPLE" s1.json s2.json s3.json && fail "a report holds the secret"
$PY - <<'PY'
import json
for name, want in (("s1", ["--secrets", "(hidden)"]), ("s2", ["--secr", "(hidden)"]),
                   ("s3", ["--secrets=(hidden)"])):
    line = json.load(open(name + ".json"))["command_line"]
    assert all(w in line for w in want), (name, line)
PY
