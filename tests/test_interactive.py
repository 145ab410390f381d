"""The interactive index.html (report.interactive) and the live page (report.live), without a
browser: the data inline in the page against runs.parquet and curves.parquet, the vendored
scripts, the refresh while a sweep trains. tests/test_browser.py draws the page in Chromium."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY, page_data
from synthetic_results import make_results

from phasegrok.analysis.classify import PHASE_COLORS
from phasegrok.analysis.results import load
from phasegrok.plot import main as plot_main
from phasegrok.report import draw_all
from phasegrok.report.diagrams import cell_phases
from phasegrok.report.grid import make_axis
from phasegrok.report.interactive import (
    DIGITS,
    POINTS,
    SCRIPTS,
    VENDOR_FILES,
    downsample,
    keep_points,
)
from phasegrok.report.live import LivePage
from phasegrok.report.vega_spec import PHASE_SCALE
from phasegrok.sweep import main as sweep_main


def refreshes(index: Path) -> bool:
    return bool(re.search(r"<meta http-equiv='refresh' content='5'>", index.read_text()))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = make_results(tmp_path_factory.mktemp("interactive"))
    draw_all(d, workers=1)
    return d


def test_keep_points_spans_the_curve():
    assert keep_points(10).tolist() == list(range(10))
    k = keep_points(126)
    assert len(k) == POINTS and k[0] == 0 and k[-1] == 125 and (np.diff(k) > 0).all()
    assert len(keep_points(0)) == 0


def test_downsample_keeps_each_runs_ends_in_order():
    curves = pd.DataFrame(
        {
            "run_id": ["b"] * 200 + ["a"] * 7,
            "step": [*range(0, 2000, 10), *range(7)],
            "train_acc": 0.5,
        }
    )
    small = downsample(curves)
    assert small.groupby("run_id").size().to_dict() == {"a": 7, "b": POINTS}
    b = small.loc[small["run_id"] == "b", "step"]
    assert b.iloc[0] == 0 and b.iloc[-1] == 1990 and b.is_monotonic_increasing


def test_page_data_matches_runs_parquet(folder):
    results = load(folder)
    runs, curves = results.runs, results.curves
    records, charts = page_data(folder / "index.html")
    assert [r["id"] for r in records] == runs["run_id"].tolist()
    assert [r["phase"] for r in records] == runs["phase"].tolist()
    assert [r["seed"] for r in records] == runs["seed"].tolist()
    for r in records[:: max(1, len(records) // 7)]:
        full = curves.loc[curves["run_id"] == r["id"]].sort_values("step")
        kept = full.iloc[keep_points(len(full))]
        assert r["step"] == kept["step"].tolist()
        assert r["train"] == pytest.approx(kept["train_acc"].round(DIGITS).tolist(), abs=1e-12)
        assert r["test"] == pytest.approx(kept["test_acc"].round(DIGITS).tolist(), abs=1e-12)
    # One chart: weight decay x train fraction, model.hidden as a facet chosen in a drop-down.
    (chart,) = charts
    assert (chart["x"], chart["y"]) == ("optimizer.weight_decay", "data.train_fraction")
    assert chart["spec"]["params"][0]["bind"]["options"] == ["hidden = [32]", "hidden = [64]"]
    cells = {c["cell"]: c for c in chart["spec"]["datasets"]["cells"]}
    xa = make_axis(runs, chart["x"])
    ya = make_axis(runs, chart["y"])
    for facet in ("[32]", "[64]"):
        sub = runs.loc[runs["model.hidden"] == facet]
        expected = cell_phases(sub, xa, ya)  # the PNG's majority vote
        for (i, j), row in expected.iterrows():
            here = sub.index[(xa.codes(sub[xa.key]) == i) & (ya.codes(sub[ya.key]) == j)]
            ids = {chart["cells"][k] for k in here}
            assert len(ids) == 1, "a cell's runs share one cell id"
            cell = cells[ids.pop()]
            assert (cell["x"], cell["y"]) == (xa.labels()[i], ya.labels()[j])
            assert cell["facet"] == f"hidden = {facet}"
            assert (cell["phase"], cell["k"], cell["n"]) == (row.phase, row.k, row.n)
            assert cell["still"] == bool(row.still)
    assert PHASE_SCALE["range"] == [PHASE_COLORS[p] for p in PHASE_SCALE["domain"]]


def test_page_works_offline(folder):
    text = (folder / "index.html").read_text()
    sources = re.findall(r"<script[^>]*\bsrc=['\"]([^'\"]+)", text)
    assert sources == [f"vendor/{name}" for name in SCRIPTS]
    assert not re.search(r"(src|href)=['\"]?https?:", text)
    packaged = files("phasegrok.report") / "vendor"
    for name in VENDOR_FILES:
        assert (folder / "vendor" / name).read_bytes() == (packaged / name).read_bytes()
    assert "BSD" in (folder / "vendor" / "README.md").read_text()
    assert not refreshes(folder / "index.html"), "the final page does not reload"


def test_vendor_written_once(folder):
    target = folder / "vendor" / "vega.min.js"
    before = target.stat().st_mtime_ns
    draw_all(folder, workers=1)
    assert target.stat().st_mtime_ns == before


def test_plot_cli_writes_the_interactive_page(tmp_path):
    d = make_results(tmp_path / "r", grid={"optimizer.weight_decay": [1e-4, 1e-2]})
    assert plot_main([str(d)]) == 0
    records, charts = page_data(d / "index.html")
    assert len(records) == 4 and len(charts) == 1
    assert charts[0]["y"] == "seed"  # one grid axis: against seed, as the PNG
    assert (d / "vendor" / "vega-embed.min.js").is_file()


def batches(folder: Path, size: int) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    results = load(folder)
    runs = results.runs.drop(columns=["phase"])
    out = []
    for start in range(0, len(runs), size):
        part = runs.iloc[start : start + size]
        out.append((part, results.curves.loc[results.curves["run_id"].isin(part["run_id"])]))
    return out


def test_live_page_follows_the_batches(folder, tmp_path):
    d = tmp_path / "live"
    d.mkdir()
    sweep = load(folder).sweep
    parts = batches(folder, 10)
    total = sum(len(r) for r, _ in parts)
    page = LivePage(d, sweep, total).resume()
    assert refreshes(page.path) and "0 of 48 runs finished" in page.path.read_text()
    seen = []
    for runs, curves in parts:
        page.add(runs, curves)
        records, charts = page_data(page.path)
        seen.append(len(records))
        assert refreshes(page.path) and len(charts) == 1
        assert f"{len(records)} of {total} runs finished" in page.path.read_text()
    assert seen == [10, 20, 30, 40, 48]
    expected = load(folder).runs  # classified batch by batch = classified all at once
    assert [r["phase"] for r in records] == expected["phase"].tolist()
    assert not page.failed and page.written > 0
    with pytest.raises(KeyboardInterrupt), page:
        raise KeyboardInterrupt
    assert not refreshes(page.path)
    assert "stopped (KeyboardInterrupt): 48 of 48" in page.path.read_text()
    refined = LivePage(tmp_path / "refined", sweep, total, refine_budget=12)
    (tmp_path / "refined").mkdir()
    refined.add(*parts[0])
    assert "10 of up to 60 runs finished" in refined.path.read_text()


@pytest.mark.training
def test_sweep_cli_live_then_final_page(tmp_path, monkeypatch, capsys):
    """The CLI's first line names the page; the page refreshes after each batch of 4 runs and
    not at the end; the final page holds every run."""
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    pages = []
    write = LivePage.write

    def keep(self, *args, **kwargs):
        path = write(self, *args, **kwargs)
        pages.append((refreshes(path), len(page_data(path)[0])))
        return path

    monkeypatch.setattr(LivePage, "write", keep)
    out = tmp_path / "out"
    args = [str(tmp_path / "tiny.yaml"), "--out", str(out), "--batch-runs", "4", "--quiet"]
    assert sweep_main(args) == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert first == f"live page: {(out / 'index.html').resolve()}"
    assert pages == [(True, 0), (True, 4), (True, 8), (True, 12)]
    records, charts = page_data(out / "index.html")
    assert not refreshes(out / "index.html") and len(charts) == 1
    assert [r["id"] for r in records] == pd.read_parquet(out / "runs.parquet")["run_id"].tolist()
