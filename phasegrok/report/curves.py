"""Training curves by phase and Omnigrok's LU picture (loss against weight norm)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import offset_copy

from phasegrok.analysis.classify import LOSS_FLOOR, PHASE_COLORS, floor_loss
from phasegrok.config.schema import PHASES
from phasegrok.report.captions import EXAMPLES_PER_PHASE
from phasegrok.report.grid import canon, fmt, make_axis, safe_name, short
from phasegrok.report.style import fixed_layout, title, title_height


def examples(runs: pd.DataFrame, k: int = EXAMPLES_PER_PHASE) -> dict[str, list[str]]:
    """Up to `k` run ids per phase present, spread from fastest to slowest to generalize.

    k = 1 picks the median run by time to generalize (the lens figures' example).
    """
    out = {}
    key = [c for c in ("t_gen", "t_fit") if c in runs.columns] + ["run_id"]
    for phase in PHASES:
        sub = runs.loc[runs["phase"] == phase].sort_values(key, na_position="last")
        if len(sub) and k == 1:
            out[phase] = [str(sub["run_id"].iloc[(len(sub) - 1) // 2])]
        elif len(sub):
            pick = np.unique(np.linspace(0, len(sub) - 1, min(k, len(sub))).round().astype(int))
            out[phase] = sub["run_id"].astype(str).iloc[pick].tolist()
    return out


def axis_value_labels(runs: pd.DataFrame, keys: Sequence[str]) -> dict[str, dict[Any, str]]:
    """Per grid key present in `runs` (seed aside): its values' labels, in the axis's notation."""
    names = {}
    for k in keys:
        if k in runs.columns and k != "seed":
            axis = make_axis(runs, k)
            names[k] = dict(zip(map(canon, axis.values), axis.labels(), strict=True))
    return names


def run_labeller(runs: pd.DataFrame, keys: Sequence[str]) -> Callable[[pd.Series], str]:
    """Legend text of a run, 'wd=1e-3, frac=0.3, s0', with each axis's own notation."""
    names = axis_value_labels(runs, keys)

    def run_label(row: pd.Series) -> str:
        parts = [f"{short(k)}={names[k].get(canon(row[k]), row[k])}" for k in names]
        if "seed" in row.index:
            parts.append(f"s{row['seed']}")
        return ", ".join(parts) or str(row.name)

    return run_label


MAX_STEM = 160  # characters of a per-run file name's coordinates part, at most


def file_part(text: Any) -> str:
    """`text` as a piece of a file name, of ASCII letters, digits, '.', '+' and '-': 'α' is
    'alpha', a list's brackets and spaces go, its commas become 'x' ('[64, 64]': '64x64'),
    anything else '-'."""
    text = re.sub(r"[\[\]()\s'\"]", "", str(text).replace("α", "alpha")).replace(",", "x")
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text) or "x"


def run_namer(runs: pd.DataFrame, keys: Sequence[str]) -> Callable[[pd.Series], str]:
    """File-name stem of a run's figures: phase, grid coordinates, seed and run id,
    'grok__wd1e-3_frac0.3__s0__<run_id>' (the coordinates in the axes' notation, by their short
    names; left out where there are none or they would make the name too long)."""
    names = axis_value_labels(runs, keys)

    def run_name(row: pd.Series) -> str:
        coords = "_".join(
            file_part(short(k).replace(" ", "-")) + file_part(names[k].get(canon(row[k]), row[k]))
            for k in names
        )
        parts = [file_part(row.get("phase", "unclassified"))]
        if coords and len(coords) <= MAX_STEM:
            parts.append(coords)
        if "seed" in row.index:
            parts.append(f"s{file_part(row['seed'])}")
        return "__".join([*parts, safe_name(str(row["run_id"]))])

    return run_name


def shades(color: str, n: int) -> list[tuple[float, ...]]:
    """`n` distinguishable variants of a phase colour, dark to light."""
    base = np.asarray(to_rgba(color)[:3])
    out = []
    ts: np.ndarray | list[float] = np.linspace(-0.4, 0.45, n) if n > 1 else [0.0]
    for t in ts:
        rgb = base * (1 + t) if t < 0 else base + (1 - base) * t
        out.append((*rgb, 1.0))
    return out


def curve_groups(curves: pd.DataFrame, ids: set[str]) -> dict[str, pd.DataFrame]:
    """The curves of the runs `ids`, by run id, sorted by step; infinities dropped."""
    sub = curves.loc[curves["run_id"].astype(str).isin(ids)]
    sub = sub.replace([np.inf, -np.inf], np.nan)  # diverged runs: drop, do not autoscale to inf
    return {str(k): g.sort_values("step") for k, g in sub.groupby("run_id", sort=False)}


LINSCALE = 0.5  # decades of width a step axis gives its linear part, 0 .. the first eval step


def step_axis(ax: Any, steps: pd.Series | np.ndarray) -> None:
    """A symlog step axis: linear below the first eval step, so step 0 shows, logarithmic above.

    Major ticks at 0 and at the powers of ten from the first eval step on: a decade below it
    sits in the linear part, so close to 0 that their labels ran together ("010^1"). The linear
    part is `LINSCALE` decades wide, so 0 and the first decade are at least that far apart.
    """
    steps = np.asarray(steps, dtype=float)
    steps = steps[np.isfinite(steps)]
    positive = steps[steps > 0]
    linthresh = float(positive.min()) if len(positive) else 1.0
    ax.set_xscale("symlog", linthresh=linthresh, linscale=LINSCALE)
    top = float(positive.max()) if len(positive) else 10 * linthresh
    first = math.ceil(math.log10(linthresh) - 1e-9)
    last = math.floor(math.log10(top) + 1e-9)
    ax.xaxis.set_major_locator(FixedLocator([0.0] + [10.0**k for k in range(first, last + 1)]))


# Inches of a curves panel and of what is around it.
PANEL_W, PANEL_H = 2.3, 1.55
TICKS_H = 0.5  # below a panel: its x tick labels and x label, then its legend
LEGEND_ROW = 0.115  # one legend line at 5.5 pt
TITLE_H = 0.3  # a panel's title above it


def curves_figure(runs: pd.DataFrame, curves: pd.DataFrame, keys: Sequence[str]) -> Figure:
    """Train (dashed) and test (solid) accuracy against step, a few runs per phase.

    Every panel has its own tick labels and x label, and its runs' legend under them, outside
    the plot, so that no legend hides a curve.
    """
    picks = examples(runs)
    groups = curve_groups(curves, {r for ids in picks.values() for r in ids})
    by_id = runs.assign(run_id=runs["run_id"].astype(str)).set_index("run_id")
    run_label = run_labeller(runs, keys)
    n = len(picks)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    legend_h = LEGEND_ROW * max((len(ids) for ids in picks.values()), default=1) + 0.08
    below = TICKS_H + legend_h  # under each panel
    left, right, wspace = 0.55, 0.12, 0.45
    top_extra, style_h = 0.25, 0.3
    width = left + right + ncols * PANEL_W + (ncols - 1) * wspace
    fig = Figure(figsize=(width, 1.0))  # the height once the title's lines are known
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True).ravel()
    counts = runs["phase"].value_counts()
    for ax, (phase, ids) in zip(axes, picks.items(), strict=False):
        for color, rid in zip(shades(PHASE_COLORS[phase], len(ids)), ids, strict=True):
            g = groups.get(rid)
            if g is None:
                continue
            ax.plot(
                g["step"],
                g["test_acc"],
                color=color,
                lw=1.3,
                label=run_label(cast(pd.Series, by_id.loc[rid])),  # run_id: a row
            )
            ax.plot(g["step"], g["train_acc"], color=color, lw=1.0, ls="--")
        step_axis(ax, curves["step"])
        ax.set_ylim(-0.02, 1.04)
        ax.set_title(f"{phase} ({counts.get(phase, 0)} runs)", color=PHASE_COLORS[phase])
        ax.tick_params(labelbottom=True, labelleft=True)  # shared axes: labels on every panel
        ax.set_xlabel("optimization step", fontsize="small", labelpad=2.5)
        ax.grid(True, lw=0.4, alpha=0.5)
        if ax.get_lines():
            ax.legend(
                fontsize=5.5,
                loc="upper center",
                bbox_to_anchor=(0.5, 0),
                bbox_transform=offset_copy(ax.transAxes, fig, y=-TICKS_H, units="inches"),
                frameon=False,
                handlelength=1.2,
                borderaxespad=0,
                borderpad=0.1,
            )
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel("accuracy")
    style = [
        Line2D([], [], color="0.3", lw=1.0, ls="--", label="train"),
        Line2D([], [], color="0.3", lw=1.3, label="test"),
    ]
    fig.legend(handles=style, loc="lower center", ncol=2, frameon=False)
    top = title_height(title(fig, "Training curves by phase", runs, fixed=True)) + top_extra
    fig.set_size_inches(width, top + nrows * (PANEL_H + below + TITLE_H) - TITLE_H + style_h)
    title(fig, "Training curves by phase", runs, fixed=True)  # again: placed for the height
    fixed_layout(
        fig,
        left=left,
        right=right,
        top=top,
        bottom=below + style_h,
        wspace=wspace,
        hspace=below + TITLE_H,
    )
    return fig


def with_finals(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """`runs` with final weight norm and losses, from the last curve point where missing."""
    cols = {
        "final_weight_norm": "weight_norm",
        "final_train_loss": "train_loss",
        "final_test_loss": "test_loss",
    }
    if all(c in runs.columns for c in cols):
        return runs
    last = curves.sort_values("step").groupby("run_id").tail(1).set_index("run_id")
    out = runs.copy()
    for col, src in cols.items():
        if col not in out.columns:
            out[col] = out["run_id"].astype(str).map(last[src]).to_numpy()
    return out


def lu_figure(runs: pd.DataFrame, curves: pd.DataFrame) -> Figure:
    """Omnigrok's LU picture: train and test loss against parameter norm, coloured by phase.

    Losses below 2^-23 (`LOSS_FLOOR`), float32's exact zeros included, are drawn at it, as the
    pair rule reads them, so a log axis keeps those runs (a dotted line marks the floor).
    """
    runs = with_finals(runs, curves)
    picks = examples(runs)
    groups = curve_groups(curves, {r for ids in picks.values() for r in ids})
    fig = Figure(figsize=(6.4, 2.9))
    axes = fig.subplots(1, 2, sharex=True)
    present = [ph for ph in PHASES if (runs["phase"] == ph).any()]
    norms = []
    for ax, which in zip(axes, ("train", "test"), strict=True):
        for phase, ids in picks.items():
            segs = []
            for rid in ids:
                g = groups.get(rid)
                if g is not None:
                    xy = np.column_stack([g["weight_norm"], floor_loss(g[f"{which}_loss"])])
                    segs.append(xy[np.isfinite(xy).all(axis=1)])
                    norms.append(xy[:, 0])
            ax.add_collection(
                LineCollection(segs, colors=PHASE_COLORS[phase], linewidths=0.8, alpha=0.6)
            )
        finals = (
            runs[["final_weight_norm", f"final_{which}_loss", "phase"]]
            .replace([np.inf, -np.inf], np.nan)
            .dropna()
        )
        finals[f"final_{which}_loss"] = floor_loss(finals[f"final_{which}_loss"])
        norms.append(finals["final_weight_norm"].to_numpy(dtype=float))
        if len(finals):
            colors = finals["phase"].map(PHASE_COLORS)
            ax.scatter(
                finals["final_weight_norm"],
                finals[f"final_{which}_loss"],
                c=list(colors),
                s=14,
                alpha=0.8,
                edgecolors="white",
                linewidths=0.3,
            )
        ax.autoscale_view()
        if ax.dataLim.ymin <= LOSS_FLOOR:
            ax.axhline(LOSS_FLOOR, color="0.5", lw=0.6, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("parameter norm ‖θ‖₂")
        ax.set_ylabel(f"{which} loss (nats)" if is_ce(runs) else f"{which} loss (MSE)")
        ax.set_title(f"{which} loss", fontweight="normal")
        ax.grid(True, lw=0.4, alpha=0.5)
    allnorm = np.concatenate(norms) if norms else np.array([])
    allnorm = allnorm[np.isfinite(allnorm) & (allnorm > 0)]
    if len(allnorm) and allnorm.max() / allnorm.min() > 5:
        axes[0].set_xscale("log")
        # Few decades of norm: label 2, 5, 10, 20 rather than overlapping 2x10^1 minors.
        for ax in axes:
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
            ax.xaxis.set_minor_formatter(NullFormatter())
    handles = [
        Line2D([], [], color=PHASE_COLORS[ph], marker="o", ms=4, lw=0.8, label=ph) for ph in present
    ]
    fig.legend(handles=handles, loc="center right", frameon=False, title="phase")
    lines = title(
        fig, "Loss against weight norm (lines: example runs; dots: final states)", runs, fixed=True
    )
    fixed_layout(fig, left=0.62, right=1.3, top=title_height(lines) + 0.25, bottom=0.5, wspace=0.72)
    return fig


def is_ce(runs: pd.DataFrame) -> bool:
    """Whether the losses are cross-entropies (nats), not MSE."""
    return "loss" not in runs.columns or not (runs["loss"] == "mse").any()
