"""Optimizers from optax, with every hyperparameter a (possibly traced) per-run value."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from phasegrok.plan.runs import Hyper, StaticSpec


def warmup_schedule(lr: jnp.ndarray, warmup_steps: jnp.ndarray) -> optax.Schedule:
    """lr * min(1, (t + 1) / warmup_steps); constant lr when warmup_steps is 0.

    Written out because optax's linear schedules branch in Python on the step count, which
    cannot be a traced, per-run value.
    """
    return lambda count: lr * jnp.minimum(1.0, (count + 1) / jnp.maximum(warmup_steps, 1.0))


def make_optimizer(name: str, hyper: Hyper) -> optax.GradientTransformation:
    """`adamw` decouples weight decay (optax multiplies it by the learning rate, as PyTorch's
    AdamW); `adam` and `sgd` add it to the gradient as an L2 term (PyTorch's `weight_decay`)."""
    lr = warmup_schedule(hyper.lr, hyper.warmup_steps)
    if name == "adamw":
        return optax.adamw(
            lr, b1=hyper.b1, b2=hyper.b2, eps=hyper.eps, weight_decay=hyper.weight_decay
        )
    if name == "adam":
        return optax.chain(
            optax.add_decayed_weights(hyper.weight_decay),
            optax.adam(lr, b1=hyper.b1, b2=hyper.b2, eps=hyper.eps),
        )
    if name == "sgd":
        return optax.chain(
            optax.add_decayed_weights(hyper.weight_decay), optax.sgd(lr, momentum=hyper.momentum)
        )
    raise ValueError(f"unknown optimizer {name!r}")


def embedding_hyper(hyper: Hyper) -> Hyper:
    """The run's values with the learned embedding's own settings in the main fields (the
    warmup is the main optimizer's: the group has none of its own)."""
    return hyper._replace(
        lr=hyper.embedding_lr,
        weight_decay=hyper.embedding_weight_decay,
        b1=hyper.embedding_b1,
        b2=hyper.embedding_b2,
        eps=hyper.embedding_eps,
        momentum=hyper.embedding_momentum,
    )


def group_labels(params: dict[str, Any]) -> dict[str, str]:
    """Each top-level parameter's group: "embedding" for the learned embedding table, "rest"
    for every other (a prefix of the parameter tree, which optax.partition accepts)."""
    return {name: "embedding" if name == "embedding" else "rest" for name in params}


def run_optimizer(static: StaticSpec, hyper: Hyper) -> optax.GradientTransformation:
    """The run's optimizer: `make_optimizer` over every parameter, or with an embedding group
    (`static.embedding_optimizer`) optax.partition of the embedding's own optimizer on the
    embedding table and the main one on the rest.

    Without a group this is exactly the single optimizer (its program and numbers unchanged).
    """
    main = make_optimizer(static.optimizer, hyper)
    if static.embedding_optimizer is None:
        return main
    embedding = make_optimizer(static.embedding_optimizer, embedding_hyper(hyper))
    return optax.partition({"embedding": embedding, "rest": main}, group_labels)


def add_l1_subgradient(grads: Any, params: Any, l1: jnp.ndarray) -> Any:
    """`grads` plus the subgradient of the L1 penalty `l1 * sum_i |w_i|` over every parameter
    (every leaf of `params`: kernels, biases, a learned embedding): g_i + l1 * sign(w_i).

    This makes the gradient of the training objective, data loss plus penalty, which the
    optimizer then transforms as it would the data gradient alone (AdamW's decoupled decay
    comes after). At w_i = 0, where |w| has no derivative, sign(0) = 0 is the subgradient
    taken: the one of least norm, and the PAIR explorable's (`g + weight_decay * sign(p)`); a
    weight at exactly 0 (lecun's initial biases) is pushed neither way.
    """
    return jax.tree.map(lambda g, w: g + l1 * jnp.sign(w), grads, params)
