"""The calibrated time estimate: recorded per backend and shape class, in a cache folder."""

from __future__ import annotations

import json

import pytest

from phasegrok import calibrate
from phasegrok.calibrate import ASSUMED_FLOPS, Recorder, estimate_seconds, read_cache, shape_class
from phasegrok.config import load_sweep
from phasegrok.stream import plan
from phasegrok.sweep import describe, run_sweep


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
