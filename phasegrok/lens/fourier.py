"""The mechanistic lens: what a run learned, measured from its parameters.

Written against the array API shared by NumPy and jax.numpy (`xp`), so the engine computes
these inside its compiled evaluation and the figures recompute them from stored parameters
without JAX.

Modular tasks. For each operand the *token map* is the first hidden layer's input as a function
of the token, `E @ W` (p x width; learned, one-hot and circular embeddings alike); a
transformer's (`model.kind: transformer`) is its token embedding's operand rows, W_E[:p]
(p x d_model, the columns of Nanda et al.'s W_E for the tokens 0 .. p - 1, `=` left out),
shared by both operands, as Nanda et al. 2023 read the embedding in the Fourier basis. The lens
reads it over the cyclic group whose operation labels the pairs (`group_maps`): row j of the
*group map* is the token at index j of that group,

    add, sub:            Z_p, index j = token a                          (n = p rows)
    mul, div (p prime):  (Z/p)^* = <g>, index j = log_g a, row j = g^j   (n = p - 1 rows)

with g the smallest primitive root mod p (token 0, outside the multiplicative group, is left
out). With X_f[u] = sum_j map[j, u] exp(-2 pi i f j / n), a real map has X_{-f} = conj(X_f),
so the power of frequency f in 1 .. n // 2 counts both signs once:

    power[f] = sum over operands and hidden units of |X_f|^2 + |X_{-f}|^2   (0 < f < n / 2)
    power[n / 2] = sum of |X_{n/2}|^2                                      (n even: Nyquist)

(frequency 0, the constant, is left out), so sum_f power[f] = n sum_j |map[j] - mean|^2
(Parseval). A generalizing modular-arithmetic MLP puts its tokens on circles of a few
frequencies (the "star"), so its power concentrates:

    fourier_top_k_share = sum of the k largest power[f] / sum of all power[f]
    fourier_gini        = Gini coefficient of power over the frequencies (0 uniform, ~1 one peak)

A uniform spectrum gives a top-k share of k / (n // 2). Where no cyclic group applies
(`square_sum`, whose labels are not a group operation's; `add_integers`, whose labels a + b
in 0 .. 2p - 2 are integers, not residues: no cyclic group labels its pairs, and a model that
generalizes puts its tokens on a line, not on circles (Liu et al. 2022); `mul` at a composite
p, whose non-zero residues are not all invertible and whose units are not cyclic in general;
p = 2, whose multiplicative group has no frequency) the lens is blank: NaN metrics, no key
frequencies.

Parity. With W the first layer's (n_bits x width) kernel,

    relevant_weight_share = ||W[:k]||^2 / ||W||^2          (squared Frobenius norms)
    irrelevant_units      = hidden units with some |W[i, u]| > threshold for an i >= k

Weight decay prunes the n_bits - k irrelevant rows as the model generalizes (PAIR).

`ModelFacts` holds what the lens needs to know about a run's model (task kind, model kind, op,
p, k, embedding, combine, analysis settings); `metrics` is the one dispatcher from facts and
parameters to the lens values, used inside the engine's compiled evaluation (xp = jax.numpy)
and by the report (NumPy). The per-run figures' data (`power_spectrum`, `star_points`,
`token_circle`) is `lens_data`'s, built on these functions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol, overload

import numpy as np
import pandas as pd

from phasegrok.config.model import MODEL_KINDS
from phasegrok.config.schema import AnalysisSpec, ModelSpec, TaskSpec
from phasegrok.tasks import TASKS
from phasegrok.tasks.base import BITS, FOURIER, NO_LENS
from phasegrok.tasks.cyclic import group_tokens, n_frequencies

MODULAR_METRICS = ("fourier_top_k_share", "fourier_gini")
PARITY_METRICS = ("relevant_weight_share", "irrelevant_units")


def circular_table(p: int, freqs: Sequence[int]) -> np.ndarray:
    """Fixed embedding of token a: (cos 2 pi f a / p, sin 2 pi f a / p) for each f, (p, 2 len)."""
    angles = 2 * np.pi * np.outer(np.arange(p), np.asarray(freqs)) / p
    return np.concatenate([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


def embedding_table(
    params: Mapping[str, Any], embedding: str, p: int, freqs: Sequence[int] | None, xp=np
) -> Any:
    """The (p, embed_dim) embedding of a modular model: learned, one-hot or circular."""
    if embedding == "learned":
        return params["embedding"]
    if embedding == "one_hot":
        return xp.eye(p, dtype=xp.float32)
    assert freqs is not None  # a circular embedding has its frequencies
    return xp.asarray(circular_table(p, freqs))


def token_maps(table: Any, first_kernel: Any, combine: str) -> tuple[Any, Any]:
    """(p, width) first-layer input of each token, for the left and the right operand."""
    if combine == "sum":
        shared = table @ first_kernel
        return shared, shared
    d = table.shape[1]
    return table @ first_kernel[:d], table @ first_kernel[d:]


def group_maps(maps: tuple[Any, ...], op: str, p: int) -> tuple[Any, ...] | None:
    """Each (p, width) token map as its (n, width) map over the group index (`group_tokens`).

    The one place a run's token maps are put in group order, for the engine and the figures
    alike; None where the lens is blank. A NumPy index array into jax.numpy is a gather.
    """
    tokens = group_tokens(op, p)
    if tokens is None:
        return None
    if op in ("add", "sub"):  # the identity order: no gather in the compiled program
        return tuple(maps)
    return tuple(m[tokens] for m in maps)


def unit_power(group_map: Any, xp: ModuleType = np) -> Any:
    """(n // 2, width) power of each frequency 1 .. n // 2 per unit, both signs counted once.

    rfft gives X_f for f = 0 .. n // 2; |X_{-f}|^2 = |X_f|^2 for a real map, so bins below
    n / 2 count twice and the Nyquist bin of an even n (its own negative) once.
    """
    n = group_map.shape[0]
    weights = np.full(n // 2, 2.0, dtype=np.float32)
    if n % 2 == 0:
        weights[-1] = 1.0
    spectrum = xp.fft.rfft(group_map, axis=0)[1:]  # (n // 2, width): frequency 0 left out
    return xp.asarray(weights)[:, None] * xp.abs(spectrum) ** 2


def frequency_power(group_map: Any, xp: ModuleType = np) -> Any:
    """Power per frequency 1 .. n // 2 of an (n, width) group map, summed over units."""
    return xp.sum(unit_power(group_map, xp), axis=1)


def top_k_share(power: Any, k: int, xp: ModuleType = np) -> Any:
    """Share of the total power in the k strongest frequencies."""
    return xp.sum(xp.sort(power)[-k:]) / xp.sum(power)


def gini(power: Any, xp: ModuleType = np) -> Any:
    """Gini coefficient of non-negative values: 0 when all equal, (n-1)/n for a single peak."""
    values = xp.sort(power)
    n = values.shape[0]
    ranks = xp.arange(1, n + 1)
    return xp.sum((2 * ranks - n - 1) * values) / (n * xp.sum(values))


def key_frequencies(power: Any, k: int, xp: ModuleType = np) -> Any:
    """The k strongest frequencies (1-based, strongest first)."""
    return xp.argsort(-power)[:k] + 1


def modular_lens(maps: tuple[Any, Any], k: int, xp: ModuleType = np) -> tuple[Any, Any]:
    """([top-k share, gini], key frequencies) of a modular model's two group maps."""
    power = frequency_power(maps[0], xp) + frequency_power(maps[1], xp)
    metrics = xp.stack([top_k_share(power, k, xp), gini(power, xp)])
    return metrics, key_frequencies(power, k, xp)


def task_lens(
    maps: tuple[Any, Any], op: str, p: int, k: int, xp: ModuleType = np
) -> tuple[Any, Any | None]:
    """`modular_lens` of a run's two token maps over its group; ([NaN, NaN], None) if blank."""
    grouped = group_maps(maps, op, p)
    if grouped is None:
        return xp.full((len(MODULAR_METRICS),), xp.nan, dtype=xp.float32), None
    return modular_lens(grouped, k, xp)


def parity_lens(first_kernel: Any, k: int, threshold: float, xp: ModuleType = np) -> Any:
    """[relevant weight share, units still reading an irrelevant bit] of a parity model."""
    squared = xp.square(first_kernel)
    share = xp.sum(squared[:k]) / xp.sum(squared)
    irrelevant = xp.any(xp.abs(first_kernel[k:]) > threshold, axis=0)
    return xp.stack([share, xp.sum(irrelevant).astype(xp.float32)])


def parity_first_kernel(params: Mapping[str, Any]) -> Any:
    """The (n_bits, width) kernel of a parity MLP's first layer (stored (width, n_bits))."""
    return params["Dense_0"]["kernel"].T


# --------------------------------------------------------------------------------------------
# One run: its model facts and the one dispatcher

# The defaults of the sweep's `analysis:` section, for rows and settings that lack them.
TOP_K: int = AnalysisSpec().fourier_top_k
THRESHOLD: float = AnalysisSpec().irrelevant_threshold


@dataclass(frozen=True)
class ModelFacts:
    """What the lens needs to know about a run's model; hashable, so a compile-time constant."""

    lens: str = FOURIER  # which lens reads the model: its task kind's (`tasks.base.Task.lens`)
    model: str = ModelSpec().kind  # which model it reads (`model.kind`): mlp | transformer
    op: str = TaskSpec().op
    p: int = 0  # no modulus: a run of another kind (the schema's defaults otherwise)
    k: int = 0
    embedding: str = ModelSpec().embedding
    circular_freqs: tuple[int, ...] | None = None
    combine: str = ModelSpec().combine
    tie_output: bool = False  # the readout reads the embedding (readout.py's unembedding)
    top_k: int = TOP_K
    threshold: float = THRESHOLD

    @property
    def blank(self) -> bool:
        """No lens to show: an arrays task (no structure is known to read its weights by), or
        modular with no cyclic group for the Fourier lens (square_sum, add_integers, mul at a
        composite p)."""
        return self.lens == NO_LENS or (self.lens == FOURIER and not n_frequencies(self.op, self.p))

    @property
    def names(self) -> tuple[str, ...]:
        """The lens metric names of this run's task kind (none for an arrays task)."""
        return {FOURIER: MODULAR_METRICS, BITS: PARITY_METRICS}.get(self.lens, ())

    @property
    def mlp(self) -> bool:
        """Whether the model is an MLP: the readout lens's units, the progress measures and the
        star and trajectory figures read an MLP's hidden units, which a transformer's lens
        (its embedding alone) does not have."""
        return self.model == ModelSpec().kind

    @property
    def shared_maps(self) -> bool:
        """Whether both operands have one token map: combine sum, or a transformer's W_E."""
        return self.combine == "sum" or not self.mlp


class Row(Protocol):
    """A results row by column name: a dict, a `to_dict("records")` row or a pandas Series."""

    @overload
    def get(self, key: str, /) -> object: ...
    @overload
    def get(self, key: str, default: object, /) -> object: ...


def cell(row: Row, key: str, default: Any = None) -> Any:
    """`row[key]`, or `default` where absent or missing (None, NaN, pd.NA)."""
    v = row.get(key, default)
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return default
    return v


def facts_of(row: Row, top_k: int = TOP_K, threshold: float = THRESHOLD) -> ModelFacts:
    """The model facts of one runs.parquet row (list cells arrive as JSON text).

    The row's own ``analysis.*`` columns win over `top_k` and `threshold`.
    """
    freqs = cell(row, "model.circular_freqs")
    if isinstance(freqs, str):
        freqs = json.loads(freqs)
    blank = ModelFacts()
    model = str(cell(row, "model.kind", blank.model))  # blank before transformers: mlp
    return ModelFacts(
        lens=lens_of(str(cell(row, "task.kind", TaskSpec().kind)), model),
        model=model,
        op=str(cell(row, "task.op", blank.op)),
        p=int(cell(row, "task.p", blank.p)),
        k=int(cell(row, "task.k", blank.k)),
        embedding=str(cell(row, "model.embedding", blank.embedding)),
        circular_freqs=None if freqs is None else tuple(int(f) for f in freqs),
        combine=str(cell(row, "model.combine", blank.combine)),
        tie_output=bool(cell(row, "model.tie_output", False)),
        top_k=int(cell(row, "analysis.fourier_top_k", top_k)),
        threshold=float(cell(row, "analysis.irrelevant_threshold", threshold)),
    )


def lens_of(kind: str, model_kind: str = ModelSpec().kind) -> str:
    """The lens of a task kind's models of `model_kind` (`model.kind`): none for a kind or a
    model kind this version does not know; a transformer (modular tasks) is read by the
    Fourier lens over its embedding."""
    task = TASKS.get(kind)
    if task is None or model_kind not in MODEL_KINDS:
        return NO_LENS
    return task.lens


def as_facts(facts: ModelFacts | Mapping[str, Any]) -> ModelFacts:
    """`facts` itself, or the facts of a runs.parquet row."""
    return facts if isinstance(facts, ModelFacts) else facts_of(facts)


def model_token_maps(
    facts: ModelFacts, params: Mapping[str, Any], xp: ModuleType = np
) -> tuple[Any, Any]:
    """(p, width) token maps of the left and right operand of a modular model: an MLP's
    first-layer inputs, a transformer's embedding rows W_E[:p] (stored (d_model, p + 1)) for
    both."""
    if not facts.mlp:
        table = params["W_E"][:, : facts.p].T
        return table, table
    table = embedding_table(params, facts.embedding, facts.p, facts.circular_freqs, xp)
    return token_maps(table, params["first_kernel"], facts.combine)


def metrics(
    facts: ModelFacts, params: Mapping[str, Any], xp: ModuleType = np
) -> tuple[Any, Any | None]:
    """(lens metrics in `facts.names` order, key frequencies or None): the one dispatcher.

    Modular ops without a cyclic group to transform over get NaN metrics and no key frequencies;
    an arrays task has no lens metrics.
    """
    if facts.lens == NO_LENS:
        return xp.zeros((0,), dtype=xp.float32), None
    if facts.lens == BITS:
        kernel = parity_first_kernel(params)
        return parity_lens(kernel, facts.k, facts.threshold, xp), None
    return task_lens(model_token_maps(facts, params, xp), facts.op, facts.p, facts.top_k, xp)


def values(facts: ModelFacts | Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, float]:
    """The lens metrics of one parameter set, as floats by name (NumPy, float64)."""
    facts = as_facts(facts)
    params = as_float64(params)
    found, _ = metrics(facts, params)
    return {n: float(v) for n, v in zip(facts.names, np.asarray(found), strict=True)}


def as_float64(params: Mapping[str, Any]) -> dict[str, Any]:
    """A parameter tree with float64 leaves (the report's precision)."""
    return {
        k: as_float64(v) if isinstance(v, Mapping) else np.asarray(v, dtype=np.float64)
        for k, v in params.items()
    }


def finite(params: Mapping[str, Any]) -> bool:
    """Whether every leaf of a parameter tree is finite (a diverged run's are not)."""
    return all(
        finite(v) if isinstance(v, Mapping) else bool(np.isfinite(np.asarray(v)).all())
        for v in params.values()
    )
