"""Shared fixtures: tiny sweeps that train in seconds on a CPU."""

from __future__ import annotations

import copy
from typing import Any

import pytest

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


@pytest.fixture
def tiny() -> dict[str, Any]:
    return copy.deepcopy(TINY)


@pytest.fixture
def tiny_parity() -> dict[str, Any]:
    return copy.deepcopy(TINY_PARITY)
