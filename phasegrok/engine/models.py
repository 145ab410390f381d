"""The MLPs (flax.linen): a modular-arithmetic MLP over two operand embeddings, and an MLP over
vectors (parity's bits, an arrays task's flattened examples).

The modular model applies its first layer to the p-row embedding table rather than to every
example: `token_map(E) = E @ W` is a (p, width) table and the first hidden pre-activation of
the pair (a, b) is `T_a[a] + T_b[b] + bias`. That is exactly `Dense(concat(E[a], E[b]))`
(or `W E[a] + W E[b]` for `combine: sum`), costs p rows instead of one per example, and the
table is what the Fourier analysis of the mechanistic lens reads.

Initialization (`init`), with fan_in a layer's input width:
- `torch`, PyTorch's defaults (nn.Linear, nn.Embedding), what the MLP papers trained with:
  kernels U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5): standard
  deviation 1/sqrt(3 fan_in)), biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
- `lecun`, flax's and haiku's defaults: kernels truncated normal with variance 1/fan_in
  (LeCun-normal), biases 0.
A learned embedding starts N(0, 1) under both (nn.Embedding); the engine multiplies it by the
run's `embedding_std`, then every parameter by its `init_scale`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import flax.linen as nn
import jax
import jax.numpy as jnp

from phasegrok.lens.fourier import circular_table, token_maps
from phasegrok.plan.runs import StaticSpec
from phasegrok.plan.task_fields import need


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


class ModularMLP(nn.Module):
    """Logits over the task's classes (Z_p, or the 2p - 1 sums of `add_integers`) for integer
    pairs `x` of shape (n, 2)."""

    static: StaticSpec

    def setup(self) -> None:
        s, task = self.static, self.static.modular
        if task.embedding == "learned":
            self.table = self.param(
                "embedding", nn.initializers.normal(stddev=1.0), (task.p, task.embed_dim)
            )
        elif task.embedding == "one_hot":
            self.table = jnp.eye(task.p, dtype=jnp.float32)
        else:
            freqs = need(task.circular_freqs, "circular_freqs")
            self.table = jnp.asarray(circular_table(task.p, freqs))
        # The first layer as one Dense over [E_a; E_b] (concat) or E_a and E_b (sum): its
        # fan-in is that input's width. Stored (in, width), so the fan-in axis is the first.
        first_in = task.embed_dim if task.combine == "sum" else 2 * task.embed_dim
        width = s.hidden[0]
        self.first_kernel = self.param(
            "first_kernel", kernel_init(s.init, in_axis=-2, out_axis=-1), (first_in, width)
        )
        self.first_bias = (
            self.param("first_bias", bias_init(s.init, first_in), (width,)) if s.bias else None
        )
        self.layers = [Dense(w, use_bias=s.bias, initializer=s.init) for w in s.hidden[1:]]
        out_dim = task.embed_dim if s.tie_output else s.out_dim
        self.readout = Dense(out_dim, use_bias=s.bias, initializer=s.init)

    def token_maps(self) -> tuple[jax.Array, jax.Array]:
        """The (p, width) first-layer tables of the left and right operand."""
        return token_maps(self.table, self.first_kernel, self.static.modular.combine)

    def __call__(self, x: jax.Array, maps: tuple[jax.Array, jax.Array] | None = None) -> jax.Array:
        """Logits of the pairs `x`; `maps`, if given, stands for `self.token_maps()`."""
        left, right = self.token_maps() if maps is None else maps
        h = left[x[:, 0]] + right[x[:, 1]]
        if self.first_bias is not None:
            h = h + self.first_bias
        act = ACTIVATIONS[self.static.activation]
        h = act(h)
        for layer in self.layers:
            h = act(layer(h))
        out = self.readout(h)
        return out @ self.table.T if self.static.tie_output else out


class VectorMLP(nn.Module):
    """`static.out_dim` logits for input vectors: parity's {-1, +1}^n_bits or {0, 1}^n_bits
    (`task.encoding`; 2 logits), given as int8 and computed in float32, or an arrays task's
    flattened examples (C logits); one logit under the binary cross-entropies (`ONE_LOGIT_LOSSES`).

    Its weight gradients are narrow products over many examples (64 x 30 or 2 x 64 over
    1,000), which XLA's CPU backend runs slowly in autodiff's form: the first layer uses
    `product_transposed_input`, the others `product_transposed_grad` (parity-small: 0.41 ->
    0.59 of peak; a [64, 64] model 1.3x faster again). The modular MLP's wider products
    (97 x 256 over 2,848) measured no faster that way, so it keeps autodiff's.
    """

    static: StaticSpec

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.static.activation]
        bias, init = self.static.bias, self.static.init
        h = x.astype(jnp.float32)
        for i, width in enumerate(self.static.hidden):
            weight_grad = "transposed_input" if i == 0 else "transposed_grad"
            h = act(Dense(width, use_bias=bias, weight_grad=weight_grad, initializer=init)(h))
        out = self.static.out_dim
        return Dense(out, use_bias=bias, weight_grad="transposed_grad", initializer=init)(h)


def make_model(static: StaticSpec) -> nn.Module:
    return ModularMLP(static) if static.task_kind == "modular" else VectorMLP(static)


def logits_of(model: nn.Module, params: Any, x: jax.Array, **kwargs: Any) -> jax.Array:
    """`model`'s logits of `x` at `params` (flax types `apply`'s result as the output or, for
    a `mutable` call, which this is not, (output, variables))."""
    return cast(jax.Array, model.apply({"params": params}, x, **kwargs))


def example_input(static: StaticSpec) -> jax.Array:
    """A one-example input of the right shape and dtype, for `init`."""
    if static.task_kind == "modular":
        return jnp.zeros((1, 2), jnp.int32)
    if static.task_kind == "arrays":
        return jnp.zeros((1, static.input_width), jnp.float32)
    return jnp.ones((1, static.parity.n_bits), jnp.int8)
