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
from typing import Any, NamedTuple

from phasegrok.config.arrays import ARRAYS
from phasegrok.config.inputs import short_repr
from phasegrok.config.load import DYNAMIC_KEYS, GROUP_KEYS, ConfigError, SweepSpec, iter_corners
from phasegrok.config.rules import (
    EMBEDDING_GROUP,
    ONE_LOGIT_LOSSES,
    n_examples,
    n_labels,
    parity_inputs_hold,
    train_size,
)
from phasegrok.plan.task_fields import ArraysTask, ModularTask, ParityTask, need

# Bump when a change to training alters the numbers a run produces: it changes every run_id,
# so results from the older code are never mixed with new ones on resume.
NUMERICS_VERSION = 4

# Keys that only mean something for one task kind (or one embedding); blanked elsewhere so
# that a run's identity and its row in runs.parquet carry only what decided it.
_MODULAR_ONLY = (
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
    "analysis.fourier_top_k",
    "analysis.progress_measures",
)
_VECTOR_ONLY = ("task.test_size", "data.train_size")  # parity and arrays
_PARITY_ONLY = ("task.n_bits", "task.k", "task.encoding", "analysis.irrelevant_threshold")
# The arrays task's file: its absolute path and content hash, and what it decides of the model
# (the test set's size is recorded in task.test_size).
_ARRAYS_ONLY = ("task.path", "task.sha256", "task.input_dim", "task.n_classes")
_UNUSED = {
    "modular": _VECTOR_ONLY + _PARITY_ONLY + _ARRAYS_ONLY,
    "parity": _MODULAR_ONLY + _ARRAYS_ONLY,
    "arrays": _MODULAR_ONLY + _PARITY_ONLY,
}


@dataclass(frozen=True)
class StaticSpec:
    """What a compiled training program depends on; hashable, one program per distinct value."""

    task_kind: str
    data_path: str | None  # arrays: the .npz file (absolute), read by tasks.batch_data
    data_sha256: str | None  # arrays: its content hash, checked when it is read
    input_dim: int | None  # arrays: width of a flattened example
    classes: int | None  # arrays: C
    op: str | None
    p: int | None
    symmetric: bool | None
    n_bits: int | None
    k: int | None
    test_size: int | None
    encoding: str | None  # parity: pm1 | binary, the values of a clear and a set bit
    embedding: str | None
    circular_freqs: tuple[int, ...] | None
    embed_dim: int | None
    combine: str | None
    hidden: tuple[int, ...]
    activation: str
    tie_output: bool
    bias: bool
    init: str  # torch | lecun: the initializers of the dense layers
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

    @property
    def modular(self) -> ModularTask:
        """The modular task's fields (ValueError for another task kind)."""
        return ModularTask(
            need(self.op, "op"),
            need(self.p, "p"),
            need(self.symmetric, "symmetric"),
            need(self.embedding, "embedding"),
            need(self.embed_dim, "embed_dim"),
            need(self.combine, "combine"),
            self.circular_freqs,
        )

    @property
    def parity(self) -> ParityTask:
        """The parity task's fields (ValueError for another task kind)."""
        return ParityTask(
            need(self.n_bits, "n_bits"),
            need(self.k, "k"),
            need(self.test_size, "test_size"),
            need(self.encoding, "encoding"),
        )

    @property
    def arrays(self) -> ArraysTask:
        """The arrays task's fields (ValueError for another task kind)."""
        return ArraysTask(
            need(self.data_path, "data_path"),
            need(self.data_sha256, "data_sha256"),
            need(self.input_dim, "input_dim"),
            need(self.classes, "classes"),
            need(self.test_size, "test_size"),
        )

    @property
    def n_classes(self) -> int:
        if self.task_kind == "arrays":
            return self.arrays.classes
        if self.task_kind == "modular":
            return n_labels(self.modular.op, self.modular.p)
        return 2

    @property
    def out_dim(self) -> int:
        """Output units: one logit for the binary cross-entropies, else one per class."""
        return 1 if self.loss in ONE_LOGIT_LOSSES else self.n_classes

    @property
    def input_width(self) -> int:
        """Width of a vector task's input (parity's bits, an arrays example)."""
        return self.arrays.input_dim if self.task_kind == "arrays" else self.parity.n_bits

    @property
    def n_evals(self) -> int:
        """Eval points after step 0."""
        return self.steps // self.eval_every

    @property
    def n_eval_examples(self) -> int:
        if self.task_kind == "modular":
            task = self.modular
            return _n_pairs(task.op, task.p, task.symmetric)
        return self.train_pad + need(self.test_size, "test_size")


class Hyper(NamedTuple):
    """Per-run values that vary inside one compiled program (vmapped with a leading run axis)."""

    lr: Any
    weight_decay: Any
    l1: Any  # the L1 penalty's coefficient (optim.add_l1_subgradient)
    b1: Any
    b2: Any
    eps: Any
    momentum: Any
    warmup_steps: Any
    init_scale: Any
    embedding_std: Any  # 1.0 where there is no learned embedding
    # The learned embedding's optimizer settings (`optimizer.embedding.*`, inherited values
    # filled in); the main ones where the run has no embedding group (then unused).
    embedding_lr: Any
    embedding_weight_decay: Any
    embedding_b1: Any
    embedding_b2: Any
    embedding_eps: Any
    embedding_momentum: Any
    n_train: Any
    seed: Any


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
    config: dict[str, Any]  # resolved, flat, dotted keys
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


def _n_pairs(op: str, p: int, symmetric: bool) -> int:
    return n_examples({"task.op": op, "task.p": p, "task.symmetric": symmetric})


def resolve(cfg: dict[str, Any]) -> dict[str, Any]:
    """Blank the keys that do not affect this run, fill in derived ones (embed_dim; the data
    file's path, hash, test size, input width and class count)."""
    data = cfg.get(ARRAYS)
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if key != ARRAYS:
            out[key] = value
        if key == "task.sha256":  # derived keys (not sweep-file keys), next to the file's
            out["task.input_dim"] = out["task.n_classes"] = None
    for key in _UNUSED[cfg["task.kind"]]:
        out[key] = None
    if cfg["task.kind"] == "arrays" and data is not None:
        out["task.path"], out["task.sha256"] = data.path, data.sha256
        out["task.test_size"], out["task.input_dim"] = data.n_test, data.input_dim
        out["task.n_classes"] = data.n_classes
    if cfg["task.kind"] == "modular":
        if cfg["model.embedding"] != "circular":
            out["model.circular_freqs"] = None
        if cfg["model.embedding"] != "learned":
            out["model.embedding_std"] = None
        if cfg["model.embedding"] == "one_hot":
            out["model.embed_dim"] = cfg["task.p"]
        elif cfg["model.embedding"] == "circular":
            out["model.embed_dim"] = 2 * len(cfg["model.circular_freqs"])
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
        cfg["task.kind"] == "modular"
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
    hash, not its path (moving it keeps the runs); the arrays keys, blank elsewhere, are left
    out of other runs, whose ids are those of the versions before the arrays task."""
    cfg = {k: v for k, v in cfg.items() if k not in _ARRAYS_ONLY or (v is not None)}
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
    """Rows of the run's padded train set: its train size rounded up to a size bucket.

    A function of the run alone, so resuming or regrouping never changes its numbers. Runs
    whose train sizes share a bucket share a program, the size being a traced mask; the
    bucket keeps each run's cost close to its own data (a modular run with 30% of the pairs
    does not pay for 100%).
    """
    size = bucket(train_size(cfg))
    if cfg["task.kind"] == "modular":
        return min(size, n_examples(cfg))
    if cfg["task.kind"] == "arrays":  # padding rows repeat real ones (tasks.batch_data)
        return size
    # Parity's padding rows are distinct inputs too (tasks.parity_split): at most what the
    # test set leaves of the 2^n_bits inputs.
    n_bits, n_test = cfg["task.n_bits"], cfg["task.test_size"]
    return size if parity_inputs_hold(size + n_test, n_bits) else (1 << n_bits) - n_test


def static_spec(cfg: dict[str, Any]) -> StaticSpec:
    batch = cfg["optimizer.batch_size"]
    freqs = cfg["model.circular_freqs"]
    return StaticSpec(
        task_kind=cfg["task.kind"],
        data_path=cfg["task.path"],
        data_sha256=cfg["task.sha256"],
        input_dim=cfg["task.input_dim"],
        classes=cfg["task.n_classes"],
        op=cfg["task.op"],
        p=cfg["task.p"],
        symmetric=cfg["task.symmetric"],
        n_bits=cfg["task.n_bits"],
        k=cfg["task.k"],
        test_size=cfg["task.test_size"],
        encoding=cfg["task.encoding"],
        embedding=cfg["model.embedding"],
        circular_freqs=tuple(freqs) if freqs is not None else None,
        embed_dim=cfg["model.embed_dim"],
        combine=cfg["model.combine"],
        hidden=tuple(cfg["model.hidden"]),
        activation=cfg["model.activation"],
        tie_output=bool(cfg["model.tie_output"]),
        bias=cfg["model.bias"],
        init=cfg["model.init"],
        optimizer=cfg["optimizer.name"],
        embedding_optimizer=cfg[f"{EMBEDDING_GROUP}.name"],
        batch_size=None if batch == "full" else batch,
        loss=cfg["loss"],
        steps=cfg["train.steps"],
        eval_every=cfg["train.eval_every"],
        precision=cfg["train.precision"],
        save_params_at=tuple(sorted(set(cfg["train.save_params_at"]))),
        train_pad=train_pad(cfg),
        fourier_top_k=cfg["analysis.fourier_top_k"],
        irrelevant_threshold=cfg["analysis.irrelevant_threshold"],
    )


def make_run(cfg: dict[str, Any], seed: int) -> Run:
    resolved = resolve(cfg)
    embedding_std = resolved["model.embedding_std"]
    hyper = Hyper(
        lr=cfg["optimizer.lr"],
        weight_decay=cfg["optimizer.weight_decay"],
        l1=cfg["optimizer.l1"],
        b1=cfg["optimizer.b1"],
        b2=cfg["optimizer.b2"],
        eps=cfg["optimizer.eps"],
        momentum=cfg["optimizer.momentum"],
        warmup_steps=cfg["optimizer.warmup_steps"],
        init_scale=cfg["model.init_scale"],
        embedding_std=1.0 if embedding_std is None else embedding_std,
        **{traced_name(k): v for k, v in group_values(cfg).items() if k in DYNAMIC_KEYS},
        n_train=train_size(cfg),
        seed=seed,
    )
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
                if cfg["task.kind"] == "modular":  # parity has no embedding to name
                    where += f" / model.embedding {cfg['model.embedding']!r}"
                raise ConfigError(
                    f"grid.{key}",
                    f"values {short_repr(axis[0])} and {short_repr(axis[1])} give the same run: "
                    f"this key has no effect with {where}",
                )


def _as_lists(value: Any) -> Any:
    return [_as_lists(v) for v in value] if isinstance(value, list | tuple) else value
