"""classify_runs on whole frames: idempotence, row order and index, runs of different lengths,
bad input, and a 5000-run sweep in seconds."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from classify_curves import STEPS, P, curve, frames, step_up

from phasegrok.analysis.classify import CLASS_COLUMNS, classify_runs
from phasegrok.config.schema import PHASES, ClassifySpec


def test_idempotent_and_preserves_rows():
    runs, curves = frames(
        {
            "a": curve("a", step_up(500), step_up(6000)),
            "b": curve("b", step_up(500), np.full(len(STEPS), 0.6)),
        }
    )
    runs.index = [10, 20]
    curves = curves.sample(frac=1.0, random_state=0)  # row order must not matter
    first = classify_runs(runs, curves, ClassifySpec())
    assert first.phase.tolist() == ["grok", "memorize"]
    again = classify_runs(first, curves, ClassifySpec(threshold=0.5))
    assert again.phase.tolist() == ["grok", "comprehend"]
    assert list(again.columns) == list(first.columns)
    assert list(again.index) == [10, 20]
    assert set(CLASS_COLUMNS) <= set(again.columns)
    assert again["t_fit"].dtype == "Int64" and again["grok_delay"].dtype == "Int64"
    assert again["still_learning"].dtype == bool and again["lost_generalization"].dtype == bool
    pd.testing.assert_frame_equal(classify_runs(first, curves, ClassifySpec()), first)


def test_runs_of_different_lengths():
    short = np.arange(0, 2001, 100)
    runs, curves = frames(
        {
            "long": curve("long", step_up(500), step_up(6000)),
            "short": curve(
                "short",
                step_up(200, steps=short),
                step_up(1900, steps=short),
                wn=np.ones(len(short)),
                steps=short,
            ),
        }
    )
    out = classify_runs(runs, curves, ClassifySpec())
    assert out.phase.tolist() == ["grok", "grok"]
    assert out.t_gen.tolist() == [6000, 1900]
    assert out.still_learning.tolist() == [False, True]


def test_bad_inputs():
    runs, curves = frames({"a": curve("a", step_up(500), step_up(600))})
    with pytest.raises(ValueError, match="no curve points"):
        classify_runs(pd.concat([runs, runs.assign(run_id="zz")]), curves, ClassifySpec())
    with pytest.raises(ValueError, match="duplicate"):
        classify_runs(pd.concat([runs, runs]), curves, ClassifySpec())
    empty = classify_runs(runs.iloc[:0], curves, ClassifySpec())
    assert len(empty) == 0 and set(CLASS_COLUMNS) <= set(empty.columns)


def test_vectorised_on_a_large_sweep():
    rng = np.random.default_rng(0)
    n_runs, n_evals = 5000, 200
    steps = np.arange(n_evals) * 50
    t_fit = rng.integers(0, n_evals, n_runs)[:, None]
    t_gen = rng.integers(0, n_evals, n_runs)[:, None]
    idx = np.arange(n_evals)[None, :]
    tr = np.where(idx >= t_fit, 1.0, 0.1) - rng.uniform(0, 0.05, (n_runs, n_evals))
    te = np.where(idx >= t_gen, 1.0, 0.1)
    curves = pd.DataFrame(
        {
            "run_id": np.repeat([f"r{i}" for i in range(n_runs)], n_evals),
            "step": np.tile(steps, n_runs),
            "train_loss": (1.01 - tr).ravel(),
            "test_loss": (1.01 - te).ravel(),
            "train_acc": tr.ravel(),
            "test_acc": te.ravel(),
            "weight_norm": 1.0,
        }
    )
    runs = pd.DataFrame({"run_id": [f"r{i}" for i in range(n_runs)], "n_classes": P})
    start = time.perf_counter()
    out = classify_runs(runs, curves, ClassifySpec())
    assert time.perf_counter() - start < 5.0
    assert set(out.phase) <= set(PHASES)
    expected_fit = np.where(tr.max(axis=1) >= 0.9, steps[(tr >= 0.9).argmax(axis=1)], -1)
    assert (out.t_fit.fillna(-1).to_numpy() == expected_fit).all()
