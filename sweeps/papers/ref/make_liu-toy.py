"""Build ref/liu-toy.csv (and ref/liu-toy-quick.csv) from Liu et al. 2022's released phase data.

Source: the authors' repository ejmichaud/grokking-squared, file
`phase_diagram_plot/data_add_c.h5` (addition, classification: the decoder learning rate x decoder
weight decay diagram of the paper's classification variant), commit
0229df94de69b8384e560367280a43a238112bf5 (2022-11-25; the file was added in 1b510ad, "upload
Figure 5 data"). It holds `learning_rate` (16 values, 1e-5 .. 1e-2, 5 per decade),
`weight_decay` (0, 2, .., 20), and `train_steps` / `test_steps` (16 x 11): the epoch index at
which train / test accuracy first reached 0.9, or 99999 (= budget - 1) if it never did, for one
run (NumPy / torch seed 6) per cell, 1e5 full-batch steps
(`phase_diagram_plot/phase_diagram-classification.ipynb`).

Phase rule: theirs (`phase_diagram_plot/simple_phase_diagram.ipynb`), mapped onto phasegrok's
names: both reached and test - train < 1e3 steps: comprehend; both reached and the gap > 1e3:
grok; train reached, test not: memorize; neither: confuse. A cell where only test accuracy
reached 0.9 falls in none of their four sets (their figure paints it as comprehension, code 0);
phasegrok would call it confuse (never fit), and so does this table (none occur in the file).

Steps: their index `epoch` is counted before the update of that epoch was applied? No: the
accuracy is measured after `optimizer.step()` of epoch e, i.e. after e + 1 updates, so
t_fit = train_steps + 1 and t_gen = test_steps + 1 in phasegrok's counting (steps done), blank
where never reached.

The quick table (`liu-toy-quick.csv`) is the same runs as their rule would have called them had
training stopped at the quick preset's budget B (QUICK_STEPS): a time above B counts as never
reached. It keeps the quick preset's cells only.

    pip install h5py   # only this script needs it
    git clone https://github.com/ejmichaud/grokking-squared && \
        git -C grokking-squared checkout 0229df94de69b8384e560367280a43a238112bf5
    python sweeps/papers/ref/make_liu-toy.py grokking-squared/phase_diagram_plot/data_add_c.h5
"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

NEVER = 99999  # their marker: the last epoch index of a 1e5-epoch run
GAP = 1000  # their comprehension gap, steps
QUICK_STEPS = 20000  # sweeps/papers/liu-toy-quick.yaml's train.steps
QUICK_LR_EXPONENTS = (-3.4, -3.0, -2.6, -2.2)  # its optimizer.lr grid: 10 ** these
QUICK_WD = (0.0, 4.0, 8.0, 12.0)  # its optimizer.weight_decay grid


def phase(t_fit: float, t_gen: float) -> str:
    """Liu et al.'s four phases from first-reach steps (NaN: never reached)."""
    fit, gen = not np.isnan(t_fit), not np.isnan(t_gen)
    if fit and gen:
        return "comprehend" if t_gen - t_fit < GAP else "grok"
    return "memorize" if fit else "confuse"


def table(path: str, budget: int = 100000) -> pd.DataFrame:
    """One row per (learning rate, weight decay) cell of their file, cut at `budget` steps."""
    with h5py.File(path, "r") as f:
        lrs = np.asarray(f["learning_rate"])
        wds = np.asarray(f["weight_decay"])
        train = np.asarray(f["train_steps"], dtype=float)
        test = np.asarray(f["test_steps"], dtype=float)
    rows = []
    for i, lr in enumerate(lrs):
        for j, wd in enumerate(wds):
            t_fit, t_gen = (np.nan if s[i, j] >= NEVER else s[i, j] + 1 for s in (train, test))
            t_fit, t_gen = (np.nan if t > budget else t for t in (t_fit, t_gen))
            rows.append(
                {
                    # 12 significant digits: what phasegrok keeps of a range's value.
                    "optimizer.lr": float(f"{lr:.12g}"),
                    "optimizer.weight_decay": float(wd),
                    "phase": phase(t_fit, t_gen),
                    "t_fit": t_fit,
                    "t_gen": t_gen,
                    "count": 1,
                    "source": "data",
                }
            )
    return pd.DataFrame(rows)


def main(path: str) -> None:
    here = Path(__file__).parent
    full = table(path)
    full.to_csv(here / "liu-toy.csv", index=False)
    quick = table(path, budget=QUICK_STEPS)
    lrs = [float(f"{10**e:.12g}") for e in QUICK_LR_EXPONENTS]
    keep = np.isclose(quick["optimizer.lr"].to_numpy()[:, None], lrs, rtol=1e-9).any(axis=1)
    keep &= quick["optimizer.weight_decay"].isin(QUICK_WD).to_numpy()
    quick[keep].to_csv(here / "liu-toy-quick.csv", index=False)
    print(full.pivot(index="optimizer.lr", columns="optimizer.weight_decay", values="phase"))
    print(full["phase"].value_counts().to_string())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data_add_c.h5")
