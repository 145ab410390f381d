"""The column dictionary of a results folder's tables: runs.parquet, curves.parquet and
progress.parquet, one `Column` each (name, meaning, unit, the task kinds whose runs fill it).

No JAX: the one place the columns are described (which kinds fill a sweep key's column is
read off the task kinds, `phasegrok.tasks`). `docs/columns.md` is its Markdown, regenerated
with

    python -m phasegrok.store.columns > docs/columns.md

and tests/test_columns.py checks that file against `markdown()`, and the columns that tiny
sweeps of each task kind write against `COLUMNS`, so neither can drift from the code.

`tasks` names the task kinds whose runs fill a column. A column of runs.parquet for a sweep-file
key is there for every run, blank (null) where the key does not apply to the run's task; the
measured columns of one task kind are there once a sweep has a run of it (blank in the rows of
the others). `when` names a condition without which the column is not written at all.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import phasegrok.tasks as task_kinds
from phasegrok.config.schema import RUN_KEYS, doc

CURVE_COLUMNS: tuple[str, ...] = ("train_loss", "test_loss", "train_acc", "test_acc", "weight_norm")


# Schema metadata key of runs.parquet recording thresholds set by `phasegrok.plot --classify`.
CLASSIFY_META = b"phasegrok.classify"


TASKS: tuple[str, ...] = tuple(task_kinds.TASKS)
TABLES: tuple[str, ...] = ("runs", "curves", "progress")

# The kinds whose runs fill a lens's measured columns.
MODULAR: tuple[str, ...] = (task_kinds.MODULAR.kind,)
PARITY: tuple[str, ...] = (task_kinds.PARITY.kind,)

# Units, as the table shows them.
LOSS = "loss"  # the run's `loss`: nats for the cross-entropies, mean squared error for mse
FRACTION = "fraction (0-1)"
STEPS = "steps"
SECONDS = "s"
COUNT = "count"


@dataclass(frozen=True)
class Column:
    """One column of one table."""

    name: str
    table: str  # "runs" | "curves" | "progress"
    meaning: str
    unit: str = ""  # "" for a label, a flag or text
    tasks: tuple[str, ...] = TASKS  # the task kinds whose runs fill it
    when: str = ""  # written only under this condition ("" : always)


def _key(name: str, meaning: str, tasks: tuple[str, ...] = TASKS, unit: str = "") -> Column:
    return Column(name, "runs", meaning, unit, tasks)


def _sweep_key(name: str, meaning: str = "", unit: str = "") -> Column:
    """A run key's column: described by its schema field unless given, filled by the kinds
    that read it (`tasks.kinds_reading`)."""
    declared = doc(name) if name in RUN_KEYS else None
    if declared is not None:
        meaning, unit = declared.meaning, declared.unit
    return Column(name, "runs", meaning, unit, task_kinds.kinds_reading(name))


# The sweep file's keys, as each run resolved them (README, "The sweep file"): a swept key holds
# the run's grid value. In sweep-file order, described on the schema (`config.schema.Doc`), then
# the arrays file's facts.
_CONFIG = (
    *(_sweep_key(key) for key in RUN_KEYS if key != "train.seeds"),  # a run has one: `seed`
    _sweep_key("task.input_dim", "width of a flattened example (from the data file)"),
    _sweep_key("task.n_classes", "classes in the data file", COUNT),
)

RUNS = (
    _key("run_id", "hash of the run's resolved config and seed (16 hex); joins the tables"),
    *_CONFIG,
    _key("seed", "the run's seed (initialization, data split, minibatches)"),
    _key("n_classes", "classes of the task (modular: p, or 2p - 1 for add_integers)", unit=COUNT),
    _key("final_train_loss", "train loss at the last step", unit=LOSS),
    _key("final_test_loss", "test loss at the last step", unit=LOSS),
    _key("final_train_acc", "train accuracy at the last step", unit=FRACTION),
    _key("final_test_acc", "test accuracy at the last step", unit=FRACTION),
    _key("final_weight_norm", "weight_norm at the last step", unit="L2 norm"),
    _key("final_fourier_top_k_share", "fourier_top_k_share at the last step", MODULAR, FRACTION),
    _key("final_fourier_gini", "fourier_gini at the last step", MODULAR, "Gini (0-1)"),
    _key("final_readout_top_k_share", "readout_top_k_share at the last step", MODULAR, FRACTION),
    _key("final_relevant_weight_share", "relevant_weight_share at the last step", PARITY, FRACTION),
    _key("final_irrelevant_units", "irrelevant_units at the last step", PARITY, COUNT),
    _key("best_train_loss", "lowest train loss over the eval points", unit=LOSS),
    _key("best_test_loss", "lowest test loss over the eval points", unit=LOSS),
    _key("best_train_acc", "highest train accuracy over the eval points", unit=FRACTION),
    _key("best_test_acc", "highest test accuracy over the eval points", unit=FRACTION),
    _key("batch_id", "the batch that trained the run (its parts/ files)"),
    _key("batch_wall_time", "wall time of the run's whole batch, compile included", unit=SECONDS),
    _key("batch_compile_time", "compile time of the batch (0: program reused)", unit=SECONDS),
    _key("strategy", "text: how the batch ran (vmap / lax.map, devices, example slices)"),
    _key(
        "key_frequencies",
        "list: the fourier_top_k strongest input-side frequencies of the final parameters, "
        "strongest first (blank where no cyclic group applies)",
        MODULAR,
    ),
    _key(
        "readout_key_frequencies",
        "list: the same on the readout side (the unembedding over the class group)",
        MODULAR,
    ),
    _key(
        "key_frequency_overlap",
        "share of key_frequencies that are also readout_key_frequencies",
        MODULAR,
        FRACTION,
    ),
    _key(
        "units_per_frequency",
        'JSON text: live first-layer units per dominant frequency, most first ({"7": 10, ...})',
        MODULAR,
    ),
    _key(
        "final_restricted_loss",
        "restricted_loss at the last step (NaN where progress.parquet has no row)",
        MODULAR,
        LOSS,
    ),
    _key("final_excluded_loss", "excluded_loss at the last step (NaN likewise)", MODULAR, LOSS),
    _key("final_full_loss", "full_loss at the last step (NaN likewise)", MODULAR, LOSS),
    _key(
        "phase",
        "comprehend | grok | memorize | oscillate | collapse | confuse | diverge (README, Phases)",
    ),
    _key(
        "t_fit",
        "first eval step with train accuracy >= classify.threshold (blank: never)",
        unit=STEPS,
    ),
    _key("t_gen", "first eval step with test accuracy >= threshold (blank: never)", unit=STEPS),
    _key("n_relapses", "relapses after t_fit (fitted, then unfit or a loss spike)", unit=COUNT),
    _key("lost_generalization", "test accuracy reached threshold and ended below it"),
    _key(
        "max_loss_ratio",
        "max over eval points of test / train loss, scaled and floored as the pair rule reads them",
        unit="ratio",
    ),
    _key(
        "still_learning",
        "test accuracy still rising at the end: the budget, not the run, decided the phase",
    ),
    _key("grok_delay", "t_gen - t_fit (blank unless both)", unit=STEPS),
    _key(
        "partial_generalization",
        "final test accuracy well above chance but below threshold (README, Phases)",
    ),
    Column(
        "refine_round",
        "runs",
        "0 for the initial grid, r for adaptive refinement round r",
        when="the sweep has a refine: section, or the folder holds refined runs",
    ),
)


def _curve(name: str, meaning: str, unit: str, tasks: tuple[str, ...] = TASKS) -> Column:
    return Column(name, "curves", meaning, unit, tasks)


CURVES = (
    _curve("run_id", "the run (runs.parquet's run_id)", ""),
    _curve("step", "training step of the eval point: 0, eval_every, ..., steps", STEPS),
    _curve("train_loss", "loss on the run's training set", LOSS),
    _curve("test_loss", "loss on the held-out test set", LOSS),
    _curve("train_acc", "accuracy on the run's training set", FRACTION),
    _curve("test_acc", "accuracy on the held-out test set", FRACTION),
    _curve("weight_norm", "global L2 norm of all trained parameters", "L2 norm"),
    _curve(
        "fourier_top_k_share",
        "share of the first layer's input-side Fourier power in the fourier_top_k strongest "
        "frequencies (NaN where no cyclic group applies)",
        FRACTION,
        MODULAR,
    ),
    _curve("fourier_gini", "Gini coefficient of that power spectrum", "Gini (0-1)", MODULAR),
    _curve(
        "readout_top_k_share",
        "the same share on the readout side (the unembedding over the class group)",
        FRACTION,
        MODULAR,
    ),
    _curve(
        "relevant_weight_share",
        "share of the first layer's squared weights on the k label bits",
        FRACTION,
        PARITY,
    ),
    _curve(
        "irrelevant_units",
        "hidden units reading an irrelevant bit with |weight| > irrelevant_threshold",
        COUNT,
        PARITY,
    ),
)

_PROGRESS_WHEN = "a cyclic group, p <= 113 and analysis.progress_measures on"


def _progress(name: str, meaning: str, unit: str) -> Column:
    return Column(name, "progress", meaning, unit, MODULAR)


PROGRESS = (
    _progress("run_id", "the run (runs.parquet's run_id)", ""),
    _progress("step", "a saved step: train.save_params_at and the last", STEPS),
    _progress(
        "full_loss",
        "loss of the model's logits over the whole grid: the n^2 pairs of the group (n = p; "
        "p - 1 for mul / div)",
        LOSS,
    ),
    _progress("train_loss", "loss over the run's training pairs", LOSS),
    _progress("test_loss", "loss over the grid's other pairs", LOSS),
    _progress(
        "restricted_loss",
        "loss over the grid of the logits restricted to the key frequencies (Nanda et al.)",
        LOSS,
    ),
    _progress("restricted_acc", "accuracy of the restricted logits over the grid", FRACTION),
    _progress(
        "excluded_loss",
        "loss over the training pairs of the logits without the key frequencies",
        LOSS,
    ),
    _progress("excluded_acc", "accuracy of the excluded logits on the training pairs", FRACTION),
)

COLUMNS: tuple[Column, ...] = RUNS + CURVES + PROGRESS

_INTROS = {
    "runs": "One row per run. Its sweep-file keys as the run resolved them (a swept key holds "
    "the run's grid value; lists as JSON text), then what training measured and the phase.",
    "curves": "One row per run and eval point (step 0, then every `train.eval_every` steps).",
    "progress": "Modular runs with "
    + _PROGRESS_WHEN
    + ": Nanda et al.'s progress measures at every saved step (README, The mechanistic lens). "
    "The file is absent where no run has them.",
}


def of_table(table: str) -> tuple[Column, ...]:
    return tuple(c for c in COLUMNS if c.table == table)


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


def _tasks(tasks: tuple[str, ...]) -> str:
    return "all" if set(tasks) == set(TASKS) else ", ".join(tasks)


def markdown() -> str:
    """The dictionary as Markdown (docs/columns.md)."""
    lines = [
        "# The columns of a results folder",
        "",
        "<!-- Generated by `python -m phasegrok.store.columns > docs/columns.md` from",
        "phasegrok/store/columns.py; edit that file, not this one. -->",
        "",
        "*tasks*: the task kinds whose runs fill the column; it is blank (null or NaN) in the",
        "rows of other runs. Units: *loss* is the run's `loss` (nats for the cross-entropies,",
        "mean squared error for mse); *steps* are training steps; *s* seconds.",
    ]
    for table in TABLES:
        lines += ["", f"## {table}.parquet", "", _INTROS[table], ""]
        lines += ["| column | meaning | unit | tasks |", "|---|---|---|---|"]
        for c in of_table(table):
            meaning = c.meaning + (f" (written only when {c.when})" if c.when else "")
            row = (f"`{c.name}`", _cell(meaning), _cell(c.unit), _tasks(c.tasks))
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
