"""Phase classification on synthetic curves of every phase and its edge cases."""

from __future__ import annotations

import copy
import time

import numpy as np
import pandas as pd
import pytest
from conftest import TINY
from pydantic import ValidationError

from phasegrok.classify import (
    CLASS_COLUMNS,
    LOSS_FLOOR,
    PHASE_COLORS,
    PHASES,
    ClassifySpec,
    chance_loss,
    classify_runs,
)
from phasegrok.config import ConfigError, load_sweep

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


def test_phase_palette_is_fixed_and_complete():
    assert set(PHASES) == set(PHASE_COLORS)
    assert len(set(PHASE_COLORS.values())) == len(PHASES)


def test_spec_defaults_and_validation():
    spec = ClassifySpec()
    assert (spec.rule, spec.threshold, spec.spike_factor, spec.spike_floor) == (
        "accuracy",
        0.9,
        10.0,
        None,
    )
    assert (spec.min_cycles, spec.grok_gap, spec.still_learning_delta) == (2, 1000, 0.05)
    assert spec.generalized == "final" and ClassifySpec(generalized="ever").generalized == "ever"
    with pytest.raises(ValidationError, match="generalized"):
        ClassifySpec(generalized="always")
    with pytest.raises(ValidationError, match="thresh"):
        ClassifySpec(thresh=0.5)
    with pytest.raises(ValidationError):
        ClassifySpec(rule="loss")
    with pytest.raises(ValidationError):
        spec.threshold = 0.5  # frozen
    assert ClassifySpec(pair_loss_scale="per_class").pair_loss_scale == "per_class"


def test_comprehend_and_grok():
    r = classify_one(train_acc=step_up(500), test_acc=step_up(800))
    assert (r.phase, r.t_fit, r.t_gen, r.grok_delay) == ("comprehend", 500, 800, 300)
    r = classify_one(train_acc=step_up(500), test_acc=step_up(6000))
    assert (r.phase, r.t_fit, r.t_gen, r.grok_delay) == ("grok", 500, 6000, 5500)
    assert not r.still_learning and not r.lost_generalization and r.n_relapses == 0
    # grok_gap is a free threshold.
    r = classify_one(ClassifySpec(grok_gap=10_000), train_acc=step_up(500), test_acc=step_up(6000))
    assert r.phase == "comprehend"


def test_generalizes_at_once():
    r = classify_one(train_acc=step_up(100), test_acc=step_up(100))
    assert (r.phase, r.t_fit, r.t_gen, r.grok_delay) == ("comprehend", 100, 100, 0)
    r = classify_one(train_acc=np.ones(len(STEPS)), test_acc=np.ones(len(STEPS)))
    assert (r.phase, r.t_fit, r.t_gen) == ("comprehend", 0, 0)


def test_never_generalizes_is_memorize_with_missing_times():
    r = classify_one(train_acc=step_up(500), test_acc=np.full(len(STEPS), 0.3))
    assert r.phase == "memorize"
    assert r.t_fit == 500 and pd.isna(r.t_gen) and pd.isna(r.grok_delay)
    assert not r.lost_generalization and not r.still_learning


def test_never_fits_is_confuse():
    r = classify_one(train_acc=np.full(len(STEPS), 0.5), test_acc=np.full(len(STEPS), 0.1))
    assert r.phase == "confuse" and pd.isna(r.t_fit) and pd.isna(r.t_gen)


def test_nan_midway_is_diverge():
    tr, te = step_up(500), step_up(800)
    loss = np.log(P) * (1 - tr) + 1e-3
    loss[STEPS >= 5000] = np.nan
    r = classify_one(train_acc=tr, test_acc=te, train_loss=loss)
    assert r.phase == "diverge"
    assert r.t_fit == 500  # times are still reported
    wn = np.linspace(1, 2, len(STEPS))
    wn[-1] = np.inf
    assert classify_one(train_acc=tr, test_acc=te, wn=wn).phase == "diverge"
    assert classify_one(ClassifySpec(rule="pair"), train_acc=tr, test_acc=te, wn=wn).phase == (
        "diverge"
    )


def dips(at: list[int], t_fit: int = 500) -> np.ndarray:
    acc, steps = step_up(t_fit), STEPS
    for t in at:
        acc[(steps >= t) & (steps < t + 300)] = 0.4
    return acc


def test_oscillation_that_never_settles():
    r = classify_one(train_acc=dips([3000, 8000, 9500]), test_acc=step_up(700))
    assert r.phase == "oscillate" and r.n_relapses == 3


def test_oscillation_that_settles_is_not_oscillate():
    r = classify_one(train_acc=dips([2000, 3000, 4000]), test_acc=step_up(700))
    assert r.n_relapses == 3 and r.phase == "comprehend"
    # One late relapse is below min_cycles... unless min_cycles is lowered.
    r = classify_one(train_acc=dips([9000]), test_acc=step_up(700))
    assert r.n_relapses == 1 and r.phase == "comprehend"
    r = classify_one(ClassifySpec(min_cycles=1), train_acc=dips([9000]), test_acc=step_up(700))
    assert r.phase == "oscillate"


def test_loss_spikes_count_but_float_noise_does_not():
    tr = step_up(500)
    loss = np.log(P) * (1 - tr) + 1e-3
    loss[(STEPS == 8000) | (STEPS == 9000)] = 2.0  # > 10 x min and > 0.1 ln(97)
    r = classify_one(train_acc=tr, test_acc=step_up(600), train_loss=loss)
    assert r.n_relapses == 2 and r.phase == "oscillate"
    noise = np.where(tr == 1.0, 1e-7, 4.0)
    noise[STEPS >= 8000] = 1e-5  # 100 x the minimum but far below the floor
    noise[STEPS == 9000] = 1e-7
    r = classify_one(train_acc=tr, test_acc=step_up(600), train_loss=noise)
    assert r.n_relapses == 0 and r.phase == "comprehend"
    # An explicit floor of 0 makes the same noise count.
    r = classify_one(
        ClassifySpec(spike_floor=0.0), train_acc=tr, test_acc=step_up(600), train_loss=noise
    )
    assert r.n_relapses == 2


def test_mse_floor_uses_all_zero_output_loss():
    assert chance_loss(np.array(["mse", "cross_entropy"]), np.array([4, 4])) == pytest.approx(
        [0.25, np.log(4)]
    )
    tr = step_up(500)
    base = np.where(tr == 1.0, 1e-5, 0.02)
    small, big = base.copy(), base.copy()
    small[(STEPS == 8000) | (STEPS == 9000)] = 5e-4  # 50x but below 0.1/97
    big[(STEPS == 8000) | (STEPS == 9000)] = 5e-3
    out = []
    for loss in (small, big):
        runs, curves = frames({"r": curve("r", tr, step_up(600), train_loss=loss)}, loss="mse")
        out.append(classify_runs(runs, curves, ClassifySpec()).iloc[0].n_relapses)
    assert out == [0, 2]


def test_still_learning_and_lost_generalization():
    rising = np.full(len(STEPS), 0.5)
    rising[STEPS > 9000] = np.linspace(0.55, 0.7, (STEPS > 9000).sum())
    r = classify_one(train_acc=step_up(500), test_acc=rising)
    assert r.phase == "memorize" and r.still_learning
    r = classify_one(
        ClassifySpec(still_learning_delta=0.5), train_acc=step_up(500), test_acc=rising
    )
    assert not r.still_learning
    lost = step_up(2000)
    lost[STEPS >= 6000] = 0.5
    r = classify_one(train_acc=step_up(500), test_acc=lost)
    assert r.phase == "memorize" and r.lost_generalization and r.t_gen == 2000
    assert not r.still_learning


def test_generalized_from_a_sweep_file():
    sweep = {**copy.deepcopy(TINY), "classify": {"generalized": "ever"}}
    assert load_sweep(sweep).file.classify.generalized == "ever"
    sweep["classify"]["generalized"] = "always"
    with pytest.raises(ConfigError, match="classify.generalized"):
        load_sweep(sweep)


def generalized_then_lost() -> np.ndarray:
    """Test accuracy reaches the threshold at 2000 and falls back to 0.5 from 6000 on."""
    acc = step_up(2000)
    acc[STEPS >= 6000] = 0.5
    return acc


def test_generalized_final_or_ever():
    lost = generalized_then_lost()
    final = classify_one(train_acc=step_up(500), test_acc=lost)
    ever = classify_one(ClassifySpec(generalized="ever"), train_acc=step_up(500), test_acc=lost)
    # Liu et al.'s "ever": it reached 0.9 at 2000, 1500 steps after the fit: grok, not memorize.
    assert (final.phase, ever.phase) == ("memorize", "grok")
    assert final.lost_generalization and ever.lost_generalization
    assert ever.t_gen == 2000 and ever.grok_delay == 1500
    # A run that never generalized is memorize under either definition.
    never = np.full(len(STEPS), 0.3)
    r = classify_one(ClassifySpec(generalized="ever"), train_acc=step_up(500), test_acc=never)
    assert r.phase == "memorize" and not r.lost_generalization


def lost_fit(at: list[int], end: int) -> np.ndarray:
    """Fit at 500, dips of 300 steps at `at`, and train accuracy 0.4 from `end` to the end."""
    acc = dips(at)
    acc[STEPS >= end] = 0.4
    return acc


def test_fit_then_ended_unfit_is_collapse():
    # One relapse (below min_cycles = 2), test accuracy lost too: memorize before collapse.
    r = classify_one(train_acc=lost_fit([], 7000), test_acc=generalized_then_lost())
    assert (r.phase, r.n_relapses, r.t_fit) == ("collapse", 1, 500)
    # Still generalizing at the end, or by Liu's "ever": never grok or comprehend once unfit.
    r = classify_one(train_acc=lost_fit([], 7000), test_acc=step_up(700))
    assert r.phase == "collapse"
    for generalized in ("final", "ever"):
        spec = ClassifySpec(generalized=generalized)
        assert classify_one(spec, train_acc=lost_fit([], 7000), test_acc=step_up(6000)).phase == (
            "collapse"
        )
    # Two relapses, none in the last quarter: it settled, unfit; collapse, not oscillate.
    r = classify_one(train_acc=lost_fit([2000], 4000), test_acc=step_up(700))
    assert (r.phase, r.n_relapses) == ("collapse", 2)
    # oscillate is checked first: enough relapses, one late, and ending unfit.
    r = classify_one(train_acc=lost_fit([3000, 6000], 9000), test_acc=step_up(700))
    assert (r.phase, r.n_relapses) == ("oscillate", 3)
    # A relapse that recovers by the end is not a collapse.
    assert classify_one(train_acc=dips([9000]), test_acc=step_up(700)).phase == "comprehend"


def test_legacy_ungrokked_column_is_dropped():
    runs, curves = frames({"r": curve("r", step_up(500), generalized_then_lost())})
    out = classify_runs(runs.assign(ungrokked=False), curves, ClassifySpec())
    assert "ungrokked" not in out.columns and "lost_generalization" in CLASS_COLUMNS
    assert out.iloc[0].lost_generalization


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
