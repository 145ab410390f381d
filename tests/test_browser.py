"""index.html in a real browser: headless Chromium (Debian's `chromium`, which .ci/run installs)
draws the interactive phase diagram of a tiny sweep offline, with no console message, and the
drawn cells are the page's data; the same check fails on a broken page."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY, page_data

from phasegrok.analysis.classify import PHASE_COLORS
from phasegrok.report.vega_spec import first_cell
from phasegrok.sweep import run_sweep

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH (`apt-get install -y chromium`; .ci/run installs it)",
)


def render(index: Path, profile: Path) -> tuple[str, list[str]]:
    """(the DOM after the scripts ran, the browser console's lines) of `index`, offline."""
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            index.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def errors_box(dom: str) -> str:
    """The text of the page's own error box ('' when it is hidden and empty)."""
    m = re.search(r'<pre id="phasegrok-errors"[^>]*>(.*?)</pre>', dom, re.S)
    assert m, "the page has an error box"
    return m.group(1).strip()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "tiny"
    run_sweep(TINY, out, progress=False, max_runs_per_batch=6)
    return out


@pytest.mark.training
def test_chromium_draws_the_phase_diagram(folder, tmp_path):
    dom, console = render(folder / "index.html", tmp_path / "profile")
    assert console == [], console
    assert errors_box(dom) == ""
    assert dom.count('class="marks"') == 1, "one chart, drawn by vega as an <svg class='marks'>"
    records, (chart,) = page_data(folder / "index.html")
    runs = pd.read_parquet(folder / "runs.parquet")
    assert [r["id"] for r in records] == runs["run_id"].tolist()
    assert [r["phase"] for r in records] == runs["phase"].tolist()
    # The diagram's cells, as drawn: one rect per cell, coloured by its majority phase.
    cells = chart["spec"]["datasets"]["cells"]
    group = re.search(r'class="mark-rect role-mark concat_0_layer_0_marks"(.*?)</g>', dom, re.S)
    drawn = re.findall(r'<path aria-label="([^"]*)"[^>]*fill="([^"]+)"', group.group(1))
    assert len(drawn) == len(cells) == 3 * 2
    for text, fill in drawn:
        phase = re.search(r"majority: (\w+)", text).group(1)
        assert fill.lower() == PHASE_COLORS[phase].lower()
    assert sorted(re.search(r"majority: (\w+)", t).group(1) for t, _ in drawn) == sorted(
        c["phase"] for c in cells
    )
    # The first grokking cell (else the first) starts selected: its runs' curves are drawn.
    lines = re.findall(r'class="mark-line role-mark [^"]*"(.*?)</g>', dom, re.S)
    n = chart["cells"].count(first_cell(cells))
    assert n == 2 and sum(group.count("<path") for group in lines) == 2 * n


@pytest.mark.training
@pytest.mark.parametrize("damage", ["bad spec", "no vendor"])
def test_the_check_fails_on_a_broken_page(folder, tmp_path, damage):
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    index = broken / "index.html"
    if damage == "bad spec":
        index.write_text(index.read_text().replace('"mark":{"type":"rect"', '"mark":{"type":7'))
    else:
        shutil.rmtree(broken / "vendor")
    dom, console = render(index, tmp_path / "profile")
    assert console, "the console shows the failure"
    assert errors_box(dom), "the page shows the failure"
    assert 'class="marks"' not in dom
