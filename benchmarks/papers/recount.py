"""Recount the agreement of the stored full-preset runs (benchmarks/papers/*.runs.parquet) under
the rules of evidence (README, "Rules of evidence"): each reference's own rule, every seed
counted, and the most-common-phase baseline, in compare's pinned summary form.

Full presets were trained on a GPU; their curves are not kept, only runs.parquet. A rule that
reads only what runs.parquet holds can be applied again without training: the preset's own
(its stored `phase`) and Liu et al.'s four phases (`liu`: from `t_fit` and `t_gen` alone,
`classify.liu_phases`). Another rule needs the curves, and the line says so.

    PYTHONPATH=. python benchmarks/papers/recount.py > benchmarks/papers/recount.txt
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import yaml

from phasegrok.analysis.classify import liu_phases
from phasegrok.analysis.comparison import agreement_summary, match_cells
from phasegrok.config.reference import read_reference
from phasegrok.config.schema import ClassifySpec

HERE = Path(__file__).resolve().parent
PAPERS = HERE.parents[1] / "sweeps" / "papers"
# A stored file's preset: its name, or the preset a variant of it ran (another loss, seeds).
PRESET = {
    "pair-modular-8seeds": "pair-modular",
    "pair-parity-exact": "pair-parity",
    "pair-parity-two-logit": "pair-parity",
}


def recount(stored: Path) -> str:
    name = stored.name.removesuffix(".runs.parquet")
    preset = PRESET.get(name, name)
    sweep = yaml.safe_load((PAPERS / f"{preset}.yaml").read_text())
    if not sweep.get("reference"):
        return f"{name}: no reference"
    ref = read_reference(PAPERS / sweep["reference"])
    own = ClassifySpec(**(sweep.get("classify") or {}))
    rule = ref.rule or own.rule  # the rule the reference's source used, else the preset's
    runs = pd.read_parquet(stored)
    if rule == "liu" and own.rule != "liu":
        runs = runs.assign(phase=liu_phases(runs["t_fit"], runs["t_gen"], own.grok_gap))
    elif rule != own.rule:
        return f"{name}: the reference's rule {rule} needs the curves (not kept); not recounted"
    if not ref.has_phase:
        return f"{name}: the reference has no phases"
    m = match_cells(runs, sweep, ref)
    return f"{name}: {agreement_summary(m, rule)}"


def main() -> int:
    for stored in sorted(HERE.glob("*.runs.parquet")):
        print(recount(stored))
    return 0


if __name__ == "__main__":
    sys.exit(main())
