"""The calibrated time estimate: recorded per backend and shape class, in a cache folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from phasegrok.config.load import load_sweep
from phasegrok.plan import calibrate, limits
from phasegrok.plan.calibrate import (
    ASSUMED_FLOPS,
    Recorder,
    estimate_seconds,
    read_cache,
    shape_class,
)
from phasegrok.plan.groups import plan
from phasegrok.store.folder import read_metadata
from phasegrok.sweep import describe, run_sweep

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("PHASEGROK_CACHE", str(folder))
    return folder


def _groups(spec):
    return [(g.static, g.n_runs) for g in plan(spec).groups]


def test_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("PHASEGROK_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert calibrate.cache_dir() == tmp_path / "phasegrok"
    monkeypatch.setenv("PHASEGROK_CACHE", str(tmp_path / "x"))
    assert calibrate.cache_dir() == tmp_path / "x"


def test_uncalibrated_before_the_first_sweep_then_calibrated(tiny, cache):
    spec = load_sweep(tiny)
    seconds, how = estimate_seconds(_groups(spec))
    assert how == "uncalibrated" and "uncalibrated" in describe(plan(spec))
    flops = sum(
        g.n_runs * calibrate.flops_per_step(g.static) * g.static.steps for g in plan(spec).groups
    )
    assert seconds == pytest.approx(flops / ASSUMED_FLOPS)
    run_sweep(tiny, cache.parent / "out", progress=False, plots=False)
    data = json.loads((cache / calibrate.CACHE_FILE).read_text())
    backend = data["last_backend"]
    entry = data["backends"][backend][shape_class(plan(spec).groups[0].static)]
    assert entry["flops_per_second"] > 0 and entry["compile_seconds_per_group"] >= 0
    seconds, how = estimate_seconds(_groups(spec))
    assert how == f"calibrated on {backend}" and seconds > 0
    assert f"calibrated on {backend}" in describe(plan(spec))


def test_estimate_uses_the_class_or_its_nearest(tiny):
    spec = load_sweep(tiny)
    static = plan(spec).groups[0].static
    rec = Recorder("1 x cpu: test")
    flops = 12 * calibrate.flops_per_step(static) * static.steps
    rec.add(static, 12, wall=flops / 1e9 + 2.0, compile_seconds=2.0)  # 1 GFLOP/s, 2 s compile
    cache = {
        "version": calibrate.VERSION,
        "last_backend": "1 x cpu: test",
        "backends": {"1 x cpu: test": {}},
    }
    name = shape_class(static)
    cache["backends"]["1 x cpu: test"][name] = {
        "flops_per_second": rec.sums[name][0] / rec.sums[name][1],
        "compile_seconds_per_group": 2.0,
    }
    seconds, _ = estimate_seconds([(static, 12)], cache)
    assert seconds == pytest.approx(flops / 1e9 + 2.0)
    # Another class of the same kind borrows the nearest measured one.
    kind, decade = name.split(":")
    moved = {
        "version": 1,
        "last_backend": "b",
        "backends": {
            "b": {f"{kind}:{float(decade) + 1:g}": cache["backends"]["1 x cpu: test"][name]}
        },
    }
    assert estimate_seconds([(static, 12)], moved)[0] == pytest.approx(seconds)


def test_an_unreadable_cache_is_uncalibrated(cache):
    cache.mkdir()
    (cache / calibrate.CACHE_FILE).write_text("{not json")
    assert read_cache() == {}


def test_the_cpu_estimate_is_of_the_devices_this_process_gets(monkeypatch):
    entry = {"modular:5": {"flops_per_second": 1e9, "compile_seconds_per_group": 1.0}}
    # The last sweep was a run of the Python API (one device); the CLI makes one per core.
    cache = {
        "version": calibrate.VERSION,
        "last_backend": "1 x cpu: cpu",
        "backends": {"1 x cpu: cpu": entry, "2 x cpu: cpu": entry},
    }
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    assert calibrate.expected_backend(cache) == ("2 x cpu: cpu", "calibrated on 2 x cpu: cpu")
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=3")
    assert calibrate.expected_backend(cache)[1] == (
        "calibrated on 1 x cpu: cpu, not this run's 3 x cpu"
    )
    monkeypatch.delenv("XLA_FLAGS")
    assert calibrate.expected_backend(cache)[0] == "1 x cpu: cpu"
    gpu = {**cache, "last_backend": "1 x gpu: H100", "backends": {"1 x gpu: H100": entry}}
    assert calibrate.expected_backend(gpu)[0] == "1 x gpu: H100"


@pytest.mark.training
def test_the_dry_run_names_the_devices_the_run_trains_on(tiny, tmp_path):
    """`--dry-run` and the run say the device count the run records (one per core)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PHASEGROK_CACHE": str(tmp_path / "cache")}
    env.pop("XLA_FLAGS", None)
    sweep_file = tmp_path / "tiny.yaml"
    sweep_file.write_text(yaml.safe_dump(tiny))

    def cli(*args):
        command = [sys.executable, "-m", "phasegrok.sweep", str(sweep_file), *args]
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr
        return proc

    out = tmp_path / "out"
    cli("--out", str(out), "--no-plots", "--quiet")
    device = read_metadata(out / "runs.parquet")["device"]
    cores = len(os.sched_getaffinity(0))
    assert device == f"{cores} x cpu: cpu"
    # An API run (one device) trained last: its measurement must not stand for the CLI's.
    data = json.loads((tmp_path / "cache" / calibrate.CACHE_FILE).read_text())
    data["backends"]["1 x cpu: cpu" if cores > 1 else "9 x cpu: cpu"] = {}
    data["last_backend"] = "1 x cpu: cpu" if cores > 1 else "9 x cpu: cpu"
    (tmp_path / "cache" / calibrate.CACHE_FILE).write_text(json.dumps(data))
    dry = cli("--out", str(tmp_path / "other"), "--dry-run").stdout
    run = cli("--out", str(tmp_path / "other"), "--no-plots", "--quiet").stderr
    assert f"calibrated on {device})" in dry and f"calibrated on {device})" in run
    assert read_metadata(tmp_path / "other" / "runs.parquet")["device"] == device


def test_the_size_estimate_counts_the_figures_and_scripts():
    """The quickstart wrote 7.2 MB (6.9 MiB; 2026-12-08): 2.7 MB of tables and parameters,
    3.55 MB of figures, 0.85 MB of vendored scripts; the estimate once said 2.2 MiB."""
    the_plan = plan(load_sweep(ROOT / "sweeps" / "quickstart.yaml"))
    line = describe(the_plan)
    size = float(line.split("~")[-1].split(" MiB")[0])
    assert 6.0 <= size <= 8.0 and "MiB of results (figures included)" in line
    assert limits.report_bytes(the_plan) > 0.85e6 + 21 * limits.FIGURE_BYTES
