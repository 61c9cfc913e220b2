#!/usr/bin/env bash
# Stop the test Slurm started by start.sh DIR: TERM each daemon by its PID file, KILL after 15 s.
dir=${1:?usage: stop.sh STATE_DIR}
for f in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2> /dev/null || continue
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2> /dev/null && kill -KILL "$pid"
done
exit 0
