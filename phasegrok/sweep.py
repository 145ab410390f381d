"""`python -m phasegrok.sweep grid.yaml [--out DIR]`: train a whole grid, classify, draw.

Wires the stages together: config -> plan -> engine -> store -> classify -> plots. Validation
happens before JAX is imported; bad input is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from phasegrok import store
from phasegrok.config import ConfigError, SweepSpec, load_sweep
from phasegrok.plan import Run, expand, flops_per_step, make_run, n_params, plan_batches

DEFAULT_RESULTS = Path("results")
# Above these a sweep needs --yes: a typo in a grid should not fill a disk.
MAX_RUNS_WITHOUT_YES = 20_000
MAX_BYTES_WITHOUT_YES = 5 << 30
# A conservative CPU throughput for the --dry-run time estimate.
ASSUMED_FLOPS = 2e10


def default_out(spec: SweepSpec) -> Path:
    return DEFAULT_RESULTS / spec.name


def estimate(runs: list[Run]) -> dict[str, float]:
    """Rough training FLOPs, seconds on a CPU and output bytes of `runs`."""
    flops = sum(flops_per_step(r.static) * r.static.steps for r in runs)
    curve_bytes = sum(60 * (r.static.n_evals + 1) for r in runs)
    param_bytes = sum(4 * n_params(r.static) * (1 + len(r.static.save_params_at)) for r in runs)
    return {
        "flops": flops,
        "cpu_seconds": flops / ASSUMED_FLOPS,
        "bytes": float(curve_bytes + param_bytes + 2000 * len(runs)),
    }


def describe(spec: SweepSpec, runs: list[Run], todo: list[Run]) -> str:
    groups = len({r.static for r in runs})
    est = estimate(todo)
    return (
        f"{spec.name}: {len(runs)} runs ({len(runs) - len(todo)} already done), {groups} shape "
        f"group(s); to train ~{est['flops'] / 1e12:.2f} TFLOP (~{_duration(est['cpu_seconds'])} "
        f"on a 2-core CPU), ~{est['bytes'] / 2**20:.1f} MiB of results"
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _order(runs: list[Run]) -> list[str]:
    return [r.run_id for r in runs]


def run_sweep(
    source: str | Path | Mapping[str, Any],
    out: str | Path | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    plots: bool = True,
    memory_budget: int | None = None,
    max_runs_per_batch: int = 256,
) -> store.Results:
    """Train every missing run of a sweep (YAML path or dict), then classify and draw.

    Returns the folder's `Results` (`.runs`, `.curves`, `.params(run_id)`). Finished batches
    are skipped, so calling it again after an interruption resumes.

    >>> res = run_sweep("sweeps/quickstart.yaml")          # doctest: +SKIP
    >>> res.runs.groupby("phase").size()                   # doctest: +SKIP
    """
    spec = load_sweep(source)
    runs = expand(spec)
    out_dir = Path(out) if out is not None else default_out(spec)
    store.prepare(out_dir, spec.identity(), spec.resolved_dict(), force)
    train_missing(spec, runs, out_dir, progress, memory_budget, max_runs_per_batch)
    return finish(spec, runs, out_dir, plots=plots)


def train_missing(
    spec: SweepSpec,
    runs: list[Run],
    out_dir: Path,
    progress: bool = True,
    memory_budget: int | None = None,
    max_runs_per_batch: int = 256,
) -> None:
    """Train the runs of `runs` that `out_dir` does not hold yet, one batch file at a time."""
    from tqdm.auto import tqdm

    from phasegrok import engine

    done = store.done_run_ids(out_dir)
    todo = [r for r in runs if r.run_id not in done]
    if not todo:
        return
    budget = memory_budget or engine.default_memory_budget()
    batches = plan_batches(
        todo,
        memory_budget=budget,
        max_runs_per_batch=max_runs_per_batch,
        max_flops_per_eval=engine.max_flops_per_eval(),
    )
    widths: dict[Any, int] = {}
    for batch in batches:
        widths[batch.static] = max(widths.get(batch.static, 0), len(batch.runs))
    provenance = {
        "versions": store.package_versions(),
        "device": engine.device_description(),
        "identity": spec.identity(),
    }
    bar = tqdm(
        total=sum(r.static.steps for r in todo),
        unit="step",
        unit_scale=True,
        desc=f"{spec.name}",
        disable=not progress,
        dynamic_ncols=True,
    )
    finished = 0
    try:
        for batch in batches:
            strategy = engine.choose_strategy(batch.static)
            result = engine.execute_batch(
                batch, on_steps=bar.update, width=widths[batch.static], strategy=strategy
            )
            configs = [r.config for r in batch.runs]
            extra = {
                "batch_id": batch.batch_id,
                "batch_wall_time": result.wall_seconds,
                "batch_compile_time": result.compile_seconds,
                "strategy": strategy.describe(),
            }
            runs_part = store.runs_frame(
                configs,
                result.run_ids,
                [r.seed for r in batch.runs],
                batch.static.n_classes,
                result.metric_names,
                result.metrics,
                extra,
            )
            if result.key_frequencies is not None:
                runs_part["key_frequencies"] = [k.tolist() for k in result.key_frequencies]
            elif batch.static.task_kind == "modular":  # no cyclic group: the column is blank
                runs_part["key_frequencies"] = None
            curves_part = store.curves_frame(
                result.run_ids, result.steps, result.metric_names, result.metrics
            )
            store.write_batch(
                out_dir, batch.batch_id, runs_part, curves_part, result.params, provenance
            )
            finished += len(batch.runs)
            bar.set_postfix_str(f"runs {len(done) + finished}/{len(runs)}")
    except KeyboardInterrupt:
        bar.close()
        raise Interrupted(len(done) + finished, len(runs)) from None
    bar.close()


class Interrupted(Exception):
    def __init__(self, finished: int, total: int):
        super().__init__(f"{finished} of {total} runs finished")
        self.finished, self.total = finished, total


def finish(spec: SweepSpec, runs: list[Run], out_dir: Path, plots: bool = True) -> store.Results:
    """Assemble the parts, classify every run, write runs/curves parquet, draw the figures."""
    from phasegrok.classify import classify_runs

    runs_df, curves_df = store.assemble(out_dir, _order(runs))
    runs_df = classify_runs(runs_df, curves_df, spec.file.classify)
    metadata = store.read_metadata(next((out_dir / store.PARTS).glob("*.runs.parquet")))
    metadata["sweep"] = spec.resolved_dict()
    try:
        store.write_table(out_dir / store.CURVES, curves_df, metadata)
        store.write_table(out_dir / store.RUNS, runs_df, metadata)
    except OSError as err:
        raise store.OutputError(f"cannot write to {out_dir}: {err.strerror or err}") from None
    if plots:
        from phasegrok.plots import draw_all

        draw_all(out_dir, runs=runs_df, curves=curves_df, spec=spec.resolved_dict())
    return store.Results(out_dir, runs_df, curves_df)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m phasegrok.sweep",
        description="Train every run of a sweep file, classify the phases, draw the figures.",
    )
    parser.add_argument("sweep", help="the sweep YAML file")
    parser.add_argument("--out", help="results folder (default: results/<name>)")
    parser.add_argument("--dry-run", action="store_true", help="validate, estimate, and exit")
    parser.add_argument("--yes", action="store_true", help="allow a very large sweep")
    parser.add_argument("--force", action="store_true", help="replace another sweep's results")
    parser.add_argument("--no-plots", action="store_true", help="skip drawing figures")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--batch-runs",
        type=int,
        default=256,
        metavar="N",
        help="at most N runs per batch (the unit that is saved; default 256)",
    )
    return parser


def _fail(message: str, status: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM behaves like Ctrl-C: the batch in flight is dropped, finished ones are kept.
    raise KeyboardInterrupt


def use_host_devices() -> None:
    """One XLA host device per core, so CPU runs split over the cores (see engine.Strategy).

    Must happen before JAX starts; a process that already imported JAX keeps its devices.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" in sys.modules or "xla_force_host_platform_device_count" in flags:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    flag = f"--xla_force_host_platform_device_count={max(1, cores or 1)}"
    os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()


def compile_cache_dir() -> Path | None:
    """Where the CLI keeps compiled programs: `$PHASEGROK_COMPILE_CACHE` ("off" for nowhere),
    else `$XDG_CACHE_HOME/phasegrok/xla` (`~/.cache/phasegrok/xla`)."""
    chosen = os.environ.get("PHASEGROK_COMPILE_CACHE")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "none") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "phasegrok" / "xla"


def use_compile_cache() -> None:
    """JAX's persistent compilation cache, so that resuming, extending or rerunning a sweep
    reuses the programs of its shape groups instead of compiling each again (~3 s on a CPU)."""
    folder = compile_cache_dir()
    if folder is None:
        return
    try:  # an unusable cache folder only costs compile time: train without it
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    if not os.access(folder, os.W_OK):
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def main(argv: list[str] | None = None) -> int:
    use_host_devices()
    args = _parser().parse_args(argv)
    try:
        spec = load_sweep(args.sweep)
        if spec.n_runs() > MAX_RUNS_WITHOUT_YES and not args.yes and not args.dry_run:
            # Before expanding: a grid that large takes a while even to list, so the estimate
            # scales the first run's cost.
            n = spec.n_runs()
            one = estimate([make_run(*next(spec.run_configs()))])
            return _fail(
                f"{args.sweep}: grid: {n} runs, ~{one['flops'] * n / 1e12:.0f} TFLOP to train "
                f"(~{_duration(one['cpu_seconds'] * n)} on a 2-core CPU), "
                f"~{one['bytes'] * n / 2**20:.0f} MiB of results; this is very large: check the "
                "grid, or pass --yes",
                2,
            )
        runs = expand(spec)
    except ConfigError as err:
        return _fail(f"{args.sweep}: {err}", 2)
    out_dir = Path(args.out) if args.out else default_out(spec)
    done = store.done_run_ids(out_dir) if (out_dir / store.MANIFEST).exists() else set()
    todo = [r for r in runs if r.run_id not in done]
    summary = describe(spec, runs, todo)
    est = estimate(todo)
    if args.dry_run:
        print(summary)
        return 0
    if not args.yes and (len(todo) > MAX_RUNS_WITHOUT_YES or est["bytes"] > MAX_BYTES_WITHOUT_YES):
        return _fail(
            f"{args.sweep}: grid: {summary}; this is very large: check the grid, or pass --yes", 2
        )
    try:
        store.prepare(out_dir, spec.identity(), spec.resolved_dict(), args.force)
    except store.OutputError as err:
        return _fail(str(err), 2)
    print(summary, file=sys.stderr)
    signal.signal(signal.SIGTERM, _terminate)
    start = time.perf_counter()
    use_compile_cache()
    try:
        train_missing(spec, runs, out_dir, not args.quiet, None, max(1, args.batch_runs))
        results = finish(spec, runs, out_dir, plots=not args.no_plots)
    except Interrupted as stop:
        print(
            f"\ninterrupted: {stop.finished} of {stop.total} runs are saved in {out_dir}; "
            f"run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except store.OutputError as err:
        return _fail(str(err), 1)
    elapsed = time.perf_counter() - start
    counts = results.runs["phase"].value_counts().to_dict() if "phase" in results.runs else {}
    phases = ", ".join(f"{k} {v}" for k, v in counts.items())
    print(f"done in {_duration(elapsed)}: {len(results.runs)} runs in {out_dir} ({phases})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
