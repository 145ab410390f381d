"""`python -m phasegrok.sweep DIR/sweep.yaml --out DIR --verify`: every file of a results folder
checked, nothing written.

What is checked: every committed batch in parts/ (each file against the SHA-256 its batch's
record holds, every parquet page against its CRC-32, every params member against its zip
CRC-32, the curves part's runs against the runs part's; a batch without a record, written
before records, by reading it alone), the assembled runs / curves / progress.parquet (SHA-256
in tables.sha256, page checksums), the copied reference.csv (SHA-256) and manifest.json (it
parses and names this sweep). No JAX.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from phasegrok.config.reference import REFERENCE_FILE
from phasegrok.store.folder import (
    ASSEMBLED,
    MANIFEST,
    SWEEP_YAML,
    DamagedError,
    copy_problem,
    read_assembled,
    refusal,
)
from phasegrok.store.parts import check_parts, part_rows


@dataclass
class Verdict:
    """What `verify_folder` found: one line per damaged file, and what it counted."""

    out_dir: Path
    damaged: list[str] = field(default_factory=list)
    parts: int = 0  # committed batches
    bad_parts: int = 0
    unrecorded: int = 0  # whole batches without a record (checked by reading)
    runs: int = 0  # runs of the whole batches
    tables: int = 0  # top-level files checked
    bad_tables: int = 0

    @property
    def intact(self) -> bool:
        return not self.damaged

    def summary(self) -> str:
        """The last line printed."""
        if self.intact:
            legacy = (
                f" ({self.unrecorded} without a SHA-256 record, checked by reading; the next "
                "run of the sweep records them)"
                if self.unrecorded
                else ""
            )
            return (
                f"verified {self.out_dir}: {self.parts} parts{legacy}, {self.runs} runs, "
                f"{self.tables} top-level files, all intact"
            )
        found = [f"{self.bad_parts} of {self.parts} parts damaged"] if self.bad_parts else []
        if self.bad_tables:
            found.append(f"{self.bad_tables} of {self.tables} top-level files damaged")
        return (
            f"{', '.join(found) or 'the folder is not this sweep'}; run `python -m "
            f"phasegrok.sweep {self.out_dir / SWEEP_YAML} --out {self.out_dir}` to retrain the "
            "damaged parts and assemble the tables again from the others"
        )


def damaged_tables(out_dir: Path) -> list[str]:
    """One line ("PATH REASON") per top-level file of `out_dir` that fails its checks: the
    assembled tables (read whole) and the copied reference.csv."""
    found = []
    for name in ASSEMBLED:
        if (out_dir / name).is_file():
            try:
                read_assembled(out_dir, name)
            except DamagedError as err:
                found.append(str(err).split(";")[0])
    problem = copy_problem(out_dir, REFERENCE_FILE)
    return [*found, problem] if problem else found


def verify_folder(out_dir: Path, identity: str) -> Verdict:
    """Check every file of `out_dir` (see the module's docstring) for the sweep of `identity`;
    reads only. Raises OSError where the folder cannot be listed."""
    verdict = Verdict(out_dir)
    problem = refusal(out_dir, identity)
    if problem is not None:
        verdict.damaged.append(problem)
    scan = check_parts(out_dir, full=True)
    verdict.parts = len(scan.whole) + len(scan.damaged)
    verdict.bad_parts = len(scan.damaged)
    verdict.unrecorded = len(scan.unrecorded)
    verdict.damaged += [str(damage) for damage in scan.damaged]
    verdict.runs = len({row["run_id"] for row in part_rows(scan.whole, ["run_id"])})
    names = [*ASSEMBLED, REFERENCE_FILE]
    verdict.tables = sum((out_dir / name).is_file() for name in names)
    bad = damaged_tables(out_dir)
    verdict.bad_tables = len(bad)
    verdict.damaged += bad
    if (out_dir / MANIFEST).is_file():
        try:
            json.loads((out_dir / MANIFEST).read_text())["identity"]
        except (OSError, ValueError, KeyError, TypeError):
            if not any(MANIFEST in line for line in verdict.damaged):
                verdict.damaged.append(f"{out_dir / MANIFEST} cannot be read")
    return verdict
