"""What a schema field declares besides its type and default (`config.schema`): whether its key
is traced per run (`Traced`), what it means and how figures label it (`Doc`), whether it was
added after run ids were first made (`Added`), and which model kinds read it (`ReadBy`). Each is
read off the schema by one function of `config.schema` (`traced`, `doc`, `added_defaults`) or
`config.model` (`model_unread_keys`), never listed a second time. `Section` is the base of the
schema's sections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A section of the sweep file: frozen, no unknown keys. NaN and infinity are refused
    everywhere: no rule or estimate means anything with them."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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


@dataclass(frozen=True)
class Added:
    """Declared on a run key added after run ids were first made (`plan.make_run_id`): a run
    at its default, or blank (None) where its kind does not read it, leaves it out of its id,
    so the runs of folders written before the key keep their ids and are not trained again.
    Every run key added from now on is declared so. `by`: what added it."""

    by: str


@dataclass(frozen=True)
class ReadBy:
    """Declared on a `model.*` key that only some model kinds read (`model.kind`): blank (None)
    in the runs of the other kinds (`plan.resolve`), as a task kind's own keys are blank in the
    other task kinds' runs, so that a run's id and its row hold only what decided it. A model
    key without it is read by every model kind."""

    models: tuple[str, ...]


MLP_ONLY = ReadBy(("mlp",))
TRANSFORMER_ONLY = ReadBy(("transformer",))


@dataclass(frozen=True)
class Doc:
    """Declared on a run key's field: what it means and its unit (its column in runs.parquet,
    `store.columns`), and its axis label and short name in figures (`report.grid`; the key
    itself, or its last part, where none is given)."""

    meaning: str
    unit: str = ""
    label: str = ""
    short: str = ""


def group_meaning(name: str) -> str:
    return (
        f"the learned embedding's own {name} as trained (inherited values filled in); "
        "blank where the embedding has no optimizer of its own"
    )
