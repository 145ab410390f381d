"""Task kinds: what a run's examples are. One module per kind, each one object meeting
`base.Task` (its keys, rules, counts and host-side data), and one line per kind in `TASKS`.

Below every other layer but `phasegrok.errors`: config checks a run with its kind's rules, plan
sizes it, the engine builds its data, the lens and the report read its facts. NumPy only.

May import: `phasegrok.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from phasegrok.tasks.arrays import ARRAYS_TASK, ArraysFields
from phasegrok.tasks.base import Task
from phasegrok.tasks.modular import MODULAR, ModularFields
from phasegrok.tasks.parity import PARITY, ParityFields

# The registry: a new kind is its module and its object on this line.
TASKS: dict[str, Task[Any]] = {task.kind: task for task in (MODULAR, PARITY, ARRAYS_TASK)}
# `task.kind`'s type in the schema: the registry's names (a type checker sees a str).
if TYPE_CHECKING:
    TaskKind = str
else:
    TaskKind = Literal[tuple(TASKS)]
# A kind's typed fields, what `plan.StaticSpec.task` holds.
TaskFields = ModularFields | ParityFields | ArraysFields


def kinds_reading(key: str) -> tuple[str, ...]:
    """The kinds whose runs read a sweep key: those that own it, or all if none does."""
    owners = tuple(kind for kind, task in TASKS.items() if key in task.keys)
    return owners or tuple(TASKS)


def unread_keys(kind: str) -> frozenset[str]:
    """The keys a run of `kind` does not read: the other kinds' own keys. Blank (None) in its
    config (`plan.resolve`), so that its id and its row in runs.parquet carry only what decided
    it."""
    other = {key for task in TASKS.values() if task.kind != kind for key in task.keys}
    return frozenset(other - set(TASKS[kind].keys))
