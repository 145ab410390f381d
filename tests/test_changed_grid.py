"""A results folder rerun with another grid shows that grid alone; the old runs wait in parts/."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

import phasegrok
from phasegrok.config.load import load_sweep
from phasegrok.store import folder as store
from phasegrok.store.progress import PROGRESS
from phasegrok.sweep import main, run_sweep

WD = "optimizer.weight_decay"


def _sweep(tiny, decays):
    sweep = {**tiny, "grid": {**tiny["grid"], WD: decays}}
    sweep["train"] = {**tiny["train"], "save_params_at": [20]}
    return sweep


def _parts(out):
    return sorted(p.name for p in (out / "parts").iterdir())


@pytest.mark.training
def test_a_changed_grid_replaces_the_tables_and_keeps_the_old_runs_aside(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    first = run_sweep(_sweep(tiny, [0.01, 0.1, 1.0]), out, progress=False, plots=False).runs
    assert len(first) == 12
    assert "kept aside" not in capsys.readouterr().err

    # Another grid: 0.3 is new, 1.0 returns; 0.01 and 0.1 are left out.
    second = run_sweep(_sweep(tiny, [0.3, 1.0]), out, progress=False, plots=False).runs
    err = capsys.readouterr().err
    assert "8 runs of an earlier grid kept aside" in err and len(err.splitlines()) == 1
    on_disk = pd.read_parquet(out / store.RUNS)
    assert len(on_disk) == len(second) == 8 and on_disk["run_id"].is_unique
    assert sorted(on_disk[WD].unique()) == [0.3, 1.0]
    assert set(pd.read_parquet(out / store.CURVES)["run_id"]) == set(on_disk["run_id"])
    if (out / PROGRESS).exists():
        assert set(pd.read_parquet(out / PROGRESS)["run_id"]) <= set(on_disk["run_id"])
    kept = set(first.loc[first[WD] == 1.0, "run_id"])
    assert kept <= set(on_disk["run_id"])  # reused, not trained again
    assert set(first["run_id"]) <= store.done_run_ids(out)  # the old runs stay in parts/
    loaded = phasegrok.load(out).runs
    assert list(loaded["run_id"]) == list(on_disk["run_id"])
    assert yaml.safe_load((out / store.SWEEP_YAML).read_text())["grid"][WD] == [0.3, 1.0]

    # The dry run of the first grid: every run is there, the 0.3 runs would be kept aside.
    sweep_file = tmp_path / "first.yaml"
    sweep_file.write_text(yaml.safe_dump(_sweep(tiny, [0.01, 0.1, 1.0])))
    assert main([str(sweep_file), "--out", str(out), "--dry-run"]) == 0
    said = capsys.readouterr().out
    assert "12 runs (12 already done)" in said and "4 runs of an earlier grid kept aside" in said

    # Back to the first grid: nothing is trained, the tables are the first sweep's again.
    parts = _parts(out)
    back = run_sweep(_sweep(tiny, [0.01, 0.1, 1.0]), out, progress=False, plots=False).runs
    assert _parts(out) == parts
    assert list(back["run_id"]) == list(first["run_id"])
    assert list(pd.read_parquet(out / store.RUNS)["run_id"]) == list(first["run_id"])
    assert "4 runs of an earlier grid kept aside" in capsys.readouterr().err


@pytest.mark.training
def test_a_changed_sweep_drops_the_stale_tables_until_it_finishes(tiny, tmp_path):
    out = tmp_path / "out"
    run_sweep(_sweep(tiny, [0.01, 0.1]), out, progress=False, plots=False)
    spec = load_sweep(_sweep(tiny, [0.3]))
    store.prepare(out, spec.identity(), spec.resolved_dict(), False)
    # Started and stopped before its first batch: no table of the old grid is left to read.
    assert not (out / store.RUNS).exists() and not (out / store.CURVES).exists()
    with pytest.raises(store.OutputError, match="no finished runs of this sweep"):
        phasegrok.load(out)
