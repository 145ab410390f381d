"""The readout lens, units per frequency and a hand-built circuit model (no training)."""

import json
import math

import numpy as np
import pytest

from phasegrok.config.load import load_sweep
from phasegrok.lens import progress_measures as progress
from phasegrok.lens import readout
from phasegrok.lens.fourier import ModelFacts
from phasegrok.plan.runs import expand
from phasegrok.tasks.base import BITS

P, K = 19, 3


def _cos_sin(freq, n=P):
    angle = 2 * np.pi * freq * np.arange(n) / n
    return np.cos(angle), np.sin(angle)


def test_readout_spectrum_of_a_tied_embedding_built_from_one_frequency():
    """Tied output: U = E K has only E's frequency, whatever K."""
    rng = np.random.default_rng(0)
    cos, sin = _cos_sin(K)
    table = np.zeros((P, 6))
    table[:, 0], table[:, 1] = cos, sin
    params = {"embedding": table, "readout": {"kernel": rng.normal(size=(6, 24))}}
    facts = ModelFacts(p=P, tie_output=True, top_k=1)
    power = readout.readout_power(facts, params)
    assert len(power) == P // 2 and int(np.argmax(power)) + 1 == K
    assert float(readout.readout_metrics(facts, params)[0]) == pytest.approx(1.0, abs=1e-9)
    # Untied, the same kernel read over the classes: an untied (classes x width) readout.
    untied = {"readout": {"kernel": table @ params["readout"]["kernel"]}}
    np.testing.assert_allclose(readout.readout_power(ModelFacts(p=P), untied), power)


def test_a_random_readout_is_spread_and_blank_ops_are_nan():
    rng = np.random.default_rng(1)
    params = {"readout": {"kernel": rng.normal(size=(59, 256))}}
    share = float(readout.readout_metrics(ModelFacts(p=59), params)[0])
    assert 5 / 29 < share < 1.4 * 5 / 29
    blank = ModelFacts(op="square_sum", p=59)
    assert math.isnan(float(readout.readout_metrics(blank, params)[0]))
    assert readout.metric_names(ModelFacts(lens=BITS)) == ()


def test_units_per_frequency_of_a_constructed_first_layer():
    """3 units on frequency 2, 2 on 5 (one of them a weak mix), 1 on 7, 1 dead unit."""
    rng = np.random.default_rng(2)
    c2, s2 = _cos_sin(2)
    c5, s5 = _cos_sin(5)
    c7, _ = _cos_sin(7)
    columns = [c2, s2, c2 + s2, c5, s5 + 0.2 * c7, 0.5 * c7, 1e-4 * rng.normal(size=P)]
    maps = np.stack(columns, axis=1)  # (P, 7) token maps of one-hot tokens
    params = {"first_kernel": np.concatenate([maps, maps])}
    facts = ModelFacts(p=P, embedding="one_hot")
    units = readout.unit_frequencies(facts, params)
    assert units["freq"].tolist()[:6] == [2, 2, 2, 5, 5, 7]
    assert units["live"].tolist() == [True] * 6 + [False]
    assert units["purity"].iloc[0] == pytest.approx(1.0)
    assert 0.9 < units["purity"].iloc[4] < 1.0
    assert readout.units_per_frequency(units) == {2: 3, 5: 2, 7: 1}
    columns = readout.run_columns(facts, {**params, "readout": {"kernel": maps}}, [2, 5, 7, 1, 3])
    assert json.loads(columns["units_per_frequency"]) == {"2": 3, "5": 2, "7": 1}
    assert list(json.loads(columns["units_per_frequency"])) == ["2", "5", "7"]  # most first
    assert columns["readout_key_frequencies"][:3] == [2, 5, 7]
    assert readout.key_frequency_overlap([2, 5, 7, 1, 3], [2, 5, 7, 4, 6]) == pytest.approx(0.6)


def _circuit_model(p, k, scale):
    """A quadratic MLP computing scale * cos(w (a + b - c)), w = 2 pi k / p, exactly: its 8
    hidden units square sums and differences of cos / sin of w a and w b (x y = ((x + y)^2 -
    (x - y)^2) / 4), the readout combines them by cos(w (s - c)) = cos ws cos wc + sin ws sin wc."""
    cfg = {
        "task": {"kind": "modular", "p": p},
        "model": {
            "embedding": "circular",
            "circular_freqs": [k],
            "hidden": [8],
            "activation": "quadratic",
            "bias": False,
        },
        "analysis": {"fourier_top_k": 1},
        "train": {"steps": 10, "eval_every": 10, "seeds": 1},
    }
    (run,) = expand(load_sweep(cfg))
    # (left, right) of each unit: which of (cos, sin) each operand adds, with its sign.
    cos_, sin_ = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    units = [
        (cos_, cos_),  # (cos a + cos b)^2
        (cos_, -cos_),
        (sin_, sin_),
        (sin_, -sin_),
        (sin_, cos_),
        (sin_, -cos_),
        (cos_, sin_),
        (cos_, -sin_),
    ]
    first = np.array([np.concatenate(u) for u in units]).T  # (4, 8)
    wc, ws = _cos_sin(k, p)
    # cos ws = cos a cos b - sin a sin b; sin ws = sin a cos b + cos a sin b.
    cos_s = np.array([1, -1, -1, 1, 0, 0, 0, 0]) / 4
    sin_s = np.array([0, 0, 0, 0, 1, -1, 1, -1]) / 4
    kernel = scale * (np.outer(wc, cos_s) + np.outer(ws, sin_s))  # (p, 8)
    params = {"first_kernel": first.astype(np.float32), "readout": {"kernel": kernel}}
    return run, params


def test_a_model_built_from_one_frequency_is_all_circuit():
    from phasegrok.engine.measure import grid_logits

    run, params = _circuit_model(P, K, scale=200.0)
    pairs, s = progress.group_grid("add", P)
    logits = grid_logits(run.static, params, pairs)
    expected = 200.0 * np.cos(2 * np.pi * K * (s[:, None] - np.arange(P)) / P)
    np.testing.assert_allclose(logits, expected, atol=1e-2)
    labels = (pairs[:, 0] + pairs[:, 1]) % P
    train = np.arange(len(labels)) % 2 == 0
    found = progress.measures(logits, labels, s, P, [K], train)
    assert found["full_loss"] < 0.05
    assert found["restricted_loss"] == pytest.approx(found["full_loss"], rel=1e-4)
    assert found["excluded_loss"] == pytest.approx(math.log(P), rel=1e-3)
    facts = ModelFacts(p=P, embedding="circular", circular_freqs=(K,), top_k=1)
    assert float(readout.readout_metrics(facts, params)[0]) == pytest.approx(1.0, abs=1e-9)
    assert readout.units_per_frequency(readout.unit_frequencies(facts, params)) == {K: 8}
