"""Small sweeps whose results are fingerprinted (tests/test_fingerprints.py): together they
reach every task kind, embedding, combine, activation, loss, optimizer, init, parameter group,
minibatches, warmup, L1, the precision switch, saved parameters with Nanda's progress measures,
and a refinement round. Recorded once from the code before a change that must not change
numbers; `python tests/fingerprint_sweeps.py` records them again (only when a change of numbers
is intended, with `NUMERICS_VERSION` bumped in the same commit)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RECORDED = HERE / "fingerprints"
# Columns that describe the machine or process (times; `strategy`, which names the devices the
# process was given: an earlier CLI call in the same test process gives it one per core) or name
# a scratch folder, not the run. Every strategy gives the same numbers, which the rest checks.
UNCOMPARED = ("batch_wall_time", "batch_compile_time", "strategy", "task.path")
TABLES = ("runs", "curves", "progress")
NAMES = ("modular", "modular-variants", "modular-groups", "parity", "arrays")


def arrays_file(path: Path) -> Path:
    """4 Gaussian clusters in 6 dimensions, 200 train and 80 test examples (seeded)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    centres = 2.0 * rng.normal(size=(4, 6))

    def examples(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 4
        return (centres[y] + rng.normal(size=(n, 6))).astype(np.float32), y.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = examples(200), examples(80)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def sweeps(folder: Path) -> dict[str, dict[str, Any]]:
    """The fingerprinted sweeps; the arrays task's file is written into `folder`."""
    found = {
        "modular": {
            "name": "fp-modular",
            "task": {"kind": "modular", "op": "add", "p": 13},
            "model": {"embed_dim": 8, "hidden": [24]},
            "optimizer": {"name": "adamw", "lr": 2.0e-2, "b2": 0.98},
            "train": {"steps": 160, "eval_every": 20, "seeds": 2, "save_params_at": [80]},
            "grid": {
                "optimizer.weight_decay": {"logspace": [-1, 0.5, 3]},
                "data.train_fraction": [0.4, 0.7],
            },
            "classify": {"grok_gap": 40},
            "refine": {"rounds": 1, "max_runs": 6},
            "plots": [{"x": "optimizer.weight_decay", "y": "data.train_fraction"}],
        },
        "modular-variants": {
            "name": "fp-variants",
            "task": {"kind": "modular", "op": "mul", "p": 11},
            "data": {"train_fraction": 0.6},
            "model": {
                "circular_freqs": [1, 3],
                "combine": "sum",
                "hidden": [16, 16],
                "activation": "gelu",
                "init": "lecun",
                "bias": False,
            },
            "optimizer": {
                "name": "sgd",
                "lr": 0.1,
                "momentum": 0.9,
                "weight_decay": 1.0e-3,
                "batch_size": 32,
                "warmup_steps": 10,
            },
            "loss": "mse",
            "train": {"steps": 60, "eval_every": 20, "seeds": [3, 5]},
            "grid": {
                "optimizer.lr": [0.05, 0.2],
                "model.init_scale": [0.5, 2.0],
                "model.embedding": ["one_hot", "circular"],
            },
        },
        "modular-groups": {
            "name": "fp-groups",
            "task": {"kind": "modular", "op": "sub", "p": 11},
            "model": {
                "embed_dim": 6,
                "hidden": [16],
                "activation": "quadratic",
                "tie_output": False,
            },
            "optimizer": {
                "name": "adam",
                "lr": 3.0e-3,
                "weight_decay": 0.0,
                "l1": 1.0e-4,
                "embedding": {"lr": 1.0e-2},
            },
            "train": {"steps": 60, "eval_every": 20, "seeds": 1, "precision": "highest"},
            "grid": {"optimizer.embedding.weight_decay": [0.0, 1.0], "optimizer.b1": [0.8, 0.9]},
        },
        "parity": {
            "name": "fp-parity",
            "task": {"kind": "parity", "n_bits": 8, "k": 2, "test_size": 64},
            "model": {"hidden": [16], "activation": "tanh"},
            "optimizer": {"lr": 1.0e-2, "weight_decay": 0.1},
            "loss": "binary_cross_entropy",
            "train": {"steps": 60, "eval_every": 20, "seeds": 2},
            "grid": {"data.train_size": [64, 128], "optimizer.weight_decay": [0.01, 1.0]},
        },
        "arrays": {
            "name": "fp-arrays",
            "task": {"kind": "arrays", "path": str(arrays_file(folder / "clusters.npz"))},
            "data": {"train_size": 100},
            "model": {"hidden": [16]},
            "optimizer": {"lr": 3.0e-3, "weight_decay": 0.1, "batch_size": 32},
            "train": {"steps": 40, "eval_every": 20, "seeds": 1},
            "grid": {"loss": ["cross_entropy", "mse"], "data.train_size": [50, 100]},
        },
    }
    assert tuple(found) == NAMES
    return found


def tables(folder: Path) -> dict[str, pd.DataFrame]:
    """A results folder's tables, timing columns aside, rows in a fixed order."""
    found = {}
    for table in TABLES:
        path = folder / f"{table}.parquet"
        if not path.exists():
            continue
        frame = pd.read_parquet(path)
        frame = frame.drop(columns=[c for c in frame.columns if c in UNCOMPARED])
        order = [c for c in ("run_id", "step") if c in frame.columns]
        found[table] = frame.sort_values(order, kind="stable").reset_index(drop=True)
    return found


def train(name: str, folder: Path) -> dict[str, pd.DataFrame]:
    """Train one fingerprinted sweep into `folder` (no figures) and return its tables."""
    from phasegrok import run_sweep

    folder.mkdir(parents=True, exist_ok=True)
    spec = sweeps(folder)[name]
    run_sweep(spec, folder / "out", progress=False, plots=False, live=False)
    return tables(folder / "out")


def environment() -> dict[str, str]:
    """What decides the float arithmetic of a CPU run: bitwise equality is expected only where
    this is what it was when the fingerprints were recorded."""
    import platform
    from importlib.metadata import version

    found = {name: version(name) for name in ("jax", "jaxlib", "numpy")}
    found["machine"] = platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        flags = next((ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("flags")), "")
        found["cpu_avx512"] = str("avx512f" in flags.split())
    return found


def record(scratch: Path) -> None:
    RECORDED.mkdir(exist_ok=True)
    (RECORDED / "environment.json").write_text(json.dumps(environment(), indent=1) + "\n")
    for name in NAMES:
        for table, frame in train(name, scratch / name).items():
            frame.to_parquet(RECORDED / f"{name}.{table}.parquet", compression="zstd")
            print(name, table, frame.shape)


if __name__ == "__main__":
    import tempfile

    record(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
