"""Figures and gallery of `phasegrok.report` on small synthetic results folders.

tests/test_plot_cli.py runs the `phasegrok.plot` CLI on the same kind of folders.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import assert_png
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from synthetic_results import GRID3, ONE_AXIS, SMALL3, make_results

from phasegrok.analysis.classify import LOSS_FLOOR, PHASE_COLORS
from phasegrok.analysis.results import with_frames
from phasegrok.config.schema import PHASES
from phasegrok.report import draw_all
from phasegrok.report.curves import lu_figure
from phasegrok.report.diagrams import majority, phase_panel, shade
from phasegrok.report.gallery import phase_counts
from phasegrok.report.grid import fmt, grid_keys, is_log_spaced, make_axis, plot_pairs
from phasegrok.report.maps import MAPS, cell_medians, metric_panel


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("three_axes"))


@pytest.fixture(scope="module")
def drawn(folder) -> list[Path]:
    return draw_all(folder)


# --------------------------------------------------------------------------------------------
# Pure helpers


def test_log_spacing_detection():
    assert is_log_spaced([1e-4, 1e-3, 1e-2, 1e-1])
    assert is_log_spaced([1e-4, 3e-4, 1e-3, 3e-3, 1e-2])
    assert is_log_spaced([23, 47, 97])
    assert is_log_spaced([0.01, 1.0])
    assert not is_log_spaced([0.3, 0.5])
    assert not is_log_spaced([0.1, 0.2, 0.3, 0.4])
    assert not is_log_spaced([0.0, 1e-3, 1e-2])
    assert not is_log_spaced([100, 101, 102])
    runs = pd.DataFrame(
        {
            "wd": [1e-3, 1e-2, 1e-1],
            "frac": [0.2, 0.4, 0.6],
            "odd": [0.0, 1e-2, 1.0],
            "hidden": ["[64]", "[128]", "[32]"],
        }
    )
    assert make_axis(runs, "wd").scale == "log"
    assert make_axis(runs, "frac").scale == "linear"
    assert make_axis(runs, "odd").scale == "category"
    hidden = make_axis(runs, "hidden", {"hidden": [[32], [64], [128]]})
    assert hidden.scale == "category" and hidden.values == ("[32]", "[64]", "[128]")
    assert list(hidden.codes(runs["hidden"])) == [1, 2, 0]
    edges = make_axis(runs, "wd").edges()
    assert edges[1] == pytest.approx(np.sqrt(1e-3 * 1e-2))


def test_an_axis_takes_the_scale_its_sweep_declares():
    """`logspace` over a short range (a spread the values' rule does not call log) is
    drawn on a log axis; `linspace` whose values look log-spaced stays linear; a list has no
    declaration, and its values decide."""
    runs = pd.DataFrame({"lr": [1e-3, 1.41e-3, 2e-3], "wd": [0.1, 1.0, 10.0]})
    assert make_axis(runs, "lr").scale != "log"  # no declaration: the values decide
    assert make_axis(runs, "lr", {"lr": {"logspace": [-3, -2.7, 3]}}).scale == "log"
    assert make_axis(runs, "wd", {"wd": {"linspace": [0.1, 10, 3]}}).scale == "linear"
    assert make_axis(runs, "wd", {"wd": [0.1, 1.0, 10.0]}).scale == "log"


def test_fmt():
    assert [fmt(v) for v in (1e-4, 3e-4, 0.25, 97, 1.0, 0.0, "[128]", 2500.0)] == [
        "1e-4",
        "3e-4",
        "0.25",
        "97",
        "1",
        "0",
        "[128]",
        "2500",
    ]


def test_axes_and_pairs():
    runs = pd.DataFrame({"a": [1, 2], "b": [3, 3], "seed": [0, 1], "final_test_acc": [0.1, 0.2]})
    with pytest.warns(UserWarning, match="zz"):
        assert grid_keys({"grid": {"a": [1, 2], "zz": [1]}}, runs) == ["a"]
    assert grid_keys({}, runs) == ["a"]  # inferred: varying hyperparameter columns
    # Without sweep.yaml, the batch a run trained in and its compile time are no grid axes.
    batches = runs.assign(batch_id=["b0", "b1"], batch_compile_time=[1.5, 0.1])
    assert grid_keys({}, batches) == ["a"]
    assert plot_pairs({"plots": [{"x": "b", "y": "a"}]}, ["a", "b"]) == [("b", "a")]
    assert plot_pairs({}, ["a", "b", "c"]) == [("a", "b")]
    assert plot_pairs({}, ["a"]) == [("a", "seed")]
    assert plot_pairs({}, []) == []


def test_majority_vote_and_ties():
    cells = pd.DataFrame(
        {
            "ix": [0, 0, 0, 1, 1],
            "iy": [0, 0, 0, 0, 0],
            "phase": ["grok", "grok", "memorize", "memorize", "grok"],
        }
    )
    m = majority(cells)
    assert m.loc[(0, 0)].tolist() == ["grok", 2, 3]
    assert m.loc[(1, 0)].tolist() == ["grok", 1, 2]  # tie: PHASES order


# --------------------------------------------------------------------------------------------
# Figures


def test_draw_all_three_axes_with_facets(folder, drawn):
    names = {p.name for p in drawn}
    stem = "optimizer.weight_decay__data.train_fraction"
    expected = {
        f"phase__{stem}.png",
        f"map_t_gen__{stem}.png",
        f"map_final_test_acc__{stem}.png",
        f"map_grok_delay__{stem}.png",
        "curves.png",
        "lu.png",
        "index.html",
    }
    assert names == expected
    for p in drawn:
        assert p.parent == folder and p.exists()
        if p.suffix == ".png":
            assert_png(p)
    runs = pd.read_parquet(folder / "runs.parquet")
    assert set(PHASES) <= set(runs["phase"])  # the synthetic grid shows every phase
    assert runs["still_learning"].any()


def test_lu_figure_draws_zero_losses_at_the_floor(folder):
    runs, curves = (
        pd.read_parquet(folder / "runs.parquet"),
        pd.read_parquet(folder / "curves.parquet"),
    )
    # float32 underflow: the grok runs' train loss is exactly 0 from step 4000 on.
    zero = set(runs.loc[runs["phase"] == "grok", "run_id"])
    curves.loc[curves["run_id"].isin(zero) & (curves["step"] >= 4000), "train_loss"] = 0.0
    runs.loc[runs["run_id"].isin(zero), "final_train_loss"] = 0.0
    train_ax, test_ax = lu_figure(runs, curves).axes[:2]
    # Dots: every grok run's final state is drawn, at the floor.
    dots = [c for c in train_ax.collections if isinstance(c, PathCollection)]
    ys = np.concatenate([c.get_offsets()[:, 1] for c in dots])
    assert (ys == LOSS_FLOOR).sum() == len(zero) and (ys >= LOSS_FLOOR).all()
    # Lines: each example grok run reaches the floor rather than dropping off the log axis.
    grok_rgba = to_rgba(PHASE_COLORS["grok"], 0.6)
    lines = [c for c in train_ax.collections if isinstance(c, LineCollection)]
    grok = [seg for c in lines if tuple(c.get_colors()[0]) == grok_rgba for seg in c.get_segments()]
    assert grok and all(np.nanmin(seg[:, 1]) == LOSS_FLOOR for seg in grok)
    floor_lines = [ln for ln in train_ax.get_lines() if ln.get_linestyle() == ":"]
    assert len(floor_lines) == 1 and not any(ln.get_linestyle() == ":" for ln in test_ax.lines)


def test_index_html_links_and_counts(folder, drawn):
    page = (folder / "index.html").read_text()
    for p in drawn:
        if p.suffix == ".png":
            assert f"src='{p.name}'" in page  # relative: browsable with no server
    assert "file://" not in page and "http" not in page.replace("http-equiv", "")
    runs = pd.read_parquet(folder / "runs.parquet")
    counts = phase_counts(runs)
    for phase, n in runs["phase"].value_counts().items():
        assert counts.loc[phase, "runs"] == n
        assert re.search(rf"{phase}</th>\s*<td>{n}</td>", page)
    assert "weight_decay" in page and "name: synthetic" in page  # sweep.yaml shown
    assert "grok_gap" in page  # classification settings shown


def test_plots_entries_choose_axes(tmp_path):
    d = make_results(
        tmp_path / "r",
        grid=SMALL3,
        plots=[{"x": "data.train_fraction", "y": "model.hidden"}],
        seeds=(0,),
    )
    names = {p.name for p in draw_all(d)}
    assert "phase__data.train_fraction__model.hidden.png" in names
    assert not any("weight_decay__" in n for n in names)


def test_one_axis_and_no_axis(tmp_path):
    d1 = make_results(tmp_path / "one", grid=ONE_AXIS)
    names = {p.name for p in draw_all(d1)}
    assert "phase__optimizer.weight_decay__seed.png" in names
    for n in names - {"index.html"}:
        assert_png(d1 / n)
    d0 = make_results(tmp_path / "zero", grid={})
    names = {p.name for p in draw_all(d0)}
    assert names == {"curves.png", "lu.png", "index.html"}


def test_frames_given_directly_and_classified_in_memory(tmp_path):
    d = make_results(tmp_path / "given", grid=SMALL3, seeds=(0,), classify=False)
    runs, curves = pd.read_parquet(d / "runs.parquet"), pd.read_parquet(d / "curves.parquet")
    assert "phase" not in runs.columns
    spec = yaml.safe_load((d / "sweep.yaml").read_text())
    for name in ("runs.parquet", "curves.parquet", "sweep.yaml"):
        (d / name).unlink()
    paths = draw_all(with_frames(d, runs, curves, spec))
    assert len(paths) == 7 and all(p.exists() for p in paths)
    assert not (d / "runs.parquet").exists()  # classified in memory only
    assert "name: synthetic" in (d / "index.html").read_text()


# --------------------------------------------------------------------------------------------
# What the figures show, read back from the drawn artists

XY = ("optimizer.weight_decay", "data.train_fraction")


def one_facet(folder: Path) -> pd.DataFrame:
    runs = pd.read_parquet(folder / "runs.parquet")
    return runs.loc[runs["model.hidden"] == "[32]"]


def cell_colors(ax, nx: int, ny: int) -> np.ndarray:
    """(ny, nx, 4) face colours of the cells' QuadMesh (the first collection drawn)."""
    return np.asarray(ax.collections[0].get_array()).reshape(ny, nx, 4)


def cell_of(runs: pd.DataFrame, xa, ya) -> pd.Series:
    """Each run's (column, row) cell, from the axes' value order."""
    ix = [list(xa.values).index(v) for v in runs[xa.key]]
    iy = [list(ya.values).index(v) for v in runs[ya.key]]
    return pd.Series(list(zip(ix, iy, strict=True)), index=runs.index)


def test_phase_diagram_cells_show_the_majority_phase(folder):
    runs = one_facet(folder)
    fig = Figure()
    ax = fig.subplots()
    phase_panel(ax, runs, *XY, GRID3)
    xa, ya = make_axis(runs, XY[0], GRID3), make_axis(runs, XY[1], GRID3)
    colors = cell_colors(ax, xa.n, ya.n)
    cells = runs.assign(cell=cell_of(runs, xa, ya))
    for (i, j), group in cells.groupby("cell"):
        votes = group["phase"].value_counts()
        top = [p for p in PHASES if votes.get(p, 0) == votes.max()][0]  # ties: PHASES order
        want = shade(PHASE_COLORS[top], votes.max() / len(group))
        assert np.allclose(colors[j, i], want, atol=1e-6), (i, j, top)
    # Each phase colour appears where that phase wins: no swapped legend.
    assert len(cells["cell"].unique()) == xa.n * ya.n


def test_metric_map_cells_show_the_medians(folder):
    runs = one_facet(folder)
    m = next(m for m in MAPS if m.column == "final_test_acc")
    fig = Figure()
    ax = fig.subplots()
    norm = metric_panel(ax, runs, m, *XY, GRID3)
    assert (norm.vmin, norm.vmax) == (0.0, 1.0)
    xa, ya = make_axis(runs, XY[0], GRID3), make_axis(runs, XY[1], GRID3)
    colors = cell_colors(ax, xa.n, ya.n)
    medians = runs.assign(cell=cell_of(runs, xa, ya)).groupby("cell")["final_test_acc"].median()
    for (i, j), median in medians.items():
        assert np.allclose(colors[j, i], mpl.colormaps["viridis"](median), atol=1e-6)
    grid = cell_medians(runs, m, xa, ya)  # the data behind the colours, (rows, columns)
    for (i, j), median in medians.items():
        assert grid[j, i] == pytest.approx(median)


def test_hatching_marks_the_cells_still_learning(folder):
    runs = one_facet(folder)
    assert runs["still_learning"].any() and not runs["still_learning"].all()
    fig = Figure()
    ax = fig.subplots()
    assert phase_panel(ax, runs, *XY, GRID3)
    xa, ya = make_axis(runs, XY[0], GRID3), make_axis(runs, XY[1], GRID3)
    xe, ye = xa.edges(), ya.edges()
    hatched = {
        (int(np.argmin(abs(xe - p.get_x()))), int(np.argmin(abs(ye - p.get_y()))))
        for p in ax.patches
        if isinstance(p, Rectangle) and p.get_hatch()
    }
    cells = runs.assign(cell=cell_of(runs, xa, ya))
    assert hatched == set(cells.loc[cells["still_learning"], "cell"])


def test_theme_is_seaborns_paper_ticks():
    import seaborn as sns

    from phasegrok.report.style import SEABORN_PAPER_TICKS

    want = {**sns.axes_style("ticks"), **sns.plotting_context("paper")}
    want.pop("image.cmap")  # seaborn's rocket needs seaborn imported; no figure relies on it
    got = {k: v for k, v in SEABORN_PAPER_TICKS.items() if k != "image.cmap"}
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == (pytest.approx(value) if isinstance(value, float) else value), key
