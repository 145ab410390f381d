"""index.html while a sweep trains: the interactive phase diagrams of the runs finished so far.

After each finished batch, `LivePage.add` classifies that batch's runs (numpy only, no JAX; the
classification of a run reads that run alone, so earlier runs are not looked at again), keeps
their downsampled curves as JSON text and rewrites index.html, which carries
``<meta http-equiv="refresh" content="5">`` so that an open browser tab follows the sweep.
`LivePage.stop` writes the page once more without the refresh (a sweep that stopped early); the
sweep's final page (`phasegrok.report.draw_all`) has no refresh either. Each rewrite costs
O(runs so far) string work: the measured cost is in README.md (benchmarks/live_cost.py).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from phasegrok.analysis.classify import classify_runs
from phasegrok.report.gallery import INDEX, write_index
from phasegrok.report.grid import grid_keys, plot_pairs
from phasegrok.report.interactive import charts, run_records, section_html, write_vendor
from phasegrok.store.folder import MANIFEST, SWEEP_YAML, assemble, classify_settings
from phasegrok.store.parts import check_parts

REFRESH_S = 5  # seconds between a browser's reloads of the live page


class LivePage:
    """The live index.html of one results folder; `add` each finished batch.

    `sweep`: the resolved sweep dict (grid, plots, classify, name); `total`: the sweep's runs;
    `refine_budget`: the runs its refinement rounds may add (`refine.max_runs`), said as
    "of up to N runs" since the rounds choose their points as they go.
    A failure while writing the page is printed once on stderr and turns live updates off:
    the page must never stop a sweep (its batches are saved either way).
    """

    def __init__(
        self, out_dir: str | Path, sweep: Mapping[str, Any], total: int, refine_budget: int = 0
    ):
        self.out_dir, self.sweep, self.total = Path(out_dir), dict(sweep), total
        self.refine_budget = refine_budget
        self.classify = classify_settings(self.sweep)
        self.runs: list[pd.DataFrame] = []
        self.records: list[str] = []  # per batch: its runs' JSON records, comma-joined
        self.failed = False
        self.written = 0.0  # seconds spent writing pages (the live cost)
        path = self.out_dir / SWEEP_YAML
        self.sweep_text = path.read_text() if path.exists() else yaml.safe_dump(self.sweep)
        self.classify_text = yaml.safe_dump(self.classify.model_dump(mode="json"), sort_keys=False)

    @property
    def path(self) -> Path:
        return self.out_dir / INDEX

    @property
    def of_total(self) -> str:
        """The runs to expect: "60", or "up to 100" where refinement rounds may add some."""
        if self.refine_budget:
            return f"up to {self.total + self.refine_budget}"
        return str(self.total)

    @property
    def n_runs(self) -> int:
        return sum(len(r) for r in self.runs)

    def resume(self) -> LivePage:
        """Take in the runs an earlier, interrupted sweep left in the folder; write the page."""
        if (self.out_dir / MANIFEST).exists() and check_parts(self.out_dir).whole:
            self.add(*assemble(self.out_dir))
        else:
            self.write(REFRESH_S)
        return self

    def add(self, runs: pd.DataFrame, curves: pd.DataFrame) -> None:
        """Classify a finished batch (`store.runs_frame`, `store.curves_frame`), keep it,
        rewrite the page."""
        if self.failed:
            return
        start = time.perf_counter()
        try:
            runs = classify_runs(runs, curves, self.classify)
            if "seed" not in runs.columns:
                runs = runs.assign(seed=0)
            records = run_records(runs, curves)
            self.runs.append(runs)
            self.records.append(",".join(json.dumps(r, separators=(",", ":")) for r in records))
            self.write(REFRESH_S)
        except Exception as err:  # noqa: BLE001 - reported once; training goes on
            self.failed = True
            print(f"warning: live page turned off: {type(err).__name__}: {err}", file=sys.stderr)
        self.written += time.perf_counter() - start

    def __enter__(self) -> LivePage:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        """A sweep that stops early (interrupted, failed) leaves a page without refresh."""
        if kind is not None:
            with suppress(Exception):  # never mask why the sweep stopped (a full disk, say)
                self.stop(f"The sweep stopped ({kind.__name__})")

    def stop(self, why: str) -> None:
        """Write the page without the refresh, saying why the sweep stopped."""
        if not self.failed:
            self.write(None, f"{why}: {self.n_runs} of {self.of_total} runs finished.")

    def write(self, refresh: int | None, note: str | None = None) -> Path:
        """Rewrite index.html from the runs so far."""
        runs = pd.concat(self.runs, ignore_index=True) if self.runs else pd.DataFrame()
        keys = grid_keys(self.sweep, runs) if len(runs) else []
        pairs = plot_pairs(self.sweep, keys) if len(runs) else []
        chart_list = charts(runs, pairs, keys, self.sweep.get("grid") or {})
        section = section_html("[" + ",".join(r for r in self.records if r) + "]", chart_list)
        if section:
            write_vendor(self.out_dir)
        if note is None:
            note = (
                f"Sweep in progress: {self.n_runs} of {self.of_total} runs finished "
                f"({time.strftime('%H:%M:%S')}). This page reloads every {refresh} s; the "
                "figures are drawn when the sweep ends."
            )
        return write_index(
            self.out_dir,
            runs if len(runs) else pd.DataFrame({"phase": pd.Series([], dtype=object)}),
            [],
            self.sweep_text,
            self.classify_text,
            self.sweep.get("name"),
            interactive=section,
            note=note,
            refresh=refresh,
        )
