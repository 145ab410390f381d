"""No single changed byte in a results folder changes a number that is served.

A hypothesis test (derandomized: the same examples in every run) flips one byte of one file of a
finished tiny sweep (`sweep.yaml` aside: a changed sweep file is a new sweep) and asks every
entry point, in this process: `phasegrok.load` (the tables and every run's parameters), the
plot command (what it reads before drawing: the runs, curves, progress rows and parameters it
draws from; the figures themselves are left out to keep the test short), `--dry-run`,
`--verify` and the rerun of the sweep. Each gives the identical data or the one-line damaged
answer, never a changed value and never a traceback; the rerun repairs the folder.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import phasegrok
import phasegrok.report
from phasegrok.plot import main as plot_main
from phasegrok.store import progress as progress_store
from phasegrok.store.folder import DamagedError
from phasegrok.sweep import main

pytestmark = pytest.mark.training  # trains a real sweep

ARGS = ["--no-plots", "--quiet", "--batch-runs", "6"]  # 12 runs in 2 batches
TIMED = ["batch_wall_time", "batch_compile_time"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    base = tmp_path_factory.mktemp("flips")
    sweep_file = base / "tiny.yaml"
    sweep_file.write_text(yaml.safe_dump(TINY))
    out = base / "out"
    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "sweep.yaml")
    return sweep_file, out, [p.relative_to(out) for p in files], _served(out)


def _served(out: Path) -> dict:
    """Everything `load` serves: the tables, the progress rows, every run's parameters."""
    results = phasegrok.load(out)
    return {
        "runs": results.runs.drop(columns=TIMED),
        "curves": results.curves,
        "progress": progress_store.read(out),
        "params": {r: _flat(results.params(r)) for r in results.runs["run_id"]},
    }


def _flat(tree, prefix=""):
    if isinstance(tree, dict):
        return {k: v for key in tree for k, v in _flat(tree[key], f"{prefix}/{key}").items()}
    return {prefix: np.asarray(tree)}


def _assert_same(got: dict, want: dict) -> None:
    pd.testing.assert_frame_equal(got["runs"], want["runs"])
    pd.testing.assert_frame_equal(got["curves"], want["curves"])
    pd.testing.assert_frame_equal(got["progress"], want["progress"])
    assert got["params"].keys() == want["params"].keys()
    for run_id, leaves in want["params"].items():
        assert got["params"][run_id].keys() == leaves.keys()
        for key, value in leaves.items():
            np.testing.assert_array_equal(got["params"][run_id][key], value)


def _one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert "Traceback" not in text and len(lines) == 1, text
    return lines[0]


def _snapshot(out: Path) -> dict:
    return {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}


def _plot_reads(results) -> list:
    """What the plot command's figures read, without drawing them."""
    return [progress_store.read(results.path), *map(results.params, results.runs["run_id"])]


@settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_one_changed_byte_is_served_identically_or_refused_in_one_line(
    finished, monkeypatch, capsys, data
):
    sweep_file, reference, files, want = finished
    name = data.draw(st.sampled_from(files), label="file")
    size = (reference / name).stat().st_size
    at = data.draw(st.integers(0, size - 1), label="byte")
    mask = data.draw(st.integers(1, 255), label="xor")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        shutil.copytree(reference, out)
        raw = bytearray((out / name).read_bytes())
        raw[at] ^= mask
        (out / name).write_bytes(bytes(raw))
        capsys.readouterr()

        refused = False  # by load or plot, in one line
        try:
            _assert_same(_served(out), want)
        except DamagedError as err:
            _one_line(str(err))
            refused = True

        monkeypatch.setattr(phasegrok.report, "draw_all", lambda res, **kw: _plot_reads(res))
        status = plot_main([str(out)])
        monkeypatch.undo()
        captured = capsys.readouterr()
        assert status in (0, 2), captured.err
        if status == 2:
            assert "error:" in _one_line(captured.err)
            refused = True
        else:
            assert "Traceback" not in captured.err, captured.err

        before = _snapshot(out)
        status = main([str(sweep_file), "--out", str(out), "--dry-run"])
        captured = capsys.readouterr()
        assert status == 0 and "Traceback" not in captured.err, captured.err
        assert _snapshot(out) == before

        status = main([str(sweep_file), "--out", str(out), "--verify"])
        captured = capsys.readouterr()
        assert status in (0, 1) and "Traceback" not in captured.out + captured.err
        assert _snapshot(out) == before
        if refused:  # what load or plot refused, --verify finds
            assert status == 1, captured.out

        status = main([str(sweep_file), "--out", str(out), *ARGS])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err, captured.err
        if status == 2:  # a changed manifest: another sweep's folder, said in one line
            assert name.name == "manifest.json" and "--force" in _one_line(captured.err)
            return
        assert status == 0, captured.err
        _assert_same(_served(out), want)
        assert main([str(sweep_file), "--out", str(out), "--verify"]) == 0
        capsys.readouterr()
