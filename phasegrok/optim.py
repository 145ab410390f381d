"""Optimizers from optax, with every hyperparameter a (possibly traced) per-run value."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from phasegrok.plan import Hyper


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
