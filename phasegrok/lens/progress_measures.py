"""Nanda et al.'s progress measures (2023, section 5): restricted and excluded loss.

A modular model that computes a + b mod p by the trig identities writes its logits as

    logit_c(a, b) ≈ sum over key frequencies k of  alpha_k cos(w_k (a + b - c)),  w_k = 2 pi k / p

so, for each class c, the logit surface over the pairs (a, b) lives in the span of the constant
and cos(w_k s), sin(w_k s) of the *combination* s = a + b (cos(w (s - c)) = cos(w c) cos(w s) +
sin(w c) sin(w s)). The measures read how much of the logits that circuit explains, at any step:

    grid       all n^2 pairs of group indices (i, j): the tokens a, b themselves for add / sub
               (n = p), their discrete logarithms i = log_g a, j = log_g b for mul / div
               (n = p - 1; pairs with a zero token are outside the group and left out)
    s(i, j)    i + j mod n (add, mul); i - j mod n (sub, div), the group operation of the label
    P_k L      the projection of each class's logit surface L_c(i, j) onto cos / sin(2 pi k s / n)
    restricted logits  R = mean + sum_{k in K} P_k L   (the circuit alone; K the key frequencies)
    excluded logits    X = L - sum_{k in K} P_k L      (everything but the circuit)

with `mean` each class's logit averaged over the grid. The functions of s are orthogonal on the
grid and each value of s takes exactly n pairs, so, with M_c(s) the mean of L_c over the pairs
with combination s,

    P_k L (s) = a_k cos(2 pi k s / n) + b_k sin(2 pi k s / n),
    a_k = (2 / n) sum_s M(s) cos(2 pi k s / n),   b_k likewise with sin

(at the Nyquist frequency k = n / 2 of an even n: a_k = (1 / n) sum_s M(s) cos(pi s), b_k = 0).
Over the n values of s that is one (n x n) matrix for all of K (each distinct k once),

    sum_{k in K} P_k L (s) = (Pi M)(s),   Pi = sum_{k in K} u_k c_k c_k^T + v_k t_k t_k^T,
    c_k = cos(2 pi k s / n), t_k = sin(2 pi k s / n) over s = 0 .. n - 1,
    u_k = v_k = 2 / n  (Nyquist: u_k = 1 / n, v_k = 0),

read back at each pair's s.

    restricted_loss = mean loss of R over all grid pairs
    excluded_loss   = mean loss of X over the run's training pairs
    full_loss       = mean loss of L over all grid pairs

(the loss is the run's: cross-entropy, or MSE against one-hot). A model that generalizes
through the circuit has a restricted loss near 0 and a large excluded loss: removing the key
frequencies destroys its performance even on the pairs it was trained on. Nanda et al. saw the
restricted loss fall and the excluded loss rise well before the test loss, during the phase
that still looks like memorization ("circuit formation").

Written against the array API (`xp`: NumPy, float64, one run's logits; or jax.numpy, where
`engine.measure` vmaps them over the runs of a batch on its device); the grid (`group_grid`)
is host-side NumPy, static given (op, p).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from phasegrok.tasks import cyclic

SUBTRACTING = ("sub", "div")  # s = i - j: the label is a - b (a / b = g^(i - j))
# Above this p the measures are skipped by default: the grid's logits are p^3 numbers a saved
# step (p = 113: 1.4 M, Nanda et al.'s modulus).
MAX_P = 113
# The columns of `measures`, in progress.parquet's order.
MEASURES = (
    "full_loss",
    "train_loss",
    "test_loss",
    "restricted_loss",
    "restricted_acc",
    "excluded_loss",
    "excluded_acc",
)


def group_grid(op: str, p: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(pairs (n^2, 2) tokens in grid order, s (n^2,)) of `op` mod p, or None where no cyclic
    group applies (`cyclic.group_tokens`). Row i * n + j holds the tokens at indices (i, j)."""
    tokens = cyclic.group_tokens(op, p)
    if tokens is None:
        return None
    n = len(tokens)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    s = (i - j) % n if op in SUBTRACTING else (i + j) % n
    pairs = np.stack([tokens[i.ravel()], tokens[j.ravel()]], axis=1).astype(np.int32)
    return pairs, s.ravel()


@cache
def _trig_rows(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(c_f, t_f rows for f = 0 .. n // 2, each (n // 2 + 1, n); u_f; v_f), float64.

    The angle is taken from (f s mod n), so it stays in [0, 2 pi) and its float32 cast on a
    device loses nothing to a large f s; t at the Nyquist frequency is exactly 0 (v = 0 too).
    """
    f = np.arange(n // 2 + 1)
    angle = 2 * np.pi * (np.outer(f, np.arange(n)) % n) / n
    cos, sin = np.cos(angle), np.sin(angle)
    u = np.full(len(f), 2.0 / n)
    v = u.copy()
    u[0], v[0] = 1.0 / n, 0.0  # the constant (unused: key frequencies are 1 .. n // 2)
    if n % 2 == 0:
        u[-1], v[-1], sin[-1] = 1.0 / n, 0.0, 0.0
    for table in (cos, sin, u, v):
        table.setflags(write=False)
    return cos, sin, u, v


def key_projection(n: int, keys: Any, xp: ModuleType = np) -> Any:
    """Pi (n x n): sum over the distinct `keys` (frequencies 1 .. n // 2) of P_k on functions of s.

    `keys` a sequence or an integer array; a repeated key counts once (a mask, not a set, so
    that a jitted caller's keys may be a traced array). The trig rows are gathered by key.
    """
    keys = xp.asarray(keys)
    cos, sin, u, v = (xp.asarray(a) for a in _trig_rows(n))
    repeated = xp.any(xp.tril(keys[:, None] == keys[None, :], -1), axis=1)
    first = xp.where(repeated, 0.0, 1.0)
    c, t = cos[keys], sin[keys]  # (K, n)
    return (c.T * (u[keys] * first)) @ c + (t.T * (v[keys] * first)) @ t


def key_components(
    logits: Any, s: np.ndarray, n: int, keys: Sequence[int] | Any, xp: ModuleType = np
) -> Any:
    """sum_{k in keys} P_k L: the logits' components along cos / sin(2 pi k s / n), per class.

    `logits` (n^2, classes) over the grid, `s` (n^2,) the combination of each pair (NumPy).
    """
    # M_c(s): every s takes the same number of pairs of the grid, so sorting by s and
    # averaging equal blocks is the mean over each s (np.add.at is ~10x slower at p = 113).
    by_s = logits[np.argsort(s, kind="stable")]
    means = xp.mean(xp.reshape(by_s, (n, -1, logits.shape[1])), axis=1)  # (n, classes)
    # The components depend on the pair through s alone: n rows, gathered by s.
    return (key_projection(n, keys, xp) @ means)[s]


def restricted_excluded(
    logits: Any, s: np.ndarray, n: int, keys: Sequence[int] | Any, xp: ModuleType = np
) -> tuple[Any, Any]:
    """(restricted logits R = mean + key components, excluded logits X = L - key components)."""
    if xp is np:
        logits = np.asarray(logits, dtype=np.float64)
    components = key_components(logits, s, n, keys, xp)
    return xp.mean(logits, axis=0) + components, logits - components


def per_pair_loss(logits: Any, labels: Any, loss: str, xp: ModuleType = np) -> Any:
    """Cross-entropy (natural log) of each row, or its MSE against the one-hot label.

    The cross-entropy is log(1 + r) - (L_label - max L), r = sum of exp(L_c - max L) over the
    classes below the maximum plus (number of maxima - 1): log1p keeps a well-classified
    pair's tiny loss accurate in float32, where log(sum) would round 1 + r to 1.
    """
    if loss == "cross_entropy":
        shifted = logits - xp.max(logits, axis=1, keepdims=True)
        at_max = shifted == 0
        rest = xp.sum(xp.where(at_max, 0.0, xp.exp(shifted)), axis=1)
        rest = rest + xp.sum(at_max, axis=1) - 1
        label = xp.take_along_axis(shifted, labels[:, None], axis=1)[:, 0]
        return xp.log1p(rest) - label
    targets = xp.eye(logits.shape[1], dtype=logits.dtype)[labels]
    return xp.mean((logits - targets) ** 2, axis=1)


def accuracy(logits: Any, labels: Any, xp: ModuleType = np) -> Any:
    """Share of rows whose label's logit is the largest (the first largest, on a tie)."""
    return xp.mean(xp.argmax(logits, axis=1) == labels)


def masked_mean(values: Any, mask: Any, xp: ModuleType = np) -> Any:
    """Mean of `values` where `mask`; NaN where the mask is empty."""
    count = xp.sum(mask)
    total = xp.sum(xp.where(mask, values, 0.0))
    return xp.where(count > 0, total / xp.maximum(count, 1), xp.nan)


def measure_values(
    logits: Any,
    labels: Any,
    s: np.ndarray,
    n: int,
    keys: Sequence[int] | Any,
    train: Any,
    loss: str = "cross_entropy",
    xp: ModuleType = np,
) -> Any:
    """The progress measures of one parameter set's grid logits, an array in `MEASURES` order."""
    if xp is np:
        logits = np.asarray(logits, dtype=np.float64)
    restricted, excluded = restricted_excluded(logits, s, n, keys, xp)
    full = per_pair_loss(logits, labels, loss, xp)
    excluded_loss = per_pair_loss(excluded, labels, loss, xp)
    excluded_hit = xp.argmax(excluded, axis=1) == labels
    return xp.stack(
        [
            xp.mean(full),
            masked_mean(full, train, xp),
            masked_mean(full, ~train, xp),
            xp.mean(per_pair_loss(restricted, labels, loss, xp)),
            accuracy(restricted, labels, xp),
            masked_mean(excluded_loss, train, xp),
            masked_mean(excluded_hit, train, xp),
        ]
    )


def measures(
    logits: np.ndarray,
    labels: np.ndarray,
    s: np.ndarray,
    n: int,
    keys: Sequence[int],
    train: np.ndarray,
    loss: str = "cross_entropy",
) -> dict[str, float]:
    """The progress measures of one parameter set's grid logits (n^2, classes), by name. NumPy.

    `labels` of the grid pairs, `train` a boolean mask of the run's training pairs. Returns
    full_loss, train_loss (L on the training pairs), test_loss (L off them), restricted_loss,
    excluded_loss, and the accuracies restricted_acc (R, all pairs) and excluded_acc (X,
    training pairs); NaN for a mean over no pairs.
    """
    found = measure_values(logits, labels, s, n, keys, np.asarray(train, dtype=bool), loss)
    return {name: float(v) for name, v in zip(MEASURES, found, strict=True)}
