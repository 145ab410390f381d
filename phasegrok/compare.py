"""`python -m phasegrok.compare RESULTS_DIR [--ref CSV] [--rule accuracy|pair]`.

Compares a results folder, cell by cell, with the published outcome in its `reference.csv`
(copied there by the sweep from its `reference:` key; `--ref` names another table; the format
is in `phasegrok.config.reference`). Prints:

- the agreement table, one row per compared cell: the published majority phase with its seed
  count (k/n), phasegrok's, and whether they agree. Seeds are aggregated to the majority phase
  on both sides (ties: the phase listed first in `classify.PHASES`). phasegrok's phases are those
  of the classification rule of the results (the sweep's `classify:` section, or `--rule`);
  where that rule is PAIR's loss rule (`rule: pair`, which the PAIR presets set because the
  published phases were made with it), the table also shows the accuracy rule's phases, and a
  line gives that rule's agreement;
- for each numeric target (e.g. `t_gen`): both medians per cell, their ratio (phasegrok /
  published), and a line with the Spearman rank correlation over cells and the median ratio;
- key frequencies (published next to phasegrok's) where the reference has them;
- as its last line `agree N/M cells`, or, for a reference without phases, the first numeric
  target's summary line.

Writes `compare__<x>__<y>.png` (published cells beside phasegrok's, same axes and phase colours)
and `compare.txt` (the printed text) into the folder and puts both into its index.html.
Exit status 0 whenever it could compare, whatever the agreement; 2 with one line when it
cannot (no reference, an unreadable folder or table, axes that do not match).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # the command: its one handler first, then the heavy imports below
    from phasegrok.command import run_command

    sys.exit(run_command("phasegrok.compare", prefix="phasegrok.compare: error: "))

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from phasegrok.analysis.classify import classify_runs
from phasegrok.analysis.comparison import (
    CompareError,
    Matched,
    agreement_summary,
    frequency_summary,
    match_cells,
    numeric_agreement,
    numeric_summary,
    phase_agreement,
)
from phasegrok.analysis.results import Results, load
from phasegrok.command import guarded
from phasegrok.config.reference import REFERENCE_FILE, Reference, ReferenceError, read_reference
from phasegrok.config.schema import ClassifySpec
from phasegrok.store import folder as store
from phasegrok.store.atomic import path_problem


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m phasegrok.compare",
        description="Compare a results folder cell by cell with a published reference table.",
    )
    parser.add_argument("results_dir", help="the results folder (holds runs.parquet)")
    parser.add_argument("--ref", help=f"reference table (default: RESULTS_DIR/{REFERENCE_FILE})")
    parser.add_argument(
        "--rule",
        choices=("accuracy", "pair", "liu"),
        help="classification rule of the agreement (default: the reference's, recorded in its "
        "`rule` column, else the results' own)",
    )
    parser.add_argument("--no-figure", action="store_true", help="print the tables only")
    return parser


def load_inputs(results_dir: Path, ref_path: str | None) -> tuple[Results, Reference]:
    """The folder's results and the reference table; CompareError (one line) if unusable."""
    problem = path_problem(results_dir)
    if problem:
        raise CompareError(problem)
    if not (results_dir / store.RUNS).exists():
        raise CompareError(f"{results_dir / store.RUNS} does not exist (not a results folder)")
    path = Path(ref_path) if ref_path else results_dir / REFERENCE_FILE
    if not path.is_file():
        where = "" if ref_path else " (the sweep had no `reference:` key)"
        raise CompareError(f"no reference: {path} does not exist{where}; pass --ref CSV")
    problem = None if ref_path else store.copy_problem(results_dir, REFERENCE_FILE)
    if problem:  # the sweep's copy, hashed when copied
        raise CompareError(
            f"{problem}: it is not the table the sweep copied; rerun the sweep from its own "
            "file (which copies its reference anew), or pass --ref CSV"
        )
    try:
        return load(results_dir), read_reference(path)
    except (ReferenceError, store.OutputError, ValueError) as err:
        raise CompareError(str(err)) from None


def _fmt(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def phase_lines(m: Matched, spec: ClassifySpec, curves: pd.DataFrame) -> tuple[list[str], str]:
    """The phase table and agreement lines (the primary rule's last)."""
    table = phase_agreement(m)
    agree = agreement_summary(m, spec.rule)
    if spec.rule != "pair":
        return [f"phases ({spec.rule} rule):", _fmt(table)], agree
    other = spec.model_copy(update={"rule": "accuracy"})
    acc_runs = classify_runs(m.runs.drop(columns="cell"), curves, other)
    acc = phase_agreement(Matched(acc_runs.assign(cell=m.runs["cell"]), *_rest(m)))
    table["accuracy rule"] = acc["phasegrok"].to_numpy()
    table["agree (accuracy)"] = acc["agree"].to_numpy()
    n_acc = (acc["agree"] == "yes").sum()
    return [
        "phases (PAIR's loss rule, as published; the accuracy rule beside it):",
        _fmt(table),
        f"accuracy rule: agree {n_acc}/{len(acc)} cells",
    ], agree


def _rest(m: Matched) -> tuple:
    return m.ref, m.keys, m.unmatched_ref, m.unmatched_runs


def report(results: Results, ref: Reference, rule: str | None) -> tuple[list[str], Matched]:
    """The printed lines (last: the summary line) and the matched cells. phasegrok's runs are
    classified by `rule` if given, else by the reference's own rule, else the results' own."""
    spec = results.classify
    rule = rule or ref.rule
    if rule is not None and rule != spec.rule:
        spec = spec.model_copy(update={"rule": rule})
    runs = results.runs
    if "phase" not in runs.columns or spec != results.classify:
        runs = classify_runs(runs, results.curves, spec)
    m = match_cells(runs, results.sweep, ref)
    sources = sorted(set(ref.table["source"].dropna())) if "source" in ref.table else []
    lines = [
        f"{results.sweep.get('name', results.path.name)}: {len(m.runs)} runs in "
        f"{m.runs['cell'].nunique()} cells compared with {ref.path.name}"
        f" (source: {', '.join(sources) or 'not given'}; reference cells not run: "
        f"{m.unmatched_ref}; result cells without a reference row: {m.unmatched_runs})"
    ]
    last = ""
    if ref.has_phase:
        table_lines, last = phase_lines(m, spec, results.curves)
        lines += table_lines
    for i, column in enumerate(ref.numeric):
        table = numeric_agreement(m, column)
        summary = numeric_summary(column, table)
        lines += [f"{column}:", _fmt(table) if len(table) else "(no values)"]
        if i == 0 and not ref.has_phase:
            last = summary
        else:
            lines.append(summary)
    if ref.has_freqs:
        lines += frequency_summary(m)
    return [*lines, last or "agree 0/0 cells"], m


def draw(results: Results, ref: Reference, m: Matched, text: str) -> Path | None:
    """Write the figure, compare.txt and the gallery's comparison section; return the PNG (None
    where the reference has neither phases nor numbers to draw)."""
    import matplotlib

    matplotlib.use("Agg")
    from phasegrok.report.comparison import COMPARE_TEXT, comparison_section, draw_comparison
    from phasegrok.report.comparison import with_section as insert

    target = "phase" if ref.has_phase else ref.numeric[0] if ref.numeric else None
    d = results.path
    png = None
    if target is not None:
        published = m.ref.loc[np.repeat(m.ref.index.to_numpy(), m.ref["weight"].to_numpy())]
        published = published.dropna(subset=[target]).reset_index(drop=True)
        plots = [(p["x"], p["y"]) for p in results.sweep.get("plots") or []]
        sources = set(ref.table["source"].dropna()) if "source" in ref.table else set()
        head = "published (" + ", ".join(sorted(sources)) + ")" if sources else "published"
        png = draw_comparison(
            d, m.runs, published, m.keys, target, plots, results.sweep.get("grid"), head
        )
    store.write_text(d / COMPARE_TEXT, text)
    index = d / "index.html"
    if index.exists():
        store.write_text(index, insert(index.read_text(), comparison_section(d)))
    else:  # a sweep run with --no-plots: a gallery of the comparison alone
        from phasegrok.report import classify_text
        from phasegrok.report.gallery import write_index

        write_index(d, results.runs, [], results.sweep_text(), classify_text(results))
    return png


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (130 interrupted, 1 cannot write)."""
    return guarded(lambda: _main(argv), prefix="phasegrok.compare: error: ")


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    d = Path(args.results_dir)
    try:
        results, ref = load_inputs(d, args.ref)
        lines, matched = report(results, ref, args.rule)
    except CompareError as err:
        print(f"phasegrok.compare: error: {err}", file=sys.stderr)
        return 2
    text = "\n".join(lines) + "\n"
    png = None if args.no_figure else draw(results, ref, matched, text)
    sys.stdout.write(text)
    sys.stdout.flush()
    if png is not None:
        print(f"wrote {png}", file=sys.stderr)
    return 0
