"""A task kind's fields of a `StaticSpec`, typed: the spec holds every kind's fields, those of
the other kinds None; `StaticSpec.modular`, `.parity` and `.arrays` give one kind's, set."""

from __future__ import annotations

from typing import NamedTuple, TypeVar

_T = TypeVar("_T")


def need(value: _T | None, name: str) -> _T:
    """A `StaticSpec` field that the task kind sets (the other kinds' fields are None)."""
    if value is None:
        raise ValueError(f"StaticSpec.{name} is not set for this task kind")
    return value


class ModularTask(NamedTuple):
    """A modular task's fields of its `StaticSpec`, set (`StaticSpec.modular`)."""

    op: str
    p: int
    symmetric: bool
    embedding: str
    embed_dim: int
    combine: str
    circular_freqs: tuple[int, ...] | None  # the circular embedding's alone


class ParityTask(NamedTuple):
    """A parity task's fields of its `StaticSpec`, set (`StaticSpec.parity`)."""

    n_bits: int
    k: int
    test_size: int
    encoding: str


class ArraysTask(NamedTuple):
    """An arrays task's fields of its `StaticSpec`, set (`StaticSpec.arrays`)."""

    data_path: str
    data_sha256: str
    input_dim: int
    classes: int
    test_size: int
