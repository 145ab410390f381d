"""How large index.html's interactive section gets: a synthesized 4,096-run sweep.

    PYTHONPATH=. python benchmarks/page_size.py [--side 32] [--seeds 4] [--evals 126]

Synthesized, not trained: a side x side grid (weight decay x train fraction) times `seeds`
seeds, each run `evals` evaluation points (the quickstart's 2500 steps / 20 + 1 = 126) of
sigmoid-shaped train and test accuracies with a little noise (noise defeats the rounding's
savings, so this is an upper side). The runs are classified as a sweep's would be, then
`report.interactive` writes the page data; printed: the page's bytes and seconds.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from phasegrok.analysis.classify import classify_runs
from phasegrok.report.gallery import write_index
from phasegrok.report.interactive import interactive_html


def synthesize(side: int, seeds: int, evals: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(runs, curves, sweep) of a side x side x seeds grid of synthetic runs."""
    rng = np.random.default_rng(0)
    wds = np.logspace(-2, 1, side).round(5).tolist()
    fracs = np.linspace(0.2, 0.9, side).round(4).tolist()
    steps = np.arange(evals) * 20
    rows, curves = [], []
    for k, (wd, frac, seed) in enumerate(itertools.product(wds, fracs, range(seeds))):
        t_gen = 2e5 if frac < 0.4 else 300 + 400 / wd * rng.uniform(0.8, 1.2)
        train = 1 / (1 + np.exp((60 - steps) / 15))
        test = 1 / (1 + np.exp(np.minimum((t_gen - steps) / 60, 50)))
        noise = rng.normal(0, 0.004, (2, evals))
        run_id = f"r{k:05d}"
        curves.append(
            pd.DataFrame(
                {
                    "run_id": run_id,
                    "step": steps,
                    "train_acc": np.clip(train + noise[0], 0, 1),
                    "test_acc": np.clip(test + noise[1], 0, 1),
                    "train_loss": 1 - train,
                    "test_loss": 1 - test,
                    "weight_norm": 10.0,
                }
            )
        )
        rows.append(
            {
                "run_id": run_id,
                "optimizer.weight_decay": wd,
                "data.train_fraction": frac,
                "seed": seed,
                "n_classes": 31,
            }
        )
    grid = {"optimizer.weight_decay": wds, "data.train_fraction": fracs}
    runs = classify_runs(pd.DataFrame(rows), pd.concat(curves, ignore_index=True))
    return runs, pd.concat(curves, ignore_index=True), {"name": "synthetic", "grid": grid}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--side", type=int, default=32)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--evals", type=int, default=126)
    a = p.parse_args()
    runs, curves, sweep = synthesize(a.side, a.seeds, a.evals)
    keys = list(sweep["grid"])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        section = interactive_html(Path(tmp), runs, curves, [tuple(keys)], keys, sweep["grid"])
        index = write_index(Path(tmp), runs, [], "", "", "synthetic", interactive=section)
        seconds = time.perf_counter() - start
        size = index.stat().st_size
    print(
        f"{len(runs)} runs x {a.evals} evaluations: index.html {size / 2**20:.2f} MiB "
        f"(+ vendor/ 0.8 MiB, once), written in {seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
