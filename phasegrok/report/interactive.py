"""The interactive phase diagrams of index.html: Vega-Lite specs with their data inline.

One chart per axis pair (the pairs of the PNG phase diagrams, `grid.plot_pairs`): the grid
cells coloured by majority phase (`PHASE_COLORS`; paler where the seeds split, with the PNG's
opacity ramp), and beside it the selected cell's phase counts and its runs' train (dashed) and
test (solid) accuracy curves. Hovering a cell selects it (so does a click or a tap); the
selection stays until another cell is hovered. Further grid axes: a drop-down under the chart
picks the facet (one facet at a time; the PNG shows them all side by side).

The page needs neither network nor server: vega, vega-lite and vega-embed (BSD-3, from npm;
versions in vendor/README.md) are copied once into the results folder's ``vendor/`` and loaded
by relative path, and the data sits in the page as JSON (a browser will not fetch a file over
``file://``). For size, each run's curves keep `POINTS` evenly spaced evaluations (first and last
included) with accuracies rounded to `DIGITS` decimals; the runs are written once and shared by
every chart, each chart holding only the run -> cell mapping.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phasegrok.config.schema import PHASES
from phasegrok.report.diagrams import majority
from phasegrok.report.grid import GridAxis, cell_index, cell_rows, make_axis, short
from phasegrok.report.vega_spec import chart_spec
from phasegrok.store.folder import write_bytes

POINTS = 50  # curve points kept per run
DIGITS = 3  # decimals kept of an accuracy
VENDOR = "vendor"
SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")
VENDOR_FILES = (*SCRIPTS, "vega.LICENSE", "vega-lite.LICENSE", "vega-embed.LICENSE", "README.md")


def write_vendor(results_dir: Path) -> list[Path]:
    """Copy the vega scripts and their licences into ``results_dir/vendor`` (once: a file of
    the same size already there is kept); return their paths."""
    source = files("phasegrok.report") / VENDOR
    out = []
    for name in VENDOR_FILES:
        data = (source / name).read_bytes()
        dest = results_dir / VENDOR / name
        if not (dest.is_file() and dest.stat().st_size == len(data)):
            dest.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(dest, data)
        out.append(dest)
    return out


def keep_points(n: int, points: int = POINTS) -> np.ndarray:
    """Indices of the kept evaluations of an n-point curve: evenly spaced, both ends kept."""
    if not n:
        return np.zeros(0, dtype=int)
    return np.unique(np.linspace(0, n - 1, min(n, points)).round().astype(int))


def downsample(curves: pd.DataFrame, points: int = POINTS) -> pd.DataFrame:
    """Each run's curve cut to `points` evenly spaced evaluations (`keep_points`), in order."""
    curves = curves.sort_values(["run_id", "step"], kind="stable")
    by_run = curves.groupby("run_id", sort=False)
    position = by_run.cumcount().to_numpy()
    length = by_run["step"].transform("size").to_numpy()
    keep = np.zeros(len(curves), dtype=bool)
    for n in np.unique(length):  # one eval schedule per shape group: a handful of lengths
        here = length == n
        keep[here] = np.isin(position[here], keep_points(int(n), points))
    return curves.loc[keep]


def plain(values: np.ndarray, digits: int | None = None) -> list[Any]:
    """Numbers as JSON-safe Python values: rounded, NaN and inf as null."""
    values = np.asarray(values, dtype=float)
    if digits is not None:
        values = values.round(digits)
    return [None if not np.isfinite(v) else (int(v) if v.is_integer() else v) for v in values]


def run_records(runs: pd.DataFrame, curves: pd.DataFrame) -> list[dict[str, Any]]:
    """One JSON-ready row per run of `runs`, in order: id, seed, phase and the downsampled
    curves (`step`, `train` and `test` accuracy arrays; empty where the run has none)."""
    small = downsample(curves[["run_id", "step", "train_acc", "test_acc"]])
    small = small.assign(run_id=small["run_id"].astype(str))
    groups = {k: g for k, g in small.groupby("run_id", sort=False)}
    empty = small.iloc[:0]
    seeds = runs["seed"] if "seed" in runs.columns else pd.Series(0, index=runs.index)
    rows = []
    for run_id, seed, phase in zip(runs["run_id"].astype(str), seeds, runs["phase"], strict=True):
        g = groups.get(run_id, empty)
        rows.append(
            {
                "id": run_id,
                "seed": int(seed),
                "phase": str(phase),
                "step": plain(g["step"].to_numpy()),
                "train": plain(g["train_acc"].to_numpy(), DIGITS),
                "test": plain(g["test_acc"].to_numpy(), DIGITS),
            }
        )
    return rows


def facet_labels(
    runs: pd.DataFrame, facets: Sequence[str], grid: Mapping[str, Any]
) -> tuple[pd.Series, list[str]]:
    """Each run's facet as text, 'lr = 1e-3, hidden = [64]' ('' without facets), and the
    facets in grid order."""
    if not facets:
        return pd.Series("", index=runs.index), [""]
    axes = [make_axis(runs, f, grid) for f in facets]
    codes = np.stack([a.codes(runs[a.key]) for a in axes], axis=1)
    texts = [[f"{short(a.key)} = {t}" for t in a.labels()] for a in axes]
    names = [
        ", ".join(t[i] if i >= 0 else "" for t, i in zip(texts, c, strict=True))
        for c in map(tuple, codes.tolist())
    ]
    order = sorted(set(zip(map(tuple, codes.tolist()), names, strict=True)))
    return pd.Series(names, index=runs.index), [n for _, n in order]


def pair_cells(
    runs: pd.DataFrame, x: str, y: str, facets: Sequence[str], grid: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[int | None], list[str], GridAxis, GridAxis]:
    """The cells of the (x, y) chart and each run's cell.

    Returns (cells, run_cell, facet order, x axis, y axis): a cell per (facet, x, y) with runs,
    with its majority phase, k of n votes, phase counts and whether a run was still learning;
    `run_cell[i]` the cell id of run i (None off the grid).
    """
    xa, ya = make_axis(runs, x, grid), make_axis(runs, y, grid)
    facet, order = facet_labels(runs, facets, grid)
    placed = cell_index(runs.assign(facet=facet.to_numpy(), row=np.arange(len(runs))), xa, ya)
    run_cell: list[int | None] = [None] * len(runs)
    cells: list[dict[str, Any]] = []
    xl, yl = xa.labels(), ya.labels()
    for f in order:
        sub = placed.loc[placed["facet"] == f]
        if not len(sub):
            continue
        votes = majority(sub)
        counts = sub.groupby(["ix", "iy"])["phase"].value_counts()
        still: set[tuple[Any, ...]] = set()
        if "still_learning" in sub.columns:
            still = set(sub.loc[sub["still_learning"].astype(bool), ["ix", "iy"]].itertuples(False))
        for i, j, v in cell_rows(votes):
            cell = len(cells)
            here = counts.xs((i, j))  # the cell's count of each phase
            cells.append(
                {
                    "cell": cell,
                    "facet": f,
                    "x": xl[i],
                    "y": yl[j],
                    "phase": v.phase,
                    "k": int(v.k),
                    "n": int(v.n),
                    "agree": round(float(v.k / v.n), 3),
                    "votes": ", ".join(f"{p} {here[p]}" for p in PHASES if p in here.index),
                    "still": (i, j) in still,
                    "where": f"{short(x)} = {xl[i]}, {short(y)} = {yl[j]}"
                    + (f"; {f}" if f else ""),
                }
            )
            for r in sub.loc[(sub["ix"] == i) & (sub["iy"] == j), "row"]:
                run_cell[int(r)] = cell
    return cells, run_cell, order, xa, ya


def charts(
    runs: pd.DataFrame, pairs: Iterable[tuple[str, str]], keys: Sequence[str], grid: Mapping
) -> list[dict[str, Any]]:
    """Per (x, y) pair: {"x", "y", "spec", "cells"} with `cells` each run's cell id."""
    out = []
    for x, y in pairs:
        if x not in runs.columns or y not in runs.columns or x == y:
            continue
        facets = [k for k in keys if k not in (x, y)]
        cells, run_cell, order, xa, ya = pair_cells(runs, x, y, facets, grid)
        spec = chart_spec(x, y, cells, facets, order, xa, ya)
        out.append({"x": x, "y": y, "spec": spec, "cells": run_cell})
    return out


def script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element (no '</' can close it)."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text.replace("</", "<\\/")


HEAD = "".join(f"<script src='{VENDOR}/{name}'></script>" for name in SCRIPTS)

# Shows any failure on the page itself (and on the console): a blank chart never goes unseen.
BOOT = """<script>
(function () {
  var box = document.getElementById('phasegrok-errors');
  function show(msg) { box.hidden = false; box.textContent += msg + '\\n'; console.error(msg); }
  if (typeof vegaEmbed === 'undefined') {
    show('The vega scripts did not load: vendor/ must sit beside index.html.'); return;
  }
  var runs = JSON.parse(document.getElementById('phasegrok-runs').textContent);
  document.querySelectorAll('script.phasegrok-chart').forEach(function (el) {
    var chart = JSON.parse(el.textContent);
    chart.spec.datasets.runs = runs.map(function (r, i) {
      return Object.assign({cell: chart.cells[i]}, r);
    });
    var options = {mode: 'vega-lite', renderer: 'svg', actions: false};
    vegaEmbed('#' + el.dataset.target, chart.spec, options)
      .catch(function (err) { show('chart ' + el.dataset.target + ': ' + err); });
  });
})();
</script>"""
ERRORS = "<pre id='phasegrok-errors' class='errors' hidden></pre>"


def section_html(runs_json: str, chart_list: Sequence[Mapping[str, Any]]) -> str:
    """The interactive section of index.html: a div and a JSON block per chart, the shared
    runs JSON (`runs_json`, a JSON array of `run_records`) and the boot script."""
    if not chart_list:
        return ""
    parts = [
        "<h2 id='interactive'>Interactive phase diagrams</h2>",
        "<p>Hover a cell (or click it) to see its runs' train and test accuracy and its phase "
        "counts. Curves keep 50 evaluations a run. The PNG figures below are for papers.</p>",
        ERRORS,
    ]
    for k, chart in enumerate(chart_list):
        target = f"vis-{k}"
        body = script_json({k: chart[k] for k in ("x", "y", "spec", "cells")})
        parts.append(
            f"<div id='{target}' class='chart' title='{html.escape(chart['x'])} x "
            f"{html.escape(chart['y'])}'></div>\n<script type='application/json' "
            f"class='phasegrok-chart' data-target='{target}'>{body}</script>"
        )
    runs_block = script_json(runs_json)
    parts.append(f"<script type='application/json' id='phasegrok-runs'>{runs_block}</script>")
    parts.append(BOOT)
    return "\n".join(parts)


def interactive_html(
    results_dir: Path,
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    pairs: Iterable[tuple[str, str]],
    keys: Sequence[str],
    grid: Mapping[str, Any],
) -> str:
    """Write vendor/ into `results_dir` and return the interactive section of index.html
    ('' where there is no pair to draw). `runs` must be classified."""
    chart_list = charts(runs, pairs, keys, grid)
    if not chart_list:
        return ""
    write_vendor(results_dir)
    rows = json.dumps(run_records(runs, curves), separators=(",", ":"))
    return section_html(rows, chart_list)
