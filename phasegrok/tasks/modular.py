"""Modular arithmetic (Power et al. 2022): the pairs (a, b) of residues mod p, labelled a o b.

Every pair is an example; a run trains on the first `data.train_fraction` of its seed's order of
them and is tested on the rest, so train sets are nested across train fractions for the same
seed, and a row of a phase diagram differs only in the swept value. The test arrays are all the
pairs, shared by every run, each run's own test set being a mask over them.

Its model reads token pairs ("pairs": the embedding MLP or the transformer, `engine.models`), so
the embedding's keys (`model.embedding`, ...) and the transformer's (`model.layers`, ...; a
transformer is for modular tasks only) are this kind's too, and so is the Fourier lens
(`analysis.*`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from phasegrok.errors import ConfigError
from phasegrok.tasks.base import FOURIER, Config, TaskData, example_order, train_mask
from phasegrok.tasks.cyclic import n_frequencies

# Ops whose pairs may be restricted to a <= b (`task.symmetric`).
COMMUTATIVE_OPS = {"add", "mul", "square_sum", "add_integers"}


class ModularFields(NamedTuple):
    """What a modular run's data depend on (`plan.StaticSpec.task`)."""

    op: str
    p: int
    symmetric: bool


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


def n_pairs(op: str, p: int, symmetric: bool) -> int:
    """Distinct examples (pairs) of `op` mod p: b = 0 left out for div, a <= b if symmetric."""
    if op == "div":
        return p * (p - 1)
    if symmetric:
        return p * (p + 1) // 2
    return p * p


def n_examples(cfg: Config) -> int:
    """Distinct examples (pairs) of a run config."""
    return n_pairs(cfg["task.op"], cfg["task.p"], cfg["task.symmetric"])


def n_labels(op: str, p: int) -> int:
    """Classes of a modular task: the residues 0 .. p - 1, or for `add_integers` (a + b, no
    modulus) the sums 0 .. 2p - 2."""
    return 2 * p - 1 if op == "add_integers" else p


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


class Modular:
    """The modular task kind (`phasegrok.tasks.base.Task`)."""

    kind = "modular"
    keys: tuple[str, ...] = (
        "task.op",
        "task.p",
        "task.symmetric",
        "data.train_fraction",
        "model.embedding",
        "model.circular_freqs",
        "model.embed_dim",
        "model.embedding_std",
        "model.combine",
        "model.tie_output",
        *(f"model.{name}" for name in ("layers", "d_model", "heads", "d_mlp", "layer_norm")),
        "analysis.fourier_top_k",
        "analysis.progress_measures",
        # The learned embedding's own optimizer (`config.GROUP_KEYS`).
        *(f"optimizer.embedding.{name}" for name in ("name", "lr", "weight_decay")),
        *(f"optimizer.embedding.{name}" for name in ("b1", "b2", "eps", "momentum")),
    )
    size_key = "data.train_fraction"
    inputs = "pairs"
    shares_test = True
    test_is_all = True
    lens = FOURIER

    def fields(self, cfg: Config) -> ModularFields:
        return ModularFields(cfg["task.op"], cfg["task.p"], cfg["task.symmetric"])

    def check(self, cfg: Config) -> None:
        p, op = cfg["task.p"], cfg["task.op"]
        if p < 2:
            raise ConfigError("task.p", f"the modulus must be >= 2 (got {p})")
        if op == "div" and not is_prime(p):
            raise ConfigError("task.p", f"op 'div' needs a prime modulus (got {p})")
        if cfg["task.symmetric"] and op not in COMMUTATIVE_OPS:
            raise ConfigError(
                "task.symmetric",
                f"only for commutative ops ({', '.join(sorted(COMMUTATIVE_OPS))}); op is '{op}'",
            )
        if op == "add_integers" and cfg["model.tie_output"]:
            raise ConfigError(
                "model.tie_output",
                f"not with op 'add_integers': tied logits are one per token (p = {p}), its "
                f"labels take 2p - 1 = {2 * p - 1} values",
            )
        fraction = cfg["data.train_fraction"]
        if not 0 < fraction < 1:
            raise ConfigError("data.train_fraction", f"must be in (0, 1) (got {fraction})")
        n_train, n_all = self.train_size(cfg), n_examples(cfg)
        if n_train < 1 or n_train >= n_all:
            raise ConfigError(
                "data.train_fraction",
                f"{fraction} of {n_all} pairs leaves {n_train} train and {n_all - n_train} "
                "test pairs; both must be >= 1",
            )
        n_freqs, top_k = n_frequencies(op, p), cfg["analysis.fourier_top_k"]
        if n_freqs and top_k > n_freqs:  # no check where the lens is blank (no cyclic group)
            order = "p // 2" if op in ("add", "sub") else "(p - 1) // 2"
            raise ConfigError(
                "analysis.fourier_top_k",
                f"op '{op}' at p = {p} has {order} = {n_freqs} frequencies; got {top_k}",
            )
        if cfg["model.embedding"] == "circular":
            freqs = cfg["model.circular_freqs"]
            if (
                not freqs
                or len(set(freqs)) != len(freqs)
                or not all(1 <= f <= p // 2 for f in freqs)
            ):
                raise ConfigError(
                    "model.circular_freqs",
                    f"distinct frequencies in 1..{p // 2} (p // 2) are needed; got {list(freqs)}",
                )

    def derived(self, cfg: Config) -> dict[str, Any]:
        """The embedding's keys that its kind decides: the circular embedding's frequencies and
        the learned one's std are blank elsewhere; one-hot and circular fix the width."""
        out: dict[str, Any] = {}
        if cfg["model.embedding"] != "circular":
            out["model.circular_freqs"] = None
        if cfg["model.embedding"] != "learned":
            out["model.embedding_std"] = None
        if cfg["model.embedding"] == "one_hot":
            out["model.embed_dim"] = cfg["task.p"]
        elif cfg["model.embedding"] == "circular":
            out["model.embed_dim"] = 2 * len(cfg["model.circular_freqs"])
        return out

    def train_size(self, cfg: Config) -> int:
        return round(cfg["data.train_fraction"] * n_examples(cfg))

    def train_pad(self, rows: int, cfg: Config) -> int:
        return min(rows, n_examples(cfg))

    def n_classes(self, cfg: Config) -> int:
        return n_labels(cfg["task.op"], cfg["task.p"])

    def input_width(self, cfg: Config) -> int:
        return 2

    def n_eval_examples(self, cfg: Config, train_pad: int) -> int:
        return n_examples(cfg)  # every pair, the train set's among them

    def batch_data(
        self, fields: ModularFields, train_pad: int, seeds: Sequence[int], n_trains: Sequence[int]
    ) -> TaskData[np.ndarray]:
        pairs, labels = modular_pairs(fields.op, fields.p, fields.symmetric)
        n = len(labels)
        orders = {seed: example_order(seed, n) for seed in seeds}
        train_x, train_y, train_w, test_w = [], [], [], []
        for seed, n_train in zip(seeds, n_trains, strict=True):
            order = orders[seed][:train_pad]
            train_x.append(pairs[order])
            train_y.append(labels[order])
            train_w.append(train_mask(n_train, train_pad))
            is_test = np.ones(n, dtype=np.float32)
            is_test[orders[seed][:n_train]] = 0.0
            test_w.append(is_test)
        return TaskData(
            np.stack(train_x),
            np.stack(train_y),
            np.stack(train_w),
            pairs,
            labels,
            np.stack(test_w),
        )


MODULAR = Modular()
