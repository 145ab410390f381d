"""The time estimate, calibrated on this machine: measured throughput per backend and shape class.

Every sweep records, per shape class of the batches it trained, the FLOPs it did per second of
training (`batching.flops_per_step` x runs x steps over the batch's wall time less its compile
time) and the compile time per batch, in `throughput.json` in phasegrok's cache folder
(`$PHASEGROK_CACHE`, else `$XDG_CACHE_HOME/phasegrok`, else `~/.cache/phasegrok`). The
estimate of a sweep (`estimate_seconds`) prices each shape group at the throughput measured for
its class, or the nearest class measured, on the backend the sweep will train on: on the CPU,
as many devices as this process gets (`host_device_count`: the CLI's one per core, not
the one device of an earlier run of the Python API or a test); an accelerator: the one the last
sweep trained on (the dry run imports no JAX, so it cannot ask which it would get). Before any
sweep it says "uncalibrated" and assumes `ASSUMED_FLOPS`.

A shape class is the task kind and the half decade of one run's FLOPs per step: small runs are
bound by per-step overheads, large ones by arithmetic, so a FLOP costs different time in each.
Pure Python, no JAX.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from phasegrok.plan.batching import flops_per_step
from phasegrok.plan.runs import StaticSpec

# The XLA flag that splits the CPU into devices (`run.host.use_host_devices` sets it).
FLAG = "xla_force_host_platform_device_count"


def host_device_count() -> int:
    """The CPU devices JAX gives this process: the count XLA_FLAGS asks for (`use_host_devices`
    sets it before JAX starts), else 1. Read from the environment alone, without JAX."""
    found = re.findall(rf"--{FLAG}=(\d+)", os.environ.get("XLA_FLAGS", ""))
    return max(1, int(found[-1])) if found else 1


CACHE_FILE = "throughput.json"
# Before the first sweep on a machine: a conservative CPU throughput (FLOP/s).
ASSUMED_FLOPS = 2e10
VERSION = 1


def cache_dir() -> Path:
    """`$PHASEGROK_CACHE`, else `$XDG_CACHE_HOME/phasegrok`, else `~/.cache/phasegrok`."""
    chosen = os.environ.get("PHASEGROK_CACHE")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "phasegrok"


def shape_class(static: StaticSpec) -> str:
    """'<task kind>:<half decade of one run's FLOPs per step>', e.g. 'modular:6.5'; a model
    kind other than the MLP after the task kind ('modular-transformer:6.5')."""
    decade = math.floor(2 * math.log10(max(flops_per_step(static), 1.0))) / 2
    model = "" if static.model_kind == "mlp" else f"-{static.model_kind}"
    return f"{static.task_kind}{model}:{decade:g}"


def read_cache(folder: Path | None = None) -> dict[str, Any]:
    """The recorded throughputs ({} if none, or unreadable: the estimate is then uncalibrated)."""
    path = (folder or cache_dir()) / CACHE_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == VERSION else {}


class Recorder:
    """Sums one sweep's batches per shape class; `save` merges them into the cache."""

    def __init__(self, backend: str):
        self.backend = backend
        self.sums: dict[str, list[float]] = {}  # class -> [flops, seconds, compile seconds]
        self.groups: dict[str, set[StaticSpec]] = {}  # class -> its shape groups

    def add(self, static: StaticSpec, n_runs: int, wall: float, compile_seconds: float) -> None:
        """One trained batch: `n_runs` runs of `static` in `wall` seconds, compile included."""
        name = shape_class(static)
        entry = self.sums.setdefault(name, [0.0, 0.0, 0.0])
        entry[0] += n_runs * flops_per_step(static) * static.steps
        entry[1] += max(wall - compile_seconds, 1e-6)
        entry[2] += compile_seconds
        self.groups.setdefault(name, set()).add(static)

    def save(self, folder: Path | None = None) -> None:
        """Merge into the cache: a class measured now replaces its earlier measurement. An
        unwritable cache only loses the calibration."""
        if not self.sums:
            return
        folder = folder or cache_dir()
        data = read_cache(folder) or {"version": VERSION, "backends": {}}
        classes = data["backends"].setdefault(self.backend, {})
        for name, (flops, seconds, compile_s) in self.sums.items():
            classes[name] = {
                "flops_per_second": flops / seconds,
                # A group's batches share one program: compiled once (or loaded from JAX's
                # cache, which this measures too when it is warm).
                "compile_seconds_per_group": compile_s / len(self.groups[name]),
            }
        data["last_backend"] = self.backend
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{CACHE_FILE}.{os.getpid()}"
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            tmp.replace(folder / CACHE_FILE)
        except OSError:
            pass


def estimate_seconds(
    groups: Iterable[tuple[StaticSpec, int]], cache: Mapping[str, Any] | None = None
) -> tuple[float, str]:
    """(seconds, how): the training time of `groups` ((static, runs to train) each) and what it
    is based on: 'calibrated on <backend>' or 'uncalibrated'."""
    cache = read_cache() if cache is None else cache
    backend, how = expected_backend(cache)
    classes = (cache.get("backends") or {}).get(backend) or {}
    total = 0.0
    for static, n_runs in groups:
        if n_runs <= 0:
            continue
        flops = n_runs * flops_per_step(static) * static.steps
        entry = _nearest(classes, shape_class(static))
        if entry is None:
            total += flops / ASSUMED_FLOPS
        else:
            total += flops / entry["flops_per_second"]
            total += entry["compile_seconds_per_group"]
    return total, how if classes else "uncalibrated"


def expected_backend(cache: Mapping[str, Any]) -> tuple[str | None, str]:
    """(backend, how): the recorded backend whose throughput prices a sweep of this process,
    and what to say of it.

    An accelerator: the one the last sweep trained on (without JAX, which devices a run would
    get cannot be asked). The CPU: as many devices as this process gets (`host_device_count`:
    the CLI makes one per core, the Python API leaves JAX's one), not the last sweep's count, which
    may have been another process's (a run of the API, a test); another count's measurement
    only where this one has none, said so.
    """
    last = cache.get("last_backend")
    backends = cache.get("backends") or {}
    if not isinstance(last, str) or platform(last) != "cpu":
        return last, f"calibrated on {last}"
    count = host_device_count()
    mine = f"{count} x cpu: cpu"
    if mine in backends:
        return mine, f"calibrated on {mine}"
    return last, f"calibrated on {last}, not this run's {count} x cpu"


def platform(backend: str) -> str:
    """The platform of a backend (`engine.device_description`): "2 x cpu: cpu" -> "cpu"."""
    return backend.split(":")[0].split(" x ")[-1].strip()


def _nearest(classes: Mapping[str, Any], name: str) -> Mapping[str, float] | None:
    """The entry of class `name`, else of the nearest measured class (same task kind first)."""
    if name in classes:
        return classes[name]
    kind, _, decade = name.partition(":")

    def distance(other: str) -> tuple[int, float]:
        other_kind, _, other_decade = other.partition(":")
        return (other_kind != kind, abs(float(other_decade) - float(decade)))

    return classes[min(classes, key=distance)] if classes else None
