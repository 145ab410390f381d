"""What the live index.html costs a sweep: the quickstart with and without live updates.

    PYTHONPATH=. python benchmarks/live_cost.py [--pairs 2] [--batch-runs 8] [--out FILE.json]

Two measures:

1. Wall time of the whole CLI (`python -m phasegrok.sweep sweeps/quickstart.yaml --batch-runs 8`,
   so the 60 runs come in 8 batches and the page is rewritten 8 times), live on and live off
   (`--no-live`), in alternating pairs whose order flips each time (on/off, off/on, ...), since
   the machine is shared and its load drifts. Reported: each pair's ratio on/off and the median.
2. The live work itself, without the noise of training: the quickstart's batches (read back from
   the last folder) replayed through `LivePage.add`, which is exactly what the sweep calls after
   each batch (classify the batch, downsample its curves, rewrite index.html). Reported as a
   share of the median live-off wall time.

The compile cache is shared by all runs (a warm-up run fills it first), so every timed run
compiles from the same cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "sweeps" / "quickstart.yaml"


def sweep_seconds(out: Path, live: bool, batch_runs: int, cache: str) -> float:
    """Wall seconds of one CLI sweep into a fresh folder `out`."""
    args = [sys.executable, "-m", "phasegrok.sweep", str(SWEEP), "--out", str(out), "--quiet"]
    args += ["--batch-runs", str(batch_runs)] + ([] if live else ["--no-live"])
    env = {**os.environ, "PHASEGROK_COMPILE_CACHE": cache, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def replay_seconds(folder: Path) -> tuple[float, int, int]:
    """(seconds in LivePage.add over the folder's batches, batches, final page bytes)."""
    import pandas as pd

    from phasegrok.report.live import LivePage
    from phasegrok.store.folder import read_sweep
    from phasegrok.store.parts import check_parts

    parts = check_parts(folder).whole
    with tempfile.TemporaryDirectory() as tmp:
        page = LivePage(Path(tmp), read_sweep(folder), 60)
        for runs_part in parts:
            curves_part = runs_part.with_name(runs_part.name.replace(".runs.", ".curves."))
            page.add(pd.read_parquet(runs_part), pd.read_parquet(curves_part))
        return page.written, len(parts), page.path.stat().st_size


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--batch-runs", type=int, default=8)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results-live-cpu.json")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base, cache = Path(tmp), str(Path(tmp) / "xla")
        sweep_seconds(base / "warm", True, a.batch_runs, cache)  # fills the compile cache
        pairs = []
        for i in range(a.pairs):
            order = (True, False) if i % 2 == 0 else (False, True)
            t = {
                live: sweep_seconds(base / f"{i}-{live}", live, a.batch_runs, cache)
                for live in order
            }
            pairs.append({"on": t[True], "off": t[False], "ratio": t[True] / t[False]})
            print(
                f"pair {i}: live on {t[True]:.1f} s, off {t[False]:.1f} s, "
                f"ratio {pairs[-1]['ratio']:.3f}"
            )
        live_s, batches, page_bytes = replay_seconds(base / "0-True")
    off = statistics.median(q["off"] for q in pairs)
    result = {
        "sweep": "sweeps/quickstart.yaml",
        "batch_runs": a.batch_runs,
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "pairs": pairs,
        "median_ratio_on_off": statistics.median(q["ratio"] for q in pairs),
        "live_updates": batches,
        "live_seconds": live_s,
        "live_share_of_sweep": live_s / off,
        "final_live_page_bytes": page_bytes,
    }
    print(json.dumps(result, indent=1))
    a.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
