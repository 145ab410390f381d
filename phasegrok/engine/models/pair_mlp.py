"""The MLP over token pairs (modular arithmetic, `inputs: pairs`): two operand embeddings, then
dense layers, over the task's classes.

It applies its first layer to the p-row embedding table rather than to every example:
`token_map(E) = E @ W` is a (p, width) table and the first hidden pre-activation of the pair
(a, b) is `T_a[a] + T_b[b] + bias`. That is exactly `Dense(concat(E[a], E[b]))` (or
`W E[a] + W E[b]` for `combine: sum`), costs p rows instead of one per example, and the table
is what the Fourier analysis of the mechanistic lens reads.

A learned embedding starts N(0, 1) under both initializers (nn.Embedding); the engine
multiplies it by the run's `embedding_std`, then every parameter by its `init_scale`.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from phasegrok.engine.models.layers import ACTIVATIONS, Dense, bias_init, kernel_init
from phasegrok.lens.fourier import circular_table, token_maps
from phasegrok.plan.runs import StaticSpec, need


class ModularMLP(nn.Module):
    """Logits over the task's classes (Z_p, or the 2p - 1 sums of `add_integers`) for integer
    pairs `x` of shape (n, 2)."""

    static: StaticSpec

    def setup(self) -> None:
        s, p = self.static, self.static.modular.p
        embed_dim, init = need(s.embed_dim), need(s.init)
        if s.embedding == "learned":
            self.table = self.param("embedding", nn.initializers.normal(stddev=1.0), (p, embed_dim))
        elif s.embedding == "one_hot":
            self.table = jnp.eye(p, dtype=jnp.float32)
        else:
            self.table = jnp.asarray(circular_table(p, need(s.circular_freqs)))
        # The first layer as one Dense over [E_a; E_b] (concat) or E_a and E_b (sum): its
        # fan-in is that input's width. Stored (in, width), so the fan-in axis is the first.
        first_in = embed_dim if s.combine == "sum" else 2 * embed_dim
        width = s.hidden[0]
        self.first_kernel = self.param(
            "first_kernel", kernel_init(init, in_axis=-2, out_axis=-1), (first_in, width)
        )
        self.first_bias = (
            self.param("first_bias", bias_init(init, first_in), (width,)) if s.bias else None
        )
        self.layers = [Dense(w, use_bias=s.bias, initializer=init) for w in s.hidden[1:]]
        out_dim = embed_dim if s.tie_output else s.out_dim
        self.readout = Dense(out_dim, use_bias=s.bias, initializer=init)

    def token_maps(self) -> tuple[jax.Array, jax.Array]:
        """The (p, width) first-layer tables of the left and right operand."""
        return token_maps(self.table, self.first_kernel, need(self.static.combine))

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


def pair_input(static: StaticSpec) -> jax.Array:
    """A one-example input for `init`: one token pair."""
    return jnp.zeros((1, 2), jnp.int32)
