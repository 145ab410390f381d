"""Build ref/power-fraction.csv: Power et al. 2022, Figure 1 (center), as the paper describes it.

Source: Power, Burda, Edwards, Babuschkin & Misra, "Grokking: Generalization Beyond Overfitting
on Small Algorithmic Datasets", arXiv:2201.02177 (v1, the only version), Figure 1 (center) and
Section 3.1.1. No per-run data was released: the repository openai/grok (commit
3d64b1d8c1d595dd8ebdb7771998823f1b14c7b3) holds code only. So source=figure, and the values
encode what the paper states about that figure, not points measured off the plot:

- the quantity: "median number of optimization steps until validation performance first reaches
  99%" (our t_gen with classify.threshold 0.99), within "an optimization budget of 10^5
  gradient updates" (Appendix A.1.2);
- the shape: "In the vicinity of 25-30% of data, a decrease of 1% of training data leads to an
  increase of 40-50% in median time to generalization" (Section 3.1.1; we take 45%);
- the cut-off: below ~25% of the data no run reached 99% within the budget.

ASSUMPTION (the text gives no absolute value): the curve is anchored at the budget, 1e5 steps,
at 25% of the data. So t_gen(f) = 1e5 * 1.45 ** (-100 * (f - 0.25)) at f = 0.25 and 0.30, and
f = 0.20 is `memorize` (no t_gen). Compared cells are therefore few; what carries over to an
MLP on another operation is the shape (the rank order and the ratio between 0.25 and 0.30,
1.45 ** -5 = 0.16) and the existence of a fraction below which nothing generalizes, not the
absolute steps. Their operation there is the product in S5; ours is x / y mod 97.

The table's `rule` column is `accuracy`: the paper's measure is validation accuracy (99%, the
presets' classify.threshold 0.99).

The steps are a formula's output (the assumed anchor times the text's growth rate), not values
read off Figure 1, so they sit in `predicted_t_gen`, a column of their own that compare reads
but never counts (2026-12-08; before, they sat in `t_gen`, compared). The phases are the
paper's text about its Figure 1 (Section 3.1.1), not points read off the plot: still to be
replaced by a reading of the figure, with how each value was read.

    python sweeps/papers/ref/make_power-fraction.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

BUDGET = 1.0e5
GROWTH = 1.45  # per 1% of data removed: the middle of the paper's 40-50%
CRITICAL = 0.25


def table() -> pd.DataFrame:
    rows = [{"data.train_fraction": 0.2, "phase": "memorize", "predicted_t_gen": float("nan")}]
    for f in (0.25, 0.3):
        t_gen = BUDGET * GROWTH ** (-100 * (f - CRITICAL))
        rows.append(
            {"data.train_fraction": f, "phase": "grok", "predicted_t_gen": round(t_gen, -2)}
        )
    return pd.DataFrame(rows).assign(source="figure", rule="accuracy")


def build(out_dir: Path = Path(__file__).parent) -> list[Path]:
    """Write power-fraction.csv into `out_dir` (no input: the paper's text above is the source)."""
    out = out_dir / "power-fraction.csv"
    table().to_csv(out, index=False)
    return [out]


if __name__ == "__main__":
    print(build()[0].read_text())
