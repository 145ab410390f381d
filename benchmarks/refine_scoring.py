"""The scoring of `refine_boundary.py`: boundary errors of trained points against a reference
map, adaptive error-vs-runs curves and their comparison with uniform grids. Pure pandas, numpy
and scipy: trains nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from phasegrok.analysis.refine import point_phases
from phasegrok.config.schema import PHASES

WD, FRAC = "optimizer.weight_decay", "data.train_fraction"
LOG_WD = (-2.5, 1.5)  # log10 of the weight-decay range
FRAC_RANGE = (0.3, 0.9)


def unit(wd: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Points in the axes' own scales (log10 weight decay), each mapped to [0, 1]."""
    x = (np.log10(wd) - LOG_WD[0]) / (LOG_WD[1] - LOG_WD[0])
    y = (np.asarray(frac) - FRAC_RANGE[0]) / (FRAC_RANGE[1] - FRAC_RANGE[0])
    return np.column_stack([x, y])


def boundary_error(reference: pd.DataFrame, runs: pd.DataFrame) -> float:
    """Share of reference points whose phase differs from that of the nearest trained point
    (majority phase over seeds, ties to the phase listed first in `classify.PHASES`; in [0, 1]
    units of both axes)."""
    points = point_phases(runs[[WD, FRAC, "phase"]].to_dict("records"), [WD, FRAC], PHASES)
    coords = np.array([p.coords for p in points])
    tree = cKDTree(unit(coords[:, 0], coords[:, 1]))
    _dist, nearest = tree.query(unit(reference[WD].to_numpy(), reference[FRAC].to_numpy()))
    predicted = np.array([points[i].phase for i in nearest])
    return float(np.mean(predicted != reference["phase"].to_numpy()))


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


def error_sources(reference: pd.DataFrame, runs: pd.DataFrame) -> dict[str, Any]:
    """Where the error of trained points comes from: points whose phase is not the reference's
    at their nearest reference point (`points_off`: a seed's noise, or a point on the far side
    of a boundary the reference puts between grid lines) and the error on the reference points
    nearest to those (`error_at_points_off`); the rest (`error_elsewhere`) is resolution."""
    points = point_phases(runs[[WD, FRAC, "phase"]].to_dict("records"), [WD, FRAC], PHASES)
    coords = np.array([p.coords for p in points])
    trained = unit(coords[:, 0], coords[:, 1])
    ref_xy = unit(reference[WD].to_numpy(), reference[FRAC].to_numpy())
    truth = reference["phase"].to_numpy()
    phase = np.array([p.phase for p in points])
    off = phase != truth[cKDTree(ref_xy).query(trained)[1]]
    nearest = cKDTree(trained).query(ref_xy)[1]
    wrong = phase[nearest] != truth
    return {
        "runs": len(runs),
        "points": len(points),
        "points_off": int(off.sum()),
        "error": float(wrong.mean()),
        "error_at_points_off": float((wrong & off[nearest]).mean()),
        "error_elsewhere": float((wrong & ~off[nearest]).mean()),
    }


def adaptive_curve(reference: pd.DataFrame, runs: pd.DataFrame) -> list[dict[str, float]]:
    """Runs and boundary error after each round (rounds <= r)."""
    curve = []
    for r in sorted(set(runs["refine_round"])):
        upto = runs[runs["refine_round"] <= r]
        curve.append({"round": int(r), "runs": len(upto), "error": boundary_error(reference, upto)})
    return curve


def mean_curve(adaptive: list[dict[str, Any]], round_points: int) -> list[dict[str, float]]:
    """The adaptive sweeps' mean error after each round, at the first sweep's runs (each round
    spends its whole share, so the sweeps' rounds have equal runs; else interpolated; rounds
    of `round_points` points, as `error_at`)."""
    first = adaptive[0]["curve"]
    out = []
    for c in first:
        errors = [error_at(a["curve"], c["runs"], round_points) for a in adaptive]
        if any(e is None for e in errors):
            break
        out.append({"round": c["round"], "runs": c["runs"], "error": float(np.mean(errors))})
    return out


def error_at(curve: list[dict[str, float]], runs: int, round_points: int) -> float | None:
    """The curve's error at `runs`, linearly interpolated between rounds; past the curve's end
    by less than a round (`round_points` runs), its last error (a sweep of slightly fewer runs:
    no advantage to the refinement); None further."""
    xs = [c["runs"] for c in curve]
    if runs < xs[0] or runs >= xs[-1] + round_points:
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


def comparisons(results: dict[str, Any], coarse: int, round_points: int) -> list[dict[str, Any]]:
    """Per uniform size larger than the coarse grid (`coarse` x `coarse`; N runs a seed): the
    mean error of its grids (`grid_mean`: the n x n grid over the seeds; `uniform_mean`: with
    the centred grids too, and their `uniform_range`), the mean adaptive curve's error at N runs
    (`error_at`, rounds of `round_points`) and the runs it needs to reach each mean (`share`:
    of N; the target is <= 0.5); per seed s, the adaptive sweep of seed s against the n x n grid
    of seed s. Also against the best uniform mean of at most N runs (`best_uniform_mean`): a
    uniform grid's error is not monotone in its runs (whether its points fall on thin phases is
    luck), and the best smaller grid is the stricter target."""
    rows = []
    uniform = results["uniform"]
    mean = results["adaptive_mean"]

    def reach(curve: list[dict[str, float]], target: float, n: int) -> dict[str, Any]:
        need = runs_to_reach(curve, target)
        return {
            "runs": None if need is None else round(need, 1),
            "share": None if need is None else round(need / n, 3),
        }

    for u in uniform:
        n = u["runs"]
        if n <= coarse**2:
            continue
        best = min(v["mean"] for v in uniform if v["runs"] <= n)
        per_seed = []
        for a in results["adaptive"]:
            target = u["errors"]["grid"][a["seed"]]
            per_seed.append(
                {
                    "seed": a["seed"],
                    "grid_error": target,
                    "adaptive_error": error_at(a["curve"], n, round_points),
                    "to_reach": reach(a["curve"], target, n),
                }
            )
        rows.append(
            {
                "runs": n,
                "grid": u["grid"],
                "grid_mean": u["grid_mean"],
                "uniform_mean": u["mean"],
                "uniform_range": u["range"],
                "best_uniform_mean": best,
                "adaptive_mean_error": error_at(mean, n, round_points),
                "to_reach_grid_mean": reach(mean, u["grid_mean"], n),
                "to_reach_uniform_mean": reach(mean, u["mean"], n),
                "to_reach_best_uniform_mean": reach(mean, best, n),
                "per_seed": per_seed,
            }
        )
    return rows
