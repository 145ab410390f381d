"""The layers both models are built of: a dense layer stored as PyTorch stores it, the forms of
its weight gradient, its initializers, and the activations.

Initialization (`init`), with fan_in a layer's input width:
- `torch`, PyTorch's defaults (nn.Linear, nn.Embedding), what the MLP papers trained with:
  kernels U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5): standard
  deviation 1/sqrt(3 fan_in)), biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
- `lecun`, flax's and haiku's defaults: kernels truncated normal with variance 1/fan_in
  (LeCun-normal), biases 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp


def _product(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return x @ kernel.T


@jax.custom_vjp
def product_transposed_input(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """`x @ kernel.T`, whose weight gradient is `(x^T g)^T` with `x^T` materialized.

    For a layer applied to the data: the transpose of the inputs does not change between
    steps, so XLA hoists it out of the step loop, and the product `x^T g` is one XLA's CPU
    backend runs ~2.5x faster than autodiff's `g^T x` (parity-small's 1,000 x 30 x 64 first
    layer). The optimization barriers keep XLA from folding the transposes back.
    """
    return _product(x, kernel)


def _product_fwd(x, kernel):
    return _product(x, kernel), (x, kernel)


def _transposed_input_bwd(residuals, g):
    x, kernel = residuals
    x_t = jax.lax.optimization_barrier(x.T)
    return g @ kernel, jax.lax.optimization_barrier(x_t @ g).T


product_transposed_input.defvjp(_product_fwd, _transposed_input_bwd)


@jax.custom_vjp
def product_transposed_grad(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """`x @ kernel.T`, whose weight gradient is `g^T x` with `g^T` materialized.

    For a narrow layer (parity's 64-unit hidden layers, its 2-logit readout): transposing the
    (n, out) gradient is cheap and turns the weight gradient into a plain product that XLA's
    CPU backend runs fast.
    """
    return _product(x, kernel)


def _transposed_grad_bwd(residuals, g):
    x, kernel = residuals
    return g @ kernel, jax.lax.optimization_barrier(g.T) @ x


product_transposed_grad.defvjp(_product_fwd, _transposed_grad_bwd)

PRODUCTS: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
    "autodiff": _product,
    "transposed_input": product_transposed_input,
    "transposed_grad": product_transposed_grad,
}


def kernel_init(init: str, in_axis: int, out_axis: int) -> nn.initializers.Initializer:
    """A dense kernel's initializer; `in_axis` is the fan-in axis of its storage layout.

    torch: U(-b, b) with b = 1/sqrt(fan_in), i.e. variance b^2 / 3 = 1 / (3 fan_in), which is
    variance scaling 1/3 with a uniform distribution. lecun: truncated normal, variance
    1/fan_in.
    """
    if init == "torch":
        return nn.initializers.variance_scaling(
            1 / 3, "fan_in", "uniform", in_axis=in_axis, out_axis=out_axis
        )
    if init == "lecun":
        return nn.initializers.lecun_normal(in_axis=in_axis, out_axis=out_axis)
    raise ValueError(f"unknown init {init!r}")


def bias_init(init: str, fan_in: int) -> nn.initializers.Initializer:
    """A bias's initializer: torch U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (nn.Linear); lecun 0.

    The bias's own shape carries no fan-in, so the layer passes its kernel's.
    """
    if init == "lecun":
        return nn.initializers.zeros
    if init != "torch":
        raise ValueError(f"unknown init {init!r}")
    bound = 1 / math.sqrt(fan_in)

    def uniform(key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype = jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return uniform


class Dense(nn.Module):
    """A dense layer whose kernel is stored (out, in), as PyTorch's Linear.

    Same math as flax's Dense, initialized by `init` (`kernel_init`, `bias_init`, with fan_in
    the input width); the layout makes autodiff's weight gradient the product g^T x, which
    XLA's CPU backend runs ~1.4x faster than x^T g for flax's (in, out) kernel (measured on
    the 2,848 x 256 x 97 readout of modadd-medium).
    `weight_grad` picks how the weight gradient is formed (see `PRODUCTS`); the forms differ
    only in float rounding.
    """

    features: int
    use_bias: bool = True
    weight_grad: str = "autodiff"
    initializer: str = "torch"  # not `init`, which would hide nn.Module.init

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        fan_in = x.shape[-1]
        init = kernel_init(self.initializer, in_axis=-1, out_axis=-2)
        kernel = self.param("kernel", init, (self.features, fan_in))
        y = PRODUCTS[self.weight_grad](x, kernel)
        if self.use_bias:
            y = y + self.param("bias", bias_init(self.initializer, fan_in), (self.features,))
        return y


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "tanh": jnp.tanh,
    "quadratic": jnp.square,
}
