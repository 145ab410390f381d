"""`python -m phasegrok.bench [--quick] [--only NAME ...] [--json PATH]`: how fast, against what.

Each configuration is a sweep YAML under `benchmarks/`, trained through the same
plan-and-execute path as `python -m phasegrok.sweep` (results written to a temporary folder),
each in a fresh process so compile caches and peak memory are its own.

FLOPs are counted over real training examples only (no padding), as the minimal dense work of
a training step, 2 FLOPs per multiply-add. With n the examples of a step (the train size, or
the batch size), widths h_1..h_L, output width o (a logit per class: p, 2p - 1 for
add_integers; embed_dim when tied; 2 for parity, C classes for an arrays task), input width w
(parity's n_bits, an arrays task's flattened example), and a modular model's first layer
applied to the p-row embedding table (t tables: 2 for concat, 1 for sum; d = embed_dim):

    first layer   modular: 2 * t * p * d * h_1 (forward) + the same (weight gradient)
                           + the same again for a learned embedding (the table's gradient,
                           the one input gradient of the first layer backprop needs)
                  parity, arrays: 2 * n * w * h_1 (forward) + the same (weight gradient)
                  (no input gradient for the first layer otherwise)
    layer i > 1:  3 * 2 * n * h_{i-1} * h_i   (forward, weight gradient, input gradient)
    readout:      3 * 2 * n * h_L * o
    tied output:  + 3 * 2 * n * d * p (learned embedding) or 2 * 2 * n * d * p (fixed)

    train FLOPs = runs * steps * (sum of the above)
    eval FLOPs  = runs * (steps / eval_every + 1) * forward FLOPs over train + test examples

Fraction of peak = train FLOPs / wall time / peak, where peak is the best FLOP/s of square
float32 `jnp.dot` products (1024 to 4096) measured in the same process and precision. The
wall time is the whole sweep's: planning, data, compilation, training, evaluation, writing.
Speedup = (time to train a few of the same runs one at a time with phasegrok's own engine,
on one device, compile included once, scaled to all runs) / wall time of the sweep.

`--workers N` instead sets N single-core `--worker` processes on one folder against one process
on every core (`phasegrok.bench.workers`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from phasegrok.plan.batching import step_flops

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
CONFIGS = ("parity-small", "modadd-medium", "modadd-large", "parity-4096")
CPU_CONFIGS = ("parity-small", "modadd-medium", "parity-4096")
SOLO_RUNS = 3  # runs timed one at a time for the speedup


def sweep_flops(runs: list[Any]) -> tuple[float, float]:
    """(train FLOPs, eval FLOPs) of a list of runs, real examples only."""
    train = evals = 0.0
    for run in runs:
        s = run.static
        n = s.batch_size or run.hyper.n_train
        step, _ = step_flops(s, n)
        # A vector task's evaluation reads its real train examples and its test set.
        n_eval = s.n_eval_examples - (0 if s.inputs == "pairs" else s.train_pad - run.hyper.n_train)
        _, forward = step_flops(s, n_eval)
        train += step * s.steps
        evals += forward * (s.n_evals + 1)
    return train, evals


def peak_flops() -> float:
    """Best FLOP/s of square float32 jnp.dot products, 1024 to 4096, on the default device."""
    import jax
    import jax.numpy as jnp

    best = 0.0
    for size in (1024, 2048, 3072, 4096):
        a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
        dot = jax.jit(jnp.dot)
        dot(a, a).block_until_ready()
        times = []
        for _ in range(3 if size > 2048 else 5):
            start = time.perf_counter()
            dot(a, a).block_until_ready()
            times.append(time.perf_counter() - start)
        best = max(best, 2.0 * size**3 / min(times))
    return best


def bench_sweep(name: str, quick: bool) -> dict[str, Any]:
    """The configuration `benchmarks/<name>.yaml` as a sweep dict, shrunk with `quick`."""
    sweep = yaml.safe_load((BENCH_DIR / f"{name}.yaml").read_text())
    return shrink(sweep) if quick else sweep


def shrink(sweep: dict[str, Any]) -> dict[str, Any]:
    """The --quick version: fewer runs and steps, same shapes."""
    quick = json.loads(json.dumps(sweep))
    quick["train"]["steps"] = max(quick["train"]["eval_every"], quick["train"]["steps"] // 5)
    quick["train"]["seeds"] = 1 if isinstance(quick["train"]["seeds"], int) else [0]
    for key, values in quick["grid"].items():
        if isinstance(values, list):
            quick["grid"][key] = values[: max(1, len(values) // 2)]
    return quick


def measure(name: str, quick: bool) -> dict[str, Any]:
    """Run one configuration in this process and return its figures."""
    from phasegrok.sweep import use_host_devices

    use_host_devices()
    import jax

    # Compile time is part of what is measured: never reuse programs from a cache.
    jax.config.update("jax_enable_compilation_cache", False)

    from phasegrok.config.load import load_sweep
    from phasegrok.engine import batch as engine
    from phasegrok.plan.batching import plan_batches
    from phasegrok.plan.runs import Batch, expand
    from phasegrok.run.local import train_missing

    spec = load_sweep(bench_sweep(name, quick))
    runs = expand(spec)
    statics = {r.static for r in runs}
    precision = "highest" if spec.file.train.precision == "highest" else "default"
    with jax.default_matmul_precision("highest" if precision == "highest" else None):
        peak = peak_flops()
    strategy = engine.choose_strategy(runs[0].static)
    with tempfile.TemporaryDirectory() as tmp:
        from phasegrok.store import folder as store

        store.prepare(Path(tmp), spec.identity(), spec.resolved_dict(), force=True)
        start = time.perf_counter()
        train_missing(spec, Path(tmp), progress=False)
        wall = time.perf_counter() - start
        parts = [p for p in (Path(tmp) / store.PARTS).glob("*.runs.parquet")]
        import pandas as pd

        done = pd.concat([pd.read_parquet(p) for p in parts])
        compile_seconds = float(done.drop_duplicates("batch_id")["batch_compile_time"].sum())
    n_batches = len(plan_batches(runs, memory_budget=engine.default_memory_budget()))
    train, evals = sweep_flops(runs)
    # One at a time: phasegrok's own engine, one run per batch, one device, compile included.
    # Timed after the sweep so the sweep's peak RSS is its own.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    solo = runs[:SOLO_RUNS]
    # One device whose matmuls use every core, whole steps: the fastest layout measured for a
    # single run (slices help only when each device has a core to itself).
    solo_strategy = engine.Strategy(1, 1)
    start = time.perf_counter()
    for run in solo:
        engine.execute_batch(Batch("solo", run.static, (run,)), strategy=solo_strategy)
    solo_seconds = (time.perf_counter() - start) * len(runs) / len(solo)
    device = jax.devices()[0]
    memory = None
    if device.platform != "cpu" and device.memory_stats():
        memory = device.memory_stats().get("peak_bytes_in_use")
    steps = runs[0].static.steps
    return {
        "config": name,
        "quick": quick,
        "device": engine.device_description(),
        "strategy": strategy.describe(),
        "precision": precision,
        "runs": len(runs),
        "shape_groups": len(statics),
        "batches": n_batches,
        "steps": steps,
        "wall_s": wall,
        "compile_s": compile_seconds,
        "model_steps_per_s": len(runs) * steps / wall,
        "train_flops": train,
        "eval_flops": evals,
        "achieved_flops_per_s": train / wall,
        "peak_flops_per_s": peak,
        "fraction_of_peak": train / wall / peak,
        "fraction_of_peak_with_eval": (train + evals) / wall / peak,
        "one_at_a_time_s": solo_seconds,
        "speedup": solo_seconds / wall,
        "peak_rss_bytes": rss,
        "peak_device_bytes": memory,
    }


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'config':<15}{'runs':>6}{'steps':>7}{'wall s':>9}{'compile':>9}{'model-steps/s':>15}"
        f"{'GFLOP/s':>10}{'peak':>9}{'frac':>7}{'speedup':>9}{'RSS MiB':>9}"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['config']:<15}{r['runs']:>6}{r['steps']:>7}{r['wall_s']:>9.1f}"
            f"{r['compile_s']:>9.1f}{r['model_steps_per_s']:>15.0f}"
            f"{r['achieved_flops_per_s'] / 1e9:>10.1f}{r['peak_flops_per_s'] / 1e9:>9.1f}"
            f"{r['fraction_of_peak']:>7.2f}{r['speedup']:>9.1f}{r['peak_rss_bytes'] / 2**20:>9.0f}"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m phasegrok.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small versions (~2 min on a CPU)")
    parser.add_argument("--only", nargs="+", choices=CONFIGS, help="these configurations")
    parser.add_argument(
        "--json",
        help="where to write JSON (default benchmarks/results.json; "
        "with --workers benchmarks/results-workers.json)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="instead: N single-core --worker processes on one folder against one process "
        "on every core, for one configuration (--only, default parity-small); see bench_workers",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, metavar="R", help="with --workers: repetitions"
    )
    parser.add_argument(
        "--batch-runs",
        type=int,
        default=32,
        metavar="B",
        help="with --workers: the workers' --batch-runs (default 32: parity-small in 8 batches)",
    )
    parser.add_argument("--one", choices=CONFIGS, help=argparse.SUPPRESS)  # child process
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.quick)))
        return 0
    if args.workers is not None:
        if args.workers < 1 or args.repeats < 1 or args.batch_runs < 1:
            parser.error("--workers, --repeats and --batch-runs must be at least 1")
        from phasegrok.bench.workers import DEFAULT_CONFIG, main_workers

        args.json = args.json or "benchmarks/results-workers.json"
        name = (args.only or [DEFAULT_CONFIG])[0]
        return main_workers(args, name, bench_sweep(name, args.quick))
    args.json = args.json or "benchmarks/results.json"
    names = args.only or None
    if names is None:
        import jax  # only to see the backend; children start their own JAX

        names = list(CPU_CONFIGS if jax.default_backend() == "cpu" else CONFIGS)
    rows = []
    for name in names:
        cmd = [sys.executable, "-m", "phasegrok.bench", "--one", name]
        if args.quick:
            cmd.append("--quick")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{name}: strategy {row['strategy']}, precision {row['precision']}, {row['device']}")
        rows.append(row)
    print(_table(rows))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
