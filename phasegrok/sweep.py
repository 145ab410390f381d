"""`python -m phasegrok.sweep grid.yaml [--out DIR]`: train a whole grid, classify, draw.

The command line around `run.pipeline`: parse, validate and estimate (before JAX is imported;
bad input is one line on stderr and exit status 2), then hand typed options to the pipeline
with the executor the flags ask for (this process, `--worker`, `--merge`, `--executor ray`).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # the command: its one handler first, then the heavy imports below
    from phasegrok.command import run_command

    sys.exit(run_command("phasegrok.sweep"))

import argparse
import math
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from phasegrok.analysis.results import Results
from phasegrok.command import guarded, one_line, when_interrupted
from phasegrok.config.load import ConfigError, load_sweep
from phasegrok.config.overrides import GRAMMAR
from phasegrok.plan.groups import grid_columns, plan
from phasegrok.plan.limits import (
    check_limits,
    describe,
    duration,
    limit_problem,
    needs_yes,
)
from phasegrok.run import ray_executor, workers
from phasegrok.run.host import use_compile_cache, use_host_devices
from phasegrok.run.local import folder_plan
from phasegrok.run.pipeline import (
    Executor,
    LocalExecutor,
    RunOptions,
    default_out,
    dry_aside,
    execute,
    folder_refusal,
    kept_aside,
    prepare,
)
from phasegrok.store import folder as store
from phasegrok.store.atomic import path_problem
from phasegrok.store.claims import DEFAULT_TIMEOUT, live_claims
from phasegrok.store.parts import DAMAGED, check_parts, part_rows
from phasegrok.store.verify import damaged_tables

__all__ = ["check_limits", "describe", "folder_plan", "main", "run_sweep"]


def run_sweep(
    source: str | Path | Mapping[str, Any],
    out: str | Path | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    plots: bool = True,
    memory_budget: int | None = None,
    max_runs_per_batch: int = 256,
    live: bool = True,
    overrides: Sequence[str] = (),
) -> Results:
    """Train every missing run of a sweep (YAML path or dict), then classify and draw.

    `live` (with `plots`): index.html shows the phase diagram of the runs so far while training
    (`phasegrok.report.live`). `overrides`: `KEY=VALUE` / `~KEY` strings, as on the command
    line (`phasegrok.config.overrides`).

    Returns the folder's `Results` (`.runs`, `.curves`, `.params(run_id)`). Finished batches
    are skipped, so calling it again after an interruption resumes. Raises ConfigError for bad
    input or a sweep above the limits of `check_limits`, before anything is written.

    >>> res = run_sweep("sweeps/quickstart.yaml")          # doctest: +SKIP
    >>> res.runs.groupby("phase").size()                   # doctest: +SKIP
    """
    spec = load_sweep(source, overrides)
    check_limits(plan(spec))
    options = RunOptions(
        out_dir=Path(out) if out is not None else default_out(spec),
        force=force,
        progress=progress,
        plots=plots,
        live=live,
        memory_budget=memory_budget,
        max_runs_per_batch=max_runs_per_batch,
    )
    results = execute(spec, options, LocalExecutor(), warnings=prepare(spec, options))
    assert results is not None  # the local executor trains every run
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m phasegrok.sweep",
        description="Train every run of a sweep file, classify the phases, draw the figures.",
        epilog=GRAMMAR,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sweep", help="the sweep YAML file")
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="overrides of the file (see below)"
    )
    parser.add_argument("--out", help="results folder (default: results/<name>)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate, estimate, and exit (with overrides: print the resolved sweep first)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="check every file of --out against its checksums; write nothing (exit 1: damaged)",
    )
    parser.add_argument("--yes", action="store_true", help="allow a very large sweep")
    parser.add_argument("--force", action="store_true", help="replace another sweep's results")
    parser.add_argument("--no-plots", action="store_true", help="skip drawing figures")
    parser.add_argument(
        "--no-live", action="store_true", help="no index.html while training (only at the end)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--batch-runs",
        type=int,
        default=256,
        metavar="N",
        help="at most N runs per batch (the unit that is saved; default 256)",
    )
    _worker_arguments(parser)
    _ray_arguments(parser)
    return parser


def _worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `--worker` and `--merge` (`run.workers`)."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--worker",
        action="store_true",
        help="train unclaimed batches until none is left (many may share --out); no figures",
    )
    mode.add_argument(
        "--merge",
        action="store_true",
        help="assemble, classify and draw what workers trained (exit 1 if runs are missing)",
    )
    parser.add_argument(
        "--allow-partial", action="store_true", help="with --merge: merge even if runs are missing"
    )
    parser.add_argument(
        "--claim-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help="take over another host's claim after S seconds without a heartbeat (default 600)",
    )


def _ray_arguments(parser: argparse.ArgumentParser) -> None:
    """The executor options (`run.ray_executor`)."""
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: this process; ray: one Ray task per batch (see README, Ray)",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="with --executor ray: the cluster to join ('auto': the running one); "
        "default: start a local Ray",
    )
    parser.add_argument(
        "--ray-cpus-per-task",
        type=float,
        metavar="N",
        help="CPUs per task (default 1); the task's JAX gets one host device per CPU",
    )
    parser.add_argument(
        "--ray-gpus-per-task",
        type=float,
        metavar="N",
        help="GPUs per task (default: 1 when the cluster has GPUs, else 0)",
    )


def _ray_options(args: argparse.Namespace) -> ray_executor.RayOptions:
    return ray_executor.RayOptions(
        address=args.ray_address,
        cpus_per_task=args.ray_cpus_per_task,
        gpus_per_task=args.ray_gpus_per_task,
        batch_runs=args.batch_runs,
    )


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _fail(message: str, status: int) -> int:
    print(f"error: {one_line(message)}", file=sys.stderr)
    return status


def _saved(spec: Any, out_dir: Path) -> str:
    """What an interrupt leaves: the sweep's runs the whole folder holds (its grid's and its
    refinement rounds'), against the grid and the refinement budget."""
    from phasegrok.analysis.rounds import sweep_rounds

    saved = len(sweep_rounds(spec, out_dir)) if (out_dir / store.MANIFEST).is_file() else 0
    total = plan(spec).n_runs
    refine = spec.file.refine
    budget = refine.max_runs if refine is not None and refine.rounds else 0
    of = f"{total + budget} runs (the grid's {total} and up to {budget} of refinement)"
    return (
        f"{saved} of {of if budget else f'{total} runs'} are saved (this folder in all) in "
        f"{out_dir}; run the same command again to resume"
    )


def _executor(args: argparse.Namespace) -> Executor:
    """The executor the flags ask for, with its typed options."""
    if args.worker:  # trains claimed batches; neither classifies nor draws
        return workers.WorkerExecutor(args.batch_runs, args.claim_timeout)
    if args.executor == "ray":  # Ray tasks train the batches and write their parts
        return ray_executor.RayExecutor(_ray_options(args))
    return LocalExecutor()


def _option_problem(args: argparse.Namespace) -> str | None:
    """The first option whose value is out of range, as the one line to print, or None."""
    if args.batch_runs < 1:
        return f"--batch-runs: must be an integer >= 1 (got {args.batch_runs})"
    if not (math.isfinite(args.claim_timeout) and args.claim_timeout > 0):
        return f"--claim-timeout: must be a number of seconds > 0 (got {args.claim_timeout})"
    problem = path_problem(args.out) if args.out else None
    return f"--out: {problem}" if problem else None


def _verify(identity: str, out_dir: Path) -> int:
    """--verify: one line per damaged file, then the summary; 0 intact, 1 damaged."""
    from phasegrok.store.verify import verify_folder

    if not (out_dir / store.MANIFEST).is_file():
        return _fail(f"--out: {out_dir} holds no phasegrok results to verify", 2)
    try:
        verdict = verify_folder(out_dir, identity)
    except OSError as err:
        return _fail(f"{out_dir} cannot be read: {err.strerror or err}", 1)
    for line in verdict.damaged:
        print(f"damaged: {line}")
    print(verdict.summary())
    return 0 if verdict.intact else 1


def main(argv: list[str] | None = None) -> int:
    """The command: its status (2 bad input, 1 cannot write or damaged, 130 interrupted)."""
    return guarded(partial(_main, argv))


def _main(argv: list[str] | None) -> int:
    use_host_devices()
    args = _parser().parse_intermixed_args(argv)
    problem = _option_problem(args)
    if problem:
        return _fail(problem, 2)
    try:
        spec = load_sweep(args.sweep, args.overrides)
        out_dir = Path(args.out) if args.out else default_out(spec)
        when_interrupted(partial(_saved, spec, out_dir))
        if args.verify:
            return _verify(spec.identity(), out_dir)
        # Another sweep's folder: refused, or (--force) emptied first, so none of its runs count.
        refusal = folder_refusal(spec, out_dir) if args.dry_run else None
        own = (out_dir / store.MANIFEST).exists() and refusal is None
        # Checked as store.prepare will (every part read, its checksums verified): the summary
        # and a dry run count a batch that fails them as to be trained again.
        scan = check_parts(out_dir, full=True) if own else None
        the_plan = plan(spec, part_rows(scan.whole, grid_columns(spec)) if scan else ())
        summary = describe(the_plan)
        if args.dry_run:
            for damage in scan.damaged if scan else []:
                _warn(f"{damage}; the sweep will move it to {DAMAGED} and train its runs")
            for line in damaged_tables(out_dir) if scan else []:
                _warn(f"{line}; the sweep will assemble it again from the parts")
            problem = limit_problem(the_plan) or (None if args.force else refusal)
            if args.overrides:  # what the overrides made of the file
                print(yaml.safe_dump(spec.resolved_dict(), sort_keys=False).rstrip())
            print(summary + (f"; refused: {problem}" if problem else ""))
            aside = dry_aside(spec, out_dir) if scan else 0
            if aside:
                print(kept_aside(aside, out_dir))
            return 0
        check_limits(the_plan)
        if not args.yes and needs_yes(the_plan):  # the refinement budget counted too
            raise ConfigError(
                "grid", f"{summary}; this is very large: check the grid, or pass --yes"
            )
        if args.worker:  # before anything is written: another plan is refused
            busy = bool(live_claims(out_dir))
            workers.worker_plan(spec, args.batch_runs, workers.read_plan(out_dir), busy)
        if args.executor == "ray":  # ray installed, no --worker, no refinement
            ray_executor.check_options(_ray_options(args), spec, args.worker or args.merge)
    except ConfigError as err:
        return _fail(f"{args.sweep}: {err}", 2)
    options = RunOptions(
        out_dir=out_dir,
        force=args.force,
        progress=not args.quiet,
        plots=not args.no_plots,
        live=not args.no_live,
        max_runs_per_batch=max(1, args.batch_runs),
    )
    if args.merge:  # changes nothing unless every run is there (or --allow-partial)
        return workers.merge(spec, options, args.allow_partial)
    try:
        warnings = prepare(spec, options)
    except store.WriteError as err:  # cannot write: 1, wherever it happens
        return _fail(str(err), 1)
    except store.OutputError as err:
        return _fail(str(err), 2)
    start = time.perf_counter()
    use_compile_cache()
    executor = _executor(args)
    try:
        results = execute(spec, options, executor, warnings=warnings, summary=summary)
    except (store.OutputError, ray_executor.TaskFailed) as err:
        return _fail(str(err), 1)
    except ConfigError as err:  # an arrays task's file changed while training
        return _fail(f"{args.sweep}: {err}", 2)
    if results is None:  # a worker: another process merges
        return 0
    elapsed = time.perf_counter() - start
    counts = results.runs["phase"].value_counts().to_dict() if "phase" in results.runs else {}
    phases = ", ".join(f"{k} {v}" for k, v in counts.items())
    print(f"done in {duration(elapsed)}: {len(results.runs)} runs in {out_dir} ({phases})")
    return 0
