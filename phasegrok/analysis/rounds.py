"""A sweep's refinement rounds: classify what is finished, choose points, train them.

After the initial grid, round r (1 .. `refine.rounds`) takes the runs of the rounds before it
(classified by `classify.classify_runs`), asks `refine.choose_points` for up to
`round_budget(...) // seeds` new points, and trains them as a sweep of its own whose refined
axes are one explicit point set (`sampling.SampledAxis`): the same planning, batching, engine
and store as the grid, each batch written with `refine_round = r`. New values of keys traced
per run share the grid's compiled program; a new train fraction is snapped to a whole number
of examples and may open one new size bucket (one more program).

Resuming: round r's points depend only on the runs of rounds < r and the seed, so a sweep
interrupted during round r chooses the same points again and trains those still missing.
Raising `rounds` or `max_runs` in the file continues with further rounds.

Which runs are the sweep's: the same replay without training (`sweep_rounds`) finds the runs
of each round in the folder, so that runs.parquet holds the grid and its rounds and nothing
else the folder keeps in parts/ (runs of an earlier grid, and the rounds chosen from it).

No JAX here: training is the `train` callable that `sweep` passes in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from phasegrok.analysis.classify import classify_runs
from phasegrok.analysis.refine import axis_scale, choose_points, point_phases, round_budget
from phasegrok.config.axes import refine_axes
from phasegrok.config.load import SweepSpec
from phasegrok.config.sampling import SampledAxis
from phasegrok.config.schema import PHASES, SAMPLEABLE_KEYS, key_annotation
from phasegrok.plan.groups import grid_columns, locate, plan
from phasegrok.store import folder as store
from phasegrok.store.parts import check_parts, part_rows
from phasegrok.tasks.modular import MODULAR, n_examples

COLUMN = "refine_round"  # of runs.parquet: 0 for the initial grid, r for round r


def finished_runs(
    spec: SweepSpec, out_dir: Path, members: Mapping[str, int] | None = None
) -> pd.DataFrame:
    """The sweep's finished runs in the folder, classified, with their `refine_round`.

    `members`: run_id -> refine_round of the runs to read (default: the sweep's,
    `sweep_rounds`); the round is the sweep's, not what the run's part recorded (a run of an
    earlier grid that a round chose again belongs to that round)."""
    if members is None:
        members = sweep_rounds(spec, out_dir)
    runs, curves = store.assemble(out_dir, keep=members)
    runs = classify_runs(runs, curves, spec.file.classify)
    return runs.assign(**{COLUMN: runs["run_id"].map(members).astype(int)})


def located(spec: SweepSpec, out_dir: Path) -> set[str]:
    """run_ids of the runs of `spec`'s grid that the folder holds (`stream.locate`)."""
    rows = part_rows(check_parts(out_dir).whole, grid_columns(spec))
    return set(locate(spec, rows))


def round_seed(spec: SweepSpec, round_index: int) -> int:
    """The tie-breaking seed of a round: from the sweep's `grid_seed`, different per round."""
    return spec.file.grid_seed * 1009 + round_index


def refined_axes(spec: SweepSpec) -> tuple[str, ...]:
    """The refined axes in the grid's order, whatever the order `refine.axes` names them in:
    the same sweep chooses the same points, so a rerun with the axes named the other way
    round finds its rounds' runs and trains none past `max_runs`."""
    assert spec.file.refine is not None
    named = refine_axes(spec.file.refine, spec.grid, SAMPLEABLE_KEYS)
    return tuple(key for key in spec.grid if key in named)


def plan_round(spec: SweepSpec, runs: pd.DataFrame, round_index: int) -> list[tuple[Any, ...]]:
    """The points of round `round_index`, from the runs of the rounds before it (`runs`: the
    folder's classified runs with `refine_round`). Pure: the same runs, the same points."""
    refine = spec.file.refine
    assert refine is not None  # rounds are planned for a sweep with `refine:` alone
    axes = refined_axes(spec)
    before = runs[runs[COLUMN] < round_index]
    used = int((before[COLUMN] >= 1).sum())
    budget = round_budget(refine.max_runs, used, refine.rounds, round_index)
    n_points = budget // max(1, len(spec.seeds))
    scales = [axis_scale(spec.file.grid.get(k), spec.grid[k]) for k in axes]
    points = point_phases(before[[*axes, "phase"]].to_dict("records"), axes, PHASES)
    snap = point_snapper(spec, axes)
    return choose_points(
        points, scales, n_points, round_seed(spec, round_index), snap, refine.min_step
    )


def point_snapper(
    spec: SweepSpec, axes: Sequence[str]
) -> Callable[[tuple[float, ...]], tuple[Any, ...]]:
    """Maps a chosen point to trainable values: integers for integer keys, a train fraction to
    a whole number of examples (n / N, N the task's distinct pairs)."""
    base = {**spec.base_config(), **{k: axis[0] for k, axis in spec.grid.items()}}
    n_total = n_examples(base) if base["task.kind"] == MODULAR.kind else 0

    def snap(point: tuple[float, ...]) -> tuple[Any, ...]:
        out: list[Any] = []
        for key, value in zip(axes, point, strict=True):
            if key_annotation(key) is int:
                out.append(round(value))
            elif key == "data.train_fraction" and n_total:
                out.append(float(f"{round(value * n_total) / n_total:.12g}"))
            else:
                out.append(value)
        return tuple(out)

    return snap


def round_spec(
    spec: SweepSpec, axes: Sequence[str], points: Sequence[tuple[Any, ...]]
) -> SweepSpec:
    """The sweep of one round: the refined axes replaced by the round's points, one joint
    point set (the other grid axes have one value each: `refine.refine_axes`)."""
    grid = dict(spec.grid)
    columns = list(zip(*points, strict=True))
    for key, column in zip(axes, columns, strict=True):
        grid[key] = SampledAxis(key, (("points", len(points)),), tuple(column))
    return replace(spec, grid=grid)


def run_rounds(
    spec: SweepSpec, out_dir: Path, train: Callable[[SweepSpec, int], None] | None = None
) -> dict[str, int]:
    """Every refinement round of `spec` after its grid; `train(round_spec, r)` trains a round's
    missing runs (`sweep.train_missing` with `refine_round = r`). A round with no point to add
    ends the refinement: nothing is uncertain, or the budget is spent.

    Returns run_id -> refine_round of the sweep's runs in the folder: its grid's (0) and its
    rounds'. `train` None replays the rounds without training (`sweep_rounds`): a stage the
    folder does not hold whole (an interrupted grid or round) ends the replay, as the rounds
    after it are not chosen yet."""
    members = dict.fromkeys(located(spec, out_dir), 0)
    refine = spec.file.refine
    if refine is None or refine.rounds < 1 or not members:
        return members
    if train is None and len(members) < plan(spec).n_runs:
        return members
    axes = refined_axes(spec)
    runs = finished_runs(spec, out_dir, members)
    for round_index in range(1, refine.rounds + 1):
        points = plan_round(spec, runs, round_index)
        if not points:
            break
        this_round = round_spec(spec, axes, points)
        if train is not None:
            train(this_round, round_index)
        found = located(this_round, out_dir)
        for run_id in found:
            members.setdefault(run_id, round_index)
        if train is None and len(found) < plan(this_round).n_runs:
            break
        runs = finished_runs(spec, out_dir, members)
    return members


def sweep_rounds(spec: SweepSpec, out_dir: Path) -> dict[str, int]:
    """run_id -> refine_round of the sweep's runs the folder holds: `run_rounds` replayed
    without training (its grid's runs alone where it has no refinement)."""
    return run_rounds(spec, out_dir, None)
