"""Sweep files: parse, validate and resolve, in pure Python (no JAX).

A sweep file is YAML with the sections below. Everything a run needs is validated here, before
JAX is imported, so a typo costs a second rather than a compile. Every failure is a
`ConfigError` naming the dotted key at fault and what is allowed.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from phasegrok.classify import ClassifySpec
from phasegrok.lens import n_frequencies


class ConfigError(ValueError):
    """Bad input: `key` is the dotted path at fault, `message` says what is allowed."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskSpec(_Section):
    kind: Literal["modular", "parity"] = "modular"
    op: Literal["add", "sub", "mul", "div", "square_sum"] = "add"
    p: int = 31
    symmetric: bool = False
    n_bits: int = 30
    k: int = 3
    test_size: int = 2000


class DataSpec(_Section):
    train_fraction: float = 0.4
    train_size: int = 1000


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
    embedding_std: float = 1.0
    init_scale: float = 1.0


class OptimizerSpec(_Section):
    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = 1.0e-3
    weight_decay: float = 1.0
    b1: float = 0.9
    b2: float = 0.98
    eps: float = 1.0e-8
    momentum: float = 0.0
    warmup_steps: int = 0
    batch_size: Literal["full"] | int = "full"


class TrainSpec(_Section):
    steps: int = 5000
    eval_every: int = 50
    seeds: int | tuple[int, ...] = 3
    precision: Literal["default", "highest"] = "default"
    save_params_at: tuple[int, ...] = ()


class AnalysisSpec(_Section):
    """The mechanistic lens (phasegrok.lens): computed at every eval point."""

    fourier_top_k: int = Field(5, ge=1)
    irrelevant_threshold: float = Field(0.05, gt=0)


class PlotSpec(_Section):
    x: str
    y: str


class SweepFile(_Section):
    """The whole sweep file as written, before the grid is expanded."""

    name: str = Field("sweep", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    task: TaskSpec = TaskSpec()
    data: DataSpec = DataSpec()
    model: ModelSpec = ModelSpec()
    optimizer: OptimizerSpec = OptimizerSpec()
    loss: Literal["cross_entropy", "mse"] = "cross_entropy"
    train: TrainSpec = TrainSpec()
    analysis: AnalysisSpec = AnalysisSpec()
    grid: dict[str, Any] = {}
    classify: ClassifySpec = ClassifySpec()
    plots: tuple[PlotSpec, ...] = ()


# The sections that describe one run; `grid` keys are dotted paths into these.
RUN_SECTIONS = ("task", "data", "model", "optimizer", "loss", "train", "analysis")
NOT_SWEEPABLE = {"train.seeds", "train.save_params_at"}
COMMUTATIVE_OPS = {"add", "mul", "square_sum"}


def _leaf_keys(model: type[BaseModel], prefix: str) -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys += _leaf_keys(sub, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


RUN_KEYS: tuple[str, ...] = tuple(
    k for k in _leaf_keys(SweepFile, "") if k.split(".")[0] in RUN_SECTIONS
)
SWEEPABLE_KEYS: tuple[str, ...] = tuple(k for k in RUN_KEYS if k not in NOT_SWEEPABLE)


class SweepSpec(BaseModel):
    """A validated sweep: the file as written plus its grid expanded to plain value lists."""

    model_config = ConfigDict(frozen=True)

    file: SweepFile
    grid: dict[str, tuple[Any, ...]]
    seeds: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.file.name

    def run_configs(self) -> Iterator[tuple[dict[str, Any], int]]:
        """Yield (flat resolved config, seed) for every grid point x seed, grid order first."""
        base = flatten(self.file.model_dump(include=set(RUN_SECTIONS)))
        axes = list(self.grid)
        for values in itertools.product(*(self.grid[k] for k in axes)):
            point = {**base, **dict(zip(axes, values, strict=True))}
            for seed in self.seeds:
                yield point, seed

    def n_runs(self) -> int:
        return math.prod(len(v) for v in self.grid.values()) * len(self.seeds)

    def identity(self) -> str:
        """Hash of everything that decides the runs except grid values, seeds, classify, plots.

        Two sweep files with the same identity may share a results folder (one extends the
        other); a swept key counts by name only, so adding values to an axis keeps the identity.
        """
        run_part = flatten(self.file.model_dump(mode="json", include=set(RUN_SECTIONS)))
        run_part = {k: "<swept>" if k in self.grid else v for k, v in run_part.items()}
        del run_part["train.seeds"]
        payload = json.dumps(run_part, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def resolved_dict(self) -> dict[str, Any]:
        """The sweep as YAML-ready data, with the grid as explicit lists."""
        out = _plain(self.file.model_dump(mode="json"))
        out["grid"] = {k: _plain(list(v)) for k, v in self.grid.items()}
        out["train"]["seeds"] = list(self.seeds)
        return out


# --------------------------------------------------------------------------------------------
# Flat dotted dictionaries


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------
# Loading


def read_sweep_file(path: str | Path) -> dict[str, Any]:
    """Read a sweep YAML into a dict, turning every failure into one ConfigError line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("", f"sweep file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError("", f"invalid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError("", f"{path} is not a text file") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("", f"{path}: the top level must be a mapping of sections")
    return data


def load_sweep(source: str | Path | Mapping[str, Any]) -> SweepSpec:
    """Validate a sweep (a YAML path or an already parsed dict) and expand its grid.

    Raises ConfigError for any bad input; never imports JAX.
    """
    raw = dict(source) if isinstance(source, Mapping) else read_sweep_file(source)
    sweep_file = _validate_model(SweepFile, raw)
    grid = {key: _expand_axis(key, spec) for key, spec in sweep_file.grid.items()}
    seeds = _resolve_seeds(sweep_file.train.seeds)
    _check_plots(sweep_file, grid)
    spec = SweepSpec(file=sweep_file, grid=grid, seeds=seeds)
    _check_points(spec)
    return spec


def _validate_model(model: type[BaseModel], raw: Any, prefix: str = "") -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise _to_config_error(err, prefix) from None


def _to_config_error(err: ValidationError, prefix: str = "") -> ConfigError:
    first = err.errors()[0]
    loc = [str(part) for part in first["loc"] if not _is_union_tag(part)]
    key = prefix + ".".join(loc)
    if first["type"] == "extra_forbidden":
        return ConfigError(key, _unknown_key_message(key))
    got = first.get("input")
    message = first["msg"]
    if first["type"] not in ("missing",) and not isinstance(got, dict | list):
        message += f" (got {got!r})"
    return ConfigError(key, message)


def _is_union_tag(part: Any) -> bool:
    # pydantic inserts the union member's type name into `loc` (e.g. 'int', 'literal[...]').
    return isinstance(part, str) and (
        part in {"int", "str", "float", "bool"} or part.startswith(("literal[", "tuple["))
    )


def _unknown_key_message(key: str) -> str:
    parent, _, leaf = key.rpartition(".")
    siblings = _children(parent)
    hint = difflib.get_close_matches(leaf, siblings, n=1)
    suggestion = f" (did you mean '{parent + '.' if parent else ''}{hint[0]}'?)" if hint else ""
    return f"unknown key{suggestion}; allowed here: {', '.join(siblings)}"


def _children(parent: str) -> list[str]:
    all_keys = _leaf_keys(SweepFile, "")
    depth = parent.count(".") + 1 if parent else 0
    prefix = parent + "." if parent else ""
    names = {k.split(".")[depth] for k in all_keys if k.startswith(prefix)}
    if parent == "classify":
        names = set(ClassifySpec.model_fields)
    if parent.startswith("plots"):
        names = set(PlotSpec.model_fields)
    return sorted(names)


def _resolve_seeds(seeds: int | tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(
                "train.seeds", f"must be a count >= 1 or a list of seeds (got {seeds})"
            )
        return tuple(range(seeds))
    if not seeds:
        raise ConfigError("train.seeds", "the list of seeds is empty")
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError("train.seeds", f"seeds must be distinct non-negative ints (got {seeds})")
    return tuple(seeds)


def _expand_axis(key: str, spec: Any) -> tuple[Any, ...]:
    where = f"grid.{key}"
    if key not in SWEEPABLE_KEYS:
        if key in NOT_SWEEPABLE:
            raise ConfigError(where, "cannot be swept (set it under train: instead)")
        hint = difflib.get_close_matches(key, SWEEPABLE_KEYS, n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ConfigError(
            where, f"not a known dotted path{suggestion}; sweepable keys: {', '.join(RUN_KEYS)}"
        )
    if isinstance(spec, Mapping):
        if len(spec) != 1 or next(iter(spec)) not in ("logspace", "linspace"):
            raise ConfigError(
                where, "a grid axis is a list, {logspace: [lo, hi, n]} or {linspace: [lo, hi, n]}"
            )
        kind, args = next(iter(spec.items()))
        if (
            not isinstance(args, list | tuple)
            or len(args) != 3
            or not all(isinstance(a, int | float) and not isinstance(a, bool) for a in args)
            or not isinstance(args[2], int)
        ):
            raise ConfigError(
                f"{where}.{kind}", f"expects [lo, hi, n] with an integer n (got {args!r})"
            )
        lo, hi, n = args
        if n < 1:
            raise ConfigError(f"{where}.{kind}", f"n must be >= 1 (got {n})")
        steps = [lo + (hi - lo) * i / (n - 1) for i in range(n)] if n > 1 else [lo]
        values = [10.0**s if kind == "logspace" else s for s in steps]
        # 12 significant digits: 1e-2 rather than 0.010000000000000002 in every table.
        values = [float(f"{v:.12g}") for v in values]
    elif isinstance(spec, list | tuple):
        values = list(spec)
    else:
        raise ConfigError(
            where, f"a grid axis is a list or {{logspace|linspace: [lo, hi, n]}} (got {spec!r})"
        )
    if not values:
        raise ConfigError(where, "the grid axis is empty; give at least one value")
    section, *rest = key.split(".")
    model = SweepFile.model_fields[section].annotation
    checked = []
    for value in values:
        raw = value if not rest else unflatten({".".join(rest): value})
        if not rest:
            _validate_model(SweepFile, {section: value}, prefix="grid.")
            checked.append(value)
            continue
        parsed = _validate_model(model, raw, prefix=f"grid.{section}.")
        checked.append(getattr(parsed, rest[-1]) if len(rest) == 1 else value)
    normalised = tuple(_plain(v) if isinstance(v, list | tuple) else v for v in checked)
    hashable = [tuple(v) if isinstance(v, list) else v for v in normalised]
    if len(set(hashable)) != len(hashable):
        raise ConfigError(where, f"the grid axis repeats a value: {list(values)}")
    return tuple(tuple(v) if isinstance(v, list) else v for v in normalised)


def _check_plots(sweep_file: SweepFile, grid: Mapping[str, Any]) -> None:
    for i, plot in enumerate(sweep_file.plots):
        for axis in ("x", "y"):
            key = getattr(plot, axis)
            if key not in grid:
                swept = ", ".join(grid) or "none"
                raise ConfigError(
                    f"plots[{i}].{axis}", f"'{key}' is not a swept axis; swept: {swept}"
                )


# --------------------------------------------------------------------------------------------
# Rules across keys, checked on every grid point


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
    if cfg["optimizer.lr"] <= 0:
        raise ConfigError("optimizer.lr", f"must be > 0 (got {cfg['optimizer.lr']})")
    for key in ("optimizer.weight_decay", "optimizer.momentum", "optimizer.warmup_steps"):
        if cfg[key] < 0:
            raise ConfigError(key, f"must be >= 0 (got {cfg[key]})")
    for key in ("optimizer.b1", "optimizer.b2"):
        if not 0 <= cfg[key] < 1:
            raise ConfigError(key, f"must be in [0, 1) (got {cfg[key]})")
    if cfg["optimizer.eps"] <= 0:
        raise ConfigError("optimizer.eps", f"must be > 0 (got {cfg['optimizer.eps']})")
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
    else:
        _check_parity(cfg)
    batch = cfg["optimizer.batch_size"]
    if batch != "full":
        if batch < 1:
            raise ConfigError("optimizer.batch_size", f"'full' or an integer >= 1 (got {batch})")
        if batch > train_size(cfg):
            raise ConfigError(
                "optimizer.batch_size",
                f"{batch} is larger than the training set ({train_size(cfg)} examples)",
            )


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


def _check_points(spec: SweepSpec) -> None:
    """Check every distinct combination of swept values; name the grid key where it helps."""
    seen: set[Any] = set()
    for cfg, _seed in spec.run_configs():
        if _seed != spec.seeds[0]:
            continue
        fingerprint = tuple(cfg[k] for k in spec.grid)
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        try:
            check_run(cfg)
        except ConfigError as err:
            if err.key in spec.grid:
                raise ConfigError(
                    f"grid.{err.key}", f"value {cfg[err.key]!r}: {err.message}"
                ) from None
            raise
