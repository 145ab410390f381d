"""progress.parquet: the progress measures of every run at its saved steps (no JAX).

A batch's rows are written as parts/<batch>.progress.parquet before its runs part (the commit
marker, `store.write_batch`), and assembled into progress.parquet with runs.parquet, keeping
only the rows of whole committed batches (a part left by a batch that never committed, or moved
to parts/damaged/, is ignored). Columns: run_id, step, then `progress.MEASURES`. Each part is
read against its batch's record (SHA-256) and progress.parquet against tables.sha256, as the
runs and curves are: a damaged file is never served (DamagedError).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from phasegrok.store.folder import read_assembled, write_table
from phasegrok.store.integrity import read_frame_checked
from phasegrok.store.parts import PARTS, PROGRESS_SUFFIX, check_parts, recorded_hash

PROGRESS = "progress.parquet"
SUFFIX = PROGRESS_SUFFIX


def write_part(out_dir: Path, batch_id: str, frame: pd.DataFrame, metadata: dict[str, Any]) -> None:
    """Write one batch's progress rows (nothing when it has none)."""
    if len(frame):
        write_table(out_dir / PARTS / f"{batch_id}{SUFFIX}", frame, metadata)


def committed_parts(out_dir: Path) -> list[Path]:
    """The progress parts of the whole committed batches of `out_dir`."""
    found = []
    for runs_part in check_parts(out_dir).whole:
        path = runs_part.with_name(runs_part.name.replace(".runs.parquet", SUFFIX))
        if path.is_file():
            found.append(path)
    return found


def assemble(out_dir: Path, run_ids: Iterable[str], metadata: dict[str, Any]) -> str | None:
    """Write progress.parquet from the committed parts: the rows of the runs `run_ids` (those
    of runs.parquet; the parts' other runs are left out), in that order, by step.

    Removes a stale progress.parquet where no such run has progress rows; returns the SHA-256
    of the file written. OSError / ValueError where a part fails its checks.
    """
    path = out_dir / PROGRESS
    position = {run_id: i for i, run_id in enumerate(run_ids)}
    parts = [read_frame_checked(p, recorded_hash(p)) for p in committed_parts(out_dir)]
    parts = [part[part["run_id"].isin(position)] for part in parts]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not len(frame):
        path.unlink(missing_ok=True)
        return None
    frame = frame.drop_duplicates(["run_id", "step"])  # a run trained twice: identical rows
    frame = frame.assign(_pos=frame["run_id"].map(position))
    frame = frame.sort_values(["_pos", "step"], kind="stable").drop(columns="_pos")
    return write_table(path, frame.reset_index(drop=True), metadata)


def read(out_dir: str | Path) -> pd.DataFrame | None:
    """progress.parquet of a results folder, or None where it has none. DamagedError (one
    line naming it and the command that assembles it again) where it cannot be read or fails
    its checksums: never served, never dropped in silence."""
    if not (Path(out_dir) / PROGRESS).is_file():
        return None
    return read_assembled(Path(out_dir), PROGRESS)
