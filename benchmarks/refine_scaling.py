"""When can refinement reach a uniform grid's boundary error with half its runs? Synthetic maps.

    PYTHONPATH=. python benchmarks/refine_scaling.py

Trains nothing. On the unit square, phase maps whose boundaries are known exactly (a line, a
circle, a map of four phases with a total boundary length near the trained benchmark's) label
every point without noise. For each map: the uniform n x n grids' boundary error (the
`logspace` / `linspace` placement, and the mean over `OFFSETS` random offsets of the same
lattice), and the library's refinement (`refine.choose_points`, 5 x 5 grid then rounds of 10,
as `refine_boundary.py`), scored as there: the share of a fine grid's points (`TRUTH_N`^2)
whose phase differs from the nearest sampled point's.

Why it matters. A nearest-point map of a boundary of length L sampled at spacing h misplaces it
by ~h / 4 on average, so a uniform grid of N runs (h = 1 / sqrt(N)) errs on ~L / (4 sqrt(N)) of
the square. Refinement puts its points in pairs across the boundary; to place it as well it needs
about c L / h of them along it, on top of the N0 runs of its initial grid:

    runs to reach the uniform error  ~  N0 + c L sqrt(N)

which grows as sqrt(N) against the uniform grid's N. So "half the runs" (issue #16's target) is
reached only once N0 + c L sqrt(N) <= N / 2, i.e. from N* = (c L + sqrt(c^2 L^2 + 2 N0))^2: early
for a short boundary, late for a long one. This script measures the runs needed on maps of known
L, fits c, and gives N* by the law and where the measured share crosses 0.5.
`refine_boundary.py`'s map is longer: L ~ 5.7 on its own 47 x 47 maps (`data/refine_own47.csv`,
measured here too), ~4 - 5 without their isolated points.

Writes `benchmarks/results-refine-scaling.json` and `docs/refine_scaling.png` (with the trained
benchmark's shares from `results-refine-cpu.json` beside the synthetic maps').
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from phasegrok.analysis.refine import PointPhase, choose_points

ROOT = Path(__file__).resolve().parent.parent
TRUTH_N = 400  # fine grid of cell centres on which errors are scored
SIDES = (6, 8, 10, 12, 14, 16, 20, 24, 32)
COARSE, ROUND_POINTS, MAX_RUNS = 5, 10, 605
OFFSETS = 16

PhaseMap = Callable[[np.ndarray], np.ndarray]  # (m, 2) unit points -> (m,) phase codes


def line(u: np.ndarray) -> np.ndarray:
    """Two phases split by the line x + 0.5 y = 0.7."""
    return (u[:, 0] + 0.5 * u[:, 1] > 0.7).astype(int)


def circle(u: np.ndarray) -> np.ndarray:
    """A disc of radius 0.25 at (0.55, 0.45) inside another phase."""
    return (np.hypot(u[:, 0] - 0.55, u[:, 1] - 0.45) < 0.25).astype(int)


def four_phases(u: np.ndarray) -> np.ndarray:
    """Four phases meeting along curved boundaries, in the manner of the benchmark's map
    (weight decay across, train fraction up): a wavy vertical boundary, a parabola on its right,
    a tilted line and a small disc on its left."""
    x, y = u[:, 0], u[:, 1]
    out = np.zeros(len(u), dtype=int)
    right = x > 0.55 + 0.08 * np.sin(6 * y)
    out[right & (y > 0.25 + 0.6 * (x - 0.55) ** 2 * 4)] = 1
    out[right & ~(y > 0.25 + 0.6 * (x - 0.55) ** 2 * 4)] = 2
    out[~right & (y > 0.9 - 0.7 * x)] = 3
    out[np.hypot(x - 0.2, y - 0.3) < 0.08] = 1
    return out


MAPS: dict[str, PhaseMap] = {"line": line, "circle": circle, "four_phases": four_phases}


def truth_points(n: int = TRUTH_N) -> np.ndarray:
    centres = (np.arange(n) + 0.5) / n
    x, y = np.meshgrid(centres, centres, indexing="ij")
    return np.column_stack([x.ravel(), y.ravel()])


def boundary_length(codes: np.ndarray) -> float:
    """Total boundary length of a phase image (n x n over the unit square), from the share of
    neighbouring pairs that differ: Cauchy-Crofton, a curve of length L crosses the grid lines
    of spacing 1 / n about (4 / pi) L n times."""
    n = codes.shape[0]
    crossings = (codes[1:] != codes[:-1]).sum() + (codes[:, 1:] != codes[:, :-1]).sum()
    return float(crossings / (n - 1) * math.pi / 4)


def error(points: np.ndarray, phases: np.ndarray, truth: np.ndarray, truth_xy: np.ndarray) -> float:
    nearest = cKDTree(points).query(truth_xy)[1]
    return float(np.mean(phases[nearest] != truth))


def lattice(n: int, offset: tuple[float, float] | None) -> np.ndarray:
    """The n x n grid (`None`: ends included, as logspace / linspace) or cell points at `offset`."""
    ticks = np.linspace(0, 1, n) if offset is None else None
    xs = ticks if offset is None else (np.arange(n) + offset[0]) / n
    ys = ticks if offset is None else (np.arange(n) + offset[1]) / n
    x, y = np.meshgrid(xs, ys, indexing="ij")
    return np.column_stack([x.ravel(), y.ravel()])


def adaptive_curve(phase_map: PhaseMap, truth: np.ndarray, truth_xy: np.ndarray) -> list[list]:
    """(runs, error) after the coarse grid and after each round of the library's refinement."""
    pts = lattice(COARSE, None)
    curve = [[len(pts), error(pts, phase_map(pts), truth, truth_xy)]]
    r = 0
    while len(pts) + ROUND_POINTS <= MAX_RUNS:
        r += 1
        phases = phase_map(pts)
        finished = [PointPhase(tuple(p), str(c), 1, 1) for p, c in zip(pts, phases, strict=True)]
        new = choose_points(finished, ["linear", "linear"], ROUND_POINTS, r)
        if not new:
            break
        pts = np.vstack([pts, np.array(new)])
        curve.append([len(pts), error(pts, phase_map(pts), truth, truth_xy)])
    return curve


def runs_to_reach(curve: list[list], target: float) -> float | None:
    """First runs at or below `target`, linear between rounds; None if never."""
    for (n0, e0), (n1, e1) in zip(curve, curve[1:], strict=False):
        if e1 <= target:
            return float(n1 if e0 == e1 else n0 + (e0 - target) / (e0 - e1) * (n1 - n0))
    return None


def study(name: str, phase_map: PhaseMap, truth_xy: np.ndarray, rng: np.random.Generator) -> dict:
    truth = phase_map(truth_xy)
    length = boundary_length(truth.reshape(TRUTH_N, TRUTH_N))
    curve = adaptive_curve(phase_map, truth, truth_xy)
    rows = []
    for n in SIDES:
        grid = lattice(n, None)
        offsets = [lattice(n, tuple(rng.random(2))) for _ in range(OFFSETS)]
        shifted = float(np.mean([error(p, phase_map(p), truth, truth_xy) for p in offsets]))
        row: dict[str, Any] = {
            "runs": n * n,
            "grid_error": round(error(grid, phase_map(grid), truth, truth_xy), 5),
            "offsets_error": round(shifted, 5),
        }
        for kind in ("grid", "offsets"):
            need = runs_to_reach(curve, row[f"{kind}_error"])
            row[f"to_reach_{kind}"] = None if need is None else round(need, 1)
            row[f"share_{kind}"] = None if need is None else round(need / (n * n), 3)
        rows.append(row)
    # Fit c in runs ~ N0 + c L sqrt(N) over the sizes past the initial grid (the offsets' mean:
    # the grid's own placement adds luck of +-20% to single sizes).
    fit = [(r["runs"], r["to_reach_offsets"]) for r in rows if r["to_reach_offsets"]]
    fit = [(n, need) for n, need in fit if n > COARSE**2]
    x = np.array([length * math.sqrt(n) for n, _ in fit])
    y = np.array([need - COARSE**2 for _, need in fit])
    c = float(x @ y / (x @ x))
    # N0 + c L sqrt(N) = N / 2: a quadratic in sqrt(N).
    n_star = (c * length + math.sqrt(c**2 * length**2 + 2 * COARSE**2)) ** 2
    return {
        "map": name,
        "doc": (phase_map.__doc__ or "").split("\n")[0],
        "boundary_length": round(length, 3),
        "uniform": rows,
        "adaptive": [[n, round(e, 5)] for n, e in curve],
        "c": round(c, 3),
        "half_from_runs_law": round(n_star),
        "half_from_runs_measured": half_from(rows),
    }


def half_from(rows: list[dict[str, Any]]) -> float | None:
    """The runs N from which the measured share (offsets' mean) stays at or below 0.5,
    interpolated in log N; None if the largest size is above it."""
    shares = [(r["runs"], r["share_offsets"]) for r in rows]
    if shares[-1][1] is None or shares[-1][1] > 0.5:
        return None
    i = len(shares) - 1
    while i > 0 and shares[i - 1][1] is not None and shares[i - 1][1] <= 0.5:
        i -= 1
    if i == 0 or shares[i - 1][1] is None:
        return float(shares[i][0])
    (n0, s0), (n1, s1) = shares[i - 1], shares[i]
    t = (s0 - 0.5) / (s0 - s1)
    return round(float(math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0)))))


def own47_lengths() -> dict[str, float]:
    """Boundary length of each seed's own 47 x 47 map of `refine_boundary.py` (unit axes)."""
    table = pd.read_csv(ROOT / "benchmarks" / "data" / "refine_own47.csv")
    out = {}
    for seed, rows in table.groupby("seed"):
        image = rows.pivot_table(
            index="optimizer.weight_decay",
            columns="data.train_fraction",
            values="phase",
            aggfunc="first",
        )
        out[str(seed)] = round(boundary_length(image.sort_index().sort_index(axis=1).to_numpy()), 3)
    return out


def draw_shares(ax: Any, maps: list[dict], trained: dict[str, Any] | None) -> None:
    """Adaptive runs to reach each uniform size's error, as a share of its runs, against N:
    per synthetic map measured (markers) and the fitted law (line); the trained benchmark's
    shares (against references (a) and (b)); the target, 0.5."""
    colors = ("tab:blue", "tab:orange", "tab:green")
    n = np.geomspace(30, 1100, 60)
    for m, color in zip(maps, colors, strict=False):
        rows = [r for r in m["uniform"] if r["share_offsets"] is not None]
        label = f"{m['map']} (L = {m['boundary_length']:.1f})"
        ax.plot([r["runs"] for r in rows], [r["share_offsets"] for r in rows], "o", color=color)
        law = (COARSE**2 + m["c"] * m["boundary_length"] * np.sqrt(n)) / n
        ax.plot(n, law, "-", color=color, lw=1, label=label)
    for key, marker, label in (("comparisons", "s", "trained (a)"), ("own", "D", "trained (b)")):
        rows = (trained or {}).get(key) or []
        pts = [(c["runs"], c["to_reach_uniform_mean"]["share"]) for c in rows]
        pts = [(x, y) for x, y in pts if y is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker, color="k", mfc="none", label=label)
    ax.axhline(0.5, color="grey", ls="--", lw=1)
    ax.set(xscale="log", xlabel="uniform grid's runs N", ylim=(0, 1.3))
    ax.set_ylabel("adaptive runs to reach its error / N")
    ax.legend(fontsize=8, title=f"law: ({COARSE**2} + c L sqrt N) / N", title_fontsize=8)


def trained_shares() -> dict[str, Any] | None:
    """The trained benchmark's comparisons against (a) and (b), where it has been run."""
    path = ROOT / "benchmarks" / "results-refine-cpu.json"
    if not path.exists():
        return None
    results = json.loads(path.read_text())
    return {"comparisons": results["comparisons"], "own": results["own_seed"]["comparisons"]}


def main() -> None:
    rng = np.random.default_rng(0)
    truth_xy = truth_points()
    maps = [study(name, fn, truth_xy, rng) for name, fn in MAPS.items()]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    result = {
        "benchmark": "refine_scaling",
        "made_by": "PYTHONPATH=. python benchmarks/refine_scaling.py",
        "commit": commit.stdout.strip(),
        "refinement": f"{COARSE}x{COARSE} grid, then rounds of {ROUND_POINTS} points",
        "truth": f"{TRUTH_N}x{TRUTH_N} cell centres, noise-free",
        "law": "runs to reach a uniform grid of N runs ~ N0 + c L sqrt(N), c fitted per map",
        "maps": maps,
        "own47_boundary_length": own47_lengths(),
    }
    path = ROOT / "benchmarks" / "results-refine-scaling.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    draw_shares(ax, maps, trained_shares())
    ax.set_title("refinement's share of a uniform grid's runs, same error", fontsize=10)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "refine_scaling.png", dpi=110)
    for m in maps:
        length, c, law = m["boundary_length"], m["c"], m["half_from_runs_law"]
        print(f"{m['map']}: L = {length}, c = {c}, half from N ~ {law} (law), ", end="")
        print(f"{m['half_from_runs_measured']} (measured)")
        for r in m["uniform"]:
            print("   ", r)
    print("own 47 x 47 maps, L:", result["own47_boundary_length"])


if __name__ == "__main__":
    main()
