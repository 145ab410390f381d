"""The decoder-only transformer over token pairs (`model.kind: transformer`, modular tasks).

Nanda et al. 2023 ("Progress measures for grokking via mechanistic interpretability"), their
one-layer model generalized to `model.layers` blocks. The pair (a, b) is read as the sequence
(a, b, =), the token `=` being p, so the vocabulary is p + 1 tokens:

- a learned token embedding W_E (d_model, p + 1) and learned positions W_pos (3, d_model),
  added: the residual stream at position i is W_E[:, t_i] + W_pos[i];
- per block, causal multi-head attention without biases, d_head = d_model // heads, each head's
  scores q.k / sqrt(d_head) masked to the positions at or before the query's, softmax, the
  heads' values concatenated and mapped back by W_O (d_model, heads * d_head); added to the
  residual; then an MLP d_model -> d_mlp -> d_model (`model.activation`, relu as Nanda's; biases
  b_in, b_out unless `model.bias` is false), added to the residual; `model.layer_norm: pre` puts
  a LayerNorm (epsilon 1e-4, as Nanda's) before the attention and before the MLP; none after
  the last block;
- an untied unembedding W_U (d_model, classes) read at the last position (the `=` token) only:
  the logits over the task's classes. (Nanda's W_U has p + 1 outputs, `=` among them; here one
  per class.)

Initialization as Nanda's code (the progress-measures paper's `transformers.py`): every weight
N(0, 1/d_model), i.e. `randn(...) / sqrt(d_model)` (W_E, W_pos, W_Q, W_K, W_V, W_O, W_in and
W_out alike, W_out's fan-in d_mlp notwithstanding), except W_U, `randn(d_model, d_vocab) /
sqrt(d_vocab)` with d_vocab = p + 1; biases zero; LayerNorm weights one, biases zero. The
parameters keep Nanda's names and layouts, so that a lens can read them as his code does; there
is no parameter named "embedding" (`engine.optim`'s group is the MLP's), and the engine
multiplies every parameter by the run's `init_scale` as for the MLPs.

The last block computes its query, attention output and MLP at the last position only: the
other positions' outputs there are read by nothing (the same logits, less work).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from phasegrok.engine.models.layers import ACTIVATIONS
from phasegrok.plan.runs import StaticSpec, need

SEQUENCE = 3  # (a, b, =)
LN_EPSILON = 1e-4  # Nanda's LayerNorm's


def _normal(std: float) -> nn.initializers.Initializer:
    return nn.initializers.normal(stddev=std)


class Block(nn.Module):
    """Attention then MLP, each added to the residual stream; `last_only`: the output at the
    last position alone, (n, 1, d_model)."""

    static: StaticSpec
    last_only: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        s = self.static
        d, heads, d_mlp = need(s.d_model), need(s.heads), need(s.d_mlp)
        d_head = d // heads
        init = _normal(1 / math.sqrt(d))
        pre = s.layer_norm == "pre"
        h = nn.LayerNorm(epsilon=LN_EPSILON, name="ln_attn")(x) if pre else x
        w_q = self.param("W_Q", init, (heads, d_head, d))
        w_k = self.param("W_K", init, (heads, d_head, d))
        w_v = self.param("W_V", init, (heads, d_head, d))
        w_o = self.param("W_O", init, (d, heads * d_head))
        queries = h[:, -1:] if self.last_only else h
        q = jnp.einsum("ihd,nqd->niqh", w_q, queries)
        k = jnp.einsum("ihd,npd->niph", w_k, h)
        v = jnp.einsum("ihd,npd->niph", w_v, h)
        scores = jnp.einsum("niqh,niph->niqp", q, k) / math.sqrt(d_head)
        n_pos, n_q = h.shape[1], queries.shape[1]
        # Query j (of the last n_q positions) sees the positions at or before its own.
        seen = jnp.arange(n_pos)[None, :] <= jnp.arange(n_pos - n_q, n_pos)[:, None]
        scores = jnp.where(seen, scores, -jnp.inf)
        z = jnp.einsum("niqp,niph->nqih", jax.nn.softmax(scores, axis=-1), v)
        z = z.reshape(*z.shape[:2], heads * d_head)
        resid = x[:, -1:] if self.last_only else x
        resid = resid + jnp.einsum("df,nqf->nqd", w_o, z)
        h = nn.LayerNorm(epsilon=LN_EPSILON, name="ln_mlp")(resid) if pre else resid
        w_in = self.param("W_in", init, (d_mlp, d))
        w_out = self.param("W_out", init, (d, d_mlp))
        pre_act = jnp.einsum("md,nqd->nqm", w_in, h)
        if s.bias:
            pre_act = pre_act + self.param("b_in", nn.initializers.zeros, (d_mlp,))
        out = jnp.einsum("dm,nqm->nqd", w_out, ACTIVATIONS[s.activation](pre_act))
        if s.bias:
            out = out + self.param("b_out", nn.initializers.zeros, (d,))
        return resid + out


class Transformer(nn.Module):
    """Logits over the task's classes for integer pairs `x` of shape (n, 2)."""

    static: StaticSpec

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        s = self.static
        p, d, layers = s.modular.p, need(s.d_model), need(s.layers)
        init = _normal(1 / math.sqrt(d))
        w_e = self.param("W_E", init, (d, p + 1))
        w_pos = self.param("W_pos", init, (SEQUENCE, d))
        tokens = jnp.concatenate([x, jnp.full((x.shape[0], 1), p, x.dtype)], axis=1)
        resid = w_e.T[tokens] + w_pos  # (n, 3, d_model)
        for i in range(layers):
            resid = Block(s, last_only=i == layers - 1, name=f"block_{i}")(resid)
        w_u = self.param("W_U", _normal(1 / math.sqrt(p + 1)), (d, s.out_dim))
        return resid[:, -1] @ w_u


def sequence_input(static: StaticSpec) -> jax.Array:
    """A one-example input for `init`: one token pair (the model appends `=`)."""
    return jnp.zeros((1, 2), jnp.int32)
