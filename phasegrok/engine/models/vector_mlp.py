"""The MLP over vectors (`inputs: vectors`: parity's bits, an arrays task's flattened examples)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from phasegrok.engine.models.layers import ACTIVATIONS, Dense
from phasegrok.plan.runs import StaticSpec, need


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
        bias, init = self.static.bias, need(self.static.init)
        h = x.astype(jnp.float32)
        for i, width in enumerate(self.static.hidden):
            weight_grad = "transposed_input" if i == 0 else "transposed_grad"
            h = act(Dense(width, use_bias=bias, weight_grad=weight_grad, initializer=init)(h))
        out = self.static.out_dim
        return Dense(out, use_bias=bias, weight_grad="transposed_grad", initializer=init)(h)


def vector_input(static: StaticSpec) -> jax.Array:
    """A one-example input for `init`: one vector of `input_width` values."""
    return jnp.zeros((1, static.input_width), jnp.float32)
