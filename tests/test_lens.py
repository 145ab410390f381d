import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasegrok.lens.fourier import (
    frequency_power,
    gini,
    group_maps,
    modular_lens,
    parity_lens,
    task_lens,
    top_k_share,
)
from phasegrok.tasks.cyclic import group_tokens, n_frequencies, primitive_root

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


# --------------------------------------------------------------------------------------------
# Power per frequency


@pytest.mark.parametrize("n", [10, 11])
def test_parseval_total_power_is_the_centred_energy(n):
    """sum_f power[f] = n sum_j |m[j] - mean|^2: every non-constant bin counted exactly once."""
    token_map = np.random.default_rng(n).normal(size=(n, 7)) + 3.0
    power = frequency_power(token_map)
    assert power.shape == (n // 2,)
    centred = token_map - token_map.mean(axis=0)
    assert float(power.sum()) == pytest.approx(n * float(np.sum(centred**2)), rel=1e-10)


def test_a_real_map_counts_each_frequency_once_nyquist_included():
    n = 12
    j = np.arange(n)[:, None]
    cosine = np.cos(2 * np.pi * 5 * j / n)  # energy n / 2, in X_5 and X_-5 (n / 2 each)
    nyquist = np.cos(np.pi * j)  # (-1)^j: energy n, all in X_6, its own negative
    power = frequency_power(np.concatenate([cosine, nyquist], axis=1))
    assert power[5 - 1] == pytest.approx(n * n / 2)  # = n x its energy
    assert power[n // 2 - 1] == pytest.approx(n * n)  # = n x its energy
    np.testing.assert_allclose(np.delete(power, [4, 5]), 0.0, atol=1e-9)
    # One unit of each at equal energy: equal power, so equal shares.
    equal = frequency_power(np.concatenate([np.sqrt(2) * cosine, nyquist], axis=1))
    assert equal[4] == pytest.approx(equal[5])


# --------------------------------------------------------------------------------------------
# The group the lens reads over


def test_discrete_log_order_of_the_multiplicative_group():
    p = 31
    g = primitive_root(p)
    assert g == 3
    tokens = group_tokens("mul", p)
    assert sorted(tokens.tolist()) == list(range(1, p))  # every non-zero token once
    assert all(tokens[j] == pow(g, j, p) for j in range(p - 1))
    assert (group_tokens("div", p) == tokens).all()
    assert (group_tokens("add", p) == np.arange(p)).all()
    assert [primitive_root(q) for q in (2, 3, 5, 7, 11, 59, 97)] == [1, 2, 2, 3, 2, 2, 5]
    assert (n_frequencies("add", p), n_frequencies("mul", p)) == (15, 15)
    assert (n_frequencies("add", 12), n_frequencies("mul", 3)) == (6, 1)
    for op, q in (("square_sum", 31), ("mul", 12), ("mul", 2), ("div", 2)):
        assert group_tokens(op, q) is None and n_frequencies(op, q) == 0


def _log_sinusoid(p, f, width=16, seed=0):
    """A mul token map whose every unit is a sinusoid of frequency f in j = log_g a."""
    rng = np.random.default_rng(seed)
    tokens = group_tokens("mul", p)
    angle = 2 * np.pi * f * np.arange(p - 1)[:, None] / (p - 1)
    token_map = np.zeros((p, width))
    token_map[tokens] = np.cos(angle) * rng.normal(size=width) + np.sin(angle) * rng.normal(
        size=width
    )
    token_map[0] = rng.normal(size=width)  # token 0 is outside the group: left out
    return token_map + rng.normal(size=width)


@pytest.mark.parametrize("op", ["mul", "div"])
def test_a_sinusoid_in_the_discrete_log_has_top_1_share_1(op):
    p, f = 31, 4
    maps = (_log_sinusoid(p, f), _log_sinusoid(p, f, seed=1))
    metrics, keys = task_lens(maps, op, p, k=1)
    assert float(metrics[0]) == pytest.approx(1.0, abs=1e-9)
    assert np.asarray(keys).tolist() == [f]
    # The same map read over the token index (what the lens did before) is spread out.
    over_tokens, _ = modular_lens(maps, k=1)
    assert float(over_tokens[0]) < 0.5
    # The engine's path (jax.numpy, float32) agrees.
    jmetrics, jkeys = task_lens(tuple(jnp.asarray(m, jnp.float32) for m in maps), op, p, 1, jnp)
    assert float(jmetrics[0]) == pytest.approx(1.0, abs=1e-4)
    assert np.asarray(jkeys).tolist() == [f]


def test_add_reads_the_token_order_and_square_sum_is_blank():
    maps = (_circle_map([7, 19]), _circle_map([7, 19], seed=1))
    assert all(a is b for a, b in zip(group_maps(maps, "add", P), maps, strict=True))
    assert group_maps(maps, "square_sum", P) is None
    for xp in (np, jnp):
        metrics, keys = task_lens(tuple(xp.asarray(m) for m in maps), "square_sum", P, 2, xp)
        assert keys is None and np.isnan(np.asarray(metrics)).all()
        assert np.asarray(metrics).shape == (2,)
