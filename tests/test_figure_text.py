"""The figures' text can be read: no two texts (tick labels included) overlap or touch, every
panel has tick labels, no legend sits on a panel's curves. Read from the drawn artists'
window extents (tests/figure_text.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from classify_curves import curve, frames
from figure_text import bare_panels, legends_over_panels, overlaps
from synthetic_results import GRID3, make_results

import phasegrok
from phasegrok.analysis.classify import classify_runs
from phasegrok.config.schema import PHASES
from phasegrok.report.curves import curves_figure, lu_figure
from phasegrok.report.diagrams import phase_diagram
from phasegrok.report.grid import grid_keys
from phasegrok.report.maps import MAPS, metric_map
from phasegrok.report.style import theme

XY = ("optimizer.weight_decay", "data.train_fraction")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> phasegrok.Results:
    return phasegrok.load(make_results(tmp_path_factory.mktemp("text"), grid=GRID3)).classified()


def assert_readable(fig, legends_outside: bool = False, both: bool = True) -> None:
    assert overlaps(fig) == []
    assert bare_panels(fig, both) == []
    if legends_outside:
        assert legends_over_panels(fig) == []


def test_curves_figure_every_phase(results):
    assert set(results.runs["phase"]) == set(PHASES)  # 7 panels, 3 rows, 2 empty slots
    keys = grid_keys(results.sweep, results.runs)
    with theme():
        fig = curves_figure(results.runs, results.curves, keys)
    assert_readable(fig, legends_outside=True)
    assert sum(ax.get_visible() for ax in fig.axes) == len(PHASES)


def budget_runs(eval_every: int, steps: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three runs (grok, memorize, confuse) evaluated every `eval_every` of `steps` steps."""
    at = np.arange(0, steps + 1, eval_every)
    fit, gen = (at >= 0.1 * steps).astype(float), (at >= 0.6 * steps).astype(float)
    low = np.full(len(at), 0.05)
    curves = {
        "g": curve("g", np.maximum(fit, 0.05), np.maximum(gen, 0.05), steps=at),
        "m": curve("m", np.maximum(fit, 0.05), low, steps=at),
        "c": curve("c", low, low, steps=at),
    }
    runs, long = frames(curves)
    runs = classify_runs(runs, long, {"grok_gap": 0.1 * steps})
    return runs.assign(**{"data.train_fraction": 0.5}), long


@pytest.mark.parametrize(
    ("eval_every", "steps"), [(1, 100), (10, 2500), (20, 2500), (100, 100_000), (1, 100_000)]
)
def test_curves_figure_step_axis_labels_apart(eval_every, steps):
    runs, long = budget_runs(eval_every, steps)
    assert set(runs["phase"]) == {"grok", "memorize", "confuse"}
    with theme():
        fig = curves_figure(runs, long, [XY[0]])
    assert_readable(fig, legends_outside=True)


def test_step_axis_ticks_start_at_the_first_eval_step():
    from matplotlib.figure import Figure

    from phasegrok.report.curves import step_axis

    ax = Figure().subplots()
    ax.plot([0, 20, 2500], [0, 1, 1])
    step_axis(ax, pd.Series([0, 20, 40, 2500]))
    ticks = ax.xaxis.get_major_locator()()
    assert list(ticks) == [0, 100, 1000]  # no 10: it sits in the linear part, next to 0
    step_axis(ax, pd.Series([0, 10, 1000]))
    assert list(ax.xaxis.get_major_locator()()) == [0, 10, 100, 1000]


def test_grid_figures(results):
    runs, grid = results.runs, results.sweep.get("grid") or {}
    facets = ["model.hidden"]
    with theme():
        figs = [phase_diagram(runs, *XY, facets, grid), lu_figure(runs, results.curves)]
        figs += [metric_map(runs, m, *XY, facets, grid) for m in MAPS]
    for fig in figs:  # facets beside the first share its y tick labels
        assert_readable(fig, legends_outside=True, both=False)
