#!/usr/bin/env bash
# The full paper presets of issue #14 (part b: liu-toy, omnigrok-init, power-fraction), cheapest
# first, each into its own folder:  bash benchmarks/papers_full_b.sh [OUT_DIR]  (default $OUT).
# omnigrok-mnist is left out: it needs a copy of MNIST (task.path), which is not there.
# Sized for one GPU (README "Reproducing the papers" gives the measured times); on a 2-core CPU
# these take hours. Each step's wall time is printed and written to OUT_DIR/times.txt.
set -u
out=${1:-${OUT:?give an output folder or set OUT}}
mkdir -p "$out"
cd "$(dirname "$0")/.."
for name in omnigrok-init power-fraction liu-toy; do
    start=$(date +%s)
    python -m phasegrok.sweep "sweeps/papers/$name.yaml" --out "$out/$name" --no-plots --quiet --yes
    rc=$?
    echo "$name rc=$rc wall_s=$(( $(date +%s) - start ))" | tee -a "$out/times.txt"
done
