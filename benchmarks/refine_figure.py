"""The figure of `refine_boundary.py` (`docs/refine_boundary.png`), drawn from its results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phasegrok.analysis.classify import PHASE_COLORS

WD, FRAC = "optimizer.weight_decay", "data.train_fraction"


def draw(
    results: dict[str, Any],
    reference: pd.DataFrame,
    work: Path,
    path: Path,
    title: str = "boundary error vs runs (trained seeds disjoint from the reference's)",
    before: list[dict[str, Any]] | None = None,
) -> None:
    """Error vs runs (both methods, and the uniform curve at half its runs: the target); the
    reference diagram with the first adaptive sweep's points at about 100 runs. `before`: an
    earlier rule's mean adaptive curve on the same reference, drawn dashed."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    uniform = results["uniform"]
    runs_u = [u["runs"] for u in uniform]
    mean_u = np.array([u["mean"] for u in uniform])
    lo = mean_u - [u["range"][0] for u in uniform]
    hi = [u["range"][1] for u in uniform] - mean_u
    bars = left.errorbar(runs_u, mean_u, yerr=[lo, hi], fmt="s-", color="k", capsize=3)
    bars.set_label("uniform (mean of grids and seeds; bars: range)")
    left.plot(runs_u, [u["grid_mean"] for u in uniform], "s", color="grey", ms=4)
    left.lines[-1].set_label("n x n grid (mean of seeds)")
    left.plot(
        [n / 2 for n in runs_u], mean_u, ":", color="grey", label="target: uniform at half its runs"
    )
    for a in results["adaptive"]:
        curve = a["curve"]
        left.plot(
            [c["runs"] for c in curve],
            [c["error"] for c in curve],
            ".-",
            alpha=0.5,
            label=f"adaptive, seed {a['seed']}",
        )
    mean = results["adaptive_mean"]
    left.plot(
        [c["runs"] for c in mean],
        [c["error"] for c in mean],
        "-",
        color="C3",
        lw=2,
        label=f"adaptive mean ({a['coarse_grid']} + {results['round_points']}/round)",
    )
    if before:
        left.plot(
            [c["runs"] for c in before],
            [c["error"] for c in before],
            "--",
            color="C3",
            alpha=0.6,
            label="adaptive mean, earlier rule (cut only edges between two phases)",
        )
    left.set_xscale("log")
    ticks = [12, 25, 50, 100, 200, 400, 600]
    left.set_xticks(ticks, [str(t) for t in ticks])
    left.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    left.set_xlabel("runs (log scale)")
    left.set_ylabel("boundary error (share of reference points)")
    left.set_ylim(bottom=0)
    left.legend(fontsize=7)
    left.set_title(title, fontsize=9)

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
    runs = pd.read_parquet(work / f"adaptive-s{first['seed']}" / "runs.parquet")
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
        f"reference {results['reference_grid']}; adaptive seed {first['seed']}, "
        f"{shown['runs']} runs "
        f"(error {shown['error']:.3f})",
        fontsize=9,
    )
    right.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
