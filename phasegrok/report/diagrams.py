"""Phase diagrams and metric maps: axes-level functions, and the faceted figures built on them.

The axes-level functions take an `ax` and a frame of runs, as seaborn's do, so a notebook can
put a phase diagram into its own figure:

    fig, ax = plt.subplots()
    phase_panel(ax, results.runs, "optimizer.weight_decay", "data.train_fraction")

`cell_phases` and `cell_medians` are the data behind the cells (the tests read them back from
the drawn artists). `phase_diagram` and `metric_map` facet the remaining grid axes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from phasegrok.analysis.classify import PHASE_COLORS
from phasegrok.config.schema import PHASES
from phasegrok.report.grid import (
    GridAxis,
    cell_index,
    cell_rows,
    facet_panels,
    make_axis,
    set_axis,
)
from phasegrok.report.style import title

NEVER_COLOR = "#BDBDBD"
HATCH = "////"
PARTIAL_MARKER = "D"  # the partial-generalization mark, a diamond at the right of a cell
PARTIAL_GID = "partial_generalization"  # the gid of its Line2D artists (one per panel)
SPLIT_GREY = "#5A5A5A"  # the legend's example of a split cell, shaded as `shade` does
MARK_COLUMN = 1.9  # inches the legend's column of marks takes


def draw_cells(
    ax: Any,
    xa: GridAxis,
    ya: GridAxis,
    rgba: np.ndarray,
    texts: dict[tuple[int, int], str],
    hatched: set[tuple[int, int]],
) -> None:
    """Paint an (ny, nx, 4) colour grid, write `texts` in cells, hatch `hatched` cells.

    The colours are one `QuadMesh` (`ax.collections[0]`, face colours row-major from the bottom
    row); each hatched cell one `Rectangle` patch with hatch `HATCH`.
    """
    xe, ye = xa.edges(), ya.edges()
    ax.pcolormesh(xe, ye, rgba, shading="flat", edgecolors="white", linewidth=0.6)
    xc, yc = xa.centers(), ya.centers()
    small = xa.n * ya.n > 64
    for (i, j), text in texts.items():
        r, g, b, _ = rgba[j, i]
        dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
        ax.text(
            xc[i],
            yc[j],
            text,
            ha="center",
            va="center",
            fontsize=5 if small else 6.5,
            color="white" if dark else "0.1",
        )
    for i, j in hatched:
        ax.add_patch(
            Rectangle(
                (xe[i], ye[j]),
                xe[i + 1] - xe[i],
                ye[j + 1] - ye[j],
                fill=False,
                hatch=HATCH,
                edgecolor=(0, 0, 0, 0.45),
                linewidth=0,
            )
        )


def hatch_handle() -> Patch:
    """Legend entry of the hatching."""
    return Patch(
        facecolor="white", edgecolor=(0, 0, 0, 0.6), hatch=HATCH, label="still learning (a seed)"
    )


def split_handle(text: str = "k/n: seeds in the majority\nphase; paler where split") -> Patch:
    """Legend entry of the split cells (paler colour, and the k/n vote count in a cell)."""
    # matplotlib takes an RGBA array, which its stubs' colour type leaves out
    return Patch(facecolor=shade(SPLIT_GREY, 0.5), edgecolor="none", label=text)  # type: ignore[arg-type]


def partial_handle() -> Line2D:
    """Legend entry of the partial-generalization mark."""
    return Line2D(
        [],
        [],
        ls="",
        marker=PARTIAL_MARKER,
        ms=4.5,
        markerfacecolor="white",
        markeredgecolor="0.1",
        markeredgewidth=0.8,
        label="partial generalization\n(most seeds)",
    )


def inside(axis: GridAxis, i: int, frac: float) -> float:
    """A point `frac` of the way across cell `i` of `axis`, in the axis's own scale."""
    lo, hi = axis.edges()[i : i + 2]
    if axis.scale == "log":
        return float(np.exp(np.log(lo) + frac * (np.log(hi) - np.log(lo))))
    return float(lo + frac * (hi - lo))


def mark_partial(ax: Any, xa: GridAxis, ya: GridAxis, cells: set[tuple[int, int]]) -> None:
    """A white diamond at the right end of each of `cells` (one Line2D, gid
    `PARTIAL_GID`): most of the cell's seeds generalized partially."""
    if not cells:
        return
    ordered = sorted(cells)
    small = xa.n * ya.n > 64
    ax.plot(
        [inside(xa, i, 0.87) for i, _ in ordered],
        [inside(ya, j, 0.5) for _, j in ordered],
        ls="",
        marker=PARTIAL_MARKER,
        ms=3.2 if small else 4.5,
        markerfacecolor="white",
        markeredgecolor="0.1",
        markeredgewidth=0.8,
        gid=PARTIAL_GID,
    )


def still_cells(cells: pd.DataFrame) -> set[tuple[int, int]]:
    """(ix, iy) of the cells (`grid.cell_index`) where some run was still learning."""
    if "still_learning" not in cells.columns:
        return set()
    hit = cells.loc[cells["still_learning"].astype(bool), ["ix", "iy"]]
    return set(map(tuple, hit.to_numpy().tolist()))


# --------------------------------------------------------------------------------------------
# Phase diagram


def majority(cells: pd.DataFrame) -> pd.DataFrame:
    """Per (ix, iy) cell: majority phase, its count k and the cell's run count n.

    Ties go to the phase listed first in PHASES; the k/n label shows the split anyway.
    """
    counts = cells.pivot_table(
        index=["ix", "iy"], columns="phase", aggfunc="size", fill_value=0, observed=True
    ).reindex(columns=list(PHASES), fill_value=0)
    values = counts.to_numpy()
    return pd.DataFrame(
        {
            "phase": np.asarray(PHASES)[values.argmax(axis=1)],
            "k": values.max(axis=1),
            "n": values.sum(axis=1),
        },
        index=counts.index,
    )


def cell_phases(runs: pd.DataFrame, xa: GridAxis, ya: GridAxis) -> pd.DataFrame:
    """`majority` of the runs on the (xa, ya) grid, plus `still` (some run still learning) and
    `partial` (more than half of the cell's runs have `partial_generalization`; False where
    runs lack the column)."""
    cells = cell_index(runs, xa, ya)
    if not len(cells):
        return pd.DataFrame(columns=["phase", "k", "n", "still", "partial"])
    out = majority(cells)
    still = still_cells(cells)
    out = out.assign(still=[cell in still for cell in out.index])
    if "partial_generalization" not in cells.columns:
        return out.assign(partial=False)
    flagged = (
        cells["partial_generalization"]
        .fillna(False)
        .astype(bool)
        .groupby([cells["ix"], cells["iy"]])
        .sum()
    )
    return out.assign(partial=2 * flagged.reindex(out.index, fill_value=0) > out["n"])


def shade(color: str, agreement: float) -> np.ndarray:
    """Blend toward white: full colour when all seeds agree, pale for an even split."""
    strength = float(np.clip(0.35 + 1.3 * (agreement - 0.5), 0.35, 1.0))
    rgb = np.asarray(to_rgba(color)[:3])
    return np.append(1 - strength * (1 - rgb), 1.0)


def draw_phase_cells(ax: Any, runs: pd.DataFrame, xa: GridAxis, ya: GridAxis) -> pd.DataFrame:
    """Draw the `cell_phases` of `runs` on the (xa, ya) grid, already set on `ax`: colours,
    k/n counts of split and multi-seed cells, hatching, partial-generalization marks. Returns
    the cells (what the legend explains)."""
    cells = cell_phases(runs, xa, ya)
    rgba = np.zeros((ya.n, xa.n, 4))
    texts = {}
    for i, j, row in cell_rows(cells):
        rgba[j, i] = shade(PHASE_COLORS[row.phase], row.k / row.n)
        if row.n > 1:
            texts[(i, j)] = f"{row.k}/{row.n}"
    still = set(cells.index[cells["still"].astype(bool)]) if len(cells) else set()
    draw_cells(ax, xa, ya, rgba, texts if xa.n * ya.n <= 400 else {}, still)
    partial = set(cells.index[cells["partial"].astype(bool)]) if len(cells) else set()
    mark_partial(ax, xa, ya, partial)
    if not len(cells):
        ax.text(0.5, 0.5, "no runs", transform=ax.transAxes, ha="center", va="center")
    return cells


def phase_panel(
    ax: Any,
    runs: pd.DataFrame,
    x: str,
    y: str,
    grid: Mapping[str, Any] | None = None,
    axes: tuple[GridAxis, GridAxis] | None = None,
) -> bool:
    """Draw the majority phase of each grid cell of `runs` into `ax`; True if any is hatched.

    `axes`: the (x, y) grid axes, already set on `ax` (a faceted figure shares them); None:
    made from `runs` (ordered as `grid` lists the values) and set here.
    """
    if axes is None:
        axes = make_axis(runs, x, grid), make_axis(runs, y, grid)
        set_axis(ax, axes[0], "x")
        set_axis(ax, axes[1], "y")
    cells = draw_phase_cells(ax, runs, *axes)
    return bool(len(cells) and cells["still"].astype(bool).any())


def phase_handles(
    phases: set[str], split: bool = False, still: bool = False, partial: bool = False
) -> list[Patch | Line2D]:
    """Legend entries: the `phases` shown (in PHASES order), then the marks that appear."""
    handles: list[Patch | Line2D] = [
        Patch(facecolor=PHASE_COLORS[ph], edgecolor="none", label=ph)
        for ph in PHASES
        if ph in phases
    ]
    if split:
        handles.append(split_handle())
    if still:
        handles.append(hatch_handle())
    if partial:
        handles.append(partial_handle())
    return handles


def phase_legend(fig: Figure, phases: list[Any], marks: list[Any]) -> None:
    """One legend under the panels: the phases in the first columns, the marks (whose
    explanations are longer) in a last column of their own, blank entries padding the rest."""
    width = fig.get_figwidth()
    if not marks:
        columns, handles = max(2, min(len(phases), int(width / 1.45))), phases
    else:
        fits = max(1, int((width - MARK_COLUMN) / 1.3))  # phase columns beside the marks
        rows = max(math.ceil(len(phases) / fits), len(marks))
        n_phase = math.ceil(len(phases) / rows) if phases else 0
        blank = Line2D([], [], ls="", label=" ")
        handles = (
            phases
            + [blank] * (n_phase * rows - len(phases))
            + marks
            + [blank] * (rows - len(marks))
        )
        columns = n_phase + 1
    if handles:
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncol=columns,
            frameon=False,
            handlelength=1.2,
            columnspacing=1.0 if not marks else 0.8,
            fontsize=None if not marks else "small",  # the marks' column fits a narrow figure
        )


def phase_diagram(
    runs: pd.DataFrame, x: str, y: str, facets: Sequence[str], grid: Mapping[str, Any]
) -> Figure:
    """Majority phase per grid cell, one panel per combination of the facet axes.

    The legend lists the phases that colour a cell, and explains the marks present: split
    cells, hatching, the partial-generalization diamond.
    """
    p = facet_panels(runs, x, y, list(facets), grid, extra_w=0.0)
    drawn = [
        draw_phase_cells(ax, runs.loc[mask], p.xa, p.ya)
        for ax, mask in zip(p.axes, p.masks, strict=True)
    ]
    drawn = [c for c in drawn if len(c)]
    cells = pd.concat(drawn) if drawn else pd.DataFrame(columns=["phase", "k", "n", "still"])
    phases = phase_handles(set(cells["phase"]))
    marks = phase_handles(
        set(),
        split=bool((cells["k"] < cells["n"]).any()),
        still=bool(cells["still"].astype(bool).any()),
        partial=bool(cells.get("partial", pd.Series(dtype=bool)).astype(bool).any()),
    )
    phase_legend(p.fig, phases, marks)
    title(p.fig, "Phase diagram", runs)
    return p.fig
