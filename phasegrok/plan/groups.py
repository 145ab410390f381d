"""Plan a sweep of any size without listing it: pure Python, no JAX.

The runs of a shape group are a sub-grid: one value of each static axis, the values of the size
axis (train fraction or train size) that fall in one size bucket, every value of the dynamic
axes, every seed. So the groups, their run counts and the cost estimate come from the axes at
once (`plan`), and the runs and batches of a group are produced when training reaches it
(`iter_batches`): memory is bounded by a batch, whatever the number of runs.

Runs already in a results folder are found from its rows (`locate`): each row's values are
looked up on the axes and its run_id checked against the grid's, so the count takes time in
proportion to the results on disk, never to the grid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from phasegrok.config.axes import RangeAxis, iter_product
from phasegrok.config.load import (
    MAX_SHAPE_GROUPS,
    ConfigError,
    SweepSpec,
    n_static_combinations,
    static_axes,
)
from phasegrok.config.sampling import (
    SampledAxis,
    grid_factors,
    iter_grid,
    joint_index,
    n_grid_points,
)
from phasegrok.plan.batching import (
    batch_cap,
    batch_width,
    flops_per_step,
    make_batch,
    n_params,
    run_bytes,
    uses_l1,
)
from phasegrok.plan.runs import (
    Batch,
    Run,
    StaticSpec,
    check_effects,
    make_run,
    resolve,
    static_spec,
    train_pad,
)
from phasegrok.tasks import TASKS

# A conservative CPU throughput for the time estimate.
ASSUMED_FLOPS = 2e10


@dataclass(frozen=True)
class Group:
    """The runs of one shape group: per grid axis (in `spec.grid` order) the positions of its
    values in the group, times every seed."""

    static: StaticSpec
    picks: tuple[Sequence[int], ...]
    n_seeds: int
    n_points: int  # of the sub-grid `picks` (`sampling.n_grid_points`: sampled axes jointly)

    @property
    def n_runs(self) -> int:
        return self.n_points * self.n_seeds


@dataclass(frozen=True)
class Plan:
    """A sweep's shape groups, and how many runs of each are still to train."""

    spec: SweepSpec
    groups: tuple[Group, ...]
    todo: tuple[int, ...]  # per group

    @property
    def n_runs(self) -> int:
        return sum(g.n_runs for g in self.groups)

    @property
    def n_todo(self) -> int:
        return sum(self.todo)

    def estimate(self, whole: bool = False) -> dict[str, float]:
        """Rough training FLOPs, seconds on a CPU and output bytes of the runs still to train
        (`whole`: of every run)."""
        counts = [g.n_runs for g in self.groups] if whole else self.todo
        return estimate_groups([(g.static, n) for g, n in zip(self.groups, counts, strict=True)])

    def curve_points(self) -> int:
        """Rows of the sweep's curves.parquet."""
        return sum(g.n_runs * (g.static.n_evals + 1) for g in self.groups)

    def largest_run_bytes(self) -> int:
        return max(run_bytes(g.static) for g in self.groups)


def estimate_groups(counts: Iterable[tuple[StaticSpec, int]]) -> dict[str, float]:
    """Rough training FLOPs, seconds on a CPU and output bytes of `n` runs of each static: their
    parameters, and per curve point and per run what the parts and the assembled tables hold
    (measured on the quickstart: 74 bytes a curve point, ~6 kB a run's rows of the runs parts,
    runs.parquet and progress.parquet). The figures are apart: `limits.report_bytes`."""
    flops = curve_bytes = param_bytes = runs = 0.0
    for static, n in counts:
        flops += n * flops_per_step(static) * static.steps
        curve_bytes += n * 75 * (static.n_evals + 1)
        param_bytes += n * 4 * n_params(static) * (1 + len(static.save_params_at))
        runs += n
    return {
        "flops": flops,
        "cpu_seconds": flops / ASSUMED_FLOPS,
        "bytes": curve_bytes + param_bytes + 6000 * runs,
    }


# --------------------------------------------------------------------------------------------
# Shape groups


def plan(spec: SweepSpec, done: Iterable[Mapping[str, Any]] = ()) -> Plan:
    """The sweep's shape groups, and per group the runs not among `done` (rows of runs parts:
    run_id, seed and the swept columns). Raises ConfigError for a swept key without effect, or
    more than MAX_SHAPE_GROUPS groups."""
    check_effects(spec)
    groups = shape_groups(spec)
    todo = [g.n_runs for g in groups]
    index = {g.static: i for i, g in enumerate(groups)}
    for _position, static in locate(spec, done).values():
        if static in index:
            todo[index[static]] -= 1
    return Plan(spec, tuple(groups), tuple(todo))


def shape_groups(spec: SweepSpec) -> list[Group]:
    """One Group per static combination and size bucket, in grid order of the static axes."""
    n_static_combinations(spec)  # refuses too many before enumerating them
    keys = list(spec.grid)
    static_keys = static_axes(spec)
    base = spec.base_config()
    first = {k: axis[0] for k, axis in spec.grid.items()}
    partitions: dict[tuple[Any, ...], list[Sequence[int] | None]] = {}
    groups: list[Group] = []
    for combo in iter_product([range(len(spec.grid[k])) for k in static_keys]):
        chosen = dict(zip(static_keys, combo, strict=True))
        point = {**base, **first, **{k: spec.grid[k][i] for k, i in chosen.items()}}
        task = TASKS[point["task.kind"]]
        size_key = task.size_key
        context = (task.kind, task.fields(point))  # train_pad depends on these and the size
        if context not in partitions:
            partitions[context] = _size_buckets(spec, point, size_key)
        for positions in partitions[context]:
            picks: list[Sequence[int]] = []
            cfg = dict(point)
            for key in keys:
                if key in chosen:
                    picks.append(range(chosen[key], chosen[key] + 1))
                elif key == size_key and positions is not None:
                    picks.append(positions)
                    cfg[key] = spec.grid[key][positions[0]]
                else:
                    picks.append(range(len(spec.grid[key])))
            n_points = n_grid_points(spec.grid, picks)
            groups.append(Group(static_spec(resolve(cfg)), tuple(picks), len(spec.seeds), n_points))
        if len(groups) > MAX_SHAPE_GROUPS:
            raise ConfigError(
                "grid",
                f"more than {MAX_SHAPE_GROUPS} shape groups (static combinations x train-set "
                "size buckets), each compiled on its own: use fewer values, or split the sweep",
            )
    return groups


def _size_buckets(
    spec: SweepSpec, point: dict[str, Any], size_key: str
) -> list[Sequence[int] | None]:
    """The positions on the size axis, split by padded train size (in order of first
    appearance); [None] if the size key is not swept. A range axis is monotone, so each bucket
    is a contiguous range, found by bisection: ~100 buckets of a 10**9-value axis cost ~3,000
    look-ups."""
    axis = spec.grid.get(size_key)
    if axis is None:
        return [None]

    def pad(i: int) -> int:
        return train_pad({**point, size_key: axis[i]})

    if isinstance(axis, RangeAxis):
        buckets: list[Sequence[int] | None] = []
        start = 0
        while start < len(axis):
            value = pad(start)
            lo, hi = start, len(axis) - 1  # last position with the same pad
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if pad(mid) == value else (lo, mid - 1)
            buckets.append(range(start, lo + 1))
            start = lo + 1
        return buckets
    by_pad: dict[int, list[int]] = {}
    for i in range(len(axis)):
        by_pad.setdefault(pad(i), []).append(i)
    return [tuple(positions) for positions in by_pad.values()]


def iter_group_runs(spec: SweepSpec, group: Group) -> Iterator[Run]:
    """The runs of `group`, in grid order, one at a time."""
    keys = list(spec.grid)
    base = spec.base_config()
    for point in iter_grid(spec.grid, group.picks):
        cfg = {**base, **dict(zip(keys, point, strict=True))}
        for seed in spec.seeds:
            yield make_run(cfg, seed)


def iter_batches(
    the_plan: Plan,
    done_ids: set[str],
    memory_budget: int = 1 << 30,
    max_runs_per_batch: int = 256,
    max_flops_per_eval: float | None = None,
) -> Iterator[tuple[Batch, int]]:
    """(batch, width) for every run still to train, group by group: the batches of
    `batching.plan_batches`, with `width` the padded size of the group's batches. Holds one
    batch."""
    with_l1 = uses_l1(the_plan.spec)
    for group, todo in zip(the_plan.groups, the_plan.todo, strict=True):
        if todo <= 0:
            continue
        cap = batch_cap(group.static, memory_budget, max_runs_per_batch, max_flops_per_eval)
        width = batch_width(todo, cap)
        chunk: list[Run] = []
        for run in iter_group_runs(the_plan.spec, group):
            if run.run_id in done_ids:
                continue
            chunk.append(run)
            if len(chunk) == width:
                yield make_batch(group.static, chunk, with_l1), width
                chunk = []
        if chunk:
            yield make_batch(group.static, chunk, with_l1), width


# --------------------------------------------------------------------------------------------
# Runs already on disk


def grid_columns(spec: SweepSpec) -> list[str]:
    """The runs.parquet columns that place a stored run on the grid (`locate`)."""
    return ["run_id", "seed", *spec.grid]


def locate(spec: SweepSpec, rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, StaticSpec]]:
    """run_id -> (position in grid order, static spec) for the rows that are runs of this
    grid: each row's swept values are looked up on the axes, and the run there must have its
    run_id (a row of another grid, or of older numerics, has another). Rows hold `run_id`,
    `seed` and the swept keys as stored in runs.parquet."""
    keys = list(spec.grid)
    factors = grid_factors(spec.grid)
    sizes = [len(spec.grid[f[0]]) for f in factors]
    points = joint_index(spec.grid)
    base = spec.base_config()
    seed_position = _seed_positions(spec.seeds)
    statics: dict[StaticSpec, StaticSpec] = {}  # one object per group, shared by its runs
    found: dict[str, tuple[int, StaticSpec]] = {}
    for row in rows:
        values = {k: _stored(k, row.get(k)) for k in keys}
        found_at = [_factor_position(spec.grid, f, values, points) for f in factors]
        positions = [i for i in found_at if i is not None]
        seed = seed_position(row.get("seed"))
        if seed is None or len(positions) < len(found_at):
            continue
        at = {k: i for f, i in zip(factors, positions, strict=True) for k in f}
        run = make_run({**base, **{k: spec.grid[k][at[k]] for k in keys}}, spec.seeds[seed])
        if run.run_id == row.get("run_id"):
            flat = 0
            for size, i in zip([*sizes, len(spec.seeds)], [*positions, seed], strict=True):
                flat = flat * size + i
            found[run.run_id] = (flat, statics.setdefault(run.static, run.static))
    return found


def _factor_position(
    grid: Mapping[str, Any],
    factor: tuple[str, ...],
    values: Mapping[str, Any],
    points: Mapping[tuple[Any, ...], int],
) -> int | None:
    """Position of a row's values on one factor of the grid: a listed axis, or the sampled
    points (`sampling.joint_index`)."""
    if not isinstance(grid[factor[0]], SampledAxis):
        return _position(grid[factor[0]], values[factor[0]])
    try:
        return points.get(tuple(values[k] for k in factor))
    except TypeError:  # an unhashable stored value: not a point of this grid
        return None


def _seed_positions(seeds: Sequence[int]) -> Callable[[Any], int | None]:
    """seed -> its position in `seeds` (None if absent), O(1) for a range or a list."""
    if isinstance(seeds, range):
        return lambda s: seeds.index(s) if isinstance(s, int) and s in seeds else None
    at = {s: i for i, s in enumerate(seeds)}
    return lambda s: at.get(s) if isinstance(s, int) else None


def _position(axis: Sequence[Any], value: Any) -> int | None:
    try:
        return axis.index(value)
    except (ValueError, TypeError):
        # A key blanked in the row (it had no effect on that run) can only be a 1-value axis;
        # the run_id check decides.
        return 0 if value is None and len(axis) == 1 else None


def _stored(key: str, value: Any) -> Any:
    """A runs.parquet cell back to the config value: lists were stored as JSON text, the batch
    size as text."""
    if isinstance(value, str):
        if value.startswith("["):
            try:
                return _tuples(json.loads(value))
            except ValueError:
                return value
        if key == "optimizer.batch_size" and value.isdigit():
            return int(value)
    return value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
