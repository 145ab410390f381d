"""The models (flax.linen), one module per model kind (`model.kind`) and kind of input a task
gives (`tasks.base.Task.inputs`): the MLPs over token pairs (`pair_mlp`) and vectors
(`vector_mlp`), built of the layers in `layers`, and the transformer over token pairs
(`transformer`).

A model is a flax module taking the run's `StaticSpec`, and a one-example input for its
`init`: one line in `MODELS`, keyed by (inputs, model kind).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, cast

import flax.linen as nn
import jax

from phasegrok.engine.models.pair_mlp import ModularMLP, pair_input
from phasegrok.engine.models.transformer import Transformer, sequence_input
from phasegrok.engine.models.vector_mlp import VectorMLP, vector_input
from phasegrok.plan.runs import StaticSpec


class ModelKind(NamedTuple):
    module: Callable[[StaticSpec], nn.Module]
    example_input: Callable[[StaticSpec], jax.Array]  # one example, for `init`


MODELS: dict[tuple[str, str], ModelKind] = {
    ("pairs", "mlp"): ModelKind(ModularMLP, pair_input),
    ("vectors", "mlp"): ModelKind(VectorMLP, vector_input),
    ("pairs", "transformer"): ModelKind(Transformer, sequence_input),
}


def model_kind(static: StaticSpec) -> ModelKind:
    """The registry's entry of a run: its task's inputs and its `model.kind`."""
    return MODELS[static.inputs, static.model_kind]


def make_model(static: StaticSpec) -> nn.Module:
    return model_kind(static).module(static)


def example_input(static: StaticSpec) -> jax.Array:
    """A one-example input of the right shape and dtype, for `init`."""
    return model_kind(static).example_input(static)


def logits_of(model: nn.Module, params: Any, x: jax.Array, **kwargs: Any) -> jax.Array:
    """`model`'s logits of `x` at `params` (flax types `apply`'s result as the output or, for
    a `mutable` call, which this is not, (output, variables))."""
    return cast(jax.Array, model.apply({"params": params}, x, **kwargs))
