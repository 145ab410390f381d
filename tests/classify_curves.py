"""Synthetic training curves for the classification tests, and the frames classify_runs reads."""

from __future__ import annotations

import numpy as np
import pandas as pd

from phasegrok.analysis.classify import classify_runs
from phasegrok.config.schema import ClassifySpec

P = 97
STEPS = np.arange(0, 10_001, 100)


def step_up(t_on: float, lo: float = 0.02, hi: float = 1.0, steps=STEPS) -> np.ndarray:
    return np.where(steps >= t_on, hi, lo)


def curve(run_id, train_acc, test_acc, train_loss=None, test_loss=None, wn=None, steps=STEPS):
    train_acc = np.asarray(train_acc, dtype=float)
    test_acc = np.asarray(test_acc, dtype=float)
    # Losses consistent with the accuracies unless given: near chance when wrong, small when right.
    if train_loss is None:
        train_loss = np.log(P) * (1 - train_acc) + 1e-3
    if test_loss is None:
        test_loss = np.log(P) * (1 - test_acc) + 1e-3
    if wn is None:
        wn = np.linspace(30.0, 10.0, len(steps))
    return pd.DataFrame(
        {
            "run_id": run_id,
            "step": steps.astype(np.int64),
            "train_loss": train_loss,
            "test_loss": test_loss,
            "train_acc": train_acc,
            "test_acc": test_acc,
            "weight_norm": wn,
        }
    )


def frames(curves: dict[str, pd.DataFrame], loss: str = "cross_entropy", n_classes: int = P):
    runs = pd.DataFrame(
        {
            "run_id": list(curves),
            "optimizer.weight_decay": np.linspace(0.1, 1.0, len(curves)),
            "loss": loss,
            "n_classes": n_classes,
            "seed": 0,
        }
    )
    return runs, pd.concat(curves.values(), ignore_index=True)


def classify_one(spec=None, **kwargs) -> pd.Series:
    runs, curves = frames({"r": curve("r", **kwargs)})
    return classify_runs(runs, curves, spec or ClassifySpec()).iloc[0]
