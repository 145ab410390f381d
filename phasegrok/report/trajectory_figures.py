"""The lens over time and the units per frequency (no JAX).

- ``trajectory__<run>.png`` (modular): Nanda et al.'s figure for one run: its token maps'
  spectrum at every saved step (frequency x step, each column's share of power), its train /
  test accuracy, and its train, test, restricted and excluded losses against step
  (`phasegrok.lens.progress_measures`; losses from curves.parquet and progress.parquet).
- ``units_per_frequency.png``: per phase, how many live hidden units each run's frequencies
  hold, its frequencies ranked by unit count (runs.parquet's ``units_per_frequency``).

<run>: the run's phase, grid point, seed and id (`curves.run_namer`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from phasegrok.analysis.classify import PHASE_COLORS
from phasegrok.config.schema import PHASES
from phasegrok.lens import figure_data as lens_data
from phasegrok.lens.fourier import ModelFacts, cell
from phasegrok.report.grid import fmt
from phasegrok.report.lens_figures import accuracy_panel
from phasegrok.report.style import fixed_layout, title, title_height

CAPTIONS = {
    "trajectory": "Progress measures (Nanda et al. 2023). Left: the share of the token maps'"
    " power per frequency at each saved step (frequency × step; the final key frequencies"
    " marked ◂). Right, top: train (dashed) and test (solid) accuracy. Right, bottom: losses"
    " on a log scale (exact zeros of float32 drawn at 1e-7): train and test loss (lines,"
    " curves.parquet) and, at the saved steps,"
    " the restricted loss (the logits projected on the constant and cos / sin of 2π k s / n"
    " for the final key frequencies k, s = a + b over the group; all pairs) and the excluded"
    " loss (the logits with those components removed; training pairs). A restricted loss"
    " falling while the test loss is still high is the circuit forming before it shows; a"
    " rising excluded loss, the memorizing solution being cleaned up.",
    "units": "Hidden units per frequency. Each first-layer unit is assigned its dominant input"
    " frequency (the most power in its token maps); a run's frequencies are ranked by how"
    " many live units they hold (units with at least 1% of the strongest unit's power). Thin"
    " lines: single runs; thick: the phase's median. A generalizing run concentrates its units"
    " on a few frequencies; a memorizing one spreads them.",
}


def spectra_matrix(
    facts: ModelFacts, params: Mapping[int, Mapping[str, Any]]
) -> tuple[np.ndarray, list[int]]:
    """(frequencies x saved steps) share of the token maps' power, and the steps."""
    steps = sorted(params)
    columns = []
    for s in steps:
        power = np.asarray(lens_data.power_spectrum(facts, params[s]), dtype=np.float64)
        columns.append(power / power.sum() if power.sum() > 0 else power)
    return np.stack(columns, axis=1), steps


def trajectory_figure(
    facts: ModelFacts,
    params: Mapping[int, Mapping[str, Any]],
    row: pd.Series,
    curve: pd.DataFrame,
    measures: pd.DataFrame,
    runs: pd.DataFrame,
    head: str,
) -> Figure:
    """Spectrum over saved steps (left); accuracy and the four losses against step (right)."""
    shares, steps = spectra_matrix(facts, params)
    n_freqs = shares.shape[0]
    fig = Figure(figsize=(9.6, 4.8), layout="constrained")
    left, right = fig.subfigures(1, 2, squeeze=False, width_ratios=[1, 1.25])[0]
    ax = left.subplots()
    im = ax.imshow(
        shares,
        aspect="auto",
        origin="lower",
        cmap="magma_r",
        interpolation="nearest",
        extent=(-0.5, len(steps) - 0.5, 0.5, n_freqs + 0.5),
    )
    ax.set_xticks(range(len(steps)), [fmt(s) for s in steps], fontsize=7, rotation=45)
    ax.set_xlabel("saved step")
    ax.set_ylabel("frequency f")
    keys = cell(row, "key_frequencies")
    for f in [] if keys is None else list(keys):
        ax.annotate("◂", (len(steps) - 0.5, int(f)), fontsize=7, va="center", ha="left")
    left.colorbar(im, ax=ax, label="share of token-map power", shrink=0.85)
    ax.set_title("input spectrum over training", fontweight="normal", fontsize="small")

    top, bottom = right.subplots(2, 1, sharex=True)
    curve = curve.replace([np.inf, -np.inf], np.nan).sort_values("step")
    accuracy_panel(top, curve, legend_loc="center right")
    color = PHASE_COLORS.get(str(row.get("phase")), "#0072B2")
    floor = 1e-7  # float32 losses reach exact zero: drawn at the floor on the log axis
    bottom.plot(curve["step"], curve["test_loss"].clip(lower=floor), color="0.1", lw=1.4)
    bottom.plot(curve["step"], curve["train_loss"].clip(lower=floor), color="0.45", lw=1.1, ls="--")
    handles = [
        Line2D([], [], color="0.1", lw=1.4, label="test loss"),
        Line2D([], [], color="0.45", lw=1.1, ls="--", label="train loss"),
    ]
    if len(measures):
        m = measures.sort_values("step")
        for name, marker, ls in (("restricted_loss", "o", "-"), ("excluded_loss", "s", ":")):
            bottom.plot(
                m["step"], m[name].clip(lower=floor), marker=marker, ls=ls, color=color, ms=4
            )
            label = name.replace("_", " ")
            handles.append(Line2D([], [], color=color, marker=marker, ls=ls, ms=4, label=label))
    bottom.set_yscale("log")
    bottom.set_ylabel("loss")
    bottom.set_xlabel("optimization step")
    for a in (top, bottom):
        a.grid(True, lw=0.4, alpha=0.5)
        t_gen = cell(row, "t_gen")
        if t_gen is not None and np.isfinite(float(t_gen)):
            a.axvline(float(t_gen), color="0.55", lw=0.8, ls=(0, (4, 2)))
    right.legend(handles=handles, fontsize=6.5, frameon=False, loc="outside lower center", ncol=2)
    title(fig, f"Trajectory of the circuit, {head}", runs)
    return fig


def ranked_counts(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, rank): ``phase``, ``rank`` (1: the frequency with most units),
    ``units``; from runs.parquet's ``units_per_frequency`` (runs without it are left out)."""
    rows = []
    for _, row in runs.iterrows():
        text = cell(row, "units_per_frequency")
        if text is None:
            continue
        counts = sorted(json.loads(text).values(), reverse=True)
        phase = str(row.get("phase", "?"))
        rows += [
            {"run_id": row["run_id"], "phase": phase, "rank": r, "units": n}
            for r, n in enumerate(counts, start=1)
        ]
    return pd.DataFrame(rows, columns=["run_id", "phase", "rank", "units"])


def units_figure(runs: pd.DataFrame) -> Figure:
    """Units per frequency against the frequency's rank, one panel per phase present."""
    ranked = ranked_counts(runs)
    phases = [p for p in PHASES if p in set(ranked["phase"])]
    phases += sorted(set(ranked["phase"]) - set(phases))
    fig = Figure(figsize=(2.6 * max(len(phases), 1) + 0.6, 3.4))
    axes = fig.subplots(1, max(len(phases), 1), sharey=True, squeeze=False)[0]
    most = int(ranked["rank"].max()) if len(ranked) else 1
    for ax, phase in zip(axes, phases, strict=False):
        color = PHASE_COLORS.get(phase, "0.3")
        sub = ranked.loc[ranked["phase"] == phase]
        for _, one in sub.groupby("run_id"):
            ax.plot(one["rank"], one["units"], color=color, lw=0.7, alpha=0.45)
        median = sub.groupby("rank")["units"].median()
        ax.plot(median.index, median.to_numpy(), color=color, lw=2.2, marker="o", ms=3)
        n_runs = sub["run_id"].nunique()
        ax.set_title(f"{phase} ({n_runs} run{'s' * (n_runs != 1)})", color=color)
        ax.set_xlim(0.5, most + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # ranks are whole numbers
        ax.set_xlabel("frequency rank (by units)")
        ax.grid(True, lw=0.4, alpha=0.5)
    axes[0].set_ylabel("live hidden units")
    lines = title(fig, "Hidden units per dominant input frequency, by phase", runs, fixed=True)
    fixed_layout(fig, left=0.6, right=0.15, top=title_height(lines) + 0.3, bottom=0.5, wspace=0.2)
    return fig
