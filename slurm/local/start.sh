#!/usr/bin/env bash
# Start a one-node Slurm (munged, slurmctld, slurmd) for tests, state under $1; prints the
# SLURM_CONF path. Stop it with stop.sh DIR (by PID file).
set -euo pipefail
dir=${1:?usage: start.sh STATE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"/{state,spool,tmp,munge,munge-key}
chmod 755 "$dir" # munged wants every directory above its socket searchable
chmod 755 "$dir/munge"
chmod 700 "$dir/munge-key" "$dir/state"
sed -e "s#@DIR@#$dir#g" -e "s#@CTLD_PORT@#${CVMPI_SLURMCTLD_PORT:-6817}#" \
    -e "s#@SLURMD_PORT@#${CVMPI_SLURMD_PORT:-6818}#" "$here/slurm.conf.in" > "$dir/slurm.conf"
export SLURM_CONF=$dir/slurm.conf
if [ ! -f "$dir/munge-key/munge.key" ]; then
    head -c 1024 /dev/urandom > "$dir/munge-key/munge.key"
    chmod 400 "$dir/munge-key/munge.key"
fi
/usr/sbin/munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge-key/munge.key" \
    --log-file="$dir/munge/munged.log" --pid-file="$dir/munge/munged.pid" \
    --seed-file="$dir/munge-key/munged.seed"
/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF" -N localhost
for _ in $(seq 1 120); do
    if sinfo -h -N -o '%T' 2> /dev/null | grep -qx idle; then
        echo "$SLURM_CONF"
        exit 0
    fi
    sleep 0.25
done
echo "slurm did not become idle in 30 s" >&2
tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
exit 1
