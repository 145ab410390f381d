"""Figures of the mechanistic lens, from a results folder's stored parameters (no JAX).

`phasegrok.plots.draw_all` calls this module; the figures it adds to a results folder:

- ``map_final_fourier_top_k_share__<x>__<y>.png``, ``map_final_fourier_gini__...`` (modular) or
  ``map_final_relevant_weight_share__...``, ``map_final_irrelevant_units__...`` (parity): the
  lens metrics of runs.parquet as median-over-seeds maps on the phase diagram's grid.
- Per run (one example per phase by default, or the runs of ``phasegrok.plot DIR --run ID``):
  - ``spectrum__<run_id>.png`` (modular): power per frequency 1 .. n // 2 of the token maps
    over the op's cyclic group (`phasegrok.lens.group_maps`), the key frequencies highlighted.
  - ``star__<run_id>.png`` (modular): each hidden unit's token map projected onto cos / sin of
    its own strongest frequency, one ray per unit coloured by that frequency (the "star"); below,
    the tokens in the plane of the run's strongest frequency, on a circle when it generalizes.
  - ``lens_curve__<run_id>.png``: the lens metric against step, under train / test accuracy.
  - ``weights__<run_id>.png`` (parity): |first-layer kernel| at every saved step.

The math is `phasegrok.lens` run with NumPy; `star_points` and `token_circle` are the data
behind the star, so tests and notebooks can check them without drawing. Modular runs whose op
has no cyclic group (`phasegrok.lens.group_tokens` is None) get none of the per-run figures.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from phasegrok import lens
from phasegrok.classify import PHASE_COLORS, PHASES
from phasegrok.plots import MapSpec, _safe, _title, fmt
from phasegrok.store import PARTS, load_params

TOP_K, THRESHOLD = 5, 0.05  # defaults of the sweep's `analysis:` section
MAX_WEIGHT_PANELS = 8
_FREQ_COLORS = [mpl.colormaps["tab10"](i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)]  # no grey
_OTHER_COLOR = (0.78, 0.78, 0.78, 1.0)

Job = tuple[str, Callable[[], Figure], str]  # (file name, figure builder, caption)


class LensWarning(UserWarning):
    """A run asked for by id lacks what a lens figure needs (its figures are skipped)."""


# --------------------------------------------------------------------------------------------
# Settings and stored parameters


def analysis_settings(
    spec: Mapping[str, Any], runs: pd.DataFrame | Mapping[str, Any] | None = None
) -> tuple[int, float]:
    """(fourier_top_k, irrelevant_threshold): a run's (or all runs') own, else the sweep's.

    `runs` is one run's row or the runs frame; its ``analysis.*`` columns win where they hold a
    single value. Otherwise the sweep's `analysis:` section, else the defaults (5, 0.05).
    """
    analysis = dict(spec.get("analysis") or {})
    for name in ("fourier_top_k", "irrelevant_threshold"):
        key = f"analysis.{name}"
        if isinstance(runs, pd.DataFrame):
            values = runs[key].dropna().unique() if key in runs.columns else []
            if len(values) == 1:
                analysis[name] = values[0]
        elif runs is not None and _value(runs, key) is not None:
            analysis[name] = _value(runs, key)
    return int(analysis.get("fourier_top_k", TOP_K)), float(
        analysis.get("irrelevant_threshold", THRESHOLD)
    )


def param_steps(results_dir: str | Path) -> dict[str, list[int]]:
    """run_id -> the steps whose parameters are stored, read from the npz directories only."""
    found: dict[str, set[int]] = {}
    for part in sorted((Path(results_dir) / PARTS).glob("*.params.npz")):
        try:
            with np.load(part) as archive:
                names = archive.files
        except (OSError, ValueError):
            continue
        for name in names:
            run_id, step, *_ = name.split("/")
            found.setdefault(run_id, set()).add(int(step))
    return {run_id: sorted(steps) for run_id, steps in found.items()}


def _value(row: Mapping[str, Any], key: str, default: Any = None) -> Any:
    v = row.get(key, default)
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return default
    return v


def _json_list(v: Any) -> list[int] | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = json.loads(v)
    return [int(x) for x in v]


def _finite(params: Mapping[str, Any]) -> bool:
    return all(
        _finite(v) if isinstance(v, Mapping) else bool(np.isfinite(np.asarray(v)).all())
        for v in params.values()
    )


# --------------------------------------------------------------------------------------------
# The data behind the figures


def modular_token_maps(params: Mapping[str, Any], row: Mapping[str, Any]) -> tuple[Any, Any]:
    """(p, width) token maps of the left and right operand (the same array for combine: sum)."""
    p = int(row["task.p"])
    embedding = _value(row, "model.embedding", "learned")
    freqs = _json_list(_value(row, "model.circular_freqs"))
    table = np.asarray(lens.embedding_table(params, embedding, p, freqs), dtype=np.float64)
    kernel = np.asarray(params["first_kernel"], dtype=np.float64)
    return lens.token_maps(table, kernel, _value(row, "model.combine", "concat"))


def _op_p(row: Mapping[str, Any]) -> tuple[str, int]:
    return str(_value(row, "task.op", "add")), int(row["task.p"])


def fourier_lens_blank(row: Mapping[str, Any]) -> bool:
    """Whether a run is modular with no cyclic group for the Fourier lens (square_sum, ...)."""
    return _value(row, "task.kind", "modular") == "modular" and not lens.n_frequencies(*_op_p(row))


def lens_blank(row: Mapping[str, Any]) -> bool:
    """Whether a run has no lens figures: an arrays task (no lens), or `fourier_lens_blank`."""
    return _value(row, "task.kind") == "arrays" or fourier_lens_blank(row)


def group_token_maps(params: Mapping[str, Any], row: Mapping[str, Any]) -> tuple[Any, Any]:
    """(n, width) maps over the group index (`phasegrok.lens.group_maps`); ValueError if none."""
    op, p = _op_p(row)
    grouped = lens.group_maps(modular_token_maps(params, row), op, p)
    if grouped is None:
        raise ValueError(f"op '{op}' mod {p} has no cyclic group: the Fourier lens is blank")
    return grouped


def power_spectrum(params: Mapping[str, Any], row: Mapping[str, Any]) -> np.ndarray:
    """Power per frequency 1 .. n // 2, summed over both operands and all units (the lens's)."""
    left, right = group_token_maps(params, row)
    return lens.frequency_power(left) + lens.frequency_power(right)


def lens_values(
    params: Mapping[str, Any], row: Mapping[str, Any], top_k: int, threshold: float
) -> dict[str, float]:
    """The lens metrics of one parameter set: {fourier_top_k_share, fourier_gini} or parity's."""
    if _value(row, "task.kind", "modular") == "modular":
        metrics, _ = lens.task_lens(modular_token_maps(params, row), *_op_p(row), top_k)
        names = lens.MODULAR_METRICS
    else:
        kernel = np.asarray(lens.parity_first_kernel(params), dtype=np.float64)
        metrics = lens.parity_lens(kernel, int(row["task.k"]), threshold)
        names = lens.PARITY_METRICS
    return {n: float(v) for n, v in zip(names, np.asarray(metrics), strict=True)}


def _operands(params: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, np.ndarray]:
    left, right = group_token_maps(params, row)
    if _value(row, "model.combine", "concat") == "sum":
        return {"both": np.asarray(left)}
    return {"left": np.asarray(left), "right": np.asarray(right)}


def star_points(params: Mapping[str, Any], row: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (operand, hidden unit): the unit's token map on its strongest frequency.

    The unit's map m_u(j) is over the group index j (the token for add / sub, its discrete
    logarithm for mul / div; n rows). Columns: ``operand`` (left / right, or both for combine:
    sum), ``unit``, ``freq`` (f_u, the frequency 1 .. n // 2 with the most power in the unit's
    maps of both operands), ``x`` = sum_j m_u(j) cos(2 pi f_u j / n), ``y`` = sum_j m_u(j)
    sin(2 pi f_u j / n), ``purity`` (the share of the unit's power, both operands, at f_u: 1 for
    a pure sinusoid) and ``norm`` (length of the ray, sqrt(x^2 + y^2)).
    """
    maps = _operands(params, row)
    spectra = {op: np.fft.rfft(m, axis=0)[1:] for op, m in maps.items()}  # (n // 2, width)
    power = sum(lens.unit_power(m) for m in maps.values())
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


def token_circle(params: Mapping[str, Any], row: Mapping[str, Any], freq: int) -> pd.DataFrame:
    """Each token in the plane of frequency `freq`: on the unit circle for a pure sinusoid.

    Over the group index j (n rows; j = a for add / sub, j = log_g a for mul / div), the map is
    written as mean + alpha cos(2 pi f j / n) + beta sin(2 pi f j / n) + rest, with alpha, beta
    its least-squares coefficients at f; each token's (x, y) is the least-squares fit of its
    centred map on (alpha, beta), so a map built from f alone puts the token of index j exactly
    at angle 2 pi f j / n. Columns: ``operand``, ``index`` (j), ``token`` (a), ``x``, ``y``,
    ``explained`` (the share of the operand's centred map variance that the plane of f holds).
    """
    tokens = lens.group_tokens(*_op_p(row))
    frames = []
    for op, m in _operands(params, row).items():
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


def pick_runs(runs: pd.DataFrame) -> list[str]:
    """One run per phase present (PHASES order): the median seed by time to generalize."""
    out = []
    key = [c for c in ("t_gen", "t_fit") if c in runs.columns] + ["run_id"]
    for phase in PHASES:
        sub = runs.loc[runs["phase"] == phase].sort_values(key, na_position="last")
        if len(sub):
            out.append(str(sub["run_id"].iloc[(len(sub) - 1) // 2]))
    return out


# --------------------------------------------------------------------------------------------
# Metric maps


def lens_maps(runs: pd.DataFrame, spec: Mapping[str, Any]) -> list[tuple[MapSpec, str]]:
    """Map specs and captions of the lens metrics present in runs.parquet."""
    top_k, threshold = analysis_settings(spec, runs)
    out = []
    # Frequencies of each modular run's group; 0 where its op has none (the lens is blank).
    modular = runs.loc[runs["task.kind"] == "modular"] if "task.kind" in runs.columns else runs
    counts = {lens.n_frequencies(*_op_p(r)) for _, r in modular.iterrows() if "task.p" in r}
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
        ns = pd.to_numeric(runs.get("task.n_bits"), errors="coerce").dropna().unique()
        ks = pd.to_numeric(runs.get("task.k"), errors="coerce").dropna().unique()
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


# --------------------------------------------------------------------------------------------
# Per-run figures


def _run_head(row: Mapping[str, Any], run_label: Callable[[Any], str]) -> str:
    return f"run {row['run_id']} ({row.get('phase', '?')}; {run_label(row)})"


def _freq_colors(freqs: np.ndarray) -> tuple[dict[int, Any], list[tuple[int, int]]]:
    """Colour per frequency (most units first; the rest grey) and (freq, count) in that order."""
    values, counts = np.unique(freqs, return_counts=True)
    order = sorted(zip(values.tolist(), counts.tolist(), strict=True), key=lambda t: (-t[1], t[0]))
    colors = {
        f: _FREQ_COLORS[i] if i < len(_FREQ_COLORS) else _OTHER_COLOR
        for i, (f, _) in enumerate(order)
    }
    return colors, order


def _index_words(row: Mapping[str, Any]) -> dict[str, str]:
    """How a figure names the group index: token a over Z_p, or j = log_g a over Z_(p-1)."""
    op, p = _op_p(row)
    if op in ("add", "sub"):
        return {"j": "a", "n": "p", "over": f"the p = {p} tokens a", "index": "token a"}
    g = lens.primitive_root(p)
    return {
        "j": "j",
        "n": "(p−1)",
        "over": f"the p − 1 = {p - 1} non-zero tokens a, ordered by j = log_{g} a",
        "index": f"j = log_{g} a (token a = {g}^j mod {p})",
    }


def spectrum_figure(
    params: Mapping[str, Any], row: pd.Series, runs: pd.DataFrame, top_k: int, head: str
) -> Figure:
    """Share of the token maps' power per frequency, the key frequencies highlighted."""
    power = power_spectrum(params, row)
    share = power / power.sum()
    freqs = np.arange(1, len(power) + 1)
    keys = np.asarray(lens.key_frequencies(power, top_k)).tolist()
    color = PHASE_COLORS.get(str(row.get("phase")), "#0072B2")
    fig = Figure(figsize=(6.6, 3.2), layout="constrained")
    ax = fig.subplots()
    colors = [color if f in keys else "#BDBDBD" for f in freqs]
    ax.bar(freqs, share, width=0.8, color=colors, edgecolor="none")
    for rank, f in enumerate(keys, start=1):
        ax.annotate(
            str(f),
            (f, share[f - 1]),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=7,
            fontweight="bold" if rank == 1 else "normal",
        )
    ax.axhline(1 / len(power), color="0.3", lw=0.8, ls="--")
    ax.set_xlim(0.3, len(power) + 0.7)
    ax.set_ylim(0, max(float(share.max()) * 1.12, 2 / len(power)))
    step = 1 if len(power) <= 30 else 5
    ax.set_xticks([f for f in freqs if f == 1 or f % step == 0])
    ax.set_xlabel(f"frequency f (cycles over {_index_words(row)['over']})", fontsize="small")
    ax.set_ylabel("share of token-map power")
    ax.grid(True, axis="y", lw=0.4, alpha=0.5)
    top = float(np.sort(share)[-top_k:].sum())
    gini = float(lens.gini(power))
    ax.set_title(
        f"top-{top_k} share {top:.2f} · Gini {gini:.2f} · key frequencies"
        f" {', '.join(map(str, keys))}",
        fontweight="normal",
        fontsize="small",
        loc="left",
    )
    fig.legend(
        handles=[
            Patch(color=color, label=f"top-{top_k} (key) frequencies"),
            Patch(color="#BDBDBD", label="other frequencies"),
            Line2D([], [], color="0.3", lw=0.8, ls="--", label="uniform spectrum"),
        ],
        fontsize=7,
        frameon=False,
        ncol=3,
        loc="outside lower center",
    )
    _title(fig, f"Fourier spectrum of the token maps, {head}", runs)
    return fig


def star_figure(
    params: Mapping[str, Any], row: pd.Series, runs: pd.DataFrame, top_k: int, head: str
) -> Figure:
    """Per operand (rows): the star of rays per unit, and the tokens on the key circle."""
    pts = star_points(params, row)
    ops = list(dict.fromkeys(pts["operand"]))
    first = pts.loc[pts["operand"] == ops[0]]
    colors, order = _freq_colors(first["freq"].to_numpy())
    strongest = int(np.asarray(lens.key_frequencies(power_spectrum(params, row), 1))[0])
    circle = token_circle(params, row, strongest)
    n_index = len(circle) // len(ops)
    w = _index_words(row)
    j, period = w["j"], w["n"]
    fig = Figure(figsize=(8.0, 3.5 * len(ops) + 1.4), layout="constrained")
    axes = fig.subplots(len(ops), 2, squeeze=False)
    names = {"left": "left operand a", "right": "right operand b", "both": "both operands (sum)"}
    sc = None
    for i, op in enumerate(ops):
        last = i == len(ops) - 1
        ax = axes[i, 0]
        sub = pts.loc[(pts["operand"] == op) & np.isfinite(pts["purity"])]
        sub = sub.loc[sub["norm"] > 1e-9 * max(float(sub["norm"].max()), 1e-30)]
        sub = sub.sort_values("norm", ascending=False)  # short rays drawn on top
        rgba = np.array([colors[f] for f in sub["freq"]], dtype=float).reshape(-1, 4)
        rgba[:, 3] = 0.25 + 0.75 * sub["purity"].to_numpy()
        segs = np.zeros((len(sub), 2, 2))
        segs[:, 1, 0], segs[:, 1, 1] = sub["x"], sub["y"]
        ax.add_collection(LineCollection(segs, colors=rgba, linewidths=1.1))
        ax.scatter(sub["x"], sub["y"], s=7, c=rgba, linewidths=0)
        r = float(sub["norm"].max()) * 1.08 if len(sub) else 1.0
        ax.set_xlim(-r, r)
        ax.set_ylim(-r, r)
        ax.set_aspect("equal")
        ax.axhline(0, color="0.85", lw=0.5, zorder=0)
        ax.axvline(0, color="0.85", lw=0.5, zorder=0)
        ax.set_title(f"units, {names[op]}", fontweight="normal", fontsize="small")
        ax.set_ylabel(f"Σ mᵤ({j}) sin(2π fᵤ {j} / {period})")
        if last:
            ax.set_xlabel(f"Σ mᵤ({j}) cos(2π fᵤ {j} / {period})")
        ax.tick_params(labelsize=6)

        ax = axes[i, 1]
        tok = circle.loc[circle["operand"] == op]
        t = np.linspace(0, 2 * np.pi, 200)
        ax.plot(np.cos(t), np.sin(t), color="0.6", lw=0.8, ls="--", zorder=0)
        sc = ax.scatter(
            tok["x"],
            tok["y"],
            c=tok["index"],
            cmap="twilight",
            vmin=0,
            vmax=n_index,
            s=14,
            edgecolors="0.2",
            linewidths=0.3,
        )
        for i_tok in range(min(n_index, 4)):
            ax.annotate(
                str(tok["token"].iloc[i_tok]),
                (tok["x"].iloc[i_tok], tok["y"].iloc[i_tok]),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=6.5,
            )
        lim = max(1.3, float(np.nanpercentile(np.hypot(tok["x"], tok["y"]), 95)) * 1.15)
        lim = min(lim, 6.0)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        explained = float(tok["explained"].iloc[0])
        ax.set_title(
            f"tokens at f = {strongest}, {names[op]}\n(the plane holds {100 * explained:.0f}% of"
            " the map's variance)",
            fontweight="normal",
            fontsize="small",
        )
        ax.set_ylabel(f"sin(2π·{strongest}·{j}/{period}) coordinate")
        if last:
            ax.set_xlabel(f"cos(2π·{strongest}·{j}/{period}) coordinate")
        ax.tick_params(labelsize=6)
    if sc is not None:
        fig.colorbar(sc, ax=list(axes[:, 1]), label=w["index"], shrink=0.8, aspect=25)
    handles = []
    shown = [(f, n) for f, n in order if colors[f] != _OTHER_COLOR]
    for f, n in shown:
        handles.append(Line2D([], [], color=colors[f], lw=2, label=f"f = {f} ({n} units)"))
    rest = [(f, n) for f, n in order if colors[f] == _OTHER_COLOR]
    if rest:
        n_rest = sum(n for _, n in rest)
        handles.append(
            Line2D([], [], color=_OTHER_COLOR, lw=2, label=f"{len(rest)} other f ({n_rest} units)")
        )
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=min(len(handles), 5),
        frameon=False,
        fontsize=7,
        title="unit's strongest frequency fᵤ (rays; faint: not a clean sinusoid)",
        title_fontsize=7,
    )
    _title(fig, f"The star: hidden units by frequency, {head}", runs)
    return fig


def lens_curve_figure(
    row: pd.Series,
    curve: pd.DataFrame,
    runs: pd.DataFrame,
    from_params: pd.DataFrame,
    top_k: int,
    head: str,
) -> Figure:
    """Accuracy (top) and the lens metric (bottom) against step, on one symlog step axis."""
    modular = _value(row, "task.kind", "modular") == "modular"
    main, second = lens.MODULAR_METRICS if modular else lens.PARITY_METRICS
    names = {
        "fourier_top_k_share": f"top-{top_k} Fourier share",
        "fourier_gini": "Gini of the spectrum",
        "relevant_weight_share": "weight share on label bits",
        "irrelevant_units": "units reading irrelevant bits",
    }
    curve = curve.replace([np.inf, -np.inf], np.nan).sort_values("step")
    fig = Figure(figsize=(5.6, 5.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1])
    top.plot(curve["step"], curve["test_acc"], color="0.1", lw=1.4, label="test")
    top.plot(curve["step"], curve["train_acc"], color="0.45", lw=1.1, ls="--", label="train")
    top.set_ylim(-0.02, 1.04)
    top.set_ylabel("accuracy")
    top.legend(fontsize=7, frameon=False, loc="upper left")
    color = PHASE_COLORS.get(str(row.get("phase")), "#0072B2")
    handles = []
    if main in curve.columns:
        bottom.plot(curve["step"], curve[main], color=color, lw=1.6)
        handles.append(Line2D([], [], color=color, lw=1.6, label=names[main]))
    if main in from_params.columns and len(from_params):
        bottom.plot(
            from_params["step"], from_params[main], "o", mfc="none", mec=color, ms=5, mew=1.0
        )
        handles.append(
            Line2D([], [], ls="none", marker="o", mfc="none", mec=color, label="from saved params")
        )
    if modular:
        if second in curve.columns:
            bottom.plot(curve["step"], curve[second], color=color, lw=1.0, ls=":")
            handles.append(Line2D([], [], color=color, lw=1.0, ls=":", label=names[second]))
        n_freqs = lens.n_frequencies(*_op_p(row)) if _value(row, "task.p") is not None else 0
        if n_freqs:
            bottom.axhline(top_k / n_freqs, color="0.5", lw=0.8, ls="--")
            handles.append(Line2D([], [], color="0.5", lw=0.8, ls="--", label="uniform spectrum"))
        bottom.set_ylim(-0.02, 1.04)
        bottom.set_ylabel("concentration")
    else:
        bottom.set_ylim(-0.02, 1.04)
        bottom.set_ylabel("weight share on label bits")
        n, k = _value(row, "task.n_bits"), _value(row, "task.k")
        if n is not None and k is not None:
            bottom.axhline(int(k) / int(n), color="0.5", lw=0.8, ls="--")
            handles.append(Line2D([], [], color="0.5", lw=0.8, ls="--", label="even spread k/n"))
        if second in curve.columns:
            twin = bottom.twinx()
            twin.plot(curve["step"], curve[second], color="0.35", lw=1.0, ls=":")
            twin.set_ylabel(names[second], color="0.35")
            most = float(np.nanmax(curve[second].to_numpy(dtype=float), initial=0.0))
            twin.set_ylim(-0.02 * (most + 1), 1.04 * (most + 1))
            twin.tick_params(axis="y", labelcolor="0.35")
            handles.append(Line2D([], [], color="0.35", lw=1.0, ls=":", label=names[second]))
    marks = {}
    for key, ls in (("t_fit", (0, (1, 2))), ("t_gen", (0, (4, 2)))):
        t = _value(row, key)
        if t is not None and np.isfinite(float(t)):
            marks[key] = float(t)
            for ax in (top, bottom):
                ax.axvline(float(t), color="0.55", lw=0.8, ls=ls)
    for ax in (top, bottom):
        ax.grid(True, lw=0.4, alpha=0.5)
    steps = pd.concat([curve["step"], from_params.get("step", pd.Series(dtype=float))])
    positive = steps[steps > 0]
    linthresh = float(positive.min()) if len(positive) else 1.0
    bottom.set_xscale("symlog", linthresh=linthresh, linscale=0.3)
    if len(steps):
        bottom.set_xlim(0, float(steps.max()))
    if marks:  # t_fit / t_gen named on a top axis, clear of the curves
        sec = top.secondary_xaxis("top")
        sec.set_xticks(list(marks.values()), list(marks), fontsize=6.5, color="0.35")
        sec.tick_params(length=2, pad=1)
    bottom.set_xlabel("optimization step")
    if handles:
        fig.legend(handles=handles, fontsize=6.5, frameon=False, loc="outside lower center", ncol=3)
    _title(fig, f"Lens metric during training, {head}", runs)
    return fig


def weights_figure(
    kernels: Mapping[int, np.ndarray],
    row: pd.Series,
    runs: pd.DataFrame,
    threshold: float,
    head: str,
) -> Figure:
    """|first-layer kernel| (bits x units) at each saved step, units in one order throughout."""
    k = int(row["task.k"])
    steps = sorted(kernels)
    final = np.abs(np.asarray(kernels[steps[-1]], dtype=np.float64))
    n_bits, width = final.shape
    order = np.argsort(-np.sum(final[:k] ** 2, axis=0), kind="stable")
    mats = {s: np.abs(np.asarray(kernels[s], dtype=np.float64))[:, order] for s in steps}
    vmax = max(float(np.percentile(m, 99.5)) for m in mats.values()) or 1.0
    norm = Normalize(0.0, vmax)
    panel_w = float(np.clip(0.02 * width + 1.6, 2.2, 3.4))
    height = float(np.clip(0.14 * n_bits + 1.9, 2.8, 7.5))
    fig = Figure(figsize=(panel_w * len(steps) + 1.3, height), layout="constrained")
    axes = fig.subplots(1, len(steps), sharey=True, squeeze=False)[0]
    label_color = "#0072B2"
    cmap = sns.color_palette("rocket_r", as_cmap=True)
    im = None
    for i, (ax, s) in enumerate(zip(axes, steps, strict=True)):
        im = ax.imshow(mats[s], aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
        ax.axhline(k - 0.5, color=label_color, lw=1.2)
        share, irrelevant = np.asarray(lens.parity_lens(np.asarray(kernels[s]), k, threshold))
        ax.set_title(
            f"step {fmt(s)}\nshare {share:.2f}, {int(irrelevant)} units on irrelevant bits",
            fontweight="normal",
            fontsize="small",
        )
        ax.tick_params(axis="x", labelsize=6)
        if i == 0:  # the y axis is shared
            every = max(1, math.ceil(n_bits / 16))
            ticks = sorted(set(range(0, n_bits, every)) | set(range(k)))
            ax.set_yticks(ticks, [str(t) for t in ticks], fontsize=6)
            for t, lbl in zip(ticks, ax.get_yticklabels(), strict=True):
                if t < k:
                    lbl.set_color(label_color)
                    lbl.set_fontweight("bold")
            ax.set_ylabel(f"input bit (blue: the k = {k} label bits)")
    if im is not None:
        cbar = fig.colorbar(im, ax=list(axes), shrink=0.9, aspect=25, extend="max")
        cbar.set_label(f"|W[bit, unit]| (line: threshold {threshold:g})")
        if threshold <= vmax:
            cbar.ax.axhline(threshold, color=label_color, lw=1.2)
    fig.supxlabel("hidden unit (sorted by its final weight on the label bits)", fontsize="medium")
    _title(fig, f"First-layer weights |W| at the saved steps, {head}", runs)
    return fig


def _captions(kind: str, top_k: int, threshold: float) -> dict[str, str]:
    out = {
        "lens_curve": "Top: test (solid) and train (dashed) accuracy against step (symmetric-log"
        " axis), dotted and dashed verticals at t_fit and t_gen. Bottom: the lens metric of"
        " curves.parquet over the same steps; open circles recompute it from the parameters"
        " saved at those steps. "
    }
    if kind == "modular":
        out["lens_curve"] += (
            f"Solid: top-{top_k} Fourier share; dotted: Gini of the spectrum; dashed: the share"
            " of a uniform spectrum. In a grokking run the concentration rises with test accuracy."
        )
        out["spectrum"] = (
            "Share of the token maps' power (Σ over both operands and every hidden unit of"
            " |X_f|² + |X_−f|², X the DFT over the op's cyclic group: the tokens a for add / sub,"
            " the non-zero tokens in the order of their discrete logarithm j = log_g a for"
            " mul / div) at each frequency 1 .. n//2 at the last step. Coloured and labelled:"
            f" the {top_k} key frequencies (the strongest in bold); dashed: a uniform spectrum."
        )
        out["star"] = (
            "The star. Top: one ray per hidden unit u, its token map m_u(a) (the first layer's"
            " input from token a) projected onto cos and sin of its own strongest frequency f_u,"
            " coloured by f_u (faint when the unit is not a clean sinusoid). A generalizing model"
            " puts every unit on a few frequencies. Bottom: every token in the plane of the"
            " run's strongest frequency f, fitted as cos / sin coordinates: a pure frequency-f"
            " map puts the token of group index j (a for add / sub, log_g a for mul / div) at"
            " angle 2π f j / n on the dashed unit circle."
        )
    else:
        out["lens_curve"] += (
            "Solid: share of the first layer's squared weight on the k label bits; dotted (right"
            " axis): hidden units reading an irrelevant bit; dashed: an even spread k/n."
        )
        out["weights"] = (
            "|W|, the first layer's (input bit × hidden unit) kernel at each step whose"
            " parameters were saved (train.save_params_at and the last step), one colour scale."
            " Rows above the blue line are the k label bits. Hidden units are sorted by their"
            f" final weight on the label bits. Titles: relevant weight share and units with some"
            f" |W| > {threshold:g} on an irrelevant bit."
        )
    return out


def run_jobs(
    results_dir: str | Path,
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    spec: Mapping[str, Any],
    run_ids: Sequence[str] | None,
    run_label: Callable[[Any], str],
) -> list[tuple[str, list[Job]]]:
    """(heading, figure jobs) per run: `run_ids`, else one example per phase (`pick_runs`).

    A run's parameter figures need its stored parameters; its lens curve needs lens columns in
    curves.parquet or saved parameters. What a run lacks is skipped (with a warning when the
    run was asked for by id). Unknown ids raise ValueError.
    """
    d = Path(results_dir)
    by_id = runs.assign(run_id=runs["run_id"].astype(str)).set_index("run_id", drop=False)
    asked = run_ids is not None
    if asked:
        unknown = [r for r in run_ids if r not in by_id.index]
        if unknown:
            raise ValueError(f"unknown run id '{unknown[0]}'")
        ids = list(dict.fromkeys(run_ids))
    else:  # examples only among runs the lens can read (square_sum, add_integers, arrays)
        ids = pick_runs(runs.loc[[not lens_blank(r) for _, r in runs.iterrows()]])
    saved = param_steps(d) if ids else {}
    lens_cols = set(lens.MODULAR_METRICS + lens.PARITY_METRICS) & set(curves.columns)
    out = []
    for run_id in ids:
        row = by_id.loc[run_id]
        top_k, threshold = analysis_settings(spec, row)
        kind = _value(row, "task.kind", "modular")
        head = _run_head(row, run_label)
        captions = _captions(kind, top_k, threshold)
        steps = saved.get(run_id, [])
        jobs: list[Job] = []
        stem = _safe(run_id)
        if lens_blank(row):  # no spectrum, star, weights or lens curve to show
            if asked:
                why = (
                    "task.kind arrays has no lens"
                    if kind == "arrays"
                    else f"op '{_value(row, 'task.op')}' mod {_value(row, 'task.p')} has no"
                    " cyclic group for the Fourier lens"
                )
                warnings.warn(
                    f"run {run_id}: {why}; its lens figures are skipped", LensWarning, stacklevel=2
                )
            continue
        curve = curves.loc[curves["run_id"].astype(str) == run_id]
        params = load_params(d, run_id) if steps else None
        usable = params is not None and _finite(params)
        if asked and not usable:
            why = "no stored parameters" if params is None else "non-finite parameters"
            warnings.warn(
                f"run {run_id}: {why}; its parameter figures are skipped", LensWarning, stacklevel=2
            )
        if usable and kind == "modular":
            jobs.append(
                (
                    f"spectrum__{stem}.png",
                    partial(spectrum_figure, params, row, runs, top_k, head),
                    captions["spectrum"],
                )
            )
            jobs.append(
                (
                    f"star__{stem}.png",
                    partial(star_figure, params, row, runs, top_k, head),
                    captions["star"],
                )
            )
        if usable and kind != "modular":
            kernels = {s: lens.parity_first_kernel(load_params(d, run_id, s)) for s in steps}
            kernels = {s: w for s, w in kernels.items() if np.isfinite(w).all()}
            if len(kernels) > MAX_WEIGHT_PANELS:
                keep = np.linspace(0, len(kernels) - 1, MAX_WEIGHT_PANELS).round().astype(int)
                kernels = {s: kernels[s] for s in np.asarray(sorted(kernels))[keep].tolist()}
            jobs.append(
                (
                    f"weights__{stem}.png",
                    partial(weights_figure, kernels, row, runs, threshold, head),
                    captions["weights"],
                )
            )
        points = []
        if usable:
            for s in steps:
                ps = params if s == steps[-1] else load_params(d, run_id, s)
                if _finite(ps):
                    points.append({"step": s, **lens_values(ps, row, top_k, threshold)})
        from_params = pd.DataFrame(points)
        if len(curve) and (lens_cols or len(from_params)):
            jobs.append(
                (
                    f"lens_curve__{stem}.png",
                    partial(lens_curve_figure, row, curve, runs, from_params, top_k, head),
                    captions["lens_curve"],
                )
            )
        if jobs:
            out.append((head, jobs))
    return out
