"""The parts of a results folder: one set of files per finished batch, checked before use.

    parts/<batch>.curves.parquet, parts/<batch>.params.npz, parts/<batch>.runs.parquet

A batch is committed when its runs part exists (store.py writes it last). A committed batch
that cannot be used (a file truncated, empty, of another schema, or missing, as a half-finished
copy or a disk fault leaves it) is damaged: `check_parts` finds it, `quarantine` moves its files
to parts/damaged/, and the sweep trains its runs again. No JAX, no pandas.

Integrity: every parquet file is written with page checksums (`folder.write_table`) and read
through `read_table`, which verifies them, so a flipped byte that would still decode is found; a
file written before checksums has none to verify and reads as before. The members of a params
npz carry zip CRC-32s: the full check (`check_parts(full=True)`) reads them all, `load_params`
raises DamagedError for a member that fails its CRC. Each batch's files are also hashed whole
(SHA-256, parts/<batch>.sha256, `store.integrity`): the full check compares every file, and
each read of a part (`part_rows`, `read_part`, `load_params`) compares the file it reads. A
batch without a record (written before records) is checked by reading it; the full check
returns its hashes (`PartsScan.unrecorded`) for `folder.prepare` to record.

`param_steps` lists the saved parameter steps of each run from the npz names alone.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from phasegrok.store.integrity import (
    RECORD_SUFFIX,
    VERIFY,
    RecordError,
    batch_record,
    digest,
    file_digest,
    read_bytes_checked,
    read_record,
    read_table_checked,
)

PARTS = "parts"
DAMAGED = f"{PARTS}/damaged/"
# A batch's files, the runs part last (its commit marker), and the columns each must have.
SUFFIXES = (".curves.parquet", ".params.npz", ".runs.parquet")
# Written before the runs part where a batch has progress rows (store.progress); optional.
PROGRESS_SUFFIX = ".progress.parquet"
RUNS_COLUMNS = ("run_id", "seed", "n_classes")
CURVES_COLUMNS = ("run_id", "step", "train_loss", "test_loss", "train_acc", "test_acc")
# Every file a batch may have (the record aside), the runs part last.
BATCH_FILES = (".curves.parquet", ".params.npz", PROGRESS_SUFFIX, ".runs.parquet")
# What a damaged parquet file or npz raises when read (a failed checksum is an OSError).
READ_ERRORS = (OSError, EOFError, ValueError, pa.ArrowException, zipfile.BadZipFile)


class OutputError(Exception):
    """The results folder cannot be used (another sweep's results, unwritable, disk full)."""


class WriteError(OutputError):
    """The results folder cannot be written (read-only, disk full): exit status 1."""


class DamagedError(OutputError):
    """A file of the results folder cannot be read; the message says which and what to run."""


def damage_reason(err: BaseException) -> str:
    """What a read of a parquet file that raised `err` says of the file."""
    if "checksum" in str(err).lower():
        return "fails its checksum (a changed byte)"
    return "cannot be read (truncated, or not a parquet file)"


def read_table(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """A parquet file as an Arrow table, its page checksums verified (OSError where one fails)."""
    return pq.read_table(path, columns=columns, **VERIFY)


def recorded_hash(part: Path) -> str | None:
    """The SHA-256 its batch's record holds for `part`; None for a batch without a record.
    RecordError (a ValueError) where the record is damaged."""
    batch_id = part.name.split(".")[0]
    return (read_record(part.with_name(batch_id + RECORD_SUFFIX)) or {}).get(part.name)


def part_files(out_dir: Path, suffix: str) -> list[Path]:
    """The parts of `out_dir` whose names end in `.{suffix}`, sorted."""
    return sorted((out_dir / PARTS).glob(f"*.{suffix}"))


def remove_unfinished(parts: Path, keep: Collection[str] = ()) -> None:
    """Drop what a sweep killed mid-batch left: temporary files, and the curves, params,
    progress and record of batches whose runs part (the commit marker) was never written. The
    files of the batches in `keep` (held by a live worker, `claims.live_claims`) are another
    process's work: kept."""
    for stale in parts.glob(".*.tmp-*"):
        if stale.name[1:].split(".")[0] not in keep:
            stale.unlink(missing_ok=True)
    committed = {p.name.removesuffix(".runs.parquet") for p in parts.glob("*.runs.parquet")}
    for suffix in (".curves.parquet", ".params.npz", PROGRESS_SUFFIX, RECORD_SUFFIX):
        for part in parts.glob(f"*{suffix}"):
            batch_id = part.name.removesuffix(suffix)
            if batch_id not in committed and batch_id not in keep:
                part.unlink(missing_ok=True)


@dataclass(frozen=True)
class Damage:
    """A committed batch that cannot be used: `path` is the file at fault."""

    batch_id: str
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path} {self.reason}"


@dataclass
class PartsScan:
    """The committed batches of a folder: the runs parts of the whole ones, and the damage;
    `unrecorded`: the whole batches without a record (full check only): batch_id -> file
    name -> SHA-256, to record."""

    whole: list[Path] = field(default_factory=list)
    damaged: list[Damage] = field(default_factory=list)
    unrecorded: dict[str, dict[str, str]] = field(default_factory=dict)


def check_parts(out_dir: Path, full: bool = False) -> PartsScan:
    """Every committed batch (runs part present) checked: each of its files present, non-empty,
    readable, with its columns; the runs part read whole (page checksums verified). `full` also
    reads every curves part whole (checksums verified) and matches its runs to the runs part's
    (what assembling will read), and every params member against its CRC-32; without it, a
    curves part is checked from its footer only and a params npz from its directory, which
    finds truncation. Every file read whole is compared with its batch's record (SHA-256)."""
    scan = PartsScan()
    for runs_part in part_files(out_dir, "runs.parquet"):
        batch_id = runs_part.name.removesuffix(".runs.parquet")
        damage = _batch_damage(runs_part, batch_id, full, scan)
        if damage:
            scan.damaged.append(damage)
        else:
            scan.whole.append(runs_part)
    return scan


def _batch_damage(runs_part: Path, batch_id: str, full: bool, scan: PartsScan) -> Damage | None:
    def at(suffix: str) -> Path:
        return runs_part.with_name(batch_id + suffix)

    for suffix in SUFFIXES:
        path = at(suffix)
        if not path.is_file():
            return Damage(batch_id, path, "is missing (its batch is incomplete)")
        if path.stat().st_size == 0:
            return Damage(batch_id, path, "is empty (0 bytes)")
    try:
        record = read_record(batch_record(runs_part))
    except RecordError:
        return Damage(batch_id, batch_record(runs_part), "cannot be read (a changed byte)")
    if record is not None:
        names = {at(suffix).name for suffix in BATCH_FILES}
        for suffix in BATCH_FILES:
            path = at(suffix)
            if path.is_file() != (path.name in record):
                missing = "is missing" if path.name in record else "is not in its record"
                return Damage(batch_id, path, f"{missing} (its batch is incomplete)")
        if not set(record) <= names:
            return Damage(batch_id, batch_record(runs_part), "names other files (a changed byte)")

    def expected(suffix: str) -> str | None:
        return None if record is None else record[at(suffix).name]

    runs_ids = _table_problem(at(".runs.parquet"), RUNS_COLUMNS, expected(".runs.parquet"))
    if isinstance(runs_ids, str):
        return Damage(batch_id, at(".runs.parquet"), runs_ids)
    curves = at(".curves.parquet")
    curves_ids = _table_problem(curves, CURVES_COLUMNS, expected(".curves.parquet"), read=full)
    if isinstance(curves_ids, str):
        return Damage(batch_id, curves, curves_ids)
    if full and curves_ids != runs_ids:
        return Damage(batch_id, curves, "holds other runs than its runs part")
    if full and at(PROGRESS_SUFFIX).is_file():
        try:
            read_table_checked(at(PROGRESS_SUFFIX), expected(PROGRESS_SUFFIX))
        except READ_ERRORS as err:
            return Damage(batch_id, at(PROGRESS_SUFFIX), damage_reason(err))
    problem = _npz_problem(at(".params.npz"), expected(".params.npz"), full)
    if problem is not None:
        return Damage(batch_id, at(".params.npz"), problem)
    if full and record is None:  # a batch written before records: checked, now hashed
        present = [at(suffix) for suffix in BATCH_FILES if at(suffix).is_file()]
        scan.unrecorded[batch_id] = {path.name: file_digest(path) for path in present}
    return None


def _npz_problem(path: Path, expected: str | None, full: bool) -> str | None:
    """What is wrong with a params npz: its directory (and, `full`, its bytes against the
    record and every member against its CRC-32), or None."""
    try:
        data = path.read_bytes() if full else None
        with zipfile.ZipFile(io.BytesIO(data) if data is not None else path) as archive:
            if data is not None and expected is not None and digest(data) != expected:
                return "fails its checksum (a changed byte)"
            bad = archive.testzip() if full else None  # reads every member, checks its CRC
    except READ_ERRORS:
        return "cannot be read (truncated or not an npz)"
    return None if bad is None else f"fails its checksum (member {bad})"


def _table_problem(
    path: Path, columns: tuple[str, ...], expected: str | None, read: bool = True
) -> str | set[str] | None:
    """What is wrong with a parquet part (a reason), else its run_ids (`read`: the file read
    whole, its hash and page checksums checked) or None."""
    try:
        data = path.read_bytes() if read else None
        schema = pq.read_schema(pa.BufferReader(data) if data is not None else path)
        missing = [c for c in columns if c not in schema.names]
        if missing:
            return f"lacks the column(s) {', '.join(missing)} (another schema)"
        if data is None:
            return None
        if expected is not None and digest(data) != expected:
            return "fails its checksum (a changed byte)"
        table = pq.read_table(pa.BufferReader(data), **VERIFY)
    except READ_ERRORS as err:
        return damage_reason(err)
    ids = table.column("run_id")
    if not pa.types.is_string(ids.type) and not pa.types.is_large_string(ids.type):
        return "has run_id values that are not text (another schema)"
    return set(ids.to_pylist())


def quarantine(out_dir: Path, damaged: list[Damage]) -> list[Damage]:
    """Move every file of each damaged batch to parts/damaged/ (replacing an older copy)."""
    target = out_dir / DAMAGED
    for damage in damaged:
        target.mkdir(parents=True, exist_ok=True)
        for suffix in (*BATCH_FILES, RECORD_SUFFIX):
            path = out_dir / PARTS / f"{damage.batch_id}{suffix}"
            if path.exists():
                os.replace(path, target / path.name)
    return damaged


def part_rows(runs_parts: Iterable[Path], columns: list[str]) -> Iterator[dict[str, Any]]:
    """The rows of runs parts as dicts of `columns` (None where a part lacks one), a part at a
    time."""
    for part in runs_parts:
        present = [c for c in columns if c in pq.read_schema(part).names]
        table = read_table_checked(part, recorded_hash(part), columns=present)
        data = {c: table.column(c).to_pylist() for c in present}
        for i in range(table.num_rows):
            yield {c: data[c][i] if c in data else None for c in columns}


def param_steps(out_dir: Path) -> dict[str, list[int]]:
    """run_id -> the steps whose parameters are stored, read from the npz directories only."""
    found: dict[str, set[int]] = {}
    for part in part_files(out_dir, "params.npz"):
        try:
            with np.load(part) as archive:
                names = archive.files
        except (OSError, ValueError):
            continue
        for name in names:
            run_id, step, *_ = name.split("/")
            found.setdefault(run_id, set()).add(int(step))
    return {run_id: sorted(steps) for run_id, steps in found.items()}


def load_params(out_dir: Path, run_id: str, step: int | None = None) -> dict[str, Any]:
    """A run's parameters (nested dict of arrays) at `step` (default: the last saved).

    Raises DamagedError (one line) where its npz cannot be read or a member fails its CRC."""
    for part in part_files(out_dir, "params.npz"):
        try:
            found = _params_from(part, run_id, step)
        except READ_ERRORS as err:
            text = str(err).lower()
            failed = "crc" in text or "checksum" in text
            reason = "fails its checksum" if failed else "cannot be read"
            raise DamagedError(
                f"{part} {reason}; run `python -m phasegrok.sweep {out_dir / 'sweep.yaml'} "
                f"--out {out_dir}` to move its batch to {out_dir / DAMAGED} and train its runs "
                "again"
            ) from None
        if found is not None:
            return found
    raise KeyError(f"no parameters stored for run {run_id}")


# The npz files whose bytes matched their record, by (path, size, mtime): hashed once a process.
_HASHED: set[tuple[str, int, int]] = set()


def check_whole(part: Path) -> None:
    """HashMismatch (an OSError) where a part's bytes are not those its batch's record holds
    (a part without a record passes)."""
    expected = recorded_hash(part)
    if expected is None:
        return
    stat = part.stat()
    key = (str(part), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHED:
        read_bytes_checked(part, expected)
        _HASHED.add(key)


def _params_from(part: Path, run_id: str, step: int | None) -> dict[str, Any] | None:
    """`load_params` from one npz; None where it holds no parameters of `run_id`."""
    with np.load(part) as archive:
        keys = [k for k in archive.files if k.startswith(f"{run_id}/")]
        if not keys:
            return None
        check_whole(part)
        steps = sorted({int(k.split("/")[1]) for k in keys})
        chosen = steps[-1] if step is None else step
        if chosen not in steps:
            raise KeyError(f"run {run_id} has parameters at steps {steps}, not {step}")
        tree: dict[str, Any] = {}
        prefix = f"{run_id}/{chosen}/"
        for key in keys:
            if key.startswith(prefix):
                node = tree
                *parents, leaf = key[len(prefix) :].split("/")
                for name in parents:
                    node = node.setdefault(name, {})
                node[leaf] = archive[key]
        return tree
