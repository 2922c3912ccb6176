#!/usr/bin/env bash
# Integration test against a real Slurm: starts a single-node cluster (scripts/slurm-local.sh),
# runs a small grid through `bench slurm --submit` (6 cells in two arrays of at most 4, two at a
# time, then the dependent merge job), runs the same grid locally with `--jobs 2`, and checks that
# the merged tables are byte-identical. Skips, saying why, when Slurm cannot start here. Stops
# every daemon by its PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=$(realpath "${BENCH:-.build/release/bench}")
WORK=$(mktemp -d /tmp/turritopsis-slurm-test.XXXXXX)
chmod 755 "$WORK"   # munged needs every folder above its socket to be world-executable
export SLURM_LOCAL_BASE=$WORK/cluster

if [ "$(id -u)" != 0 ]; then
    echo "slurm integration test SKIPPED: starting a local cluster needs root"
    exit 0
fi
if ! bash scripts/slurm-local.sh up > "$WORK/up.log" 2>&1; then
    echo "slurm integration test SKIPPED: Slurm could not start here:"
    tail -n 8 "$WORK/up.log" | sed 's/^/  /'
    bash scripts/slurm-local.sh down > /dev/null 2>&1 || true
    exit 0
fi
trap 'bash scripts/slurm-local.sh down' EXIT
export SLURM_CONF=$SLURM_LOCAL_BASE/etc/slurm.conf

GRID=(--method finetune ewc replay --seeds 2 --epochs 1 --hidden 50 --name grid)
started=$(date +%s)
"$BENCH" slurm "${GRID[@]}" --out "$WORK/slurm" --max-parallel 2 --max-array-size 4 --submit | tee "$WORK/submit.log"
ids=$(awk '$1 == "cells" || $1 == "merge" { print $2 }' "$WORK/submit.log" | paste -sd, -)
[ "$(grep -c '^cells ' "$WORK/submit.log")" = 2 ] || { echo "expected two arrays (6 cells, at most 4 per array)"; exit 1; }
deadline=$(( $(date +%s) + 900 ))
while [ -n "$(squeue -h -j "$ids" 2>/dev/null)" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { squeue; echo "slurm integration test FAILED: jobs still queued after 900 s"; exit 1; }
    sleep 1
done
states=$(for id in ${ids//,/ }; do scontrol -o show job "$id" | grep -o 'JobState=[A-Z_]*'; done)
echo "slurm jobs finished in $(( $(date +%s) - started )) s: $(echo "$states" | sort | uniq -c | tr '\n' ' ')"
if echo "$states" | grep -qv 'JobState=COMPLETED'; then
    cat "$WORK"/slurm/grid/slurm/logs/* 2>/dev/null | tail -n 30
    echo "slurm integration test FAILED: not every job completed"
    exit 1
fi

"$BENCH" run "${GRID[@]}" --out "$WORK/local" --jobs 2 > "$WORK/local.log" 2>&1
for f in matrix.csv summary.csv; do
    cmp "$WORK/slurm/grid/$f" "$WORK/local/grid/$f" || { echo "slurm integration test FAILED: $f differs from the local run"; exit 1; }
done
echo "slurm integration test PASSED: merged matrix.csv and summary.csv equal the local --jobs 2 run"
