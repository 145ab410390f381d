"""SHA-256 records of a results folder's files, and reads that check them (no writing here).

Page checksums (CRC-32 of each parquet page's values) and a zip member's CRC-32 leave out what a
changed byte can still alter and decode: a parquet footer (column names, types, the pandas
metadata), a page header, a zip directory entry. So every file phasegrok writes is also hashed
whole:

    parts/<batch>.sha256    the batch's files (curves, params, progress, runs), written before
                            its runs part commits the batch: a committed batch has its record
    tables.sha256           the assembled runs / curves / progress.parquet and the copied
                            reference.csv, written after them

Both in `sha256sum` format (`sha256sum -c` checks them from their folder). A file is read once:
its bytes are hashed and then decoded from memory (`read_bytes_checked`). A file without a
record (written before records existed, "legacy") is checked by reading it, as before; the next
run of the sweep records its hash (`store.folder.prepare`).
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from phasegrok.store.atomic import write_text

RECORD_SUFFIX = ".sha256"
TABLES_RECORD = "tables.sha256"
# Passed to every parquet read: page checksums verified where the file has them.
VERIFY: dict[str, Any] = {"page_checksum_verification": True}
_LINE = re.compile(r"([0-9a-f]{64}) [ *](\S+)")


class HashMismatch(OSError):
    """A file's bytes differ from those its record says were written."""

    def __init__(self, path: Path):
        super().__init__(f"{path}: SHA-256 checksum differs from its record")


class RecordError(ValueError):
    """A record that cannot be read or parsed (itself damaged)."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def format_record(hashes: dict[str, str]) -> str:
    """`sha256sum` lines, by name."""
    return "".join(f"{hashes[name]}  {name}\n" for name in sorted(hashes))


def read_record(path: Path) -> dict[str, str] | None:
    """name -> hex digest of a record; None where there is none; RecordError where it cannot
    be read or is not a whole record (a changed byte in it)."""
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, ValueError):
        raise RecordError(f"{path} cannot be read") from None
    found = {}
    lines = text.split("\n")
    if lines[-1] != "" or not lines[:-1]:
        raise RecordError(f"{path} is not a whole record")
    for line in lines[:-1]:
        match = _LINE.fullmatch(line)
        if match is None or match[2] in found:
            raise RecordError(f"{path} is not a whole record")
        found[match[2]] = match[1]
    return found


def write_record(path: Path, hashes: dict[str, str]) -> None:
    write_text(path, format_record(hashes))


def table_hash(out_dir: Path, name: str) -> str | None:
    """The SHA-256 tables.sha256 holds for the top-level file `name`; None where none is
    recorded. RecordError where tables.sha256 is damaged."""
    return (read_record(out_dir / TABLES_RECORD) or {}).get(name)


def record_tables(out_dir: Path, hashes: dict[str, str]) -> None:
    """Record the top-level files' `hashes` in tables.sha256 (a damaged record is replaced)."""
    try:
        kept = read_record(out_dir / TABLES_RECORD) or {}
    except RecordError:
        kept = {}
    write_record(out_dir / TABLES_RECORD, {**kept, **hashes})


def forget_tables(out_dir: Path, names: list[str]) -> None:
    """Drop `names` from tables.sha256 before they are written again (a process killed in
    between leaves them unrecorded, read as before records, not as damaged)."""
    try:
        kept = read_record(out_dir / TABLES_RECORD)
    except RecordError:
        kept = {}
    if kept is None or not set(names) & set(kept):
        return
    kept = {k: v for k, v in kept.items() if k not in names}
    if kept:
        write_record(out_dir / TABLES_RECORD, kept)
    else:
        (out_dir / TABLES_RECORD).unlink(missing_ok=True)


def batch_record(runs_part: Path) -> Path:
    """parts/<batch>.sha256 of a batch's runs part."""
    return runs_part.with_name(runs_part.name.removesuffix(".runs.parquet") + RECORD_SUFFIX)


def expected_hash(path: Path, record: Path) -> str | None:
    """`path`'s digest in `record`; None where the record is absent (legacy) or the
    record does not name it. RecordError where the record is damaged."""
    hashes = read_record(record)
    return None if hashes is None else hashes.get(path.name)


def read_bytes_checked(path: Path, expected: str | None) -> bytes:
    """The bytes of `path`, HashMismatch (an OSError) where they are not those recorded."""
    data = path.read_bytes()
    if expected is not None and digest(data) != expected:
        raise HashMismatch(path)
    return data


def read_table_checked(
    path: Path, expected: str | None, columns: list[str] | None = None
) -> pa.Table:
    """A parquet file read once: its hash checked (where recorded), then its page checksums."""
    data = read_bytes_checked(path, expected)
    return pq.read_table(pa.BufferReader(data), columns=columns, **VERIFY)


def read_frame_checked(path: Path, expected: str | None) -> pd.DataFrame:
    """As `read_table_checked`, to pandas exactly as `pd.read_parquet` reads the file."""
    data = read_bytes_checked(path, expected)
    return pd.read_parquet(io.BytesIO(data), **VERIFY)
