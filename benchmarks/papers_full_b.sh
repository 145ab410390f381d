#!/usr/bin/env bash
# The full paper presets of issue #14 (part b: liu-toy, omnigrok-init, power-fraction), cheapest
# first, each into its own folder:  bash benchmarks/papers_full_b.sh [OUT_DIR]  (default $OUT).
# omnigrok-mnist is left out: it needs a copy of MNIST (task.path), which is not there.
# power-fraction-gpu is power-fraction at 2e4 of its 1e5 steps (see that file); the faithful
# 1e5 steps take ~9 min on one H200. Measured on one H200 (2026-11-27): omnigrok-init 67 s,
# liu-toy 115 s. On a 2-core CPU these take hours. Each step's wall time is printed and written to OUT_DIR/times.txt.
set -u
out=${1:-${OUT:?give an output folder or set OUT}}
mkdir -p "$out"
cd "$(dirname "$0")/.."
for name in omnigrok-init liu-toy power-fraction-gpu; do
    start=$(date +%s)
    python -m phasegrok.sweep "sweeps/papers/$name.yaml" --out "$out/$name" --no-plots --quiet --yes
    rc=$?
    echo "$name rc=$rc wall_s=$(( $(date +%s) - start ))" | tee -a "$out/times.txt"
done
