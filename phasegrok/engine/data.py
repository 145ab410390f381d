"""Task data: modular arithmetic, sparse parity and arrays from a file, built on the host.

A run's seed fixes its example order; its train set is the first `n_train` examples of that
order, so train sets are nested across train fractions (and train sizes) for the same seed,
and a row of a phase diagram differs only in the swept value.

Parity has no finite list of examples to shuffle when n_bits is large, so a seed gives a
sequence of distinct inputs instead: its first `test_size` are the test set, the following
ones the train order. Train and test never share an input, neither repeats one, the test set
does not depend on the train size, and train sets are nested across train sizes.

An arrays task's file is read once per batch (`config.arrays.load`, which checks its hash):
a run trains on the first `train_size` of its seed's order of x_train and is tested on all of
x_test, shared by every run.
"""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

import numpy as np

from phasegrok.config import arrays
from phasegrok.plan.runs import Hyper, StaticSpec

# Distinct streams drawn from one seed (1 and 2 were parity's former train and test streams).
_ORDER_STREAM, _PARITY_STREAM = 0, 3

# Parity inputs up to this many bits come from a permutation of all 2^n_bits of them (2^20
# indices: 8 MiB, < 0.1 s); longer ones from random rows with repeats dropped, never
# enumerating the inputs. The regime depends on n_bits alone, so a sequence never changes
# with the number of examples asked for.
PERMUTED_MAX_BITS = 20
# Random bits drawn per chunk in the sampled regime (rows of n_bits each): a constant, so the
# chunks, and with them the sequence, depend on the seed and n_bits alone.
_CHUNK_BITS = 1 << 20


# TaskData's field type: host arrays (`batch_data`), traced arrays (`engine.training`), or a
# value per field (vmap in_axes, sharding specs, None for a field split off).
_F = TypeVar("_F")


class TaskData(NamedTuple, Generic[_F]):
    """Arrays one batch trains on. Leading run axis, except for arrays shared by every run."""

    train_x: _F  # (runs, train_pad, ...) inputs
    train_y: _F  # (runs, train_pad) int labels
    train_w: _F  # (runs, train_pad) 1.0 for real examples, 0.0 for padding
    test_x: _F  # (runs, n_test, ...) or (n_test, ...) if shared
    test_y: _F
    test_w: _F  # (runs, n_test)


def modular_label(op: str, a: np.ndarray, b: np.ndarray, p: int) -> np.ndarray:
    """Label of the pairs (a, b) for `op` modulo p (div: a * b^-1, b != 0, p prime), or for
    `add_integers` the plain sum a + b, one of 2p - 1 classes 0 .. 2p - 2 (no modulus)."""
    if op == "add_integers":
        return a + b
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
    grid_a, grid_b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    a, b = grid_a.ravel(), grid_b.ravel()
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


def distinct_inputs(seed: int, n: int, n_bits: int) -> np.ndarray:
    """The first n of the seed's sequence of distinct inputs in {0, 1}^n_bits, (n, n_bits) bool.

    Each input is uniform over those not yet in the sequence (sampling without replacement),
    and the first m rows do not depend on n. For n_bits <= PERMUTED_MAX_BITS: a permutation
    of the indices 0 .. 2^n_bits - 1, bit j of an index being column j. Longer: rows of fair
    bits drawn in fixed chunks, each row kept at its first occurrence (repeats are rare once
    2^n_bits >> n^2, so this costs about n rows). Needs n <= 2^n_bits.
    """
    rng = np.random.default_rng([seed, _PARITY_STREAM])
    if n_bits <= PERMUTED_MAX_BITS:
        index = rng.permutation(1 << n_bits)[:n]
        return ((index[:, None] >> np.arange(n_bits)) & 1).astype(bool)
    rows_per_chunk = max(1, _CHUNK_BITS // n_bits)
    seen: set[bytes] = set()
    kept: list[np.ndarray] = []
    while len(seen) < n:
        bits = rng.random((rows_per_chunk, n_bits)) < 0.5
        keys = np.packbits(bits, axis=1)
        fresh = []
        for i, key in enumerate(keys):
            if len(seen) == n:
                break
            key_bytes = key.tobytes()
            if key_bytes not in seen:
                seen.add(key_bytes)
                fresh.append(i)
        kept.append(bits[fresh])
    return np.concatenate(kept) if kept else np.zeros((0, n_bits), bool)


# `task.encoding`: the input values of a clear and of a set bit. pm1 is phasegrok's (and the
# parity literature's) {-1, +1}, a set bit -1 so that the label is the sign of a product;
# binary is the PAIR explorable's "1s and 0s".
ENCODINGS: dict[str, tuple[int, int]] = {"pm1": (1, -1), "binary": (0, 1)}


def encode_bits(bits: np.ndarray, encoding: str) -> np.ndarray:
    """A model's inputs from bits (int8), the one place of this map: `pm1` bit 0 -> +1,
    bit 1 -> -1; `binary` bit 0 -> 0, bit 1 -> 1. The bits, hence the examples and labels,
    do not depend on the encoding."""
    clear, set_ = ENCODINGS[encoding]
    return np.where(bits, set_, clear).astype(np.int8)


def parity_labels(bits: np.ndarray, k: int) -> np.ndarray:
    """The parity of the first k bits of each row (int32): 1 when an odd number are set."""
    return (bits[:, :k].sum(axis=1) % 2).astype(np.int32)


def parity_split(
    seed: int, n_test: int, n_train: int, n_bits: int, k: int, encoding: str
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((train x, train y), (test x, test y)) of a seed: the first `n_test` distinct inputs
    are the test set, the next `n_train` the train set (a run's first `train_size` of them),
    as values of `encoding` (`encode_bits`).

    So the test set does not depend on `n_train`, train sets are nested, and no input is in
    both or twice in one. Needs n_test + n_train <= 2^n_bits.
    """
    bits = distinct_inputs(seed, n_test + n_train, n_bits)
    x, y = encode_bits(bits, encoding), parity_labels(bits, k)
    return (x[n_test:], y[n_test:]), (x[:n_test], y[:n_test])


def batch_data(static: StaticSpec, hypers: list[Hyper]) -> TaskData[np.ndarray]:
    """The train and test arrays of a batch of runs (one `Hyper` per run)."""
    if static.task_kind == "modular":
        return _modular_batch(static, hypers)
    if static.task_kind == "arrays":
        return _arrays_batch(static, hypers)
    return _parity_batch(static, hypers)


def _mask(n_real: int, n_pad: int) -> np.ndarray:
    return (np.arange(n_pad) < n_real).astype(np.float32)


def _modular_batch(static: StaticSpec, hypers: list[Hyper]) -> TaskData[np.ndarray]:
    task = static.modular
    pairs, labels = modular_pairs(task.op, task.p, task.symmetric)
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


def _parity_batch(static: StaticSpec, hypers: list[Hyper]) -> TaskData[np.ndarray]:
    task = static.parity
    splits = {
        h.seed: parity_split(
            h.seed, task.test_size, static.train_pad, task.n_bits, task.k, task.encoding
        )
        for h in hypers
    }
    train = {seed: split[0] for seed, split in splits.items()}
    test = {seed: split[1] for seed, split in splits.items()}
    return TaskData(
        np.stack([train[h.seed][0] for h in hypers]),
        np.stack([train[h.seed][1] for h in hypers]),
        np.stack([_mask(h.n_train, static.train_pad) for h in hypers]),
        np.stack([test[h.seed][0] for h in hypers]),
        np.stack([test[h.seed][1] for h in hypers]),
        np.ones((len(hypers), task.test_size), dtype=np.float32),
    )


def _arrays_batch(static: StaticSpec, hypers: list[Hyper]) -> TaskData[np.ndarray]:
    task = static.arrays
    data = arrays.load(task.data_path, task.data_sha256)
    n = len(data.y_train)
    orders = {h.seed: example_order(h.seed, n) for h in hypers}
    # A run's padding rows (masked) repeat its real ones where the file has no more examples.
    rows = {
        seed: np.resize(order[: static.train_pad], static.train_pad)
        for seed, order in orders.items()
    }
    return TaskData(
        np.stack([data.x_train[rows[h.seed]] for h in hypers]),
        np.stack([data.y_train[rows[h.seed]] for h in hypers]),
        np.stack([_mask(h.n_train, static.train_pad) for h in hypers]),
        data.x_test,
        data.y_test,
        np.ones((len(hypers), len(data.y_test)), dtype=np.float32),
    )


def shared_axes(static: StaticSpec) -> TaskData[int | None]:
    """vmap in_axes for TaskData: modular test arrays (all pairs) and an arrays task's test set
    are shared by every run."""
    if static.task_kind in ("modular", "arrays"):
        return TaskData(0, 0, 0, None, None, 0)
    return TaskData(0, 0, 0, 0, 0, 0)
