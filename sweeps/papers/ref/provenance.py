"""Where a reference table's numbers come from: shared by the make_*.py scripts beside this file.

A data-derived reference is made in two steps. *Extraction* reads the authors' file (a local
copy of their repository at the recorded commit, its SHA-256 checked) and writes the few fields
the table is built from into `sources/<name>.csv`, a local file: data from the authors'
repositories is not committed here, only the tables built from it. *Build* reads only that
extract and writes `<name>.csv`. tests/test_references.py rebuilds every table into a temporary
folder and asserts it byte-identical with the committed one: the tables read off figures always,
the data-derived ones where PHASEGROK_REF_ORIGINALS names a folder holding the authors' files.
`sources/README.md` lists each source with its commit and checksum.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
SOURCES = HERE / "sources"


@dataclass(frozen=True)
class Source:
    """One file of the authors' repository, as read: the commit and the file's SHA-256."""

    repo: str  # owner/name on GitHub
    commit: str  # the commit read
    path: str  # the file's path in the repository
    sha256: str  # of the file at that commit

    def clone_command(self) -> str:
        name = self.repo.split("/")[1]
        return (
            f"git clone https://github.com/{self.repo} && "
            f"git -C {name} checkout {self.commit}   # then: {name}/{self.path}"
        )

    def check(self, local: str | Path) -> Path:
        """`local`, if its SHA-256 is the recorded one; else SystemExit with one line."""
        local = Path(local)
        digest = hashlib.sha256(local.read_bytes()).hexdigest()
        if digest != self.sha256:
            raise SystemExit(
                f"{local}: SHA-256 {digest}, not {self.sha256} ({self.repo}@{self.commit[:7]} "
                f"{self.path}); get it with: {self.clone_command()}"
            )
        return local


def copy_columns(original: Path, extract: Path, columns: list[str]) -> None:
    """Write `columns` of the CSV `original` into `extract`, rows in order, each value's text
    unchanged (so the build parses exactly what it would have parsed from the original)."""
    with original.open(newline="") as f:
        rows = list(csv.DictReader(f))
    extract.parent.mkdir(parents=True, exist_ok=True)
    with extract.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row[c] for c in columns] for row in rows)
