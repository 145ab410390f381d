"""Adaptive refinement: where to add points so that runs go to the phase boundaries.

    refine:
      axes: [optimizer.weight_decay, data.train_fraction]   # default: the first two grid axes
      rounds: 3          # rounds after the initial grid
      max_runs: 400      # budget of all rounds together, seeds included

Each round looks at the finished points (their majority phase over seeds, and how many seeds
agree) and bisects where the classification is uncertain (`choose_points`):

1. *Mixed cells*: the points are triangulated (Delaunay, in the axes' own scales: log10 for a
   log-spaced axis, each axis then mapped to [0, 1]; in one dimension, neighbours). A triangle
   whose corners' majority phases are not all equal is cut at the midpoint of its longest
   edge, largest triangles first (priority: its area in the [0, 1] scale; in one dimension
   the interval's length). A point's nearest-point phase is wrong on about a fixed share of a
   mixed triangle, so the expected boundary error a triangle holds grows with its area: the
   largest mixed triangle is the most uncertain. This is python-adaptive's `Learner2D` with a
   loss of the triangle's area where its phases differ and zero where they agree. Cutting the
   longest edge (Rivara's longest-edge bisection) keeps the triangles from getting thin, so
   the boundary is resolved along its length as well as across it; cutting only the edges
   between two phases would halve the distance across the boundary and leave the spacing
   along it at the initial grid's (`benchmarks/refine_boundary.py` measured both). The
   midpoint lies on an edge of a mixed triangle, so each such point is inside a mixed cell.
2. *Split cells*: a triangle whose corners agree but whose seeds split gets its centroid,
   the most split first. These are capped so that at least `MIN_BOUNDARY_SHARE` (70%) of a
   round's points are boundary points.

Edges shorter than `min_step` (the sweep file's `refine.min_step`, default `MIN_STEP`; in the
[0, 1] scale) are not cut: the resolution asked for. Ties are broken by a shuffle from `seed`, so
the choice depends only on the finished points and the seed: a resumed round picks the same
points.

Why not python-adaptive's `Learner2D` itself: its loss is per triangle of real-valued outputs,
so phases would need a one-hot vector output and a custom loss that is zero on one-phase
triangles; with that loss it does what the bisection below does (cut the largest mixed
triangles), but through an extra dependency whose `ask(n)` is built for one point at a time
with pending points, and whose bounds must be a rectangle known up front. Bisection on a
Delaunay triangulation (scipy, already installed with JAX) is ~100 lines, deterministic, and
works on grids, sampled points and earlier rounds' points alike.

Pure Python and NumPy/SciPy; no JAX.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from phasegrok.config.axes import DIGITS, declared_scale
from phasegrok.config.schema import MIN_STEP

MIN_BOUNDARY_SHARE = 0.7  # of a round's points, inside a cell whose corner phases differ
Scale = str  # "log" or "linear"


@dataclass(frozen=True)
class PointPhase:
    """A finished point: its coordinates (one per refined axis, in the axes' units), majority
    phase, and `k` of its `n` runs in that phase."""

    coords: tuple[float, ...]
    phase: str
    k: int
    n: int

    @property
    def split(self) -> float:
        """Share of runs outside the majority phase: 0 when all seeds agree."""
        return 1 - self.k / self.n if self.n else 0.0


def point_phases(
    rows: Sequence[Mapping[Hashable, Any]], axes: Sequence[str], phases: Sequence[str]
) -> list[PointPhase]:
    """Group classified runs (`rows`: the axes' values and `phase`) by point; the majority
    phase, ties going to the phase listed first in `phases` (as the phase diagram does)."""
    counts: dict[tuple[float, ...], dict[str, int]] = {}
    for row in rows:
        point = tuple(float(row[a]) for a in axes)
        by_phase = counts.setdefault(point, {})
        by_phase[row["phase"]] = by_phase.get(row["phase"], 0) + 1
    order = {p: i for i, p in enumerate(phases)}
    out = []
    for point in sorted(counts):
        by_phase = counts[point]
        phase = min(by_phase, key=lambda p: (-by_phase[p], order.get(p, len(order))))
        out.append(PointPhase(point, phase, by_phase[phase], sum(by_phase.values())))
    return out


def round_budget(max_runs: int, used: int, rounds: int, round_index: int) -> int:
    """Runs of round `round_index` (1-based): an equal share of what is left to the rounds left.

    $b_r = \\lfloor (M - u) / (R - r + 1) \\rfloor$ with M the budget, u the runs of the earlier
    rounds, R the rounds. A round that could not spend its share leaves it to the next."""
    left = rounds - round_index + 1
    return max(0, (max_runs - used) // left) if left > 0 else 0


def choose_points(
    points: Sequence[PointPhase],
    scales: Sequence[Scale],
    budget: int,
    seed: int,
    snap: Callable[[tuple[float, ...]], tuple[float, ...]] | None = None,
    min_step: float = MIN_STEP,
) -> list[tuple[float, ...]]:
    """Up to `budget` new points (in the axes' units), most uncertain first (module docstring).

    `scales`: per axis, "log" or "linear". `snap` maps a chosen point to one that can be
    trained (a train fraction to a whole number of examples); a point that snaps onto a
    finished or already chosen point is dropped."""
    if budget <= 0 or len(points) < 2:
        return []
    coords = np.array([p.coords for p in points], dtype=float)
    to_unit, from_unit = _scalers(coords, scales)
    unit = to_unit(coords)
    cells = _cells(unit)
    first, then, split = _candidates(points, unit, cells, min_step)
    rng = random.Random(seed)
    boundary = _ranked(first, rng) + _ranked(then, rng)
    split = _ranked(split, rng)
    taken: set[tuple[float, ...]] = {tuple(p.coords) for p in points}
    if snap is not None:  # a grid value that is not on the snapped lattice trains the same run
        taken |= {snap(p.coords) for p in points}
    chosen_b = _take(boundary, budget, from_unit, snap, taken)
    cap = min(
        int((1 - MIN_BOUNDARY_SHARE) * budget),
        int(len(chosen_b) * (1 - MIN_BOUNDARY_SHARE) / MIN_BOUNDARY_SHARE + 1e-9),
    )
    chosen_s = _take(split, min(cap, budget - len(chosen_b)), from_unit, snap, taken)
    return chosen_b + chosen_s


def _scalers(
    coords: np.ndarray, scales: Sequence[Scale]
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], tuple[float, ...]]]:
    """Maps to and from the unit cube: log10 where an axis is log-scaled, then each axis's
    finished range to [0, 1] (a one-value axis stays at 0)."""
    logged = np.array([s == "log" for s in scales])
    t = np.where(logged, np.log10(np.where(logged, coords, 1.0)), coords)
    lo, span = t.min(axis=0), np.ptp(t, axis=0)
    span = np.where(span > 0, span, 1.0)

    def to_unit(c: np.ndarray) -> np.ndarray:
        tc = np.where(logged, np.log10(np.where(logged, c, 1.0)), c)
        return (tc - lo) / span

    def from_unit(u: np.ndarray) -> tuple[float, ...]:
        tc = lo + u * span
        values = np.where(logged, 10.0**tc, tc)
        return tuple(float(f"{v:.{DIGITS}g}") for v in values)

    return to_unit, from_unit


def _cells(unit: np.ndarray) -> list[tuple[int, ...]]:
    """The cells of the points: intervals between neighbours in one dimension, Delaunay
    triangles in two (over the axes that vary)."""
    varying = [j for j in range(unit.shape[1]) if np.ptp(unit[:, j]) > 0]
    if len(varying) == 1:
        order = np.argsort(unit[:, varying[0]], kind="stable")
        return [(int(a), int(b)) for a, b in zip(order[:-1], order[1:], strict=True)]
    if len(varying) != 2 or len(unit) < 3:
        return []
    from scipy.spatial import Delaunay, QhullError

    try:
        tri = Delaunay(unit[:, varying])
    except QhullError:  # all points on a line
        return []
    return [tuple(int(i) for i in simplex) for simplex in tri.simplices]


Candidate = tuple[float, tuple[float, ...], np.ndarray]  # (priority, key, unit point)


def _candidates(
    points: Sequence[PointPhase], unit: np.ndarray, cells: list[tuple[int, ...]], min_step: float
) -> tuple[list[Candidate], list[Candidate], list[Candidate]]:
    """Mixed cells' cut points, then their other cut points, then split cells' centroids.

    A mixed cell's cut point is the midpoint of its longest edge (priority: the cell's size,
    `_size`); the midpoints of its other edges come after every cell's cut point (same
    priority), so that a round larger than the mixed cells can still spend its share on the
    boundary. Split cells' centroids: priority the corners' mean split times the cell's
    longest edge. Each point once, with its larger priority."""
    first: dict[tuple[float, ...], Candidate] = {}
    then: dict[tuple[float, ...], Candidate] = {}
    split: dict[tuple[float, ...], Candidate] = {}
    for cell in cells:
        lengths = {
            (a, b): float(np.linalg.norm(unit[a] - unit[b])) for a, b in combinations(cell, 2)
        }
        if len({points[i].phase for i in cell}) > 1:
            size = _size(unit[list(cell)])
            edges = sorted(
                (
                    (length, _key((unit[a] + unit[b]) / 2), a, b)
                    for (a, b), length in lengths.items()
                    if length >= min_step
                ),
                reverse=True,  # longest first; equal lengths: the larger key, a fixed order
            )
            for rank, (_length, key, a, b) in enumerate(edges):
                _keep(first if rank == 0 else then, (size, key, (unit[a] + unit[b]) / 2))
            continue
        uncertainty = sum(points[i].split for i in cell) / len(cell)
        size = max(lengths.values())
        if uncertainty > 0 and size >= 2 * min_step:
            centre = unit[list(cell)].mean(axis=0)
            _keep(split, (uncertainty * size, _key(centre), centre))
    then = {k: c for k, c in then.items() if k not in first}
    return list(first.values()), list(then.values()), list(split.values())


def _keep(candidates: dict[tuple[float, ...], Candidate], candidate: Candidate) -> None:
    """Add `candidate` under its key, keeping the larger priority of a point met twice."""
    key = candidate[1]
    if key not in candidates or candidates[key][0] < candidate[0]:
        candidates[key] = candidate


def _size(corners: np.ndarray) -> float:
    """A cell's size in the [0, 1] scale: a triangle's area, an interval's length.

    Area of the triangle (a, b, c): $|(b - a) \\times (c - a)| / 2$."""
    if len(corners) == 2:
        return float(np.linalg.norm(corners[1] - corners[0]))
    (ax, ay), (bx, by), (cx, cy) = corners  # triangles only where both axes vary
    return abs((bx - ax) * (cy - ay) - (cx - ax) * (by - ay)) / 2


def _key(u: np.ndarray) -> tuple[float, ...]:
    return tuple(round(float(v), 9) for v in u)


def _ranked(candidates: list[Candidate], rng: random.Random) -> list[Candidate]:
    """Highest priority first; equal priorities (a regular grid's edges) in an order shuffled
    by the seed, so that a small budget spreads along the boundary rather than along one end."""
    ordered = sorted(candidates, key=lambda c: c[1])  # a fixed order before the shuffle
    rng.shuffle(ordered)
    return sorted(ordered, key=lambda c: -round(c[0], 9))


def _take(
    candidates: list[Candidate],
    n: int,
    from_unit: Callable[[np.ndarray], tuple[float, ...]],
    snap: Callable[[tuple[float, ...]], tuple[float, ...]] | None,
    taken: set[tuple[float, ...]],
) -> list[tuple[float, ...]]:
    out: list[tuple[float, ...]] = []
    for _priority, _where, u in candidates:
        if len(out) >= n:
            break
        point = from_unit(u)
        if snap is not None:
            point = snap(point)
        if point in taken or not all(math.isfinite(v) for v in point):
            continue
        taken.add(point)
        out.append(point)
    return out


# --------------------------------------------------------------------------------------------
# The sweep file's `refine:` against its grid


def axis_scale(written: Any, values: Sequence[Any]) -> Scale:
    """ "log" for an axis written as `logspace` / `loguniform`, or whose listed values are
    positive with roughly constant ratios spanning at least a factor 4; else "linear"."""
    if isinstance(written, Mapping):
        return declared_scale(written) or "linear"
    v = np.unique(np.asarray([float(x) for x in values], dtype=float))
    if len(v) < 2 or (v <= 0).any():
        return "linear"
    steps = np.diff(np.log(v))
    if len(v) == 2:
        return "log" if v[1] / v[0] >= 10 else "linear"
    return "log" if v[-1] / v[0] >= 4 and steps.max() <= 1.6 * steps.min() else "linear"
