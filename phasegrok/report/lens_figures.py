"""The per-run figures of the mechanistic lens, from a run's parameters (no JAX).

- ``spectrum__<run>.png`` (modular): power per frequency 1 .. n // 2 of the token maps over
  the op's cyclic group (`lens.figure_data.power_spectrum`), the key frequencies highlighted.
- ``star__<run>.png`` (modular): each hidden unit's token map projected onto cos / sin of its
  own strongest frequency, one ray per unit coloured by that frequency (the "star",
  `phasegrok.lens.figure_data.star_points`); below, the tokens in the plane of the run's strongest
  frequency (`phasegrok.lens.figure_data.token_circle`), on a circle when it generalizes.
- ``lens_curve__<run>.png``: the lens metric against step, under train / test accuracy.
- ``weights__<run>.png`` (parity): |first-layer kernel| at every saved step.

Each takes the run's `lens.ModelFacts`, its data and row, and returns a Figure.

<run>: the run's phase, grid point, seed and id (`curves.run_namer`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from phasegrok.analysis.classify import PHASE_COLORS
from phasegrok.lens import figure_data as lens_data
from phasegrok.lens import fourier as lens
from phasegrok.lens.fourier import ModelFacts, cell
from phasegrok.report.grid import fmt
from phasegrok.report.style import fixed_layout, title, title_height
from phasegrok.tasks import cyclic
from phasegrok.tasks.base import FOURIER

FREQ_COLORS = [mpl.colormaps["tab10"](i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)]  # no grey
OTHER_COLOR = (0.78, 0.78, 0.78, 1.0)


def freq_colors(freqs: np.ndarray) -> tuple[dict[int, Any], list[tuple[int, int]]]:
    """Colour per frequency (most units first; the rest grey) and (freq, count) in that order."""
    values, counts = np.unique(freqs, return_counts=True)
    order = sorted(zip(values.tolist(), counts.tolist(), strict=True), key=lambda t: (-t[1], t[0]))
    colors = {
        f: FREQ_COLORS[i] if i < len(FREQ_COLORS) else OTHER_COLOR for i, (f, _) in enumerate(order)
    }
    return colors, order


def index_words(facts: ModelFacts, token: str = "a") -> dict[str, str]:
    """How a figure names the group index of operand `token` (a or b): the token over Z_p, or
    j = log_g of it over Z_(p-1)."""
    op, p = facts.op, facts.p
    if op in ("add", "sub"):
        return {"j": token, "n": "p", "over": f"the p = {p} tokens a", "index": f"token {token}"}
    g = cyclic.primitive_root(p)
    return {
        "j": "j",
        "n": "(p−1)",
        "over": f"the p − 1 = {p - 1} non-zero tokens a, ordered by j = log_{g} a",
        "index": f"j = log_{g} {token} (token {token} = {g}^j mod {p})",
    }


OPERAND_TOKEN = {"left": "a", "right": "b", "both": "a"}  # the star's rows: whose tokens


def token_colorbar_label(facts: ModelFacts, ops: list[str]) -> str:
    """The star's colour bar: the tokens of each row's operand, a above b."""
    if ops == ["both"]:  # combine: sum, one map for both operands
        if facts.op in ("add", "sub"):
            return "token a or b (one map for both)"
        g = cyclic.primitive_root(facts.p)
        return f"j = log_{g} a or log_{g} b (token = {g}^j mod {facts.p})"
    rows = ("top row", "bottom row") if len(ops) == 2 else ("",) * len(ops)
    if facts.op in ("add", "sub"):
        parts = [f"token {OPERAND_TOKEN[op]}" for op in ops]
        return ", ".join(f"{w} ({r})" if r else w for w, r in zip(parts, rows, strict=True))
    g = cyclic.primitive_root(facts.p)
    parts = [f"log_{g} {OPERAND_TOKEN[op]}" for op in ops]
    where = ", ".join(f"{w} ({r})" if r else w for w, r in zip(parts, rows, strict=True))
    return f"j = {where}; token = {g}^j mod {facts.p}"


def spectrum_figure(
    facts: ModelFacts, params: Mapping[str, Any], row: pd.Series, runs: pd.DataFrame, head: str
) -> Figure:
    """Share of the token maps' power per frequency, the key frequencies highlighted."""
    top_k = facts.top_k
    power = lens_data.power_spectrum(facts, params)
    share = power / power.sum()
    freqs = np.arange(1, len(power) + 1)
    keys = np.asarray(lens.key_frequencies(power, top_k)).tolist()
    color = PHASE_COLORS.get(str(row.get("phase")), "#0072B2")
    fig = Figure(figsize=(6.6, 3.2))
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
    ax.set_xlabel(f"frequency f (cycles over {index_words(facts)['over']})", fontsize="small")
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
        loc="lower center",
    )
    lines = title(fig, f"Fourier spectrum of the token maps, {head}", runs, fixed=True)
    fixed_layout(fig, left=0.62, right=0.15, top=title_height(lines) + 0.22, bottom=0.72)
    return fig


def star_figure(
    facts: ModelFacts, params: Mapping[str, Any], row: pd.Series, runs: pd.DataFrame, head: str
) -> Figure:
    """Per operand (rows): the star of rays per unit, and the tokens on the key circle."""
    pts = lens_data.star_points(facts, params)
    ops = list(dict.fromkeys(pts["operand"]))
    first = pts.loc[pts["operand"] == ops[0]]
    colors, order = freq_colors(first["freq"].to_numpy())
    strongest = int(np.asarray(lens.key_frequencies(lens_data.power_spectrum(facts, params), 1))[0])
    circle = lens_data.token_circle(facts, params, strongest)
    n_index = len(circle) // len(ops)
    fig = Figure(figsize=(8.0, 3.5 * len(ops) + 1.4))
    axes = fig.subplots(len(ops), 2, squeeze=False)
    names = {"left": "left operand a", "right": "right operand b", "both": "both operands (sum)"}
    sc = None
    for i, op in enumerate(ops):
        last = i == len(ops) - 1
        words = index_words(facts, OPERAND_TOKEN[op])  # this row's operand, a or b
        j, period = words["j"], words["n"]
        ax = axes[i, 0]
        sub = pts.loc[(pts["operand"] == op) & np.isfinite(pts["purity"])]
        sub = sub.loc[sub["norm"] > 1e-9 * max(float(sub["norm"].max()), 1e-30)]
        sub = sub.sort_values("norm", ascending=False)  # short rays drawn on top
        rgba = np.array([colors[f] for f in sub["freq"]], dtype=float).reshape(-1, 4)
        rgba[:, 3] = 0.25 + 0.75 * sub["purity"].to_numpy()
        segs = np.zeros((len(sub), 2, 2))
        segs[:, 1, 0], segs[:, 1, 1] = sub["x"], sub["y"]
        # an (n, 2, 2) array of segments is what LineCollection takes; its stubs want a list
        ax.add_collection(LineCollection(segs, colors=rgba, linewidths=1.1))  # type: ignore[arg-type]
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
    handles = []
    shown = [(f, n) for f, n in order if colors[f] != OTHER_COLOR]
    for f, n in shown:
        handles.append(Line2D([], [], color=colors[f], lw=2, label=f"f = {f} ({n} units)"))
    rest = [(f, n) for f, n in order if colors[f] == OTHER_COLOR]
    if rest:
        n_rest = sum(n for _, n in rest)
        handles.append(
            Line2D([], [], color=OTHER_COLOR, lw=2, label=f"{len(rest)} other f ({n_rest} units)")
        )
    ncol = min(len(handles), 5)
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=ncol,
        frameon=False,
        fontsize=7,
        title="unit's strongest frequency fᵤ (rays; faint: not a clean sinusoid)",
        title_fontsize=7,
    )
    lines = title(fig, f"The star: hidden units by frequency, {head}", runs, fixed=True)
    legend_rows = 1 + math.ceil(len(handles) / max(ncol, 1))
    fixed_layout(
        fig,
        left=0.62,
        right=0.75,
        top=title_height(lines) + 0.4,
        bottom=0.5 + 0.16 * legend_rows,
        wspace=0.75,
        hspace=0.62,
    )
    if sc is not None:  # after the layout: the colour bar takes its room from placed axes
        label = token_colorbar_label(facts, ops)
        fig.colorbar(sc, ax=list(axes[:, 1]), label=label, shrink=0.8, fraction=0.06)
    return fig


def accuracy_panel(
    ax: Axes, curve: pd.DataFrame, legend_loc: Literal["center right", "upper left"]
) -> None:
    """A run's test (solid) and train (dashed) accuracy against step, on `ax`."""
    ax.plot(curve["step"], curve["test_acc"], color="0.1", lw=1.4, label="test")
    ax.plot(curve["step"], curve["train_acc"], color="0.45", lw=1.1, ls="--", label="train")
    ax.set_ylim(-0.02, 1.04)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, frameon=False, loc=legend_loc)


def lens_curve_figure(
    facts: ModelFacts,
    row: pd.Series,
    curve: pd.DataFrame,
    runs: pd.DataFrame,
    from_params: pd.DataFrame,
    head: str,
) -> Figure:
    """Accuracy (top) and the lens metric (bottom) against step, on one symlog step axis.

    `from_params`: the metrics recomputed from saved parameters (columns step and the names).
    """
    top_k = facts.top_k
    modular = facts.lens == FOURIER
    main, second = facts.names
    names = {
        "fourier_top_k_share": f"top-{top_k} Fourier share",
        "fourier_gini": "Gini of the spectrum",
        "relevant_weight_share": "weight share on label bits",
        "irrelevant_units": "units reading irrelevant bits",
    }
    curve = curve.replace([np.inf, -np.inf], np.nan).sort_values("step")
    fig = Figure(figsize=(5.6, 5.0))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1])
    twin = None
    accuracy_panel(top, curve, legend_loc="upper left")
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
        n_freqs = cyclic.n_frequencies(facts.op, facts.p) if facts.p else 0
        if n_freqs:
            bottom.axhline(top_k / n_freqs, color="0.5", lw=0.8, ls="--")
            handles.append(Line2D([], [], color="0.5", lw=0.8, ls="--", label="uniform spectrum"))
        bottom.set_ylim(-0.02, 1.04)
        bottom.set_ylabel("concentration")
    else:
        bottom.set_ylim(-0.02, 1.04)
        bottom.set_ylabel("weight share on label bits")
        n, k = cell(row, "task.n_bits"), cell(row, "task.k")
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
        t = cell(row, key)
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
    for name, t in marks.items():  # named above the plot, clear of the curves
        top.annotate(
            name,
            (t, 1),
            xycoords=top.get_xaxis_transform(),  # data x (symlog), axes y
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=6.5,
            color="0.35",
        )
    bottom.set_xlabel("optimization step")
    if handles:
        fig.legend(handles=handles, fontsize=6.5, frameon=False, loc="lower center", ncol=3)
    lines = title(fig, f"Lens metric during training, {head}", runs, fixed=True)
    fixed_layout(
        fig,
        left=0.62,
        right=0.62 if twin is not None else 0.15,
        top=title_height(lines) + (0.2 if marks else 0.08),
        bottom=0.5 + 0.15 * math.ceil(len(handles) / 3),
        hspace=0.12,
    )
    return fig


def weights_figure(
    facts: ModelFacts, kernels: Mapping[int, np.ndarray], runs: pd.DataFrame, head: str
) -> Figure:
    """|first-layer kernel| (bits x units) at each saved step, units in one order throughout."""
    k, threshold = facts.k, facts.threshold
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
    import seaborn as sns  # here: its rocket palette is the one thing the lens needs from it

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
    title(fig, f"First-layer weights |W| at the saved steps, {head}", runs)
    return fig
