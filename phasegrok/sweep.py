"""`python -m phasegrok.sweep grid.yaml [--out DIR]`: train a whole grid, classify, draw.

Wires the stages together: config -> plan -> engine -> store -> classify -> report. Validation
happens before JAX is imported; bad input is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from phasegrok.analysis.results import Results, with_frames
from phasegrok.analysis.rounds import COLUMN as ROUND
from phasegrok.analysis.rounds import run_rounds, sweep_rounds
from phasegrok.config.load import ConfigError, SweepSpec, load_sweep
from phasegrok.config.overrides import GRAMMAR
from phasegrok.config.reference import copy_reference
from phasegrok.plan.batching import flops_per_step
from phasegrok.plan.calibrate import Recorder
from phasegrok.plan.groups import Plan, grid_columns, iter_batches, locate, plan
from phasegrok.plan.limits import (
    MAX_BYTES_WITHOUT_YES,
    MAX_RUNS_WITHOUT_YES,
    check_limits,
    describe,
    duration,
    limit_problem,
)
from phasegrok.plan.runs import Batch
from phasegrok.run import ray_executor, workers
from phasegrok.run.host import use_compile_cache, use_host_devices
from phasegrok.run.progress_bar import leave_out, progress_bar
from phasegrok.store import folder as store
from phasegrok.store import progress as progress_store
from phasegrok.store.claims import live_claims
from phasegrok.store.parts import DAMAGED, PARTS, check_parts, part_rows

DEFAULT_RESULTS = Path("results")


def default_out(spec: SweepSpec) -> Path:
    return DEFAULT_RESULTS / spec.name


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
    out_dir = Path(out) if out is not None else default_out(spec)
    for warning in store.prepare(out_dir, spec.identity(), spec.resolved_dict(), force):
        _warn(warning)
    copy_reference(spec.reference, out_dir)
    page = live_page(spec, out_dir) if plots and live else None
    with page or nullcontext():  # a sweep that stops early leaves a page without refresh
        train = partial(train_missing, out_dir=out_dir, progress=progress, page=page)
        train(spec, memory_budget=memory_budget, max_runs_per_batch=max_runs_per_batch)
        round_of = partial(train_round, train, memory_budget, max_runs_per_batch)
        members = run_rounds(spec, out_dir, round_of)
    return finish(spec, out_dir, plots=plots, members=members)


def live_page(spec: SweepSpec, out_dir: Path) -> Any:
    """The live index.html of `out_dir` (`report.live.LivePage`), written at once with the
    sweep's runs an earlier, interrupted sweep left (not the runs of an earlier grid)."""
    from phasegrok.report.live import REFRESH_S, LivePage

    refine = spec.file.refine
    budget = refine.max_runs if refine is not None and refine.rounds else 0
    page = LivePage(out_dir, spec.resolved_dict(), plan(spec).n_runs, budget)
    members = sweep_rounds(spec, out_dir) if (out_dir / store.MANIFEST).exists() else {}
    if members:
        page.add(*store.assemble(out_dir, keep=members))
    else:
        page.write(REFRESH_S)
    return page


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def folder_plan(spec: SweepSpec, out_dir: Path) -> Plan:
    """The sweep's plan against the runs already in `out_dir` (its whole batches)."""
    parts = check_parts(out_dir).whole if (out_dir / store.MANIFEST).exists() else []
    return plan(spec, part_rows(parts, grid_columns(spec)))


def advance(bar: Any, flops_per_step: float, steps: int) -> None:
    """Move the progress bar by `steps` model-steps of `flops_per_step` FLOPs each."""
    bar.update(steps * flops_per_step)


def train_missing(
    spec: SweepSpec,
    out_dir: Path,
    progress: bool = True,
    memory_budget: int | None = None,
    max_runs_per_batch: int = 256,
    page: Any = None,
    batches: Iterable[tuple[Batch, int]] | None = None,
    columns: Mapping[str, Any] | None = None,
) -> None:
    """Train the runs of `spec` that `out_dir` does not hold yet, one batch file at a time.

    Batches are planned as training reaches them (`stream.iter_batches`): memory holds one
    batch, and the run_ids of the runs already done. `page.add(runs, curves)` (a
    `report.live.LivePage`) is called with each batch once it is saved. `batches`: (batch,
    width) pairs to train instead (a worker's claimed batches, `phasegrok.run.workers`). `columns`:
    constant columns of every run written (a refinement round's `refine_round`).
    """
    from phasegrok.engine import batch as engine
    from phasegrok.engine import measure
    from phasegrok.store import progress as progress_store

    the_plan = folder_plan(spec, out_dir)
    if not the_plan.n_todo:
        return
    if batches is None:
        batches = iter_batches(
            the_plan,
            store.done_run_ids(out_dir),
            memory_budget=memory_budget or engine.default_memory_budget(),
            max_runs_per_batch=max_runs_per_batch,
            max_flops_per_eval=engine.max_flops_per_eval(),
        )
    provenance = {
        "versions": store.package_versions(),
        "device": engine.device_description(),
        "identity": spec.identity(),
    }
    # Counted in FLOPs, not steps: a step's cost differs between shape groups by orders of
    # magnitude, and the ETA is the work left over the recent rate (compilation left out).
    work = [flops_per_step(g.static) for g in the_plan.groups]
    total = sum(
        n * g.static.steps * w for g, n, w in zip(the_plan.groups, the_plan.todo, work, strict=True)
    )
    bar = progress_bar(total, spec.name, enabled=progress)
    n_done, finished = the_plan.n_runs - the_plan.n_todo, 0
    recorder = Recorder(provenance["device"])
    try:
        for batch, width in batches:
            strategy = engine.choose_strategy(batch.static)
            on_steps = partial(advance, bar, flops_per_step(batch.static))
            result = engine.execute_batch(
                batch,
                on_steps=on_steps,
                width=width,
                strategy=strategy,
                on_compiled=partial(leave_out, bar),
            )
            recorder.add(batch.static, len(batch.runs), result.wall_seconds, result.compile_seconds)
            configs = [r.config for r in batch.runs]
            extra = {
                "batch_id": batch.batch_id,
                "batch_wall_time": result.wall_seconds,
                "batch_compile_time": result.compile_seconds,
                "strategy": strategy.describe(),
                **(columns or {}),
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
            measured, progress_part = measure.batch_measures(batch, result)
            for name, values in measured.items():
                runs_part[name] = values
            progress_store.write_part(out_dir, batch.batch_id, progress_part, provenance)
            curves_part = store.curves_frame(
                result.run_ids, result.steps, result.metric_names, result.metrics
            )
            store.write_batch(
                out_dir, batch.batch_id, runs_part, curves_part, result.params, provenance
            )
            if page is not None:
                page.add(runs_part, curves_part)
            finished += len(batch.runs)
            bar.set_postfix_str(f"runs {n_done + finished}/{the_plan.n_runs}")
    except KeyboardInterrupt:
        bar.close()
        raise Interrupted(n_done + finished, the_plan.n_runs) from None
    finally:  # what was measured calibrates the next estimate, interrupted or not
        recorder.save()
    bar.close()


def train_round(
    train: Any, memory_budget: int | None, batch_runs: int, spec: SweepSpec, r: int
) -> None:
    """Train refinement round `r` (`rounds.run_rounds`), its runs marked `refine_round = r`."""
    train(spec, memory_budget=memory_budget, max_runs_per_batch=batch_runs, columns={ROUND: r})


class Interrupted(Exception):
    def __init__(self, finished: int, total: int):
        super().__init__(f"{finished} of {total} runs finished")
        self.finished, self.total = finished, total


def finish(
    spec: SweepSpec, out_dir: Path, plots: bool = True, members: dict[str, int] | None = None
) -> Results:
    """Assemble the sweep's runs, classify them, write runs/curves/progress parquet, draw the
    figures.

    The sweep's runs are `members` (run_id -> refine_round; default: found in the folder,
    `rounds.sweep_rounds`): the grid's first, in grid order (found from their rows,
    `stream.locate`), then its refinement rounds', round by round. Runs of an earlier grid that
    parts/ keeps are left out (and their per-run figures removed), said in one line on stderr.
    Holds the whole sweep in memory: see MAX_RUNS.
    """
    from phasegrok.analysis.classify import classify_runs

    members = sweep_rounds(spec, out_dir) if members is None else members
    parts = check_parts(out_dir).whole
    located = locate(spec, part_rows(parts, grid_columns(spec)))
    after = plan(spec).n_runs  # the rounds' runs sort after every grid position
    rank = {
        run_id: located[run_id][0] if r == 0 and run_id in located else after + r
        for run_id, r in members.items()
    }
    runs_df, curves_df = store.assemble(out_dir, rank, keep=members)
    runs_df = classify_runs(runs_df, curves_df, spec.file.classify)
    if spec.file.refine is not None or ROUND in runs_df:
        runs_df = runs_df.assign(**{ROUND: runs_df["run_id"].map(members).astype(int)})
    aside = set_aside(out_dir, members, parts)
    if aside:
        print(kept_aside(len(aside), out_dir), file=sys.stderr)
        drop_run_figures(out_dir, aside)
    # The provenance of a part of the sweep's (one kept aside may be of an older session).
    batch = runs_df["batch_id"].iloc[0] if "batch_id" in runs_df else None
    own = out_dir / PARTS / f"{batch}.runs.parquet"
    own = own if batch is not None and own.is_file() else (parts or [None])[0]
    metadata = store.read_metadata(own) if own is not None else {}
    metadata["sweep"] = spec.resolved_dict()
    try:
        store.write_table(out_dir / store.CURVES, curves_df, metadata)
        store.write_table(out_dir / store.RUNS, runs_df, metadata)
        progress_store.assemble(out_dir, runs_df["run_id"], metadata)
    except OSError as err:
        raise store.OutputError(f"cannot write to {out_dir}: {err.strerror or err}") from None
    results = with_frames(out_dir, runs_df, curves_df, spec.resolved_dict())
    if plots:
        from phasegrok.report import draw_all

        draw_all(results)
    return results


def set_aside(
    out_dir: Path, members: Mapping[str, int], parts: Iterable[Path] | None = None
) -> set[str]:
    """run_ids of the runs the folder keeps in parts/ (its whole runs `parts`, default: found
    again) that are not among the sweep's."""
    parts = check_parts(out_dir).whole if parts is None else parts
    return {row["run_id"] for row in part_rows(parts, ["run_id"])} - members.keys()


def dry_aside(spec: SweepSpec, out_dir: Path) -> int:
    """How many runs --dry-run says are kept aside (`set_aside`); 0 where a part cannot be
    read (a damage said above it, which the sweep would first move away)."""
    try:
        return len(set_aside(out_dir, sweep_rounds(spec, out_dir)))
    except store.OutputError:
        return 0


def kept_aside(n: int, out_dir: Path) -> str:
    """The line that says the folder keeps `n` runs that are not the sweep's."""
    return (
        f"note: {n} runs of an earlier grid kept aside in {out_dir / PARTS}, not shown "
        "(reused if their points return)"
    )


def drop_run_figures(out_dir: Path, run_ids: set[str]) -> None:
    """Remove the per-run figures of `run_ids` (``<figure>__<run_id>.png``, drawn by an
    earlier sweep): the folder's figures are the sweep's."""
    for path in out_dir.glob("*.png"):
        if path.stem.rsplit("__", 1)[-1] in run_ids:
            path.unlink(missing_ok=True)


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
    workers.add_arguments(parser)
    ray_executor.add_arguments(parser)
    return parser


def _fail(message: str, status: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM behaves like Ctrl-C: the batch in flight is dropped, finished ones are kept.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    use_host_devices()
    args = _parser().parse_intermixed_args(argv)
    try:
        spec = load_sweep(args.sweep, args.overrides)
        out_dir = Path(args.out) if args.out else default_out(spec)
        scan = check_parts(out_dir) if (out_dir / store.MANIFEST).exists() else None
        the_plan = plan(spec, part_rows(scan.whole, grid_columns(spec)) if scan else ())
        summary = describe(the_plan)
        if args.dry_run:
            for damage in scan.damaged if scan else []:
                _warn(f"{damage}; the sweep will move it to {DAMAGED} and train its runs")
            problem = limit_problem(the_plan)
            if args.overrides:  # what the overrides made of the file
                print(yaml.safe_dump(spec.resolved_dict(), sort_keys=False).rstrip())
            print(summary + (f"; refused: {problem}" if problem else ""))
            aside = dry_aside(spec, out_dir) if scan else 0
            if aside:
                print(kept_aside(aside, out_dir))
            return 0
        check_limits(the_plan)
        est = the_plan.estimate()
        if not args.yes and (
            the_plan.n_runs > MAX_RUNS_WITHOUT_YES or est["bytes"] > MAX_BYTES_WITHOUT_YES
        ):
            raise ConfigError(
                "grid", f"{summary}; this is very large: check the grid, or pass --yes"
            )
        if args.worker:  # before anything is written: another plan is refused
            busy = bool(live_claims(out_dir))
            workers.worker_plan(spec, args.batch_runs, workers.read_plan(out_dir), busy)
        if args.executor == "ray":  # ray installed, no --worker, no refinement
            ray_executor.check_args(args, spec)
    except ConfigError as err:
        return _fail(f"{args.sweep}: {err}", 2)
    if args.merge:  # changes nothing unless every run is there (or --allow-partial)
        return workers.merge_main(args, spec, out_dir, folder_plan, finish)
    try:
        warnings = store.prepare(out_dir, spec.identity(), spec.resolved_dict(), args.force)
        copy_reference(spec.reference, out_dir)
    except store.OutputError as err:
        return _fail(str(err), 2)
    except OSError as err:
        return _fail(f"cannot write to {out_dir}: {err.strerror or err}", 1)
    signal.signal(signal.SIGTERM, _terminate)
    start = time.perf_counter()
    quiet_page = args.no_plots or args.no_live or args.worker or args.executor == "ray"
    page = None if quiet_page else live_page(spec, out_dir)
    if page is not None:  # the first line: the page to open while it trains
        print(f"live page: {page.path.resolve()}", file=sys.stderr)
    for warning in warnings:
        _warn(warning)
    print(summary, file=sys.stderr)
    use_compile_cache()
    try:
        if args.worker:  # trains claimed batches; neither classifies nor draws
            train = partial(train_missing, progress=not args.quiet)
            return workers.work(spec, out_dir, args, train)
        if args.executor == "ray":  # Ray tasks train the batches and write their parts
            ray_executor.run(spec, out_dir, args, train_missing)
        with page or nullcontext():
            train = partial(train_missing, out_dir=out_dir, progress=not args.quiet, page=page)
            train(spec, max_runs_per_batch=max(1, args.batch_runs))
            round_of = partial(train_round, train, None, max(1, args.batch_runs))
            members = run_rounds(spec, out_dir, round_of)
        results = finish(spec, out_dir, plots=not args.no_plots, members=members)
    except Interrupted as stop:
        print(
            f"\ninterrupted: {stop.finished} of {stop.total} runs are saved in {out_dir}; "
            f"run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except (store.OutputError, ray_executor.TaskFailed) as err:
        return _fail(str(err), 1)
    except ConfigError as err:  # an arrays task's file changed while training
        return _fail(f"{args.sweep}: {err}", 2)
    elapsed = time.perf_counter() - start
    counts = results.runs["phase"].value_counts().to_dict() if "phase" in results.runs else {}
    phases = ", ".join(f"{k} {v}" for k, v in counts.items())
    print(f"done in {duration(elapsed)}: {len(results.runs)} runs in {out_dir} ({phases})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
