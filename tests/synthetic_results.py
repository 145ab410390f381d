"""Synthetic results folders for the figure and CLI tests: curves whose phase depends on the
grid point, written as the engine writes them (sweep.yaml, runs.parquet, curves.parquet)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from phasegrok.analysis.classify import classify_runs
from phasegrok.config.schema import ClassifySpec

P = 31
STEPS = np.arange(0, 5001, 100)

GRID3 = {
    "optimizer.weight_decay": [1e-4, 1e-3, 1e-2, 1e-1],  # log-spaced
    "data.train_fraction": [0.3, 0.5, 0.7],  # linear
    "model.hidden": [[32], [64]],  # list-valued: a facet
}


def sigmoid(t0: float, width: float = 150.0) -> np.ndarray:
    return 1 / (1 + np.exp(np.clip((t0 - STEPS) / width, -50, 50)))


def synth_run(wd: float, frac: float, hidden: str, seed: int) -> dict[str, np.ndarray]:
    """Curves whose phase depends on the grid point, so every phase shows up."""
    t_fit, t_gen, test_hi = 300.0, 600.0, 1.0
    extra = {}
    if wd <= 1e-4:
        t_gen, test_hi = 1e9, 0.4  # memorize
    elif wd <= 1e-3:
        t_gen = 3000.0  # grok
        if frac == 0.3 and seed == 1:
            t_gen, test_hi = 4900.0, 0.6  # still rising at the end: memorize + still_learning
    elif wd >= 1e-1 and frac == 0.3:
        t_fit = 1e9  # confuse
    train = 0.02 + 0.98 * sigmoid(t_fit)
    test = 0.02 + (test_hi - 0.02) * sigmoid(t_gen)
    if wd >= 1e-1 and frac == 0.5:  # oscillate: relapses through to the end
        for t in (1500, 3000, 4500):
            train[(STEPS >= t) & (STEPS < t + 200)] = 0.3
    if wd >= 1e-1 and frac == 0.7 and hidden == "[32]":  # collapse: loses the fit for good
        train[STEPS >= 3500] = 0.3
    train_loss = np.log(P) * (1 - train) + 1e-4
    test_loss = np.log(P) * (1 - test) + 1e-4
    wn = 40 * np.exp(-STEPS * wd / 50) + 5 + seed
    if wd >= 1e-1 and frac == 0.7 and hidden == "[64]":  # diverge
        train_loss[STEPS >= 2500] = np.nan
        extra["nan"] = True
    return {
        "train_acc": train,
        "test_acc": test,
        "train_loss": train_loss,
        "test_loss": test_loss,
        "weight_norm": wn,
        **extra,
    }


def make_results(
    d: Path, grid: dict | None = None, plots: list | None = None, seeds=(0, 1), classify=True
) -> Path:
    """A results folder shaped like the engine's output (sweep.yaml, runs/curves parquet)."""
    grid = GRID3 if grid is None else grid
    d.mkdir(parents=True, exist_ok=True)
    base = {
        "optimizer.lr": 1e-3,
        "optimizer.weight_decay": 1e-2,
        "data.train_fraction": 0.5,
        "model.hidden": [32],
    }
    rows, curves = [], []
    points = list(itertools.product(*grid.values())) if grid else [()]
    for point in points:
        cfg = {**base, **dict(zip(grid, point, strict=True))}
        for seed in seeds:
            run_id = f"r{len(rows):04d}"
            hidden = json.dumps(cfg["model.hidden"])
            c = synth_run(cfg["optimizer.weight_decay"], cfg["data.train_fraction"], hidden, seed)
            c.pop("nan", None)
            curves.append(pd.DataFrame({"run_id": run_id, "step": STEPS, **c}))
            rows.append(
                {
                    "run_id": run_id,
                    "task.kind": "modular",
                    "task.op": "add",
                    "task.p": P,
                    "loss": "cross_entropy",
                    **{k: json.dumps(v) if isinstance(v, list) else v for k, v in cfg.items()},
                    "train.steps": int(STEPS[-1]),
                    "train.eval_every": 100,
                    "seed": seed,
                    "n_classes": P,
                    **{f"final_{k}": float(c[k][-1]) for k in c},
                    "final_weight_norm": float(c["weight_norm"][-1]),
                    "batch_wall_time": 1.0,
                }
            )
    runs = pd.DataFrame(rows)
    curves_df = pd.concat(curves, ignore_index=True)
    sweep = {
        "name": "synthetic",
        "task": {"kind": "modular", "op": "add", "p": P},
        "loss": "cross_entropy",
        "train": {"steps": int(STEPS[-1]), "eval_every": 100, "seeds": list(seeds)},
        "grid": grid,
        "classify": {},
        "plots": plots or [],
    }
    if classify:
        runs = classify_runs(runs, curves_df, ClassifySpec())
    (d / "sweep.yaml").write_text(yaml.safe_dump(sweep, sort_keys=False))
    runs.to_parquet(d / "runs.parquet", index=False)
    curves_df.to_parquet(d / "curves.parquet", index=False)
    return d


SMALL3 = {
    "optimizer.weight_decay": [1e-3, 1e-2],
    "data.train_fraction": [0.3, 0.7],
    "model.hidden": [[32], [64]],
}
ONE_AXIS = {"optimizer.weight_decay": [1e-4, 1e-3, 1e-2, 1e-1]}
