"""Sampled grid axes: values drawn at random, jointly, from the sweep's `grid_seed`.

    grid:
      optimizer.lr: {loguniform: [1.0e-4, 1.0e-2], n: 16}
      optimizer.weight_decay: {uniform: [0.0, 2.0], n: 16}
      optimizer.warmup_steps: {choice: [0, 100, 500], n: 16}

The sampled axes of a sweep are one point set: point i takes draw i of every sampled axis (so
their `n` must be equal), as a W&B or Ray Tune random search does; that set is then crossed with
the listed axes, as one more factor of the grid's product. Draws come from Python's
`random.Random(grid_seed)` (the same values on every platform and Python version), one value of
each sampled key per point in the file's key order; a point drawn twice (possible with
`choice` or an integer key) is kept once. Values are rounded to 12 significant digits, as a
range's are. Only dynamic keys and the train-set size may be sampled: every drawn point then
shares its shape group's compiled program.

Pure Python, like `grid`: config.py passes in the function that validates one value.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from phasegrok.config.axes import DIGITS, MAX_EXPANDED, Axis, iter_product
from phasegrok.errors import ConfigError, short_repr

SAMPLE_KINDS = ("loguniform", "uniform", "choice")


@dataclass(frozen=True)
class SampledAxis(Axis):
    """One sampled key's column of the sweep's joint point set: value i belongs to point i.

    Values may repeat along the column (the points do not), so a value alone does not place a
    run: `joint_index` does, from the values of every sampled key."""

    key: str
    spec: tuple[tuple[str, Any], ...]  # as written (normalised), for sweep.yaml
    values: tuple[Any, ...]

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i: int) -> Any:  # type: ignore[override]
        return self.values[i]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.values)

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        raise ValueError(f"axis {self.key} is sampled: its points are placed by joint_index")

    def written(self, limit: int = MAX_EXPANDED) -> Any:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.spec}

    def bounds(self) -> tuple[Any, Any]:
        return min(self.values), max(self.values)


def is_sampled(spec: Any) -> bool:
    """Whether a `grid:` entry is a sampler (`{loguniform|uniform|choice: ..., n: N}`)."""
    return isinstance(spec, Mapping) and any(kind in spec for kind in SAMPLE_KINDS)


def draw_joint(
    specs: Mapping[str, Any],
    seed: int,
    check: Callable[[str, Any], Any],
    integer: Callable[[str], bool],
    allowed: Collection[str],
) -> dict[str, SampledAxis]:
    """The sampled axes of a sweep (`specs`: key -> sampler, in file order), drawn jointly from
    `seed`. `check(key, value)` validates one value and returns it normalised; `integer(key)`
    says a key takes integers (its draws are rounded); `allowed` are the keys that may be
    sampled. Raises ConfigError naming the key at fault."""
    if not specs:
        return {}
    samplers = {key: _sampler(key, spec, allowed) for key, spec in specs.items()}
    sizes = {key: n for key, (_kind, _args, n) in samplers.items()}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{k} {n}" for k, n in sizes.items())
        first = next(iter(sizes))
        raise ConfigError(
            f"grid.{first}",
            f"sampled axes are drawn jointly, one point set, so their n must be equal (got "
            f"{listed})",
        )
    n = next(iter(sizes.values()))
    rng = random.Random(seed)
    points: dict[tuple[Any, ...], None] = {}  # insertion-ordered set
    for _ in range(n):
        point = tuple(
            _draw(rng, kind, args, integer(key)) for key, (kind, args, _n) in samplers.items()
        )
        points.setdefault(point, None)
    columns = list(zip(*points, strict=True)) if points else [() for _ in samplers]
    axes = {}
    for (key, spec), column in zip(specs.items(), columns, strict=True):
        values = tuple(_hashable(check(key, v)) for v in column)
        written = tuple((k, _plain(v)) for k, v in spec.items())
        axes[key] = SampledAxis(key, written, values)
    return axes


def _sampler(key: str, spec: Mapping[str, Any], allowed: Collection[str]) -> tuple[str, Any, int]:
    where = f"grid.{key}"
    kinds = [k for k in spec if k in SAMPLE_KINDS]
    if len(kinds) != 1 or set(spec) != {kinds[0], "n"}:
        raise ConfigError(
            where,
            "a sampled axis is {loguniform: [lo, hi], n: N}, {uniform: [lo, hi], n: N} or "
            f"{{choice: [v1, v2, ...], n: N}} (got {short_repr(dict(spec))})",
        )
    kind, n = kinds[0], spec["n"]
    if key not in allowed:
        raise ConfigError(
            where,
            f"cannot be sampled: only keys traced per run and the train-set size are "
            f"({', '.join(sorted(allowed))}), so that every drawn point shares one compiled "
            "program; list this key's values instead",
        )
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_EXPANDED:
        raise ConfigError(f"{where}.n", f"must be an integer in 1..{MAX_EXPANDED} (got {n!r})")
    args = spec[kind]
    if kind == "choice":
        if not isinstance(args, list | tuple) or not args:
            raise ConfigError(f"{where}.choice", "expects a non-empty list of values")
        return kind, tuple(args), n
    ends = _ends(args)
    if ends is None or ends[0] > ends[1] or (kind == "loguniform" and ends[0] <= 0):
        need = "0 < lo <= hi" if kind == "loguniform" else "lo <= hi"
        raise ConfigError(
            f"{where}.{kind}", f"expects [lo, hi], finite numbers with {need} (got {args!r})"
        )
    return kind, ends, n


def _ends(args: Any) -> tuple[float, float] | None:
    if not isinstance(args, list | tuple) or len(args) != 2:
        return None
    try:  # YAML 1.1 reads 1e-3 as text: accepted as the file's numbers are
        ends = tuple(float(a) for a in args if not isinstance(a, bool))
    except (TypeError, ValueError):
        return None
    if len(ends) != 2 or not all(math.isfinite(e) for e in ends):
        return None
    return ends[0], ends[1]


def _draw(rng: random.Random, kind: str, args: Any, integer: bool) -> Any:
    """One value: log10-uniform, uniform, or one of the choices with equal chance. An integer
    key's uniform draw is an integer in [lo, hi] with equal chance; its loguniform draw is
    rounded."""
    if kind == "choice":
        return args[rng.randrange(len(args))]
    lo, hi = args
    if integer and kind == "uniform":
        return rng.randint(math.ceil(lo), math.floor(hi))
    if kind == "loguniform":
        value = 10.0 ** rng.uniform(math.log10(lo), math.log10(hi))
    else:
        value = rng.uniform(lo, hi)
    return round(value) if integer else float(f"{value:.{DIGITS}g}")


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list | tuple) else value


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, list | tuple) else value


# --------------------------------------------------------------------------------------------
# The grid as a product of factors: each listed axis alone, the sampled axes together


def grid_factors(grid: Mapping[str, Axis]) -> list[tuple[str, ...]]:
    """The keys of each factor of the grid's product, in grid order: one per listed axis, and
    the sampled axes as one factor, where the first of them stands."""
    sampled = tuple(k for k, axis in grid.items() if isinstance(axis, SampledAxis))
    factors: list[tuple[str, ...]] = []
    for key in grid:
        if key not in sampled:
            factors.append((key,))
        elif key == sampled[0]:
            factors.append(sampled)
    return factors


def _factor_picks(
    grid: Mapping[str, Axis], picks: Sequence[Sequence[int]] | None
) -> list[tuple[tuple[str, ...], Sequence[int]]]:
    """(keys, positions) per factor: a sampled factor's positions are its points, those of the
    sampled key with fewest picks (a shape group may take some points only: a size bucket)."""
    keys = list(grid)
    by_key = dict(zip(keys, picks, strict=True)) if picks is not None else {}
    out = []
    for factor in grid_factors(grid):
        chosen = [by_key[k] for k in factor if k in by_key] or [range(len(grid[factor[0]]))]
        out.append((factor, min(chosen, key=len)))
    return out


def n_grid_points(grid: Mapping[str, Axis], picks: Sequence[Sequence[int]] | None = None) -> int:
    """Points of the grid (or of the sub-grid `picks`: positions per key, in grid order)."""
    return math.prod(len(p) for _keys, p in _factor_picks(grid, picks))


def iter_grid(
    grid: Mapping[str, Axis], picks: Sequence[Sequence[int]] | None = None
) -> Iterator[tuple[Any, ...]]:
    """The values of every point of the grid (or of the sub-grid `picks`), in grid key order,
    last factor fastest; lazily."""
    keys = list(grid)
    factors = _factor_picks(grid, picks)
    order = [key for factor, _p in factors for key in factor]
    where = [order.index(k) for k in keys]
    seqs = [_Points(grid, factor, p) for factor, p in factors]
    for combo in iter_product(seqs):
        flat = [value for point in combo for value in point]
        yield tuple(flat[i] for i in where)


@dataclass(frozen=True)
class _Points(Sequence[tuple[Any, ...]]):
    """A factor's points at `positions`: tuples of its keys' values."""

    grid: Mapping[str, Axis]
    keys: tuple[str, ...]
    positions: Sequence[int]

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> tuple[Any, ...]:  # type: ignore[override]
        at = self.positions[i]
        return tuple(self.grid[k][at] for k in self.keys)


def joint_index(grid: Mapping[str, Axis]) -> dict[tuple[Any, ...], int]:
    """Point (values of the sampled keys, in grid order) -> its position in the point set."""
    sampled = [axis for axis in grid.values() if isinstance(axis, SampledAxis)]
    if not sampled:
        return {}
    return {point: i for i, point in enumerate(zip(*sampled, strict=True))}
