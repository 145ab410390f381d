"""Sweep files: parse, validate and resolve, in pure Python (no JAX).

A sweep file is YAML with the sections below. Everything a run needs is validated here, before
JAX is imported, so a typo costs a second rather than a compile. Every failure is a
`ConfigError` naming the dotted key at fault and what is allowed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import reduce
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from phasegrok.config.axes import (
    Axis,
    iter_product,
    parse_axis,
    parse_seeds,
    refine_axes,
    written_seeds,
)
from phasegrok.config.inputs import check_size, read_sweep_file
from phasegrok.config.messages import did_you_mean, suggest, to_config_error, with_grid_hint
from phasegrok.config.overrides import apply_overrides
from phasegrok.config.reference import REFERENCE_FILE, check_reference
from phasegrok.config.rules import (
    check_run,
)
from phasegrok.config.sampling import draw_joint, is_sampled, iter_grid, n_grid_points
from phasegrok.config.schema import (
    DYNAMIC_KEYS,
    GROUP_KEYS,
    MAX_INT,
    MAX_INT_OF,
    MAX_SHAPE_GROUPS,
    NOT_SWEEPABLE,
    REAL_KEYS,
    RUN_KEYS,
    RUN_SECTIONS,
    SAMPLEABLE_KEYS,
    SIZE_KEYS,
    SWEEPABLE_KEYS,
    AnalysisSpec,
    DataSpec,
    GroupOptimizerSpec,
    ModelSpec,
    OptimizerSpec,
    PlotSpec,
    SweepFile,
    TaskSpec,
    TrainSpec,
    added_defaults,
    key_annotation,
)
from phasegrok.errors import ConfigError, short_repr
from phasegrok.tasks.arrays import ARRAYS_TASK
from phasegrok.tasks.arrays_file import ARRAYS, ArraysFile, inspect_file

# The run keys declared `Added` with their defaults, as the sweep file's JSON dump writes them:
# left out of a sweep's identity at those, so that older folders keep theirs.
ADDED = {k: json.loads(json.dumps(v)) for k, v in added_defaults().items()}

# The schema's names, re-exported: `config` is where a sweep's keys are looked up.
__all__ = [
    "TaskSpec",
    "DataSpec",
    "ModelSpec",
    "GroupOptimizerSpec",
    "OptimizerSpec",
    "TrainSpec",
    "AnalysisSpec",
    "PlotSpec",
    "SweepFile",
    "RUN_SECTIONS",
    "NOT_SWEEPABLE",
    "RUN_KEYS",
    "SWEEPABLE_KEYS",
    "key_annotation",
    "REAL_KEYS",
    "GROUP_KEYS",
    "DYNAMIC_KEYS",
    "SIZE_KEYS",
    "MAX_SHAPE_GROUPS",
    "MAX_INT",
    "MAX_INT_OF",
    "ConfigError",
    "SweepSpec",
    "load_sweep",
]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the file as written, its grid as lazy axes, its seeds as a sequence.

    Nothing here is proportional to the number of runs: `grid` maps each swept key to an `Axis`
    (values on demand), `seeds` is a `range` or a tuple.
    """

    file: SweepFile
    grid: dict[str, Axis]
    seeds: Sequence[int]
    arrays: ArraysFile | None = None  # the arrays task's data file, checked and hashed
    reference: Path | None = None  # the `reference:` table, resolved and checked

    def kinds(self) -> set[str]:
        """The task kinds of the sweep's runs."""
        return set(self.grid.get("task.kind", [self.file.task.kind]))

    @property
    def name(self) -> str:
        return self.file.name

    def base_config(self) -> dict[str, Any]:
        """The flat config of the file's run sections, before grid values are put in, with the
        data file's facts under `task.arrays` (`plan.resolve` records the ones a run uses)."""
        return {**flatten(self.file.model_dump(include=set(RUN_SECTIONS))), ARRAYS: self.arrays}

    def run_configs(self) -> Iterator[tuple[dict[str, Any], int]]:
        """Yield (flat resolved config, seed) for every grid point x seed, grid order first;
        lazily, so that taking the first few of a huge grid costs nothing."""
        base = self.base_config()
        axes = list(self.grid)
        for values in iter_grid(self.grid):
            point = {**base, **dict(zip(axes, values, strict=True))}
            for seed in self.seeds:
                yield dict(point), seed

    def n_points(self) -> int:
        """Grid points: the product of the listed axes' lengths and the sampled points."""
        return n_grid_points(self.grid)

    def n_runs(self) -> int:
        return self.n_points() * len(self.seeds)

    def identity(self) -> str:
        """Hash of everything that decides the runs except grid values, seeds, classify, plots.

        Two sweep files with the same identity may share a results folder (one extends the
        other); a swept key counts by name only, so adding values to an axis keeps the identity.
        The arrays task's data file counts by its content hash, not by its path.
        """
        run_part = flatten(self.file.model_dump(mode="json", include=set(RUN_SECTIONS)))
        run_part = {k: "<swept>" if k in self.grid else v for k, v in run_part.items()}
        for key in ("train.seeds", "task.path", "task.sha256", "analysis.progress_measures"):
            del run_part[key]
        for key, default in ADDED.items():  # a key added later, at its default: as before it
            if key in run_part and run_part[key] == default:
                del run_part[key]
        if self.arrays is not None:
            run_part["task.sha256"] = self.arrays.sha256
        payload = json.dumps(run_part, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def resolved_dict(self) -> dict[str, Any]:
        """The sweep as YAML-ready data: grid axes as explicit lists and seeds as a list, except
        a range or a seed count too long to list (kept as written)."""
        out = _plain(self.file.model_dump(mode="json"))
        out["grid"] = {k: _plain(axis.written()) for k, axis in self.grid.items()}
        out["train"]["seeds"] = written_seeds(self.seeds)
        if self.arrays is not None:  # the file as read: rerunning this sweep checks its hash
            out["task"].update(path=self.arrays.path, sha256=self.arrays.sha256)
        if self.reference is not None:  # the folder's own copy (phasegrok.config.reference)
            out["reference"] = REFERENCE_FILE
        return out


# --------------------------------------------------------------------------------------------
# Flat dotted dictionaries


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------
# Loading


def load_sweep(source: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> SweepSpec:
    """Validate a sweep (a YAML path or an already parsed dict) and build its lazy grid;
    `overrides` (`KEY=VALUE`, `~KEY`: `phasegrok.config.overrides`) apply first, then validation.

    Raises ConfigError for any bad input; never imports JAX. Takes time and memory in
    proportion to the file, never to the number of runs it describes.
    """
    raw = dict(source) if isinstance(source, Mapping) else read_sweep_file(source)
    check_size(raw)
    if overrides:
        raw = apply_overrides(raw, overrides)
        check_size(raw)
    try:
        sweep_file = _validate_model(SweepFile, raw)
    except ConfigError as err:
        raise with_grid_hint(err, raw, overrides) from None
    grid = _make_grid(sweep_file)
    seeds = parse_seeds(sweep_file.train.seeds)
    _check_plots(sweep_file, grid)
    spec = SweepSpec(file=sweep_file, grid=grid, seeds=seeds)
    task = sweep_file.task
    if ARRAYS_TASK.kind in spec.kinds() and task.path is not None:  # read and hashed once, here
        spec = SweepSpec(sweep_file, grid, seeds, inspect_file(task.path, task.sha256))
    _check_points(spec)
    if sweep_file.refine is not None:
        refine_axes(sweep_file.refine, grid, SAMPLEABLE_KEYS)
    if sweep_file.reference is not None:
        base = Path(source).parent if not isinstance(source, Mapping) else Path.cwd()
        spec = replace(spec, reference=check_reference(sweep_file.reference, base))
    return spec


def _validate_model(model: type[BaseModel], raw: Any, prefix: str = "") -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise to_config_error(err, prefix) from None


def _make_grid(sweep_file: SweepFile) -> dict[str, Axis]:
    """The grid's axes in file order: sampled ones drawn jointly (`sampling.draw_joint`)."""
    samplers = {k: spec for k, spec in sweep_file.grid.items() if is_sampled(spec)}
    for key in samplers:
        _check_key(key)
    sampled = draw_joint(
        samplers,
        sweep_file.grid_seed,
        _check_value,
        lambda key: key_annotation(key) is int,
        SAMPLEABLE_KEYS,
    )
    return {
        key: sampled[key] if key in sampled else _parse_axis(key, spec)
        for key, spec in sweep_file.grid.items()
    }


def _check_key(key: str) -> None:
    where = f"grid.{key}"
    if key not in SWEEPABLE_KEYS:
        if key in NOT_SWEEPABLE:
            section = key.split(".")[0]
            raise ConfigError(where, f"cannot be swept (set it under {section}: instead)")
        hints = did_you_mean(key, SWEEPABLE_KEYS)
        if hints:
            raise ConfigError(where, f"not a known dotted path{suggest(hints)}")
        sections = ", ".join(f"{s}.*" if s != "loss" else s for s in RUN_SECTIONS)
        raise ConfigError(
            where, f"not a known dotted path; a grid key is a dotted path into {sections}"
        )


def _parse_axis(key: str, spec: Any) -> Axis:
    _check_key(key)
    return parse_axis(key, spec, lambda value: _check_value(key, value), key in REAL_KEYS)


def _check_value(key: str, value: Any) -> Any:
    """One grid value of `key`, validated as the file's section would be, and normalised."""
    section, *rest = key.split(".")
    if not rest:
        _validate_model(SweepFile, {section: value}, prefix="grid.")
        return value
    model = SweepFile.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)  # a sweepable section
    parsed = _validate_model(model, unflatten({".".join(rest): value}), prefix=f"grid.{section}.")
    value = reduce(getattr, rest, parsed)
    if value is None:  # only a group's keys take None, which means "inherit": not a grid value
        inherited = f"optimizer.{rest[-1]}"
        raise ConfigError(
            f"grid.{key}", f"a value is needed (leave the key out to inherit {inherited})"
        )
    check_float32(key, value, where=f"grid.{key}")
    return value


def _check_plots(sweep_file: SweepFile, grid: Mapping[str, Any]) -> None:
    for i, plot in enumerate(sweep_file.plots):
        for axis in ("x", "y"):
            key = getattr(plot, axis)
            if key not in grid:
                swept = ", ".join(grid) or "none"
                raise ConfigError(
                    f"plots[{i}].{axis}", f"'{key}' is not a swept axis; swept: {swept}"
                )


def static_axes(spec: SweepSpec) -> list[str]:
    """The swept keys that change the compiled program (neither dynamic nor size keys)."""
    return [k for k in spec.grid if k not in DYNAMIC_KEYS and k not in SIZE_KEYS]


def n_static_combinations(spec: SweepSpec) -> int:
    """Combinations of the static axes' values; refused above MAX_SHAPE_GROUPS."""
    keys = static_axes(spec)
    count = math.prod(len(spec.grid[k]) for k in keys)
    if count > MAX_SHAPE_GROUPS:
        raise ConfigError(
            "grid",
            f"{count} combinations of {' x '.join(keys)}, each a shape group compiled on its "
            f"own; at most {MAX_SHAPE_GROUPS}: use fewer values, or split the sweep",
        )
    return count


def iter_corners(spec: SweepSpec) -> Iterator[dict[str, Any]]:
    """Flat configs that decide whether every grid point is valid: each combination of the
    static axes' values, with the dynamic and size axes all at their smallest, then all at their
    largest (every rule on those keys is an interval). At most 2 x MAX_SHAPE_GROUPS configs."""
    n_static_combinations(spec)
    base = spec.base_config()
    keys = static_axes(spec)
    ranged = {k: axis.bounds() for k, axis in spec.grid.items() if k not in keys}
    for values in iter_product([spec.grid[k] for k in keys]):
        point = {**base, **dict(zip(keys, values, strict=True))}
        for end in (0, 1):
            yield {**point, **{k: bounds[end] for k, bounds in ranged.items()}}


def check_magnitudes(cfg: Mapping[str, Any]) -> None:
    """Every integer of a run config (and of its lists) within MAX_INT (MAX_INT_OF), every real
    number the engine computes in float32 within its range (`check_float32`); the seeds are
    checked on their own (`grid.parse_seeds`)."""
    for key, value in cfg.items():
        if key == "train.seeds":
            continue
        items = value if isinstance(value, list | tuple) else (value,)
        top = MAX_INT_OF.get(key, MAX_INT)
        for item in items:
            if isinstance(item, int) and not isinstance(item, bool) and abs(item) > top:
                raise ConfigError(key, f"must be at most {top} (got {short_repr(item)})")
            check_float32(key, item)


# The engine computes the model's and optimizer's real numbers in float32: a nonzero magnitude
# outside its normal range would become inf, or a subnormal or 0, there.
FLOAT32_TINY = 2.0**-126  # 1.1754944e-38
FLOAT32_MAX = (2 - 2.0**-23) * 2.0**127  # 3.4028235e38
FLOAT32_SECTIONS = ("model.", "optimizer.")


def check_float32(key: str, value: Any, where: str | None = None) -> None:
    """A real value of a key the engine computes in float32 (FLOAT32_SECTIONS): 0, or a
    magnitude within float32's normal range. Raises ConfigError naming `where` (default: key)."""
    if not isinstance(value, float) or not key.startswith(FLOAT32_SECTIONS) or value == 0:
        return
    if not FLOAT32_TINY <= abs(value) <= FLOAT32_MAX:
        raise ConfigError(
            where or key,
            f"must be 0 or of magnitude {FLOAT32_TINY:.2g} to {FLOAT32_MAX:.2g} (float32's normal "
            f"range, in which the engine computes it; got {short_repr(value)})",
        )


def _check_points(spec: SweepSpec) -> None:
    """Check the grid's corners (`iter_corners`); name the grid key where it helps."""
    for cfg in iter_corners(spec):
        try:
            check_magnitudes(cfg)
            check_run(cfg)
        except ConfigError as err:
            if err.key in spec.grid:
                raise ConfigError(
                    f"grid.{err.key}", f"value {short_repr(cfg[err.key])}: {err.message}"
                ) from None
            raise
