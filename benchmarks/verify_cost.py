"""What verification costs: the quickstart's folder read with and without its checks, and
`--verify` beside a rerun of the finished folder, side by side in one run.

    PYTHONPATH=. python benchmarks/verify_cost.py DIR [--repeat 7] [--out FILE.json]

DIR: a finished quickstart folder (`python -m phasegrok.sweep sweeps/quickstart.yaml --out DIR`).

1. `phasegrok.load(DIR)` (runs.parquet and curves.parquet: SHA-256 against tables.sha256 and
   page checksums) and every run's parameters (`Results.params`: each npz's SHA-256, once a
   process), against the same reads unchecked (`pd.read_parquet`, `numpy.load`), in
   alternating order, the median of `--repeat` of each; the ratio checked / unchecked.
2. The full check of the parts that every run of the sweep makes (`check_parts(full=True)`:
   every file's SHA-256, every page and zip CRC), with and without the SHA-256 (the records
   moved aside in a copy), as a share of the rerun of the finished folder.
3. Wall time of `--verify` and of the rerun (`--quiet --no-plots`, and with the figures), each
   as a process, in alternating pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import phasegrok
from phasegrok.store.parts import check_parts

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def checked(out: Path) -> None:
    results = phasegrok.load(out)
    for run_id in results.runs["run_id"]:
        results.params(run_id)


def unchecked(out: Path) -> None:
    runs = pd.read_parquet(out / "runs.parquet")
    pd.read_parquet(out / "curves.parquet")
    parts = sorted((out / "parts").glob("*.params.npz"))
    for run_id in runs["run_id"]:
        for part in parts:
            with np.load(part) as archive:
                keys = [k for k in archive.files if k.startswith(f"{run_id}/")]
                if keys:
                    last = max(int(k.split("/")[1]) for k in keys)
                    _ = [archive[k] for k in keys if k.split("/")[1] == str(last)]
                    break


def command(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "phasegrok.sweep", *args], env=ENV, check=True, capture_output=True
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.folder
    sweep = str(out / "sweep.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        legacy = Path(tmp) / "legacy"
        shutil.copytree(out, legacy)
        for record in legacy.glob("parts/*.sha256"):
            record.unlink()
        loads: dict[str, list[float]] = {"checked": [], "unchecked": []}
        scans: dict[str, list[float]] = {"with sha256": [], "without": []}
        for i in range(args.repeat):
            order = ["checked", "unchecked"][:: 1 if i % 2 == 0 else -1]
            for name in order:
                from phasegrok.store import parts as parts_module

                parts_module._HASHED.clear()  # noqa: SLF001 - each load hashes as a new process
                loads[name].append(
                    timed(lambda n=name: (checked if n == "checked" else unchecked)(out))
                )
            scans["with sha256"].append(timed(lambda: check_parts(out, full=True)))
            scans["without"].append(timed(lambda: check_parts(legacy, full=True)))
    commands: dict[str, list[float]] = {"verify": [], "rerun --no-plots": [], "rerun": []}
    for i in range(3):
        names = list(commands)[:: 1 if i % 2 == 0 else -1]
        for name in names:
            extra = {
                "verify": ["--verify"],
                "rerun --no-plots": ["--quiet", "--no-plots"],
                "rerun": ["--quiet", "--no-live"],
            }[name]
            commands[name].append(command(sweep, "--out", str(out), *extra))
    med = {k: statistics.median(v) for k, v in {**loads, **scans, **commands}.items()}
    report = {
        "folder": str(out),
        "bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
        "median_seconds": med,
        "load_ratio_checked_over_unchecked": med["checked"] / med["unchecked"],
        "sha256_share_of_full_check": 1 - med["without"] / med["with sha256"],
        "full_check_share_of_rerun": med["with sha256"] / med["rerun --no-plots"],
        "verify_over_rerun_no_plots": med["verify"] / med["rerun --no-plots"],
        "verify_over_rerun": med["verify"] / med["rerun"],
    }
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
