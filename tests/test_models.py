"""The dense products' custom weight gradients agree with plain autodiff."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasegrok.config.load import load_sweep
from phasegrok.engine.models import make_model
from phasegrok.engine.models.layers import PRODUCTS
from phasegrok.plan.runs import expand


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_every_product_has_autodiffs_value_and_gradients(name):
    kx, kk, kg = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (50, 7))
    kernel = jax.random.normal(kk, (3, 7))
    cotangent = jax.random.normal(kg, (50, 3))

    def pullback(product):
        y, vjp = jax.vjp(product, x, kernel)
        return (y, *vjp(cotangent))

    for got, want in zip(pullback(PRODUCTS[name]), pullback(lambda a, k: a @ k.T), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_products_vmap_over_runs(name):
    kx, kk = jax.random.split(jax.random.key(1))
    x = jax.random.normal(kx, (4, 20, 5))
    kernel = jax.random.normal(kk, (4, 2, 5))

    def loss(a, k):
        return jnp.sum(jnp.sin(PRODUCTS[name](a, k)))

    got = jax.vmap(jax.grad(loss, argnums=1))(x, kernel)
    want = jax.vmap(jax.grad(lambda a, k: jnp.sum(jnp.sin(a @ k.T)), argnums=1))(x, kernel)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("hidden", [[16], [16, 8]])
def test_parity_model_gradient_matches_a_plain_mlp(tiny_parity, hidden):
    tiny_parity["model"]["hidden"] = hidden
    static = expand(load_sweep(tiny_parity))[0].static
    model = make_model(static)
    x = jnp.where(jax.random.bernoulli(jax.random.key(2), shape=(30, static.parity.n_bits)), 1, -1)
    x = x.astype(jnp.int8)
    params = model.init(jax.random.key(3), x)["params"]

    def plain(p):
        h = x.astype(jnp.float32)
        for i in range(len(hidden)):
            h = jax.nn.relu(h @ p[f"Dense_{i}"]["kernel"].T + p[f"Dense_{i}"]["bias"])
        readout = p[f"Dense_{len(hidden)}"]
        return jnp.sum(jnp.tanh(h @ readout["kernel"].T + readout["bias"]))

    got = jax.grad(lambda p: jnp.sum(jnp.tanh(model.apply({"params": p}, x))))(params)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(jax.grad(plain)(params)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
