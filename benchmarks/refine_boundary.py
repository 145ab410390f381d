"""Adaptive refinement vs a uniform grid: boundary error at equal numbers of runs.

    PYTHONPATH=. python benchmarks/refine_boundary.py [--reference] [--work DIR] [--seeds 3 4]

The sweep is `sweeps/quickstart.yaml` (its MLP, AdamW, 2500 steps) at p = 47 (`P`) with one
seed a point, on two axes with known boundaries: `optimizer.weight_decay` log-spaced over
10^-2.5 .. 10^1.5 and `data.train_fraction` over 0.3 .. 0.9 (memorize, grok, comprehend,
confuse). Why p = 47 and not the quickstart's 31: at p = 31 a fresh seed's map differed from
the reference on ~8.5% of its points (the seeds of 20% of the points split), a floor of noise
near the uniform grids' own errors that no set of one-seed points can go below; in an 8 x 8
pilot with 3 seeds at p = 47, 9% of the points split (22% at p = 31) and the median seed spread
(std) of log10 t_gen fell from 0.067 to 0.046, at 2.3x the cost a run (155 s against 68 s for
the pilot's 192 runs); p = 59 split on 16% with a spread of 0.058, at 3.8x. (The pilot: the
quickstart with `task.p=P train.seeds=3` on an 8 x 8 grid over 10^-1.5 .. 10 x 0.3 .. 0.9; its
runs in `benchmarks/data/refine_pilot.csv`.) The weight-decay range is
wider so that the map holds its boundaries whole (at p = 47 large train fractions still grok
at weight decay ~10^-1.8). The p = 31 run's data and results are kept (`*_p31`).

1. A dense reference grid (`REFERENCE_N` x `REFERENCE_N`, seeds 0 .. `REFERENCE_SEEDS` - 1) is
   trained once and kept in `benchmarks/data/refine_reference.csv` (every run; what produced it
   in `refine_reference.json`); `--reference` trains it again. A point's reference phase is
   the majority of its seeds: one seed's map scores part of its own noise as boundary error.
2. Everything compared is trained with other seeds (`--seeds`, default 3 and 4), so that no
   trained run is a reference run. Per seed: the uniform n x n grids (`UNIFORM_SIDES`), a
   second placement of each up to 14 x 14 (`centred_sweep`: the cells' centres, half a step
   off the first), and one adaptive sweep: a `COARSE` x `COARSE` grid plus `ROUNDS`
   refinement rounds of `ROUND_POINTS` points each (`refine:` with `max_runs` = ROUNDS *
   ROUND_POINTS). All are trained by `phasegrok.sweep.run_sweep`, the library's own path.
   Each round spends its whole share (`refine.round_budget` gives every round an equal
   share), so the runs of rounds <= r are exactly the points a sweep with `rounds: r,
   max_runs: r * ROUND_POINTS` would train: the one sweep gives the adaptive error at every
   budget COARSE^2 + r * ROUND_POINTS.
3. Boundary error of a set of trained points: the share of the reference's points whose phase
   differs from the phase of the nearest trained point, nearest in the axes' own scales (log10
   of the weight decay), each axis mapped to [0, 1] (the issue's metric; the scoring is in
   `refine_scoring.py`).
4. For each uniform size of N runs: the mean error of its grids (the n x n grid over the
   seeds; with the centred grid too), the mean adaptive curve's error at N runs, and the runs
   it needs to reach each mean (the first round at or below it, linearly interpolated from
   the round before). The issue's target: at most N / 2. Also per seed, and against the best
   uniform mean of at most N runs.
5. Floors (`floors`): the error of a whole fresh map on the reference's own points (the
   24 x 24 grid of seeds 3, 4 and `EXTRA_SEEDS`), of one seed (and of three seeds' majority):
   what no set of trained points of one (three) seeds can go much below. The fresh runs go to
   `benchmarks/data/refine_fresh.csv`, which `refine_emulate.py` replays.
6. Everything compared is scored a second time against each seed's own map (`own_maps`: a
   FINE_N x FINE_N grid of that seed, its runs in FINE_CSV), the boundaries of the very sweep
   being sampled, without seed-to-seed noise: the JSON's `own_seed` section.

Writes `benchmarks/results-refine-cpu.json`, `docs/refine_boundary.png` and
`docs/refine_boundary_own_seed.png`. As the CLI, JAX gets one host device per core and the
persistent compile cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phasegrok.run.host import use_compile_cache, use_host_devices

use_host_devices()
use_compile_cache()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from refine_figure import draw  # noqa: E402  (benchmarks/, the script's own folder)
from refine_scoring import (  # noqa: E402  (the scoring: pure pandas, numpy, scipy)
    FRAC,
    FRAC_RANGE,
    LOG_WD,
    WD,
    adaptive_curve,
    boundary_error,
    comparisons,
    error_sources,
    mean_curve,
    reference_points,
)

from phasegrok.sweep import run_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_CSV = ROOT / "benchmarks" / "data" / "refine_reference.csv"
REFERENCE_JSON = REFERENCE_CSV.with_suffix(".json")  # what produced the CSV
FRESH_CSV = ROOT / "benchmarks" / "data" / "refine_fresh.csv"  # SEEDS on its points
P = 47  # the modulus (quickstart: 31; see the module docstring)
# The axes (WD, FRAC, LOG_WD, FRAC_RANGE) are `refine_scoring`'s: its [0, 1] units are theirs.
REFERENCE_N = 24
REFERENCE_SEEDS = 3  # the reference phase of a point: the majority of 3 seeds
UNIFORM_SIDES = (6, 8, 10, 12, 14, 24)  # 36 .. 196 runs, and the reference's points
COARSE = 5  # the adaptive sweep's initial grid (25 runs)
ROUND_POINTS = 10  # points per round: small rounds keep each cut where the last ones left off
ROUNDS = 27  # up to 25 + 270 = 295 runs: past half of the 24 x 24 grid's 576
# Trained runs use seeds disjoint from the reference's (0, 1, 2), so that no trained run copies
# a reference run. Each uniform grid is trained with SEEDS and scored once per seed (one seed a
# point); one adaptive sweep per seed.
SEEDS = (3, 4)
CENTRED_SIDES = UNIFORM_SIDES[:-1]  # a second placement of each grid up to 196 runs
# More fresh seeds on the reference's points for the floors, beside SEEDS (the p = 31 run had
# seed 5 too; at p = 47 two seeds keep the benchmark within an hour and a half on 2 cores).
EXTRA_SEEDS: tuple[int, ...] = ()
# Reference (b): each seed's own map at 47 x 47 points (every other point one of the 24 x 24
# grid's), so that the 24 x 24 uniform grid (576 runs) has an error to reach too, and structure
# finer than the 24 x 24 spacing is seen. Its runs: FINE_CSV.
FINE_N = 47
FINE_CSV = ROOT / "benchmarks" / "data" / "refine_own47.csv"
# The first refinement rule's results (cut only the edges between two phases; commit 549ca87):
# its mean adaptive curve against reference (a) is drawn beside the current rule's.
BEFORE_JSON = ROOT / "benchmarks" / "results-refine-cpu-mixed-edge.json"


def base_sweep() -> dict[str, Any]:
    """The quickstart sweep with one seed (SEEDS[0]; set per use) and no figures; the grid is
    set per use."""
    spec = yaml.safe_load((ROOT / "sweeps" / "quickstart.yaml").read_text())
    spec["task"]["p"] = P
    spec["train"]["seeds"] = [SEEDS[0]]
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


def centred_sweep(name: str, n: int) -> dict[str, Any]:
    """An n x n grid of cell centres: the axes' ranges (log10 for the weight decay) cut into n
    equal cells, one point in the middle of each. The same density as the n x n grid, its
    points shifted by half a step (none on the edges): a second placement of a uniform grid."""
    spec = grid_sweep(name, n)
    c = (np.arange(n) + 0.5) / n
    log_wd = LOG_WD[0] + (LOG_WD[1] - LOG_WD[0]) * c
    frac = FRAC_RANGE[0] + (FRAC_RANGE[1] - FRAC_RANGE[0]) * c
    spec["grid"] = {
        WD: [float(f"{v:.12g}") for v in 10.0**log_wd],
        FRAC: [float(f"{v:.12g}") for v in frac],
    }
    return spec


_TRAINED: dict[str, tuple[pd.DataFrame, float]] = {}  # spec and folder -> train's answer


def train(spec: dict[str, Any], work: Path) -> tuple[pd.DataFrame, float]:
    """Train a sweep with the library's own path (a finished one is only loaded); its runs and
    its training time: the sum of its batches' wall times, compiles included. Kept per spec
    and folder: `main` scores every sweep against two references and loads it once."""
    key = json.dumps([str(work), spec], sort_keys=True)
    if key not in _TRAINED:
        res = run_sweep(spec, work / spec["name"], progress=False, plots=False, live=False)
        batches = res.runs.drop_duplicates("batch_id")
        _TRAINED[key] = (res.runs, float(batches["batch_wall_time"].sum()))
    return _TRAINED[key]


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


def floors(reference: pd.DataFrame, work: Path, seeds: list[int]) -> dict[str, Any]:
    """What no set of trained points can beat by much: the error of a whole fresh map on the
    reference's own points, of one seed (each of `seeds` and EXTRA_SEEDS) and, with three
    seeds or more, of their majority. Writes the fresh runs to FRESH_CSV (for
    `refine_emulate.py`)."""
    full = grid_sweep(f"uniform-{REFERENCE_N}", REFERENCE_N)
    full["train"]["seeds"] = list(seeds)
    tables = [train(full, work)[0]]
    for seed in EXTRA_SEEDS:
        extra = grid_sweep(f"extra-{REFERENCE_N}-s{seed}", REFERENCE_N)
        extra["train"]["seeds"] = [seed]
        tables.append(train(extra, work)[0])
    runs = trained_maps(tables, FRESH_CSV)
    one = {
        int(s): boundary_error(reference, runs[runs["seed"] == s])
        for s in sorted(set(runs["seed"]))
    }
    return {
        "grid": f"{REFERENCE_N}x{REFERENCE_N}",
        "csv": str(FRESH_CSV.relative_to(ROOT)),
        "one_seed": one,
        "majority_of_seeds": boundary_error(reference, runs) if len(one) >= 3 else None,
    }


def trained_maps(tables: list[pd.DataFrame], path: Path) -> pd.DataFrame:
    """The sweeps' runs as one table, written to `path` (a CSV of the columns the emulation and
    the floors read, one row a run)."""
    runs = pd.concat(tables, ignore_index=True)
    columns = [WD, FRAC, "seed", "phase", "t_fit", "t_gen", "final_test_acc"]
    runs[columns].sort_values([WD, FRAC, "seed"]).to_csv(path, index=False)
    return runs


def own_maps(work: Path, seeds: list[int]) -> dict[int, pd.DataFrame]:
    """Per seed, the seed's own map on a FINE_N x FINE_N grid (trained here, its runs written to
    FINE_CSV): the boundaries of the very sweep a seed's grids and refinement sample, with no
    seed-to-seed noise in them, at twice the reference's resolution."""
    tables = []
    for seed in seeds:
        spec = grid_sweep(f"own-{FINE_N}-s{seed}", FINE_N)
        spec["train"]["seeds"] = [seed]
        tables.append(train(spec, work)[0])
    runs = trained_maps(tables, FINE_CSV)
    return {s: reference_points(runs[runs["seed"] == s]) for s in seeds}


def compare(
    reference_of: Callable[[int], pd.DataFrame],
    work: Path,
    seeds: list[int],
    sides: tuple[int, ...] = UNIFORM_SIDES,
) -> dict[str, Any]:
    """The uniform grids' errors (one per placement and seed) and one adaptive error-vs-runs
    curve per seed, a seed's runs scored against `reference_of(seed)` (training a sweep once:
    a finished one is only loaded)."""
    uniform = []
    for side in sides:
        errors, wall = {}, 0.0
        sweeps = {"grid": grid_sweep(f"uniform-{side}", side)}
        if side in CENTRED_SIDES:
            sweeps["centred"] = centred_sweep(f"centred-{side}", side)
        for placement, spec in sweeps.items():
            spec["train"]["seeds"] = list(seeds)
            runs, seconds = train(spec, work)
            wall += seconds
            errors[placement] = {
                s: boundary_error(reference_of(s), runs[runs["seed"] == s]) for s in seeds
            }
        every = [e for by_seed in errors.values() for e in by_seed.values()]
        uniform.append(
            {
                "grid": f"{side}x{side}",
                "runs": side * side,  # one seed's grid
                "errors": errors,
                "grid_mean": float(np.mean(list(errors["grid"].values()))),
                "mean": float(np.mean(every)),
                "range": [min(every), max(every)],
                "training_s": round(wall, 1),
            }
        )
        print(json.dumps(uniform[-1]), flush=True)
    adaptive = []
    refine = {"rounds": ROUNDS, "max_runs": ROUNDS * ROUND_POINTS}
    for seed in seeds:
        spec = grid_sweep(f"adaptive-s{seed}", COARSE, refine)
        spec["train"]["seeds"] = [seed]
        runs, wall = train(spec, work)
        reference = reference_of(seed)
        curve = adaptive_curve(reference, runs)
        near_100 = max(
            r for r in set(runs["refine_round"]) if (runs["refine_round"] <= r).sum() <= 105
        )
        sources = error_sources(reference, runs[runs["refine_round"] <= near_100])
        adaptive.append(
            {
                "coarse_grid": f"{COARSE}x{COARSE}",
                "seed": seed,
                "refine": refine,
                "runs": len(runs),
                "curve": curve,
                "error_sources": sources,
                "training_s": round(wall, 1),
            }
        )
        print(json.dumps(curve), f"{wall:.0f} s", flush=True)
    mean = mean_curve(adaptive, ROUND_POINTS)
    return {"uniform": uniform, "adaptive": adaptive, "adaptive_mean": mean}


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
        "--seeds",
        type=int,
        nargs="+",
        default=list(SEEDS),
        help="training seeds: each uniform grid is scored per seed, one adaptive sweep per seed",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results-refine-cpu.json")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs/refine_boundary.png")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="phasegrok-refine-"))
    reference = reference_grid(work, args.reference)
    if set(args.seeds) & set(range(REFERENCE_SEEDS)):
        parser.error(f"--seeds must avoid the reference's seeds 0 .. {REFERENCE_SEEDS - 1}")
    floor = floors(reference, work, args.seeds)  # first: refine_emulate.py replays its maps
    results = compare(lambda _seed: reference, work, args.seeds)
    rows = comparisons(results, COARSE, ROUND_POINTS)
    own = own_maps(work, args.seeds)
    own_results = compare(own.__getitem__, work, args.seeds)
    own_rows = comparisons(own_results, COARSE, ROUND_POINTS)
    draw(
        {**results, "round_points": ROUND_POINTS, "reference_grid": f"{REFERENCE_N}x{REFERENCE_N}"},
        reference,
        work,
        args.figure,
        before=json.loads(BEFORE_JSON.read_text())["adaptive_mean"]
        if BEFORE_JSON.exists()
        else None,
    )
    draw(
        {
            **own_results,
            "round_points": ROUND_POINTS,
            "reference_grid": f"seed's own {FINE_N}x{FINE_N} map",
        },
        own[args.seeds[0]],
        work,
        args.figure.with_name(args.figure.stem + "_own_seed" + args.figure.suffix),
        title="boundary error vs runs, against each seed's own map",
    )
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
        "seeds": args.seeds,
        "round_points": ROUND_POINTS,
        **results,
        "floors": floor,
        "comparisons": rows,
        "own_seed": {
            "reference": f"each seed's own {FINE_N}x{FINE_N} map",
            "csv": str(FINE_CSV.relative_to(ROOT)),
            **own_results,
            "comparisons": own_rows,
        },
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"majority_of_reference_seeds": rows, "own_seed": own_rows}, indent=1))


if __name__ == "__main__":
    main()
