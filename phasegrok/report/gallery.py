"""index.html: every figure with its caption, the phase counts and the sweep's settings."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from phasegrok.analysis.classify import PHASE_COLORS
from phasegrok.config.schema import PHASES
from phasegrok.report.captions import LENS_INTRO
from phasegrok.report.comparison import comparison_section
from phasegrok.report.interactive import HEAD as VEGA_HEAD
from phasegrok.report.style import describe
from phasegrok.store.folder import write_text

INDEX = "index.html"
Drawn = list[tuple[Path, str]]  # (written file, caption)


FLAGS = ("still_learning", "lost_generalization", "partial_generalization")


def phase_counts(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs, share and the runs with each flag (`FLAGS`: still learning, lost generalization,
    partial generalization) per phase (PHASES order), and total."""
    flags = [c for c in FLAGS if c in runs.columns]
    table = runs.assign(
        runs=1, **{c: runs[c].fillna(False).astype(bool) for c in flags}
    ).pivot_table(index="phase", values=["runs", *flags], aggfunc="sum", observed=True)
    table = table.reindex(list(PHASES), fill_value=0)
    for c in FLAGS:
        if c not in table.columns:
            table[c] = 0
    table = table[["runs", *FLAGS]].astype(int)
    table.insert(1, "share", [f"{100 * n / max(len(runs), 1):.1f}%" for n in table["runs"]])
    table = table.astype(object)  # the total row leaves the share columns blank
    # pandas-stubs take no list for a row set by label, which pandas does
    table.loc["total"] = [len(runs), "", *[""] * len(FLAGS)]  # type: ignore[assignment]
    return table


def phase_table(runs: pd.DataFrame) -> str:
    """`phase_counts` as an HTML table, each phase with its colour swatch."""
    table = phase_counts(runs).rename(columns=lambda c: c.replace("_", " "))
    table.index = pd.Index(
        [
            f"<span class='sw' style='background:{PHASE_COLORS[p]}'></span>{p}"
            if p in PHASE_COLORS
            else p
            for p in table.index
        ]
    )
    table.index.name = "phase"
    return table.to_html(escape=False, border=0)


CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
figure{margin:1.5em 0;border-top:1px solid #ddd;padding-top:1em}
img{max-width:100%;height:auto}
figcaption{font-size:.92em;color:#444;margin-top:.4em}
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #eee;text-align:left}
.sw{display:inline-block;width:.9em;height:.9em;margin-right:.4em;vertical-align:middle}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:.85em}
.note{background:#fff6d5;padding:.5em 1em;border-left:4px solid #E69F00}
.errors{background:#fde8e8;color:#900;white-space:pre-wrap}
.chart{margin:1em 0}
"""


def figure_html(p: Path, caption: str) -> str:
    """One figure: the image linking to itself, its file name and caption."""
    return (
        f"<figure id='{html.escape(p.stem)}'><a href='{html.escape(p.name)}'>"
        f"<img src='{html.escape(p.name)}' alt='{html.escape(p.stem)}'></a>"
        f"<figcaption><b>{html.escape(p.name)}</b>. {html.escape(caption)}</figcaption></figure>"
    )


def write_index(
    results_dir: Path,
    runs: pd.DataFrame,
    figures: Drawn,
    sweep_text: str,
    classify_text: str,
    name: str | None = None,
    lens: Sequence[tuple[str, Drawn]] = (),
    interactive: str = "",
    note: str = "",
    refresh: int | None = None,
) -> Path:
    """index.html: figures (relative links), phase counts and settings; no server needed.

    `lens` holds (heading, figures) groups of the "Mechanistic lens" section, shown when any
    group has a figure. `interactive`: the interactive diagrams' HTML (`interactive.section_html`,
    loading vendor/), shown before the figures. `note`: a line under the heading (a sweep in
    progress). `refresh`: seconds after which the browser reloads the page (None: never).
    """
    name = html.escape(str(name or results_dir.name))
    figs = "\n".join(figure_html(p, c) for p, c in figures)
    lens = [(head, group) for head, group in lens if group]
    if lens:
        figs += "\n<h2 id='mechanistic-lens'>Mechanistic lens</h2>\n"
        figs += f"<p>{html.escape(LENS_INTRO)}</p>\n"
        figs += "\n".join(
            f"<h3>{html.escape(head)}</h3>\n" + "\n".join(figure_html(p, c) for p, c in group)
            for head, group in lens
        )
    every = [*figures, *(f for _, group in lens for f in group)]
    toc = " · ".join(
        f"<a href='#{html.escape(p.stem)}'>{html.escape(p.stem)}</a>" for p, _ in every
    )
    head = f"<meta http-equiv='refresh' content='{refresh}'>" if refresh else ""
    head += VEGA_HEAD if interactive else ""
    figures_part = f"<h2>Figures</h2>\n<p>{toc}</p>\n{figs}\n" if every or not refresh else ""
    page = (
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>{head}"
        f"<title>phasegrok: {name}</title><style>{CSS}</style></head><body>\n"
        f"<h1>phasegrok results: {name}</h1>\n"
        + (f"<p class='note'>{html.escape(note)}</p>\n" if note else "")
        + f"<p>{len(runs)} runs. {html.escape(describe(runs))}.</p>\n"
        f"<h2>Phase counts</h2>\n{phase_table(runs) if len(runs) else 'No runs yet.'}\n"
        f"{comparison_section(results_dir)}"
        f"{interactive}\n{figures_part}"
        f"<h2>Classification settings</h2>\n<pre>{html.escape(classify_text)}</pre>\n"
        f"<h2>Sweep settings (sweep.yaml)</h2>\n<pre>{html.escape(sweep_text)}</pre>\n"
        "</body></html>\n"
    )
    path = results_dir / INDEX
    write_text(path, page)
    return path
