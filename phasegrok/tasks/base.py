"""The contract of a task kind, and what the kinds share: the arrays a batch trains on, a seed's
order of examples, the mask of a padded train set.

A task kind is one module holding one object that meets `Task`, and one line in
`phasegrok.tasks.TASKS`. Its rules and counts read one run's resolved flat config (`Config`:
dotted sweep keys, `config.load_sweep`'s expansion); its data are built on the host in NumPy
from its typed fields (`Task.fields`, what `plan.StaticSpec.task` holds), and the engine moves
them to the device.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import numpy as np

# One run's flat config: dotted sweep keys to values (`config.SweepSpec.run_configs`).
Config = Mapping[str, Any]

# A seed's example order and parity's input sequence are distinct streams of one seed (1 and 2
# were parity's former train and test streams).
ORDER_STREAM = 0

# The lens a kind's trained models are read by (`Task.lens`, `phasegrok.lens`): the Fourier lens
# over a cyclic group, the weights on relevant and irrelevant bits, or none known.
FOURIER, BITS, NO_LENS = "fourier", "bits", ""

# TaskData's field type: host arrays (`Task.batch_data`), traced arrays (`engine.training`), or
# a value per field (vmap in_axes, sharding specs, None for a field split off).
_F = TypeVar("_F")
# A task kind's typed fields (`Task.fields`): hashable, one compiled program per distinct value.
Fields = TypeVar("Fields")


class TaskData(NamedTuple, Generic[_F]):
    """Arrays one batch trains on. Leading run axis, except for arrays shared by every run."""

    train_x: _F  # (runs, train_pad, ...) inputs
    train_y: _F  # (runs, train_pad) int labels
    train_w: _F  # (runs, train_pad) 1.0 for real examples, 0.0 for padding
    test_x: _F  # (runs, n_test, ...) or (n_test, ...) if shared
    test_y: _F
    test_w: _F  # (runs, n_test)


class Task(Protocol[Fields]):
    """A task kind: what its examples are, how many there are, and its rules.

    `kind` is its `task.kind` value. `keys`: the sweep keys only this kind reads, blank (None)
    in the other kinds' runs, so that a run's id and its row hold only what decided it.
    `size_key`: the sweep key of its train-set size, traced within a size bucket. `inputs`:
    what its model reads, "pairs" (two tokens, the embedding MLP) or "vectors" (the vector
    MLP). `shares_test`: whether every run of a batch is tested on the same arrays (then
    `TaskData.test_x` / `test_y` have no run axis). `test_is_all`: whether those arrays are
    every example, a run's train set among them where its test weight is 0 (so one forward
    pass evaluates both). `lens`: which lens reads its trained models (FOURIER, BITS, NO_LENS).
    """

    kind: str
    keys: tuple[str, ...]
    size_key: str
    inputs: str
    shares_test: bool
    test_is_all: bool
    lens: str

    def fields(self, cfg: Config) -> Fields:
        """Its typed fields of a resolved run config: what its data depend on."""
        ...

    def check(self, cfg: Config) -> None:
        """Its rules across keys, on one resolved run config. Raises errors.ConfigError."""
        ...

    def derived(self, cfg: Config) -> dict[str, Any]:
        """Keys it fills in or blanks, given the rest of the run config (`plan.resolve`)."""
        ...

    def train_size(self, cfg: Config) -> int:
        """Real train examples of the run."""
        ...

    def train_pad(self, rows: int, cfg: Config) -> int:
        """Rows of the run's padded train set, given its size rounded up to a bucket (`rows`):
        at most what the task can supply."""
        ...

    def n_classes(self, cfg: Config) -> int: ...

    def input_width(self, cfg: Config) -> int:
        """Values of one example's input (a token pair: 2)."""
        ...

    def n_eval_examples(self, cfg: Config, train_pad: int) -> int:
        """Examples one evaluation reads (train and test)."""
        ...

    def batch_data(
        self, fields: Fields, train_pad: int, seeds: Sequence[int], n_trains: Sequence[int]
    ) -> TaskData[np.ndarray]:
        """The train and test arrays of a batch of runs (a seed and a train size per run)."""
        ...


def data_axes(shares_test: bool) -> TaskData[int | None]:
    """vmap in_axes of a batch's TaskData: the run axis first, none on shared test arrays."""
    return TaskData(0, 0, 0, None, None, 0) if shares_test else TaskData(0, 0, 0, 0, 0, 0)


def example_order(seed: int, n: int) -> np.ndarray:
    """The seed's shuffled order of n examples; a run trains on its first n_train."""
    return np.random.default_rng([seed, ORDER_STREAM]).permutation(n)


def train_mask(n_real: int, n_pad: int) -> np.ndarray:
    """1.0 for a padded train set's real rows, 0.0 for its padding (float32)."""
    return (np.arange(n_pad) < n_real).astype(np.float32)
