"""progress.parquet: the progress measures of every run at its saved steps (no JAX).

A batch's rows are written as parts/<batch>.progress.parquet before its runs part (the commit
marker, `store.write_batch`), and assembled into progress.parquet with runs.parquet, keeping
only the rows of whole committed batches (a part left by a batch that never committed, or moved
to parts/damaged/, is ignored). Columns: run_id, step, then `progress.MEASURES`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from phasegrok.store.folder import read_frame, write_table
from phasegrok.store.parts import PARTS, PROGRESS_SUFFIX, check_parts

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


def assemble(out_dir: Path, run_ids: Iterable[str], metadata: dict[str, Any]) -> Path | None:
    """Write progress.parquet from the committed parts: the rows of the runs `run_ids` (those
    of runs.parquet; the parts' other runs are left out), in that order, by step.

    Removes a stale progress.parquet where no such run has progress rows; returns the path
    written.
    """
    path = out_dir / PROGRESS
    position = {run_id: i for i, run_id in enumerate(run_ids)}
    parts = [read_frame(p) for p in committed_parts(out_dir)]
    parts = [part[part["run_id"].isin(position)] for part in parts]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not len(frame):
        path.unlink(missing_ok=True)
        return None
    frame = frame.drop_duplicates(["run_id", "step"])  # a run trained twice: identical rows
    frame = frame.assign(_pos=frame["run_id"].map(position))
    frame = frame.sort_values(["_pos", "step"], kind="stable").drop(columns="_pos")
    write_table(path, frame.reset_index(drop=True), metadata)
    return path


def read(out_dir: str | Path) -> pd.DataFrame | None:
    """progress.parquet of a results folder, or None where it has none (or it is unreadable)."""
    path = Path(out_dir) / PROGRESS
    if not path.is_file():
        return None
    try:
        return read_frame(path)
    except (OSError, ValueError):  # a failed page checksum too: never served
        return None
