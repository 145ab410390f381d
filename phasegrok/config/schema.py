"""The sweep file's schema: its sections as frozen pydantic models, and the tables of keys
derived from them (which keys exist, which a grid may sweep, which are traced per run).

Defaults live here and nowhere else. `config` validates a file against this schema and
expands its grid; the rules across keys are in `rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import NoneType
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

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

    rule: Literal["accuracy", "pair"] = Field(
        "accuracy", description="accuracy: thresholds on accuracy; pair: PAIR's loss rule"
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


@dataclass(frozen=True)
class Traced:
    """Declared on a schema field: the key is traced (a value per run on the run axis of one
    compiled program), not static (a change of it is another program). `within`: "run" for any
    value, "size bucket" for the train-set size (traced among runs whose train sets pad to the
    same rows). Every rule on a traced key is an interval, so a grid is valid for all its values
    once it is at their smallest and largest: a traced axis may be of any length."""

    within: Literal["run", "size bucket"] = "run"


PER_RUN = Traced("run")
PER_SIZE_BUCKET = Traced("size bucket")


class _Section(BaseModel):
    # NaN and infinity are refused everywhere: no rule or estimate means anything with them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TaskSpec(_Section):
    kind: TaskKind = "modular"
    op: Literal["add", "sub", "mul", "div", "square_sum", "add_integers"] = "add"
    p: int = 31
    symmetric: bool = False
    n_bits: int = 30
    k: int = 3
    test_size: int = 2000
    encoding: Literal["pm1", "binary"] = "pm1"
    path: str | None = None  # arrays: the .npz file (phasegrok.tasks.arrays_file)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")  # arrays: pins the content


class DataSpec(_Section):
    train_fraction: Annotated[float, PER_SIZE_BUCKET] = 0.4
    train_size: Annotated[int, PER_SIZE_BUCKET] = 1000


class ModelSpec(_Section):
    embedding: Literal["learned", "one_hot", "circular"] = "learned"
    circular_freqs: tuple[int, ...] = (1, 2, 3)
    embed_dim: int = 64
    combine: Literal["concat", "sum"] = "concat"
    hidden: tuple[int, ...] = (128,)
    activation: Literal["relu", "gelu", "tanh", "quadratic"] = "relu"
    tie_output: bool = False
    bias: bool = True
    init: Literal["torch", "lecun"] = "torch"
    embedding_std: Annotated[float, PER_RUN] = 1.0
    init_scale: Annotated[float, PER_RUN] = 1.0


class GroupOptimizerSpec(_Section):
    """A parameter group's own optimizer settings (`optimizer.embedding`): a key left out (None)
    inherits the main optimizer's value, swept values included (`plan.resolve`)."""

    name: Literal["adamw", "adam", "sgd"] | None = None
    lr: Annotated[float | None, PER_RUN] = None
    weight_decay: Annotated[float | None, PER_RUN] = None
    b1: Annotated[float | None, PER_RUN] = None
    b2: Annotated[float | None, PER_RUN] = None
    eps: Annotated[float | None, PER_RUN] = None
    momentum: Annotated[float | None, PER_RUN] = None


class OptimizerSpec(_Section):
    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: Annotated[float, PER_RUN] = 1.0e-3
    weight_decay: Annotated[float, PER_RUN] = 1.0
    l1: Annotated[float, PER_RUN] = 0.0
    b1: Annotated[float, PER_RUN] = 0.9
    b2: Annotated[float, PER_RUN] = 0.98
    eps: Annotated[float, PER_RUN] = 1.0e-8
    momentum: Annotated[float, PER_RUN] = 0.0
    warmup_steps: Annotated[int, PER_RUN] = 0
    batch_size: Literal["full"] | int = "full"
    embedding: GroupOptimizerSpec = GroupOptimizerSpec()


class TrainSpec(_Section):
    steps: int = 5000
    eval_every: int = 50
    seeds: int | tuple[int, ...] = 3
    precision: Literal["default", "highest"] = "default"
    save_params_at: tuple[int, ...] = ()


class AnalysisSpec(_Section):
    """The mechanistic lens (phasegrok.lens.fourier): computed at every eval point."""

    fourier_top_k: int = Field(5, ge=1)
    irrelevant_threshold: float = Field(0.05, gt=0)
    # Nanda et al.'s restricted / excluded loss at the saved steps (lens.progress_measures), for
    # modular runs with p <= progress.MAX_P. Not sweepable, and not part of a run's id or the
    # sweep's identity: it decides what is measured after training, never the training.
    progress_measures: bool = True


class PlotSpec(_Section):
    x: str
    y: str


class RefineSpec(_Section):
    """Adaptive refinement after the initial grid (`phasegrok.analysis.refine`)."""

    axes: tuple[str, ...] | None = None  # default: the first two grid axes
    rounds: int = Field(3, ge=0, le=100)
    max_runs: int = Field(ge=0)  # all rounds together, seeds included
    # The resolution asked for: edges shorter than this share of each refined axis (its range
    # in the grid, log10 for a log axis) are not cut. A boundary that keeps showing structure
    # at every scale (the confuse edge) otherwise takes the points of every round.
    min_step: float = Field(MIN_STEP, gt=0, lt=1)


class SweepFile(_Section):
    """The whole sweep file as written, before the grid is expanded."""

    name: str = Field("sweep", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    task: TaskSpec = TaskSpec()
    data: DataSpec = DataSpec()
    model: ModelSpec = ModelSpec()
    optimizer: OptimizerSpec = OptimizerSpec()
    # binary_cross_entropy: one output logit z, sigmoid cross-entropy; 2-class tasks only.
    # binary_cross_entropy_clipped: the same with sigmoid(z) clipped to [1e-7, 1 - 1e-7]
    # (PAIR's sparse-parity head: no gradient from an example past the clip).
    loss: Literal[
        "cross_entropy", "mse", "binary_cross_entropy", "binary_cross_entropy_clipped"
    ] = "cross_entropy"
    train: TrainSpec = TrainSpec()
    analysis: AnalysisSpec = AnalysisSpec()
    grid: dict[str, Any] = {}
    # The seed of the sampled axes' draws (`config.sampling`): the same seed, the same points.
    grid_seed: int = Field(0, ge=0, le=2**31 - 1)
    classify: ClassifySpec = ClassifySpec()
    plots: tuple[PlotSpec, ...] = ()
    refine: RefineSpec | None = None
    # A published outcome to compare with (`config.reference`): a CSV path, relative to the
    # sweep file's folder; the sweep copies it into its results folder as reference.csv.
    reference: str | None = None


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


def traced(key: str) -> Traced | None:
    """How a dotted key is traced (its field's `Traced` declaration), or None: static."""
    *sections, name = key.split(".")
    model: Any = SweepFile
    for section in sections:
        model = model.model_fields[section].annotation
    found = [m for m in model.model_fields[name].metadata if isinstance(m, Traced)]
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
