"""Sparse parity (Barak et al. 2022): the label of an input of `n_bits` bits is the parity of
its first `k` (the others are irrelevant).

Parity has no finite list of examples to shuffle when n_bits is large, so a seed gives a
sequence of distinct inputs instead: its first `test_size` are the test set, the following
ones the train order. Train and test never share an input, neither repeats one, the test set
does not depend on the train size, and train sets are nested across train sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from phasegrok.errors import ConfigError
from phasegrok.tasks.base import BITS, Config, TaskData, train_mask

# A seed's stream of inputs (0 is the example order of `base.example_order`).
_PARITY_STREAM = 3

# Parity inputs up to this many bits come from a permutation of all 2^n_bits of them (2^20
# indices: 8 MiB, < 0.1 s); longer ones from random rows with repeats dropped, never
# enumerating the inputs. The regime depends on n_bits alone, so a sequence never changes
# with the number of examples asked for.
PERMUTED_MAX_BITS = 20
# Random bits drawn per chunk in the sampled regime (rows of n_bits each): a constant, so the
# chunks, and with them the sequence, depend on the seed and n_bits alone.
_CHUNK_BITS = 1 << 20


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


def parity_inputs_hold(n: int, n_bits: int) -> bool:
    """Whether n distinct inputs exist in {0, 1}^n_bits (n <= 2^n_bits), without forming
    2^n_bits when n_bits is large: an n of fewer than n_bits binary digits always fits."""
    return n.bit_length() <= n_bits or n <= 1 << n_bits


class ParityFields(NamedTuple):
    """What a parity run's data depend on (`plan.StaticSpec.task`)."""

    n_bits: int
    k: int
    test_size: int
    encoding: str  # pm1 | binary, the values of a clear and a set bit


class Parity:
    """The sparse-parity task kind (`phasegrok.tasks.base.Task`)."""

    kind = "parity"
    keys: tuple[str, ...] = (
        "task.test_size",
        "data.train_size",
        "task.n_bits",
        "task.k",
        "task.encoding",
        "analysis.irrelevant_threshold",
    )
    size_key = "data.train_size"
    inputs = "vectors"
    shares_test = False
    test_is_all = False
    lens = BITS

    def fields(self, cfg: Config) -> ParityFields:
        return ParityFields(
            cfg["task.n_bits"], cfg["task.k"], cfg["task.test_size"], cfg["task.encoding"]
        )

    def check(self, cfg: Config) -> None:
        n_bits, k = cfg["task.n_bits"], cfg["task.k"]
        if n_bits < 1:
            raise ConfigError("task.n_bits", f"must be >= 1 (got {n_bits})")
        if not 1 <= k <= n_bits:
            raise ConfigError("task.k", f"must be in 1..n_bits ({n_bits}); got {k}")
        size, test_size = cfg["data.train_size"], cfg["task.test_size"]
        if size < 1:
            raise ConfigError("data.train_size", f"must be >= 1 (got {size})")
        if not parity_inputs_hold(size + test_size, n_bits):
            raise ConfigError(
                "data.train_size",
                f"{size} train + {test_size} test examples (task.test_size) exceed the "
                f"{1 << n_bits} distinct inputs of n_bits {n_bits}; train and test examples are "
                "distinct",
            )
        if cfg["model.tie_output"]:
            raise ConfigError(
                "model.tie_output", "only for task.kind modular (parity has no embedding)"
            )

    def derived(self, cfg: Config) -> dict[str, Any]:
        return {}

    def train_size(self, cfg: Config) -> int:
        return int(cfg["data.train_size"])

    def train_pad(self, rows: int, cfg: Config) -> int:
        # Padding rows are distinct inputs too (`parity_split`): at most what the test set
        # leaves of the 2^n_bits inputs.
        n_bits, n_test = cfg["task.n_bits"], cfg["task.test_size"]
        return rows if parity_inputs_hold(rows + n_test, n_bits) else (1 << n_bits) - n_test

    def n_classes(self, cfg: Config) -> int:
        return 2

    def input_width(self, cfg: Config) -> int:
        return int(cfg["task.n_bits"])

    def n_eval_examples(self, cfg: Config, train_pad: int) -> int:
        return train_pad + int(cfg["task.test_size"])

    def batch_data(
        self, fields: ParityFields, train_pad: int, seeds: Sequence[int], n_trains: Sequence[int]
    ) -> TaskData[np.ndarray]:
        splits = {
            seed: parity_split(
                seed, fields.test_size, train_pad, fields.n_bits, fields.k, fields.encoding
            )
            for seed in seeds
        }
        train = {seed: split[0] for seed, split in splits.items()}
        test = {seed: split[1] for seed, split in splits.items()}
        return TaskData(
            np.stack([train[seed][0] for seed in seeds]),
            np.stack([train[seed][1] for seed in seeds]),
            np.stack([train_mask(n, train_pad) for n in n_trains]),
            np.stack([test[seed][0] for seed in seeds]),
            np.stack([test[seed][1] for seed in seeds]),
            np.ones((len(seeds), fields.test_size), dtype=np.float32),
        )


PARITY = Parity()
