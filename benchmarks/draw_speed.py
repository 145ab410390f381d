"""Redraw time of a results folder's figures against its training time.

    python benchmarks/draw_speed.py [DIR] [--repeat 3] [--json PATH]

DIR (default results/quickstart, from `python -m phasegrok.sweep sweeps/quickstart.yaml`) is
redrawn `--repeat` times by `python -m phasegrok.plot DIR` in a fresh process (imports
included, as a user runs it); the best wall time is compared with the training time, the sum
over batches of `batch_wall_time - batch_compile_time`. The issue's target: at most 0.25.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def training_seconds(results_dir: Path) -> float:
    """Training time of the sweep: wall minus compile time, once per batch."""
    runs = pd.read_parquet(results_dir / "runs.parquet")
    cols = ["batch_id", "batch_wall_time", "batch_compile_time"]
    batches = runs[cols].drop_duplicates("batch_id")
    return float((batches["batch_wall_time"] - batches["batch_compile_time"]).sum())


def redraw_seconds(results_dir: Path) -> float:
    """Wall time of one `python -m phasegrok.plot DIR` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "phasegrok.plot", str(results_dir)],
        check=True,
        capture_output=True,
        env=env,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", nargs="?", default=str(ROOT / "results" / "quickstart"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    d = Path(args.results_dir)
    train = training_seconds(d)
    draws = [redraw_seconds(d) for _ in range(args.repeat)]
    out = {
        "results_dir": str(d),
        "cpus": os.cpu_count(),
        "training_s": round(train, 2),
        "redraw_s": [round(t, 2) for t in draws],
        "ratio": round(min(draws) / train, 3),
    }
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
