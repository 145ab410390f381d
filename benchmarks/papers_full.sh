#!/usr/bin/env bash
# Run full paper presets and compare each with its published reference, cheapest first.
#   bash benchmarks/papers_full.sh [OUTDIR] [NAME ...]     (OUTDIR default: $OUT; NAME: all)
# Each preset trains into OUTDIR/<name>/ (no figures: draw them later with
# `python -m phasegrok.plot OUTDIR/<name>`), then `python -m phasegrok.compare` writes its
# side-by-side figure there and its printed tables to OUTDIR/<name>.compare.txt.
# Sized for one GPU (the CPU estimates of `--dry-run` are hours). A preset that fails does not
# stop the others; PRESET_TIMEOUT (seconds) bounds each one's training. Times go to
# OUTDIR/papers_full.times. WORKERS=N trains each preset with N `--worker` processes (they share
# one GPU, overlapping their compiles and host-side gaps; BATCH_RUNS sets their --batch-runs,
# default 256) and then `--merge`s. omnigrok-mnist is left out: it needs a copy of MNIST (task.path).
# power-fraction-gpu is power-fraction at 2e4 of its 1e5 steps; the faithful preset takes ~9 min
# on one H200.
set -u
out="${1:-${OUT:?give an output folder or set OUT}}"
shift || true
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(pair-modular-reverse pair-modular-regrok omnigrok-init pair-modular pair-parity
         liu-toy power-fraction-gpu)
fi
mkdir -p "$out"
cd "$(dirname "$0")/.."

train() {  # train one preset into $out/$1
  local sweep="sweeps/papers/$1.yaml" folder="$out/$1"
  if [ "${WORKERS:-1}" -le 1 ]; then
    timeout "${PRESET_TIMEOUT:-0}" python3 -m phasegrok.sweep "$sweep" --out "$folder" \
      --no-plots --quiet --yes
    return
  fi
  for _ in $(seq "$WORKERS"); do
    timeout "${PRESET_TIMEOUT:-0}" python3 -m phasegrok.sweep "$sweep" --out "$folder" \
      --worker --batch-runs "${BATCH_RUNS:-256}" --quiet --yes &
  done
  wait
  python3 -m phasegrok.sweep "$sweep" --out "$folder" --merge --no-plots --quiet
}

for name in "${names[@]}"; do
  start=$(date +%s)
  train "$name" \
    && python3 -m phasegrok.compare "$out/$name" --no-figure > "$out/$name.compare.txt" 2>&1
  rc=$?
  echo "$name rc=$rc seconds=$(($(date +%s) - start))" | tee -a "$out/papers_full.times"
  tail -n 1 "$out/$name.compare.txt" 2>/dev/null
done
