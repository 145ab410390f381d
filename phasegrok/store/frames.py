"""A trained batch as the rows of its parts: one row per run (`runs_frame`), one per run and
eval point (`curves_frame`). No JAX: the engine's arrays arrive as NumPy.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd


def _json_cell(key: str, value: Any) -> Any:
    # Lists become JSON text and batch_size ("full" or an int) text, so every column has one
    # type and groupby / pivot work on them.
    if isinstance(value, list | tuple):
        return json.dumps(value)
    return str(value) if key == "optimizer.batch_size" else value


def runs_frame(
    configs: list[dict[str, Any]],
    run_ids: list[str],
    seeds: list[int],
    n_classes: int,
    names: tuple[str, ...],
    metrics: np.ndarray,
    extra: dict[str, Any],
) -> pd.DataFrame:
    """One row per run: its resolved hyperparameters and final / best metrics (`names` are the
    columns of `metrics`, shape (runs, eval points, len(names)))."""
    rows = []
    for cfg, run_id, seed, curve in zip(configs, run_ids, seeds, metrics, strict=True):
        row = {"run_id": run_id, **{k: _json_cell(k, v) for k, v in cfg.items()}, "seed": seed}
        row["n_classes"] = n_classes
        with np.errstate(invalid="ignore"):
            for i, name in enumerate(names):
                row[f"final_{name}"] = float(curve[-1, i])
            for name in ("train_loss", "test_loss"):
                row[f"best_{name}"] = float(np.nanmin(curve[:, names.index(name)], initial=np.inf))
            for name in ("train_acc", "test_acc"):
                row[f"best_{name}"] = float(np.nanmax(curve[:, names.index(name)], initial=-np.inf))
        rows.append({**row, **extra})
    return pd.DataFrame(rows)


def curves_frame(
    run_ids: list[str], steps: np.ndarray, names: tuple[str, ...], metrics: np.ndarray
) -> pd.DataFrame:
    n_runs, n_points, _ = metrics.shape
    frame = pd.DataFrame(
        {
            "run_id": np.repeat(np.asarray(run_ids, dtype=object), n_points),
            "step": np.tile(steps.astype(np.int64), n_runs),
        }
    )
    for i, name in enumerate(names):
        frame[name] = metrics[:, :, i].reshape(-1)
    return frame
