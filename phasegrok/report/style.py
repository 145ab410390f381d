"""The report's look and its file output: theme, titles, saving."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from phasegrok.report.grid import fmt
from phasegrok.store.folder import atomic_write
from phasegrok.tasks import TASKS, unread_keys

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType  # rc keys as the stubs name them

DPI = 200


# seaborn's "ticks" style in its "paper" context (`sns.axes_style("ticks")` and
# `sns.plotting_context("paper")`), frozen here: importing seaborn (and scipy with it) costs
# 1-3 s, half of a small sweep's redraw. tests/test_plots.py checks it against seaborn.
SEABORN_PAPER_TICKS: dict[RcKeyType, Any] = {
    "figure.facecolor": "white",
    "axes.labelcolor": ".15",
    "xtick.direction": "out",
    "ytick.direction": "out",
    "xtick.color": ".15",
    "ytick.color": ".15",
    "axes.axisbelow": True,
    "grid.linestyle": "-",
    "text.color": ".15",
    "font.family": ["sans-serif"],
    "font.sans-serif": [
        "Arial",
        "DejaVu Sans",
        "Liberation Sans",
        "Bitstream Vera Sans",
        "sans-serif",
    ],
    "lines.solid_capstyle": "round",
    "patch.edgecolor": "w",
    "patch.force_edgecolor": True,
    "image.cmap": "viridis",
    "xtick.top": False,
    "ytick.right": False,
    "axes.grid": False,
    "axes.facecolor": "white",
    "axes.edgecolor": ".15",
    "grid.color": ".8",
    "axes.spines.left": True,
    "axes.spines.bottom": True,
    "axes.spines.right": True,
    "axes.spines.top": True,
    "xtick.bottom": True,
    "ytick.left": True,
    "axes.linewidth": 1.0,
    "grid.linewidth": 0.8,
    "lines.linewidth": 1.2,
    "lines.markersize": 4.8,
    "patch.linewidth": 0.8,
    "xtick.major.width": 1.0,
    "ytick.major.width": 1.0,
    "xtick.minor.width": 0.8,
    "ytick.minor.width": 0.8,
    "xtick.major.size": 4.8,
    "ytick.major.size": 4.8,
    "xtick.minor.size": 3.2,
    "ytick.minor.size": 3.2,
    "font.size": 9.6,
    "axes.labelsize": 9.6,
    "axes.titlesize": 9.6,
    "xtick.labelsize": 8.8,
    "ytick.labelsize": 8.8,
    "legend.fontsize": 8.8,
    "legend.title_fontsize": 9.6,
}


def theme_rc() -> dict[RcKeyType, Any]:
    """The report's matplotlib settings: seaborn's paper ticks, bold titles, our resolution."""
    return {
        **SEABORN_PAPER_TICKS,
        "savefig.dpi": DPI,
        "figure.dpi": 100,
        "axes.titleweight": "bold",
    }


@contextmanager
def theme() -> Iterator[None]:
    """Draw in the report's theme; pyplot's global settings are left as they were."""
    with mpl.rc_context(theme_rc()):
        yield


def save(fig: Figure, path: Path) -> Path:
    """Write `fig` as a PNG (atomically: a reader never sees half a file); return `path`.

    zlib level 1: the same pixels as the default level 6, ~6% less drawing time, ~1.3x the bytes.
    """
    png = {"compress_level": 1}
    atomic_write(
        path, lambda f: fig.savefig(f, format="png", dpi=DPI, facecolor="white", pil_kwargs=png)
    )
    return path


def describe(runs: pd.DataFrame) -> str:
    """Fixed settings shared by every run, for titles: 'modular, add, p=97, 5000 steps'."""
    kinds = set(runs["task.kind"].dropna()) if "task.kind" in runs.columns else set()
    # Keys that mean nothing for the task at hand (p for parity, n and k for modular).
    unread = [unread_keys(k) for k in kinds if k in TASKS]
    skip = set.intersection(*map(set, unread)) if unread else set()
    parts = []
    for key, show in (
        ("task.kind", "{}"),
        ("task.op", "{}"),
        ("task.p", "p={}"),
        ("task.n_bits", "n={}"),
        ("task.k", "k={}"),
        ("loss", "{}"),
        ("train.steps", "{} steps"),
    ):
        if key not in skip and key in runs.columns and runs[key].nunique(dropna=True) == 1:
            parts.append(show.format(fmt(runs[key].iloc[0])).replace("_", "-"))
    if "seed" in runs.columns:
        n = runs["seed"].nunique()
        parts.append(f"{n} seed{'s' * (n != 1)}")
    return ", ".join(parts)


def title(fig: Figure, head: str, runs: pd.DataFrame, fixed: bool = False) -> int:
    """Bold heading over a wrapped line of the sweep's fixed settings, fitting the width.

    Returns the number of text lines. `fixed`: placed `TITLE_PAD` inches below the top edge,
    for a `fixed_layout` whose `top` is `title_height(lines)` or more.
    """
    width = max(30, int(fig.get_figwidth() * 13))
    # No-break spaces inside each item, so lines break only between items ("1 seed" stays).
    items = [item.replace(" ", "\u00a0") for item in describe(runs).split(", ")]
    sub = textwrap.fill(", ".join(items), width, break_on_hyphens=False)
    head = textwrap.fill(head, width, break_on_hyphens=False)
    text = f"{head}\n{sub}" if sub else head
    if fixed:
        fig.suptitle(text, fontsize="medium", y=1 - TITLE_PAD / fig.get_figheight(), va="top")
    else:
        fig.suptitle(text, fontsize="medium")
    return text.count("\n") + 1


TITLE_PAD = 0.06  # inches above the suptitle
TITLE_LINE = 0.19  # inches per suptitle line (9.6 pt bold at 1.2 line spacing, and a gap)


def title_height(lines: int) -> float:
    """Inches that a suptitle of `lines` lines takes at the top of a figure."""
    return TITLE_PAD + TITLE_LINE * lines


def fixed_layout(
    fig: Figure,
    *,
    left: float,
    right: float,
    top: float,
    bottom: float,
    wspace: float = 0.0,
    hspace: float = 0.0,
) -> None:
    """Place a figure's grid of subplots with fixed margins and gaps, all in inches.

    For figures whose content has a known size (the per-run lens figures): constrained layout
    costs a second pass over every artist when the figure is saved, a quarter of such a
    figure's time; fixed margins need none. Call it before adding a colorbar (which then
    takes its room from the placed axes).
    """
    fig.set_layout_engine("none")
    width, height = fig.get_size_inches()
    subplot = fig.axes[0].get_subplotspec()
    assert subplot is not None  # a figure of subplots
    spec = subplot.get_gridspec()
    nrows, ncols = spec.get_geometry()
    cell_w = (width - left - right - wspace * (ncols - 1)) / ncols
    cell_h = (height - top - bottom - hspace * (nrows - 1)) / nrows
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=wspace / cell_w,
        hspace=hspace / cell_h,
    )
