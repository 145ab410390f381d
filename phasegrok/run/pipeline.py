"""One pipeline for the Python API and the command line: prepare the folder, open the live
page, train (an `Executor` decides where), then assemble, classify, write and draw (`finish`).

    >>> from phasegrok.config.load import load_sweep
    >>> spec = load_sweep("sweeps/quickstart.yaml")                      # doctest: +SKIP
    >>> options = RunOptions(out_dir=Path("results/quickstart"))        # doctest: +SKIP
    >>> prepare(spec, options)                                           # doctest: +SKIP
    >>> results = execute(spec, options, LocalExecutor())                # doctest: +SKIP

`phasegrok.sweep` parses the command line into these typed options: no `argparse.Namespace`
reaches this layer.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from phasegrok.analysis.results import Results, with_frames
from phasegrok.analysis.rounds import COLUMN as ROUND
from phasegrok.analysis.rounds import run_rounds, sweep_rounds
from phasegrok.config.load import SweepSpec
from phasegrok.config.reference import REFERENCE_FILE, copy_reference
from phasegrok.plan.groups import grid_columns, locate, plan
from phasegrok.run.local import train_missing
from phasegrok.store import folder as store
from phasegrok.store import progress as progress_store
from phasegrok.store.integrity import file_digest, forget_tables, record_tables
from phasegrok.store.parts import PARTS, check_parts, part_rows

if TYPE_CHECKING:
    from phasegrok.report.live import LivePage

DEFAULT_RESULTS = Path("results")


def default_out(spec: SweepSpec) -> Path:
    """`results/<name>`: where a sweep writes unless told otherwise."""
    return DEFAULT_RESULTS / spec.name


@dataclass(frozen=True)
class RunOptions:
    """How one sweep runs, whatever the executor: its folder and what it shows and draws."""

    out_dir: Path
    force: bool = False  # replace another sweep's results
    progress: bool = True  # the progress bar (or log lines) on stderr
    plots: bool = True  # draw the figures at the end
    live: bool = True  # with plots: index.html shows the runs so far while training
    memory_budget: int | None = None  # bytes a batch may take (default: the device's)
    max_runs_per_batch: int = 256  # the unit that is saved


class Executor(Protocol):
    """Where a sweep's batches train. `train` trains what the folder lacks and returns the
    sweep's runs (run_id -> refinement round), or None where it trains only a share of them
    and another process merges (a `--worker`)."""

    @property
    def live(self) -> bool:
        """Whether a live page can follow its training."""
        ...

    def train(
        self, spec: SweepSpec, options: RunOptions, page: LivePage | None
    ) -> dict[str, int] | None: ...


@dataclass(frozen=True)
class LocalExecutor:
    """This process: every missing batch, then the refinement rounds."""

    live: bool = True

    def train(
        self, spec: SweepSpec, options: RunOptions, page: LivePage | None
    ) -> dict[str, int] | None:
        train = partial(
            train_missing, out_dir=options.out_dir, progress=options.progress, page=page
        )
        train(
            spec,
            memory_budget=options.memory_budget,
            max_runs_per_batch=options.max_runs_per_batch,
        )
        return run_rounds(spec, options.out_dir, partial(train_round, train, options))


def train_round(train: Callable[..., None], options: RunOptions, spec: SweepSpec, r: int) -> None:
    """Train refinement round `r` (`rounds.run_rounds`), its runs marked `refine_round = r`."""
    train(
        spec,
        memory_budget=options.memory_budget,
        max_runs_per_batch=options.max_runs_per_batch,
        columns={ROUND: r},
    )


def prepare(spec: SweepSpec, options: RunOptions) -> list[str]:
    """Make the folder ready (`store.prepare`: refuses another sweep's folder unless `force`)
    and copy the sweep's reference table into it; returns the warnings to say."""
    out_dir = options.out_dir
    warnings = store.prepare(out_dir, spec.identity(), spec.resolved_dict(), options.force)
    copy = out_dir / REFERENCE_FILE
    if spec.reference is not None and copy.is_file() and copy.resolve() == spec.reference.resolve():
        problem = store.copy_problem(out_dir, REFERENCE_FILE)  # the folder's own copy, rerun
        if problem:
            raise store.OutputError(
                f"{problem}: it is not the table the sweep copied; run the sweep from its own "
                "file (which copies its reference anew), or copy that table there again"
            )
    elif spec.reference is not None:
        copy_reference(spec.reference, out_dir)
    if spec.reference is not None:  # recorded when copied (an older folder's copy: now)
        record_tables(out_dir, {REFERENCE_FILE: file_digest(copy)})
    return warnings


def execute(
    spec: SweepSpec,
    options: RunOptions,
    executor: Executor,
    *,
    warnings: Iterable[str] = (),
    summary: str | None = None,
    say: Callable[[str], None] | None = None,
) -> Results | None:
    """Train with `executor` into the prepared folder, then `finish`; None where the executor
    leaves the merge to another process. `say` (default: stderr) hears the live page's path,
    the `warnings` and the plan's `summary` before training starts."""
    say = say or (lambda line: print(line, file=sys.stderr))
    live = options.plots and options.live and executor.live
    page = live_page(spec, options.out_dir) if live else None
    if page is not None:  # the first line: the page to open while it trains
        say(f"live page: {page.path.resolve()}")
    for warning in warnings:
        say(f"warning: {warning}")
    if summary is not None:
        say(summary)
    with page or nullcontext():  # a sweep that stops early leaves a page without refresh
        members = executor.train(spec, options, page)
    if members is None:
        return None
    return finish(spec, options.out_dir, plots=options.plots, members=members)


def live_page(spec: SweepSpec, out_dir: Path) -> LivePage:
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


def finish(
    spec: SweepSpec, out_dir: Path, plots: bool = True, members: dict[str, int] | None = None
) -> Results:
    """Assemble the sweep's runs, classify them, write runs/curves/progress parquet, draw the
    figures.

    The sweep's runs are `members` (run_id -> refine_round; default: found in the folder,
    `rounds.sweep_rounds`): the grid's first, in grid order (found from their rows,
    `plan.groups.locate`), then its refinement rounds', round by round. Runs of an earlier grid that
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
    first: Path = out_dir / PARTS / f"{batch}.runs.parquet"
    own = first if batch is not None and first.is_file() else next(iter(parts), None)
    metadata = store.read_metadata(own) if own is not None else {}
    metadata["sweep"] = spec.resolved_dict()
    try:  # recorded (tables.sha256) once written; unrecorded meanwhile, never mismatched
        forget_tables(out_dir, list(store.ASSEMBLED))
        hashes = {
            store.CURVES: store.write_table(out_dir / store.CURVES, curves_df, metadata),
            store.RUNS: store.write_table(out_dir / store.RUNS, runs_df, metadata),
            progress_store.PROGRESS: progress_store.assemble(out_dir, runs_df["run_id"], metadata),
        }
        record_tables(out_dir, {name: h for name, h in hashes.items() if h is not None})
    except OSError as err:
        raise store.WriteError(f"cannot write to {out_dir}: {err.strerror or err}") from None
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


def folder_refusal(spec: SweepSpec, out_dir: Path) -> str | None:
    """Why the sweep (without --force) would refuse `out_dir` (`store.refusal`, which
    `store.prepare` asks), read without writing anything, for --dry-run; None where it would
    take the folder."""
    try:
        return store.refusal(out_dir, spec.identity())
    except OSError as err:
        return f"{out_dir} cannot be read: {err.strerror or err}"


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
