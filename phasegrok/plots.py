"""Figures and the HTML gallery of a results folder, from its parquet files alone (no JAX).

`draw_all(DIR)` writes into DIR:

- ``phase__<x>__<y>.png``: phase diagram per `plots:` entry (default: the first two grid axes;
  one grid axis: that axis against seed). One cell per grid point, coloured by the majority
  phase over seeds; lighter colour and a ``k/n`` count for split votes; hatched where a seed was
  still learning when training stopped. Further grid axes become facets, never averaged.
- ``map_t_gen__<x>__<y>.png``, ``map_final_test_acc__<x>__<y>.png``,
  ``map_grok_delay__<x>__<y>.png``: medians over seeds on the same grid.
- ``curves.png``: train/test accuracy against step for a few runs of each phase.
- ``lu.png``: train and test loss against weight norm (Omnigrok's LU picture).
- The mechanistic lens (`phasegrok.lens_plots`), where runs.parquet has lens columns and the
  folder stored parameters: ``map_final_fourier_top_k_share__<x>__<y>.png`` and friends, and per
  run (one per phase, or `draw_all(..., lens_runs=[...])`) ``spectrum__<run_id>.png``,
  ``star__<run_id>.png``, ``lens_curve__<run_id>.png`` or, for parity, ``weights__<run_id>.png``.
- ``index.html``: every figure with a caption, phase counts and the sweep's settings.

Axes are log-scaled where the grid values are log-spaced, linear where evenly spaced, and
categorical (equal cells, labelled) otherwise. Figures are drawn on `matplotlib.figure.Figure`
objects with the Agg canvas, so importing this module never changes pyplot's backend.
"""

from __future__ import annotations

import html
import json
import math
import re
import textwrap
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import seaborn as sns
import yaml
from matplotlib.colors import LogNorm, Normalize, SymLogNorm, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

from phasegrok.classify import (
    CLASS_COLUMNS,
    CLASSIFY_META,
    LOSS_FLOOR,
    PHASE_COLORS,
    PHASES,
    ClassifySpec,
    classify_runs,
    floor_loss,
)
from phasegrok.store import CURVES, RUNS, SWEEP_YAML, atomic_write, write_text

DPI = 200
INDEX = "index.html"
EXAMPLES_PER_PHASE = 3
NEVER_COLOR = "#BDBDBD"

_LABELS = {
    "task.kind": "task",
    "task.op": "operation",
    "task.p": "modulus p",
    "task.n_bits": "input bits n",
    "task.k": "parity order k",
    "task.test_size": "test set size (examples)",
    "task.path": "data file",
    "task.encoding": "input encoding",
    "data.train_fraction": "training fraction",
    "data.train_size": "training set size (examples)",
    "model.embedding": "embedding",
    "model.embed_dim": "embedding width",
    "model.hidden": "hidden widths",
    "model.activation": "activation",
    "model.init": "initialization",
    "model.embedding_std": "embedding std (initial)",
    "model.init_scale": "init scale α (× default)",
    "optimizer.name": "optimizer",
    "optimizer.lr": "learning rate",
    "optimizer.weight_decay": "weight decay",
    "optimizer.l1": "L1 penalty",
    "optimizer.warmup_steps": "warmup (steps)",
    "optimizer.batch_size": "batch size (examples)",
    "optimizer.embedding.name": "embedding's optimizer",
    "optimizer.embedding.lr": "embedding's learning rate",
    "optimizer.embedding.weight_decay": "embedding's weight decay",
    "loss": "loss",
    "train.steps": "training budget (steps)",
    "train.eval_every": "eval interval (steps)",
    "seed": "seed",
}
_SHORT = {
    "optimizer.weight_decay": "wd",
    "optimizer.lr": "lr",
    "optimizer.embedding.lr": "emb lr",
    "optimizer.embedding.weight_decay": "emb wd",
    "data.train_fraction": "frac",
    "model.init_scale": "α",
    "model.hidden": "hidden",
    "task.p": "p",
    "train.steps": "steps",
}


def label(key: str) -> str:
    """Human axis label (with units) for a dotted hyperparameter key."""
    return _LABELS.get(key, key)


def _short(key: str) -> str:
    return _SHORT.get(key, key.rsplit(".", 1)[-1])


def _sci(v: float) -> str:
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
        return _sci(v)
    return f"{v:.3g}" if abs(v) < 1e3 else f"{v:.0f}"


# --------------------------------------------------------------------------------------------
# Grid axes


def is_log_spaced(values: Sequence[float]) -> bool:
    """All positive with roughly constant ratios (and a real spread), e.g. 1e-4, 3e-4, 1e-3."""
    v = np.unique(np.asarray(values, dtype=float))
    if len(v) < 2 or not np.isfinite(v).all() or (v <= 0).any():
        return False
    if len(v) == 2:
        return v[1] / v[0] >= 10
    steps = np.diff(np.log(v))
    return bool(v[-1] / v[0] >= 4 and steps.max() <= 1.6 * steps.min())


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_)


def _evenly_spaced(v: np.ndarray) -> bool:
    d = np.diff(v)
    return len(v) <= 2 or bool(d.max() <= 1.1 * d.min())


def _canon(value: Any) -> str:
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
        numbers = [abs(float(v)) for v in self.values if _is_number(v) and v != 0]
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
            index = pd.Index([_canon(v) for v in self.values])
            return index.get_indexer([_canon(v) for v in column])
        return pd.Index(np.asarray(self.values, dtype=float)).get_indexer(
            column.to_numpy(dtype=float)
        )


def make_axis(runs: pd.DataFrame, key: str, grid: Mapping[str, Any] | None = None) -> GridAxis:
    """Axis of `key` from the values present in `runs`, ordered as the grid lists them."""
    col = runs[key]
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    if numeric and key != "seed":
        v = np.unique(col.dropna().to_numpy(dtype=float))
        v = v[np.isfinite(v)]
        if len(v) >= 2 and _evenly_spaced(v) and not (len(v) == 2 and is_log_spaced(v)):
            scale = "linear"
        elif is_log_spaced(v):
            scale = "log"
        else:
            scale = "category"
        as_int = pd.api.types.is_integer_dtype(col)
        return GridAxis(key, tuple(int(x) if as_int else float(x) for x in v), scale)
    present = list(dict.fromkeys(col.dropna().tolist()))
    order = {_canon(v): i for i, v in enumerate((grid or {}).get(key) or [])}
    present.sort(key=lambda v: (order.get(_canon(v), len(order)), str(v)))
    if numeric:  # seeds: sorted, but each seed its own cell
        present.sort()
    return GridAxis(key, tuple(present), "category")


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
        and c not in ("batch_wall_time", "key_frequencies")
        and _varies(runs[c])
    ]


def _varies(col: pd.Series) -> bool:
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


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)


# --------------------------------------------------------------------------------------------
# Shared drawing


@contextmanager
def _style() -> Iterator[None]:
    rc = {**sns.axes_style("ticks"), **sns.plotting_context("paper")}
    rc.update({"savefig.dpi": DPI, "figure.dpi": 100, "axes.titleweight": "bold"})
    with mpl.rc_context(rc):
        yield


def _save(fig: Figure, path: Path) -> Path:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI, facecolor="white"))
    return path


def _describe(runs: pd.DataFrame) -> str:
    """Fixed settings shared by every run, for titles: 'modular, add, p=97, 5000 steps'."""
    kinds = set(runs["task.kind"].dropna()) if "task.kind" in runs.columns else set()
    # Keys that mean nothing for the task at hand (p for parity, n and k for modular).
    irrelevant = {
        "parity": {"task.p", "task.op"},
        "modular": {"task.n_bits", "task.k"},
        "arrays": {"task.p", "task.op", "task.n_bits", "task.k"},
    }
    skip = set.intersection(*(irrelevant.get(k, set()) for k in kinds)) if kinds else set()
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


def _title(fig: Figure, head: str, runs: pd.DataFrame) -> None:
    """Bold heading over a wrapped line of the sweep's fixed settings, fitting the width."""
    width = max(30, int(fig.get_figwidth() * 13))
    # No-break spaces inside each item, so lines break only between items ("1 seed" stays).
    items = [item.replace(" ", "\u00a0") for item in _describe(runs).split(", ")]
    sub = textwrap.fill(", ".join(items), width, break_on_hyphens=False)
    head = textwrap.fill(head, width, break_on_hyphens=False)
    fig.suptitle(f"{head}\n{sub}" if sub else head, fontsize="medium")


def _set_axis(ax: Any, axis: GridAxis, which: str, show_label: bool) -> None:
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
        target.set_major_locator(FixedLocator(axis.centers()[keep]))
        target.set_ticklabels(labels)
        target.set_minor_locator(NullLocator())
        if which == "x" and (len(keep) > 6 or max(map(len, labels), default=0) > 5):
            for t in ax.get_xticklabels():
                t.set_rotation(40)
                t.set_ha("right")
    if show_label:
        (ax.set_xlabel if which == "x" else ax.set_ylabel)(label(axis.key))


@dataclass
class _Panels:
    fig: Figure
    axes: list[Any]  # one per facet panel, row-major
    masks: list[np.ndarray]
    titles: list[str]
    xa: GridAxis
    ya: GridAxis
    nrows: int
    ncols: int


def _facet_panels(
    runs: pd.DataFrame, x: str, y: str, facets: list[str], grid: Mapping[str, Any], extra_w: float
) -> _Panels:
    xa, ya = make_axis(runs, x, grid), make_axis(runs, y, grid)
    fas = [make_axis(runs, f, grid) for f in facets]
    if len(fas) == 2:
        combos = list(product(range(fas[0].n), range(fas[1].n)))
        nrows, ncols = fas[0].n, fas[1].n
    else:
        codes = np.stack([fa.codes(runs[fa.key]) for fa in fas], axis=1) if fas else None
        combos = [()] if not fas else sorted(set(map(tuple, codes.tolist())))
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
                f"{_short(fa.key)} = {fa.labels()[i]}" for fa, i in zip(fas, combo, strict=True)
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
        _set_axis(ax, xa, "x", show_label=r == nrows - 1 or k + ncols >= len(combos))
        _set_axis(ax, ya, "y", show_label=c == 0)
        if titles[k]:
            ax.set_title(titles[k], fontsize="small", fontweight="normal")
    return _Panels(fig, axes[: len(combos)], masks, titles, xa, ya, nrows, ncols)


def _cell_index(sub: pd.DataFrame, xa: GridAxis, ya: GridAxis) -> pd.DataFrame:
    ix, iy = xa.codes(sub[xa.key]), ya.codes(sub[ya.key])
    keep = (ix >= 0) & (iy >= 0)
    return sub.loc[keep].assign(_ix=ix[keep], _iy=iy[keep])


def _draw_cells(
    ax: Any,
    xa: GridAxis,
    ya: GridAxis,
    rgba: np.ndarray,
    texts: dict[tuple[int, int], str],
    hatched: set[tuple[int, int]],
) -> None:
    """Paint an (ny, nx, 4) colour grid, write `texts` in cells, hatch `hatched` cells."""
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
                hatch="////",
                edgecolor=(0, 0, 0, 0.45),
                linewidth=0,
            )
        )


def _hatch_handle() -> Patch:
    return Patch(
        facecolor="white", edgecolor=(0, 0, 0, 0.6), hatch="////", label="still learning (a seed)"
    )


def _still_cells(cells: pd.DataFrame) -> set[tuple[int, int]]:
    if "still_learning" not in cells.columns:
        return set()
    hit = cells.loc[cells["still_learning"].astype(bool), ["_ix", "_iy"]]
    return set(map(tuple, hit.to_numpy().tolist()))


# --------------------------------------------------------------------------------------------
# Phase diagram


def majority(cells: pd.DataFrame) -> pd.DataFrame:
    """Per (_ix, _iy) cell: majority phase, its count k and the cell's run count n."""
    counts = (cells.groupby(["_ix", "_iy", "phase"]).size().unstack("phase", fill_value=0)).reindex(
        columns=list(PHASES), fill_value=0
    )
    # Ties go to the phase listed first in PHASES; the k/n label shows the split anyway.
    top = counts.to_numpy().argmax(axis=1)
    return pd.DataFrame(
        {
            "phase": np.asarray(PHASES)[top],
            "k": counts.to_numpy().max(axis=1),
            "n": counts.to_numpy().sum(axis=1),
        },
        index=counts.index,
    )


def _shade(color: str, agreement: float) -> np.ndarray:
    """Blend toward white: full colour when all seeds agree, pale for an even split."""
    strength = float(np.clip(0.35 + 1.3 * (agreement - 0.5), 0.35, 1.0))
    rgb = np.asarray(to_rgba(color)[:3])
    return np.append(1 - strength * (1 - rgb), 1.0)


def phase_diagram(
    runs: pd.DataFrame, x: str, y: str, facets: list[str], grid: Mapping[str, Any]
) -> Figure:
    """Majority phase per grid cell, one panel per combination of the facet axes."""
    p = _facet_panels(runs, x, y, facets, grid, extra_w=0.0)
    any_still = False
    for ax, mask in zip(p.axes, p.masks, strict=True):
        cells = _cell_index(runs.loc[mask], p.xa, p.ya)
        rgba = np.zeros((p.ya.n, p.xa.n, 4))
        texts = {}
        if len(cells):
            for (i, j), row in majority(cells).iterrows():
                rgba[j, i] = _shade(PHASE_COLORS[row.phase], row.k / row.n)
                if row.n > 1:
                    texts[(i, j)] = f"{row.k}/{row.n}"
        still = _still_cells(cells)
        any_still |= bool(still)
        _draw_cells(ax, p.xa, p.ya, rgba, texts if p.xa.n * p.ya.n <= 400 else {}, still)
        if not len(cells):
            ax.text(0.5, 0.5, "no runs", transform=ax.transAxes, ha="center", va="center")
    handles = [Patch(facecolor=PHASE_COLORS[ph], edgecolor="none", label=ph) for ph in PHASES]
    if any_still:
        handles.append(_hatch_handle())
    p.fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=max(2, min(len(handles), int(p.fig.get_figwidth() / 1.45))),
        frameon=False,
        handlelength=1.2,
        columnspacing=1.0,
    )
    _title(p.fig, "Phase diagram", runs)
    return p.fig


# --------------------------------------------------------------------------------------------
# Continuous maps


@dataclass(frozen=True)
class MapSpec:
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


def _eval_interval(runs: pd.DataFrame) -> float:
    if "train.eval_every" in runs.columns:
        v = pd.to_numeric(runs["train.eval_every"], errors="coerce").dropna()
        if len(v) and v.min() > 0:
            return float(v.min())
    return 1.0


def _norm(m: MapSpec, finite: np.ndarray, runs: pd.DataFrame) -> Normalize:
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
    return SymLogNorm(_eval_interval(runs), vmin=lo, vmax=hi if hi > lo else lo + 10)


def metric_map(
    runs: pd.DataFrame, m: MapSpec, x: str, y: str, facets: list[str], grid: Mapping[str, Any]
) -> Figure:
    """Median over seeds of `m.column` per grid cell, with one colour scale for all facets."""
    p = _facet_panels(runs, x, y, facets, grid, extra_w=0.9)
    values = pd.to_numeric(runs[m.column], errors="coerce").astype(float)
    if m.never_is_inf:
        values = values.fillna(np.inf)
    frame = runs.assign(_value=values.to_numpy())
    medians, stills = [], []
    for mask in p.masks:
        cells = _cell_index(frame.loc[mask], p.xa, p.ya)
        # pandas' median skips NaN; +inf (never) stays and wins when most seeds never got there.
        medians.append(cells.groupby(["_ix", "_iy"])["_value"].median())
        stills.append(_still_cells(cells))
    every = np.concatenate([s.to_numpy() for s in medians]) if medians else np.array([])
    norm = _norm(m, every[np.isfinite(every)], runs)
    cmap = mpl.colormaps[m.cmap or ("viridis" if m.column == "final_test_acc" else "viridis_r")]
    any_never = False
    for ax, med, still in zip(p.axes, medians, stills, strict=True):
        rgba = np.zeros((p.ya.n, p.xa.n, 4))
        texts = {}
        for (i, j), v in med.items():
            if np.isinf(v):
                rgba[j, i] = to_rgba(NEVER_COLOR)
                texts[(i, j)] = "×"
                any_never = True
            elif np.isfinite(v):
                clipped = max(v, norm.vmin) if isinstance(norm, LogNorm) else v
                rgba[j, i] = cmap(norm(clipped))
        _draw_cells(ax, p.xa, p.ya, rgba, texts, still)
    if np.isfinite(every).any():  # all "never": a colour bar would only show a made-up range
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
        cbar = p.fig.colorbar(sm, ax=p.axes, label=m.colorbar, shrink=0.9, aspect=25)
        if m.reference is not None and norm.vmin <= m.reference <= norm.vmax:
            cbar.ax.axhline(m.reference, color="white", lw=2.6)
            cbar.ax.axhline(m.reference, color="0.1", lw=1.3, ls=(0, (2, 1)))
    handles = []
    if any_never:
        handles.append(Patch(facecolor=NEVER_COLOR, label="× never (median seed)"))
    if any(stills):
        handles.append(_hatch_handle())
    if handles:
        p.fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    _title(p.fig, m.title, runs)
    return p.fig


# --------------------------------------------------------------------------------------------
# Trajectories


def examples(runs: pd.DataFrame, k: int = EXAMPLES_PER_PHASE) -> dict[str, list[str]]:
    """Up to `k` run ids per phase, spread from fastest to slowest to generalize."""
    out = {}
    key = [c for c in ("t_gen", "t_fit") if c in runs.columns] + ["run_id"]
    for phase in PHASES:
        sub = runs.loc[runs["phase"] == phase].sort_values(key, na_position="last")
        if len(sub):
            pick = np.unique(np.linspace(0, len(sub) - 1, min(k, len(sub))).round().astype(int))
            out[phase] = sub["run_id"].astype(str).iloc[pick].tolist()
    return out


def _run_labeller(runs: pd.DataFrame, keys: Sequence[str]) -> Callable[[pd.Series], str]:
    """Legend text of a run, 'wd=1e-3, frac=0.3, s0', with each axis's own notation."""
    names = {}
    for k in keys:
        if k in runs.columns:
            axis = make_axis(runs, k)
            names[k] = dict(zip(map(_canon, axis.values), axis.labels(), strict=True))

    def run_label(row: pd.Series) -> str:
        parts = [f"{_short(k)}={names[k].get(_canon(row[k]), row[k])}" for k in names]
        if "seed" in row.index:
            parts.append(f"s{row['seed']}")
        return ", ".join(parts) or str(row.name)

    return run_label


def _shades(color: str, n: int) -> list[tuple[float, ...]]:
    """`n` distinguishable variants of a phase colour, dark to light."""
    base = np.asarray(to_rgba(color)[:3])
    out = []
    for t in np.linspace(-0.4, 0.45, n) if n > 1 else [0.0]:
        rgb = base * (1 + t) if t < 0 else base + (1 - base) * t
        out.append((*rgb, 1.0))
    return out


def _curve_groups(curves: pd.DataFrame, ids: set[str]) -> dict[str, pd.DataFrame]:
    sub = curves.loc[curves["run_id"].astype(str).isin(ids)]
    sub = sub.replace([np.inf, -np.inf], np.nan)  # diverged runs: drop, do not autoscale to inf
    return {str(k): g.sort_values("step") for k, g in sub.groupby("run_id", sort=False)}


def curves_figure(runs: pd.DataFrame, curves: pd.DataFrame, keys: Sequence[str]) -> Figure:
    """Train (dashed) and test (solid) accuracy against step, a few runs per phase."""
    picks = examples(runs)
    groups = _curve_groups(curves, {r for ids in picks.values() for r in ids})
    by_id = runs.assign(run_id=runs["run_id"].astype(str)).set_index("run_id")
    run_label = _run_labeller(runs, keys)
    n = len(picks)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(2.6 * ncols + 0.2, 2.3 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True).ravel()
    positive = curves["step"][curves["step"] > 0]
    linthresh = float(positive.min()) if len(positive) else 1.0
    counts = runs["phase"].value_counts()
    for ax, (phase, ids) in zip(axes, picks.items(), strict=False):
        for color, rid in zip(_shades(PHASE_COLORS[phase], len(ids)), ids, strict=True):
            g = groups.get(rid)
            if g is None:
                continue
            ax.plot(
                g["step"],
                g["test_acc"],
                color=color,
                lw=1.3,
                label=run_label(by_id.loc[rid]),
            )
            ax.plot(g["step"], g["train_acc"], color=color, lw=1.0, ls="--")
        # symlog: linear below the first eval step, so step 0 stays on a log axis.
        ax.set_xscale("symlog", linthresh=linthresh, linscale=0.3)
        ax.set_ylim(-0.02, 1.04)
        ax.set_title(f"{phase} ({counts.get(phase, 0)} runs)", color=PHASE_COLORS[phase])
        ax.legend(fontsize=5.5, loc="lower right", frameon=False, handlelength=1.2)
        ax.grid(True, lw=0.4, alpha=0.5)
    for ax in axes[n:]:
        ax.set_visible(False)
    for k, ax in enumerate(axes[:n]):
        if k + ncols >= n:  # bottom visible panel of its column
            ax.set_xlabel("optimization step")
    for ax in axes[::ncols]:
        ax.set_ylabel("accuracy")
    style = [
        Line2D([], [], color="0.3", lw=1.0, ls="--", label="train"),
        Line2D([], [], color="0.3", lw=1.3, label="test"),
    ]
    fig.legend(handles=style, loc="outside lower center", ncol=2, frameon=False)
    _title(fig, "Training curves by phase", runs)
    return fig


def _finals(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    cols = {
        "final_weight_norm": "weight_norm",
        "final_train_loss": "train_loss",
        "final_test_loss": "test_loss",
    }
    if all(c in runs.columns for c in cols):
        return runs
    last = curves.sort_values("step").groupby("run_id").tail(1).set_index("run_id")
    out = runs.copy()
    for col, src in cols.items():
        if col not in out.columns:
            out[col] = out["run_id"].astype(str).map(last[src]).to_numpy()
    return out


def lu_figure(runs: pd.DataFrame, curves: pd.DataFrame) -> Figure:
    """Omnigrok's LU picture: train and test loss against parameter norm, coloured by phase.

    Losses below 2^-23 (`LOSS_FLOOR`), float32's exact zeros included, are drawn at it, as the
    pair rule reads them, so a log axis keeps those runs (a dotted line marks the floor).
    """
    runs = _finals(runs, curves)
    picks = examples(runs)
    groups = _curve_groups(curves, {r for ids in picks.values() for r in ids})
    fig = Figure(figsize=(6.4, 2.9), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    present = [ph for ph in PHASES if (runs["phase"] == ph).any()]
    norms = []
    for ax, which in zip(axes, ("train", "test"), strict=True):
        for phase, ids in picks.items():
            for rid in ids:
                g = groups.get(rid)
                if g is not None:
                    ax.plot(
                        g["weight_norm"],
                        floor_loss(g[f"{which}_loss"]),
                        color=PHASE_COLORS[phase],
                        lw=0.8,
                        alpha=0.6,
                    )
                    norms.append(g["weight_norm"].to_numpy(dtype=float))
        finals = (
            runs[["final_weight_norm", f"final_{which}_loss", "phase"]]
            .replace([np.inf, -np.inf], np.nan)
            .dropna()
        )
        finals[f"final_{which}_loss"] = floor_loss(finals[f"final_{which}_loss"])
        norms.append(finals["final_weight_norm"].to_numpy(dtype=float))
        if len(finals):
            sns.scatterplot(
                data=finals,
                x="final_weight_norm",
                y=f"final_{which}_loss",
                hue="phase",
                hue_order=present,
                palette=PHASE_COLORS,
                s=14,
                alpha=0.8,
                edgecolor="white",
                linewidth=0.3,
                legend=False,
                ax=ax,
            )
        if ax.dataLim.ymin <= LOSS_FLOOR:
            ax.axhline(LOSS_FLOOR, color="0.5", lw=0.6, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("parameter norm ‖θ‖₂")
        ax.set_ylabel(f"{which} loss (nats)" if _is_ce(runs) else f"{which} loss (MSE)")
        ax.set_title(f"{which} loss", fontweight="normal")
        ax.grid(True, lw=0.4, alpha=0.5)
    allnorm = np.concatenate(norms) if norms else np.array([])
    allnorm = allnorm[np.isfinite(allnorm) & (allnorm > 0)]
    if len(allnorm) and allnorm.max() / allnorm.min() > 5:
        axes[0].set_xscale("log")
        # Few decades of norm: label 2, 5, 10, 20 rather than overlapping 2x10^1 minors.
        for ax in axes:
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
            ax.xaxis.set_minor_formatter(NullFormatter())
    handles = [
        Line2D([], [], color=PHASE_COLORS[ph], marker="o", ms=4, lw=0.8, label=ph) for ph in present
    ]
    fig.legend(handles=handles, loc="outside right center", frameon=False, title="phase")
    _title(fig, "Loss against weight norm (lines: example runs; dots: final states)", runs)
    return fig


def _is_ce(runs: pd.DataFrame) -> bool:
    return "loss" not in runs.columns or not (runs["loss"] == "mse").any()


# --------------------------------------------------------------------------------------------
# Gallery


def _phase_table(runs: pd.DataFrame) -> str:
    rows = []
    total = max(len(runs), 1)
    for phase in PHASES:
        sub = runs.loc[runs["phase"] == phase]
        still = int(sub["still_learning"].sum()) if "still_learning" in sub else 0
        lost = int(sub["lost_generalization"].sum()) if "lost_generalization" in sub else 0
        rows.append(
            f"<tr><td><span class='sw' style='background:{PHASE_COLORS[phase]}'></span>"
            f"{phase}</td><td>{len(sub)}</td><td>{100 * len(sub) / total:.1f}%</td>"
            f"<td>{still}</td><td>{lost}</td></tr>"
        )
    return (
        "<table><tr><th>phase</th><th>runs</th><th>share</th><th>still learning</th>"
        "<th>lost generalization</th></tr>" + "".join(rows) + "<tr><th>total</th>"
        f"<th>{len(runs)}</th><th></th><th></th><th></th></tr></table>"
    )


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
figure{margin:1.5em 0;border-top:1px solid #ddd;padding-top:1em}
img{max-width:100%;height:auto}
figcaption{font-size:.92em;color:#444;margin-top:.4em}
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #eee;text-align:left}
.sw{display:inline-block;width:.9em;height:.9em;margin-right:.4em;vertical-align:middle}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:.85em}
"""


_LENS_INTRO = (
    "What the runs learned, read from their parameters (phasegrok.lens). Modular tasks: the"
    " token maps E·W (the first hidden layer's input from each token) are Fourier-transformed"
    " over the op's cyclic group (the tokens for add / sub, their discrete logarithms for"
    " mul / div; no lens for square_sum, add_integers or a composite mul); a generalizing model"
    " concentrates their power on a few frequencies and puts its tokens on circles. Parity:"
    " the share of the first layer's weight on the k label bits, and the hidden units still"
    " reading an irrelevant bit."
)


def _figure_html(p: Path, caption: str) -> str:
    return (
        f"<figure id='{html.escape(p.stem)}'><a href='{html.escape(p.name)}'>"
        f"<img src='{html.escape(p.name)}' alt='{html.escape(p.stem)}'></a>"
        f"<figcaption><b>{html.escape(p.name)}</b>. {html.escape(caption)}</figcaption></figure>"
    )


def write_index(
    results_dir: Path,
    runs: pd.DataFrame,
    figures: list[tuple[Path, str]],
    sweep_text: str,
    classify_text: str,
    name: str | None = None,
    lens: Sequence[tuple[str, list[tuple[Path, str]]]] = (),
) -> Path:
    """index.html: figures (relative links), phase counts and settings; no server needed.

    `lens` holds (heading, figures) groups of the "Mechanistic lens" section, shown when any
    group has a figure.
    """
    name = html.escape(str(name or results_dir.name))
    figs = "\n".join(_figure_html(p, c) for p, c in figures)
    lens = [(head, group) for head, group in lens if group]
    if lens:
        figs += "\n<h2 id='mechanistic-lens'>Mechanistic lens</h2>\n"
        figs += f"<p>{html.escape(_LENS_INTRO)}</p>\n"
        figs += "\n".join(
            f"<h3>{html.escape(head)}</h3>\n" + "\n".join(_figure_html(p, c) for p, c in group)
            for head, group in lens
        )
    every = [*figures, *(f for _, group in lens for f in group)]
    toc = " · ".join(
        f"<a href='#{html.escape(p.stem)}'>{html.escape(p.stem)}</a>" for p, _ in every
    )
    page = (
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>phasegrok: {name}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>phasegrok results: {name}</h1>\n"
        f"<p>{len(runs)} runs. {html.escape(_describe(runs))}.</p>\n"
        f"<h2>Phase counts</h2>\n{_phase_table(runs)}\n"
        f"<h2>Figures</h2>\n<p>{toc}</p>\n{figs}\n"
        f"<h2>Classification settings</h2>\n<pre>{html.escape(classify_text)}</pre>\n"
        f"<h2>Sweep settings (sweep.yaml)</h2>\n<pre>{html.escape(sweep_text)}</pre>\n"
        "</body></html>\n"
    )
    path = results_dir / INDEX
    write_text(path, page)
    return path


# --------------------------------------------------------------------------------------------
# Entry point


def read_classify_meta(path: Path) -> dict[str, Any] | None:
    """Thresholds recorded by a reclassification (`phasegrok.plot --classify`), if any."""
    try:
        raw = (pq.read_schema(path).metadata or {}).get(CLASSIFY_META)
    except (OSError, ValueError):
        return None
    return json.loads(raw) if raw else None


def load_results(
    results_dir: str | Path,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """runs, curves and the sweep dict (empty when sweep.yaml is absent) of a results folder."""
    d = Path(results_dir)
    return pd.read_parquet(d / RUNS), pd.read_parquet(d / CURVES), _read_sweep(d)


def _captions(cs: ClassifySpec, any_still: bool) -> dict[str, str]:
    thr = f"{cs.threshold:g}"
    rise = (
        f"test accuracy rose by more than {cs.still_learning_delta:g} over the last"
        f" {100 * cs.still_learning_window:g}% of steps"
    )
    if any_still:
        still = (
            f"Hatched: at least one seed was still learning when training stopped ({rise}), so"
            " its phase may reflect the step budget rather than the run."
        )
    else:
        still = f"No run was still learning when training stopped (none whose {rise})."
    return {
        "phase": "Phase of each grid point: majority over seeds; a lighter colour and the k/n"
        " count (seeds in the majority phase / seeds) mark split votes. Facets are the remaining"
        " grid axes. " + still,
        "t_gen": f"Median over seeds of the first step with test accuracy ≥ {thr} (log colour"
        " scale). Grey ×: the median seed never generalized within the budget. " + still,
        "final_test_acc": "Median over seeds of the test accuracy at the last step. " + still,
        "grok_delay": f"Median over seeds of t_gen − t_fit (steps between train and test"
        f" accuracy reaching {thr}; symmetric-log colour scale). Grey ×: the median seed never"
        f" generalized. Below grok_gap = {cs.grok_gap:g} steps counts as comprehension. " + still,
        "curves": "Train (dashed) and test (solid) accuracy against optimization step for up to"
        f" {EXAMPLES_PER_PHASE} runs per phase, spread from fastest to slowest to generalize;"
        " symmetric-log step axis (linear below the first eval step, so step 0 shows).",
        "lu": "Omnigrok's LU picture: train and test loss against the parameter norm. Lines:"
        " the example runs of the curves figure over training; dots: every run's final state."
        " Losses below 2^-23 (float32's resolution; exact zeros too) sit on the dotted floor.",
    }


def _read_sweep(d: Path) -> dict[str, Any]:
    if not (d / SWEEP_YAML).exists():
        return {}
    return yaml.safe_load((d / SWEEP_YAML).read_text()) or {}


def _classify_spec(spec: Mapping[str, Any], recorded: Any) -> ClassifySpec:
    if isinstance(recorded, Mapping):
        try:
            return ClassifySpec(**recorded)
        except ValueError:
            pass
    return ClassifySpec(**(spec.get("classify") or {}))


def draw_all(
    results_dir: str | Path,
    runs: pd.DataFrame | None = None,
    curves: pd.DataFrame | None = None,
    spec: Mapping[str, Any] | None = None,
    lens_runs: Sequence[str] | None = None,
) -> list[Path]:
    """Write every figure and index.html into `results_dir`; return the written paths.

    Frames and the sweep dict not given are read from the folder. Runs without a `phase` column
    are classified with the sweep's `classify:` settings first (in memory only). `lens_runs`:
    the run ids that get the per-run lens figures (`phasegrok.lens_plots`); None: one example
    run per phase present. An id not in `runs` raises ValueError.
    """
    from phasegrok import lens_plots  # here: lens_plots imports this module

    d = Path(results_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"results folder '{d}' does not exist")
    if spec is None:
        spec = _read_sweep(d)
    elif hasattr(spec, "model_dump"):
        spec = spec.model_dump(mode="json")
    spec = dict(spec)
    # Thresholds recorded by a reclassification only describe the frame on disk.
    recorded = None
    if runs is None:
        runs = pd.read_parquet(d / RUNS)
        recorded = read_classify_meta(d / RUNS) if "phase" in runs.columns else None
    cs = _classify_spec(spec, recorded)
    if curves is None:
        curves = pd.read_parquet(d / CURVES)
    if "phase" not in runs.columns:
        runs = classify_runs(runs, curves, cs)
    if "seed" not in runs.columns:
        runs = runs.assign(seed=0)

    keys = grid_keys(spec, runs)
    any_still = "still_learning" in runs.columns and bool(runs["still_learning"].any())
    captions = _captions(cs, any_still)
    figures: list[tuple[Path, str]] = []
    lens_maps: list[tuple[Path, str]] = []
    lens_groups: list[tuple[str, list[tuple[Path, str]]]] = [
        ("Lens metrics on the grid", lens_maps)
    ]
    lens_specs = lens_plots.lens_maps(runs, spec)

    def emit(
        name: str,
        build: Callable[[], Figure],
        caption: str,
        into: list[tuple[Path, str]] | None = None,
    ) -> None:
        with _style():
            fig = build()
            (figures if into is None else into).append((_save(fig, d / name), caption))

    if len(runs):
        for x, y in plot_pairs(spec, keys):
            for key in (x, y):
                if key not in runs.columns:
                    raise ValueError(f"plot axis '{key}' is not a column of runs.parquet")
            if x == y:
                raise ValueError(f"plot has the same key on both axes: '{x}'")
            facets = [k for k in keys if k not in (x, y)]
            grid = spec.get("grid") or {}
            stem = f"{_safe(x)}__{_safe(y)}"
            where = f" x: {label(x)}; y: {label(y)}" + (
                f"; facets: {', '.join(label(f) for f in facets)}." if facets else "."
            )
            emit(
                f"phase__{stem}.png",
                lambda x=x, y=y, f=facets, g=grid: phase_diagram(runs, x, y, f, g),
                captions["phase"] + where,
            )
            for m in MAPS:
                if m.column in runs.columns:
                    emit(
                        f"map_{m.column}__{stem}.png",
                        lambda m=m, x=x, y=y, f=facets, g=grid: metric_map(runs, m, x, y, f, g),
                        captions[m.column] + where,
                    )
            for m, caption in lens_specs:
                emit(
                    f"map_{m.column}__{stem}.png",
                    lambda m=m, x=x, y=y, f=facets, g=grid: metric_map(runs, m, x, y, f, g),
                    caption + where,
                    lens_maps,
                )
        if len(curves):
            emit("curves.png", lambda: curves_figure(runs, curves, keys), captions["curves"])
            emit("lu.png", lambda: lu_figure(runs, curves), captions["lu"])
    if lens_runs is not None or len(runs):
        run_label = _run_labeller(runs, keys)
        for head, jobs in lens_plots.run_jobs(d, runs, curves, spec, lens_runs, run_label):
            group: list[tuple[Path, str]] = []
            for name, build, caption in jobs:
                emit(name, build, caption, group)
            lens_groups.append((head, group))

    sweep_text = (
        (d / SWEEP_YAML).read_text()
        if (d / SWEEP_YAML).exists()
        # Through JSON first: safe_dump cannot represent the tuples of a resolved spec.
        else yaml.safe_dump(json.loads(json.dumps(spec, default=str)), sort_keys=False)
    )
    classify_text = yaml.safe_dump(cs.model_dump(mode="json"), sort_keys=False)
    if recorded is not None:
        classify_text = "# set by the last `python -m phasegrok.plot --classify ...`\n" + (
            classify_text
        )
    index = write_index(
        d, runs, figures, sweep_text, classify_text, spec.get("name"), lens=lens_groups
    )
    lens_paths = [p for _, group in lens_groups for p, _ in group]
    return [p for p, _ in figures] + lens_paths + [index]
