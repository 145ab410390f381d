"""The sweep file's `model:` section, and which model kind reads which of its keys.

`model.kind` picks the model: `mlp` (today's MLPs: the embedding MLP over token pairs, the
vector MLP) or `transformer` (a decoder-only transformer over token sequences, modular tasks
only: `engine.models.transformer`). A key only some kinds read is declared `ReadBy` on its
field, once; `model_unread_keys` reads the declarations, and `plan.resolve` blanks those keys in
the runs of the other kinds, as it blanks a task kind's own keys in the other task kinds' runs.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from phasegrok.config.fields import (
    MLP_ONLY,
    PER_RUN,
    TRANSFORMER_ONLY,
    Added,
    Doc,
    ReadBy,
    Section,
)

TRANSFORMERS = Added("transformers, #33")


class ModelSpec(Section):
    kind: Annotated[
        Literal["mlp", "transformer"],
        TRANSFORMERS,
        Doc("the model: mlp | transformer (decoder-only; modular tasks)", label="model"),
    ] = "mlp"
    embedding: Annotated[
        Literal["learned", "one_hot", "circular"],
        MLP_ONLY,
        Doc("token embedding: learned | one_hot | circular", label="embedding"),
    ] = "learned"
    circular_freqs: Annotated[
        tuple[int, ...],
        MLP_ONLY,
        Doc("JSON list: the fixed embedding's frequencies (circular embedding only)"),
    ] = (1, 2, 3)
    embed_dim: Annotated[
        int,
        MLP_ONLY,
        Doc("embedding width (one_hot: p; circular: 2 x frequencies)", label="embedding width"),
    ] = 64
    combine: Annotated[
        Literal["concat", "sum"], MLP_ONLY, Doc("operands' embeddings: concat | sum")
    ] = "concat"
    hidden: Annotated[
        tuple[int, ...],
        MLP_ONLY,
        Doc("JSON list: the width of each hidden layer", label="hidden widths", short="hidden"),
    ] = (128,)
    activation: Annotated[
        Literal["relu", "gelu", "tanh", "quadratic"],
        Doc("relu | gelu | tanh | quadratic (transformer: its MLPs')", label="activation"),
    ] = "relu"
    tie_output: Annotated[bool, MLP_ONLY, Doc("logits through the embedding's transpose")] = False
    bias: Annotated[bool, Doc("layers have biases (transformer: its MLPs')")] = True
    init: Annotated[
        Literal["torch", "lecun"],
        MLP_ONLY,
        Doc(
            "initialization: torch | lecun (MLP only; the transformer's is Nanda et al.'s)",
            label="initialization",
        ),
    ] = "torch"
    embedding_std: Annotated[
        float,
        PER_RUN,
        MLP_ONLY,
        Doc(
            "the embedding's initial std (learned embedding only)", label="embedding std (initial)"
        ),
    ] = 1.0
    init_scale: Annotated[
        float,
        PER_RUN,
        Doc(
            "every initial parameter multiplied by this",
            unit="factor",
            label="init scale α (× default)",
            short="α",
        ),
    ] = 1.0
    layers: Annotated[
        int,
        TRANSFORMERS,
        TRANSFORMER_ONLY,
        Doc("transformer blocks (attention, then MLP)", unit="count", label="layers"),
    ] = 1
    d_model: Annotated[
        int,
        TRANSFORMERS,
        TRANSFORMER_ONLY,
        Doc("width of the residual stream", label="d_model", short="d_model"),
    ] = 128
    heads: Annotated[
        int,
        TRANSFORMERS,
        TRANSFORMER_ONLY,
        Doc("attention heads of a layer (each d_model // heads wide)", label="heads"),
    ] = 4
    d_mlp: Annotated[
        int,
        TRANSFORMERS,
        TRANSFORMER_ONLY,
        Doc("hidden width of a block's MLP", label="d_mlp", short="d_mlp"),
    ] = 512
    layer_norm: Annotated[
        Literal["none", "pre"],
        TRANSFORMERS,
        TRANSFORMER_ONLY,
        Doc("none | pre (a LayerNorm before attention and before the MLP)", label="layer norm"),
    ] = "none"


MODEL_KINDS: tuple[str, ...] = get_args(ModelSpec.model_fields["kind"].annotation)


def model_unread_keys(kind: str) -> frozenset[str]:
    """The `model.*` keys a run of model kind `kind` does not read (those declared `ReadBy`
    other kinds): blank (None) in its config (`plan.resolve`)."""
    return frozenset(
        f"model.{name}"
        for name, field in ModelSpec.model_fields.items()
        for declared in field.metadata
        if isinstance(declared, ReadBy) and kind not in declared.models
    )
