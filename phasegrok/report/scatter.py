"""Phase diagrams of sampled axes (`phasegrok.config.sampling`): a scatter of the drawn points.

A sampled axis has no cells: its values are scattered, not a grid, and a grid of cells over
them would be one filled cell per row and column. So each drawn point is a marker at its own
(x, y), coloured by the majority phase of its seeds (paler where they split, as the cells of
the grid diagram), one panel per value of the listed axes besides x and y.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import product
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter

from phasegrok.analysis.classify import PHASE_COLORS
from phasegrok.config.sampling import is_sampled
from phasegrok.config.schema import PHASES
from phasegrok.report.diagrams import majority, shade, split_handle
from phasegrok.report.grid import canon, fmt, is_log_spaced, label, short
from phasegrok.report.style import title

REFINE_ROUND = "refine_round"  # runs.parquet's column (`phasegrok.analysis.rounds`)


def refined(runs: pd.DataFrame) -> bool:
    """Whether `runs` holds points of refinement rounds (not on the initial grid)."""
    return REFINE_ROUND in runs and bool((runs[REFINE_ROUND] > 0).any())


def sampled_pair(grid: Mapping[str, Any], x: str, y: str) -> bool:
    """Whether a diagram on (x, y) has a sampled axis (`grid`: the sweep.yaml's `grid:`)."""
    return is_sampled(grid.get(x)) or is_sampled(grid.get(y))


def point_phases(runs: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Per distinct (x, y) point: its x and y, majority phase, count k and run count n."""
    keys = runs[[x, y]].map(canon)
    codes = pd.MultiIndex.from_frame(keys).factorize()[0] if len(runs) else np.array([], int)
    cells = runs.assign(ix=codes, iy=0)
    if not len(cells):
        return pd.DataFrame(columns=[x, y, "phase", "k", "n"])
    out = majority(cells).reset_index(level="iy", drop=True)
    first = runs.groupby(codes)[[x, y]].first()
    return first.join(out).reset_index(drop=True)


def scatter_panel(
    ax: Any,
    runs: pd.DataFrame,
    x: str,
    y: str,
    grid: Mapping[str, Any] | None = None,
    marker: str = "o",
    size: float = 28,
) -> pd.DataFrame:
    """One marker per distinct (x, y) point of `runs`, coloured by its majority phase; an axis
    is logarithmic where `grid` draws or spaces it so, or where its values span decades.
    Returns the points (`point_phases`)."""
    points = point_phases(runs, x, y)
    colors = [shade(PHASE_COLORS[p], k / n) for p, k, n in points[["phase", "k", "n"]].values]
    ax.scatter(
        points[x],
        points[y],
        c=np.array(colors).reshape(-1, 4),
        s=size,
        marker=marker,
        edgecolors="0.3",
    )
    for key, which in ((x, "x"), (y, "y")):
        axis = ax.xaxis if which == "x" else ax.yaxis
        values = pd.to_numeric(runs[key], errors="coerce").dropna().to_numpy()
        written = (grid or {}).get(key)
        written = written if isinstance(written, Mapping) else {}
        logged = bool({"loguniform", "logspace"} & set(written))
        if len(values) and values.min() > 0 and (logged or _spans_decades(values)):
            (ax.set_xscale if which == "x" else ax.set_yscale)("log")
            axis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt(v)))
            axis.set_minor_formatter(NullFormatter())
        span = written.get("loguniform") or written.get("uniform")
        if span:  # the sampled range, so that panels and reruns compare
            lo, hi = (float(v) for v in span)
            pad = (hi / lo) ** 0.04 if logged else 0.04 * (hi - lo)
            (ax.set_xlim if which == "x" else ax.set_ylim)(
                (lo / pad, hi * pad) if logged else (lo - pad, hi + pad)
            )
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    return points


def _spans_decades(values: np.ndarray) -> bool:
    return len(values) > 1 and (values.max() / values.min() >= 30 or is_log_spaced(values))


def phase_scatter(
    runs: pd.DataFrame, x: str, y: str, facets: Sequence[str], grid: Mapping[str, Any]
) -> Figure:
    """The scatter phase diagram, one panel per combination of the facet axes' values."""
    levels = [list(dict.fromkeys(runs[f].map(canon))) for f in facets]
    combos = list(product(*levels))
    ncols = min(len(combos), 4)
    nrows = math.ceil(len(combos) / ncols)
    fig = Figure(figsize=(ncols * 3.4, nrows * 3.0 + 1.2), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axes[len(combos) :]:
        ax.set_visible(False)
    drawn = []  # the points of every panel, for the legend
    for ax, combo in zip(axes, combos, strict=False):
        mask = np.ones(len(runs), dtype=bool)
        for key, value in zip(facets, combo, strict=True):
            mask &= (runs[key].map(canon) == value).to_numpy()
        panel = runs.loc[mask]
        if refined(runs):  # the initial grid as squares, the refinement rounds' points as dots
            first = (panel[REFINE_ROUND] == 0).to_numpy()
            drawn.append(scatter_panel(ax, panel.loc[first], x, y, grid, marker="s", size=36))
            drawn.append(scatter_panel(ax, panel.loc[~first], x, y, grid, size=14))
        else:
            drawn.append(scatter_panel(ax, panel, x, y, grid))
        if facets:
            text = ", ".join(f"{short(k)} = {v}" for k, v in zip(facets, combo, strict=True))
            ax.set_title(text, fontsize="small", fontweight="normal")
    points = pd.concat([d for d in drawn if len(d)]) if any(len(d) for d in drawn) else None
    if points is None:
        points = pd.DataFrame({"phase": [], "k": [], "n": []})
    shown = set(points["phase"])
    handles: list[Artist] = [
        Line2D([], [], ls="", marker="o", color=PHASE_COLORS[ph], label=ph)
        for ph in PHASES
        if ph in shown
    ]
    if (points["k"] < points["n"]).any():
        handles.append(split_handle("paler: seeds split"))
    if refined(runs):
        handles += [
            Line2D([], [], ls="", marker="s", color="0.6", label="initial grid"),
            Line2D([], [], ls="", marker="o", ms=4, color="0.6", label="refined"),
        ]
    ncol = max(2, min(len(handles), int(fig.get_figwidth() / 1.45)))
    fig.legend(handles=handles, loc="outside lower center", ncol=ncol, frameon=False)
    kind = "refined" if refined(runs) else "sampled"
    title(fig, f"Phase diagram ({kind} points)", runs)
    return fig
