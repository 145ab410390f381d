"""Phase classification of finished runs, from their learning curves alone (no JAX).

Three rules are offered (`classify.rule`):

``accuracy`` (default). With ``t_fit``/``t_gen`` the first eval step where train/test accuracy
reaches ``threshold``, the phase is the first of these that applies:

1. ``diverge``: a non-finite loss, accuracy or weight norm appeared at some eval point.
2. ``confuse``: the training set was never fit (no ``t_fit``).
3. ``oscillate``: at least ``min_cycles`` relapses, one of them in the last quarter of training
   (it never settles, as in Slingshot cycles). A relapse is a fitted eval point after ``t_fit``
   followed by one whose train accuracy is below ``threshold``, or whose train loss exceeds both
   ``spike_factor`` times its running minimum since ``t_fit`` and ``spike_floor``.
4. ``collapse``: final train accuracy below ``threshold`` (it fit, then lost the fit for good),
   so no run that ends unfit is ``memorize``, ``grok`` or ``comprehend``.
5. ``memorize``: not generalized. ``generalized: final`` (default): final test accuracy below
   ``threshold``; ``generalized: ever``: test accuracy never reached it (no ``t_gen``), Liu et
   al. (2022)'s definition.
6. ``comprehend``: ``t_gen - t_fit < grok_gap`` steps.
7. ``grok``: otherwise.

``grok_gap`` (1000 steps) is Liu et al. (2022)'s gap for a 1e5-step budget; it should scale with
the budget.

``pair`` follows the PAIR explorable "Do Machine Learning Models Memorize or Generalize?":
min train loss > ``pair_fit_loss`` is "high train loss" (our ``confuse``); else min test loss >
``pair_gen_loss`` is ``memorize``; else max over eval points of test loss / train loss <
``pair_ratio`` is ``comprehend``; else ``grok``. ``diverge`` still comes first; there is no
``oscillate`` or ``collapse``, and ``generalized`` is not used. Loss normalization: the
thresholds are compared with phasegrok's losses multiplied by ``pair_loss_scale``.
phasegrok's cross-entropy is the plain mean over examples (natural log), whereas PAIR's notebook
divides it by the number of classes p; set ``pair_loss_scale: per_class`` to divide each run's
losses by its ``n_classes`` and match PAIR. Loss floor: a float32 cross-entropy is exactly 0
once the label's logit leads by ~17, which would make the ratio infinite and every fitted run
``grok``. So each scaled loss L is replaced by max(L, 2^-23) (`LOSS_FLOOR`, float32's
resolution, where PAIR's released losses bottom out) before the min-loss tests and the ratio:
ratio_t = max(s L_test(t), 2^-23) / max(s L_train(t), 2^-23), s = ``pair_loss_scale``.

``liu`` is Liu et al. (2022)'s four-phase rule (Omnigrok / "Towards understanding grokking",
their `phase_diagram_plot/simple_phase_diagram.ipynb`), for comparing with their phase data like
for like: with ``t_fit``/``t_gen`` as above, ``confuse`` where the training set was never fit,
``memorize`` where it was and the test set never was, ``comprehend`` where
``t_gen - t_fit < grok_gap``, else ``grok``. A run is judged by the first times alone: no
``diverge``, ``oscillate`` or ``collapse``, which their data cannot hold, and ``generalized``
is not used (their "reached" is ever).

Extra per-run columns: ``n_relapses``, ``lost_generalization`` (test accuracy reached
``threshold`` and ended below it; not Varma et al.'s ungrokking, a protocol of further training
on a smaller set), ``max_loss_ratio`` (max over finite eval points of ratio_t above, the ratio
the pair rule tests, under either rule; finite even where a loss is 0), ``still_learning`` (test
accuracy rose by more than ``still_learning_delta`` over the last ``still_learning_window``
fraction of training, so the budget rather than the run decided the phase), ``grok_delay``
(``t_gen - t_fit``) and ``partial_generalization`` (final test accuracy at least halfway from
chance, 1 / ``n_classes``, to ``threshold``, and below ``threshold``: `partial_floor`; whatever
the phase, so a ``memorize`` run at 0.86 is told apart from one at chance. Varma et al.
(2023)'s semi-grokking is delayed generalization to such a partial accuracy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from phasegrok.config.schema import ClassifySpec
from phasegrok.store.columns import CURVE_COLUMNS

# Okabe-Ito colours (colour-blind safe), fixed per phase in every figure. collapse takes sky
# blue: Okabe-Ito's yellow is too pale for lines and titles on white, and black would hide the
# still-learning hatching.
PHASE_COLORS: dict[str, str] = {
    "comprehend": "#009E73",
    "grok": "#0072B2",
    "memorize": "#E69F00",
    "oscillate": "#CC79A7",
    "collapse": "#56B4E9",
    "confuse": "#8C8C8C",
    "diverge": "#D55E00",
}

CLASS_COLUMNS: tuple[str, ...] = (
    "phase",
    "t_fit",
    "t_gen",
    "n_relapses",
    "lost_generalization",
    "max_loss_ratio",
    "still_learning",
    "grok_delay",
    "partial_generalization",
)

# Columns of earlier versions, dropped on reclassification so no stale value survives.
_RENAMED_COLUMNS: tuple[str, ...] = ("ungrokked",)

# float32's resolution (machine epsilon): the pair rule's floor under every scaled loss.
LOSS_FLOOR: float = 2.0**-23


def _as_spec(spec: ClassifySpec | Mapping[str, Any] | None) -> ClassifySpec:
    if spec is None:
        return ClassifySpec()
    if isinstance(spec, ClassifySpec):
        return spec
    return ClassifySpec(**dict(spec))


def chance_loss(loss: np.ndarray | pd.Series, n_classes: np.ndarray | pd.Series) -> np.ndarray:
    """Loss of an uninformative model: ln(n) for cross-entropy, 1/n (all-zero output) for mse."""
    n = np.asarray(n_classes, dtype=float)
    is_mse = np.asarray(loss, dtype=object) == "mse"
    return np.where(is_mse, 1.0 / n, np.log(n))


def floor_loss(loss: npt.ArrayLike) -> np.ndarray:
    """max(loss, 2^-23): a float32 loss below its resolution, 0 included, reads as the floor.

    NaN stays NaN (np.maximum propagates it), so a diverged point is not hidden.
    """
    return np.maximum(np.asarray(loss, dtype=float), LOSS_FLOOR)


def partial_floor(n_classes: Any, threshold: float) -> np.ndarray:
    """The least final test accuracy of `partial_generalization`: halfway from chance to
    `threshold`, chance + (threshold - chance) / 2 with chance = 1 / n_classes (0 where the class
    count is missing or not above 1: the stricter threshold / 2)."""
    n = pd.to_numeric(pd.Series(np.atleast_1d(n_classes)), errors="coerce").to_numpy(dtype=float)
    chance = np.where(n > 1, 1.0 / np.where(n > 1, n, 1.0), 0.0)
    return chance + (threshold - chance) / 2


def partial_generalization(final_test_acc: Any, n_classes: Any, threshold: float) -> np.ndarray:
    """Whether each final test accuracy is at least `partial_floor` and below `threshold`
    (False where it is NaN)."""
    acc = np.asarray(final_test_acc, dtype=float)
    with np.errstate(invalid="ignore"):
        return (acc >= partial_floor(n_classes, threshold)) & (acc < threshold)


def with_partial_generalization(
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    spec: ClassifySpec | Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """`runs` with a `partial_generalization` column where it lacks one (a folder written before
    the column existed), from each run's last curve point as `classify_runs` computes it; the
    other columns untouched. Returned as is where the column is there or `phase` is not."""
    if "partial_generalization" in runs.columns or "phase" not in runs.columns:
        return runs
    if "run_id" not in runs.columns or not {"run_id", "step", "test_acc"} <= set(curves.columns):
        return runs
    last = curves.sort_values("step", kind="stable").groupby("run_id").tail(1)
    final = (
        runs["run_id"]
        .astype(str)
        .map(dict(zip(last["run_id"].astype(str), last["test_acc"].astype(float), strict=True)))
    )
    n = runs["n_classes"] if "n_classes" in runs.columns else np.full(len(runs), np.nan)
    flag = partial_generalization(final.to_numpy(dtype=float), n, _as_spec(spec).threshold)
    return runs.assign(partial_generalization=flag.astype(bool))


def _loss_scale(spec: ClassifySpec, runs: pd.DataFrame) -> np.ndarray:
    """Per-run factor s of `pair_loss_scale`: 1 / n_classes for per_class, else the number."""
    if spec.pair_loss_scale == "per_class":
        if "n_classes" not in runs.columns:
            raise ValueError("runs lack n_classes, needed for pair_loss_scale: per_class")
        return 1.0 / runs["n_classes"].to_numpy(dtype=float)
    return np.full(len(runs), float(spec.pair_loss_scale))


def _dense(curves: pd.DataFrame, run_ids: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Long curves to (runs x evals) arrays, NaN-padded after each run's last eval point."""
    missing_cols = [c for c in ("run_id", "step", *CURVE_COLUMNS) if c not in curves.columns]
    if missing_cols:
        raise ValueError(f"curves lack columns: {', '.join(missing_cols)}")
    codes = pd.Categorical(curves["run_id"].astype(str), categories=run_ids).codes
    keep = codes >= 0
    codes = codes[keep]
    step = curves["step"].to_numpy(dtype=float)[keep]
    order = np.lexsort((step, codes))
    codes, step = codes[order], step[order]
    counts = np.bincount(codes, minlength=len(run_ids))
    if (counts == 0).any():
        absent = run_ids[counts == 0]
        shown = ", ".join(map(str, absent[:5])) + (" ..." if len(absent) > 5 else "")
        raise ValueError(f"{len(absent)} run(s) have no curve points: {shown}")
    # Position of each row within its run, the column index in the dense arrays.
    pos = np.arange(len(codes)) - np.searchsorted(codes, codes, side="left")
    shape = (len(run_ids), int(counts.max()))
    arrays = {}
    for name, values in (("step", step),) + tuple(
        (c, curves[c].to_numpy(dtype=float)[keep][order]) for c in CURVE_COLUMNS
    ):
        dense = np.full(shape, np.nan)
        dense[codes, pos] = values
        arrays[name] = dense
    return counts, arrays


def _masked_int(values: np.ndarray, present: np.ndarray) -> pd.arrays.IntegerArray:
    ints = np.where(present, np.nan_to_num(values), 0).astype(np.int64)
    return pd.arrays.IntegerArray(ints, ~present)


def liu_phases(t_fit: npt.ArrayLike, t_gen: npt.ArrayLike, grok_gap: float) -> np.ndarray:
    """Liu et al.'s four phases from the first times train and test accuracy reached the
    threshold (NaN: never): what the `liu` rule decides, and all it reads, so stored runs
    (runs.parquet's t_fit and t_gen) can be reclassified without their curves."""
    fit, gen = np.asarray(t_fit, dtype=float), np.asarray(t_gen, dtype=float)
    has_fit, has_gen = ~np.isnan(fit), ~np.isnan(gen)
    with np.errstate(invalid="ignore"):
        quick = (gen - fit) < grok_gap
    return np.select(
        [~has_fit, ~has_gen, quick], ["confuse", "memorize", "comprehend"], default="grok"
    )


def classify_runs(
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    spec: ClassifySpec | Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Return a copy of `runs` with the classification columns (`CLASS_COLUMNS`) set.

    Existing classification columns are replaced, so reclassifying with other thresholds is
    safe. Rows keep their order and index. Needs `run_id` and `n_classes` (and `loss`, else
    cross-entropy is assumed) in `runs`; `curves` in the long format of curves.parquet.
    """
    spec = _as_spec(spec)
    if "run_id" not in runs.columns:
        raise ValueError("runs lack the run_id column")
    run_ids = runs["run_id"].astype(str).to_numpy()
    if len(set(run_ids)) != len(run_ids):
        raise ValueError("runs has duplicate run_id values")
    stale = (*CLASS_COLUMNS, *_RENAMED_COLUMNS)
    out = runs.drop(columns=[c for c in stale if c in runs.columns])
    if len(runs) == 0:
        return _empty_columns(out)

    counts, a = _dense(curves, run_ids)
    n_runs, n_evals = a["step"].shape
    rows = np.arange(n_runs)
    last = counts - 1
    idx = np.arange(n_evals)[None, :]
    valid = idx < counts[:, None]
    steps = a["step"]
    tr_acc, te_acc = a["train_acc"], a["test_acc"]
    tr_loss, te_loss = a["train_loss"], a["test_loss"]
    thr = spec.threshold

    finite = np.ones_like(valid)
    for name in CURVE_COLUMNS:
        finite &= np.isfinite(a[name])
    diverged = (valid & ~finite).any(axis=1)

    fit = valid & (tr_acc >= thr)
    gen = valid & (te_acc >= thr)
    # np.any, not .any: numpy's stubs type a reduction's method as maybe a scalar
    has_fit, has_gen = np.any(fit, axis=1), np.any(gen, axis=1)
    i_fit = fit.argmax(axis=1)
    t_fit = np.where(has_fit, steps[rows, i_fit], np.nan)
    t_gen = np.where(has_gen, steps[rows, gen.argmax(axis=1)], np.nan)

    # Relapses: good -> bad transitions after t_fit.
    if spec.spike_floor is not None:
        floor = np.full(n_runs, spec.spike_floor)
    else:
        if "n_classes" not in runs.columns:
            raise ValueError("runs lack n_classes, needed for the default spike_floor")
        loss_kind: pd.Series | np.ndarray = (
            runs["loss"] if "loss" in runs.columns else np.full(n_runs, "cross_entropy")
        )
        floor = 0.1 * chance_loss(loss_kind, runs["n_classes"])
    after = valid & has_fit[:, None] & (idx >= i_fit[:, None])
    with np.errstate(invalid="ignore"):
        run_min = np.fmin.accumulate(np.where(after, tr_loss, np.nan), axis=1)
        spike = (tr_loss > spec.spike_factor * run_min) & (tr_loss > floor[:, None])
        bad = after & ((tr_acc < thr) | spike | ~np.isfinite(tr_loss))
    good = after & ~bad
    relapse = good[:, :-1] & bad[:, 1:]
    n_relapses = relapse.sum(axis=1)
    t_end = steps[rows, last]
    late = (relapse & (steps[:, 1:] > 0.75 * t_end[:, None])).any(axis=1)
    oscillate = (n_relapses >= spec.min_cycles) & late

    final_train, final_test = tr_acc[rows, last], te_acc[rows, last]
    lost_generalization = has_gen & ~(final_test >= thr)
    generalized = has_gen if spec.generalized == "ever" else final_test >= thr
    # Steps are sorted within a run, so the last point at or before the window start is a count.
    start = t_end * (1 - spec.still_learning_window)
    i_start = (valid & (steps <= start[:, None])).sum(axis=1) - 1
    i_start = np.clip(i_start, 0, None)
    still_learning = (final_test - te_acc[rows, i_start]) > spec.still_learning_delta

    # The pair rule's losses, scaled then floored: finite ratios even where a loss is exactly 0.
    ok = valid & finite
    scale = _loss_scale(spec, runs)[:, None]
    pair_train = np.where(ok, floor_loss(tr_loss * scale), np.nan)
    pair_test = np.where(ok, floor_loss(te_loss * scale), np.nan)
    max_ratio = np.fmax.reduce(pair_test / pair_train, axis=1)
    delay = t_gen - t_fit

    if spec.rule == "accuracy":
        phase = np.select(
            [
                diverged,
                ~has_fit,
                oscillate,
                ~(final_train >= thr),
                ~generalized,
                delay < spec.grok_gap,
            ],
            ["diverge", "confuse", "oscillate", "collapse", "memorize", "comprehend"],
            default="grok",
        )
    elif spec.rule == "liu":
        phase = liu_phases(t_fit, t_gen, spec.grok_gap)
    else:
        min_train = np.fmin.reduce(pair_train, axis=1)
        min_test = np.fmin.reduce(pair_test, axis=1)
        phase = np.select(
            [
                diverged,
                min_train > spec.pair_fit_loss,
                min_test > spec.pair_gen_loss,
                max_ratio < spec.pair_ratio,
            ],
            ["diverge", "confuse", "memorize", "comprehend"],
            default="grok",
        )

    out["phase"] = pd.array(phase.astype(str), dtype="str")
    out["t_fit"] = _masked_int(t_fit, has_fit)
    out["t_gen"] = _masked_int(t_gen, has_gen)
    out["n_relapses"] = n_relapses.astype(np.int64)
    out["lost_generalization"] = lost_generalization
    out["max_loss_ratio"] = max_ratio.astype(float)
    out["still_learning"] = still_learning
    out["grok_delay"] = _masked_int(delay, has_fit & has_gen)
    n_classes = runs["n_classes"] if "n_classes" in runs.columns else np.full(n_runs, np.nan)
    out["partial_generalization"] = partial_generalization(final_test, n_classes, thr)
    return out


def _empty_columns(out: pd.DataFrame) -> pd.DataFrame:
    out["phase"] = pd.array([], dtype="str")
    for c in ("t_fit", "t_gen", "grok_delay"):
        out[c] = pd.array([], dtype="Int64")
    out["n_relapses"] = np.array([], dtype=np.int64)
    out["lost_generalization"] = np.array([], dtype=bool)
    out["max_loss_ratio"] = np.array([], dtype=float)
    out["still_learning"] = np.array([], dtype=bool)
    out["partial_generalization"] = np.array([], dtype=bool)
    return out
