"""A results folder read once into a typed `Results`: the runs, the curves, the sweep, the
classify settings that made the phases, and the stored parameters on demand.

`store` writes a folder; this module reads it (and assembles the parts of an interrupted
sweep in memory). The report and the CLIs start here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from phasegrok.analysis.classify import classify_runs, with_partial_generalization
from phasegrok.config.schema import ClassifySpec
from phasegrok.store.folder import (
    CURVES,
    RUNS,
    SWEEP_YAML,
    DamagedError,
    assemble,
    classify_settings,
    read_assembled,
    read_classify_meta,
    read_metadata,
    read_sweep,
    rerun_hint,
)
from phasegrok.store.parts import DAMAGED, check_parts, load_params, param_steps


@dataclass
class Results:
    """A results folder loaded into pandas: `.runs` (one row per run) and `.curves` (long).

    Also what the report reads: `.sweep` (sweep.yaml as a dict, {} when absent), `.classify`
    (the thresholds that made `runs`' phases), `.classify_recorded` (whether they were recorded
    by a reclassification rather than read from the sweep), `.param_steps` and `.params`.
    """

    path: Path
    runs: pd.DataFrame
    curves: pd.DataFrame
    sweep: dict[str, Any] = field(default_factory=dict)
    classify: ClassifySpec = field(default_factory=ClassifySpec)
    classify_recorded: bool = False

    @property
    def metadata(self) -> dict[str, Any]:
        return read_metadata(self.path / RUNS)

    @cached_property
    def param_steps(self) -> dict[str, list[int]]:
        """run_id -> the steps whose parameters are stored (read from the npz names once)."""
        return param_steps(self.path)

    def params(self, run_id: str, step: int | None = None) -> dict[str, Any]:
        """A run's parameters (nested dict of arrays) at `step` (default: the last saved)."""
        return load_params(self.path, run_id, step)

    def sweep_text(self) -> str:
        """sweep.yaml as written, else the sweep dict as YAML."""
        if (self.path / SWEEP_YAML).exists():
            return (self.path / SWEEP_YAML).read_text()
        # Through JSON first: safe_dump cannot represent the tuples of a resolved spec.
        return yaml.safe_dump(json.loads(json.dumps(self.sweep, default=str)), sort_keys=False)

    def classified(self) -> Results:
        """These results with phases: runs without a `phase` column classified in memory (and
        a folder older than `partial_generalization` given that column, in memory only)."""
        runs = self.runs
        if "phase" not in runs.columns:
            runs = classify_runs(runs, self.curves, self.classify)
        runs = with_partial_generalization(runs, self.curves, self.classify)
        if "seed" not in runs.columns:
            runs = runs.assign(seed=0)
        if runs is self.runs:
            return self
        recorded = self.classify_recorded and "phase" in self.runs.columns  # phases kept
        return Results(self.path, runs, self.curves, self.sweep, self.classify, recorded)


def with_frames(
    out_dir: str | Path,
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    sweep: Mapping[str, Any] | None = None,
) -> Results:
    """Results of frames already in memory (a sweep that just finished); `sweep` default:
    the folder's sweep.yaml."""
    out_dir = Path(out_dir)
    sweep = dict(read_sweep(out_dir) if sweep is None else sweep)
    return Results(out_dir, runs, curves, sweep, classify_settings(sweep))


def load(out_dir: str | Path) -> Results:
    """Open a results folder; assembles the sweep's runs from the parts if it was interrupted.

    Raises DamagedError (one line: the file, and the command that repairs the folder) where a
    file cannot be read, ValueError where sweep.yaml is not YAML.
    """
    out_dir = Path(out_dir)
    sweep = read_sweep(out_dir)
    if (out_dir / RUNS).exists() and (out_dir / CURVES).exists():
        tables = [read_assembled(out_dir, name) for name in (RUNS, CURVES)]  # verified
        # Thresholds recorded by a reclassification only describe the frame on disk.
        recorded = read_classify_meta(out_dir / RUNS) if "phase" in tables[0].columns else None
        cs = classify_settings(sweep, recorded)
        runs, curves = tables
        return Results(out_dir, runs, curves, sweep, cs, recorded is not None)
    damaged = check_parts(out_dir).damaged
    if damaged:
        raise DamagedError(
            f"{damaged[0]}; {rerun_hint(out_dir)} to move its batch to {out_dir / DAMAGED} and "
            "train its runs again"
        )
    members = sweep_members(out_dir, sweep)
    runs, curves = assemble(out_dir, keep=members)
    if members is not None and "refine_round" in runs:
        runs = runs.assign(refine_round=runs["run_id"].map(members).astype(int))
    return Results(out_dir, runs, curves, sweep, classify_settings(sweep))


def sweep_members(out_dir: Path, sweep: Mapping[str, Any]) -> dict[str, int] | None:
    """run_id -> refine_round of the runs of the folder's sweep (sweep.yaml) among its parts
    (`rounds.sweep_rounds`: not the runs of an earlier grid); None where sweep.yaml is absent
    or no longer loads (an arrays task's file moved): then every run is read."""
    from phasegrok.analysis.rounds import sweep_rounds
    from phasegrok.config.load import ConfigError, load_sweep

    if not sweep:
        return None
    try:  # the folder's copy of a reference table is named relative to no sweep file
        spec = load_sweep({k: v for k, v in sweep.items() if k != "reference"})
    except ConfigError:
        return None
    return sweep_rounds(spec, out_dir)
