"""After a batch has trained: the lens values read from its stored parameters.

Outside the compiled training (once a batch, at the edge where its results are written):

- per modular run, from its final parameters, the readout and units columns of runs.parquet
  (`readout.run_columns`);
- per modular run with a cyclic group, `analysis.progress_measures` on and p <= `MAX_P`, the
  progress measures (`phasegrok.progress`) at every saved step (`train.save_params_at` and the
  last), with the run's final input-side key frequencies: rows of progress.parquet, and the
  final values as ``final_restricted_loss``, ``final_excluded_loss``, ``final_full_loss``.

The grid's logits come from the run's own model (`models.make_model`), so they are exactly the
trained network's; the training pairs are the run's (its seed's order of `tasks.modular_pairs`,
its first n_train, as `tasks.batch_data` builds them).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jax
import numpy as np
import pandas as pd

from phasegrok import cyclic, lens, progress, readout
from phasegrok.engine import BatchResult
from phasegrok.models import make_model
from phasegrok.plan import Batch, Run, StaticSpec
from phasegrok.tasks import example_order, modular_label, modular_pairs
from phasegrok.training import model_facts

MAX_P = progress.MAX_P
FINAL_COLUMNS = ("restricted_loss", "excluded_loss", "full_loss")


@cache
def _logits_fn(static: StaticSpec) -> Any:
    model = make_model(static)
    return jax.jit(lambda params, x: model.apply({"params": params}, x))


def grid_logits(static: StaticSpec, params: Any, pairs: np.ndarray) -> np.ndarray:
    """The model's (len(pairs), classes) logits at `params` (one run's tree, no run axis)."""
    return np.asarray(_logits_fn(static)(params, pairs), dtype=np.float64)


def train_mask(static: StaticSpec, run: Run, pairs: np.ndarray) -> np.ndarray:
    """Whether each of `pairs` is one of the run's training pairs."""
    every, _ = modular_pairs(static.op, static.p, static.symmetric)
    n_train = int(run.hyper.n_train)
    chosen = every[example_order(run.seed, len(every))[:n_train]]
    codes = set((chosen[:, 0].astype(np.int64) * static.p + chosen[:, 1]).tolist())
    grid_codes = pairs[:, 0].astype(np.int64) * static.p + pairs[:, 1]
    return np.isin(grid_codes, np.fromiter(codes, dtype=np.int64, count=len(codes)))


def wanted(static: StaticSpec, run: Run) -> bool:
    """Whether the run gets progress measures: modular with a cyclic group, p <= MAX_P and
    `analysis.progress_measures` on (the default)."""
    return (
        static.task_kind == "modular"
        and bool(run.config.get("analysis.progress_measures", True))
        and static.p <= MAX_P
        and cyclic.n_frequencies(static.op, static.p) > 0
    )


def run_progress(
    static: StaticSpec, run: Run, steps: dict[int, Any], keys: list[int]
) -> list[dict[str, Any]]:
    """One row per saved step (`steps`: step -> params) of one run's progress measures."""
    pairs, s = progress.group_grid(static.op, static.p)
    n = len(cyclic.group_tokens(static.op, static.p))
    labels = modular_label(static.op, pairs[:, 0].astype(np.int64), pairs[:, 1], static.p)
    train = train_mask(static, run, pairs)
    rows = []
    for step, params in sorted(steps.items()):
        found = dict.fromkeys(progress.MEASURES, float("nan"))
        if lens.finite(params):
            logits = grid_logits(static, params, pairs)
            found = progress.measures(logits, labels, s, n, keys, train, static.loss)
        rows.append({"run_id": run.run_id, "step": int(step), **found})
    return rows


def one_run(params: dict[int, Any], i: int) -> dict[int, Any]:
    """Run i's parameters at each saved step, from trees with a leading run axis."""
    return {step: jax.tree.map(lambda a: np.asarray(a[i]), tree) for step, tree in params.items()}


def batch_measures(batch: Batch, result: BatchResult) -> tuple[dict[str, list], pd.DataFrame]:
    """(runs.parquet columns by name, one value per run; the batch's progress rows).

    Non-modular batches get no columns and an empty frame.
    """
    static = batch.static
    if static.task_kind != "modular":
        return {}, pd.DataFrame()
    facts = model_facts(static)
    columns: dict[str, list] = {}
    rows: list[dict[str, Any]] = []
    for i, run in enumerate(batch.runs):
        steps = one_run(result.params, i)
        final = steps[static.steps]
        keys = None if result.key_frequencies is None else result.key_frequencies[i].tolist()
        found = readout.run_columns(facts, final, keys)
        run_rows = run_progress(static, run, steps, keys) if keys and wanted(static, run) else []
        rows += run_rows
        last = run_rows[-1] if run_rows else {}
        for name in FINAL_COLUMNS:
            found[f"final_{name}"] = last.get(name, float("nan"))
        for name, value in found.items():
            columns.setdefault(name, []).append(value)
    return columns, pd.DataFrame(rows)
