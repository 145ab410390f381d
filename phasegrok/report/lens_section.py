"""The mechanistic-lens section of the report: which lens maps and which runs it shows.

`lens_maps` gives the map specs (and captions) of the lens columns in runs.parquet, drawn by
`maps.metric_map` like the other maps; `lens_run_ids` picks the runs (those asked for, or
one example per phase) and `draw_run` draws one run's figures of `lens_figures` from its stored
parameters.
A new lens (a new task kind or op) adds its map specs here and its figures to `draw_run`.
"""

from __future__ import annotations

import glob
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phasegrok.analysis.results import Results
from phasegrok.lens import fourier as lens
from phasegrok.lens.fourier import ModelFacts, facts_of
from phasegrok.report.captions import lens_captions
from phasegrok.report.curves import examples, run_labeller, run_namer
from phasegrok.report.grid import safe_name
from phasegrok.report.lens_figures import (
    lens_curve_figure,
    spectrum_figure,
    star_figure,
    weights_figure,
)
from phasegrok.report.maps import MapSpec
from phasegrok.report.style import save, theme
from phasegrok.report.trajectory_figures import CAPTIONS, trajectory_figure, units_figure
from phasegrok.store import progress as progress_store
from phasegrok.tasks import cyclic
from phasegrok.tasks.base import FOURIER, NO_LENS

MAX_WEIGHT_PANELS = 8
Drawn = list[tuple[Path, str]]  # (written file, caption)


class LensWarning(UserWarning):
    """A run asked for by id lacks what a lens figure needs (its figures are skipped)."""


def analysis_settings(
    spec: Mapping[str, Any], runs: pd.DataFrame | None = None
) -> tuple[int, float]:
    """(fourier_top_k, irrelevant_threshold) of all runs: their own where they hold one value,
    else the sweep's `analysis:` section, else the defaults (5, 0.05)."""
    analysis = dict(spec.get("analysis") or {})
    for name in ("fourier_top_k", "irrelevant_threshold"):
        key = f"analysis.{name}"
        if runs is None or key not in runs.columns:
            continue
        values = runs[key].dropna().unique()
        if len(values) == 1:
            analysis[name] = values[0]
    return int(analysis.get("fourier_top_k", lens.TOP_K)), float(
        analysis.get("irrelevant_threshold", lens.THRESHOLD)
    )


def run_facts(runs: pd.DataFrame, spec: Mapping[str, Any]) -> list[ModelFacts]:
    """The model facts of every run, in row order (the sweep's analysis settings as defaults)."""
    top_k, threshold = analysis_settings(spec)
    return [facts_of(row, top_k, threshold) for row in runs.to_dict("records")]


def _numbers(runs: pd.DataFrame, key: str) -> np.ndarray:
    """The distinct numbers of column `key` (none where `runs` lacks it)."""
    if key not in runs.columns:
        return np.array([])
    return pd.to_numeric(runs[key], errors="coerce").dropna().unique()


def lens_maps(runs: pd.DataFrame, spec: Mapping[str, Any]) -> list[tuple[MapSpec, str]]:
    """Map specs and captions of the lens metrics present in runs.parquet (one per metric)."""
    top_k, threshold = analysis_settings(spec, runs)
    out = []
    # Frequencies of each modular run's group; 0 where its op has none (the lens is blank).
    counts = {
        cyclic.n_frequencies(f.op, f.p) for f in run_facts(runs, spec) if f.lens == FOURIER and f.p
    }
    lensed, blank = counts - {0}, ""
    col = "final_fourier_top_k_share"
    if col in runs.columns and lensed:  # no run with a lens: an empty map would say nothing
        uniform = top_k / next(iter(lensed)) if len(lensed) == 1 else None
        ref = f" The dashed line on the colour bar is a uniform spectrum ({uniform:.2f})." * (
            uniform is not None
        )
        if 0 in counts:
            blank = (
                " Blank cells: runs whose op has no cyclic group to transform over (square_sum,"
                " add_integers, mul at a composite p)."
            )
        m = MapSpec(
            col,
            f"Final top-{top_k} Fourier share of the token maps",
            f"top-{top_k} share, median over seeds",
            False,
            cmap="viridis",
            limits=(0.0, 1.0),
            reference=uniform,
        )
        caption = (
            f"Mechanistic lens. Median over seeds of the final top-{top_k} Fourier share: the"
            f" fraction of the token maps' power (frequencies 1 .. n//2 over the op's cyclic"
            f" group, n = p for add / sub, p − 1 for mul / div; both operands, all hidden units)"
            f" in the {top_k} strongest frequencies. Near 1: the model computes with a few"
            f" frequencies (tokens on circles); a uniform spectrum gives {top_k}/(n//2).{ref}"
            + blank
        )
        out.append((m, caption))
    col = "final_fourier_gini"
    if col in runs.columns and lensed:
        m = MapSpec(
            col,
            "Final Gini coefficient of the Fourier spectrum",
            "Gini of the spectrum, median over seeds",
            False,
            cmap="viridis",
            limits=(0.0, 1.0),
        )
        caption = (
            "Mechanistic lens. Median over seeds of the Gini coefficient of the token maps'"
            " power over frequencies 1 .. n//2 at the last step: 0 for a flat spectrum, close"
            " to 1 when one frequency holds all the power." + blank
        )
        out.append((m, caption))
    col = "final_relevant_weight_share"
    if col in runs.columns:
        ns, ks = _numbers(runs, "task.n_bits"), _numbers(runs, "task.k")
        even = float(ks[0] / ns[0]) if len(ns) == 1 and len(ks) == 1 else None
        ref = f" Dashed on the colour bar: weights spread evenly over the bits ({even:.2f})." * (
            even is not None
        )
        m = MapSpec(
            col,
            "Final first-layer weight on the label bits",
            "relevant weight share, median over seeds",
            False,
            cmap="viridis",
            limits=(0.0, 1.0),
            reference=even,
        )
        caption = (
            "Mechanistic lens. Median over seeds of ‖W[:k]‖² / ‖W‖² at the last step, W the"
            " first layer's (n × width) kernel: the share of its squared weight on the k label"
            " bits. 1 when the irrelevant bits are pruned away; k/n for weights spread evenly."
            + ref
        )
        out.append((m, caption))
    col = "final_irrelevant_units"
    if col in runs.columns:
        m = MapSpec(
            col,
            "Final hidden units still reading an irrelevant bit",
            "units, median over seeds",
            False,
            cmap="viridis_r",
            limits=(0.0, None),
        )
        caption = (
            "Mechanistic lens. Median over seeds of the number of hidden units with some"
            f" first-layer weight |W[i, u]| > {threshold:g} on an irrelevant bit i ≥ k at the"
            " last step; 0 once weight decay has pruned every irrelevant input."
        )
        out.append((m, caption))
    return out


def lens_run_ids(
    runs: pd.DataFrame, spec: Mapping[str, Any], asked: Sequence[str] | None
) -> list[str]:
    """`asked` (ValueError for an unknown id), else the median run of each phase among the runs
    the lens can read (square_sum has no cyclic group)."""
    known = set(runs["run_id"].astype(str))
    if asked is not None:
        unknown = [r for r in asked if r not in known]
        if unknown:
            raise ValueError(f"unknown run id '{unknown[0]}'")
        return list(dict.fromkeys(asked))
    readable = [not f.blank for f in run_facts(runs, spec)]
    return [ids[0] for ids in examples(runs.loc[readable], k=1).values()]


def saved_params(results: Results, run_id: str, warn: bool) -> dict[int, Any]:
    """step -> the run's finite stored parameters; {} (and a LensWarning if `warn`) if none."""
    steps = results.param_steps.get(run_id, [])
    last = results.params(run_id) if steps else None
    if last is None or not lens.finite(last):
        if warn:
            why = "no stored parameters" if last is None else "non-finite parameters"
            warnings.warn(
                f"run {run_id}: {why}; its parameter figures are skipped", LensWarning, stacklevel=3
            )
        return {}
    found = {steps[-1]: last}
    for s in steps[:-1]:
        params = results.params(run_id, s)
        if lens.finite(params):
            found[s] = params
    return dict(sorted(found.items()))


def thin(kernels: dict[int, np.ndarray], most: int = MAX_WEIGHT_PANELS) -> dict[int, np.ndarray]:
    """At most `most` of the steps, evenly spread, first and last kept."""
    if len(kernels) <= most:
        return kernels
    steps = np.asarray(sorted(kernels))
    keep = np.linspace(0, len(steps) - 1, most).round().astype(int)
    return {s: kernels[s] for s in steps[keep].tolist()}


def draw_run(results: Results, run_id: str, asked: bool, keys: Sequence[str]) -> tuple[str, Drawn]:
    """Draw and save one run's lens figures: (heading, [(path, caption)]), the list empty when
    the run has nothing to show.

    Its parameter figures need its stored parameters; its lens curve needs lens columns in
    curves.parquet or saved parameters. What a run lacks is skipped, with a LensWarning when
    it was `asked` for by id. `keys`: the grid axes, named in the heading.
    """
    runs, curves, d = results.runs, results.curves, results.path
    top_k, threshold = analysis_settings(results.sweep)
    row = runs.loc[runs["run_id"].astype(str) == run_id].iloc[0]
    facts = facts_of(row, top_k, threshold)
    head = f"{row.get('phase', '?')} run, {run_labeller(runs, keys)(row)} (run {run_id})"
    if facts.blank:  # no spectrum, star, weights or lens curve to show
        if asked:
            model = row.get("model.kind")
            why = (
                f"model.kind {model} has no lens yet"
                if facts.lens == NO_LENS and isinstance(model, str) and model != "mlp"
                else f"task.kind {row.get('task.kind')} has no lens"
                if facts.lens == NO_LENS
                else f"op '{facts.op}' mod {facts.p} has no cyclic group for the Fourier lens"
            )
            warnings.warn(
                f"run {run_id}: {why}; its lens figures are skipped", LensWarning, stacklevel=2
            )
        return head, []
    captions = lens_captions(facts.lens, facts.top_k, facts.threshold)
    stem = run_namer(runs, keys)(row)
    params = saved_params(results, run_id, warn=asked)
    drawn: Drawn = []
    with theme():
        if params and facts.lens == FOURIER:
            last = params[max(params)]
            fig = spectrum_figure(facts, last, row, runs, head)
            drawn.append((save(fig, d / f"spectrum__{stem}.png"), captions["spectrum"]))
        if params and facts.lens == FOURIER and facts.mlp:  # the star: an MLP's hidden units
            fig = star_figure(facts, last, row, runs, head)
            drawn.append((save(fig, d / f"star__{stem}.png"), captions["star"]))
        # A trajectory needs two saved steps (and an MLP's units and progress measures).
        if len(params) > 1 and facts.lens == FOURIER and facts.mlp:
            curve = curves.loc[curves["run_id"].astype(str) == run_id]
            fig = trajectory_figure(
                facts, params, row, curve, run_progress(results, run_id), runs, head
            )
            drawn.append((save(fig, d / f"trajectory__{stem}.png"), CAPTIONS["trajectory"]))
        if params and facts.lens != FOURIER:
            kernels = {s: lens.parity_first_kernel(ps) for s, ps in params.items()}
            fig = weights_figure(facts, thin(kernels), runs, head)
            drawn.append((save(fig, d / f"weights__{stem}.png"), captions["weights"]))
        points = [{"step": s, **lens.values(facts, ps)} for s, ps in params.items()]
        curve = curves.loc[curves["run_id"].astype(str) == run_id]
        lens_cols = set(lens.MODULAR_METRICS + lens.PARITY_METRICS) & set(curves.columns)
        if len(curve) and (lens_cols or points):
            fig = lens_curve_figure(facts, row, curve, runs, pd.DataFrame(points), head)
            drawn.append((save(fig, d / f"lens_curve__{stem}.png"), captions["lens_curve"]))
    remove_stale(d, run_id, {path for path, _ in drawn})
    return head, drawn


PER_RUN = ("spectrum", "star", "trajectory", "weights", "lens_curve")  # per-run figure kinds


def per_run_files(d: Path, run_id: str) -> list[Path]:
    """The per-run figures of `run_id` in `d`, under any name this or an earlier version gave
    them: `<kind>__<run_id>.png` (before the phase and coordinates were in the name) and
    `<kind>__<phase>__...__<run_id>.png`."""
    rid = glob.escape(safe_name(run_id))
    found: list[Path] = []
    for kind in PER_RUN:
        found += d.glob(f"{kind}__{rid}.png")
        found += d.glob(f"{kind}__*__{rid}.png")
    return found


def remove_stale(d: Path, run_id: str, written: set[Path]) -> None:
    """Delete the run's per-run figures not written now: its files of an earlier name (a folder
    drawn by an older version, or before a reclassification changed its phase) or of a figure
    it no longer gets. Other runs' figures are left alone."""
    for path in per_run_files(d, run_id):
        if path not in written:
            path.unlink(missing_ok=True)


def run_progress(results: Results, run_id: str) -> pd.DataFrame:
    """The run's rows of progress.parquet (empty where the folder has none)."""
    found = progress_store.read(results.path)
    if found is None:
        return pd.DataFrame(columns=["run_id", "step"])
    return found.loc[found["run_id"].astype(str) == run_id]


def draw_units(results: Results) -> Drawn:
    """units_per_frequency.png where runs.parquet has the column for some run."""
    runs = results.runs
    if "units_per_frequency" not in runs.columns or runs["units_per_frequency"].isna().all():
        return []
    with theme():
        fig = units_figure(runs)
        return [(save(fig, results.path / "units_per_frequency.png"), CAPTIONS["units"])]
