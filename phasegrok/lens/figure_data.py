"""The data behind the report's per-run lens figures, read from one run's stored parameters.

`group_token_maps` (a run's token maps in group order, float64), `power_spectrum`,
`operand_maps`, `star_points` and `token_circle`: what the spectrum, star and trajectory figures
draw, and the maps `readout.unit_frequencies` counts units per frequency on. Separate from
`lens`, the compiled lens (`lens.metrics`, written against `xp` for the engine's evaluation):
these are NumPy and pandas only, one whole run at a time, built on `lens`'s pieces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from phasegrok.lens.fourier import (
    ModelFacts,
    as_facts,
    as_float64,
    frequency_power,
    group_maps,
    model_token_maps,
    unit_power,
)
from phasegrok.tasks.cyclic import group_tokens


def group_token_maps(
    facts: ModelFacts | Mapping[str, Any], params: Mapping[str, Any]
) -> tuple[Any, ...]:
    """(n, width) maps over the group index (`group_maps`); ValueError where the lens is blank."""
    facts = as_facts(facts)
    grouped = group_maps(model_token_maps(facts, as_float64(params)), facts.op, facts.p)
    if grouped is None:
        raise ValueError(
            f"op '{facts.op}' mod {facts.p} has no cyclic group: the Fourier lens is blank"
        )
    return grouped


def power_spectrum(facts: ModelFacts | Mapping[str, Any], params: Mapping[str, Any]) -> np.ndarray:
    """Power per frequency 1 .. n // 2, summed over both operands and all units."""
    left, right = group_token_maps(facts, params)
    return frequency_power(left) + frequency_power(right)


def operand_maps(
    facts: ModelFacts | Mapping[str, Any], params: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Group maps by operand: left and right, or one "both" for combine: sum and a transformer."""
    facts = as_facts(facts)
    left, right = group_token_maps(facts, params)
    if facts.shared_maps:
        return {"both": np.asarray(left)}
    return {"left": np.asarray(left), "right": np.asarray(right)}


def star_points(facts: ModelFacts | Mapping[str, Any], params: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (operand, hidden unit): the unit's token map on its strongest frequency.

    The unit's map m_u(j) is over the group index j (the token for add / sub, its discrete
    logarithm for mul / div; n rows). Columns: ``operand`` (left / right, or both for combine:
    sum), ``unit``, ``freq`` (f_u, the frequency 1 .. n // 2 with the most power in the unit's
    maps of both operands), ``x`` = sum_j m_u(j) cos(2 pi f_u j / n), ``y`` = sum_j m_u(j)
    sin(2 pi f_u j / n), ``purity`` (the share of the unit's power, both operands, at f_u: 1 for
    a pure sinusoid) and ``norm`` (length of the ray, sqrt(x^2 + y^2)).
    """
    maps = operand_maps(facts, params)
    spectra = {op: np.fft.rfft(m, axis=0)[1:] for op, m in maps.items()}  # (n // 2, width)
    power = sum(unit_power(m) for m in maps.values())
    best = power.argmax(axis=0)
    total = power.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        purity = np.where(total > 0, power.max(axis=0) / total, np.nan)
    units = np.arange(power.shape[1])
    frames = []
    for op, s in spectra.items():
        c = s[best, units]  # sum_j m(j) exp(-2 pi i f j / n) = sum m cos - i sum m sin
        frames.append(
            pd.DataFrame(
                {
                    "operand": op,
                    "unit": units,
                    "freq": best + 1,
                    "x": c.real,
                    "y": -c.imag,
                    "purity": purity,
                    "norm": np.abs(c),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def token_circle(
    facts: ModelFacts | Mapping[str, Any], params: Mapping[str, Any], freq: int
) -> pd.DataFrame:
    """Each token in the plane of frequency `freq`: on the unit circle for a pure sinusoid.

    Over the group index j (n rows; j = a for add / sub, j = log_g a for mul / div), the map is
    written as mean + alpha cos(2 pi f j / n) + beta sin(2 pi f j / n) + rest, with alpha, beta
    its least-squares coefficients at f; each token's (x, y) is the least-squares fit of its
    centred map on (alpha, beta), so a map built from f alone puts the token of index j exactly
    at angle 2 pi f j / n. Columns: ``operand``, ``index`` (j), ``token`` (a), ``x``, ``y``,
    ``explained`` (the share of the operand's centred map variance that the plane of f holds).
    """
    facts = as_facts(facts)
    tokens = group_tokens(facts.op, facts.p)
    frames = []
    for op, m in operand_maps(facts, params).items():
        n = m.shape[0]
        centred = m - m.mean(axis=0)
        angle = 2 * np.pi * freq * np.arange(n) / n
        trig = np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (n, 2)
        trig[np.abs(trig) < 1e-9] = 0.0  # sin(pi j), the Nyquist frequency's, is 0, not 1e-16
        norms = np.sum(trig**2, axis=0)  # n / 2 each, or n and 0 at the Nyquist frequency
        basis = trig.T @ centred / np.where(norms > 0, norms, 1.0)[:, None]  # (2, w)
        coords, *_ = np.linalg.lstsq(basis.T, centred.T, rcond=None)  # (2, n)
        fitted = coords.T @ basis
        denom = float(np.sum(centred**2))
        explained = float(np.sum(fitted**2)) / denom if denom > 0 else float("nan")
        frames.append(
            pd.DataFrame(
                {
                    "operand": op,
                    "index": np.arange(n),
                    "token": tokens,
                    "x": coords[0],
                    "y": coords[1],
                    "explained": explained,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
