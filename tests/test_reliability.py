"""Sweeps killed by real signals at several moments, resumed, compared row for row."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.training  # trains real sweeps: the long tests

ROOT = Path(__file__).resolve().parents[1]
# Columns that legitimately differ between an interrupted and an uninterrupted sweep.
TIMING = ["batch_id", "batch_wall_time", "batch_compile_time", "strategy"]

SWEEP = {
    "name": "killme",
    "task": {"kind": "modular", "op": "add", "p": 13},
    "data": {"train_fraction": 0.5},
    "model": {"embed_dim": 8, "hidden": [16]},
    "optimizer": {"lr": 3.0e-3},
    "train": {"steps": 400, "eval_every": 20, "seeds": 2},
    "grid": {"optimizer.weight_decay": [0.01, 0.1, 1.0, 3.0], "optimizer.lr": [1.0e-3, 3.0e-3]},
}
ARGS = ["--no-plots", "--quiet", "--batch-runs", "2"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def _start(sweep_file, out, wrapper=""):
    code = textwrap.dedent(wrapper) + textwrap.dedent(
        f"""
        import sys
        from phasegrok.sweep import main
        sys.exit(main({[str(sweep_file), "--out", str(out), *ARGS]!r}))
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], env=ENV, stderr=subprocess.PIPE, text=True
    )


def _slow_commits(which: str, seconds: int) -> str:
    """Wrapper code: the commits (renames to *.runs.parquet) for which `which` holds (a Python
    condition on the 1-based commit count `_count[0]`) sleep `seconds` before they rename."""
    return f"""
        import os, time
        _replace = os.replace
        _count = [0]
        def slow_replace(src, dst):
            if str(dst).endswith(".runs.parquet"):
                _count[0] += 1
                if {which}:
                    time.sleep({seconds})
            _replace(src, dst)
        os.replace = slow_replace
    """


def _wait_for(predicate, proc, timeout=300):
    start = time.monotonic()
    while not predicate():
        assert proc.poll() is None, f"sweep ended before the signal: {proc.stderr.read()}"
        assert time.monotonic() - start < timeout, "timed out waiting"
        time.sleep(0.02)


def _committed(out):
    return list((out / "parts").glob("*.runs.parquet")) if (out / "parts").exists() else []


def _frames(out):
    runs = pd.read_parquet(out / "runs.parquet").drop(columns=TIMING)
    curves = pd.read_parquet(out / "curves.parquet")
    runs = runs.sort_values("run_id").reset_index(drop=True)
    curves = curves.sort_values(["run_id", "step"]).reset_index(drop=True)
    return runs, curves


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("reference")
    sweep_file = base / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    proc = _start(sweep_file, base / "out")
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    return sweep_file, _frames(base / "out")


def _resume_and_compare(sweep_file, out, reference_frames):
    for path in (out / "parts").iterdir():
        assert ".tmp-" not in path.name or path.name.startswith("."), path
    for part in _committed(out):  # only whole batches: every runs part has its siblings
        assert part.with_name(part.name.replace(".runs.", ".curves.")).exists()
        assert part.with_name(part.name.replace(".runs.parquet", ".params.npz")).exists()
    proc = _start(sweep_file, out)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    names = {p.name.split(".")[0] for p in (out / "parts").iterdir()}
    assert names == {p.name.split(".")[0] for p in _committed(out)}  # no half batches left
    runs, curves = _frames(out)
    ref_runs, ref_curves = reference_frames
    assert runs["run_id"].is_unique and len(runs) == 16
    pd.testing.assert_frame_equal(runs, ref_runs)
    pd.testing.assert_frame_equal(curves, ref_curves)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_killed_during_training_resumes_to_the_same_results(sig, reference, tmp_path):
    sweep_file, frames = reference
    out = tmp_path / "out"
    # Hold back every commit after the second so the sweep is still training when the
    # signal lands (16 small runs can otherwise finish between the poll and the signal).
    proc = _start(sweep_file, out, _slow_commits("_count[0] > 2", 20))
    _wait_for(lambda: len(_committed(out)) >= 2, proc)
    proc.send_signal(sig)
    status = proc.wait(timeout=60)
    if sig == signal.SIGKILL:
        assert status == -signal.SIGKILL
    else:
        assert status == 130
        assert "run the same command again to resume" in proc.stderr.read()
    assert 2 <= len(_committed(out)) < 8
    _resume_and_compare(sweep_file, out, frames)


def test_killed_in_the_middle_of_a_write_resumes(reference, tmp_path):
    sweep_file, frames = reference
    out = tmp_path / "out"
    # Slow down the rename that commits the second batch so the kill lands mid-write.
    proc = _start(sweep_file, out, _slow_commits("_count[0] == 2", 30))
    _wait_for(
        lambda: len(_committed(out)) == 1 and any((out / "parts").glob(".*.runs.parquet.tmp-*")),
        proc,
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert len(_committed(out)) == 1
    _resume_and_compare(sweep_file, out, frames)


def test_a_full_disk_is_a_clear_error_and_loses_nothing(reference, tmp_path):
    sweep_file, frames = reference
    out = tmp_path / "out"
    # The third batch's write fails as on a full disk.
    wrapper = """
        import errno, os
        _replace = os.replace
        _count = [0]
        def full_disk(src, dst):
            if str(dst).endswith(".curves.parquet"):
                _count[0] += 1
                if _count[0] == 3:
                    raise OSError(errno.ENOSPC, "No space left on device")
            _replace(src, dst)
        os.replace = full_disk
    """
    proc = _start(sweep_file, out, wrapper)
    assert proc.wait(timeout=600) == 1
    err = proc.stderr.read().strip().splitlines()
    assert "No space left on device" in err[-1] and "rerun the same command" in err[-1]
    assert "Traceback" not in "\n".join(err)
    assert len(_committed(out)) == 2
    _resume_and_compare(sweep_file, out, frames)
