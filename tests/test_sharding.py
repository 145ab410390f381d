"""The run axis split over 2 forced host devices gives the 1-device numbers."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.training  # trains real sweeps: the long tests

ROOT = Path(__file__).resolve().parents[1]


def _sweep(sweep_file, out, devices):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
    }
    cmd = [sys.executable, "-m", "phasegrok.sweep", str(sweep_file), "--out", str(out)]
    proc = subprocess.run(
        [*cmd, "--no-plots", "--quiet"], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_parquet(out / "runs.parquet").set_index("run_id").sort_index()
    curves = pd.read_parquet(out / "curves.parquet").sort_values(["run_id", "step"])
    return runs, curves


def test_two_host_devices_match_one(tiny, tmp_path):
    tiny["train"]["seeds"] = 3  # 18 runs: an odd split, padded to the device count
    tiny["grid"] = {"optimizer.weight_decay": [0.01, 0.1, 1.0], "optimizer.lr": [1e-3, 3e-3]}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny))
    one_runs, one_curves = _sweep(path, tmp_path / "one", 1)
    two_runs, two_curves = _sweep(path, tmp_path / "two", 2)
    assert (one_runs["strategy"].str.contains("on 1 cpu")).all()
    assert (two_runs["strategy"].str.contains("on 2 cpu")).all()
    assert list(one_runs.index) == list(two_runs.index)
    metrics = ["train_loss", "test_loss", "train_acc", "test_acc", "weight_norm"]
    np.testing.assert_allclose(
        one_curves[metrics].to_numpy(), two_curves[metrics].to_numpy(), rtol=1e-4, atol=1e-5
    )
    assert (one_runs["phase"] == two_runs["phase"]).all()
