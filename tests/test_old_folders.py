"""Results folders written before the redesign (tests/fixtures/old-*, made by the code at the
commit that recorded the fingerprints, figures left out) still load, replot and resume with
nothing trained again: the redesign kept every run id and every file's meaning."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import phasegrok
from phasegrok import plot, sweep
from phasegrok.engine import batch as engine_batch

FIXTURES = Path(__file__).parent / "fixtures"
KINDS = {"old-modular": 4, "old-parity": 2}


@pytest.fixture(params=sorted(KINDS))
def old(request, tmp_path) -> tuple[Path, int]:
    out = tmp_path / request.param
    shutil.copytree(FIXTURES / request.param, out)
    return out, KINDS[request.param]


def test_an_old_folder_loads(old):
    out, n_runs = old
    results = phasegrok.load(out)
    assert len(results.runs) == n_runs and results.runs["phase"].notna().all()
    assert set(results.curves["run_id"]) == set(results.runs["run_id"])


@pytest.mark.training
def test_an_old_folder_resumes_with_nothing_trained_and_replots(old, monkeypatch, capsys):
    out, n_runs = old
    before = phasegrok.load(out).runs.sort_values("run_id").reset_index(drop=True)

    def refuse(*args, **kwargs):
        raise AssertionError("a run of an old folder was trained again")

    monkeypatch.setattr(engine_batch, "execute_batch", refuse)
    assert sweep.main([str(out / "sweep.yaml"), "--out", str(out), "--quiet"]) == 0
    assert f"{n_runs} runs" in capsys.readouterr().err
    after = phasegrok.load(out).runs.sort_values("run_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(after[before.columns], before)
    assert plot.main([str(out)]) == 0
    assert any(out.glob("phase__*.png"))
