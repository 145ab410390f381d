"""The pair rule of phase classification and the max test/train loss ratio it reads, on
synthetic curves (float32 zero losses and the loss floor included)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from classify_curves import STEPS, P, classify_one, curve, frames, step_up

from phasegrok.analysis.classify import LOSS_FLOOR, classify_runs
from phasegrok.config.schema import ClassifySpec


def test_max_loss_ratio():
    tr_loss = np.full(len(STEPS), 1e-3)
    te_loss = np.full(len(STEPS), 1e-2)
    te_loss[10] = 5.0
    r = classify_one(
        train_acc=step_up(0), test_acc=step_up(0), train_loss=tr_loss, test_loss=te_loss
    )
    assert r.max_loss_ratio == pytest.approx(5000.0)


def pair_curves() -> dict[str, pd.DataFrame]:
    n = len(STEPS)
    decay = np.geomspace(1.0, 1e-7, n)
    acc = np.ones(n)
    return {
        "high_train": curve("high_train", acc, acc, np.full(n, 1e-3), np.full(n, 1e-3)),
        "memo": curve("memo", acc, acc, decay, np.full(n, 1e-2)),
        "comp": curve("comp", acc, acc, decay, decay * 10),
        # Train loss collapses long before test loss: a ratio far above 5e4.
        "grok": curve("grok", acc, acc, np.full(n, 1e-8), np.geomspace(1.0, 1e-6, n)),
        # Min train loss 5e-4: confuse as written, fitted once divided by p (PAIR's scale).
        "scaled": curve("scaled", acc, acc, np.full(n, 5e-4), np.full(n, 5e-4)),
    }


def test_pair_rule():
    runs, curves = frames(pair_curves())
    out = classify_runs(runs, curves, ClassifySpec(rule="pair"))
    assert out.phase.tolist() == ["confuse", "memorize", "comprehend", "grok", "confuse"]
    out = classify_runs(runs, curves, ClassifySpec(rule="pair", pair_loss_scale="per_class"))
    assert out.phase.tolist()[-1] == "comprehend"
    out = classify_runs(runs, curves, ClassifySpec(rule="pair", pair_loss_scale=1 / P))
    assert out.phase.tolist()[-1] == "comprehend"


def float32_losses(loss: np.ndarray) -> np.ndarray:
    """A float32 mean cross-entropy: exactly 0 once every label's logit leads by ~17."""
    return np.where(loss < 1e-7, 0.0, loss)


def test_pair_rule_float32_zero_losses():
    n = len(STEPS)
    decay = np.geomspace(1.0, 1e-10, n)
    acc = np.ones(n)
    zeros = {
        # Test loss 10 x train loss throughout; train underflows to 0 a few evals before test.
        "together": curve("together", acc, acc, float32_losses(decay), float32_losses(10 * decay)),
        # Train loss 0 from the start while test loss falls slowly: still grokking.
        "late": curve("late", acc, acc, np.zeros(n), float32_losses(np.geomspace(1.0, 1e-12, n))),
    }
    assert (zeros["together"].train_loss == 0).any() and (zeros["together"].test_loss > 0).any()
    runs, curves = frames(zeros)
    out = classify_runs(runs, curves, ClassifySpec(rule="pair"))
    assert out.phase.tolist() == ["comprehend", "grok"]
    ratio = out.max_loss_ratio.to_numpy()
    assert np.isfinite(ratio).all()
    assert ratio[1] == pytest.approx(1.0 / LOSS_FLOOR)  # test loss 1 over the floored 0
    # The accuracy rule reports the same, floored, ratio.
    assert classify_runs(runs, curves, ClassifySpec()).max_loss_ratio.tolist() == ratio.tolist()


def test_pair_floor_applies_after_the_scale():
    n = len(STEPS)
    acc = np.ones(n)
    # Per class (/P) the train loss is 2^-24, floored to 2^-23; test loss 2^-20: ratio 8.
    # Floored before scaling the ratio would stay 16.
    train, test = np.full(n, P * 2.0**-24), np.full(n, P * 2.0**-20)
    runs, curves = frames({"r": curve("r", acc, acc, train, test)})
    r = classify_runs(runs, curves, ClassifySpec(rule="pair", pair_loss_scale="per_class")).iloc[0]
    assert r.max_loss_ratio == pytest.approx(8.0)
    r = classify_runs(runs, curves, ClassifySpec(rule="pair")).iloc[0]
    assert r.max_loss_ratio == pytest.approx(16.0)
