"""Build ref/nanda-p113.csv: Nanda et al. 2023's one-layer transformer on a + b mod 113 groks
with weight decay 1, the one cell the paper reports.

Source: Nanda, Chan, Lieberum, Smith & Steinhardt, "Progress measures for grokking via
mechanistic interpretability" (ICLR 2023, arXiv:2301.05217), the figure of the mainline model's
train and test loss against epochs (log scale; Figure 2 of the arXiv version, to be checked
against the PDF: the PDF could not be reached from the machine this was made on) and the text of
Section 5.1, which splits that run's training into memorization (epochs 0 to 1.4k), circuit
formation (1.4k to 9.4k) and cleanup (9.4k to 13k): the train loss falls within the first
1.4k epochs, the test loss stays high until cleanup and then falls to near zero. The set-up
(p = 113, 30% of the pairs, full batch, AdamW lr 1e-3, weight decay 1, betas (0.9, 0.98)) is
the paper's Section 3 and its code's (mechanistic-interpretability-grokking/progress-measures-
paper, commit 5bf4dadea2db767c9e6a6be44054ac6a8bb364a8, transformers.py: Config and Trainer).

How it was read: the phase only. Train accuracy reaches its fit within the memorization phase
and test accuracy generalizes at cleanup, thousands of epochs later: a delay far above
phasegrok's grok_gap, so phase `grok` by the accuracy rule. No step counts are taken: the
text's epochs are phase boundaries of progress measures, not the first step test accuracy
crosses phasegrok's threshold, and the figure's curves were not read pixel by pixel.

Left out, with the reason: the weight-decay cells 0 and 0.3 of the preset's grid. The paper
reports weight decay 1 only (its no-weight-decay runs, in the code's saved_runs, were not read
here), so those cells have no rows: compare leaves them unreferenced.

The table's `rule` column is `accuracy`, its `source` `figure`.

    python sweeps/papers/ref/make_nanda-p113.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def table() -> pd.DataFrame:
    rows = [{"optimizer.weight_decay": 1.0, "phase": "grok"}]
    return pd.DataFrame(rows).assign(source="figure", rule="accuracy")


def build(out_dir: Path = Path(__file__).parent) -> list[Path]:
    """Write nanda-p113.csv into `out_dir` (no input: the paper above is the source)."""
    out = out_dir / "nanda-p113.csv"
    table().to_csv(out, index=False)
    return [out]


if __name__ == "__main__":
    print(build()[0].read_text())
