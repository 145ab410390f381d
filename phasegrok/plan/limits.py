"""What a sweep may be before it trains: the limits on its size, and the one line that
describes it (runs, shape groups, work, the estimated time, the results' size)."""

from __future__ import annotations

from pathlib import Path

from phasegrok.config.load import ConfigError
from phasegrok.plan.calibrate import estimate_seconds
from phasegrok.plan.groups import Plan

# Above these a sweep needs --yes: a typo in a grid should not fill a disk.
MAX_RUNS_WITHOUT_YES = 20_000
MAX_BYTES_WITHOUT_YES = 5 << 30
# Never, even with --yes. Training streams (memory bounded by a batch, whatever the grid), but
# the last step, which assembles runs.parquet and curves.parquet, classifies and draws, holds
# the whole sweep's runs and curves in memory: measured ~250 bytes a curve point and ~3 KB a
# run, so at most ~4 GB at these limits.
MAX_RUNS = 500_000
MAX_CURVE_POINTS = 10_000_000
# What the results hold besides the runs' tables and parameters (`Plan.estimate`), measured on
# the quickstart (2026-12-08; 60 runs, 7.2 MB in all, 2.7 MB of them tables and parameters):
# 21 figures of 169 kB on average (3.55 MB): per plot pair the phase diagram and 5 maps, then
# curves, lu and units per frequency, and 3 lens figures of each of 4 example runs (one per
# phase present); index.html, ~1.2 kB a run; the vendored Vega scripts as they are (0.85 MB).
FIGURE_BYTES = 170_000
FIGURES_PER_PAIR = 6
FIGURES_PER_SWEEP = 3 + 4 * 3
PAGE_BYTES_PER_RUN = 1200
VENDOR = Path(__file__).resolve().parents[1] / "report" / "vendor"


def describe(the_plan: Plan) -> str:
    """One line: runs, done, shape groups, and the estimate of what is left to train (its time
    from this machine's measured throughput: `phasegrok.plan.calibrate`)."""
    est = the_plan.estimate()
    n, todo = the_plan.n_runs, the_plan.n_todo
    todo_groups = [(g.static, k) for g, k in zip(the_plan.groups, the_plan.todo, strict=True)]
    seconds, how = estimate_seconds(todo_groups)
    refine = the_plan.spec.file.refine
    after = (
        f"; then up to {refine.max_runs} runs of refinement in {refine.rounds} round(s), not in "
        "the estimate (their points depend on the grid's phases)"
        if refine is not None and refine.rounds and refine.max_runs
        else ""
    )
    size = est["bytes"] + report_bytes(the_plan)
    return (
        f"{the_plan.spec.name}: {n} runs ({n - todo} already done), {len(the_plan.groups)} shape "
        f"group(s); to train ~{est['flops'] / 1e12:.2f} TFLOP (~{duration(seconds)}, {how}), "
        f"~{size / 2**20:.1f} MiB of results (figures included){after}"
    )


def report_bytes(the_plan: Plan) -> float:
    """Bytes of the figures, index.html and the vendored scripts a sweep writes (estimated per
    figure file: `FIGURE_BYTES`)."""
    pairs = max(1, len(the_plan.spec.file.plots))
    figures = FIGURE_BYTES * (FIGURES_PER_PAIR * pairs + FIGURES_PER_SWEEP)
    try:
        scripts = sum(p.stat().st_size for p in VENDOR.iterdir() if p.is_file())
    except OSError:  # an installation without them: the page then has no charts either
        scripts = 0
    return figures + scripts + PAGE_BYTES_PER_RUN * the_plan.n_runs


def duration(seconds: float) -> str:
    """A time for people: "42 s", "7 min", "3.2 h", "1e+03 years"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3.6e9:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 3.15e7:.2g} years"


def refine_budget(the_plan: Plan) -> int:
    """The runs the sweep's refinement rounds may add (`refine.max_runs`; 0 without rounds)."""
    refine = the_plan.spec.file.refine
    return refine.max_runs if refine is not None and refine.rounds else 0


def total_runs(the_plan: Plan) -> int:
    """The most runs the sweep may train: its grid's and its refinement budget."""
    return the_plan.n_runs + refine_budget(the_plan)


def needs_yes(the_plan: Plan) -> bool:
    """Whether the sweep, refinement budget included, is above what runs without --yes."""
    per_run = the_plan.estimate()["bytes"] / max(1, the_plan.n_runs)
    size = the_plan.estimate()["bytes"] + per_run * refine_budget(the_plan)
    return total_runs(the_plan) > MAX_RUNS_WITHOUT_YES or size > MAX_BYTES_WITHOUT_YES


def limit_problem(the_plan: Plan) -> str | None:
    """Why the sweep is refused even with --yes: above MAX_RUNS or MAX_CURVE_POINTS (its
    refinement budget counted as runs of the grid's length), or one run needs more memory
    than this machine has. None if it is not."""
    points = the_plan.curve_points()
    points += refine_budget(the_plan) * (points // max(1, the_plan.n_runs))
    if total_runs(the_plan) > MAX_RUNS or points > MAX_CURVE_POINTS:
        budget = refine_budget(the_plan)
        runs = f"{total_runs(the_plan)} runs with its refinement budget, " if budget else ""
        return (
            f"at most {MAX_RUNS} runs and {MAX_CURVE_POINTS} curve points (runs x eval points; "
            f"this sweep: {runs}{points} points) per sweep, even with --yes, as the results "
            "are assembled in memory: split the grid into several sweeps"
            + (", or lower refine.max_runs" if budget else "")
        )
    import psutil

    need, have = the_plan.largest_run_bytes(), psutil.virtual_memory().total
    if need > have:
        return (
            f"one run needs ~{need / 2**30:.3g} GiB of memory, more than this machine's "
            f"{have / 2**30:.3g} GiB: use a smaller task.p / task.n_bits, train set or model"
        )
    return None


def check_limits(the_plan: Plan) -> None:
    """Raise ConfigError (key `grid`, with the count and estimate) if `limit_problem`."""
    problem = limit_problem(the_plan)
    if problem:
        raise ConfigError("grid", f"{describe(the_plan)}; {problem}")
