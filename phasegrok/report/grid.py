"""Grid axes of the figures: labels, value formats, scales, facets.

`make_axis` orders and scales one hyperparameter's values (log where log-spaced, linear where
evenly spaced, categorical otherwise); `grid_keys` and `plot_pairs` choose the diagrams' axes;
`facet_panels` lays out one panel per combination of the remaining grid axes. A key's axis
label and short name are declared on its schema field (`config.schema.Doc`).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from itertools import product
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from phasegrok.analysis.classify import CLASS_COLUMNS
from phasegrok.config.axes import declared_scale
from phasegrok.config.schema import RUN_KEYS, doc


def label(key: str) -> str:
    """Human axis label (with units) for a dotted hyperparameter key."""
    declared = doc(key) if key in RUN_KEYS else None
    if declared is not None and declared.label:
        return declared.label
    return "seed" if key == "seed" else key


def short(key: str) -> str:
    """Short name of a key for panel titles and legends: 'wd', 'frac'."""
    declared = doc(key) if key in RUN_KEYS else None
    if declared is not None and declared.short:
        return declared.short
    return key.rsplit(".", 1)[-1]


def sci_text(v: float) -> str:
    """Scientific notation without padding: 1e-3, 2.5e-4."""
    mantissa, exponent = f"{v:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"1e{int(exponent)}" if mantissa == "1" else f"{mantissa}e{int(exponent)}"


def fmt(value: Any, sci: bool = False) -> str:
    """Compact tick label: 1e-3, 3e-4, 0.25, 97, [128]; `sci` forces 1e-1 over 0.1."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        return str(value)
    v = float(value)
    if not math.isfinite(v) or v == 0:
        return f"{v:g}"
    if v.is_integer() and abs(v) < 1e5:
        return str(int(v))
    if sci or not 1e-2 <= abs(v) < 1e5:
        return sci_text(v)
    return f"{v:.3g}" if abs(v) < 1e3 else f"{v:.0f}"


# --------------------------------------------------------------------------------------------
# Axes


def is_log_spaced(values: npt.ArrayLike) -> bool:
    """All positive with roughly constant ratios (and a real spread), e.g. 1e-4, 3e-4, 1e-3."""
    v = np.unique(np.asarray(values, dtype=float))
    if len(v) < 2 or not np.isfinite(v).all() or (v <= 0).any():
        return False
    if len(v) == 2:
        return v[1] / v[0] >= 10
    steps = np.diff(np.log(v))
    return bool(v[-1] / v[0] >= 4 and steps.max() <= 1.6 * steps.min())


def is_number(v: Any) -> bool:
    """A real number (bools are not)."""
    return isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_)


def evenly_spaced(v: np.ndarray) -> bool:
    """Sorted values with steps equal within 10% (or at most two values)."""
    d = np.diff(v)
    return len(v) <= 2 or bool(d.max() <= 1.1 * d.min())


def canon(value: Any) -> str:
    """One spelling per value, so "[128]" in runs.parquet matches [128] in sweep.yaml."""
    if isinstance(value, str):
        with suppress(ValueError):
            value = json.loads(value)
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True)
class GridAxis:
    """One axis of a diagram: its ordered values and how to scale it."""

    key: str
    values: tuple[Any, ...]
    scale: str  # "log" | "linear" | "category"

    @property
    def n(self) -> int:
        return len(self.values)

    def labels(self) -> list[str]:
        """Formatted values, in one notation per axis (1e-3 next to 0.01 reads as a typo)."""
        numbers = [abs(float(v)) for v in self.values if is_number(v) and v != 0]
        sci = (
            len(numbers) == len(self.values) - (0 in self.values) and min(numbers, default=1) < 1e-2
        )
        return [fmt(v, sci) for v in self.values]

    def centers(self) -> np.ndarray:
        if self.scale == "category":
            return np.arange(self.n, dtype=float)
        return np.asarray(self.values, dtype=float)

    def edges(self) -> np.ndarray:
        c = np.log(self.centers()) if self.scale == "log" else self.centers()
        if self.n == 1:
            e = np.array([c[0] - 0.5, c[0] + 0.5])
        else:
            mid = (c[1:] + c[:-1]) / 2
            e = np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])
        return np.exp(e) if self.scale == "log" else e

    def codes(self, column: pd.Series) -> np.ndarray:
        """Index of each row's value on this axis (-1 when absent)."""
        if self.scale == "category":
            index = pd.Index([canon(v) for v in self.values])
            return index.get_indexer(pd.Index([canon(v) for v in column]))
        return pd.Index(np.asarray(self.values, dtype=float)).get_indexer(
            column.to_numpy(dtype=float)
        )


def make_axis(runs: pd.DataFrame, key: str, grid: Mapping[str, Any] | None = None) -> GridAxis:
    """Axis of `key` from the values present in `runs`, ordered as the grid lists them; its
    scale is the one the sweep's `grid` declares (`logspace`: log), else read off the values."""
    col = runs[key]
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    if numeric and key != "seed":
        v = np.unique(col.dropna().to_numpy(dtype=float))
        v = v[np.isfinite(v)]
        declared = declared_scale((grid or {}).get(key))  # the sweep file's word, first
        if declared is not None and len(v) >= 2 and (declared == "linear" or (v > 0).all()):
            scale = declared
        elif len(v) >= 2 and evenly_spaced(v) and not (len(v) == 2 and is_log_spaced(v)):
            scale = "linear"
        elif is_log_spaced(v):
            scale = "log"
        else:
            scale = "category"
        as_int = pd.api.types.is_integer_dtype(col)
        return GridAxis(key, tuple(int(x) if as_int else float(x) for x in v), scale)
    present = list(dict.fromkeys(col.dropna().tolist()))
    order = {canon(v): i for i, v in enumerate((grid or {}).get(key) or [])}
    present.sort(key=lambda v: (order.get(canon(v), len(order)), str(v)))
    if numeric:  # seeds: sorted, but each seed its own cell
        present.sort()
    return GridAxis(key, tuple(present), "category")


# Columns the sweep writes about a run's batch or outcome: never grid axes, even when they vary.
OUTPUT_COLUMNS = (
    "batch_id",
    "batch_wall_time",
    "batch_compile_time",
    "key_frequencies",
    "readout_key_frequencies",
    "key_frequency_overlap",
    "units_per_frequency",
)


def grid_keys(spec: Mapping[str, Any], runs: pd.DataFrame) -> list[str]:
    """The swept axes present in `runs`: the spec's grid keys, else columns that vary."""
    if "grid" in spec:
        keys = list(spec.get("grid") or {})
        absent = [k for k in keys if k not in runs.columns]
        if absent:
            warnings.warn(f"grid axes missing from runs: {', '.join(absent)}", stacklevel=2)
        return [k for k in keys if k in runs.columns]
    skip = {"run_id", "seed", "n_classes", *CLASS_COLUMNS}
    return [
        c
        for c in runs.columns
        if c not in skip
        and not c.startswith(("final_", "best_"))
        and c not in OUTPUT_COLUMNS
        and varies(runs[c])
    ]


def varies(col: pd.Series) -> bool:
    """Whether a column holds more than one value."""
    try:
        return col.nunique(dropna=True) > 1
    except TypeError:  # list cells (key_frequencies): an output, never a grid axis
        return False


def plot_pairs(spec: Mapping[str, Any], keys: Sequence[str]) -> list[tuple[str, str]]:
    """(x, y) of each diagram: the `plots:` entries, else the first two grid axes."""
    pairs = [(p["x"], p["y"]) for p in spec.get("plots") or []]
    if pairs:
        return pairs
    if len(keys) >= 2:
        return [(keys[0], keys[1])]
    if len(keys) == 1:
        return [(keys[0], "seed")]
    return []


def safe_name(key: str) -> str:
    """A key or run id as a file-name part."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)


def set_axis(ax: Any, axis: GridAxis, which: str, show_label: bool = True) -> None:
    """Scale, limits, ticks at the grid values and label of the x or y axis of `ax`."""
    set_scale = ax.set_xscale if which == "x" else ax.set_yscale
    set_lim = ax.set_xlim if which == "x" else ax.set_ylim
    target = ax.xaxis if which == "x" else ax.yaxis
    set_scale("log" if axis.scale == "log" else "linear")
    e = axis.edges()
    set_lim(e[0], e[-1])
    if axis.scale == "category" or axis.n <= 10:
        # Ticks at the grid values themselves: the reader sees exactly what was swept.
        keep = np.arange(axis.n)[:: max(1, math.ceil(axis.n / 12))]
        labels = [axis.labels()[i] for i in keep]
        target.set_major_locator(FixedLocator(axis.centers()[keep].tolist()))
        target.set_ticklabels(labels)
        target.set_minor_locator(NullLocator())
        if which == "x" and (len(keep) > 6 or max(map(len, labels), default=0) > 5):
            for t in ax.get_xticklabels():
                t.set_rotation(40)
                t.set_ha("right")
    if show_label:
        (ax.set_xlabel if which == "x" else ax.set_ylabel)(label(axis.key))


@dataclass
class Panels:
    """A faceted figure: its panels (row-major), each panel's row mask and title, its axes."""

    fig: Figure
    axes: list[Any]  # one per facet panel, row-major
    masks: list[np.ndarray]
    titles: list[str]
    xa: GridAxis
    ya: GridAxis
    nrows: int
    ncols: int


def facet_panels(
    runs: pd.DataFrame, x: str, y: str, facets: list[str], grid: Mapping[str, Any], extra_w: float
) -> Panels:
    xa, ya = make_axis(runs, x, grid), make_axis(runs, y, grid)
    fas = [make_axis(runs, f, grid) for f in facets]
    combos: list[tuple[int, ...]]
    if len(fas) == 2:
        combos = list(product(range(fas[0].n), range(fas[1].n)))
        nrows, ncols = fas[0].n, fas[1].n
    else:
        if fas:
            codes = np.stack([fa.codes(runs[fa.key]) for fa in fas], axis=1)
            combos = sorted(set(map(tuple, codes.tolist())))
        else:
            combos = [()]
        ncols = min(len(combos), 4)
        nrows = math.ceil(len(combos) / ncols)
    all_codes = [fa.codes(runs[fa.key]) for fa in fas]
    masks, titles = [], []
    for combo in combos:
        mask = np.ones(len(runs), dtype=bool)
        for codes, i in zip(all_codes, combo, strict=True):
            mask &= codes == i
        masks.append(mask)
        titles.append(
            ", ".join(
                f"{short(fa.key)} = {fa.labels()[i]}" for fa, i in zip(fas, combo, strict=True)
            )
        )
    w = float(np.clip(0.3 * xa.n + 1.1, 2.3, 4.2))
    h = float(np.clip(0.28 * ya.n + 1.0, 1.9, 3.8))
    fig = Figure(figsize=(ncols * w + extra_w, nrows * h + 1.2), layout="constrained")
    grid_axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    axes = list(grid_axes.ravel())
    for ax in axes[len(combos) :]:
        ax.set_visible(False)
    for k, ax in enumerate(axes[: len(combos)]):
        r, c = divmod(k, ncols)
        set_axis(ax, xa, "x", show_label=r == nrows - 1 or k + ncols >= len(combos))
        set_axis(ax, ya, "y", show_label=c == 0)
        if titles[k]:
            ax.set_title(titles[k], fontsize="small", fontweight="normal")
    return Panels(fig, axes[: len(combos)], masks, titles, xa, ya, nrows, ncols)


def _cell_index(sub: pd.DataFrame, xa: GridAxis, ya: GridAxis) -> pd.DataFrame:
    ix, iy = xa.codes(sub[xa.key]), ya.codes(sub[ya.key])
    keep = (ix >= 0) & (iy >= 0)
    return sub.loc[keep].assign(_ix=ix[keep], _iy=iy[keep])


def cell_rows(cells: pd.DataFrame) -> Iterator[tuple[int, int, pd.Series]]:
    """(ix, iy, row) of each row of a frame indexed by grid cell (ix, iy), in order."""
    for key, row in cells.iterrows():
        i, j = cast(tuple[int, int], key)  # pandas types a row's label as any Hashable
        yield i, j, row


def cell_index(sub: pd.DataFrame, xa: GridAxis, ya: GridAxis) -> pd.DataFrame:
    """The rows of `sub` on the (xa, ya) grid, with their cell's column `ix` and row `iy`."""
    ix, iy = xa.codes(sub[xa.key]), ya.codes(sub[ya.key])
    keep = (ix >= 0) & (iy >= 0)
    return sub.loc[keep].assign(ix=ix[keep], iy=iy[keep])
