import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasegrok.lens import gini, modular_lens, parity_lens, top_k_share

P = 59


def _circle_map(freqs, width=32, seed=0):
    rng = np.random.default_rng(seed)
    a = np.arange(P)[:, None]
    token_map = np.zeros((P, width), np.float32)
    for f in freqs:
        token_map += np.cos(2 * np.pi * f * a / P) * rng.normal(size=width)
        token_map += np.sin(2 * np.pi * f * a / P) * rng.normal(size=width)
    return token_map + rng.normal(size=width)  # a constant offset: frequency 0, ignored


def test_a_map_built_from_two_frequencies_reports_exactly_them():
    left, right = _circle_map([7, 19]), _circle_map([7, 19], seed=1)
    metrics, keys = modular_lens((left, right), k=2)
    assert sorted(np.asarray(keys).tolist()) == [7, 19]
    assert float(metrics[0]) == pytest.approx(1.0, abs=1e-4)  # top-2 share
    assert float(metrics[1]) > 0.9  # gini: concentrated


def test_a_random_map_reports_the_uniform_share():
    key = jax.random.key(0)
    left = jax.random.normal(key, (P, 512))
    right = jax.random.normal(jax.random.fold_in(key, 1), (P, 512))
    metrics, _ = modular_lens((left, right), k=5, xp=jnp)  # the engine's path
    uniform = 5 / (P // 2)
    assert uniform < float(metrics[0]) < 1.3 * uniform
    assert float(metrics[1]) < 0.2


def test_gini_and_share_extremes():
    flat = np.ones(10, np.float32)
    peak = np.eye(10, dtype=np.float32)[3]
    assert float(gini(flat)) == pytest.approx(0.0, abs=1e-6)
    assert float(gini(peak)) == pytest.approx(0.9, abs=1e-6)
    assert float(top_k_share(flat, 5)) == pytest.approx(0.5)


def test_parity_model_reading_only_the_label_bits():
    kernel = np.zeros((30, 16), np.float32)
    kernel[:3] = np.random.default_rng(0).normal(size=(3, 16))
    share, irrelevant = np.asarray(parity_lens(kernel, k=3, threshold=0.05))
    assert share == pytest.approx(1.0) and irrelevant == 0
    kernel[10, [2, 5]] = 0.5
    kernel[11, 7] = 0.01  # below the threshold: pruned enough
    share, irrelevant = np.asarray(parity_lens(kernel, k=3, threshold=0.05))
    assert share < 1.0 and irrelevant == 2
