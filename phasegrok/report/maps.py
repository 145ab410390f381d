"""Metric maps: one runs column over the grid's cells (median over seeds), axes-level
(`metric_panel(ax, ...)`) and as a faceted figure (`metric_map`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.colors import Colormap, LogNorm, Normalize, SymLogNorm, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from phasegrok.report.diagrams import NEVER_COLOR, draw_cells, hatch_handle, still_cells
from phasegrok.report.grid import GridAxis, cell_index, facet_panels, make_axis, set_axis
from phasegrok.report.style import title

# --------------------------------------------------------------------------------------------
# Metric maps


@dataclass(frozen=True)
class MapSpec:
    """One metric map: the runs column, its titles, colour scale and how to read NaN."""

    column: str
    title: str
    colorbar: str
    never_is_inf: bool  # missing values mean "never reached", drawn grey, not averaged away
    cmap: str | None = None  # default: viridis for final_test_acc, else viridis_r
    limits: tuple[float | None, float | None] | None = None  # linear scale; None: the data's
    reference: float | None = None  # a value marked by a dashed line on the colour bar


MAPS: tuple[MapSpec, ...] = (
    MapSpec("t_gen", "Steps to generalize", "t_gen, median over seeds (steps)", True),
    MapSpec("final_test_acc", "Final test accuracy", "test accuracy, median over seeds", False),
    MapSpec("grok_delay", "Grok delay", "t_gen − t_fit, median over seeds (steps)", True),
)


def eval_interval(runs: pd.DataFrame) -> float:
    """The smallest eval interval of the runs (the symlog scale's linear range), else 1."""
    if "train.eval_every" in runs.columns:
        v = pd.to_numeric(runs["train.eval_every"], errors="coerce").dropna()
        if len(v) and v.min() > 0:
            return float(v.min())
    return 1.0


def map_norm(m: MapSpec, finite: np.ndarray, runs: pd.DataFrame) -> Normalize:
    """Colour scale of a map over its finite medians: `m.limits`, else by column."""
    column = m.column
    if m.limits is not None:
        lo, hi = m.limits
        lo = float(finite.min()) if lo is None and len(finite) else float(lo or 0.0)
        hi = float(finite.max()) if hi is None and len(finite) else float(hi or lo + 1.0)
        return Normalize(lo, hi if hi > lo else lo + 1.0)
    if column == "final_test_acc":
        return Normalize(0.0, 1.0)
    if column == "t_gen":
        pos = finite[finite > 0]
        lo = float(pos.min()) if len(pos) else 1.0
        hi = float(pos.max()) if len(pos) else 10.0
        return LogNorm(lo, hi if hi > lo else lo * 10)
    lo = float(min(finite.min(), 0.0)) if len(finite) else 0.0
    hi = float(finite.max()) if len(finite) else 10.0
    return SymLogNorm(eval_interval(runs), vmin=lo, vmax=hi if hi > lo else lo + 10)


def cell_medians(runs: pd.DataFrame, m: MapSpec, xa: GridAxis, ya: GridAxis) -> np.ndarray:
    """(ny, nx) median over seeds of `m.column` per cell; NaN for an empty cell.

    pandas' median skips NaN; where `m.never_is_inf`, a missing value ("never reached") is +inf,
    which stays and wins when most seeds never got there.
    """
    values = pd.to_numeric(runs[m.column], errors="coerce").astype(float)
    if m.never_is_inf:
        values = values.fillna(np.inf)
    cells = cell_index(runs.assign(value=values.to_numpy()), xa, ya)
    table = cells.pivot_table(index="iy", columns="ix", values="value", aggfunc="median")
    table = table.reindex(index=range(ya.n), columns=range(xa.n))
    return table.to_numpy(dtype=float)


def map_cmap(m: MapSpec) -> Colormap:
    """The map's colour map: `m.cmap`, else viridis for accuracy, viridis_r for times."""
    return mpl.colormaps[m.cmap or ("viridis" if m.column == "final_test_acc" else "viridis_r")]


def map_cells(
    ax: Any,
    medians: np.ndarray,
    axes: tuple[GridAxis, GridAxis],
    norm: Normalize,
    cmap: Colormap,
    still: AbstractSet[tuple[int, int]] = frozenset(),
) -> bool:
    """Draw an (ny, nx) array of medians into `ax` (grey × where +inf); True if any is +inf."""
    xa, ya = axes
    rgba = np.zeros((ya.n, xa.n, 4))
    texts = {}
    never = np.isinf(medians)
    rgba[never] = to_rgba(NEVER_COLOR)
    for j, i in zip(*np.nonzero(never), strict=True):
        texts[(int(i), int(j))] = "×"
    ok = np.isfinite(medians)
    if ok.any():
        shown = medians[ok]
        if isinstance(norm, LogNorm):  # below the scale's floor (t_gen = 0): its lowest colour
            assert norm.vmin is not None  # `map_norm` sets the limits
            shown = np.maximum(shown, norm.vmin)
        rgba[ok] = cmap(norm(shown))
    draw_cells(ax, xa, ya, rgba, texts, set(still))
    return bool(never.any())


def metric_panel(
    ax: Any,
    runs: pd.DataFrame,
    m: MapSpec,
    x: str,
    y: str,
    grid: Mapping[str, Any] | None = None,
    norm: Normalize | None = None,
) -> Normalize:
    """Draw the median of `m.column` per grid cell of `runs` into `ax`; return the colour scale.

    Sets the axes from `runs` (ordered as `grid` lists the values); `norm` None: from the data.
    """
    xa, ya = make_axis(runs, x, grid), make_axis(runs, y, grid)
    set_axis(ax, xa, "x")
    set_axis(ax, ya, "y")
    med = cell_medians(runs, m, xa, ya)
    norm = norm or map_norm(m, med[np.isfinite(med)], runs)
    map_cells(ax, med, (xa, ya), norm, map_cmap(m), still_cells(cell_index(runs, xa, ya)))
    return norm


def metric_map(
    runs: pd.DataFrame,
    m: MapSpec,
    x: str,
    y: str,
    facets: Sequence[str],
    grid: Mapping[str, Any],
) -> Figure:
    """Median over seeds of `m.column` per grid cell, with one colour scale for all facets."""
    p = facet_panels(runs, x, y, list(facets), grid, extra_w=0.9)
    medians = [cell_medians(runs.loc[mask], m, p.xa, p.ya) for mask in p.masks]
    stills = [still_cells(cell_index(runs.loc[mask], p.xa, p.ya)) for mask in p.masks]
    every = np.concatenate([med.ravel() for med in medians]) if medians else np.array([])
    norm = map_norm(m, every[np.isfinite(every)], runs)
    cmap = map_cmap(m)
    any_never = False
    for ax, med, still in zip(p.axes, medians, stills, strict=True):
        any_never |= map_cells(ax, med, (p.xa, p.ya), norm, cmap, still)
    if np.isfinite(every).any():  # all "never": a colour bar would only show a made-up range
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
        cbar = p.fig.colorbar(sm, ax=p.axes, label=m.colorbar, shrink=0.9, aspect=25)
        lo, hi = norm.vmin, norm.vmax  # set by `map_norm`
        if (
            m.reference is not None
            and lo is not None
            and hi is not None
            and lo <= m.reference <= hi
        ):
            cbar.ax.axhline(m.reference, color="white", lw=2.6)
            cbar.ax.axhline(m.reference, color="0.1", lw=1.3, ls=(0, (2, 1)))
    handles = []
    if any_never:
        handles.append(Patch(facecolor=NEVER_COLOR, label="× never (median seed)"))
    if any(stills):
        handles.append(hatch_handle())
    if handles:
        p.fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    title(p.fig, m.title, runs)
    return p.fig
