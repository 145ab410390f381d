"""Nanda et al.'s progress measures (2023, section 5): restricted and excluded loss. NumPy.

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

    restricted_loss = mean loss of R over all grid pairs
    excluded_loss   = mean loss of X over the run's training pairs
    full_loss       = mean loss of L over all grid pairs

(the loss is the run's: cross-entropy, or MSE against one-hot). A model that generalizes
through the circuit has a restricted loss near 0 and a large excluded loss: removing the key
frequencies destroys its performance even on the pairs it was trained on. Nanda et al. saw the
restricted loss fall and the excluded loss rise well before the test loss, during the phase
that still looks like memorization ("circuit formation").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from phasegrok import cyclic

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


def key_components(logits: np.ndarray, s: np.ndarray, n: int, keys: Sequence[int]) -> np.ndarray:
    """sum_{k in keys} P_k L: the logits' components along cos / sin(2 pi k s / n), per class.

    `logits` (n^2, classes) over the grid, `s` (n^2,) the combination of each pair.
    """
    # M_c(s): every s takes the same number of pairs of the grid, so sorting by s and
    # averaging equal blocks is the mean over each s (np.add.at is ~10x slower at p = 113).
    by_s = np.asarray(logits, dtype=np.float64)[np.argsort(s, kind="stable")]
    means = by_s.reshape(n, -1, logits.shape[1]).mean(axis=1)
    out = np.zeros_like(logits, dtype=np.float64)
    for k in sorted(set(int(k) for k in keys)):
        angle = 2 * np.pi * k * np.arange(n) / n
        cos, sin = np.cos(angle), np.sin(angle)
        nyquist = 2 * k == n
        a = means.T @ cos * ((1 if nyquist else 2) / n)
        b = np.zeros_like(a) if nyquist else means.T @ sin * (2 / n)
        out += np.outer(cos[s], a) + np.outer(sin[s], b)
    return out


def restricted_excluded(
    logits: np.ndarray, s: np.ndarray, n: int, keys: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(restricted logits R = mean + key components, excluded logits X = L - key components)."""
    logits = np.asarray(logits, dtype=np.float64)
    components = key_components(logits, s, n, keys)
    return logits.mean(axis=0) + components, logits - components


def per_pair_loss(logits: np.ndarray, labels: np.ndarray, loss: str) -> np.ndarray:
    """Cross-entropy (natural log) of each row, or its MSE against the one-hot label."""
    if loss == "cross_entropy":
        top = logits.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        return log_z - logits[np.arange(len(labels)), labels]
    targets = np.eye(logits.shape[1])[labels]
    return np.mean((logits - targets) ** 2, axis=1)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose label's logit is the largest."""
    return float(np.mean(logits.argmax(axis=1) == labels))


def measures(
    logits: np.ndarray,
    labels: np.ndarray,
    s: np.ndarray,
    n: int,
    keys: Sequence[int],
    train: np.ndarray,
    loss: str = "cross_entropy",
) -> dict[str, float]:
    """The progress measures of one parameter set's grid logits (n^2, classes).

    `labels` of the grid pairs, `train` a boolean mask of the run's training pairs. Returns
    full_loss, train_loss (L on the training pairs), test_loss (L off them), restricted_loss,
    excluded_loss, and the accuracies restricted_acc (R, all pairs) and excluded_acc (X,
    training pairs).
    """
    restricted, excluded = restricted_excluded(logits, s, n, keys)
    full = per_pair_loss(np.asarray(logits, dtype=np.float64), labels, loss)
    test = ~train
    return {
        "full_loss": float(full.mean()),
        "train_loss": float(full[train].mean()) if train.any() else float("nan"),
        "test_loss": float(full[test].mean()) if test.any() else float("nan"),
        "restricted_loss": float(per_pair_loss(restricted, labels, loss).mean()),
        "restricted_acc": accuracy(restricted, labels),
        **excluded_measures(excluded[train], labels[train], loss),
    }


def excluded_measures(excluded: np.ndarray, labels: np.ndarray, loss: str) -> dict[str, float]:
    """excluded_loss and excluded_acc over the training pairs (NaN where there are none)."""
    if not len(labels):
        return {"excluded_loss": float("nan"), "excluded_acc": float("nan")}
    return {
        "excluded_loss": float(per_pair_loss(excluded, labels, loss).mean()),
        "excluded_acc": accuracy(excluded, labels),
    }
