"""`python -m phasegrok.plot DIR [--classify KEY=VALUE ...] [--reclassify] [--run ID ...]`.

Redraws a results folder's figures and index.html.

Reads DIR/runs.parquet, DIR/curves.parquet and DIR/sweep.yaml; never needs JAX or retraining.

- ``--classify KEY=VALUE`` (repeatable, or several pairs after one flag) overrides thresholds of
  the sweep's ``classify:`` section, e.g. ``--classify threshold=0.95 grok_gap=500`` or
  ``--classify rule=pair pair_loss_scale=per_class``. Values are parsed as YAML (``null`` for
  None). Overrides apply on top of sweep.yaml, not on top of an earlier reclassification, so the
  command line alone says what the phases mean.
- ``--reclassify`` reclassifies with sweep.yaml's settings as written (undoing overrides).
- ``--run RUN_ID`` (repeatable) draws the per-run figures of the mechanistic lens (spectrum,
  star, lens curve, parity weights; `phasegrok.report.lens_section`) for these runs instead of one
  example run per phase. Earlier per-run files stay on disk; index.html shows the runs asked for.

Reclassifying rewrites runs.parquet (temp file, then ``os.replace``) with new classification
columns; other columns and the schema metadata are kept, the thresholds used are recorded under
the schema key ``phasegrok.analysis.classify`` (shown in index.html), and curves.parquet is never
written. Every figure and index.html are then redrawn.

Bad input (missing folder or parquet file, unknown key, invalid value, unknown run id): one
line on stderr naming the key (or run id) and what is allowed, exit status 2, nothing written.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # the command: its one handler first, then the heavy imports below
    from phasegrok.command import run_command

    sys.exit(run_command("phasegrok.plot", prefix="phasegrok.plot: error: "))

import argparse
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
import yaml
from pydantic import ValidationError

from phasegrok.analysis.classify import classify_runs
from phasegrok.analysis.results import load
from phasegrok.command import guarded
from phasegrok.config.schema import ClassifySpec
from phasegrok.store import folder as store
from phasegrok.store.atomic import path_problem
from phasegrok.store.folder import (
    CURVES,
    PARTS,
    RUNS,
    DamagedError,
    read_assembled,
    rerun_hint,
    table_damage,
    write_runs,
)


class UsageError(ValueError):
    """Bad command-line input; the message is the one line printed."""


def _allowed() -> str:
    return ", ".join(ClassifySpec.model_fields)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings to a dict of classify overrides (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().removeprefix("classify.")
        if not sep or not key:
            raise UsageError(f"--classify expects KEY=VALUE, got '{item}'; keys: {_allowed()}")
        if key not in ClassifySpec.model_fields:
            raise UsageError(f"unknown classify key '{key}'; allowed: {_allowed()}")
        try:
            out[key] = yaml.safe_load(raw)
        except yaml.YAMLError:
            out[key] = raw
    return out


def build_spec(base: Mapping[str, Any] | None, overrides: Mapping[str, Any]) -> ClassifySpec:
    """sweep.yaml's `classify:` section with `overrides` on top, validated."""
    merged = {**dict(base or {}), **overrides}
    try:
        return ClassifySpec(**merged)
    except ValidationError as err:
        errors = err.errors()
        key = str(errors[0]["loc"][0]) if errors[0]["loc"] else "?"
        if errors[0]["type"] == "extra_forbidden":
            raise UsageError(f"unknown classify key '{key}'; allowed: {_allowed()}") from None
        # A union field (pair_loss_scale) fails once per branch: say what each would accept.
        msgs = [e["msg"] for e in errors if e["loc"] and str(e["loc"][0]) == key]
        got = merged.get(key)
        raise UsageError(f"classify.{key}={got!r}: {'; or '.join(msgs)}") from None


def _folder_sweep(results_dir: Path) -> dict[str, Any]:
    """sweep.yaml as a dict ({} when absent); UsageError when it is not YAML."""
    try:
        return store.read_sweep(results_dir)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _check_folder(d: Path) -> None:
    problem = path_problem(d)
    if problem:
        raise UsageError(problem)
    if d.exists() and not d.is_dir():
        raise UsageError(f"'{d}' is a file, not a results folder (the folder --out names)")
    if not d.is_dir():
        raise UsageError(f"results folder '{d}' does not exist")
    for name in (RUNS, CURVES):
        if not (d / name).is_file():
            if any((d / PARTS).glob("*.runs.parquet")):  # a sweep that did not finish
                raise UsageError(f"'{d}' has no {name} yet; {rerun_hint(d)} to finish the sweep")
            raise UsageError(f"'{d}' has no {name}; expected a phasegrok results folder")
        damage = table_damage(d / name)
        if damage:
            raise UsageError(f"{d / name} {damage}; {rerun_hint(d)} to assemble it again")


def reclassify(results_dir: str | Path, overrides: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Reclassify a results folder's runs (sweep.yaml + `overrides`) and rewrite runs.parquet."""
    d = Path(results_dir)
    _check_folder(d)
    sweep = _folder_sweep(d)
    overrides = dict(overrides or {})
    for key in overrides:
        if key not in ClassifySpec.model_fields:
            raise UsageError(f"unknown classify key '{key}'; allowed: {_allowed()}")
    spec = build_spec(sweep.get("classify"), overrides)
    runs = classify_runs(read_assembled(d, RUNS), read_assembled(d, CURVES), spec)
    write_runs(d / RUNS, runs, spec.model_dump(mode="json") if overrides else None)
    return runs


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: scripts grep stderr.
        self.exit(2, f"phasegrok.plot: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m phasegrok.plot",
        description="Redraw a results folder's figures and index.html; optionally reclassify.",
    )
    p.add_argument("results_dir", metavar="DIR", help="results folder of a sweep")
    p.add_argument(
        "--classify",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a classify threshold and reclassify; keys: {_allowed()}",
    )
    p.add_argument(
        "--reclassify",
        action="store_true",
        help="reclassify with sweep.yaml's classify settings as written",
    )
    p.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="RUN_ID",
        help="draw the per-run lens figures for this run (repeatable); default: one per phase",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (130 interrupted, 1 cannot write)."""
    return guarded(lambda: _main(argv), prefix="phasegrok.plot: error: ")


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    d = Path(args.results_dir)
    try:
        _check_folder(d)
        sweep = _folder_sweep(d)
        overrides = parse_overrides(args.classify)
        spec = build_spec(sweep.get("classify"), overrides)
        runs = read_assembled(d, RUNS)  # page checksums verified: a damaged table is one line
        _check_plot_axes(sweep, runs)
        _check_runs(args.run, runs)
    except (UsageError, DamagedError) as err:
        print(f"phasegrok.plot: error: {err}", file=sys.stderr)
        return 2

    import matplotlib

    matplotlib.use("Agg")  # a process of our own: no display, whatever the environment says
    from phasegrok.report import LensWarning, draw_all

    try:  # curves.parquet or a params npz that fails its checksums: one line
        if overrides or args.reclassify or "phase" not in runs.columns:
            runs = classify_runs(runs, read_assembled(d, CURVES), spec)
            write_runs(d / RUNS, runs, spec.model_dump(mode="json") if overrides else None)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LensWarning)
            paths = draw_all(load(d), lens_runs=args.run or None)
    except DamagedError as err:
        print(f"phasegrok.plot: error: {err}", file=sys.stderr)
        return 2
    for w in caught:
        if issubclass(w.category, LensWarning):
            print(f"phasegrok.plot: warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    print(f"wrote {len(paths)} files; open {d / 'index.html'}")
    return 0


def _check_runs(run_ids: Sequence[str], runs: pd.DataFrame) -> None:
    known = set(runs["run_id"].astype(str)) if "run_id" in runs.columns else set()
    for run_id in run_ids:
        if run_id not in known:
            examples = ", ".join(sorted(known)[:3]) + (", ..." if len(known) > 3 else "")
            raise UsageError(
                f"--run: unknown run id '{run_id}'; runs.parquet has {len(known)} runs"
                + (f" ({examples})" if known else "")
            )


def _check_plot_axes(sweep: Mapping[str, Any], runs: pd.DataFrame) -> None:
    for i, entry in enumerate(sweep.get("plots") or []):
        for axis in ("x", "y"):
            key = (entry or {}).get(axis) if isinstance(entry, Mapping) else None
            if key is None or key not in runs.columns:
                raise UsageError(
                    f"plots[{i}].{axis}: '{key}' is not a column of runs.parquet; swept: "
                    + (", ".join(sweep.get("grid") or {}) or "none")
                )
