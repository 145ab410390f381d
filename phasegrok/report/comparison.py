"""The published diagram beside phasegrok's (`compare__<x>__<y>.png`), and its gallery section.

Both sides are drawn by the axes-level functions of `diagrams` on the same `GridAxis` pair, so
cells, scales and phase colours are the same; further compared axes become rows. A reference
without `phase` draws its first numeric target as maps with one colour scale.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from phasegrok.analysis.classify import PHASE_COLORS
from phasegrok.config.schema import PHASES
from phasegrok.report.diagrams import hatch_handle, phase_panel
from phasegrok.report.grid import label, make_axis, safe_name, set_axis, short
from phasegrok.report.maps import MAPS, MapSpec, cell_medians, map_cells, map_cmap, map_norm
from phasegrok.report.style import save, theme

COMPARE_TEXT = "compare.txt"  # the printed agreement table, shown in the gallery
START, END = "<!-- compare -->", "<!-- /compare -->"
FLAT = "_"  # a one-value axis where fewer than two axes vary
CAPTION = (
    "Left: the published outcome (the reference table: the authors' data or a figure); right: "
    "phasegrok's runs of the same cells, on the same axes and in the same phase colours "
    "(majority over seeds, k/n where seeds split). The agreement table is below."
)


def figure_name(axes: Sequence[str]) -> str:
    """compare__<x>__<y>.png (compare__<x>.png for one axis, compare.png for none)."""
    return "__".join(["compare", *(safe_name(a) for a in axes)]) + ".png"


def layout(keys: Sequence[str], runs: pd.DataFrame, preferred: Sequence[tuple[str, str]]):
    """(x, y, facets) over the compared keys that vary; `preferred` (the sweep's plots) first."""
    vary = [k for k in keys if runs[k].astype(str).nunique() > 1]
    for x, y in preferred:
        if x in vary and y in vary and x != y:
            return x, y, [k for k in vary if k not in (x, y)]
    x, y = (vary + [FLAT, FLAT])[:2]
    return x, y, vary[2:]


def compare_figure(
    runs: pd.DataFrame,
    ref: pd.DataFrame,
    keys: Sequence[str],
    target: str,
    preferred: Sequence[tuple[str, str]] = (),
    grid: dict[str, Any] | None = None,
    source: str = "published",
) -> tuple[Figure, list[str]]:
    """Published (left) and phasegrok (right) cells of `target` (`phase` or a numeric column);
    `ref` holds one row per published seed (counts expanded). Returns (figure, axes drawn)."""
    runs, ref = runs.assign(**{FLAT: ""}), ref.assign(**{FLAT: ""})
    x, y, facets = layout(keys, runs, preferred)
    xa, ya = make_axis(runs, x, grid), make_axis(runs, y, grid)
    fas = [make_axis(runs, f, grid) for f in facets]
    combos = list(product(*(range(fa.n) for fa in fas)))
    w = float(np.clip(0.3 * xa.n + 1.3, 2.4, 4.4))
    h = float(np.clip(0.28 * ya.n + 1.0, 1.5, 3.8))
    fig = Figure(figsize=(2 * w + 0.6, len(combos) * h + 1.3), layout="constrained")
    grid_axes = fig.subplots(len(combos), 2, sharex=True, sharey=True, squeeze=False)
    spec = next((m for m in MAPS if m.column == target), None) or MapSpec(
        target, target, f"{target}, median over seeds", target in ("t_fit", "t_gen", "grok_delay")
    )
    norm = None
    if target != "phase":
        both = [cell_medians(frame, spec, xa, ya) for frame in (ref, runs)]
        every = np.concatenate([b.ravel() for b in both])
        norm = map_norm(spec, every[np.isfinite(every)], runs)
    any_still = False
    for row, combo in enumerate(combos):
        facet_title = ", ".join(
            f"{short(fa.key)} = {fa.labels()[i]}" for fa, i in zip(fas, combo, strict=True)
        )
        for col, (frame, head) in enumerate(((ref, source), (runs, "phasegrok"))):
            ax = grid_axes[row, col]
            mask = np.ones(len(frame), dtype=bool)
            for fa, i in zip(fas, combo, strict=True):
                mask &= fa.codes(frame[fa.key]) == i
            sub = frame.loc[mask]
            set_axis(ax, xa, "x", show_label=row == len(combos) - 1 and x != FLAT)
            set_axis(ax, ya, "y", show_label=col == 0 and y != FLAT)
            if target == "phase":
                any_still |= phase_panel(ax, sub, x, y, axes=(xa, ya)) and col == 1
            else:
                assert norm is not None  # set above for every target but the phase
                map_cells(ax, cell_medians(sub, spec, xa, ya), (xa, ya), norm, map_cmap(spec))
            ax.set_title(f"{head}" + (f"\n{facet_title}" if facet_title else ""), fontsize="small")
    if target == "phase":
        handles = [Patch(facecolor=PHASE_COLORS[p], edgecolor="none", label=p) for p in PHASES]
        handles += [hatch_handle()] if any_still else []
        fig.legend(handles=handles, loc="outside lower center", ncol=4, frameon=False)
    else:
        import matplotlib as mpl

        sm = mpl.cm.ScalarMappable(norm=norm, cmap=map_cmap(spec))
        fig.colorbar(sm, ax=list(grid_axes.ravel()), label=spec.colorbar, shrink=0.9)
    what = "phase" if target == "phase" else label(target)
    fig.suptitle(f"{source} vs phasegrok: {what}", fontweight="bold")
    drawn = [k for k in (x, y) if k != FLAT]
    return fig, drawn


def draw_comparison(
    out_dir: Path,
    runs: pd.DataFrame,
    ref: pd.DataFrame,
    keys: Sequence[str],
    target: str,
    preferred: Sequence[tuple[str, str]] = (),
    grid: dict[str, Any] | None = None,
    source: str = "published",
) -> Path:
    """Draw `compare_figure` into `out_dir`; return the written PNG."""
    with theme():
        fig, drawn = compare_figure(runs, ref, keys, target, preferred, grid, source)
        return save(fig, out_dir / figure_name(drawn))


def comparison_section(results_dir: Path) -> str:
    """The gallery's "Comparison" section (between markers): every compare__*.png of the
    folder and the last agreement table; empty when there is none."""
    figures = sorted(results_dir.glob("compare*.png"))
    if not figures:
        return ""
    body = "\n".join(
        f"<figure id='{html.escape(p.stem)}'><a href='{html.escape(p.name)}'>"
        f"<img src='{html.escape(p.name)}' alt='{html.escape(p.stem)}'></a>"
        f"<figcaption><b>{html.escape(p.name)}</b>. {html.escape(CAPTION)}</figcaption></figure>"
        for p in figures
    )
    text = results_dir / COMPARE_TEXT
    table = f"<pre>{html.escape(text.read_text())}</pre>" if text.exists() else ""
    return (
        f"{START}\n<h2 id='comparison'>Comparison with the published results</h2>\n"
        f"{body}\n{table}\n{END}\n"
    )


def with_section(page: str, section: str) -> str:
    """`page` (index.html) with its comparison section replaced by `section`, or inserted
    before the Figures heading."""
    if START in page and END in page:
        head, rest = page.split(START, 1)
        return head + section + rest.split(END, 1)[1].lstrip("\n")
    marker = "<h2>Figures</h2>"
    if marker in page:
        return page.replace(marker, section + marker, 1)
    return page.replace("</body>", section + "</body>", 1)
