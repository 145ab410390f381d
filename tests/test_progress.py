"""Nanda et al.'s progress measures on constructed logits and a constructed model (no training)."""

import math

import numpy as np
import pytest

from phasegrok.lens import progress_measures as progress
from phasegrok.tasks import cyclic
from phasegrok.tasks.modular import modular_label


def _grid(op, p):
    pairs, s = progress.group_grid(op, p)
    labels = modular_label(op, pairs[:, 0].astype(np.int64), pairs[:, 1], p)
    return pairs, s, len(cyclic.group_tokens(op, p)), labels


def _circuit_logits(op, p, keys, scale=60.0):
    """logit_c(a, b) = scale * sum_k cos(2 pi k (s(a, b) - j(c)) / n): the trig-identity circuit
    over the group index; class 0 of mul / div (outside the group) gets a low constant."""
    pairs, s, n, labels = _grid(op, p)
    index = {int(t): j for j, t in enumerate(cyclic.group_tokens(op, p))}
    logits = np.full((len(pairs), p), -scale * len(keys))
    for c, j in index.items():
        logits[:, c] = scale * sum(np.cos(2 * np.pi * k * (s - j) / n) for k in keys)
    return logits, s, n, labels


@pytest.mark.parametrize(("op", "p"), [("add", 13), ("sub", 13), ("mul", 13), ("div", 11)])
def test_the_circuit_alone_has_restricted_loss_equal_to_its_full_loss(op, p):
    logits, s, n, labels = _circuit_logits(op, p, [2, 3])
    train = np.arange(len(labels)) % 3 == 0
    found = progress.measures(logits, labels, s, n, [2, 3], train)
    assert found["full_loss"] < 1e-3 and found["restricted_acc"] == 1.0
    assert found["restricted_loss"] == pytest.approx(found["full_loss"], abs=1e-9)
    # Without its key frequencies the circuit is a constant per class: no better than chance.
    assert found["excluded_loss"] > 0.9 * math.log(p)


def test_other_frequencies_and_noise_go_to_the_excluded_logits():
    logits, s, n, labels = _circuit_logits("add", 17, [4])
    pairs, *_ = _grid("add", 17)
    rng = np.random.default_rng(0)
    other = 5.0 * np.cos(2 * np.pi * 7 * (pairs[:, 0] + pairs[:, 1])[:, None] / 17)
    noise = rng.normal(size=logits.shape)
    restricted, excluded = progress.restricted_excluded(logits + other + noise, s, n, [4])
    # The restricted logits keep frequency 4 of s (and each class's mean), nothing else.
    np.testing.assert_allclose(restricted - restricted.mean(axis=0), logits, atol=0.5)
    np.testing.assert_allclose(restricted + excluded, logits + other + noise + restricted.mean(0))
    components = progress.key_components(excluded, s, n, [4])
    np.testing.assert_allclose(components, 0.0, atol=1e-9)


def test_the_nyquist_frequency_of_an_even_group_is_projected_once():
    n = 12  # mul mod 13: the group of order 12 has the Nyquist frequency 6
    _, s, n_found, _ = _grid("mul", 13)
    assert n_found == n
    logits = np.cos(np.pi * s)[:, None] * np.array([[1.0, -2.0]])
    np.testing.assert_allclose(progress.key_components(logits, s, n, [6]), logits, atol=1e-12)
    np.testing.assert_allclose(progress.key_components(logits, s, n, [5]), 0.0, atol=1e-12)


def test_mse_loss_and_blank_groups():
    logits = np.array([[1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(progress.per_pair_loss(logits, np.array([0, 1]), "mse"), [0, 0.5])
    assert progress.group_grid("square_sum", 11) is None
    assert progress.group_grid("add_integers", 11) is None
    pairs, s = progress.group_grid("mul", 7)  # tokens 1 .. 6 only, 3 the primitive root
    assert len(pairs) == 36 and set(pairs.ravel().tolist()) == set(range(1, 7))
    assert s[1] == 1 and pairs[1].tolist() == [1, 3]


@pytest.mark.parametrize(("op", "p", "loss"), [("mul", 13, "cross_entropy"), ("sub", 17, "mse")])
def test_jax_numpy_measures_equal_numpy_float64(op, p, loss):
    """The jitted float32 measures (the batched path's) against NumPy's float64; a repeated key
    counts once, as does the Nyquist frequency 6 of mul mod 13."""
    import jax
    import jax.numpy as jnp

    n_half = (p - 1) // 2  # n = p - 1 for mul, the Nyquist frequency; not for sub (n = p)
    logits, s, n, labels = _circuit_logits(op, p, [2, n_half], scale=3.0)
    logits = (logits + np.random.default_rng(3).normal(size=logits.shape)).astype(np.float32)
    train = np.arange(len(labels)) % 3 == 0
    keys = [n_half, 2, 2, 5]
    expected = progress.measures(logits, labels, s, n, keys, train, loss)
    distinct = progress.measures(logits, labels, s, n, [2, 5, n_half], train, loss)
    assert distinct == pytest.approx(expected, rel=1e-12)

    @jax.jit
    def batched(logits, keys, train):
        return progress.measure_values(logits, labels, s, n, keys, train, loss, jnp)

    found = batched(jnp.asarray(logits), jnp.asarray(keys), jnp.asarray(train))
    np.testing.assert_allclose(found, list(expected.values()), rtol=1e-5, atol=1e-6)
