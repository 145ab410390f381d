"""Cell-by-cell agreement of a results folder with a published reference table (no JAX).

`match_cells` puts the reference's rows on the sweep's grid (floats matched within a relative
tolerance), `phase_agreement` compares the majority phase of each cell (seeds aggregated on
both sides), `numeric_agreement` a numeric target (medians over seeds, their ratio, and the
Spearman rank correlation over cells, computed as the Pearson correlation of ranks so that no
scipy is needed), `frequency_summary` the key Fourier frequencies. The CLI is
`phasegrok.compare`; the figure `phasegrok.report.comparison`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from phasegrok.config.reference import FREQ_COLUMN, Reference
from phasegrok.config.schema import PHASES

RTOL = 1e-6  # floats of a cell match within this relative tolerance (CSV round trips)


class CompareError(ValueError):
    """The folder and the reference cannot be compared; the message is one line."""


def scalar(value: Any) -> Any:
    """One spelling per value: JSON text parsed ("[64]" -> [64]), a one-element list its
    element (model.hidden [64] is 64), whole floats as int, other numbers as float."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list | tuple | np.ndarray) and len(value) == 1:
        value = value[0]
    if isinstance(value, list | tuple | np.ndarray):
        return json.dumps([scalar(v) for v in value])
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.number):
        return float(value)
    return value


def _match_value(value: Any, candidates: Sequence[Any]) -> Any:
    """The candidate equal to `value` (floats within RTOL), else None."""
    for c in candidates:
        if isinstance(value, float) and isinstance(c, float):
            if np.isclose(value, c, rtol=RTOL, atol=0.0):
                return c
        elif value == c:
            return c
    return None


def swept_axes(sweep: dict[str, Any], runs: pd.DataFrame) -> list[str]:
    """The sweep's grid keys whose values vary among `runs`."""
    keys = [k for k in (sweep.get("grid") or {}) if k in runs.columns]
    return [k for k in keys if runs[k].map(scalar).nunique(dropna=True) > 1]


@dataclass(frozen=True)
class Matched:
    """Runs and reference rows on common cells: `cell` columns hold the runs' own values."""

    runs: pd.DataFrame  # the runs of compared cells, plus `cell` (a tuple key)
    ref: pd.DataFrame  # the reference rows of compared cells, plus `cell` and `weight`
    keys: tuple[str, ...]  # the grid columns compared
    unmatched_ref: int  # reference cells no run landed on
    unmatched_runs: int  # result cells the reference has no row for


def match_cells(runs: pd.DataFrame, sweep: dict[str, Any], ref: Reference) -> Matched:
    """Put the reference's rows on the runs' cells; raise CompareError if the axes differ."""
    keys = ref.grid
    missing = [k for k in keys if k not in runs.columns]
    if missing:
        raise CompareError(
            f"reference column {missing[0]} is not a column of runs.parquet (a sweep key?)"
        )
    extra = [k for k in swept_axes(sweep, runs) if k not in keys]
    if extra:
        raise CompareError(
            f"the results sweep {extra[0]}, which the reference has no column for; "
            f"reference grid columns: {', '.join(keys) or 'none'}"
        )
    run_vals = runs[list(keys)].map(scalar) if keys else pd.DataFrame(index=runs.index)
    table = ref.table.assign(weight=ref.counts)
    ref_vals = pd.DataFrame(index=table.index)
    for k in keys:
        choices = list(dict.fromkeys(run_vals[k].dropna()))
        ref_vals[k] = [_match_value(scalar(v), choices) for v in table[k]]
    run_cells = pd.Series(list(map(tuple, run_vals.to_numpy().tolist())), index=runs.index)
    ref_cells = pd.Series(list(map(tuple, ref_vals.to_numpy().tolist())), index=table.index)
    common = set(run_cells) & set(ref_cells)
    if not common:
        raise CompareError(
            f"no cell in common: the reference's {', '.join(keys)} values match no run"
        )
    order = list(dict.fromkeys(c for c in run_cells if c in common))
    rank = {c: i for i, c in enumerate(order)}
    in_runs, in_ref = run_cells.isin(common), ref_cells.isin(common)
    matched_runs = runs.loc[in_runs].assign(cell=run_cells[in_runs])
    matched_ref = table.loc[in_ref].assign(cell=ref_cells[in_ref])
    for k in keys:  # the runs' own spelling, so that figures place both sides alike
        matched_ref[k] = [
            matched_runs.loc[matched_runs["cell"] == c, k].iloc[0] for c in matched_ref["cell"]
        ]
    matched_runs = matched_runs.assign(_rank=matched_runs["cell"].map(rank)).sort_values("_rank")
    matched_ref = matched_ref.assign(_rank=matched_ref["cell"].map(rank)).sort_values("_rank")
    ref_written = table[list(keys)].astype(str).agg("|".join, axis=1) if keys else ref_cells
    return Matched(
        matched_runs.drop(columns="_rank"),
        matched_ref.drop(columns="_rank"),
        keys,
        ref_written[~in_ref].nunique(),
        len(set(run_cells) - common),
    )


def majority_phase(phases: pd.Series, weights: pd.Series | None = None) -> tuple[str, int, int]:
    """(majority phase, its count k, total n); ties go to the phase listed first in PHASES."""
    w = np.ones(len(phases), dtype=int) if weights is None else weights.to_numpy(dtype=int)
    counts = pd.Series(w, index=phases.astype(str).to_numpy()).groupby(level=0).sum()
    counts = counts.reindex(list(PHASES), fill_value=0)
    best = str(counts.idxmax())
    return best, int(counts[best]), int(counts.sum())


def cell_label(cell: tuple, keys: Sequence[str]) -> dict[str, Any]:
    """A cell's grid values by key, whole numbers printed as integers."""
    pairs = zip(keys, cell, strict=True)
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in pairs}


def phase_agreement(m: Matched, phase_column: str = "phase") -> pd.DataFrame:
    """Per compared cell: the published majority phase and count, phasegrok's, and agree."""
    rows = []
    ref_phase = m.ref.dropna(subset=["phase"])
    # "cell" holds tuples, which pandas' stubs cannot say of a group key (hence the casts)
    for cell, runs in m.runs.groupby("cell", sort=False):
        published = ref_phase[ref_phase["cell"] == cell]
        if not len(published):
            continue
        pub, pk, pn = majority_phase(published["phase"], published["weight"])
        ours, ok, on = majority_phase(runs[phase_column])
        rows.append(
            {
                **cell_label(cast(tuple[Any, ...], cell), m.keys),
                "published": f"{pub} {pk}/{pn}",
                "phasegrok": f"{ours} {ok}/{on}",
                "agree": "yes" if pub == ours else "no",
            }
        )
    return pd.DataFrame(rows)


def published_phases(m: Matched) -> dict[Any, str]:
    """The published majority phase of each compared cell that has one."""
    rows = m.ref.dropna(subset=["phase"])
    return {
        cell: majority_phase(group["phase"], group["weight"])[0]
        for cell, group in rows.groupby("cell", sort=False)
    }


def agreement_summary(m: Matched, rule: str, phase_column: str = "phase") -> str:
    """The pinned summary line: `agree N/M cells (rule: NAME; S seeds, each seed A-B/M;
    most-common-phase baseline C/M)`.

    N: cells whose majority phase over seeds is the published one. Each seed alone: its own run
    per cell against the same published phase (A the worst seed, B the best). The baseline is
    a trivial predictor's: the reference's most common phase everywhere.
    """
    published = published_phases(m)
    compared = m.runs[m.runs["cell"].isin(list(published))]
    n_cells = len(published)

    def agreeing(runs: pd.DataFrame) -> int:
        ours = {c: majority_phase(g[phase_column])[0] for c, g in runs.groupby("cell", sort=False)}
        return sum(ours.get(cell) == phase for cell, phase in published.items())

    seeds = sorted(compared["seed"].dropna().unique()) if "seed" in compared else []
    per_seed = [agreeing(compared[compared["seed"] == seed]) for seed in seeds] or [0]
    phases = pd.Series(list(published.values()), dtype=object)
    baseline = int(phases.value_counts().max()) if n_cells else 0
    return (
        f"agree {agreeing(compared)}/{n_cells} cells (rule: {rule}; {len(seeds)} seeds, each "
        f"seed {min(per_seed)}-{max(per_seed)}/{n_cells}; most-common-phase baseline "
        f"{baseline}/{n_cells})"
    )


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The median of `values` each repeated `weights` times (NaN dropped; +inf kept)."""
    keep = ~np.isnan(values)
    if not keep.any():
        return float("nan")
    return float(np.median(np.repeat(values[keep], weights[keep])))


def never_is_inf(column: str) -> bool:
    """Whether a missing value of the column means "never reached" (+inf), as in the maps."""
    return column in ("t_fit", "t_gen", "grok_delay")


def numeric_agreement(m: Matched, column: str) -> pd.DataFrame:
    """Per compared cell: published and phasegrok medians of `column`, and their ratio."""
    if column not in m.runs.columns:
        raise CompareError(f"reference column {column} is not a column of runs.parquet")
    rows = []
    # "cell" holds tuples, which pandas' stubs cannot say of a group key (hence the casts)
    for cell, runs in m.runs.groupby("cell", sort=False):
        published = m.ref[m.ref["cell"] == cell]
        pub_values = pd.to_numeric(published[column], errors="coerce").to_numpy(dtype=float)
        if np.isnan(pub_values).all():
            continue
        ours = pd.to_numeric(runs[column], errors="coerce").astype(float)
        if never_is_inf(column):
            ours = ours.fillna(np.inf)
        pub = weighted_median(pub_values, published["weight"].to_numpy(dtype=int))
        mine = weighted_median(ours.to_numpy(), np.ones(len(ours), dtype=int))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = mine / pub if pub != 0 else float("nan")
        rows.append(
            {
                **cell_label(cast(tuple[Any, ...], cell), m.keys),
                "published": pub,
                "phasegrok": mine,
                "ratio": ratio,
            }
        )
    return pd.DataFrame(rows)


def spearman(a: pd.Series, b: pd.Series) -> float:
    """Spearman's rank correlation: the Pearson correlation of the average ranks (NaN pairs
    dropped; +inf ranks last). NaN with fewer than 3 cells or a constant side."""
    keep = a.notna() & b.notna()
    if keep.sum() < 3:
        return float("nan")
    ra, rb = a[keep].rank(), b[keep].rank()
    if ra.nunique() < 2 or rb.nunique() < 2:
        return float("nan")
    return float(ra.corr(rb))


def numeric_summary(column: str, table: pd.DataFrame) -> str:
    """One line: the rank correlation over cells and the median ratio of `column`."""
    if not len(table):
        return f"{column}: no cell with a published value"
    rho = spearman(table["published"], table["phasegrok"])
    finite = table["ratio"].replace([np.inf, -np.inf], np.nan).dropna()
    ratio = f"{finite.median():.3g}" if len(finite) else "n/a"
    rho_text = "n/a" if np.isnan(rho) else f"{rho:.2f}"
    return (
        f"{column}: Spearman rank correlation {rho_text} over {len(table)} cells, "
        f"median ratio phasegrok/published {ratio}"
    )


def parse_freqs(value: Any) -> list[int]:
    """Key frequencies from a reference cell ("4 5 7 26") or a runs.parquet cell (a list)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [int(v) for v in value.replace(",", " ").split()]
    return [int(v) for v in value]


def frequency_summary(m: Matched) -> list[str]:
    """Lines comparing key frequencies: per run count, and the most common frequencies."""
    if FREQ_COLUMN not in m.runs.columns:
        return ["key frequencies: runs.parquet has none (not a modular task with a lens)"]
    sides = {
        "published": [parse_freqs(v) for v in m.ref[FREQ_COLUMN] if parse_freqs(v)],
        "phasegrok": [parse_freqs(v) for v in m.runs[FREQ_COLUMN] if parse_freqs(v)],
    }
    lines = []
    for name, runs in sides.items():
        if not runs:
            lines.append(f"key frequencies, {name}: none")
            continue
        sizes = np.array([len(r) for r in runs])
        counts = pd.Series([f for r in runs for f in r]).value_counts()
        top = ", ".join(f"{f} ({100 * n / len(runs):.0f}%)" for f, n in counts.head(6).items())
        lines.append(
            f"key frequencies, {name}: {len(runs)} runs, {np.median(sizes):g} a run "
            f"(min {sizes.min()}, max {sizes.max()}), {counts.size} distinct; most common: {top}"
        )
    return lines
