"""Arrays from a file: any classification data set as an .npz of x_train, y_train, x_test, y_test
(`phasegrok.tasks.arrays_file`), read once per batch.

A run trains on the first `data.train_size` of its seed's order of x_train and is tested on
all of x_test, shared by every run. The file enters a run by its content hash, not its path, so
moving it keeps the runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from phasegrok.errors import ConfigError
from phasegrok.tasks import arrays_file
from phasegrok.tasks.arrays_file import ARRAYS, ArraysFile
from phasegrok.tasks.base import NO_LENS, Config, TaskData, example_order, train_mask


class ArraysFields(NamedTuple):
    """What an arrays run's data depend on (`plan.StaticSpec.task`)."""

    path: str  # the .npz file (absolute)
    sha256: str  # its content hash, checked when it is read
    input_dim: int  # width of a flattened example
    n_classes: int  # C
    test_size: int  # examples of x_test


def _file(cfg: Config) -> ArraysFile:
    """The run's data file: as a sweep carries it (`ARRAYS`), or as a resolved run records it."""
    data: ArraysFile | None = cfg.get(ARRAYS)
    if data is not None:
        return data
    if cfg.get("task.sha256") is None or cfg.get("task.n_classes") is None:
        raise ConfigError(
            "task.path",
            "task.kind arrays needs a data file: an .npz holding x_train, y_train, x_test, y_test",
        )
    return ArraysFile(
        cfg["task.path"],
        cfg["task.sha256"],
        n_train=-1,  # not recorded with a run: its train size is checked at load
        n_test=cfg["task.test_size"],
        input_dim=cfg["task.input_dim"],
        n_classes=cfg["task.n_classes"],
    )


class Arrays:
    """The arrays task kind (`phasegrok.tasks.base.Task`)."""

    kind = "arrays"
    # task.input_dim and task.n_classes are not sweep keys: what the file decides of the model,
    # recorded with each run (`derived`).
    keys: tuple[str, ...] = (
        "task.test_size",
        "data.train_size",
        "task.path",
        "task.sha256",
        "task.input_dim",
        "task.n_classes",
    )
    size_key = "data.train_size"
    inputs = "vectors"
    shares_test = True
    test_is_all = False
    lens = NO_LENS

    def fields(self, cfg: Config) -> ArraysFields:
        data = _file(cfg)
        return ArraysFields(data.path, data.sha256, data.input_dim, data.n_classes, data.n_test)

    def check(self, cfg: Config) -> None:
        data = _file(cfg)
        size = cfg["data.train_size"]
        if not 1 <= size <= data.n_train:
            raise ConfigError(
                "data.train_size",
                f"must be in 1 .. {data.n_train}, the examples of x_train in {data.path} "
                f"(got {size})",
            )
        if cfg["model.tie_output"]:
            raise ConfigError(
                "model.tie_output", "only for task.kind modular (arrays has no embedding)"
            )

    def derived(self, cfg: Config) -> dict[str, Any]:
        """The file's path and hash, and what it decides: test size, input width, classes."""
        data: ArraysFile | None = cfg.get(ARRAYS)
        if data is None:
            return {}
        return {
            "task.path": data.path,
            "task.sha256": data.sha256,
            "task.test_size": data.n_test,
            "task.input_dim": data.input_dim,
            "task.n_classes": data.n_classes,
        }

    def train_size(self, cfg: Config) -> int:
        return int(cfg["data.train_size"])

    def train_pad(self, rows: int, cfg: Config) -> int:
        return rows  # padding rows repeat real ones (`batch_data`)

    def n_classes(self, cfg: Config) -> int:
        return _file(cfg).n_classes

    def input_width(self, cfg: Config) -> int:
        return _file(cfg).input_dim

    def n_eval_examples(self, cfg: Config, train_pad: int) -> int:
        return train_pad + _file(cfg).n_test

    def batch_data(
        self, fields: ArraysFields, train_pad: int, seeds: Sequence[int], n_trains: Sequence[int]
    ) -> TaskData[np.ndarray]:
        data = arrays_file.load(fields.path, fields.sha256)
        n = len(data.y_train)
        # A run's padding rows (masked) repeat its real ones where the file has no more examples.
        rows = {seed: np.resize(example_order(seed, n)[:train_pad], train_pad) for seed in seeds}
        return TaskData(
            np.stack([data.x_train[rows[seed]] for seed in seeds]),
            np.stack([data.y_train[rows[seed]] for seed in seeds]),
            np.stack([train_mask(n_train, train_pad) for n_train in n_trains]),
            data.x_test,
            data.y_test,
            np.ones((len(seeds), len(data.y_test)), dtype=np.float32),
        )


ARRAYS_TASK = Arrays()
