"""Adaptive refinement's point choice (`phasegrok.analysis.refine`): pure, no JAX."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phasegrok.analysis.refine import (
    MIN_BOUNDARY_SHARE,
    PointPhase,
    choose_points,
    point_phases,
    round_budget,
)

PHASES = ("comprehension", "grokking", "memorization", "confusion")


def truth(wd: float, frac: float) -> str:
    """A known boundary: grokking above the curve frac = 0.3 + 0.1 log10(wd)."""
    return "grokking" if frac > 0.3 + 0.1 * math.log10(wd) else "memorization"


def grid_points(n: int = 6) -> list[PointPhase]:
    out = []
    for wd in np.logspace(-2, 1, n):
        for frac in np.linspace(0.1, 0.9, n):
            out.append(PointPhase((float(wd), float(frac)), truth(wd, frac), 3, 3))
    return out


def mixed_cell(point: tuple[float, float], points: list[PointPhase]) -> bool:
    """Whether `point` lies in (or on the edge of) a grid cell whose corners' phases differ."""
    wds = sorted({p.coords[0] for p in points})
    fracs = sorted({p.coords[1] for p in points})
    phase = {p.coords: p.phase for p in points}
    i = max(j for j, w in enumerate(wds[:-1]) if w <= point[0] * (1 + 1e-9))
    k = max(j for j, f in enumerate(fracs[:-1]) if f <= point[1] + 1e-9)
    corners = {phase[(w, f)] for w in wds[i : i + 2] for f in fracs[k : k + 2]}
    return len(corners) > 1


def test_points_land_in_uncertain_cells_and_budget_is_kept():
    points = grid_points()
    new = choose_points(points, ["log", "linear"], budget=10, seed=0)
    assert 0 < len(new) <= 10
    inside = sum(mixed_cell(p, points) for p in new)
    assert inside >= MIN_BOUNDARY_SHARE * len(new)
    assert not set(new) & {p.coords for p in points}


def test_log_axis_is_bisected_in_log_space():
    a = PointPhase((1e-2, 0.5), "grokking", 3, 3)
    b = PointPhase((1.0, 0.5), "memorization", 3, 3)
    assert choose_points([a, b], ["log", "linear"], 5, 0) == [(0.1, 0.5)]
    assert choose_points([a, b], ["linear", "linear"], 5, 0) == [(0.505, 0.5)]


def test_single_phase_adds_nothing_and_seed_splits_are_capped():
    same = [PointPhase(p.coords, "grokking", 3, 3) for p in grid_points(4)]
    assert choose_points(same, ["log", "linear"], 20, 0) == []
    noisy = [PointPhase(p.coords, "grokking", 2, 3) for p in grid_points(4)]
    assert choose_points(noisy, ["log", "linear"], 20, 0) == []  # no boundary: no 70%


def test_same_inputs_same_points_and_seed_breaks_ties():
    points = grid_points()
    first = choose_points(points, ["log", "linear"], 4, seed=3)
    assert first == choose_points(list(points), ["log", "linear"], 4, seed=3)
    others = {tuple(choose_points(points, ["log", "linear"], 4, seed=s)) for s in range(6)}
    assert len(others) > 1


def test_rounds_converge_on_the_boundary():
    """Repeated rounds put points ever closer to the true boundary."""
    points = grid_points()
    for round_index in range(1, 4):
        new = choose_points(points, ["log", "linear"], 12, seed=round_index)
        points += [PointPhase(p, truth(*p), 3, 3) for p in new]
    added = points[36:]
    dist = [abs(p.coords[1] - (0.3 + 0.1 * math.log10(p.coords[0]))) for p in added]
    assert np.median(dist[-12:]) < np.median(dist[:12])


def test_snap_drops_points_onto_finished_ones():
    def lattice(p):
        return (round(p[0] * 4) / 4,)

    a = PointPhase((0.0,), "grokking", 1, 1)
    assert (
        choose_points([a, PointPhase((0.2,), "confusion", 1, 1)], ["linear"], 5, 0, lattice) == []
    )
    got = choose_points([a, PointPhase((1.0,), "confusion", 1, 1)], ["linear"], 5, 0, lattice)
    assert got == [(0.5,)]


def test_point_phases_majority_and_ties():
    rows = [
        {"x": 1, "y": 2, "phase": "grokking"},
        {"x": 1, "y": 2, "phase": "memorization"},
        {"x": 1, "y": 2, "phase": "grokking"},
        {"x": 3, "y": 2, "phase": "memorization"},
        {"x": 3, "y": 2, "phase": "grokking"},
    ]
    got = point_phases(rows, ["x", "y"], PHASES)
    assert got == [
        PointPhase((1.0, 2.0), "grokking", 2, 3),
        PointPhase((3.0, 2.0), "grokking", 1, 2),  # tie: the phase listed first
    ]


@pytest.mark.parametrize(
    ("used", "index", "expected"), [(0, 1, 100), (100, 2, 100), (150, 3, 150), (300, 3, 0)]
)
def test_round_budget(used, index, expected):
    assert round_budget(300, used, 3, index) == expected


def corner_grid() -> list[PointPhase]:
    """A 3 x 3 grid on [0, 1]^2 with uneven spacing (0, 0.2, 1): two corners differ from the
    rest, (0, 0) in a small square and (1, 1) in a large one."""
    xs = (0.0, 0.2, 1.0)
    odd = {(0.0, 0.0), (1.0, 1.0)}
    return [
        PointPhase((x, y), "memorization" if (x, y) in odd else "grokking", 1, 1)
        for x in xs
        for y in xs
    ]


def test_largest_mixed_cell_is_cut_first_on_its_longest_edge():
    points = corner_grid()
    for seed in range(4):
        (first,) = choose_points(points, ["linear", "linear"], 1, seed)
        # the large square's mixed triangle (1, 1), (0.2, 1), (1, 0.2): its longest edge is the
        # diagonal (0.2, 1) - (1, 0.2), 1.13 long (its mixed edges are 0.8; the small square's
        # triangle's edges at most 0.28). Cutting the longest edge keeps triangles from getting
        # thin, so the boundary is resolved along its length too, not only across it.
        assert first == (0.6, 0.6)


def test_each_mixed_cell_is_cut_once_before_any_is_cut_twice():
    points = corner_grid()
    assert choose_points(points, ["linear", "linear"], 2, seed=0) == [(0.6, 0.6), (0.1, 0.1)]
    # a larger budget goes to the mixed cells only: the midpoints of all their edges, the large
    # cell's before the small one's
    everything = choose_points(points, ["linear", "linear"], 10, seed=0)
    assert everything[:2] == [(0.6, 0.6), (0.1, 0.1)]
    assert set(everything[2:4]) == {(0.6, 1.0), (1.0, 0.6)}
    assert set(everything[4:]) == {(0.1, 0.0), (0.0, 0.1)}


def test_edges_shorter_than_min_step_are_not_cut():
    points = corner_grid()
    # the small square's triangle has edges of 0.2 and 0.28: above 0.3, only the large one's
    got = choose_points(points, ["linear", "linear"], 10, seed=0, min_step=0.3)
    assert set(got) == {(0.6, 0.6), (0.6, 1.0), (1.0, 0.6)}
    assert choose_points(points, ["linear", "linear"], 10, seed=0, min_step=1.2) == []
