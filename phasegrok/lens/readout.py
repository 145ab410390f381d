"""The mechanistic lens on the readout side, and the hidden units per input frequency.

**Readout lens.** The logit of class c is h . U[c] + bias, h the last hidden layer and U the
(p x width) *unembedding*: the readout kernel W_out (stored (classes, width)), or, where the
output is tied to the embedding (`model.tie_output`), E @ K (the embedding table E, p x d, times
the readout kernel K, stored (d, width)): the tied embedding as the logits see it. The lens
reads U over the class index c of the same cyclic group as the input side (`lens.group_maps`:
c itself for add / sub, the discrete logarithm j = log_g c for mul / div, class 0 left out),

    readout_power[f] = sum over units of |U_f|^2 + |U_-f|^2,  U_f = sum_j U[j] e^(-2 pi i f j / n)

with `lens.frequency_power` (frequency 0 left out, the Nyquist bin once), and

    readout_top_k_share     = sum of the k largest readout_power[f] / sum_f readout_power[f]
    readout_key_frequencies = the k strongest readout frequencies, strongest first
    key_frequency_overlap   = |input keys ∩ readout keys| / k

A network computing a + b by Nanda et al.'s trig identities reads cos(w_k (a + b - c)) out of
the same frequencies w_k = 2 pi k / p it wrote the tokens on, so its readout is as sparse as its
input side and the overlap is 1 (PAIR's open question on factoring the input and output
weights, measured in the README).

**Units per frequency.** Unit u's token map over the group index (both operands) has the power
P_u[f] (`lens.unit_power`, summed over operands); its dominant frequency is f_u = argmax_f
P_u[f] and its purity P_u[f_u] / sum_f P_u[f] (1 for a pure sinusoid). `units_per_frequency`
counts the live units (total power at least LIVE_SHARE of the strongest unit's: weight decay
leaves dead units with a random argmax) per dominant frequency, most units first.

Written against the array API (`xp`: NumPy or jax.numpy) where the engine calls it inside its
compiled evaluation and `engine.measure` over a batch's runs on its device (`readout_power`,
`unit_summary`); the counting and the columns from those arrays are NumPy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from phasegrok.lens import figure_data as lens_data
from phasegrok.lens import fourier as lens
from phasegrok.lens.fourier import ModelFacts
from phasegrok.tasks.base import FOURIER

READOUT_METRICS = ("readout_top_k_share",)
# A unit counts in `units_per_frequency` when its token-map power is at least this share of
# the strongest unit's; below, it is a dead unit whose argmax frequency means nothing.
LIVE_SHARE = 0.01


def metric_names(facts: ModelFacts) -> tuple[str, ...]:
    """The readout metric names of a run's task kind: modular only."""
    return READOUT_METRICS if facts.lens == FOURIER else ()


def unembedding(facts: ModelFacts, params: Mapping[str, Any], xp: ModuleType = np) -> Any:
    """The (classes, width) matrix U with logit_c = h . U[c] + bias (tied: E @ K; a
    transformer's: its W_U, stored (d_model, classes), transposed)."""
    if not facts.mlp:
        return params["W_U"].T
    kernel = params["readout"]["kernel"]
    if not facts.tie_output:
        return kernel
    table = lens.embedding_table(params, facts.embedding, facts.p, facts.circular_freqs, xp)
    return table @ kernel


def readout_power(facts: ModelFacts, params: Mapping[str, Any], xp: ModuleType = np) -> Any:
    """Power per frequency 1 .. n // 2 of the unembedding over the class group; None if blank."""
    grouped = lens.group_maps((unembedding(facts, params, xp),), facts.op, facts.p)
    return None if grouped is None else lens.frequency_power(grouped[0], xp)


def readout_metrics(facts: ModelFacts, params: Mapping[str, Any], xp: ModuleType = np) -> Any:
    """[readout_top_k_share] of a modular model (NaN where the lens is blank); [] otherwise."""
    if facts.lens != FOURIER:
        return xp.zeros((0,), dtype=xp.float32)
    if facts.blank:
        return xp.full((len(READOUT_METRICS),), xp.nan, dtype=xp.float32)
    power = readout_power(facts, params, xp)
    return xp.stack([lens.top_k_share(power, facts.top_k, xp)])


def key_frequency_overlap(input_keys: Sequence[int], readout_keys: Sequence[int]) -> float:
    """Share of the input side's key frequencies that are also the readout's."""
    if not len(input_keys):
        return float("nan")
    return len(set(map(int, input_keys)) & set(map(int, readout_keys))) / len(input_keys)


def unit_summary(facts: ModelFacts, params: Mapping[str, Any], xp: ModuleType = np) -> Any:
    """(f_u, total power) of each first-layer unit, two (width,) arrays: the argmax and the sum
    over f of P_u[f], summed over both operands' group maps (`lens.unit_power`). The caller
    checks that the lens is not blank."""
    maps = lens.group_maps(lens.model_token_maps(facts, params, xp), facts.op, facts.p)
    assert maps is not None  # not blank: a cyclic group
    power = sum(lens.unit_power(m, xp) for m in maps)
    return xp.argmax(power, axis=0) + 1, xp.sum(power, axis=0)


def unit_frequencies(facts: ModelFacts, params: Mapping[str, Any]) -> pd.DataFrame:
    """One row per first-layer unit: ``unit``, ``freq`` (f_u), ``purity``, ``power`` (total),
    ``live`` (power >= LIVE_SHARE x the strongest unit's). NumPy, float64."""
    power = sum(lens.unit_power(np.asarray(m)) for m in lens_data.group_token_maps(facts, params))
    total = power.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        purity = np.where(total > 0, power.max(axis=0) / total, np.nan)
    return pd.DataFrame(
        {
            "unit": np.arange(power.shape[1]),
            "freq": power.argmax(axis=0) + 1,
            "purity": purity,
            "power": total,
            "live": live_units(total),
        }
    )


def live_units(total: np.ndarray) -> np.ndarray:
    """Whether each unit's total power is at least LIVE_SHARE x the strongest unit's (and > 0)."""
    strongest = float(total.max()) if total.size else 0.0
    return (total >= LIVE_SHARE * strongest) & (total > 0)


def frequency_counts(freq: np.ndarray, power: np.ndarray) -> dict[int, int]:
    """Units per frequency of the units given (their f_u and total power), most units first;
    ties: the more power first, then the lower frequency."""
    found, which = np.unique(np.asarray(freq), return_inverse=True)
    units = np.bincount(which, minlength=len(found))
    summed = np.bincount(which, weights=np.asarray(power, dtype=np.float64), minlength=len(found))
    order = np.lexsort((-summed, -units))  # stable: equal keys keep the ascending frequency
    return {int(found[i]): int(units[i]) for i in order}


def units_per_frequency(units: pd.DataFrame) -> dict[int, int]:
    """Live units per dominant frequency, most units first (ties: the more power first)."""
    live = units.loc[units["live"]]
    return frequency_counts(live["freq"].to_numpy(), live["power"].to_numpy())


def summary_columns(
    top_k: int,
    input_keys: Sequence[int],
    power: np.ndarray,
    unit_freq: np.ndarray,
    unit_power: np.ndarray,
) -> dict[str, Any]:
    """The runs.parquet columns of `run_columns` from one run's readout power per frequency and
    its units' f_u and total power (`unit_summary`): NumPy, whatever computed them."""
    keys = np.asarray(lens.key_frequencies(np.asarray(power), top_k)).tolist()
    live = live_units(np.asarray(unit_power))
    counts = frequency_counts(np.asarray(unit_freq)[live], np.asarray(unit_power)[live])
    return {
        "readout_key_frequencies": keys,
        "key_frequency_overlap": key_frequency_overlap(input_keys, keys),
        "units_per_frequency": json.dumps({str(f): n for f, n in counts.items()}),
    }


def blank_columns() -> dict[str, Any]:
    """`run_columns` where the lens is blank or the parameters are not finite."""
    return {
        "readout_key_frequencies": None,
        "key_frequency_overlap": float("nan"),
        "units_per_frequency": None,
    }


def run_columns(
    facts: ModelFacts, params: Mapping[str, Any], input_keys: Sequence[int] | None
) -> dict[str, Any]:
    """The runs.parquet columns of one run's final parameters: ``readout_key_frequencies`` (a
    list, strongest first, as ``key_frequencies``), ``key_frequency_overlap`` and
    ``units_per_frequency`` (JSON text); None / NaN where the lens is blank, the parameters
    are not finite or the model is a transformer (no hidden units of the MLP's kind yet).
    NumPy, float64 (`phasegrok.engine.measure` computes a batch's on its device)."""
    if (
        facts.lens != FOURIER
        or not facts.mlp
        or facts.blank
        or input_keys is None
        or not lens.finite(params)
    ):
        return blank_columns()
    params = lens.as_float64(params)
    power = readout_power(facts, params)
    return summary_columns(facts.top_k, input_keys, power, *unit_summary(facts, params))
