#!/usr/bin/env bash
# Run every full paper preset and compare it with its published reference, cheapest first.
#   bash benchmarks/papers_full.sh [OUTDIR]      (default: $OUT)
# Each preset trains into OUTDIR/<name>/ (no figures: drawing is left for later with
# `python -m phasegrok.plot OUTDIR/<name>`), then `python -m phasegrok.compare` writes its
# side-by-side figure there and its printed tables to OUTDIR/<name>.compare.txt.
# Sized for one GPU (the CPU estimates of `--dry-run` are hours); a preset that fails does not
# stop the others. Timings per preset go to OUTDIR/papers_full.times.
set -u
out="${1:-${OUT:?give an output folder or set OUT}}"
mkdir -p "$out"
cd "$(dirname "$0")/.."

run() {
  local name="$1" start end
  start=$(date +%s)
  python -m phasegrok.sweep "sweeps/papers/$name.yaml" --out "$out/$name" --no-plots --quiet --yes \
    && python -m phasegrok.compare "$out/$name" > "$out/$name.compare.txt"
  local rc=$?
  end=$(date +%s)
  echo "$name rc=$rc seconds=$((end - start))" | tee -a "$out/papers_full.times"
  tail -n 1 "$out/$name.compare.txt" 2>/dev/null
}

# Cheapest first (the --dry-run estimates, 2026-11-28): each line one preset.
run pair-modular-reverse
run pair-modular-regrok
run pair-modular
run pair-parity
