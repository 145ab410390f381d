"""The results folder: batch parts written atomically, assembled into runs/curves parquet.

Layout of a results folder:
    sweep.yaml              the resolved sweep that last wrote here
    manifest.json           the sweep's identity, package versions, device
    parts/<batch>.curves.parquet, parts/<batch>.params.npz, parts/<batch>.runs.parquet
    runs.parquet, curves.parquet   assembled from the parts

Every file is written under a temporary name, flushed to disk and renamed into place, and a
batch's runs part is written last: a batch exists exactly when its runs part does. A sweep
killed at any moment therefore leaves only whole batches, and a rerun skips their run_ids.
A batch damaged since (a truncated or empty file, another schema, a file missing, as a
half-finished copy or a disk fault leaves them) is moved to parts/damaged/ by the next run of
the sweep, which trains its runs again (`check_parts`, `prepare`); so is a batch whose part fails
its checksums: every parquet page is written with its CRC-32 (`write_table`) and verified on
every read (`read_frame`, `parts.read_table`), and a params member's zip CRC-32 is checked by
the full check. A runs.parquet / curves.parquet that fails is refused (`read_assembled`) and
assembled again from the parts by the next run of the sweep.
No JAX here: the engine's arrays arrive as NumPy.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Collection, Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from phasegrok.config.schema import ClassifySpec
from phasegrok.store.atomic import atomic_write, write_bytes, write_text
from phasegrok.store.claims import live_claims
from phasegrok.store.columns import CLASSIFY_META
from phasegrok.store.frames import curves_frame, runs_frame
from phasegrok.store.integrity import (
    RECORD_SUFFIX,
    TABLES_RECORD,
    VERIFY,
    RecordError,
    digest,
    file_digest,
    forget_tables,
    read_frame_checked,
    record_tables,
    table_hash,
    write_record,
)
from phasegrok.store.parts import (
    DAMAGED,
    PARTS,
    PROGRESS_SUFFIX,
    READ_ERRORS,
    DamagedError,
    OutputError,
    WriteError,
    check_parts,
    damage_reason,
    part_rows,
    quarantine,
    recorded_hash,
    remove_unfinished,
)

PACKAGES = ("phasegrok", "jax", "jaxlib", "flax", "optax", "numpy", "pandas", "pyarrow")
MANIFEST, SWEEP_YAML = "manifest.json", "sweep.yaml"
RUNS, CURVES = "runs.parquet", "curves.parquet"
# The tables assembled from the parts for the sweep of sweep.yaml (progress_store.PROGRESS too).
ASSEMBLED = (RUNS, CURVES, "progress.parquet")


# Defined elsewhere, used through folder: the errors (in parts: load_params raises one), the
# frames of a batch, the atomic writes (the report's files).
__all__ = [
    "DamagedError",
    "OutputError",
    "WriteError",
    "atomic_write",
    "curves_frame",
    "runs_frame",
    "write_bytes",
    "write_text",
]


def package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


# --------------------------------------------------------------------------------------------
# Parquet files


def table_bytes(
    frame: pd.DataFrame,
    metadata: dict[str, Any] | None = None,
    extra: dict[bytes, bytes] | None = None,
) -> bytes:
    """Parquet with `metadata` (JSON) under the schema key b'phasegrok', plus raw `extra` keys;
    every page carries its CRC-32 checksum, which every read verifies (`read_frame`)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    merged = {**(table.schema.metadata or {}), **(extra or {})}
    if metadata is not None:
        merged[b"phasegrok"] = json.dumps(metadata).encode()
    table = table.replace_schema_metadata(merged)
    sink = io.BytesIO()
    pq.write_table(table, sink, write_page_checksum=True)
    return sink.getvalue()


def write_table(
    path: Path,
    frame: pd.DataFrame,
    metadata: dict[str, Any] | None = None,
    extra: dict[bytes, bytes] | None = None,
) -> str:
    """Write `table_bytes(frame, metadata, extra)` to `path`; returns their SHA-256."""
    data = table_bytes(frame, metadata, extra)
    write_bytes(path, data)
    return digest(data)


def read_frame(path: str | Path) -> pd.DataFrame:
    """A parquet file as pandas (as `pd.read_parquet`), its page checksums verified: OSError
    where one fails. A file written without checksums reads as before."""
    return pd.read_parquet(path, **VERIFY)


def read_assembled(out_dir: Path, name: str) -> pd.DataFrame:
    """runs.parquet / curves.parquet / progress.parquet of `out_dir`, verified (its SHA-256 in
    tables.sha256, its page checksums); DamagedError (one line) where it cannot be read or
    fails either: never served."""
    path = out_dir / name
    try:
        expected = table_hash(out_dir, name)
    except RecordError:
        raise DamagedError(
            f"{out_dir / TABLES_RECORD} cannot be read (a changed byte); {rerun_hint(out_dir)} "
            "to assemble the tables again"
        ) from None
    try:
        return read_frame_checked(path, expected)
    except READ_ERRORS as err:
        raise DamagedError(
            f"{path} {damage_reason(err)}; {rerun_hint(out_dir)} to assemble it again from "
            "the parts"
        ) from None


def copy_problem(out_dir: Path, name: str) -> str | None:
    """Why the top-level file `name` (the copied reference.csv) is not as tables.sha256 says it
    was written, or None (also where it has no record)."""
    try:
        expected = table_hash(out_dir, name)
    except RecordError:
        return f"{out_dir / TABLES_RECORD} cannot be read (a changed byte)"
    path = out_dir / name
    if expected is None or not path.is_file() or file_digest(path) == expected:
        return None
    return f"{path} fails its checksum (a changed byte)"


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The sweep's metadata (JSON under the schema key b'phasegrok') of a parquet file."""
    raw = (pq.read_schema(path).metadata or {}).get(b"phasegrok")
    return json.loads(raw) if raw else {}


def read_classify_meta(path: Path) -> dict[str, Any] | None:
    """Thresholds recorded by a reclassification (`phasegrok.plot --classify`), if any."""
    try:
        raw = (pq.read_schema(path).metadata or {}).get(CLASSIFY_META)
    except (OSError, ValueError):
        return None
    return json.loads(raw) if raw else None


def write_runs(path: Path, runs: pd.DataFrame, classify: Mapping[str, Any] | None) -> None:
    """Replace runs.parquet atomically, keeping its schema metadata; record `classify`."""
    kept = dict(pq.read_schema(path).metadata or {}) if path.exists() else {}
    kept.pop(b"pandas", None)
    kept.pop(CLASSIFY_META, None)
    if classify is not None:
        kept[CLASSIFY_META] = json.dumps(dict(classify)).encode()
    forget_tables(path.parent, [path.name])
    record_tables(path.parent, {path.name: write_table(path, runs, extra=kept)})


def read_sweep(out_dir: Path) -> dict[str, Any]:
    """sweep.yaml of a results folder as a dict; {} when absent; ValueError if not YAML."""
    path = out_dir / SWEEP_YAML
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err.__class__.__name__})") from None
    return data if isinstance(data, dict) else {}


def classify_settings(sweep: Mapping[str, Any], recorded: Any = None) -> ClassifySpec:
    """The thresholds a reclassification recorded, else the sweep's `classify:` section."""
    if isinstance(recorded, Mapping):
        try:
            return ClassifySpec(**recorded)
        except ValueError:
            pass
    return ClassifySpec(**(sweep.get("classify") or {}))


# --------------------------------------------------------------------------------------------
# The folder


def refusal(out_dir: Path, identity: str) -> str | None:
    """Why `prepare` refuses `out_dir` to a sweep of `identity` without `force` (another sweep's
    results, an unreadable manifest, files that are not phasegrok's), or None; reads only, so
    `--dry-run` asks it too. Raises OSError where the folder cannot be read."""
    manifest = out_dir / MANIFEST
    if manifest.exists():
        try:
            theirs = json.loads(manifest.read_text()).get("identity")
        except (OSError, ValueError, AttributeError):
            return (
                f"{manifest} cannot be read; use --force to replace the results in {out_dir}, "
                "or choose another --out"
            )
        if theirs != identity:
            return (
                f"{out_dir} holds the results of another sweep (different sweep identity "
                f"{theirs}, this one is {identity}); use --force to replace them, or choose "
                "another --out"
            )
    elif out_dir.exists() and foreign_entries(out_dir):
        return (
            f"{out_dir} is not empty and holds no phasegrok results; use --force or another --out"
        )
    return None


def prepare(out_dir: Path, identity: str, resolved: dict[str, Any], force: bool) -> list[str]:
    """Claim `out_dir` for a sweep of `identity`: refuse another sweep's results unless `force`
    (`refusal`), which then clears them.

    Moves damaged batches to parts/damaged/ (their runs are then trained again) and returns
    one warning line per batch moved. Raises OutputError with a one-line message.
    """
    manifest = out_dir / MANIFEST
    problem = refusal(out_dir, identity)
    if problem is not None and not force:
        raise OutputError(problem)
    if problem is not None and manifest.exists():  # another sweep's results, or unreadable
        clear(out_dir)
    try:
        (out_dir / PARTS).mkdir(parents=True, exist_ok=True)
        remove_unfinished(out_dir / PARTS, keep=live_claims(out_dir))
        scan = check_parts(out_dir, full=True)
        warnings = [
            f"{damage}; moved to {out_dir / DAMAGED}, its runs will be trained again"
            for damage in quarantine(out_dir, scan.damaged)
        ]
        for batch_id, hashes in scan.unrecorded.items():  # written before records: checked
            write_record(out_dir / PARTS / f"{batch_id}{RECORD_SUFFIX}", hashes)
        write_text(manifest, json.dumps({"identity": identity, "name": resolved["name"]}, indent=1))
        text = yaml.safe_dump(resolved, sort_keys=False)
        before = out_dir / SWEEP_YAML
        if before.exists() and before.read_text() != text:  # another grid, seeds, classify...
            for name in ASSEMBLED:  # ... of which the tables say nothing until `finish`
                (out_dir / name).unlink(missing_ok=True)
        write_text(before, text)
    except OSError as err:
        raise WriteError(f"cannot write to {out_dir}: {err.strerror or err}") from None
    return warnings


def foreign_entries(out_dir: Path) -> list[Path]:
    """What `out_dir` holds besides a phasegrok start in progress: another process of this
    sweep (a `--worker` started at the same moment) creates parts/ and its temporaries before
    its manifest, and that folder is not someone else's."""
    return [
        entry
        for entry in out_dir.iterdir()
        if entry.name != PARTS and not (entry.name.startswith(".") and ".tmp-" in entry.name)
    ]


def clear(out_dir: Path) -> None:
    """Remove phasegrok's own files from `out_dir` (for --force)."""
    shutil.rmtree(out_dir / PARTS, ignore_errors=True)
    for name in (MANIFEST, SWEEP_YAML, *ASSEMBLED, TABLES_RECORD):
        (out_dir / name).unlink(missing_ok=True)


def done_run_ids(out_dir: Path) -> set[str]:
    """run_ids of every whole committed batch (see `check_parts`)."""
    return {row["run_id"] for row in part_rows(check_parts(out_dir).whole, ["run_id"])}


# --------------------------------------------------------------------------------------------
# Batches


def _flat_params(params: dict[int, Any], run_ids: list[str]) -> dict[str, np.ndarray]:
    """`{run_id}/{step}/{layer path}` -> array, for np.savez."""
    flat = {}
    for step, tree in params.items():
        for path, leaf in _leaves(tree):
            for i, run_id in enumerate(run_ids):
                flat[f"{run_id}/{step}/{path}"] = leaf[i]
    return flat


def _leaves(tree: Any, prefix: str = "") -> Iterable[tuple[str, np.ndarray]]:
    if isinstance(tree, dict):
        for key, sub in tree.items():
            yield from _leaves(sub, f"{prefix}/{key}" if prefix else str(key))
    else:
        yield prefix, np.asarray(tree)


def write_batch(
    out_dir: Path,
    batch_id: str,
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    params: dict[int, Any],
    metadata: dict[str, Any],
) -> None:
    """Write one finished batch: curves, then params, then its record (the SHA-256 of each
    of its files, its progress part too where `store.progress` wrote one), then the runs part
    that commits it."""
    parts = out_dir / PARTS
    run_ids = list(runs["run_id"])
    hashes = {}
    try:
        name = f"{batch_id}.curves.parquet"
        hashes[name] = write_table(parts / name, curves, metadata)
        buffer = io.BytesIO()
        # numpy's stubs take any ** mapping for the keyword `allow_pickle` too
        np.savez(buffer, **_flat_params(params, run_ids))  # type: ignore[arg-type]
        hashes[f"{batch_id}.params.npz"] = digest(buffer.getvalue())
        write_bytes(parts / f"{batch_id}.params.npz", buffer.getvalue())
        progress = parts / f"{batch_id}{PROGRESS_SUFFIX}"
        if progress.is_file():
            hashes[progress.name] = file_digest(progress)
        runs_bytes = table_bytes(runs, metadata)
        hashes[f"{batch_id}.runs.parquet"] = digest(runs_bytes)
        write_record(parts / f"{batch_id}{RECORD_SUFFIX}", hashes)
        write_bytes(parts / f"{batch_id}.runs.parquet", runs_bytes)
    except OSError as err:
        raise WriteError(
            f"cannot write results to {out_dir}: {err.strerror or err}; "
            "earlier batches are intact, rerun the same command to resume"
        ) from None


def assemble(
    out_dir: Path, rank: Mapping[str, int] | None = None, keep: Collection[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The whole committed batches as (runs, curves): the runs in `rank` first, by rank (a
    run's position in its grid), then the rest by run_id. `keep`: the run_ids to take (the
    sweep's, `rounds.sweep_rounds`); the folder's other runs stay in parts/, unread; None:
    every run. Raises DamagedError naming a part that cannot be read, OutputError where no
    run is taken."""
    runs_parts = check_parts(out_dir).whole
    runs_list, curves_list = [], []
    for part in runs_parts:
        runs_part = _read_part(out_dir, part)
        if keep is not None:
            runs_part = runs_part[runs_part["run_id"].isin(keep)]
            if not len(runs_part):
                continue
        curves_part = _read_part(out_dir, part.with_name(part.name.replace(".runs.", ".curves.")))
        if keep is not None:
            curves_part = curves_part[curves_part["run_id"].isin(runs_part["run_id"])]
        runs_list.append(runs_part)
        curves_list.append(curves_part)
    if not runs_list:
        of = "" if keep is None else " of this sweep"
        raise OutputError(f"{out_dir} holds no finished runs{of}")
    runs = pd.concat(runs_list, ignore_index=True)
    curves = pd.concat(curves_list, ignore_index=True)
    rank = rank or {}
    runs["_rank"] = runs["run_id"].map(rank).fillna(len(rank))
    runs = runs.sort_values(["_rank", "run_id"], kind="stable").drop(columns="_rank")
    # A batch trained twice (two workers, or plans cut differently) gives identical rows.
    runs = runs.drop_duplicates("run_id").reset_index(drop=True)
    curves = curves.drop_duplicates(["run_id", "step"])
    position = {run_id: i for i, run_id in enumerate(runs["run_id"])}
    curves = curves.assign(_pos=curves["run_id"].map(position))
    curves = curves.sort_values(["_pos", "step"], kind="stable").drop(columns="_pos")
    return runs, curves.reset_index(drop=True)


def _read_part(out_dir: Path, path: Path) -> pd.DataFrame:
    try:
        return read_frame_checked(path, recorded_hash(path))
    except READ_ERRORS as err:
        raise DamagedError(
            f"{path} {damage_reason(err)}; {rerun_hint(out_dir)} "
            f"to move its batch to {out_dir / DAMAGED} and train its runs again"
        ) from None


def rerun_hint(out_dir: Path) -> str:
    """What to run to repair `out_dir`: the sweep it holds, resumed into it."""
    return f"run `python -m phasegrok.sweep {out_dir / SWEEP_YAML} --out {out_dir}`"


def table_damage(path: Path) -> str | None:
    """Why an assembled runs.parquet / curves.parquet cannot be read, or None."""
    try:
        pq.read_schema(path)
        return None
    except (OSError, pa.ArrowException, ValueError):
        return "cannot be read (truncated, or not a parquet file)"
