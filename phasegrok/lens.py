"""The mechanistic lens: what a run learned, measured from its parameters.

Written against the array API shared by NumPy and jax.numpy (`xp`), so the engine computes
these inside its compiled evaluation and the figures recompute them from stored parameters
without JAX.

Modular tasks. For each operand the *token map* is the first hidden layer's input as a function
of the token, `E @ W` (p x width; learned, one-hot and circular embeddings alike). Its discrete
Fourier transform over the token index gives, for frequency f in 1 .. p // 2,

    power[f] = sum over operands and hidden units of |sum_a map[a, u] exp(-2 pi i f a / p)|^2

(frequency 0, the constant, is left out). A generalizing modular-addition MLP puts its tokens
on circles of a few frequencies (the "star"), so its power concentrates:

    fourier_top_k_share = sum of the k largest power[f] / sum of all power[f]
    fourier_gini        = Gini coefficient of power over the frequencies (0 uniform, ~1 one peak)

A uniform spectrum gives a top-k share of k / (p // 2).

Parity. With W the first layer's (n_bits x width) kernel,

    relevant_weight_share = ||W[:k]||^2 / ||W||^2          (squared Frobenius norms)
    irrelevant_units      = hidden units with some |W[i, u]| > threshold for an i >= k

Weight decay prunes the n_bits - k irrelevant rows as the model generalizes (PAIR).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np

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
    return xp.asarray(circular_table(p, freqs))


def token_maps(table: Any, first_kernel: Any, combine: str) -> tuple[Any, Any]:
    """(p, width) first-layer input of each token, for the left and the right operand."""
    if combine == "sum":
        shared = table @ first_kernel
        return shared, shared
    d = table.shape[1]
    return table @ first_kernel[:d], table @ first_kernel[d:]


def frequency_power(token_map: Any, xp: ModuleType = np) -> Any:
    """Power per frequency 1 .. p // 2 of a (p, width) token map, summed over units."""
    spectrum = xp.fft.rfft(token_map, axis=0)  # (p // 2 + 1, width)
    return xp.sum(xp.abs(spectrum[1:]) ** 2, axis=1)


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
    """([top-k share, gini], key frequencies) of a modular model's two token maps."""
    power = frequency_power(maps[0], xp) + frequency_power(maps[1], xp)
    metrics = xp.stack([top_k_share(power, k, xp), gini(power, xp)])
    return metrics, key_frequencies(power, k, xp)


def parity_lens(first_kernel: Any, k: int, threshold: float, xp: ModuleType = np) -> Any:
    """[relevant weight share, units still reading an irrelevant bit] of a parity model."""
    squared = xp.square(first_kernel)
    share = xp.sum(squared[:k]) / xp.sum(squared)
    irrelevant = xp.any(xp.abs(first_kernel[k:]) > threshold, axis=0)
    return xp.stack([share, xp.sum(irrelevant).astype(xp.float32)])


def parity_first_kernel(params: Mapping[str, Any]) -> Any:
    """The (n_bits, width) kernel of a parity MLP's first layer (stored (width, n_bits))."""
    return params["Dense_0"]["kernel"].T
