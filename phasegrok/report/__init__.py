"""Figures and the HTML gallery of a results folder, from its parquet files alone (no JAX).

`draw_all(results)` writes into the results folder:

- ``phase__<x>__<y>.png``: phase diagram per `plots:` entry (default: the first two grid axes;
  one grid axis: that axis against seed). One cell per grid point, coloured by the majority
  phase over seeds; lighter colour and a ``k/n`` count for split votes; hatched where a seed was
  still learning when training stopped. Further grid axes become facets, never averaged.
- ``map_t_gen__<x>__<y>.png``, ``map_final_test_acc__<x>__<y>.png``,
  ``map_grok_delay__<x>__<y>.png``: medians over seeds on the same grid.
- ``curves.png``: train/test accuracy against step for a few runs of each phase.
- ``lu.png``: train and test loss against weight norm (Omnigrok's LU picture).
- The mechanistic lens, where runs.parquet has lens columns and the folder stored parameters:
  ``map_final_fourier_top_k_share__<x>__<y>.png`` and friends, and per run (one per phase, or
  `draw_all(..., lens_runs=[...])`) ``spectrum__<run>.png``, ``star__<run>.png``,
  ``lens_curve__<run>.png``, ``trajectory__<run>.png`` (the spectrum over the saved
  steps, the progress measures) or, for parity, ``weights__<run>.png``, with <run> the run's
  phase, grid point, seed and id (``grok__wd0.316_frac0.45__s0__<run_id>``,
  `curves.run_namer`); and
  ``units_per_frequency.png`` (hidden units per frequency, by phase).
- ``index.html``: an interactive phase diagram per axis pair (`interactive`: Vega-Lite, with
  the vega scripts copied into ``vendor/``, works offline), every figure with a caption, phase
  counts and the sweep's settings. While a sweep trains, `live` rewrites it after each batch.

The modules, in the order a figure is made: `grid` (axes, labels, facets), `style` (theme,
titles, saving), `diagrams` (phase diagram and maps, axes-level), `curves` (curves, LU),
`lens_figures` and `lens_section` (the lens), `captions`, `vega_spec` and `interactive` (the
Vega-Lite charts), `gallery` (index.html), `live` (index.html during a sweep), `parallel`
(several processes drawing at once). Figures are `matplotlib.figure.Figure` objects on the Agg
canvas: importing this never changes pyplot's backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from phasegrok.analysis.results import Results, load
from phasegrok.report.captions import captions
from phasegrok.report.curves import curves_figure, lu_figure
from phasegrok.report.diagrams import phase_diagram
from phasegrok.report.gallery import Drawn, write_index
from phasegrok.report.grid import grid_keys, label, plot_pairs, safe_name
from phasegrok.report.interactive import interactive_html
from phasegrok.report.lens_section import (
    LensWarning,
    draw_run,
    draw_units,
    lens_maps,
    lens_run_ids,
)
from phasegrok.report.maps import MAPS, MapSpec, metric_map
from phasegrok.report.parallel import default_workers, executor, recording, replay
from phasegrok.report.scatter import phase_scatter, refined, sampled_pair
from phasegrok.report.style import save, theme

__all__ = ["LensWarning", "draw_all", "draw_curves", "draw_grid", "draw_run"]


def draw_all(
    results: Results | str | Path,
    lens_runs: Sequence[str] | None = None,
    workers: int | None = None,
) -> list[Path]:
    """Write every figure and index.html into the results folder; return the written paths.

    `results`: a loaded `results.Results`, or a folder to load. Runs without a `phase` column are
    classified first, in memory only. `lens_runs`: the run ids that get the per-run lens
    figures; None: one example run per phase present. An id not in the runs raises ValueError.
    `workers`: processes drawing at once (`parallel.default_workers`: the CPUs, or 1 where JAX
    is loaded).
    """
    if not isinstance(results, Results):
        if not Path(results).is_dir():
            raise FileNotFoundError(f"results folder '{results}' does not exist")
        results = load(results)
    results = results.classified()
    runs = results.runs
    keys = grid_keys(results.sweep, runs)
    any_still = "still_learning" in runs.columns and bool(runs["still_learning"].any())
    any_partial = "partial_generalization" in runs.columns and bool(
        runs["partial_generalization"].fillna(False).astype(bool).any()
    )
    texts = captions(results.classify, any_still, any_partial)
    pairs = plot_pairs(results.sweep, keys) if len(runs) else []
    ids = lens_run_ids(runs, results.sweep, lens_runs) if lens_runs is not None or len(runs) else []
    results.param_steps  # noqa: B018 - read once here, not once per worker
    tasks = len(pairs) + len(ids) + 3
    grid = results.sweep.get("grid") or {}
    with executor(workers or default_workers(tasks)) as pool:
        # The longest tasks first, so that the workers finish together.
        per_run = [
            pool.submit(recording, draw_run, results, r, lens_runs is not None, keys) for r in ids
        ]
        grids = [pool.submit(recording, draw_grid, results, x, y, keys, texts) for x, y in pairs]
        trajectories = pool.submit(recording, draw_curves, results, keys, texts)
        units = pool.submit(recording, draw_units, results)
        charts = pool.submit(
            recording, interactive_html, results.path, runs, results.curves, pairs, keys, grid
        )
        figures: Drawn = []
        lens_groups: list[tuple[str, Drawn]] = [("Lens metrics on the grid", [])]
        for future in grids:
            (drawn, lens_drawn), caught = future.result()
            replay(caught)
            figures += drawn
            lens_groups[0][1].extend(lens_drawn)
        drawn, caught = trajectories.result()
        replay(caught)
        figures += drawn
        drawn, caught = units.result()
        replay(caught)
        lens_groups[0][1].extend(drawn)
        for future in per_run:
            (head, drawn), caught = future.result()
            replay(caught)
            if drawn:
                lens_groups.append((head, drawn))
        interactive, caught = charts.result()
        replay(caught)
    index = write_index(
        results.path,
        runs,
        figures,
        results.sweep_text(),
        classify_text(results),
        results.sweep.get("name"),
        lens=lens_groups,
        interactive=interactive,
    )
    return [p for p, _ in figures] + [p for _, group in lens_groups for p, _ in group] + [index]


def classify_text(results: Results) -> str:
    """The classify settings as YAML for index.html, marked when a reclassification set them."""
    text = yaml.safe_dump(results.classify.model_dump(mode="json"), sort_keys=False)
    if results.classify_recorded:
        return "# set by the last `python -m phasegrok.plot --classify ...`\n" + text
    return text


def draw_curves(results: Results, keys: Sequence[str], texts: dict[str, str]) -> Drawn:
    """curves.png and lu.png, where there are runs and curves."""
    runs, curves, d = results.runs, results.curves, results.path
    if not len(runs) or not len(curves):
        return []
    with theme():
        return [
            (save(curves_figure(runs, curves, keys), d / "curves.png"), texts["curves"]),
            (save(lu_figure(runs, curves), d / "lu.png"), texts["lu"]),
        ]


def draw_grid(
    results: Results, x: str, y: str, keys: Sequence[str], texts: dict[str, str]
) -> tuple[Drawn, Drawn]:
    """The phase diagram and the maps on (x, y), the other grid axes as facets; the lens maps
    apart: (figures, lens figures), each as (path, caption)."""
    runs = results.runs
    for key in (x, y):
        if key not in runs.columns:
            raise ValueError(f"plot axis '{key}' is not a column of runs.parquet")
    if x == y:
        raise ValueError(f"plot has the same key on both axes: '{x}'")
    facets = [k for k in keys if k not in (x, y)]
    grid = results.sweep.get("grid") or {}
    stem = f"{safe_name(x)}__{safe_name(y)}"
    where = f" x: {label(x)}; y: {label(y)}" + (
        f"; facets: {', '.join(label(f) for f in facets)}." if facets else "."
    )
    d = results.path
    if sampled_pair(grid, x, y) or refined(runs):  # scattered points: no maps (README)
        with theme():
            fig = phase_scatter(runs, x, y, facets, grid)
            return [(save(fig, d / f"phase__{stem}.png"), texts["phase"] + where)], []
    with theme():
        figures = [
            (
                save(phase_diagram(runs, x, y, facets, grid), d / f"phase__{stem}.png"),
                texts["phase"] + where,
            )
        ]
        maps: list[tuple[MapSpec, str]] = [(m, texts[m.column]) for m in MAPS if m.column in runs]
        for m, caption in maps:
            fig = metric_map(runs, m, x, y, facets, grid)
            figures.append((save(fig, d / f"map_{m.column}__{stem}.png"), caption + where))
        lens = []
        for m, caption in lens_maps(runs, results.sweep):
            fig = metric_map(runs, m, x, y, facets, grid)
            lens.append((save(fig, d / f"map_{m.column}__{stem}.png"), caption + where))
    return figures, lens
