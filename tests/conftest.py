"""Shared fixtures: tiny sweeps that train in seconds on a CPU."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

# The CLI keeps compiled programs in a user cache folder; tests (and the CLIs they start)
# use a throwaway one instead of the home folder.
os.environ["PHASEGROK_COMPILE_CACHE"] = tempfile.mkdtemp(prefix="phasegrok-test-xla-")
# ... and the measured throughputs of the time estimate (phasegrok.plan.calibrate) likewise.
os.environ["PHASEGROK_CACHE"] = tempfile.mkdtemp(prefix="phasegrok-test-cache-")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

TINY: dict[str, Any] = {
    "name": "tiny",
    "task": {"kind": "modular", "op": "add", "p": 11},
    "data": {"train_fraction": 0.5},
    "model": {"embed_dim": 8, "hidden": [16]},
    "optimizer": {"lr": 3.0e-3, "weight_decay": 1.0},
    "train": {"steps": 60, "eval_every": 20, "seeds": 2},
    "grid": {
        "optimizer.weight_decay": {"logspace": [-2, 0, 3]},
        "optimizer.lr": [1.0e-3, 3.0e-3],
    },
}

TINY_PARITY: dict[str, Any] = {
    "name": "tiny-parity",
    "task": {"kind": "parity", "n_bits": 8, "k": 2, "test_size": 64},
    "data": {"train_size": 100},
    "model": {"hidden": [16]},
    "optimizer": {"lr": 3.0e-3, "weight_decay": 0.1},
    "train": {"steps": 40, "eval_every": 20, "seeds": 2},
    "grid": {"optimizer.weight_decay": [0.01, 1.0]},
}


def write_arrays(path: Path, seed: int = 0, **replace: np.ndarray) -> Path:
    """A small arrays-task file: 4 Gaussian clusters in 12 dimensions (examples of shape (3, 4)),
    300 train and 120 test examples; `replace` swaps in (or, with None, drops) an array."""
    rng = np.random.default_rng(seed)
    centres = 2.0 * rng.normal(size=(4, 12))

    def examples(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 4  # every class in every prefix of a shuffled order, nearly
        x = centres[y] + rng.normal(size=(n, 12))
        return x.astype(np.float32).reshape(n, 3, 4), y.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = examples(300), examples(120)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    arrays.update(replace)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


ARRAYS_FILE = write_arrays(Path(tempfile.mkdtemp(prefix="phasegrok-test-arrays-")) / "c.npz")

TINY_ARRAYS: dict[str, Any] = {
    "name": "tiny-arrays",
    "task": {"kind": "arrays", "path": str(ARRAYS_FILE)},
    "data": {"train_size": 100},
    "model": {"hidden": [16]},
    "optimizer": {"lr": 3.0e-3, "weight_decay": 0.1, "batch_size": 32},
    "train": {"steps": 40, "eval_every": 20, "seeds": 1},
    "grid": {"loss": ["cross_entropy", "mse"]},
}


@pytest.fixture
def tiny() -> dict[str, Any]:
    return copy.deepcopy(TINY)


@pytest.fixture
def tiny_parity() -> dict[str, Any]:
    return copy.deepcopy(TINY_PARITY)


@pytest.fixture
def tiny_arrays() -> dict[str, Any]:
    return copy.deepcopy(TINY_ARRAYS)


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.size[0] >= 300 and im.size[1] >= 200, (path, im.size)
        assert im.info.get("dpi", (150, 150))[0] >= 149


def run_figure(names: Any, kind: str, run_id: str) -> str | None:
    """The file name among `names` (names, or a folder) of the run's per-run figure `kind`
    ('star'), named '<kind>__<phase>__<coordinates>__s<seed>__<run_id>.png'; None if absent."""
    if isinstance(names, Path):
        names = [p.name for p in names.iterdir()]
    found = [n for n in names if n.startswith(f"{kind}__") and n.endswith(f"__{run_id}.png")]
    assert len(found) <= 1, found
    return found[0] if found else None


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "phasegrok.plot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def measured(call: Any) -> tuple[Any, float, int]:
    """(result, seconds, peak bytes of Python allocations) of call()."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = call()
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, seconds, peak


def page_data(index: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The data inline in an index.html: (run records, charts {x, y, spec, cells})."""
    import json
    import re

    text = index.read_text()
    runs = re.search(
        r"<script type='application/json' id='phasegrok-runs'>(.*?)</script>", text, re.S
    )
    charts = re.findall(r"class='phasegrok-chart' data-target='vis-\d+'>(.*?)</script>", text, re.S)
    if runs is None:
        return [], []
    return json.loads(runs.group(1)), [json.loads(c) for c in charts]
