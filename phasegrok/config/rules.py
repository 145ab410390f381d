"""Rules across a run's keys, checked on every distinct grid point (pure Python, no JAX).

`config.load_sweep` applies `check_run` to each flat config it checks; a task kind's own rules
are its module's (`phasegrok.tasks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phasegrok.errors import ConfigError
from phasegrok.tasks import TASKS

# The learned embedding's own optimizer settings (`optimizer.embedding.*`).
EMBEDDING_GROUP = "optimizer.embedding"


# Losses of one output logit (2-class tasks): `StaticSpec.out_dim` is 1 under them.
ONE_LOGIT_LOSSES = ("binary_cross_entropy", "binary_cross_entropy_clipped")


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
    if cfg["model.kind"] == "transformer":
        _check_transformer(cfg)
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
    TASKS[kind].check(cfg)
    _check_loss(cfg)
    batch = cfg["optimizer.batch_size"]
    if batch != "full":
        if batch < 1:
            raise ConfigError("optimizer.batch_size", f"'full' or an integer >= 1 (got {batch})")
        n_train = TASKS[kind].train_size(cfg)
        if batch > n_train:
            raise ConfigError(
                "optimizer.batch_size",
                f"{batch} is larger than the training set ({n_train} examples)",
            )


TRANSFORMER_TASKS = ("modular",)  # the task kinds whose examples a transformer reads as tokens


def _check_transformer(cfg: Mapping[str, Any]) -> None:
    """A transformer reads token sequences: modular tasks only; its sizes >= 1, d_model a
    multiple of heads (each head d_model // heads wide)."""
    kind = cfg["task.kind"]
    if kind not in TRANSFORMER_TASKS:
        raise ConfigError(
            "model.kind",
            f"transformer is for task.kind modular only (token pairs); this task is {kind}",
        )
    for key in ("model.layers", "model.d_model", "model.heads", "model.d_mlp"):
        if cfg[key] < 1:
            raise ConfigError(key, f"must be >= 1 (got {cfg[key]})")
    d_model, heads = cfg["model.d_model"], cfg["model.heads"]
    if d_model % heads:
        raise ConfigError(
            "model.heads", f"must divide model.d_model ({d_model}) into equal heads; got {heads}"
        )


def _check_loss(cfg: Mapping[str, Any]) -> None:
    """`loss: binary_cross_entropy[_clipped]` (one logit) only where there are 2 classes."""
    if cfg["loss"] not in ONE_LOGIT_LOSSES:
        return
    kind = cfg["task.kind"]
    classes = TASKS[kind].n_classes(cfg)
    # Modular tasks are refused even at 2 residues: their tied readout and progress measures
    # assume one logit per class.
    if classes == 2 and TASKS[kind].inputs == "vectors":
        return
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
