"""`partial_generalization`: final test accuracy at least halfway from chance to the threshold
and below it, on synthetic curves; the phase labels stay as they were; folders written before
the column load and replot with it computed in memory; the phase diagram's diamond."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from classify_curves import STEPS, P, classify_one, curve, frames, step_up
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from synthetic_results import GRID3, make_results

import phasegrok
from phasegrok.analysis.classify import (
    CLASS_COLUMNS,
    classify_runs,
    partial_floor,
    partial_generalization,
    with_partial_generalization,
)
from phasegrok.config.schema import ClassifySpec
from phasegrok.plot import main as plot_main
from phasegrok.report.diagrams import PARTIAL_GID, cell_phases, phase_diagram, phase_panel
from phasegrok.report.gallery import phase_counts
from phasegrok.report.grid import make_axis

XY = ("optimizer.weight_decay", "data.train_fraction")


def ending_at(final: float, rise_at: int = 3000) -> np.ndarray:
    """Test accuracy at chance, rising at `rise_at` to `final` (a plateau: not still learning)."""
    return np.where(STEPS >= rise_at, final, 1.0 / P)


def test_floor_is_halfway_from_chance_to_the_threshold():
    assert partial_floor(97, 0.9)[0] == pytest.approx(1 / 97 + (0.9 - 1 / 97) / 2)
    assert partial_floor(2, 0.9)[0] == pytest.approx(0.7)  # parity: chance 0.5
    assert partial_floor(31, 0.99)[0] == pytest.approx(1 / 31 + (0.99 - 1 / 31) / 2)
    # No class count (or a nonsense one): chance 0, the stricter threshold / 2.
    assert partial_floor([np.nan, 1, 0], 0.9).tolist() == pytest.approx([0.45, 0.45, 0.45])
    got = partial_generalization([0.0, 0.3, 0.47, 0.86, 0.9, 1.0, np.nan], 31, 0.9)
    assert got.tolist() == [False, False, True, True, False, False, False]


def test_column_on_synthetic_curves():
    cases = {
        "chance": ending_at(1.0 / P),
        "low": ending_at(0.3),  # well above chance, but nearer chance than the threshold
        "semi": ending_at(0.6),  # Varma et al.'s semi-grokking: delayed, to partial accuracy
        "high": ending_at(0.86),
        "grok": ending_at(1.0),
    }
    runs, curves = frames({k: curve(k, step_up(500), acc) for k, acc in cases.items()})
    out = classify_runs(runs, curves, ClassifySpec()).set_index("run_id")
    assert "partial_generalization" in CLASS_COLUMNS
    assert out["partial_generalization"].dtype == bool
    assert out["partial_generalization"].to_dict() == {
        "chance": False,
        "low": False,
        "semi": True,
        "high": True,
        "grok": False,
    }
    # The seven phase labels are untouched: every run below the threshold is memorize.
    assert out["phase"].to_dict() == {
        "chance": "memorize",
        "low": "memorize",
        "semi": "memorize",
        "high": "memorize",
        "grok": "grok",
    }
    # The threshold moves the floor: at 0.99, 0.86 is far enough from chance and still below.
    strict = classify_runs(runs, curves, ClassifySpec(threshold=0.99)).set_index("run_id")
    assert strict.loc["grok", "partial_generalization"] == np.False_
    assert strict.loc["high", "partial_generalization"] == np.True_


def test_column_whatever_the_phase_and_not_where_diverged():
    # A fit then lost for good (collapse) at 0.7 test accuracy: flagged; a NaN end: not.
    train = step_up(500)
    train[STEPS >= 8000] = 0.3
    r = classify_one(train_acc=train, test_acc=ending_at(0.7))
    assert r.phase == "collapse" and r.partial_generalization
    test = ending_at(0.7)
    test[-1] = np.nan
    r = classify_one(train_acc=step_up(500), test_acc=test)
    assert r.phase == "diverge" and not r.partial_generalization
    # Binary labels: chance is 0.5, so 0.6 is not partial generalization, 0.75 is.
    for final, want in ((0.6, False), (0.75, True)):
        runs, curves = frames({"r": curve("r", step_up(500), ending_at(final))}, n_classes=2)
        assert classify_runs(runs, curves).iloc[0].partial_generalization == want


def test_old_folder_loads_and_replots(tmp_path):
    d = make_results(tmp_path / "old", grid=GRID3, seeds=(0, 1))
    new = pd.read_parquet(d / "runs.parquet")
    old = new.drop(columns="partial_generalization")
    old.to_parquet(d / "runs.parquet", index=False)  # as written before the column existed
    runs = phasegrok.load(d).classified().runs
    pd.testing.assert_series_equal(
        runs["partial_generalization"], new["partial_generalization"], check_names=False
    )
    pd.testing.assert_frame_equal(runs[old.columns], old)  # nothing else changed
    assert with_partial_generalization(old.drop(columns="phase"), pd.DataFrame()).equals(
        old.drop(columns="phase")
    )
    assert plot_main([str(d)]) == 0
    # Replotted in memory: runs.parquet on disk is as it was.
    pd.testing.assert_frame_equal(pd.read_parquet(d / "runs.parquet"), old)


def partial_grid() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four cells of two seeds: both partial; one partial, one generalized (split); both
    generalized; both at chance."""
    finals = {(0.1, 0.3): (0.6, 0.7), (0.1, 0.5): (0.6, 1.0), (1.0, 0.3): (1.0, 1.0)}
    finals[(1.0, 0.5)] = (1.0 / P, 1.0 / P)
    runs, curves = [], {}
    for (wd, frac), accs in finals.items():
        for seed, acc in enumerate(accs):
            rid = f"r{len(curves)}"
            curves[rid] = curve(rid, step_up(500), ending_at(acc))
            runs.append({"run_id": rid, XY[0]: wd, XY[1]: frac, "seed": seed})
    base, long = frames(curves)
    runs = pd.DataFrame(runs).merge(base[["run_id", "loss", "n_classes"]], on="run_id")
    return classify_runs(runs, long, ClassifySpec()), long


def test_diamond_marks_the_cells_where_most_seeds_are_partial():
    runs, _ = partial_grid()
    xa, ya = make_axis(runs, XY[0]), make_axis(runs, XY[1])
    cells = cell_phases(runs, xa, ya)
    assert cells.loc[cells["partial"]].index.tolist() == [(0, 0)]  # 1 of 2 is no majority
    fig = Figure()
    ax = fig.subplots()
    phase_panel(ax, runs, *XY)
    marks = [ln for ln in ax.lines if ln.get_gid() == PARTIAL_GID]
    assert len(marks) == 1 and marks[0].get_marker() == "D"
    x, y = marks[0].get_data()
    assert xa.edges()[0] < x[0] < xa.edges()[1] and ya.edges()[0] < y[0] < ya.edges()[1]
    # Without the column (an old frame, not loaded through Results): no marks, no error.
    fig = Figure()
    ax = fig.subplots()
    phase_panel(ax, runs.drop(columns="partial_generalization"), *XY)
    assert not [ln for ln in ax.lines if ln.get_gid() == PARTIAL_GID]


def legend_texts(fig: Figure) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_legend_lists_the_phases_shown_and_explains_the_marks():
    runs, _ = partial_grid()
    texts = legend_texts(phase_diagram(runs, *XY, [], {}))
    phases = [t for t in texts if t in ("comprehend", "grok", "memorize", "confuse", "diverge")]
    assert sorted(phases) == sorted(set(runs["phase"]))  # only the phases present
    assert "oscillate" not in texts and "collapse" not in texts
    assert any("partial generalization" in t for t in texts)
    assert any("paler where split" in t for t in texts)  # (0.1, 0.5): memorize and grok
    handles = [h for leg in phase_diagram(runs, *XY, [], {}).legends for h in leg.legend_handles]
    assert any(isinstance(h, Line2D) and h.get_marker() == "D" for h in handles)
    # No partial run, all seeds agreeing: neither mark is explained.
    plain = runs.loc[runs[XY[0]] == 1.0]
    texts = legend_texts(phase_diagram(plain, *XY, [], {}))
    assert not any("partial" in t or "split" in t for t in texts)


def test_index_counts_and_caption(tmp_path):
    d = make_results(tmp_path / "r", grid=GRID3, seeds=(0, 1))
    runs = pd.read_parquet(d / "runs.parquet")
    assert not runs["partial_generalization"].any()  # its memorize runs end near chance
    # The lowest weight decay's memorize runs rise to 0.7 at step 3000; reclassified.
    curves = pd.read_parquet(d / "curves.parquet")
    low = runs.loc[runs[XY[0]] == 1e-4, "run_id"]
    curves.loc[curves["run_id"].isin(low) & (curves["step"] >= 3000), "test_acc"] = 0.7
    curves.to_parquet(d / "curves.parquet", index=False)
    assert plot_main([str(d), "--reclassify"]) == 0
    runs = pd.read_parquet(d / "runs.parquet")
    assert set(runs.loc[runs["partial_generalization"], "run_id"]) == set(low)
    assert (runs.loc[runs["run_id"].isin(low), "phase"] == "memorize").all()
    counts = phase_counts(runs)
    for phase, n in runs.groupby("phase")["partial_generalization"].sum().items():
        assert counts.loc[phase, "partial_generalization"] == n
    page = (d / "index.html").read_text()
    assert "partial generalization" in page and "White diamond" in page


def test_old_folder_reclassified_with_overrides_keeps_its_record(tmp_path):
    d = make_results(tmp_path / "rec", grid=GRID3, seeds=(0,))
    assert plot_main([str(d), "--classify", "threshold=0.5"]) == 0
    runs = pd.read_parquet(d / "runs.parquet")
    table = pq.read_table(d / "runs.parquet")  # its metadata records the --classify thresholds
    pq.write_table(table.drop_columns(["partial_generalization"]), d / "runs.parquet")
    (d / "tables.sha256").unlink()  # an old folder: written before tables were hashed
    res = phasegrok.load(d)
    assert res.classify_recorded and res.classify.threshold == 0.5
    done = res.classified()
    assert done.classify_recorded  # index.html still says --classify set the thresholds
    # The column under the recorded threshold 0.5, not the sweep's 0.9.
    assert done.runs["partial_generalization"].tolist() == runs["partial_generalization"].tolist()
