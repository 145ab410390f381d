"""Refinement strategies emulated on stored maps: what limits the adaptive boundary error.

    PYTHONPATH=. python benchmarks/refine_emulate.py

`refine_boundary.py` trains; this script trains nothing. It replays `refine.choose_points`
(the library's own choice) on the benchmark's axes with labels looked up instead of trained:
a point gets the phase of the nearest of the 24 x 24 reference points (in [0, 1] units,
log10 weight decay) in a stored map. The axes and the modulus are read from
`data/refine_reference.json`. Truth is the reference's majority of seeds 0, 1, 2
(`data/refine_reference.csv`), the error the benchmark's.

- *fresh* labels: one fresh seed's map (each seed of `data/refine_fresh.csv`, written by
  `refine_boundary.py`), the noise a trained point has. A point of k seeds gets the majority
  of k fresh maps (k <= the fresh seeds; with fewer than 3, no three-seed strategy).
- *noise-free* labels: the truth itself: what the choice of points alone achieves.
- *own maps*: each of the five seeds' own 24 x 24 map (seeds 0, 1, 2 of the reference, the
  fresh seeds) as both labels and truth, noise-free: the benchmark's reference (b), over five
  maps instead of two. Uniform grids are scored there in three placements: the grid
  (`logspace` / `linspace`), the cells' centres, and the mean over `OFFSETS` random offsets
  of the same lattice: where a grid's lines fall on this map decides much of its error.

What the emulation leaves out: structure finer than the reference's spacing (1/23 of an axis):
the trained adaptive sweeps land within ~0.01 of the fresh emulation (both in the output).

Writes `benchmarks/results-refine-emulated.json`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from refine_scoring import reference_points  # benchmarks/, the script's own folder
from scipy.spatial import cKDTree

from phasegrok.analysis.refine import choose_points, point_phases
from phasegrok.config.schema import PHASES

ROOT = Path(__file__).resolve().parent.parent
WD, FRAC = "optimizer.weight_decay", "data.train_fraction"
DATA = ROOT / "benchmarks" / "data"
# The axes and the modulus: from what produced the reference (`refine_boundary.py`).
_SWEEP = json.loads((DATA / "refine_reference.json").read_text())["sweep"]
LOG_WD = tuple(_SWEEP["grid"][WD]["logspace"][:2])
FRAC_RANGE = tuple(_SWEEP["grid"][FRAC]["linspace"][:2])
N_PAIRS = _SWEEP["task"]["p"] ** 2  # train fractions snap to whole examples, as a sweep's do
AT = (32, 40, 50, 72, 98, 150, 195, 288)  # 32 .. 98 and 288: half of 64 .. 196 and of 576
OFFSETS = 16  # random placements of each uniform lattice (own maps)

Point = tuple[float, float]
Labeller = Callable[[Point, int], str]  # (point, replicate) -> phase


def unit(points: np.ndarray) -> np.ndarray:
    """Log10 weight decay and train fraction, each mapped to [0, 1]."""
    x = (np.log10(points[:, 0]) - LOG_WD[0]) / (LOG_WD[1] - LOG_WD[0])
    y = (points[:, 1] - FRAC_RANGE[0]) / (FRAC_RANGE[1] - FRAC_RANGE[0])
    return np.column_stack([x, y])


class Maps:
    """The reference's points, their true phase and the fresh seeds' phases on them."""

    def __init__(self, reference: pd.DataFrame, fresh: pd.DataFrame) -> None:
        self.truth = reference_points(reference)  # a point's majority phase (ties: PHASES order)
        xy = self.truth[[WD, FRAC]].to_numpy()
        self.tree = cKDTree(unit(xy))
        index = {tuple(p): i for i, p in enumerate(xy)}
        self.seeds = tuple(int(s) for s in sorted(set(fresh["seed"])))
        self.fresh = {}
        for seed in self.seeds:
            rows = fresh[fresh["seed"] == seed]
            phases = np.empty(len(xy), dtype=object)
            for w, f, ph in rows[[WD, FRAC, "phase"]].itertuples(index=False):
                phases[index[(w, f)]] = ph
            self.fresh[seed] = phases

    def nearest(self, point: Point) -> int:
        return int(self.tree.query(unit(np.array([point])))[1][0])

    def error(self, runs: Sequence[tuple[Point, str]]) -> float:
        """The benchmark's error of trained points (majority phase of each point's runs)."""
        pts = point_phases(
            [{WD: p[0], FRAC: p[1], "phase": ph} for p, ph in runs], [WD, FRAC], PHASES
        )
        tree = cKDTree(unit(np.array([p.coords for p in pts])))
        nearest = tree.query(unit(self.truth[[WD, FRAC]].to_numpy()))[1]
        predicted = np.array([pts[i].phase for i in nearest])
        return float(np.mean(predicted != self.truth["phase"].to_numpy()))


def snap(point: tuple[float, ...]) -> tuple[float, ...]:
    return (point[0], float(f"{round(point[1] * N_PAIRS) / N_PAIRS:.12g}"))


def grid(n: int) -> list[Point]:
    """The benchmark's n x n grid."""
    wd = np.logspace(LOG_WD[0], LOG_WD[1], n)
    frac = np.linspace(*FRAC_RANGE, n)
    return [(float(f"{w:.12g}"), float(f"{f:.12g}")) for w in wd for f in frac]


def adaptive(
    label: Labeller,
    seeds: int,
    coarse: int,
    per_round: int,
    max_runs: int,
    grid_seeds: int = 1,
    reseed: bool = False,
) -> list[tuple[int, list[tuple[Point, str]]]]:
    """A coarse x coarse grid of `grid_seeds` runs a point, then rounds of `per_round` runs
    chosen by `choose_points` (`seeds` runs a point; label(point, k) is the k-th seed's
    phase); the runs after each round. `reseed`: each round first gives an *isolated* point
    (every Delaunay neighbour of another phase: the likeliest one-seed errors) of one run two
    more seeds, up to half the round."""
    runs = [(p, label(p, k)) for p in grid(coarse) for k in range(grid_seeds)]
    out = [(len(runs), runs.copy())]
    r = 0
    while len(runs) + per_round <= max_runs:
        r += 1
        pts = point_phases(
            [{WD: p[0], FRAC: p[1], "phase": ph} for p, ph in runs], [WD, FRAC], PHASES
        )
        budget = per_round
        if reseed:
            for i in isolated(pts)[: per_round // 4]:
                runs += [(pts[i].coords, label(pts[i].coords, k)) for k in (1, 2)]
                budget -= 2
        new = choose_points(pts, ["log", "linear"], budget // seeds, r, snap)
        if not new and budget == per_round:
            break
        runs += [(p, label(p, k)) for p in new for k in range(seeds)]
        out.append((len(runs), runs.copy()))
    return out


def isolated(pts: Sequence[Any]) -> list[int]:
    """Points of one run whose Delaunay neighbours (in [0, 1] units) all have another phase."""
    from scipy.spatial import Delaunay

    tri = Delaunay(unit(np.array([p.coords for p in pts])))
    neighbours: dict[int, set[int]] = {}
    for simplex in tri.simplices:
        for a in simplex:
            neighbours.setdefault(int(a), set()).update(int(b) for b in simplex if b != a)
    return [
        i
        for i, others in sorted(neighbours.items())
        if pts[i].n == 1 and all(pts[j].phase != pts[i].phase for j in others)
    ]


def curve_at(maps: Maps, curve: list[tuple[int, list]], at: Sequence[int]) -> list[float | None]:
    """Error at each of `at` runs (linear between rounds; None past the end)."""
    xs = [n for n, _ in curve]
    ys = [maps.error(runs) for _, runs in curve]
    return [float(np.interp(a, xs, ys)) if xs[0] <= a <= xs[-1] else None for a in at]


def strategies(maps: Maps) -> dict[str, dict[str, Any]]:
    """Each strategy's mean error at AT runs: over the fresh seeds for one seed a point, the
    three fresh seeds' majority for three."""

    def fresh(seed: int) -> Labeller:  # the k-th seed of a point: seed, then the next ones
        first = maps.seeds.index(seed)
        seeds = maps.seeds
        return lambda p, k: maps.fresh[seeds[(first + k) % len(seeds)]][maps.nearest(p)]

    def truth(p: Point, k: int) -> str:
        return maps.truth["phase"].iat[maps.nearest(p)]

    one_seed = {"fresh": [fresh(s) for s in maps.seeds], "noise-free": [truth]}
    plans = {
        "5x5 + 10/round, 1 seed (the benchmark's)": (1, 5, 10),
        "5x5 + 5/round, 1 seed": (1, 5, 5),
        "4x4 + 5/round, 1 seed": (1, 4, 5),
        "3x3 + 5/round, 1 seed": (1, 3, 5),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, (seeds, coarse, per_round) in plans.items():
        for kind, labellers in one_seed.items():
            errors = [
                curve_at(maps, adaptive(lab, seeds, coarse, per_round, max(AT) + per_round), AT)
                for lab in labellers
            ]
            out[f"{name}, {kind}"] = mean_rows(errors)
    labellers = [fresh(s) for s in maps.seeds]
    if len(maps.seeds) >= 3:
        three = [curve_at(maps, adaptive(lab, 3, 5, 15, max(AT) + 15), AT) for lab in labellers]
        name = "5x5 + 5 points/round, 1 seed on the grid, 3 on refined points, fresh"
        out[name] = mean_rows(three)
    again = [
        curve_at(maps, adaptive(lab, 1, 5, 10, max(AT) + 10, reseed=True), AT) for lab in labellers
    ]
    out["5x5 + 10/round, 1 seed, isolated points get 2 more seeds, fresh"] = mean_rows(again)
    return out


def lattice(n: int, offset: tuple[float, float]) -> list[Point]:
    """An n x n lattice of cell points: each axis (log10 weight decay) cut into n equal cells,
    a point at `offset` (0 .. 1) within each; (0.5, 0.5) is the centred placement."""
    x = (np.arange(n) + offset[0]) / n
    y = (np.arange(n) + offset[1]) / n
    wd = 10.0 ** (LOG_WD[0] + (LOG_WD[1] - LOG_WD[0]) * x)
    frac = FRAC_RANGE[0] + (FRAC_RANGE[1] - FRAC_RANGE[0]) * y
    return [(float(w), float(f)) for w in wd for f in frac]


def own_maps(reference: pd.DataFrame, fresh: pd.DataFrame) -> dict[str, Any]:
    """Uniform placements and the refinement, each seed's own map its labels and truth."""
    runs = pd.concat([reference, fresh])
    maps = [Maps(runs[runs["seed"] == s], fresh) for s in sorted(set(runs["seed"]))]

    def own(m: Maps) -> Labeller:
        return lambda p, _k: m.truth["phase"].iat[m.nearest(p)]

    def score(m: Maps, points: list[Point]) -> float:
        return m.error([(p, own(m)(p, 0)) for p in points])

    rng = np.random.default_rng(0)
    offsets = [tuple(rng.random(2)) for _ in range(OFFSETS)]
    uniform = {}
    for n in (6, 8, 10, 12, 14):
        shifted = [score(m, lattice(n, o)) for m in maps for o in offsets]
        uniform[str(n * n)] = {
            "grid": round(float(np.mean([score(m, grid(n)) for m in maps])), 4),
            "centred": round(float(np.mean([score(m, lattice(n, (0.5, 0.5))) for m in maps])), 4),
            "random_offsets": round(float(np.mean(shifted)), 4),
            "random_offsets_std": round(float(np.std(shifted)), 4),
        }
    curves = [curve_at(m, adaptive(own(m), 1, 5, 10, max(AT) + 10), AT) for m in maps]
    return {
        "seeds": sorted(int(s) for s in set(runs["seed"])),
        "uniform": uniform,
        "adaptive 5x5 + 10/round": mean_rows(curves),
    }


def mean_rows(rows: list[list[float | None]]) -> dict[str, float | None]:
    means = {}
    for i, a in enumerate(AT):
        values = [r[i] for r in rows if r[i] is not None]
        means[str(a)] = round(float(np.mean(values)), 4) if values else None
    return means


def main() -> None:
    reference = pd.read_csv(DATA / "refine_reference.csv")
    fresh = pd.read_csv(DATA / "refine_fresh.csv")
    maps = Maps(reference, fresh)
    uniform = {
        str(n * n): round(
            float(
                np.mean(
                    [
                        maps.error([(p, maps.fresh[s][maps.nearest(p)]) for p in grid(n)])
                        for s in maps.seeds[:2]
                    ]
                )
            ),
            4,
        )
        for n in (5, 6, 7, 8, 9, 10, 12, 14)
    }
    result = {
        "benchmark": "refine_emulate",
        "made_by": "PYTHONPATH=. python benchmarks/refine_emulate.py",
        "commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
        "data": ["benchmarks/data/refine_reference.csv", "benchmarks/data/refine_fresh.csv"],
        "error": "share of reference points whose phase differs from the nearest point's",
        "at_runs": list(AT),
        "uniform_grid_fresh_seeds_3_4": uniform,
        "adaptive": strategies(maps),
        "own_maps": own_maps(reference, fresh),
    }
    path = ROOT / "benchmarks" / "results-refine-emulated.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
