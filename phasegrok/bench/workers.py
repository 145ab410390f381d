"""`python -m phasegrok.bench --workers N`: N single-core workers against one two-core process.

For one benchmark configuration (default parity-small), side by side in one invocation:

    (a) one process using every core of this one's affinity mask: the plain sweep CLI
        (`python -m phasegrok.sweep cfg.yaml --out A --no-plots --no-live --quiet`), its
        default batching, wall time until it exits (training, assembling, classifying);
    (b) N `--worker` processes on one fresh folder, worker i pinned to core i mod cores
        (`os.sched_setaffinity`, so each has one XLA device), all started together, wall
        time until the last exits; then `--merge --no-plots`, timed apart.

Throughput = runs * steps / wall seconds (model-steps/s); both train the same runs, so
ratio = throughput(b) / throughput(a) = wall(a) / wall(b). The order of (a) and (b)
alternates over the repetitions so that a drift of the shared machine hits both. Every
process compiles its own programs: the compile cache is off (`PHASEGROK_COMPILE_CACHE=off`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG = "parity-small"
ENV = {**os.environ, "PHASEGROK_COMPILE_CACHE": "off", "PYTHONUNBUFFERED": "1"}


def sweep_command(sweep_file: Path, out: Path) -> list[str]:
    """The sweep CLI in a fresh Python process."""
    return [sys.executable, "-m", "phasegrok.sweep", str(sweep_file), "--out", str(out)]


def pinned(core: int) -> Callable[[], None]:
    """A `preexec_fn` that pins the child to one core (before JAX counts its devices)."""
    return lambda: os.sched_setaffinity(0, {core})


def run_one(cmd: list[str], core: int | None = None) -> float:
    """Run `cmd` (pinned to `core` if given) to completion; its wall seconds. Raises on failure."""
    start = time.perf_counter()
    proc = subprocess.run(
        cmd,
        env=ENV,
        capture_output=True,
        text=True,
        preexec_fn=None if core is None else pinned(core),
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return wall


def run_together(cmds: list[list[str]], cores: list[int]) -> float:
    """Start every command at once, each pinned to its core; wall seconds until the last exits."""
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            cmd,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=pinned(core),
        )
        for cmd, core in zip(cmds, cores, strict=True)
    ]
    errors = [(p.wait(), p.stderr.read() if p.stderr else "") for p in procs]
    wall = time.perf_counter() - start
    for status, err in errors:
        if status != 0:
            raise RuntimeError(f"a worker exited {status}: {err[-2000:]}")
    return wall


def worker_cores(n: int, available: list[int]) -> list[int]:
    """Core of each of `n` workers: worker i on available[i mod len(available)]."""
    return [available[i % len(available)] for i in range(n)]


def one_process(sweep_file: Path, tmp: Path, rep: int) -> float:
    """(a): the plain sweep path on every core; wall seconds."""
    cmd = sweep_command(sweep_file, tmp / f"one-{rep}")
    return run_one([*cmd, "--no-plots", "--no-live", "--quiet"])


def many_workers(
    sweep_file: Path, tmp: Path, rep: int, n: int, batch_runs: int, cores: list[int]
) -> tuple[float, float]:
    """(b): n pinned `--worker` processes on one fresh folder, then `--merge`;
    (wall seconds of the workers, wall seconds of the merge)."""
    out = tmp / f"workers-{rep}"
    cmd = [*sweep_command(sweep_file, out), "--worker", "--quiet", "--batch-runs", str(batch_runs)]
    wall = run_together([cmd] * n, worker_cores(n, cores))
    merge = run_one([*sweep_command(sweep_file, out), "--merge", "--no-plots", "--quiet"])
    return wall, merge


def measure_workers(
    name: str, sweep: dict[str, Any], n: int, repeats: int, batch_runs: int
) -> dict[str, Any]:
    """Both set-ups `repeats` times on the sweep dict `sweep` (benchmark `name`), alternating
    which goes first; figures and ratios."""
    from phasegrok.config.load import load_sweep
    from phasegrok.plan.runs import expand

    runs = expand(load_sweep(sweep))
    model_steps = len(runs) * runs[0].static.steps
    cores = sorted(os.sched_getaffinity(0))
    reps = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sweep_file = tmp / f"{name}.yaml"
        sweep_file.write_text(yaml.safe_dump(sweep))
        for rep in range(repeats):
            order = ["one", "workers"] if rep % 2 == 0 else ["workers", "one"]
            row: dict[str, Any] = {"order": order}
            for which in order:
                if which == "one":
                    row["one_process_s"] = one_process(sweep_file, tmp, rep)
                else:
                    wall, merge = many_workers(sweep_file, tmp, rep, n, batch_runs, cores)
                    row["workers_s"], row["merge_s"] = wall, merge
            row["ratio"] = row["one_process_s"] / row["workers_s"]
            row["ratio_with_merge"] = row["one_process_s"] / (row["workers_s"] + row["merge_s"])
            print(
                f"rep {rep} ({' then '.join(order)}): one process {row['one_process_s']:.1f} s,"
                f" {n} workers {row['workers_s']:.1f} s (+ merge {row['merge_s']:.1f} s):"
                f" ratio {row['ratio']:.3f} ({row['ratio_with_merge']:.3f} with merge)",
                flush=True,
            )
            reps.append(row)
    n_batches = -(-len(runs) // batch_runs)  # one shape group: equal-sized cuts of <= batch_runs
    return {
        "config": name,
        "workers": n,
        "cores": len(cores),
        "worker_cores": worker_cores(n, cores),
        "batch_runs": batch_runs,
        "worker_batches": n_batches,
        "runs": len(runs),
        "steps": runs[0].static.steps,
        "model_steps": model_steps,
        "repetitions": [
            {
                **r,
                "one_process_model_steps_per_s": model_steps / r["one_process_s"],
                "workers_model_steps_per_s": model_steps / r["workers_s"],
            }
            for r in reps
        ],
        "ratios": [r["ratio"] for r in reps],
        "ratios_with_merge": [r["ratio_with_merge"] for r in reps],
    }


def main_workers(args: Any, name: str, sweep: dict[str, Any]) -> int:
    """The `--workers N` mode of `python -m phasegrok.bench` on benchmark `name` (its sweep
    dict `sweep`, from `bench.bench_sweep`): print, write JSON."""
    import jax  # only its version: the children start their own

    result = measure_workers(name, sweep, args.workers, args.repeats, args.batch_runs)
    result["quick"] = args.quick
    result["jax"] = jax.__version__
    result["device"] = cpu_model()
    result["date"] = time.strftime("%Y-%m-%d")
    result["commit"] = _commit()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    print(f"ratios {', '.join(f'{r:.3f}' for r in result['ratios'])}; wrote {args.json}")
    return 0


def cpu_model() -> str:
    """This machine's CPU model name, as /proc/cpuinfo says (or the platform's word)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
        )
    except OSError:
        return None
    return out.stdout.strip() or None
