"""The sweep file's schema: its sections as frozen pydantic models, and the tables of keys
derived from them (which keys exist, which a grid may sweep, which are traced per run).

Defaults live here and nowhere else. `config` validates a file against this schema and
expands its grid; the rules across keys are in `rules`.
"""

from __future__ import annotations

from types import NoneType
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from phasegrok.config.fields import (
    PER_RUN,
    PER_SIZE_BUCKET,
    Added,
    Doc,
    Section,
    Traced,
    group_meaning,
)
from phasegrok.config.model import ModelSpec
from phasegrok.config.rules import EMBEDDING_GROUP
from phasegrok.tasks import TaskKind

# Legend order: healthy to pathological. The classification priority is in the docstring.
# collapse sits beside oscillate: both fit and then lost it, collapse for good.
PHASES: tuple[str, ...] = (
    "comprehend",
    "grok",
    "memorize",
    "oscillate",
    "collapse",
    "confuse",
    "diverge",
)


class ClassifySpec(BaseModel):
    """Thresholds of the phase classification (the sweep file's `classify:` section)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Literal["accuracy", "pair", "liu"] = Field(
        "accuracy",
        description="accuracy: thresholds on accuracy; pair: PAIR's loss rule; liu: Liu et "
        "al.'s four phases",
    )
    threshold: float = Field(0.9, gt=0, le=1, description="accuracy that counts as fit/general")
    spike_factor: float = Field(
        10.0, gt=1, description="a train loss this many times its running min is a relapse"
    )
    spike_floor: float | None = Field(
        None, ge=0, description="loss spikes below this are noise; None: 0.1 x chance loss"
    )
    min_cycles: int = Field(2, ge=1, description="relapses needed for oscillate")
    generalized: Literal["final", "ever"] = Field(
        "final",
        description="memorize unless test accuracy ends (final) or ever got (ever) >= threshold",
    )
    grok_gap: float = Field(1000, ge=0, description="t_gen - t_fit below this (steps): comprehend")
    still_learning_delta: float = Field(
        0.05, ge=0, description="test accuracy rise over the last window that flags a run"
    )
    still_learning_window: float = Field(
        0.1, gt=0, le=1, description="fraction of training at the end checked for a rise"
    )
    pair_fit_loss: float = Field(1e-5, gt=0, description="pair: min train loss above: confuse")
    pair_gen_loss: float = Field(1e-5, gt=0, description="pair: min test loss above: memorize")
    pair_ratio: float = Field(5e4, gt=0, description="pair: max test/train loss below: comprehend")
    pair_loss_scale: float | Literal["per_class"] = Field(
        1.0, description="pair: multiply losses by this; per_class divides by n_classes as PAIR"
    )


MIN_STEP = 1 / 256  # shortest edge cut, in the [0, 1] scale of each axis


class TaskSpec(Section):
    kind: Annotated[TaskKind, Doc("task: modular | parity | arrays", label="task")] = "modular"
    op: Annotated[
        Literal["add", "sub", "mul", "div", "square_sum", "add_integers"],
        Doc("operation: add | sub | mul | div | square_sum | add_integers", label="operation"),
    ] = "add"
    p: Annotated[int, Doc("modulus", label="modulus p", short="p")] = 31
    symmetric: Annotated[bool, Doc("only the pairs a <= b (commutative ops)")] = False
    n_bits: Annotated[int, Doc("input length", unit="bits", label="input bits n")] = 30
    k: Annotated[
        int, Doc("the label is the parity of the first k bits", unit="bits", label="parity order k")
    ] = 3
    test_size: Annotated[
        int,
        Doc(
            "held-out test examples (arrays: all of x_test)",
            unit="count",
            label="test set size (examples)",
        ),
    ] = 2000
    encoding: Annotated[
        Literal["pm1", "binary"],
        Doc("input values: pm1 (set bit -1, clear +1) | binary (1, 0)", label="input encoding"),
    ] = "pm1"
    # arrays: the .npz file (`phasegrok.tasks.arrays_file`), and a hash that pins its content
    path: Annotated[
        str | None,
        Added("the arrays task, #11"),
        Doc("the .npz data file, absolute path", label="data file"),
    ] = None
    sha256: Annotated[
        str | None, Added("the arrays task, #11"), Doc("the data file's content hash (hex)")
    ] = Field(None, pattern=r"^[0-9a-f]{64}$")


class DataSpec(Section):
    train_fraction: Annotated[
        float,
        PER_SIZE_BUCKET,
        Doc(
            "share of all pairs used for training",
            unit="fraction (0-1)",
            label="training fraction",
            short="frac",
        ),
    ] = 0.4
    train_size: Annotated[
        int,
        PER_SIZE_BUCKET,
        Doc("training examples", unit="count", label="training set size (examples)"),
    ] = 1000


class GroupOptimizerSpec(Section):
    """A parameter group's own optimizer settings (`optimizer.embedding`): a key left out (None)
    inherits the main optimizer's value, swept values included (`plan.resolve`)."""

    name: Annotated[
        Literal["adamw", "adam", "sgd"] | None,
        Doc(group_meaning("name"), label="embedding's optimizer"),
    ] = None
    lr: Annotated[
        float | None,
        PER_RUN,
        Doc(group_meaning("lr"), label="embedding's learning rate", short="emb lr"),
    ] = None
    weight_decay: Annotated[
        float | None,
        PER_RUN,
        Doc(group_meaning("weight_decay"), label="embedding's weight decay", short="emb wd"),
    ] = None
    b1: Annotated[float | None, PER_RUN, Doc(group_meaning("b1"))] = None
    b2: Annotated[float | None, PER_RUN, Doc(group_meaning("b2"))] = None
    eps: Annotated[float | None, PER_RUN, Doc(group_meaning("eps"))] = None
    momentum: Annotated[float | None, PER_RUN, Doc(group_meaning("momentum"))] = None


class OptimizerSpec(Section):
    name: Annotated[
        Literal["adamw", "adam", "sgd"], Doc("adamw | adam | sgd", label="optimizer")
    ] = "adamw"
    lr: Annotated[
        float, PER_RUN, Doc("learning rate (peak, after warmup)", label="learning rate", short="lr")
    ] = 1.0e-3
    weight_decay: Annotated[
        float,
        PER_RUN,
        Doc("weight decay (adamw: decoupled; adam, sgd: L2)", label="weight decay", short="wd"),
    ] = 1.0
    l1: Annotated[
        float, PER_RUN, Doc("L1 penalty coefficient on every parameter", label="L1 penalty")
    ] = 0.0
    b1: Annotated[float, PER_RUN, Doc("Adam's first-moment decay")] = 0.9
    b2: Annotated[float, PER_RUN, Doc("Adam's second-moment decay")] = 0.98
    eps: Annotated[float, PER_RUN, Doc("Adam's epsilon")] = 1.0e-8
    momentum: Annotated[float, PER_RUN, Doc("SGD momentum")] = 0.0
    warmup_steps: Annotated[
        int, PER_RUN, Doc("linear learning-rate warmup", unit="steps", label="warmup (steps)")
    ] = 0
    batch_size: Annotated[
        Literal["full"] | int,
        Doc("text: full, or the minibatch size in examples", label="batch size (examples)"),
    ] = "full"
    embedding: GroupOptimizerSpec = GroupOptimizerSpec()


class TrainSpec(Section):
    steps: Annotated[
        int,
        Doc(
            "training steps (the budget)",
            unit="steps",
            label="training budget (steps)",
            short="steps",
        ),
    ] = 5000
    eval_every: Annotated[
        int,
        Doc(
            "steps between eval points (curves' rows)", unit="steps", label="eval interval (steps)"
        ),
    ] = 50
    seeds: Annotated[
        int | tuple[int, ...], Doc("a count n (seeds 0 .. n - 1) or a list of seeds")
    ] = 3
    precision: Annotated[
        Literal["default", "highest"], Doc("matmul precision: default | highest")
    ] = "default"
    save_params_at: Annotated[
        tuple[int, ...], Doc("JSON list: steps whose parameters are kept besides the last")
    ] = ()


class AnalysisSpec(Section):
    """The mechanistic lens (phasegrok.lens.fourier): computed at every eval point."""

    fourier_top_k: Annotated[int, Doc("k of the Fourier lens (top-k share, key frequencies)")] = (
        Field(5, ge=1)
    )
    irrelevant_threshold: Annotated[
        float, Doc("weight above which a unit reads an irrelevant bit")
    ] = Field(0.05, gt=0)
    # Nanda et al.'s restricted / excluded loss at the saved steps (lens.progress_measures), for
    # modular runs with p <= progress.MAX_P. Not sweepable, and not part of a run's id or the
    # sweep's identity: it decides what is measured after training, never the training.
    progress_measures: Annotated[bool, Doc("progress measures on (progress.parquet)")] = True


class PlotSpec(Section):
    x: str = Field(description="the grid key on the figure's x axis")
    y: str = Field(description="the grid key on the figure's y axis")


class RefineSpec(Section):
    """Adaptive refinement after the initial grid (`phasegrok.analysis.refine`)."""

    axes: tuple[str, ...] | None = Field(None, description="grid keys refined; null: the first two")
    rounds: int = Field(3, ge=0, le=100, description="rounds after the initial grid")
    max_runs: int = Field(ge=0, description="runs of all rounds together, seeds included")
    # The resolution asked for: edges shorter than this share of each refined axis (its range
    # in the grid, log10 for a log axis) are not cut. A boundary that keeps showing structure
    # at every scale (the confuse edge) otherwise takes the points of every round.
    min_step: float = Field(
        MIN_STEP, gt=0, lt=1, description="shortest edge cut, as a share of each axis's range"
    )


class SweepFile(Section):
    """The whole sweep file as written, before the grid is expanded."""

    name: str = Field(
        "sweep",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="results go to results/<name>/ unless --out is given",
    )
    task: TaskSpec = Field(TaskSpec(), description="what is learned (run keys task.*)")
    data: DataSpec = Field(DataSpec(), description="the train set's size (data.*)")
    model: ModelSpec = Field(
        ModelSpec(), description="the model: an MLP or a transformer (model.*)"
    )
    optimizer: OptimizerSpec = Field(OptimizerSpec(), description="how it trains (optimizer.*)")
    # binary_cross_entropy: one output logit z, sigmoid cross-entropy; 2-class tasks only.
    # binary_cross_entropy_clipped: the same with sigmoid(z) clipped to [1e-7, 1 - 1e-7]
    # (PAIR's sparse-parity head: no gradient from an example past the clip).
    loss: Annotated[
        Literal["cross_entropy", "mse", "binary_cross_entropy", "binary_cross_entropy_clipped"],
        Doc(
            "cross_entropy | mse | binary_cross_entropy | binary_cross_entropy_clipped",
            label="loss",
        ),
    ] = "cross_entropy"
    train: TrainSpec = Field(TrainSpec(), description="budget, evaluation, seeds (train.*)")
    analysis: AnalysisSpec = Field(AnalysisSpec(), description="the mechanistic lens")
    grid: dict[str, Any] = Field({}, description="axes: dotted run key -> list, range, sampler")
    # The seed of the sampled axes' draws (`config.sampling`): the same seed, the same points.
    grid_seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of the sampled axes' draws")
    classify: ClassifySpec = Field(ClassifySpec(), description="phase thresholds and rule")
    plots: tuple[PlotSpec, ...] = Field((), description="axis pairs drawn; []: first two axes")
    refine: RefineSpec | None = Field(None, description="adaptive refinement rounds; null: none")
    # A published outcome to compare with (`config.reference`): a CSV path, relative to the
    # sweep file's folder; the sweep copies it into its results folder as reference.csv.
    reference: str | None = Field(None, description="a published outcome's CSV, for compare")


# The sections that describe one run; `grid` keys are dotted paths into these.
RUN_SECTIONS = ("task", "data", "model", "optimizer", "loss", "train", "analysis")
# The data file is read (and hashed) once per sweep load: one file per sweep.
NOT_SWEEPABLE = {
    "train.seeds",
    "train.save_params_at",
    "task.path",
    "task.sha256",
    "analysis.progress_measures",
}


def leaf_keys(model: type[BaseModel], prefix: str) -> list[str]:
    """Every dotted key under `model`, each prefixed with `prefix`."""
    keys = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys += leaf_keys(sub, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


RUN_KEYS: tuple[str, ...] = tuple(
    k for k in leaf_keys(SweepFile, "") if k.split(".")[0] in RUN_SECTIONS
)
SWEEPABLE_KEYS: tuple[str, ...] = tuple(k for k in RUN_KEYS if k not in NOT_SWEEPABLE)


def key_annotation(key: str) -> Any:
    """The type of a dotted key's values, at any depth; a nullable key's (a parameter group's,
    None: inherited) without its None."""
    fields = key.split(".")
    annotation: Any = SweepFile  # a section's model class, down to the key's own annotation
    for name in fields:
        annotation = annotation.model_fields[name].annotation
    rest = [a for a in get_args(annotation) if a is not NoneType]
    return rest[0] if NoneType in get_args(annotation) and len(rest) == 1 else annotation


# Keys of real numbers: their `{linspace|logspace: ...}` axes stay lazy, of any length.
REAL_KEYS = frozenset(k for k in SWEEPABLE_KEYS if key_annotation(k) is float)
# The learned embedding's own optimizer settings (`optimizer.embedding.*`), each None or set.
GROUP_KEYS = tuple(f"{EMBEDDING_GROUP}.{name}" for name in GroupOptimizerSpec.model_fields)


def _metadata(key: str) -> list[Any]:
    *sections, name = key.split(".")
    model: Any = SweepFile
    for section in sections:
        model = model.model_fields[section].annotation
    return list(model.model_fields[name].metadata)


def doc(key: str) -> Doc | None:
    """A run key's `Doc` declaration, or None."""
    found = [m for m in _metadata(key) if isinstance(m, Doc)]
    return found[0] if found else None


def added_defaults() -> dict[str, Any]:
    """The keys declared `Added`, with their defaults: left out of a run's id at those."""
    out = {}
    for key in RUN_KEYS:
        if any(isinstance(m, Added) for m in _metadata(key)):
            *sections, name = key.split(".")
            model: Any = SweepFile
            for section in sections:
                model = model.model_fields[section].annotation
            out[key] = model.model_fields[name].default
    return out


def traced(key: str) -> Traced | None:
    """How a dotted key is traced (its field's `Traced` declaration), or None: static."""
    found = [m for m in _metadata(key) if isinstance(m, Traced)]
    return found[0] if found else None


# Keys traced per run, read off the schema's declarations (the plan.Hyper fields named by
# plan.traced_name: `optimizer.embedding.lr` is `embedding_lr`), and the keys of the train-set
# size (traced within a size bucket). The other swept keys change the program, and their
# combinations are checked one by one, up to MAX_SHAPE_GROUPS of them.
DYNAMIC_KEYS = tuple(k for k in RUN_KEYS if (t := traced(k)) is not None and t.within == "run")
SIZE_KEYS = tuple(k for k in RUN_KEYS if (t := traced(k)) is not None and t.within != "run")
# The keys a grid may sample at random: every drawn point shares its shape group's program.
SAMPLEABLE_KEYS = (*DYNAMIC_KEYS, *SIZE_KEYS)

# Each shape group is compiled on its own (seconds each): more is a mistake, not a sweep.
MAX_SHAPE_GROUPS = 10_000
# Integers become 32-bit inside JAX, and bound every size computed from them; a parity input
# of n_bits bits means 2**n_bits distinct inputs, a number that must stay cheap to compute.
MAX_INT = 2**31 - 1
MAX_INT_OF = {"task.n_bits": 65_536}
