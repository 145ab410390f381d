"""The Vega-Lite spec of one interactive phase diagram (`report.interactive` adds its data).

Written as a dict, no altair: the diagram (cells coloured by majority phase, `PHASE_COLORS`,
opacity 0.35 for an even split to 1 for all seeds agreeing, as the PNG's `diagrams.shade`;
`k/n` in split cells) with a point selection `pick` on hover; beside it the picked cell's
coordinates, its phase counts and its runs' accuracy curves, all filtered by `pick`. A variable
`facet` bound to a drop-down chooses the facet when there are more grid axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from phasegrok.analysis.classify import PHASE_COLORS
from phasegrok.config.schema import PHASES
from phasegrok.report.grid import GridAxis, label, short


def first_cell(cells: Sequence[Mapping[str, Any]]) -> int:
    """The cell selected when the page opens: the first grokking one, else the first."""
    return next((c["cell"] for c in cells if c["phase"] == "grok"), cells[0]["cell"])


PHASE_SCALE = {"domain": list(PHASES), "range": [PHASE_COLORS[p] for p in PHASES]}


def chart_spec(
    x: str,
    y: str,
    cells: list[dict[str, Any]],
    facets: Sequence[str],
    order: list[str],
    xa: GridAxis,
    ya: GridAxis,
) -> dict[str, Any]:
    """The Vega-Lite spec of one (x, y) chart over `cells` (its `runs` dataset is added in the
    page). Cell opacity 0.35 (an even split) to 1 (all seeds agree), as the PNG's `shade`."""
    width, height = int(np.clip(34 * xa.n, 220, 560)), int(np.clip(26 * ya.n, 160, 480))
    pick = {"param": "pick", "empty": False}
    on_cell = [{"filter": "datum.facet === facet"}] if facets else []
    runs_of_cell = [{"filter": "datum.cell !== null"}, {"filter": pick}]
    phase_color = {"field": "phase", "type": "nominal", "scale": PHASE_SCALE}
    diagram = {
        "data": {"name": "cells"},
        "transform": on_cell,
        "width": width,
        "height": height,
        "title": f"Phase diagram: {label(y)} against {label(x)}",
        "encoding": {
            "x": {"field": "x", "type": "ordinal", "sort": xa.labels(), "title": label(x)},
            "y": {"field": "y", "type": "ordinal", "sort": ya.labels()[::-1], "title": label(y)},
        },
        "layer": [
            {
                "params": [
                    {
                        "name": "pick",
                        "select": {
                            "type": "point",
                            "fields": ["cell"],
                            "on": "pointerover",
                            "clear": False,
                        },
                        "value": [{"cell": first_cell(cells)}] if cells else [],
                    }
                ],
                "mark": {"type": "rect", "cursor": "pointer"},
                "encoding": {
                    "color": {**phase_color, "legend": {"title": "phase"}},
                    "opacity": {
                        "field": "agree",
                        "type": "quantitative",
                        "scale": {"domain": [0.5, 1], "range": [0.35, 1], "clamp": True},
                        "legend": None,
                    },
                    "stroke": {"condition": {**pick, "value": "black"}, "value": "white"},
                    "strokeWidth": {"condition": {**pick, "value": 2.5}, "value": 0.5},
                    "tooltip": [
                        {"field": "where", "title": "cell"},
                        {"field": "phase", "title": "majority"},
                        {"field": "votes", "title": "runs"},
                        {"field": "still", "title": "a run still learning"},
                    ],
                },
            },
            {
                "mark": {"type": "text", "fontSize": 9},
                "encoding": {
                    "text": {"condition": {"test": "datum.n > 1", "field": "kn"}, "value": ""},
                },
                "transform": [{"calculate": "datum.k + '/' + datum.n", "as": "kn"}],
            },
        ],
    }
    where = {
        "data": {"name": "cells"},
        "transform": [{"filter": pick}],
        "mark": {"type": "text", "align": "left", "fontWeight": "bold", "x": 0},
        "encoding": {"text": {"field": "where"}},
        "height": 16,
        "width": 320,
    }
    counts = {
        "data": {"name": "runs"},
        "transform": runs_of_cell,
        "mark": "bar",
        "title": "Phase counts of the cell",
        "width": 320,
        "encoding": {
            "y": {"field": "phase", "type": "nominal", "sort": list(PHASES), "title": None},
            "x": {
                "aggregate": "count",
                "type": "quantitative",
                "title": "runs",
                "axis": {"tickMinStep": 1, "format": "d"},
            },
            "color": phase_color,  # one legend: the diagram's (a shared scale)
        },
    }
    trajectories = {
        "data": {"name": "runs"},
        "transform": [
            *runs_of_cell,
            {"flatten": ["step", "train", "test"]},
            {"fold": ["train", "test"], "as": ["split", "accuracy"]},
            {"calculate": "datum.id + ' ' + datum.split", "as": "line"},
        ],
        "mark": {"type": "line", "strokeWidth": 1.3},
        "title": "Accuracy of the cell's runs (train dashed, test solid)",
        "width": 320,
        "height": 170,
        "encoding": {
            "x": {"field": "step", "type": "quantitative", "title": "step"},
            "y": {
                "field": "accuracy",
                "type": "quantitative",
                "scale": {"domain": [0, 1]},
                "title": "accuracy",
            },
            "color": phase_color,  # one legend: the diagram's (a shared scale)
            "strokeDash": {
                "field": "split",
                "type": "nominal",
                "scale": {"domain": ["train", "test"], "range": [[4, 3], [1, 0]]},
                "legend": None,
            },
            "detail": {"field": "line"},
            "tooltip": [
                {"field": "id", "title": "run"},
                {"field": "seed"},
                {"field": "phase"},
                {"field": "split"},
            ],
        },
    }
    spec: dict[str, Any] = {
        "datasets": {"cells": cells},
        "hconcat": [diagram, {"vconcat": [where, counts, trajectories]}],
        "resolve": {"scale": {"color": "shared"}},
        "config": {"font": "system-ui, sans-serif"},
    }
    if facets:
        name = ", ".join(short(f) for f in facets)
        spec["params"] = [
            {
                "name": "facet",
                "value": order[0],
                "bind": {"input": "select", "options": order, "name": f"facet ({name}): "},
            }
        ]
    return spec
