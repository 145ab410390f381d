"""The time estimate's error on the ready sweeps: estimated vs measured training time.

    PYTHONPATH=. python benchmarks/estimate_error.py [--out benchmarks/results-estimate-cpu.json]

With a fresh throughput cache (`$PHASEGROK_CACHE` in a temporary folder), trains each ready
sweep in turn, twice. Pass 1: each sweep's estimate comes from the sweeps trained before it
(the first is uncalibrated). Pass 2: every sweep again (new folders), each estimated from the
cache after pass 1 and the pass-2 sweeps before it: "once calibrated". The measured time is
the sum of the sweep's batch wall times (training, compiles included; not classifying or
drawing). As the CLI, JAX gets one host device per core; no persistent compile cache.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ["PHASEGROK_CACHE"] = tempfile.mkdtemp(prefix="phasegrok-estimate-")
os.environ["PHASEGROK_COMPILE_CACHE"] = "off"

from phasegrok.run.host import use_host_devices  # noqa: E402

use_host_devices()

from phasegrok.config.load import load_sweep  # noqa: E402
from phasegrok.plan.calibrate import estimate_seconds  # noqa: E402
from phasegrok.plan.groups import plan  # noqa: E402
from phasegrok.sweep import run_sweep  # noqa: E402

SWEEPS = [
    "sweeps/quickstart.yaml",
    "sweeps/fourier-mul.yaml",
    "sweeps/fourier.yaml",
    "sweeps/papers/omnigrok-init-quick.yaml",
    "sweeps/papers/power-fraction-quick.yaml",
    "sweeps/papers/pair-modular-reverse-quick.yaml",
]


def one(path: str, out: Path) -> dict:
    spec = load_sweep(path)
    the_plan = plan(spec)
    estimate, how = estimate_seconds([(g.static, g.n_runs) for g in the_plan.groups])
    start = time.perf_counter()
    res = run_sweep(path, out, progress=False, plots=False)
    wall = time.perf_counter() - start
    batches = res.runs.drop_duplicates("batch_id")
    trained = float(batches["batch_wall_time"].sum())
    return {
        "sweep": path,
        "how": how,
        "estimate_s": round(estimate, 2),
        "training_s": round(trained, 2),
        "wall_s": round(wall, 2),
        "ratio": round(estimate / trained, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results-estimate-cpu.json")
    parser.add_argument("sweeps", nargs="*", default=SWEEPS)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for pass_ in (1, 2):
            for i, path in enumerate(args.sweeps):
                row = {"pass": pass_, **one(path, Path(tmp) / f"{pass_}-{i}")}
                print(json.dumps(row), flush=True)
                rows.append(row)
    Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
