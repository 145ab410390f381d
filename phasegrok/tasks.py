"""Task data: modular arithmetic and sparse parity, built on the host with NumPy.

A run's seed fixes its example order; its train set is the first `n_train` examples of that
order, so train sets are nested across train fractions (and train sizes) for the same seed,
and a row of a phase diagram differs only in the swept value.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from phasegrok.plan import Hyper, StaticSpec

# Distinct streams drawn from one seed.
_ORDER_STREAM, _TRAIN_STREAM, _TEST_STREAM = 0, 1, 2


class TaskData(NamedTuple):
    """Arrays one batch trains on. Leading run axis, except for arrays shared by every run."""

    train_x: np.ndarray  # (runs, train_pad, ...) inputs
    train_y: np.ndarray  # (runs, train_pad) int labels
    train_w: np.ndarray  # (runs, train_pad) 1.0 for real examples, 0.0 for padding
    test_x: np.ndarray  # (runs, n_test, ...) or (n_test, ...) if shared
    test_y: np.ndarray
    test_w: np.ndarray  # (runs, n_test)


def modular_label(op: str, a: np.ndarray, b: np.ndarray, p: int) -> np.ndarray:
    """Label of the pairs (a, b) for `op` modulo p (div: a * b^-1, b != 0, p prime)."""
    if op == "add":
        return (a + b) % p
    if op == "sub":
        return (a - b) % p
    if op == "mul":
        return (a * b) % p
    if op == "square_sum":
        return (a * a + b * b) % p
    if op == "div":
        inverse = np.array([pow(int(x), -1, p) for x in b], dtype=np.int64)
        return (a * inverse) % p
    raise ValueError(f"unknown modular op {op!r}")


def modular_pairs(op: str, p: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """All examples of a modular task: (pairs (N, 2) int32, labels (N,) int32), in a fixed order."""
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    a, b = a.ravel(), b.ravel()
    keep = np.ones_like(a, dtype=bool)
    if op == "div":
        keep &= b != 0
    if symmetric:
        keep &= a <= b
    a, b = a[keep], b[keep]
    labels = modular_label(op, a, b, p)
    return np.stack([a, b], axis=1).astype(np.int32), labels.astype(np.int32)


def example_order(seed: int, n: int) -> np.ndarray:
    """The seed's shuffled order of n examples; a run trains on its first n_train."""
    return np.random.default_rng([seed, _ORDER_STREAM]).permutation(n)


def parity_examples(
    seed: int, stream: int, n: int, n_bits: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """n examples in {-1, +1}^n_bits (int8) and labels = parity of the first k bits.

    Rows are drawn one after another from the stream, so the first m rows do not depend on n.
    """
    bits = np.random.default_rng([seed, stream]).random((n, n_bits)) < 0.5
    x = np.where(bits, -1, 1).astype(np.int8)
    y = (bits[:, :k].sum(axis=1) % 2).astype(np.int32)
    return x, y


def batch_data(static: StaticSpec, hypers: list[Hyper]) -> TaskData:
    """The train and test arrays of a batch of runs (one `Hyper` per run)."""
    if static.task_kind == "modular":
        return _modular_batch(static, hypers)
    return _parity_batch(static, hypers)


def _mask(n_real: int, n_pad: int) -> np.ndarray:
    return (np.arange(n_pad) < n_real).astype(np.float32)


def _modular_batch(static: StaticSpec, hypers: list[Hyper]) -> TaskData:
    pairs, labels = modular_pairs(static.op, static.p, static.symmetric)
    n = len(labels)
    orders = {h.seed: example_order(h.seed, n) for h in hypers}
    train_x, train_y, train_w, test_w = [], [], [], []
    for h in hypers:
        order = orders[h.seed][: static.train_pad]
        train_x.append(pairs[order])
        train_y.append(labels[order])
        train_w.append(_mask(h.n_train, static.train_pad))
        is_test = np.ones(n, dtype=np.float32)
        is_test[orders[h.seed][: h.n_train]] = 0.0
        test_w.append(is_test)
    return TaskData(
        np.stack(train_x), np.stack(train_y), np.stack(train_w), pairs, labels, np.stack(test_w)
    )


def _parity_batch(static: StaticSpec, hypers: list[Hyper]) -> TaskData:
    n_bits, k = static.n_bits, static.k
    train = {
        h.seed: parity_examples(h.seed, _TRAIN_STREAM, static.train_pad, n_bits, k) for h in hypers
    }
    test = {
        h.seed: parity_examples(h.seed, _TEST_STREAM, static.test_size, n_bits, k) for h in hypers
    }
    return TaskData(
        np.stack([train[h.seed][0] for h in hypers]),
        np.stack([train[h.seed][1] for h in hypers]),
        np.stack([_mask(h.n_train, static.train_pad) for h in hypers]),
        np.stack([test[h.seed][0] for h in hypers]),
        np.stack([test[h.seed][1] for h in hypers]),
        np.ones((len(hypers), static.test_size), dtype=np.float32),
    )


def shared_axes(static: StaticSpec) -> TaskData:
    """vmap in_axes for TaskData: modular test arrays (all pairs) are shared by every run."""
    if static.task_kind == "modular":
        return TaskData(0, 0, 0, None, None, 0)
    return TaskData(0, 0, 0, 0, 0, 0)
