"""Phase classification by the accuracy rule, on synthetic curves of every phase and its edge
cases. tests/test_classify_pair.py covers the pair rule, tests/test_classify_frames.py
classify_runs on whole frames."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from classify_curves import STEPS, P, classify_one, curve, frames, step_up
from conftest import TINY
from pydantic import ValidationError

from phasegrok.analysis.classify import CLASS_COLUMNS, PHASE_COLORS, chance_loss, classify_runs
from phasegrok.config.load import ConfigError, load_sweep
from phasegrok.config.schema import PHASES, ClassifySpec


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


def test_liu_rule_judges_by_first_times_alone():
    """Liu et al.'s four phases: the phases their data cannot hold (oscillate, collapse,
    diverge) never appear; a run is judged by when train and test accuracy first reached the
    threshold."""
    liu = ClassifySpec(rule="liu")
    cases = [
        (
            {"train_acc": dips([3000, 8000, 9500]), "test_acc": step_up(700)},
            "oscillate",
            "comprehend",
        ),
        ({"train_acc": lost_fit([], 7000), "test_acc": step_up(6000)}, "collapse", "grok"),
        (
            {"train_acc": step_up(500), "test_acc": generalized_then_lost()},
            "memorize",
            "grok",
        ),
        ({"train_acc": step_up(500), "test_acc": np.zeros(len(STEPS))}, "memorize", "memorize"),
        ({"train_acc": np.zeros(len(STEPS)), "test_acc": step_up(500)}, "confuse", "confuse"),
    ]
    for curves_of, by_accuracy, by_liu in cases:
        assert classify_one(**curves_of).phase == by_accuracy
        assert classify_one(liu, **curves_of).phase == by_liu
    tr, te = step_up(500), step_up(800)
    loss = np.log(P) * (1 - tr) + 1e-3
    loss[STEPS >= 5000] = np.nan
    assert classify_one(liu, train_acc=tr, test_acc=te, train_loss=loss).phase == "comprehend"
