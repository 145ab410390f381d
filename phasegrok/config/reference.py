"""Published outcomes to compare a sweep with: the `reference:` table (no JAX).

A reference table is a tidy CSV, one row per grid cell (or per cell and seed, or per cell and
published phase with a `count`), made from the authors' released data or read off a figure
(`sweeps/papers/ref/`). Its columns:

- *grid columns*: every column whose name is a dotted sweep key (`optimizer.weight_decay`,
  `data.train_size`, `model.hidden`): the cell. `compare` matches them with the runs.parquet
  columns of the same name, floats within a relative tolerance.
- `seed` (optional): the published run's seed; rows of one cell are aggregated over it.
- targets: `phase` (the published outcome on phasegrok's phase names), `key_frequencies`
  (space-separated integers, a run's key Fourier frequencies), and any other column is a
  numeric target named after the runs.parquet column it compares with (`t_gen`,
  `final_test_acc`, `lost_generalization`).
- `count` (optional): how many published seeds the row stands for (a row "grok, count 7" is
  seven seeds that grokked; a numeric target is then their aggregate, weighted by the count;
  a blank count is 1).
- `source`: `data` (computed from the authors' released data) or `figure` (read off a figure).
- `rule` (optional): the classification rule the source itself used, one value for the whole
  file, so that phasegrok's runs can be classified like for like: `liu` (Liu et al.'s four
  phases from the first steps train and test accuracy reach 0.9 and a 1e3-step gap), `pair`
  (the PAIR explorable's loss rule) or `accuracy` (phasegrok's accuracy rule, for a figure read
  by accuracy). `Reference.rule` (or `reference_rule(table)`) gives it; None where absent.
- `predicted_<column>` (optional): a formula's prediction of a target (the rules of evidence
  keep it out of the compared columns): read, never compared.
- `note` (optional): free text, ignored.

A sweep names its table with the top-level key `reference: ref/<name>.csv` (relative to the
sweep file's folder); `phasegrok.sweep` checks it when the sweep is loaded and copies it into
the results folder as `reference.csv`, so the folder stays self-contained.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd

from phasegrok.config.schema import PHASES, ClassifySpec
from phasegrok.errors import ConfigError

REFERENCE_FILE = "reference.csv"
META_COLUMNS = ("seed", "count", "source", "rule", "note")
SOURCES = ("data", "figure")
# A reference's `rule`, the rule its source classified by: one of classify's (`ClassifySpec`).
RULES: tuple[str, ...] = get_args(ClassifySpec.model_fields["rule"].annotation)
FREQ_COLUMN = "key_frequencies"
PREDICTED = "predicted_"  # the prefix of a column that holds a formula's prediction
MAX_BYTES = 16 << 20  # a reference is a small table; anything larger is a mistake


class ReferenceError(ValueError):
    """A reference table that cannot be read or used; the message is one line."""


@dataclass(frozen=True)
class Reference:
    """A validated reference table and the role of each of its columns."""

    table: pd.DataFrame
    grid: tuple[str, ...]  # dotted sweep keys: the cell
    numeric: tuple[str, ...]  # numeric targets, named after runs.parquet columns
    has_phase: bool
    has_freqs: bool
    path: Path
    rule: str | None = None  # the `rule` column's one value: what the source classified by

    @property
    def counts(self) -> np.ndarray:
        """Seeds behind each row (the `count` column, else 1)."""
        if "count" not in self.table.columns:
            return np.ones(len(self.table), dtype=int)
        return self.table["count"].fillna(1).to_numpy(dtype=int)


def read_reference(path: str | Path) -> Reference:
    """Read and check a reference table; raise ReferenceError (one line) if unusable."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ReferenceError(f"reference table not found: {path}")
    if path.stat().st_size > MAX_BYTES:
        raise ReferenceError(f"{path}: more than {MAX_BYTES >> 20} MiB; a reference is small")
    try:
        table = pd.read_csv(path, comment="#", dtype={FREQ_COLUMN: str, "source": str, "rule": str})
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise ReferenceError(f"{path}: not a readable CSV ({err})") from None
    if not len(table):
        raise ReferenceError(f"{path}: no rows")
    grid = tuple(c for c in table.columns if "." in c)
    skip = {*META_COLUMNS, *grid, "phase", FREQ_COLUMN}
    # A formula's prediction sits in a `predicted_*` column of its own: kept, never compared.
    numeric = tuple(c for c in table.columns if c not in skip and not c.startswith(PREDICTED))
    has_phase, has_freqs = "phase" in table.columns, FREQ_COLUMN in table.columns
    if not (has_phase or has_freqs or numeric):
        raise ReferenceError(
            f"{path}: no target column; give `phase`, `{FREQ_COLUMN}` or a runs.parquet "
            "column such as t_gen"
        )
    _check_columns(path, table, grid, numeric, has_phase)
    try:
        rule = reference_rule(table)
    except ValueError as err:
        raise ReferenceError(f"{path}: {err}") from None
    return Reference(table, grid, numeric, has_phase, has_freqs, path, rule)


def reference_rule(table: pd.DataFrame) -> str | None:
    """The classification rule a reference table records (its `rule` column: one value, one
    of RULES, in every row), or None if it has no such column; ValueError (one line) else."""
    if "rule" not in table.columns:
        return None
    values = table["rule"]
    found = sorted(set(values.dropna().astype(str)))
    if values.isna().any() or len(found) != 1 or found[0] not in RULES:
        shown = ", ".join(found + (["(blank)"] if values.isna().any() else [])) or "(blank)"
        raise ValueError(
            f"column rule must hold one value for the whole file, one of "
            f"{', '.join(RULES)}; found {shown}"
        )
    return found[0]


def _check_columns(
    path: Path, table: pd.DataFrame, grid: tuple[str, ...], numeric: tuple[str, ...], phase: bool
) -> None:
    for column in grid:
        if table[column].isna().any():
            raise ReferenceError(f"{path}: column {column} has an empty cell")
    if phase:
        bad = sorted(set(table["phase"].dropna().astype(str)) - set(PHASES))
        if bad:
            raise ReferenceError(
                f"{path}: phase {bad[0]!r} is not a phase; allowed: {', '.join(PHASES)}"
            )
    for column in numeric:
        if not pd.api.types.is_numeric_dtype(table[column]):
            raise ReferenceError(f"{path}: column {column} must be numeric (a runs.parquet column)")
    if "count" in table.columns:
        counts = pd.to_numeric(table["count"].fillna(1), errors="coerce")
        if counts.isna().any() or (counts < 1).any() or (counts % 1 != 0).any():
            raise ReferenceError(f"{path}: count must be a whole number >= 1 (blank: 1)")
    if "source" in table.columns:
        bad = sorted(set(table["source"].dropna()) - set(SOURCES))
        if bad:
            raise ReferenceError(f"{path}: source {bad[0]!r}; allowed: {', '.join(SOURCES)}")


def check_reference(value: str, base: Path) -> Path:
    """The sweep key `reference:`: the table's path (relative to `base`, the sweep file's
    folder), read and checked; raise ConfigError naming the key otherwise."""
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        read_reference(path)
    except ReferenceError as err:
        raise ConfigError("reference", str(err)) from None
    return path.resolve()


def copy_reference(source: Path | None, out_dir: Path) -> None:
    """Copy the sweep's reference table into `out_dir` as reference.csv (temp file, rename)."""
    if source is None:
        return
    target = out_dir / REFERENCE_FILE
    if target.exists() and target.resolve() == source.resolve():
        return  # rerunning DIR/sweep.yaml, whose reference is DIR/reference.csv
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{REFERENCE_FILE}.tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
