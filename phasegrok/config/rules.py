"""Rules across a run's keys, checked on every distinct grid point (pure Python, no JAX).

`config.load_sweep` applies `check_run` to each resolved flat config it checks; the helpers
(`n_examples`, `train_size`, ...) are the counts those rules and the planner share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from phasegrok.config.arrays import ARRAYS, check_arrays_run
from phasegrok.config.cyclic import n_frequencies
from phasegrok.config.inputs import ConfigError

# Ops whose pairs may be restricted to a <= b (`task.symmetric`).
COMMUTATIVE_OPS = {"add", "mul", "square_sum", "add_integers"}
# The learned embedding's own optimizer settings (`optimizer.embedding.*`).
EMBEDDING_GROUP = "optimizer.embedding"


# Losses of one output logit (2-class tasks): `StaticSpec.out_dim` is 1 under them.
ONE_LOGIT_LOSSES = ("binary_cross_entropy", "binary_cross_entropy_clipped")


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


def n_examples(cfg: Mapping[str, Any]) -> int:
    """Number of distinct modular examples (pairs) for a resolved flat config."""
    p, op = cfg["task.p"], cfg["task.op"]
    if op == "div":
        return p * (p - 1)
    if cfg["task.symmetric"]:
        return p * (p + 1) // 2
    return p * p


def n_labels(op: str, p: int) -> int:
    """Classes of a modular task: the residues 0 .. p - 1, or for `add_integers` (a + b, no
    modulus) the sums 0 .. 2p - 2."""
    return 2 * p - 1 if op == "add_integers" else p


def parity_inputs_hold(n: int, n_bits: int) -> bool:
    """Whether n distinct inputs exist in {0, 1}^n_bits (n <= 2^n_bits), without forming
    2^n_bits when n_bits is large: an n of fewer than n_bits binary digits always fits."""
    return n.bit_length() <= n_bits or n <= 1 << n_bits


def train_size(cfg: Mapping[str, Any]) -> int:
    if cfg["task.kind"] == "modular":
        return round(cfg["data.train_fraction"] * n_examples(cfg))
    return cfg["data.train_size"]


def check_run(cfg: Mapping[str, Any]) -> None:
    """Rules that span keys, on one resolved flat config. Raises ConfigError."""
    kind = cfg["task.kind"]
    positive_ints = ["train.steps", "train.eval_every", "model.embed_dim", "task.test_size"]
    for key in positive_ints:
        if cfg[key] < 1:
            raise ConfigError(key, f"must be >= 1 (got {cfg[key]})")
    if not cfg["model.hidden"] or min(cfg["model.hidden"]) < 1:
        raise ConfigError(
            "model.hidden", f"one width >= 1 per hidden layer (got {cfg['model.hidden']})"
        )
    for group in ("optimizer", EMBEDDING_GROUP):
        _check_optimizer(cfg, group)
    if cfg["optimizer.l1"] < 0:  # the main optimizer's only: the penalty covers every parameter
        raise ConfigError("optimizer.l1", f"must be >= 0 (got {cfg['optimizer.l1']})")
    for key in ("model.init_scale", "model.embedding_std"):
        if cfg[key] <= 0:
            raise ConfigError(key, f"must be > 0 (got {cfg[key]})")
    steps, eval_every = cfg["train.steps"], cfg["train.eval_every"]
    if steps % eval_every:
        raise ConfigError(
            "train.eval_every", f"must divide train.steps ({steps}); got {eval_every}"
        )
    for step in cfg["train.save_params_at"]:
        if not 0 <= step <= steps or step % eval_every:
            raise ConfigError(
                "train.save_params_at",
                f"steps must be multiples of train.eval_every ({eval_every}) in [0, {steps}]; "
                f"got {step}",
            )
    if kind == "modular":
        _check_modular(cfg)
    elif kind == "parity":
        _check_parity(cfg)
    else:
        check_arrays_run(cfg)
    _check_loss(cfg)
    batch = cfg["optimizer.batch_size"]
    if batch != "full":
        if batch < 1:
            raise ConfigError("optimizer.batch_size", f"'full' or an integer >= 1 (got {batch})")
        if batch > train_size(cfg):
            raise ConfigError(
                "optimizer.batch_size",
                f"{batch} is larger than the training set ({train_size(cfg)} examples)",
            )


def _check_loss(cfg: Mapping[str, Any]) -> None:
    """`loss: binary_cross_entropy[_clipped]` (one logit) only where there are 2 classes."""
    if cfg["loss"] not in ONE_LOGIT_LOSSES:
        return
    kind = cfg["task.kind"]
    if kind == "parity" or (kind == "arrays" and cfg[ARRAYS].n_classes == 2):
        return
    # Modular tasks are refused even at 2 residues: their tied readout and progress measures
    # assume one logit per class.
    classes = cfg[ARRAYS].n_classes if kind == "arrays" else n_labels(cfg["task.op"], cfg["task.p"])
    raise ConfigError(
        "loss",
        f"{cfg['loss']} (one logit) is for 2-class tasks: task.kind parity, or arrays "
        f"with labels 0 and 1 (this {kind} task has {classes} classes); use cross_entropy or mse",
    )


# The rules on an optimizer's numbers, in the order they are checked: intervals all.
_OPTIMIZER_RULES = (
    ("lr", lambda v: v > 0, "must be > 0"),
    ("weight_decay", lambda v: v >= 0, "must be >= 0"),
    ("momentum", lambda v: v >= 0, "must be >= 0"),
    ("warmup_steps", lambda v: v >= 0, "must be >= 0"),
    ("b1", lambda v: 0 <= v < 1, "must be in [0, 1)"),
    ("b2", lambda v: 0 <= v < 1, "must be in [0, 1)"),
    ("eps", lambda v: v > 0, "must be > 0"),
)


def _check_optimizer(cfg: Mapping[str, Any], group: str) -> None:
    """The main optimizer's numbers (`group` "optimizer"), or a parameter group's, whose unset
    (None) keys inherit the main ones and are not checked again."""
    for name, holds, rule in _OPTIMIZER_RULES:
        value = cfg.get(f"{group}.{name}")
        if value is not None and not holds(value):
            raise ConfigError(f"{group}.{name}", f"{rule} (got {value})")


def _check_modular(cfg: Mapping[str, Any]) -> None:
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
            f"not with op 'add_integers': tied logits are one per token (p = {p}), its labels "
            f"take 2p - 1 = {2 * p - 1} values",
        )
    fraction = cfg["data.train_fraction"]
    if not 0 < fraction < 1:
        raise ConfigError("data.train_fraction", f"must be in (0, 1) (got {fraction})")
    n_train, n_all = train_size(cfg), n_examples(cfg)
    if n_train < 1 or n_train >= n_all:
        raise ConfigError(
            "data.train_fraction",
            f"{fraction} of {n_all} pairs leaves {n_train} train and {n_all - n_train} test pairs; "
            "both must be >= 1",
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
        if not freqs or len(set(freqs)) != len(freqs) or not all(1 <= f <= p // 2 for f in freqs):
            raise ConfigError(
                "model.circular_freqs",
                f"distinct frequencies in 1..{p // 2} (p // 2) are needed; got {list(freqs)}",
            )


def _check_parity(cfg: Mapping[str, Any]) -> None:
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
