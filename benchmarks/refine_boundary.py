"""Adaptive refinement vs a uniform grid: boundary error at equal numbers of runs.

    PYTHONPATH=. python benchmarks/refine_boundary.py [--reference] [--work DIR]

The sweep is `sweeps/quickstart.yaml` (modular addition, p = 31, its MLP, AdamW, 2500 steps)
with one seed, on two axes with known boundaries: `optimizer.weight_decay` log-spaced over
10^-1.5 .. 10 and `data.train_fraction` over 0.3 .. 0.9 (memorize, grok, comprehend, confuse).

1. A dense reference grid (`REFERENCE_N` x `REFERENCE_N`, one seed) is trained once and kept in
   `benchmarks/data/refine_reference.csv`; `--reference` trains it again.
2. For each budget B: a uniform sqrt(B) x sqrt(B) grid, and a coarse grid plus `ROUNDS`
   refinement rounds (`refine:` with `max_runs` = B - coarse runs), both trained by
   `phasegrok.sweep.run_sweep`, the library's own path.
3. Boundary error of a set of trained points: the share of the reference's points whose phase
   differs from the phase of the nearest trained point, nearest in the axes' own scales (log10
   of the weight decay), each axis mapped to [0, 1]. For the adaptive sweeps the error is also
   taken after each round (the runs of rounds <= r), which gives its error-vs-runs curve.

Writes `benchmarks/results-refine-cpu.json` and `docs/refine_boundary.png`. As the CLI, JAX gets
one host device per core and the persistent compile cache.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from phasegrok.host import use_compile_cache, use_host_devices

use_host_devices()
use_compile_cache()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

from phasegrok.classify import PHASE_COLORS  # noqa: E402
from phasegrok.refine import point_phases  # noqa: E402
from phasegrok.sweep import run_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_CSV = ROOT / "benchmarks" / "data" / "refine_reference.csv"
WD, FRAC = "optimizer.weight_decay", "data.train_fraction"
LOG_WD = (-1.5, 1.0)  # log10 of the weight-decay range
FRAC_RANGE = (0.3, 0.9)
REFERENCE_N = 24
# budget -> side of the coarse grid the refinement starts from (about 40% of the budget)
BUDGETS = {36: 4, 64: 5, 100: 6}
ROUNDS = 3


def base_sweep() -> dict[str, Any]:
    """The quickstart sweep with one seed and no figures; the grid is set per use."""
    spec = yaml.safe_load((ROOT / "sweeps" / "quickstart.yaml").read_text())
    spec["train"]["seeds"] = 1
    spec.pop("plots", None)
    spec.pop("grid", None)
    return spec


def grid_sweep(name: str, n: int, refine: dict[str, Any] | None = None) -> dict[str, Any]:
    """An n x n grid over the two axes (log-spaced weight decay), optionally refined."""
    spec = base_sweep()
    spec["name"] = name
    spec["grid"] = {
        WD: {"logspace": [LOG_WD[0], LOG_WD[1], n]},
        FRAC: {"linspace": [FRAC_RANGE[0], FRAC_RANGE[1], n]},
    }
    if refine:
        spec["refine"] = {"axes": [WD, FRAC], **refine}
    return spec


def train(spec: dict[str, Any], work: Path) -> tuple[pd.DataFrame, float]:
    """Train a sweep with the library's own path (a finished one is only loaded); its runs and
    its training time: the sum of its batches' wall times, compiles included."""
    res = run_sweep(spec, work / spec["name"], progress=False, plots=False, live=False)
    batches = res.runs.drop_duplicates("batch_id")
    return res.runs, float(batches["batch_wall_time"].sum())


def unit(wd: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Points in the axes' own scales (log10 weight decay), each mapped to [0, 1]."""
    x = (np.log10(wd) - LOG_WD[0]) / (LOG_WD[1] - LOG_WD[0])
    y = (np.asarray(frac) - FRAC_RANGE[0]) / (FRAC_RANGE[1] - FRAC_RANGE[0])
    return np.column_stack([x, y])


def boundary_error(reference: pd.DataFrame, runs: pd.DataFrame) -> float:
    """Share of reference points whose phase differs from that of the nearest trained point
    (majority phase over seeds; in [0, 1] units of both axes)."""
    phases = sorted(set(runs["phase"]))
    points = point_phases(runs[[WD, FRAC, "phase"]].to_dict("records"), [WD, FRAC], phases)
    coords = np.array([p.coords for p in points])
    tree = cKDTree(unit(coords[:, 0], coords[:, 1]))
    _dist, nearest = tree.query(unit(reference[WD].to_numpy(), reference[FRAC].to_numpy()))
    predicted = np.array([points[i].phase for i in nearest])
    return float(np.mean(predicted != reference["phase"].to_numpy()))


def reference_grid(work: Path, recompute: bool) -> pd.DataFrame:
    """The dense reference (trained when the CSV is missing or `recompute`)."""
    if REFERENCE_CSV.exists() and not recompute:
        return pd.read_csv(REFERENCE_CSV)
    runs, wall = train(grid_sweep("refine-reference", REFERENCE_N), work)
    table = runs[[WD, FRAC, "data.train_size", "phase", "t_fit", "t_gen", "final_test_acc"]]
    REFERENCE_CSV.parent.mkdir(parents=True, exist_ok=True)
    table.sort_values([WD, FRAC]).to_csv(REFERENCE_CSV, index=False)
    print(
        f"reference: {len(runs)} runs, {wall:.0f} s training -> {REFERENCE_CSV.relative_to(ROOT)}"
    )
    return pd.read_csv(REFERENCE_CSV)


def adaptive_curve(reference: pd.DataFrame, runs: pd.DataFrame) -> list[dict[str, float]]:
    """Runs and boundary error after each round (rounds <= r)."""
    curve = []
    for r in sorted(set(runs["refine_round"])):
        upto = runs[runs["refine_round"] <= r]
        curve.append({"round": int(r), "runs": len(upto), "error": boundary_error(reference, upto)})
    return curve


def compare(reference: pd.DataFrame, work: Path) -> list[dict[str, Any]]:
    """Uniform grid and coarse grid + refinement at each budget."""
    rows = []
    for budget, coarse in BUDGETS.items():
        side = round(math.sqrt(budget))
        uniform, wall_u = train(grid_sweep(f"uniform-{budget}", side), work)
        refine = {"rounds": ROUNDS, "max_runs": budget - coarse**2}
        adaptive, wall_a = train(grid_sweep(f"adaptive-{budget}", coarse, refine), work)
        curve = adaptive_curve(reference, adaptive)
        rows.append(
            {
                "budget": budget,
                "uniform": {
                    "grid": f"{side}x{side}",
                    "runs": len(uniform),
                    "error": boundary_error(reference, uniform),
                    "training_s": round(wall_u, 1),
                },
                "adaptive": {
                    "coarse_grid": f"{coarse}x{coarse}",
                    "refine": refine,
                    "runs": len(adaptive),
                    "error": curve[-1]["error"],
                    "curve": curve,
                    "training_s": round(wall_a, 1),
                },
            }
        )
        print(json.dumps(rows[-1]["uniform"]), json.dumps(curve))
    return rows


def uniform_curve(rows: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Every uniform grid trained: the budgets' grids and the adaptive sweeps' coarse grids
    (round 0), by runs."""
    points = {r["uniform"]["runs"]: r["uniform"]["error"] for r in rows}
    for row in rows:
        first = row["adaptive"]["curve"][0]
        points[first["runs"]] = first["error"]
    return [{"runs": n, "error": points[n]} for n in sorted(points)]


def runs_to_reach(rows: list[dict[str, Any]]) -> None:
    """For each budget, the fewest runs of a refined sweep (any budget's, after round >= 1)
    whose error is at most the uniform grid's: the issue's target is at most half the budget.
    Round 0 is left out: it is a uniform grid itself."""
    points = [
        (c["runs"], c["error"]) for row in rows for c in row["adaptive"]["curve"] if c["round"]
    ]
    for row in rows:
        target = row["uniform"]["error"]
        enough = [n for n, err in points if err <= target]
        row["adaptive_runs_to_uniform_error"] = min(enough) if enough else None


def draw(
    rows: list[dict[str, Any]],
    uniform: list[dict[str, float]],
    reference: pd.DataFrame,
    work: Path,
    path: Path,
) -> None:
    """Error vs runs (both methods); the reference diagram with the largest adaptive sweep."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(
        [u["runs"] for u in uniform],
        [u["error"] for u in uniform],
        "s-",
        color="k",
        label="uniform grid",
    )
    for row in rows:
        curve = row["adaptive"]["curve"]
        left.plot(
            [c["runs"] for c in curve],
            [c["error"] for c in curve],
            "o-",
            label=f"{row['adaptive']['coarse_grid']} + refinement (B={row['budget']})",
        )
    left.set_xlabel("runs")
    left.set_ylabel("boundary error (share of reference points)")
    left.set_ylim(bottom=0)
    left.legend(fontsize=8)
    left.set_title("boundary error vs runs")

    phases = sorted(set(reference["phase"]))
    colours = {p: PHASE_COLORS[p] for p in phases}  # the report's phase colours
    right.scatter(
        reference[WD],
        reference[FRAC],
        c=[colours[p] for p in reference["phase"]],
        s=30,
        marker="s",
        alpha=0.35,
    )
    last = max(rows, key=lambda r: r["budget"])
    runs = pd.read_parquet(work / f"adaptive-{last['budget']}" / "runs.parquet")
    grid = runs["refine_round"] == 0
    right.scatter(runs.loc[grid, WD], runs.loc[grid, FRAC], c="k", marker="s", s=25, label="grid")
    right.scatter(runs.loc[~grid, WD], runs.loc[~grid, FRAC], c="k", s=8, label="refined")
    for phase, colour in colours.items():
        right.scatter([], [], color=colour, marker="s", label=phase)
    right.set_xscale("log")
    right.set_xlabel(WD)
    right.set_ylabel(FRAC)
    right.set_title(f"reference {REFERENCE_N}x{REFERENCE_N}, adaptive B={last['budget']}")
    right.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def commit() -> str:
    """The git commit that produced the results (with '+dirty' for local changes)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true", help="train the reference again")
    parser.add_argument("--work", type=Path, help="folder for the sweeps (default: temporary)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results-refine-cpu.json")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs/refine_boundary.png")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="phasegrok-refine-"))
    reference = reference_grid(work, args.reference)
    rows = compare(reference, work)
    runs_to_reach(rows)
    uniform = uniform_curve(rows)
    draw(rows, uniform, reference, work, args.figure)
    result = {
        "benchmark": "refine_boundary",
        "commit": commit(),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "sweep": base_sweep(),
        "axes": {WD: {"log10": list(LOG_WD)}, FRAC: list(FRAC_RANGE)},
        "reference": {
            "grid": f"{REFERENCE_N}x{REFERENCE_N}",
            "csv": str(REFERENCE_CSV.relative_to(ROOT)),
            "phases": reference["phase"].value_counts().to_dict(),
        },
        "error": "share of reference points whose phase differs from the nearest trained point's",
        "budgets": rows,
        "uniform_curve": uniform,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    keys = ("budget", "adaptive_runs_to_uniform_error")
    print(json.dumps([{k: r[k] for k in keys} for r in rows]))


if __name__ == "__main__":
    main()
