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
The table's `rule` column is `liu`: compare classifies phasegrok's runs by this same rule (no
`oscillate` or `collapse`, which their rule cannot give).

Steps: their index `epoch` is counted before the update of that epoch was applied? No: the
accuracy is measured after `optimizer.step()` of epoch e, i.e. after e + 1 updates, so
t_fit = train_steps + 1 and t_gen = test_steps + 1 in phasegrok's counting (steps done), blank
where never reached.

The quick table (`liu-toy-quick.csv`) is the same runs as their rule would have called them had
training stopped at the quick preset's budget B (QUICK_STEPS): a time above B counts as never
reached. It keeps the quick preset's cells only.

Two steps (see provenance.py). Extraction (needs h5py and a clone of their repository; not
run by the tests) writes the file's four arrays into sources/liu-toy.csv, one row per cell
(learning_rate as Python's round-trip repr, weight_decay, train_steps, test_steps as stored):

    pip install h5py   # only extraction needs it
    git clone https://github.com/ejmichaud/grokking-squared && \
        git -C grokking-squared checkout 0229df94de69b8384e560367280a43a238112bf5
    python sweeps/papers/ref/make_liu-toy.py extract \
        grokking-squared/phase_diagram_plot/data_add_c.h5

The build (no network, no h5py; tests/test_references.py runs it) reads only that extract:

    python sweeps/papers/ref/make_liu-toy.py      # writes liu-toy.csv and liu-toy-quick.csv

Source file: phase_diagram_plot/data_add_c.h5, 7,552 bytes, SHA-256
fa0250c93fede5d86e5add87f0d8f5fe9decb7a19a8e708870b7d8a95b7eb7a5.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from provenance import SOURCES, Source  # beside this script

SOURCE = Source(
    repo="ejmichaud/grokking-squared",
    commit="0229df94de69b8384e560367280a43a238112bf5",
    path="phase_diagram_plot/data_add_c.h5",
    sha256="fa0250c93fede5d86e5add87f0d8f5fe9decb7a19a8e708870b7d8a95b7eb7a5",
)
EXTRACT = SOURCES / "liu-toy.csv"
NEVER = 99999  # their marker: the last epoch index of a 1e5-epoch run
GAP = 1000  # their comprehension gap, steps
QUICK_STEPS = 20000  # sweeps/papers/liu-toy-quick.yaml's train.steps
QUICK_LR_EXPONENTS = (-3.4, -3.0, -2.6, -2.2)  # its optimizer.lr grid: 10 ** these
QUICK_WD = (0.0, 4.0, 8.0, 12.0)  # its optimizer.weight_decay grid


def extract(original: str, out: Path = EXTRACT) -> None:
    """The h5 file's arrays as one CSV row per (learning rate, weight decay) cell."""
    import h5py  # only here: the build does not need it

    with h5py.File(SOURCE.check(original), "r") as f:
        lrs, wds = np.asarray(f["learning_rate"]), np.asarray(f["weight_decay"])
        train, test = np.asarray(f["train_steps"]), np.asarray(f["test_steps"])
    rows = [
        (repr(float(lr)), int(wd), repr(float(train[i, j])), repr(float(test[i, j])))
        for i, lr in enumerate(lrs)
        for j, wd in enumerate(wds)
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        rows, columns=["learning_rate", "weight_decay", "train_steps", "test_steps"]
    )
    frame.to_csv(out, index=False)


def phase(t_fit: float, t_gen: float) -> str:
    """Liu et al.'s four phases from first-reach steps (NaN: never reached)."""
    fit, gen = not np.isnan(t_fit), not np.isnan(t_gen)
    if fit and gen:
        return "comprehend" if t_gen - t_fit < GAP else "grok"
    return "memorize" if fit else "confuse"


def table(cells: pd.DataFrame, budget: int = 100000) -> pd.DataFrame:
    """One row per (learning rate, weight decay) cell of their file, cut at `budget` steps."""
    rows = []
    for cell in cells.itertuples(index=False):
        t_fit, t_gen = (
            np.nan if s >= NEVER else s + 1 for s in (cell.train_steps, cell.test_steps)
        )
        t_fit, t_gen = (np.nan if t > budget else t for t in (t_fit, t_gen))
        rows.append(
            {
                # 12 significant digits: what phasegrok keeps of a range's value.
                "optimizer.lr": float(f"{cell.learning_rate:.12g}"),
                "optimizer.weight_decay": float(cell.weight_decay),
                "phase": phase(t_fit, t_gen),
                "t_fit": t_fit,
                "t_gen": t_gen,
                "count": 1,
                "source": "data",
                "rule": "liu",
            }
        )
    return pd.DataFrame(rows)


def build(extract_path: Path = EXTRACT, out_dir: Path = Path(__file__).parent) -> list[Path]:
    """Write liu-toy.csv and liu-toy-quick.csv into `out_dir` from the extract."""
    cells = pd.read_csv(extract_path)
    full = table(cells)
    full.to_csv(out_dir / "liu-toy.csv", index=False)
    quick = table(cells, budget=QUICK_STEPS)
    lrs = [float(f"{10**e:.12g}") for e in QUICK_LR_EXPONENTS]
    keep = np.isclose(quick["optimizer.lr"].to_numpy()[:, None], lrs, rtol=1e-9).any(axis=1)
    keep &= quick["optimizer.weight_decay"].isin(QUICK_WD).to_numpy()
    quick[keep].to_csv(out_dir / "liu-toy-quick.csv", index=False)
    return [out_dir / "liu-toy.csv", out_dir / "liu-toy-quick.csv"]


if __name__ == "__main__":
    if sys.argv[1:2] == ["extract"]:
        extract(sys.argv[2])
    full = pd.read_csv(build()[0])
    print(full.pivot(index="optimizer.lr", columns="optimizer.weight_decay", values="phase"))
    print(full["phase"].value_counts().to_string())
