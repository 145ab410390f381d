"""The refinement budget goes through the run limits as the grid does, and the refined axes'
order in `refine.axes` does not change which points a sweep trains."""

from __future__ import annotations

import copy

import pyarrow.parquet as pq
import pytest
import yaml
from test_refine_sweep import SWEEP

from phasegrok.sweep import main

AXES = ["optimizer.weight_decay", "data.train_fraction"]


def _file(tmp_path, sweep):
    path = tmp_path / "refine.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return str(path)


@pytest.mark.parametrize("budget", [30_000, 10**24])
def test_a_huge_refinement_budget_needs_yes_or_is_refused(budget, tmp_path, capsys):
    sweep = _file(tmp_path, SWEEP)
    out = tmp_path / "out"
    assert main([sweep, f"refine.max_runs={budget}", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(budget) in err[0], err
    assert ("pass --yes" in err[0]) == (budget < 500_000), err
    assert not out.exists()
    if budget > 500_000:  # refused even with --yes, and a dry run says so
        assert main([sweep, f"refine.max_runs={budget}", "--out", str(out), "--yes"]) == 2
        assert "refine.max_runs" in capsys.readouterr().err
        assert main([sweep, f"refine.max_runs={budget}", "--out", str(out), "--dry-run"]) == 0
        assert "refused: " in capsys.readouterr().out
        assert not out.exists()


def _trained(out):
    ids = set()
    for part in (out / "parts").glob("*.runs.parquet"):
        ids |= set(pq.read_table(part, columns=["run_id"]).column("run_id").to_pylist())
    return ids


@pytest.mark.training
def test_the_refined_axes_named_the_other_way_round_train_nothing_more(tmp_path, capsys):
    sweep = copy.deepcopy(SWEEP)
    sweep["refine"] = {"rounds": 2, "max_runs": 6, "axes": AXES}
    out = tmp_path / "out"
    args = ["--out", str(out), "--quiet", "--no-plots"]
    assert main([_file(tmp_path, sweep), *args]) == 0
    trained = _trained(out)
    assert len(trained) <= 6 + 6
    sweep["refine"]["axes"] = AXES[::-1]
    assert main([_file(tmp_path, sweep), *args]) == 0
    assert _trained(out) == trained  # the same points: nothing trained past max_runs
    assert "kept aside" not in capsys.readouterr().err
