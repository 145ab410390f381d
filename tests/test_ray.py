"""`--executor ray`: one Ray task per batch, the same rows as the local executor, retries.

The Ray tests share one local Ray instance (2 CPUs), started once for the module."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml

from phasegrok.run import ray_executor
from phasegrok.sweep import main

ROOT = Path(__file__).resolve().parents[1]
TIMING = ["batch_wall_time", "batch_compile_time"]  # the only columns allowed to differ
SWEEP = {
    "name": "ray",
    "task": {"kind": "modular", "op": "add", "p": 11},
    "data": {"train_fraction": 0.5},
    "model": {"embed_dim": 8, "hidden": [16]},
    "optimizer": {"lr": 3.0e-3},
    "train": {"steps": 60, "eval_every": 20, "seeds": 2},
    "grid": {"optimizer.weight_decay": [0.01, 1.0], "optimizer.lr": [1.0e-3, 3.0e-3]},
}
ARGS = ["--quiet", "--no-plots", "--batch-runs", "4"]


def test_without_ray_the_executor_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "out"
    assert main([str(sweep_file), "--out", str(out), *ARGS, "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ray_executor.INSTALL_HINT in err
    assert not out.exists()


def test_task_env_sets_the_granted_devices_not_the_drivers(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=16")
    assert ray_executor.task_env(2, 0) == {
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
    }
    assert "JAX_PLATFORMS" not in ray_executor.task_env(4, 1)


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    # The workers import this checkout's phasegrok (not an installed copy).
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ray") / "sweep.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    return path


@pytest.fixture(scope="module")
def local_out(sweep_file):
    """The local executor with one XLA device on this host's cores: the strategy of a 1-CPU
    Ray task (Ray grants CPUs by count, it does not pin the worker to a core)."""
    out = sweep_file.parent / "local"
    argv = [str(sweep_file), "--out", str(out), *ARGS]
    code = f"import sys\nfrom phasegrok.sweep import main\nsys.exit(main({argv!r}))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def _frames(out):
    runs = pd.read_parquet(out / "runs.parquet").drop(columns=TIMING)
    curves = pd.read_parquet(out / "curves.parquet")
    return (
        runs.sort_values("run_id").reset_index(drop=True),
        curves.sort_values(["run_id", "step"]).reset_index(drop=True),
    )


def _same_rows(out, reference):
    runs, curves = _frames(out)
    ref_runs, ref_curves = _frames(reference)
    assert runs["run_id"].is_unique and len(runs) == 8
    pd.testing.assert_frame_equal(runs, ref_runs, check_exact=True)
    pd.testing.assert_frame_equal(curves, ref_curves, check_exact=True)


@pytest.mark.training
def test_ray_gives_the_local_executors_runs_and_phases(ray_instance, sweep_file, local_out):
    out = sweep_file.parent / "ray"
    argv = [str(sweep_file), "--out", str(out), *ARGS, "--executor", "ray"]
    assert main([*argv, "--ray-cpus-per-task", "1"]) == 0
    _same_rows(out, local_out)  # run ids, phases, every metric: bitwise
    assert main([*argv, "--ray-cpus-per-task", "1"]) == 0  # all done: nothing resubmitted


@pytest.mark.training
def test_a_task_killed_mid_batch_is_retried_and_nothing_is_lost(
    ray_instance, sweep_file, local_out, monkeypatch
):
    out = sweep_file.parent / "killed"
    marker = sweep_file.parent / "killed.marker"
    monkeypatch.setenv(ray_executor.KILL_ENV, str(marker))
    argv = [str(sweep_file), "--out", str(out), *ARGS, "--executor", "ray"]
    assert main(argv) == 0
    # The armed attempt's worker process is gone (SIGKILL after writing a curves part) ...
    assert not psutil.pid_exists(int(marker.read_text()))
    # ... its batch was retried: every run once, the rows of the local executor.
    _same_rows(out, local_out)


def test_a_task_that_asked_for_a_gpu_fails_clearly_without_one(tmp_path):
    def train(*args, **kwargs):
        raise AssertionError("must not train")

    with pytest.raises(RuntimeError, match="asked Ray for 1 GPU but JAX .* finds none"):
        ray_executor.train_task(train, None, str(tmp_path), None, 1, gpus=1)
