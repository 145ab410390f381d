"""After a batch has trained: the lens values read from its stored parameters.

Outside the training program (once a batch, at the edge where its results are written):

- per modular run, from its final parameters, the readout and units columns of runs.parquet
  (`readout.run_columns`);
- per modular run with a cyclic group, `analysis.progress_measures` on and p <= `MAX_P`, the
  progress measures (`lens.progress_measures`) at every saved step (`train.save_params_at` and the
  last), with the run's final input-side key frequencies: rows of progress.parquet, and the
  final values as ``final_restricted_loss``, ``final_excluded_loss``, ``final_full_loss``.

The grid's logits come from the run's own model (`models.make_model`), so they are exactly the
trained network's; the training pairs are the run's (its seed's order of
`tasks.modular.modular_pairs`, its first n_train, as `Task.batch_data` builds them).

Both are computed for many runs at once on the device: the per-run functions of `readout` and
`progress`, written against jax.numpy, mapped over the parameters' run axis
(`engine.over_runs`) and compiled once per static spec, in calls of a few runs (`layout`) so
that the grid's (runs, n^2, classes) logits stay within a memory budget. In float32, with
full-precision matmuls; the per-run NumPy functions (float64) are the reference they are
tested against.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from phasegrok.engine.batch import MAX_PROGRAMS, BatchResult, default_memory_budget, over_runs
from phasegrok.engine.models import make_model
from phasegrok.engine.training import model_facts
from phasegrok.lens import progress_measures as progress
from phasegrok.lens import readout
from phasegrok.plan.runs import Batch, Run, StaticSpec
from phasegrok.tasks import TASKS, cyclic
from phasegrok.tasks.base import FOURIER, example_order
from phasegrok.tasks.modular import modular_label, modular_pairs

MAX_P = progress.MAX_P
FINAL_COLUMNS = ("restricted_loss", "excluded_loss", "full_loss")
# Runs of one compiled measuring call at most: past a few hundred the accelerator is full, and
# a power-of-two width caps the programs compiled per static spec at log2 of this.
MAX_CHUNK = 256
# Float32 arrays of the grid's size (n^2 x classes) one run's progress measures are budgeted
# for at once: the logits, R, X and the exponentials of their losses, with a margin (an
# estimate; the readout side is budgeted as this many copies of a run's parameters).
GRID_ARRAYS = 8
CPU_CHUNK = 8


@cache
def _logits_fn(static: StaticSpec) -> Any:
    model = make_model(static)
    return jax.jit(lambda params, x: model.apply({"params": params}, x))


def grid_logits(static: StaticSpec, params: Any, pairs: np.ndarray) -> np.ndarray:
    """The model's (len(pairs), classes) logits at `params` (one run's tree, no run axis)."""
    return np.asarray(_logits_fn(static)(params, pairs), dtype=np.float64)


def train_mask(static: StaticSpec, run: Run, pairs: np.ndarray) -> np.ndarray:
    """Whether each of `pairs` is one of the run's training pairs."""
    task = static.modular
    p = task.p
    every, _ = modular_pairs(task.op, p, task.symmetric)
    chosen = every[example_order(run.seed, len(every))[: int(run.hyper.n_train)]]
    # A table over all p^2 codes a * p + b: one scatter and one gather, no sets.
    member = np.zeros(p * p, dtype=bool)
    member[chosen[:, 0].astype(np.int64) * p + chosen[:, 1]] = True
    return member[pairs[:, 0].astype(np.int64) * p + pairs[:, 1]]


def wanted(static: StaticSpec) -> bool:
    """Whether a batch's runs get progress measures: modular with a cyclic group, p <= MAX_P
    and `analysis.progress_measures` on (the default), read by the Fourier lens, of an MLP
    (a transformer's progress measures are not computed yet)."""
    facts = model_facts(static)
    return (
        facts.lens == FOURIER
        and facts.mlp
        and static.progress_measures
        and static.modular.p <= MAX_P
        and cyclic.n_frequencies(static.modular.op, static.modular.p) > 0
    )


def all_finite(params: Any) -> jax.Array:
    """Whether every leaf of one run's parameter tree is finite (`lens.finite`, traceable)."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(params)]))


# One compiled program per static spec and layout, the latest kept, as the engine's.
@lru_cache(maxsize=MAX_PROGRAMS)
def readout_program(static: StaticSpec, vmap_width: int) -> Callable:
    """Runs' final params (a leading run axis) -> (finite, readout power (n // 2,), f_u and
    total power of each unit (width,)) per run; `vmap_width` as `engine.over_runs`."""
    facts = model_facts(static)

    def one(params: Any) -> tuple[jax.Array, ...]:
        freq, total = readout.unit_summary(facts, params, jnp)
        return all_finite(params), readout.readout_power(facts, params, jnp), freq, total

    return jax.jit(lambda params: over_runs(one, params, vmap_width))


@lru_cache(maxsize=MAX_PROGRAMS)
def progress_program(static: StaticSpec, vmap_width: int) -> Callable:
    """(runs' params, key frequencies (runs, K), training masks (runs, n^2)) -> the progress
    measures (runs, len(MEASURES)), NaN for a run whose params are not finite."""
    model = make_model(static)
    op, p = static.modular.op, static.modular.p
    grid, tokens = progress.group_grid(op, p), cyclic.group_tokens(op, p)
    assert grid is not None and tokens is not None  # `wanted`: a cyclic group
    pairs, s = grid
    n = len(tokens)
    labels = modular_label(op, pairs[:, 0].astype(np.int64), pairs[:, 1], p)
    labels = labels.astype(np.int32)

    def one(args: tuple) -> jax.Array:
        params, keys, train = args
        logits = model.apply({"params": params}, pairs)
        found = progress.measure_values(logits, labels, s, n, keys, train, static.loss, jnp)
        return jnp.where(all_finite(params), found, jnp.nan)

    return jax.jit(lambda *args: over_runs(one, args, vmap_width))


def layout(bytes_per_run: int, n_runs: int, budget: int | None = None) -> tuple[int, int]:
    """(runs per measuring call, runs side by side in it (`engine.over_runs`'s vmap width)).

    On a CPU one run at a time (lax.map) in calls of 8: a run's grid arrays stay in cache
    (p = 97: 11 against 17 ms a run vmapped 16 wide), and a short last call wastes little on
    its padding. An accelerator takes as many runs side by side as `budget` bytes hold
    (default: the engine's memory budget), a power of two up to MAX_CHUNK, no wider than the
    next power of two of `n_runs`.
    """
    widest = 1 << max(0, n_runs - 1).bit_length()
    if jax.default_backend() == "cpu":
        return min(CPU_CHUNK, widest), 1
    budget = default_memory_budget() if budget is None else budget
    fits = max(1, min(MAX_CHUNK, budget // max(1, bytes_per_run)))
    width = min(1 << (fits.bit_length() - 1), widest)
    return width, width


def over_chunks(fn: Callable, args: tuple, width: int) -> tuple[np.ndarray, ...]:
    """`fn(*args)` (pytrees with a leading run axis R) as NumPy arrays, `width` runs a call.

    The last chunk is padded with copies of its last run (results dropped), so every call has
    one shape and one compiled program. Full-precision matmuls: TF32 would cost the logits
    ~1e-3 of relative accuracy on a recent NVIDIA GPU, and these programs are cheap.
    """
    n_runs = jax.tree.leaves(args)[0].shape[0]
    parts = []
    for start in range(0, n_runs, width):
        stop = min(start + width, n_runs)
        index = np.minimum(np.arange(start, start + width), stop - 1)
        chunk = jax.tree.map(lambda a, i=index: np.asarray(a)[i], args)
        with jax.default_matmul_precision("highest"):
            out = fn(*chunk)
        parts.append([np.asarray(o)[: stop - start] for o in out])
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def readout_columns(
    static: StaticSpec, final: Any, input_keys: np.ndarray | None
) -> dict[str, list]:
    """`readout.run_columns` of every run of `final` (a leading run axis), by column name."""
    facts = model_facts(static)
    n_runs = jax.tree.leaves(final)[0].shape[0]
    if facts.lens != FOURIER or not facts.mlp or facts.blank or input_keys is None:
        found = [readout.blank_columns()] * n_runs
    else:
        per_run = 4 * sum(np.asarray(a[0]).size for a in jax.tree.leaves(final)) * GRID_ARRAYS
        width, side = layout(per_run, n_runs)
        program = readout_program(static, side)
        finite, power, freq, total = over_chunks(program, (final,), width)
        found = [
            readout.summary_columns(facts.top_k, input_keys[i].tolist(), *arrays)
            if finite[i]
            else readout.blank_columns()
            for i, arrays in enumerate(zip(power, freq, total, strict=True))
        ]
    return {name: [row[name] for row in found] for name in found[0]} if found else {}


def progress_frame(batch: Batch, params: dict[int, Any], keys: np.ndarray) -> pd.DataFrame:
    """progress.parquet's rows of the batch's wanted runs: each run's saved steps in order."""
    static = batch.static
    chosen = list(range(len(batch.runs))) if wanted(static) else []
    if not chosen or not keys.shape[1]:
        return pd.DataFrame()
    group = progress.group_grid(static.modular.op, static.modular.p)
    assert group is not None  # `wanted`: a cyclic group
    pairs, _ = group
    train = np.stack([train_mask(static, batch.runs[i], pairs) for i in chosen])
    run_keys = keys[chosen].astype(np.int32)
    grid = len(pairs) * (sum(static.hidden) + GRID_ARRAYS * static.out_dim)
    width, side = layout(4 * grid, len(chosen))
    program = progress_program(static, side)
    steps = sorted(params)
    found = np.stack(
        [
            over_chunks(
                lambda *a: (program(*a),),
                (jax.tree.map(lambda a: np.asarray(a)[chosen], params[step]), run_keys, train),
                width,
            )[0]
            for step in steps
        ],
        axis=1,
    ).astype(np.float64)  # (runs, steps, measures)
    # An accuracy is a count over a known number of pairs, k / N, which its float32 value
    # still identifies (N < 2^23): back to k, so that it is the float64 k / N of the reference.
    for name, pairs_in in (("restricted_acc", len(pairs)), ("excluded_acc", train.sum(axis=1))):
        j = progress.MEASURES.index(name)
        total = np.reshape(pairs_in, (-1, 1))  # an empty training set's NaN stays
        found[:, :, j] = np.rint(found[:, :, j] * total) / np.maximum(total, 1)
    columns = {
        "run_id": [batch.runs[i].run_id for i in chosen for _ in steps],
        "step": np.tile(np.asarray(steps, dtype=np.int64), len(chosen)),
    }
    for j, name in enumerate(progress.MEASURES):
        columns[name] = found[:, :, j].ravel()
    return pd.DataFrame(columns)


def batch_measures(batch: Batch, result: BatchResult) -> tuple[dict[str, list], pd.DataFrame]:
    """(runs.parquet columns by name, one value per run; the batch's progress rows).

    Non-modular batches get no columns and an empty frame; a transformer's get the readout
    columns and progress measures blank (not computed for it yet), as a modular MLP's
    without a cyclic group.
    """
    static = batch.static
    if TASKS[static.task_kind].lens != FOURIER:
        return {}, pd.DataFrame()
    keys = result.key_frequencies
    columns = readout_columns(static, result.params[static.steps], keys)
    frame = pd.DataFrame() if keys is None else progress_frame(batch, result.params, keys)
    final = frame.loc[frame["step"] == static.steps].set_index("run_id") if len(frame) else None
    for name in FINAL_COLUMNS:
        values = final[name] if final is not None else None
        columns[f"final_{name}"] = [
            float(values[run.run_id])
            if values is not None and run.run_id in values.index
            else float("nan")
            for run in batch.runs
        ]
    return columns, frame
