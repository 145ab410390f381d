"""How wide a vmap an accelerator wants: modadd-large's 1,024 runs at several chunk widths.

    python benchmarks/gpu_width.py [--steps 2000] [--widths 128,256,512,1024] [--json PATH]

Trains all 1,024 runs of `benchmarks/modadd-large.yaml` (steps cut to `--steps`) as one batch
per layout, `jax.lax.map` over chunks of `vmap_width` runs vmapped side by side, and reports
model-steps/s after compilation, compile time, peak device memory, and how far each layout's
curves are from the first layout's (the same runs: they should agree to float rounding).
Also times the sweep's own layout (batches of 256 runs, the `--batch-runs` default).
For accelerators; on a CPU it runs, slowly, and means little.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np
import yaml

from phasegrok.config.load import load_sweep
from phasegrok.engine import batch as engine
from phasegrok.engine import training
from phasegrok.plan.runs import Batch, expand

CONFIG = Path(__file__).resolve().parent / "modadd-large.yaml"


def timed(batches: list[Batch], strategy: engine.Strategy) -> tuple[float, float, np.ndarray]:
    """(wall s, compile s, metrics of every run) for training `batches` one after another."""
    start = time.perf_counter()
    results = [engine.execute_batch(b, strategy=strategy) for b in batches]
    wall = time.perf_counter() - start
    compile_s = sum(r.compile_seconds for r in results)
    return wall, compile_s, np.concatenate([r.metrics for r in results])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--widths", default="128,256,512,1024")
    parser.add_argument(
        "--runs", type=int, default=None, help="the first N runs only (a smoke test)"
    )
    parser.add_argument("--layouts", default=None, help="WIDTH:BATCH_RUNS,... instead")
    parser.add_argument("--json", default="gpu-width.json")
    args = parser.parse_args()
    sweep = yaml.safe_load(CONFIG.read_text())
    sweep["train"]["steps"] = args.steps
    sweep["train"]["eval_every"] = min(sweep["train"]["eval_every"], args.steps)
    runs = expand(load_sweep(sweep))[: args.runs]
    static = runs[0].static
    rows, reference = [], None
    names = training.metric_names(static)
    test_acc = names.index("test_acc")
    layouts = [(w, len(runs)) for w in map(int, args.widths.split(","))] + [
        (128, min(256, len(runs)))
    ]
    if args.layouts:
        layouts = [tuple(map(int, item.split(":"))) for item in args.layouts.split(",")]
    for width, batch_runs in layouts:
        batches = [
            Batch(f"b{i}", static, tuple(runs[i : i + batch_runs]))
            for i in range(0, len(runs), batch_runs)
        ]
        wall, compile_s, metrics = timed(batches, engine.Strategy(vmap_width=width))
        if reference is None:
            reference = metrics
        stats = jax.devices()[0].memory_stats() or {}
        row = {
            "vmap_width": width,
            "batch_runs": batch_runs,
            "wall_s": wall,
            "compile_s": compile_s,
            "model_steps_per_s": len(runs) * args.steps / (wall - compile_s),
            "peak_device_bytes": stats.get("peak_bytes_in_use"),
            "max_abs_diff_vs_first": {
                name: float(np.nanmax(np.abs(metrics[..., i] - reference[..., i])))
                for i, name in enumerate(names)
            },
            "runs_final_test_acc_off_by_0.1": int(
                (np.abs(metrics[:, -1, test_acc] - reference[:, -1, test_acc]) > 0.1).sum()
            ),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {"device": engine.device_description(), "steps": args.steps, "layouts": rows}
    Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
