"""From a validated sweep to runs and batches: pure Python, no JAX.

A `Run` is one grid point x one seed. Its `StaticSpec` is everything that changes the compiled
program (shapes, step counts, choices of function); its `Hyper` values are the numbers that are
vmapped as traced arrays. Runs with equal static specs share one compiled program and are cut
into batches sized to memory.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Generic, NamedTuple, TypeVar

from phasegrok.config.load import DYNAMIC_KEYS, GROUP_KEYS, ConfigError, SweepSpec, iter_corners
from phasegrok.config.model import model_unread_keys
from phasegrok.config.rules import EMBEDDING_GROUP, ONE_LOGIT_LOSSES
from phasegrok.config.schema import added_defaults
from phasegrok.errors import short_repr
from phasegrok.tasks import TASKS, TaskFields, unread_keys
from phasegrok.tasks.arrays import ArraysFields
from phasegrok.tasks.arrays_file import ARRAYS
from phasegrok.tasks.modular import ModularFields
from phasegrok.tasks.parity import ParityFields

# Bump when a change to training alters the numbers a run produces: it changes every run_id,
# so results from the older code are never mixed with new ones on resume.
NUMERICS_VERSION = 4

# Keys added after run ids were first made, left out of a run's id at their default or blank
# (None), so that the runs of older folders keep their ids: those the schema declares `Added`,
# and the data file's facts that a run records beside them.
ADDED_KEYS: dict[str, Any] = {
    **added_defaults(),
    "task.input_dim": None,
    "task.n_classes": None,
}
# A Hyper field's type: a number in a `Run`, an array (a run axis) in the engine.
_V = TypeVar("_V")


@dataclass(frozen=True)
class StaticSpec:
    """What a compiled training program depends on; hashable, one program per distinct value."""

    task_kind: str
    task: TaskFields  # the kind's own fields (`phasegrok.tasks`): what its data depend on
    inputs: str  # what the model reads: "pairs" of tokens or "vectors" (`tasks.base.Task`)
    model_kind: str  # mlp | transformer (`config.model`); the MLP's keys below are blank
    # (None, `hidden` empty) for a transformer, the transformer's for an MLP
    input_width: int  # values of one example's input (a token pair: 2)
    n_classes: int
    n_eval_examples: int  # examples one evaluation reads
    embedding: str | None  # the token embedding (pairs only), and its settings below
    circular_freqs: tuple[int, ...] | None
    embed_dim: int | None
    combine: str | None
    hidden: tuple[int, ...]
    activation: str
    tie_output: bool
    bias: bool
    init: str | None  # torch | lecun: the initializers of the MLP's dense layers
    layers: int | None  # the transformer's blocks, widths and norm (`engine.models.transformer`)
    d_model: int | None
    heads: int | None
    d_mlp: int | None
    layer_norm: str | None
    optimizer: str
    # The learned embedding's own optimizer (optax.partition with the main one for the rest);
    # None: one optimizer for every parameter, as before parameter groups existed.
    embedding_optimizer: str | None
    batch_size: int | None  # None: full batch
    loss: str
    steps: int
    eval_every: int
    precision: str
    save_params_at: tuple[int, ...]
    train_pad: int  # rows of the padded train set; runs with fewer real examples are masked
    fourier_top_k: int | None
    irrelevant_threshold: float | None
    # Nanda et al.'s measures after training (`analysis.progress_measures`): one value per
    # sweep, so it never splits a shape group.
    progress_measures: bool

    @property
    def modular(self) -> ModularFields:
        """The modular task's fields (ValueError for another task kind)."""
        return _fields(self.task, ModularFields)

    @property
    def parity(self) -> ParityFields:
        """The parity task's fields (ValueError for another task kind)."""
        return _fields(self.task, ParityFields)

    @property
    def arrays(self) -> ArraysFields:
        """The arrays task's fields (ValueError for another task kind)."""
        return _fields(self.task, ArraysFields)

    @property
    def out_dim(self) -> int:
        """Output units: one logit for the binary cross-entropies, else one per class."""
        return 1 if self.loss in ONE_LOGIT_LOSSES else self.n_classes

    @property
    def n_evals(self) -> int:
        """Eval points after step 0."""
        return self.steps // self.eval_every


_K = TypeVar("_K", ModularFields, ParityFields, ArraysFields)
_T = TypeVar("_T")


def need(value: _T | None) -> _T:
    """A `StaticSpec` field that only some runs set (the token embedding's), where it is set."""
    if value is None:
        raise ValueError("this StaticSpec field is not set for this run's inputs")
    return value


def _fields(fields: TaskFields, kind: type[_K]) -> _K:
    if not isinstance(fields, kind):
        raise ValueError(f"this StaticSpec holds {type(fields).__name__}, not {kind.__name__}")
    return fields


class Hyper(NamedTuple, Generic[_V]):
    """Per-run values that vary inside one compiled program (vmapped with a leading run axis):
    one field per traced key of the schema (`config.DYNAMIC_KEYS`, named by `traced_name`),
    then the train size and the seed. Numbers in a `Run`, arrays in the engine."""

    lr: _V
    weight_decay: _V
    l1: _V  # the L1 penalty's coefficient (optim.add_l1_subgradient)
    b1: _V
    b2: _V
    eps: _V
    momentum: _V
    warmup_steps: _V
    init_scale: _V
    embedding_std: _V  # 1.0 where there is no learned embedding
    # The learned embedding's optimizer settings (`optimizer.embedding.*`, inherited values
    # filled in); the main ones where the run has no embedding group (then unused).
    embedding_lr: _V
    embedding_weight_decay: _V
    embedding_b1: _V
    embedding_b2: _V
    embedding_eps: _V
    embedding_momentum: _V
    n_train: _V
    seed: _V


def traced_name(key: str) -> str:
    """The `Hyper` field of a dynamic key (config.DYNAMIC_KEYS): its last part (`optimizer.lr`
    -> `lr`), after its group's for a parameter group's (`optimizer.embedding.lr` ->
    `embedding_lr`)."""
    *parents, leaf = key.split(".")
    return "_".join([*parents[1:], leaf])


@dataclass(frozen=True)
class Run:
    run_id: str
    seed: int
    config: dict[str, Any]  # resolved, flat, dotted keys: the run's row of runs.parquet
    static: StaticSpec
    hyper: Hyper


@dataclass(frozen=True)
class Batch:
    """Runs of one static spec trained together.

    `with_l1`: whether the program adds the L1 penalty (`training.train_step`), the same for
    every batch of a shape group: set where some run of the group has l1 > 0 (`uses_l1`), so
    that a group whose runs all have l1 = 0 is bit for bit the program without the penalty (a
    term that adds zero still changes how XLA contracts the optimizer's float operations, by
    last bits that training amplifies). None: decided by the batch's own runs.
    """

    batch_id: str
    static: StaticSpec
    runs: tuple[Run, ...]
    with_l1: bool | None = None

    @property
    def adds_l1(self) -> bool:
        if self.with_l1 is not None:
            return self.with_l1
        return any(r.hyper.l1 > 0 for r in self.runs)


def resolve(cfg: dict[str, Any]) -> dict[str, Any]:
    """Blank the keys that do not affect this run (`unread_keys` of its task kind,
    `config.model.model_unread_keys` of its model kind), fill in those its task kind derives
    (`tasks.base.Task.derived`: the embedding's width, the data file's facts)."""
    kind = cfg["task.kind"]
    unread = unread_keys(kind) | model_unread_keys(cfg["model.kind"])
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if key != ARRAYS:
            out[key] = None if key in unread else value
        if key == "task.sha256":  # the data file's facts (not sweep-file keys), next to its hash
            out["task.input_dim"] = out["task.n_classes"] = None
    out.update({k: v for k, v in TASKS[kind].derived(cfg).items() if k not in unread})
    out.update(resolve_group(cfg))
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
    del out["train.seeds"]
    return out


def group_values(cfg: dict[str, Any]) -> dict[str, Any]:
    """Every `optimizer.embedding.*` key, an unset one (None) inheriting the main optimizer's
    value: `optimizer.embedding.lr` takes `optimizer.lr`, swept or not."""
    return {
        key: cfg["optimizer." + key.rsplit(".", 1)[1]] if cfg[key] is None else cfg[key]
        for key in GROUP_KEYS
    }


def resolve_group(cfg: dict[str, Any]) -> dict[str, Any]:
    """The `optimizer.embedding.*` keys of a run as it trains: `group_values` when the group is
    in use (some key of it set, on a learned embedding of a modular task), else all None (one
    optimizer for every parameter).

    A group whose values all equal the main optimizer's is still a group: it trains through
    optax.partition, another compiled program, whose float32 results differ from the single
    optimizer's in the last bits; so it is another run, with another run_id.
    """
    in_use = (
        "model.embedding" in TASKS[cfg["task.kind"]].keys
        and "model.embedding" not in model_unread_keys(cfg["model.kind"])
        and cfg["model.embedding"] == "learned"
        and any(cfg[key] is not None for key in GROUP_KEYS)
    )
    return group_values(cfg) if in_use else dict.fromkeys(GROUP_KEYS)


@functools.cache
def _jax_major() -> str:
    # Cached: reading package metadata costs ~1 ms, 100x the rest of a run id.
    return version("jax").split(".")[0]


def make_run_id(cfg: dict[str, Any], seed: int) -> str:
    """Hash of the resolved config and seed (and numerics). The data file enters by its content
    hash, not its path (moving it keeps the runs); keys added later (`ADDED_KEYS`) are left
    out at their default or blank, so runs that do not use them keep their older ids."""
    cfg = {
        k: v for k, v in cfg.items() if k not in ADDED_KEYS or not (v is None or v == ADDED_KEYS[k])
    }
    cfg.pop("task.path", None)
    cfg.pop("analysis.progress_measures", None)  # what is measured after training, not the run
    payload = json.dumps(
        {"config": cfg, "seed": seed, "numerics": NUMERICS_VERSION, "jax": _jax_major()},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def bucket(n: int) -> int:
    """n rounded up to a multiple of max(8, 2^(bits(n) - 7)): at most 1/64 padding (or 7 rows)."""
    quantum = max(8, 1 << max(0, n.bit_length() - 7))
    return -(-n // quantum) * quantum


def train_pad(cfg: dict[str, Any]) -> int:
    """Rows of the run's padded train set: its train size rounded up to a size bucket, at most
    what its task can supply (`tasks.base.Task.train_pad`).

    A function of the run alone, so resuming or regrouping never changes its numbers. Runs
    whose train sizes share a bucket share a program, the size being a traced mask; the
    bucket keeps each run's cost close to its own data (a modular run with 30% of the pairs
    does not pay for 100%).
    """
    task = TASKS[cfg["task.kind"]]
    return task.train_pad(bucket(task.train_size(cfg)), cfg)


def static_spec(cfg: dict[str, Any]) -> StaticSpec:
    """The static spec of a resolved run config (`resolve`)."""
    task = TASKS[cfg["task.kind"]]
    batch = cfg["optimizer.batch_size"]
    freqs = cfg["model.circular_freqs"]
    pad = train_pad(cfg)
    return StaticSpec(
        task_kind=task.kind,
        task=task.fields(cfg),
        inputs=task.inputs,
        model_kind=cfg["model.kind"],
        input_width=task.input_width(cfg),
        n_classes=task.n_classes(cfg),
        n_eval_examples=task.n_eval_examples(cfg, pad),
        embedding=cfg["model.embedding"],
        circular_freqs=tuple(freqs) if freqs is not None else None,
        embed_dim=cfg["model.embed_dim"],
        combine=cfg["model.combine"],
        hidden=tuple(cfg["model.hidden"] or ()),
        activation=cfg["model.activation"],
        tie_output=bool(cfg["model.tie_output"]),
        bias=cfg["model.bias"],
        init=cfg["model.init"],
        layers=cfg["model.layers"],
        d_model=cfg["model.d_model"],
        heads=cfg["model.heads"],
        d_mlp=cfg["model.d_mlp"],
        layer_norm=cfg["model.layer_norm"],
        optimizer=cfg["optimizer.name"],
        embedding_optimizer=cfg[f"{EMBEDDING_GROUP}.name"],
        batch_size=None if batch == "full" else batch,
        loss=cfg["loss"],
        steps=cfg["train.steps"],
        eval_every=cfg["train.eval_every"],
        precision=cfg["train.precision"],
        save_params_at=tuple(sorted(set(cfg["train.save_params_at"]))),
        train_pad=pad,
        fourier_top_k=cfg["analysis.fourier_top_k"],
        irrelevant_threshold=cfg["analysis.irrelevant_threshold"],
        progress_measures=bool(cfg["analysis.progress_measures"]),
    )


def make_run(cfg: dict[str, Any], seed: int) -> Run:
    """A grid point's run for one seed: its id, resolved config, static spec and traced values
    (one per `config.DYNAMIC_KEYS` key, a parameter group's unset ones inherited)."""
    resolved = resolve(cfg)
    values = {**cfg, **group_values(cfg)}
    traced: dict[str, Any] = {traced_name(key): values[key] for key in DYNAMIC_KEYS}
    if resolved["model.embedding_std"] is None:  # no learned embedding: the factor is unused
        traced["embedding_std"] = 1.0
    n_train = TASKS[cfg["task.kind"]].train_size(cfg)
    hyper = Hyper(**traced, n_train=n_train, seed=seed)
    return Run(make_run_id(resolved, seed), seed, resolved, static_spec(resolved), hyper)


def expand(spec: SweepSpec) -> list[Run]:
    """Every grid point x seed as a Run, in grid order: a list, for small sweeps (tests,
    benchmarks). A sweep is trained through `phasegrok.plan.groups`, which never lists its runs."""
    check_effects(spec)
    runs = [make_run(cfg, seed) for cfg, seed in spec.run_configs()]
    if len({r.run_id for r in runs}) != len(runs):  # check_effects should have said why
        raise ConfigError("grid", "two grid points give the same run")
    return runs


def check_effects(spec: SweepSpec) -> None:
    """Refuse a swept key that has no effect somewhere in the grid (`resolve` blanks or derives
    it there), which would make two grid points the same run. Blanking depends on the static
    keys alone, so the grid's corners (`config.iter_corners`) decide."""
    swept = [k for k, axis in spec.grid.items() if len(axis) > 1]
    if not swept:
        return
    for cfg in iter_corners(spec):
        resolved = resolve(cfg)
        for key in swept:
            if _as_lists(resolved[key]) != _as_lists(cfg[key]):
                axis = spec.grid[key]
                where = f"task.kind {cfg['task.kind']!r}"
                if cfg["model.kind"] != "mlp":
                    where += f" / model.kind {cfg['model.kind']!r}"
                elif "model.embedding" in TASKS[cfg["task.kind"]].keys:  # else none to name
                    where += f" / model.embedding {cfg['model.embedding']!r}"
                raise ConfigError(
                    f"grid.{key}",
                    f"values {short_repr(axis[0])} and {short_repr(axis[1])} give the same run: "
                    f"this key has no effect with {where}",
                )


def _as_lists(value: Any) -> Any:
    return [_as_lists(v) for v in value] if isinstance(value, list | tuple) else value
