"""The CLI end to end on tiny grids: files, rows, columns, resume, refusal to mix sweeps."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import phasegrok
from phasegrok.store.folder import read_metadata

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, check=True):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "phasegrok.sweep", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def tiny_file(tiny, tmp_path):
    tiny["train"]["save_params_at"] = [20]
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny))
    return path


def test_cli_writes_runs_curves_params_and_provenance(tiny_file, tmp_path):
    out = tmp_path / "out"
    _cli(tiny_file, "--out", out, "--no-plots", "--quiet")
    runs = pd.read_parquet(out / "runs.parquet")
    curves = pd.read_parquet(out / "curves.parquet")
    assert len(runs) == 3 * 2 * 2  # weight decays x learning rates x seeds
    assert runs["run_id"].is_unique
    expected = {
        "optimizer.weight_decay",
        "optimizer.lr",
        "data.train_fraction",
        "model.init_scale",
        "seed",
        "final_train_loss",
        "final_test_loss",
        "final_train_acc",
        "final_test_acc",
        "best_train_loss",
        "best_test_acc",
        "final_weight_norm",
        "batch_wall_time",
    }
    assert expected <= set(runs.columns)
    assert sorted(runs["optimizer.weight_decay"].unique()) == [0.01, 0.1, 1.0]
    assert list(curves.columns[:2]) == ["run_id", "step"]
    assert (curves.groupby("run_id").size() == 60 // 20 + 1).all()
    assert set(curves["run_id"]) == set(runs["run_id"])
    last = curves[curves["step"] == 60].set_index("run_id")["test_acc"]
    np.testing.assert_array_equal(last[runs["run_id"]].to_numpy(), runs["final_test_acc"])
    resolved = yaml.safe_load((out / "sweep.yaml").read_text())
    assert resolved["grid"]["optimizer.weight_decay"] == [0.01, 0.1, 1.0]
    meta = read_metadata(out / "runs.parquet")
    assert meta["versions"]["jax"] and "cpu" in meta["device"]
    results = phasegrok.load(out)
    params = results.params(runs["run_id"][0])
    assert params["embedding"].shape == (11, 8)
    early = results.params(runs["run_id"][0], step=20)
    assert not np.array_equal(early["embedding"], params["embedding"])


def test_rerun_resumes_and_extends_without_duplicates(tiny, tiny_file, tmp_path):
    out = tmp_path / "out"
    _cli(tiny_file, "--out", out, "--no-plots", "--quiet")
    first = pd.read_parquet(out / "runs.parquet")
    again = _cli(tiny_file, "--out", out, "--no-plots", "--quiet")
    assert "(12 already done)" in again.stderr
    tiny["train"]["seeds"] = 3
    tiny["train"]["save_params_at"] = [20]
    tiny_file.write_text(yaml.safe_dump(tiny))
    extended = _cli(tiny_file, "--out", out, "--no-plots", "--quiet")
    assert "18 runs (12 already done)" in extended.stderr
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 18 and runs["run_id"].is_unique
    merged = runs.merge(first, on="run_id", suffixes=("", "_first"))
    assert len(merged) == 12
    np.testing.assert_array_equal(merged["final_test_loss"], merged["final_test_loss_first"])


def test_another_sweep_is_refused_unless_forced(tiny, tiny_file, tmp_path):
    out = tmp_path / "out"
    _cli(tiny_file, "--out", out, "--no-plots", "--quiet")
    tiny["task"]["p"] = 13
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(tiny))
    before = sorted(p.name for p in (out / "parts").iterdir())
    refused = _cli(other, "--out", out, "--no-plots", "--quiet", check=False)
    assert refused.returncode == 2 and "different sweep" in refused.stderr
    assert sorted(p.name for p in (out / "parts").iterdir()) == before
    _cli(other, "--out", out, "--no-plots", "--quiet", "--force")
    runs = pd.read_parquet(out / "runs.parquet")
    assert (runs["task.p"] == 13).all()
    assert json.loads((out / "manifest.json").read_text())["name"] == "tiny"


def test_dry_run_writes_nothing(tiny_file, tmp_path):
    out = tmp_path / "out"
    proc = _cli(tiny_file, "--out", out, "--dry-run")
    assert "12 runs" in proc.stdout and "1 shape group" in proc.stdout
    assert not out.exists()


def test_python_api_takes_a_dict(tiny, tmp_path):
    tiny["grid"] = {"optimizer.weight_decay": [0.1]}
    res = phasegrok.run_sweep(tiny, tmp_path / "api", progress=False, plots=False)
    assert len(res.runs) == 2 and len(res.curves) == 2 * 4
    assert "phase" in res.runs


def test_a_changed_classify_only_reclassifies(tiny, tiny_file, tmp_path):
    out = tmp_path / "out"
    _cli(tiny_file, "--out", out, "--no-plots", "--quiet")
    before = pd.read_parquet(out / "runs.parquet")
    parts = sorted(p.name for p in (out / "parts").iterdir())
    tiny["train"]["save_params_at"] = [20]
    tiny["classify"] = {"threshold": 0.01}  # every run "fits" and "generalizes" at step 0
    tiny_file.write_text(yaml.safe_dump(tiny))
    again = _cli(tiny_file, "--out", out, "--no-plots", "--quiet")
    assert "(12 already done)" in again.stderr
    assert sorted(p.name for p in (out / "parts").iterdir()) == parts  # nothing retrained
    after = pd.read_parquet(out / "runs.parquet")
    assert (after["t_fit"] == 0).all() and not (before["t_fit"].fillna(-1) == 0).all()
    np.testing.assert_array_equal(after["final_test_loss"], before["final_test_loss"])


def test_compiled_programs_are_cached_and_give_the_same_numbers(tiny_file, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("PHASEGROK_COMPILE_CACHE", str(cache))
    _cli(tiny_file, "--out", tmp_path / "a", "--no-plots", "--quiet")
    written = sorted(p.name for p in cache.rglob("*"))
    assert written  # the shape group's programs
    _cli(tiny_file, "--out", tmp_path / "b", "--no-plots", "--quiet")  # read from the cache
    monkeypatch.setenv("PHASEGROK_COMPILE_CACHE", "off")
    _cli(tiny_file, "--out", tmp_path / "c", "--no-plots", "--quiet")
    assert sorted(p.name for p in cache.rglob("*")) == written
    curves = [pd.read_parquet(tmp_path / d / "curves.parquet") for d in "abc"]
    for other in curves[1:]:
        pd.testing.assert_frame_equal(curves[0], other, check_exact=True)


def test_an_unusable_cache_folder_only_skips_the_cache(tiny_file, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PHASEGROK_COMPILE_CACHE", str(blocker / "xla"))
    proc = _cli(tiny_file, "--out", tmp_path / "out", "--no-plots", "--quiet")
    assert "Warning" not in proc.stderr, proc.stderr
    assert (tmp_path / "out" / "runs.parquet").exists()
