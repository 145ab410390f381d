"""Adaptive refinement vs a uniform grid: boundary error at equal numbers of runs.

    PYTHONPATH=. python benchmarks/refine_boundary.py [--reference] [--work DIR] [--grid-seeds 0 1]

The sweep is `sweeps/quickstart.yaml` (modular addition, p = 31, its MLP, AdamW, 2500 steps)
with one seed, on two axes with known boundaries: `optimizer.weight_decay` log-spaced over
10^-1.5 .. 10 and `data.train_fraction` over 0.3 .. 0.9 (memorize, grok, comprehend, confuse).

1. A dense reference grid (`REFERENCE_N` x `REFERENCE_N`, `REFERENCE_SEEDS` seeds per point) is
   trained once and kept in `benchmarks/data/refine_reference.csv` (every run; what produced it
   in `refine_reference.json`); `--reference` trains it again. A point's reference phase is
   the majority of its seeds: one seed's map scores part of its own noise as boundary error.
2. Uniform sqrt(N) x sqrt(N) grids (`UNIFORM_SIDES`), and one adaptive sweep: a `COARSE` x
   `COARSE` grid plus `ROUNDS` refinement rounds of `ROUND_POINTS` points each (`refine:` with
   `max_runs` = ROUNDS * ROUND_POINTS), both trained by `phasegrok.sweep.run_sweep`, the
   library's own path. Each round spends its whole share (`refine.round_budget` gives every
   round an equal share), so the runs of rounds <= r are exactly the points a sweep with
   `rounds: r, max_runs: r * ROUND_POINTS` would train: the one sweep gives the adaptive
   error at every budget COARSE^2 + r * ROUND_POINTS.
3. Boundary error of a set of trained points: the share of the reference's points whose phase
   differs from the phase of the nearest trained point, nearest in the axes' own scales (log10
   of the weight decay), each axis mapped to [0, 1] (the issue's metric).
4. For each uniform grid of N runs: the adaptive error at N runs, and the runs the adaptive
   sweep needs to reach the uniform grid's error (the first round at or below it, linearly
   interpolated from the round before). The issue's target: at most N / 2.

Writes `benchmarks/results-refine-cpu.json` and `docs/refine_boundary.png`. As the CLI, JAX gets
one host device per core and the persistent compile cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from phasegrok.host import use_compile_cache, use_host_devices

use_host_devices()
use_compile_cache()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

from phasegrok.classify import PHASE_COLORS, PHASES  # noqa: E402
from phasegrok.refine import point_phases  # noqa: E402
from phasegrok.sweep import run_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_CSV = ROOT / "benchmarks" / "data" / "refine_reference.csv"
REFERENCE_JSON = REFERENCE_CSV.with_suffix(".json")  # what produced the CSV
WD, FRAC = "optimizer.weight_decay", "data.train_fraction"
LOG_WD = (-1.5, 1.0)  # log10 of the weight-decay range
FRAC_RANGE = (0.3, 0.9)
REFERENCE_N = 24
REFERENCE_SEEDS = 3  # the reference phase of a point: the majority of 3 seeds
UNIFORM_SIDES = (5, 6, 7, 8, 9, 10, 12, 14)  # uniform grids of 25 .. 196 runs
COARSE = 5  # the adaptive sweep's initial grid (25 runs)
ROUND_POINTS = 5  # points per round: small rounds keep each cut where the last ones left off
ROUNDS = 34  # up to 25 + 170 = 195 runs, the largest uniform grid's budget


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
    """The dense reference, one row per point with its majority phase over the seeds (`agree`
    of `seeds` runs in it); trained when the CSV is missing or `recompute`. The CSV keeps every
    run (a `seed` column; a CSV without one holds seed 0 only), its JSON what produced it."""
    if not REFERENCE_CSV.exists() or recompute:
        spec = grid_sweep("refine-reference", REFERENCE_N)
        spec["train"]["seeds"] = REFERENCE_SEEDS
        runs, wall = train(spec, work)
        columns = [WD, FRAC, "seed", "data.train_size", "phase", "t_fit", "t_gen", "final_test_acc"]
        REFERENCE_CSV.parent.mkdir(parents=True, exist_ok=True)
        runs[columns].sort_values([WD, FRAC, "seed"]).to_csv(REFERENCE_CSV, index=False)
        made = {
            "made_by": "PYTHONPATH=. python benchmarks/refine_boundary.py --reference",
            "commit": commit(),
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
            "sweep": spec,
            "runs": len(runs),
            "training_s": round(wall, 1),
        }
        REFERENCE_JSON.write_text(json.dumps(made, indent=1) + "\n")
        print(f"reference: {len(runs)} runs, {wall:.0f} s -> {REFERENCE_CSV.relative_to(ROOT)}")
    return reference_points(pd.read_csv(REFERENCE_CSV))


def reference_points(table: pd.DataFrame) -> pd.DataFrame:
    """Per point of the reference: the majority phase of its runs (ties: the phase listed first
    in `classify.PHASES`, as the phase diagram breaks them), `agree` and `seeds`."""
    points = point_phases(table[[WD, FRAC, "phase"]].to_dict("records"), [WD, FRAC], PHASES)
    return pd.DataFrame(
        [
            {WD: p.coords[0], FRAC: p.coords[1], "phase": p.phase, "agree": p.k, "seeds": p.n}
            for p in points
        ]
    )


def adaptive_curve(reference: pd.DataFrame, runs: pd.DataFrame) -> list[dict[str, float]]:
    """Runs and boundary error after each round (rounds <= r)."""
    curve = []
    for r in sorted(set(runs["refine_round"])):
        upto = runs[runs["refine_round"] <= r]
        curve.append({"round": int(r), "runs": len(upto), "error": boundary_error(reference, upto)})
    return curve


def compare(reference: pd.DataFrame, work: Path, grid_seeds: list[int]) -> dict[str, Any]:
    """The uniform grids' errors and each adaptive sweep's error-vs-runs curve."""
    uniform = []
    for side in UNIFORM_SIDES:
        runs, wall = train(grid_sweep(f"uniform-{side}", side), work)
        error = boundary_error(reference, runs)
        uniform.append({"grid": f"{side}x{side}", "runs": len(runs), "error": error})
        print(json.dumps(uniform[-1]), f"{wall:.0f} s", flush=True)
    adaptive = []
    refine = {"rounds": ROUNDS, "max_runs": ROUNDS * ROUND_POINTS}
    for grid_seed in grid_seeds:
        spec = grid_sweep(f"adaptive-{grid_seed}", COARSE, refine)
        spec["grid_seed"] = grid_seed
        runs, wall = train(spec, work)
        curve = adaptive_curve(reference, runs)
        adaptive.append(
            {
                "coarse_grid": f"{COARSE}x{COARSE}",
                "grid_seed": grid_seed,
                "refine": refine,
                "runs": len(runs),
                "curve": curve,
                "training_s": round(wall, 1),
            }
        )
        print(json.dumps(curve), f"{wall:.0f} s", flush=True)
    return {"uniform": uniform, "adaptive": adaptive}


def error_at(curve: list[dict[str, float]], runs: int) -> float | None:
    """The curve's error at `runs`, linearly interpolated between rounds; past the curve's end
    by less than a round, its last error (a sweep of slightly fewer runs: no advantage to the
    refinement); None further."""
    xs = [c["runs"] for c in curve]
    if runs < xs[0] or runs >= xs[-1] + ROUND_POINTS:
        return None
    return float(np.interp(runs, xs, [c["error"] for c in curve]))


def runs_to_reach(curve: list[dict[str, float]], target: float) -> float | None:
    """Runs at which the refinement first reaches `target`: the first round r >= 1 with
    error <= target, interpolated linearly from round r - 1 (round 0 is the coarse grid, a
    uniform grid itself: where it already reaches the target, round 1's runs are returned)."""
    for before, c in zip(curve, curve[1:], strict=False):
        if c["error"] <= target:
            if before["error"] <= target:
                return float(c["runs"])
            share = (before["error"] - target) / (before["error"] - c["error"])
            return before["runs"] + share * (c["runs"] - before["runs"])
    return None


def comparisons(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per uniform grid larger than the coarse one: its error, each adaptive sweep's error at
    the same runs, and the runs each needs to reach the uniform error (and their share of the
    grid's runs). Also against the best uniform grid of at most as many runs (`best_uniform`):
    a uniform grid's error is not monotone in its runs (where its points fall relative to thin
    phases is luck), and the best smaller grid is the stricter target."""
    rows = []
    uniform = results["uniform"]
    for u in uniform:
        if u["runs"] <= COARSE**2:
            continue
        best = min(v["error"] for v in uniform if v["runs"] <= u["runs"])
        row: dict[str, Any] = {
            "runs": u["runs"],
            "uniform_error": u["error"],
            "best_uniform_error": best,
            "adaptive": [],
        }
        for a in results["adaptive"]:
            need = runs_to_reach(a["curve"], u["error"])
            need_best = runs_to_reach(a["curve"], best)
            row["adaptive"].append(
                {
                    "grid_seed": a["grid_seed"],
                    "error_at_equal_runs": error_at(a["curve"], u["runs"]),
                    "runs_to_uniform_error": None if need is None else round(need, 1),
                    "share_of_uniform_runs": None if need is None else round(need / u["runs"], 3),
                    "runs_to_best_uniform_error": None
                    if need_best is None
                    else round(need_best, 1),
                    "share_to_best": None if need_best is None else round(need_best / u["runs"], 3),
                }
            )
        rows.append(row)
    return rows


def draw(results: dict[str, Any], reference: pd.DataFrame, work: Path, path: Path) -> None:
    """Error vs runs (both methods, and the uniform curve at half its runs: the target); the
    reference diagram with the first adaptive sweep's points at about 100 runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    uniform = results["uniform"]
    left.plot([u["runs"] for u in uniform], [u["error"] for u in uniform], "s-", color="k")
    left.lines[-1].set_label("uniform grid")
    left.plot(
        [u["runs"] / 2 for u in uniform],
        [u["error"] for u in uniform],
        ":",
        color="grey",
        label="target: uniform error at half its runs",
    )
    for a in results["adaptive"]:
        curve = a["curve"]
        left.plot(
            [c["runs"] for c in curve],
            [c["error"] for c in curve],
            ".-",
            label=f"{a['coarse_grid']} + {ROUND_POINTS}/round (grid_seed {a['grid_seed']})",
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
    first = results["adaptive"][0]
    runs = pd.read_parquet(work / f"adaptive-{first['grid_seed']}" / "runs.parquet")
    shown = max((c for c in first["curve"] if c["runs"] <= 100), key=lambda c: c["runs"])
    runs = runs[runs["refine_round"] <= shown["round"]]
    grid = runs["refine_round"] == 0
    right.scatter(runs.loc[grid, WD], runs.loc[grid, FRAC], c="k", marker="s", s=25, label="grid")
    right.scatter(runs.loc[~grid, WD], runs.loc[~grid, FRAC], c="k", s=8, label="refined")
    for phase, colour in colours.items():
        right.scatter([], [], color=colour, marker="s", label=phase)
    right.set_xscale("log")
    right.set_xlabel(WD)
    right.set_ylabel(FRAC)
    right.set_title(
        f"reference {REFERENCE_N}x{REFERENCE_N}; adaptive, {shown['runs']} runs "
        f"(error {shown['error']:.3f})"
    )
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
    parser.add_argument(
        "--grid-seeds",
        type=int,
        nargs="+",
        default=[0],
        help="one adaptive sweep per grid_seed (it orders the ties of a round's choice)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results-refine-cpu.json")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs/refine_boundary.png")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="phasegrok-refine-"))
    reference = reference_grid(work, args.reference)
    results = compare(reference, work, args.grid_seeds)
    rows = comparisons(results)
    draw(results, reference, work, args.figure)
    result = {
        "benchmark": "refine_boundary",
        "commit": commit(),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "sweep": base_sweep(),
        "axes": {WD: {"log10": list(LOG_WD)}, FRAC: list(FRAC_RANGE)},
        "reference": {
            "grid": f"{REFERENCE_N}x{REFERENCE_N}",
            "seeds": int(reference["seeds"].max()),
            "csv": str(REFERENCE_CSV.relative_to(ROOT)),
            "phases": reference["phase"].value_counts().to_dict(),
            "points_whose_seeds_split": int((reference["agree"] < reference["seeds"]).sum()),
        },
        "error": "share of reference points whose phase differs from the nearest trained point's",
        "target": "adaptive runs to reach a uniform grid's error <= half the grid's runs",
        **results,
        "comparisons": rows,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
