"""Build ref/omnigrok-init.csv and ref/omnigrok-init-quick.csv from Omnigrok's modular-addition
figure only: a phase where the figure shows one, nothing else.

Source: Liu, Michaud & Tegmark, "Omnigrok: Grokking Beyond Algorithmic Data" (ICLR 2023,
arXiv:2210.01117), the figure "1L Transformer on Modular Addition (p=113)": one run at the
standard initialization without a norm constraint, and one with the weight norm held at
alpha = 0.8 times the standard one. Its number: Figure 7, as the authors' notebook says ("This
notebook reproduces Figure 7 from the paper", arXiv v1); the repository's README lists modular
addition as "Figure 6 & 8" (the ICLR version). The paper's PDF could not be reached from the
machine this was made on, so the figure was read as the authors' notebook renders it:
KindXiaoming/Omnigrok, commit 3a0a57346230a7255e5390fcd565812d00f1a281, file
mod-addition/grokking/modular-addition-grokking.ipynb (last changed in ce1df03; SHA-256
1391a28df0ef1344cf6172825d8f0dc47032754c29bb4252c8948af3e51dc66c), the PNG output of cell 14
("Unconstrained Optimization, Standard Initialization").

The figure's model and training (cells 6-13 of the notebook): Nanda's 1-layer transformer
(d_model 128, 4 heads of 32, d_mlp 512, ReLU, no LayerNorm), p = 113, 30% of the pairs, AdamW
lr 1e-3, weight decay 1.0, betas (0.9, 0.98), full batch, float64, seed 42, 15,000 steps,
accuracy logged every 30 steps. phasegrok's presets train an MLP ANALOGUE (learned embeddings,
concatenated, one ReLU layer; PyTorch's init times alpha = model.init_scale): not the figure's
transformer, so the table holds the figure's qualitative outcome and no step counts.

How it was read: the axes' tick marks in the PNG give the scales (x: log, 10^1 .. 10^4 at 100
pixels a decade; y: accuracy 0 .. 1 over 188 pixels); the red (train) and green (test) curves'
pixels, column by column, give the first step each reaches 0.9: train about 130 steps, test
about 6,800 steps (a few per cent either way). Both reach 0.9 and the gap (~6,700 steps) is far
above Liu et al.'s 1e3 and both presets' grok_gap: phase `grok` (the accuracy rule; their
four-phase rule agrees). Cell: model.init_scale 1.0 (the standard initialization),
optimizer.weight_decay 1.0.

Left out, with the reason:
- The figure's constrained run (weight norm fixed at alpha = 0.8, no weight decay: train and
  test reach 0.9 at about 245 and 270 steps, no delay) has no cell: phasegrok does not hold
  the norm fixed.
- Every other cell of the presets' grid (init_scale 0.5, 2, 4, 8; weight decay 0, 0.3, 3):
  no figure read here shows this set-up there. The repository's other modular-addition
  notebooks (mod-addition/landscape/) are Liu et al.'s representation toy model (p = 10),
  not this set-up; the notebook for the large-alpha grokking figure (MNIST, Figure 3) is
  another task (ref/omnigrok-mnist.csv). So the grid's init-scale axis has no published phase
  here beyond alpha = 1.
- A formula's prediction. Under decoupled weight decay a norm alpha times the standard one
  comes back in ln(alpha) / (lr * weight decay) steps (the LU mechanism's extra delay); it is
  not a source's value and decides no phase. It is not a column of this table either (compare
  would take any other column for a runs.parquet target); at alpha = 1 it predicts no extra
  delay, where the figure shows ~6,700 steps.

History: an earlier version of this script (before commit 85951d8) took its phases from that
formula (comprehend where ln(alpha) / (lr * wd) < the preset's grok_gap, else grok, at alpha
4 and 8). Commit 85951d8 changed them to "grok wherever weight decay > 0" after seeing
phasegrok's runs ("measured delays were ~10x these times"), which flipped (alpha 4, wd 3) in
the full table and four cells of the quick one; its message did not say so. Neither version
read a figure. This rebuild cites the figure only.

The quick table holds the same cell: the quick preset is cut (p = 31, 50% of the pairs,
lr 2e-2, 3,000 steps), so only the outcome at the standard init with weight decay 1 carries
over, not the figure's times. The `rule` column is `accuracy`: the figure plots accuracy.

    python sweeps/papers/ref/make_omnigrok-init.py   # writes both tables beside this script
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# (model.init_scale, optimizer.weight_decay, phase, how it was read)
CELLS = [
    (
        1.0,
        1.0,
        "grok",
        "Omnigrok Fig. 7 (arXiv v1; README: Fig. 6), 1L transformer p=113, unconstrained, "
        "standard init, wd 1 (KindXiaoming/Omnigrok@3a0a573 "
        "mod-addition/grokking/modular-addition-grokking.ipynb, cell 14): train acc 0.9 at "
        "~130 steps, test acc 0.9 at ~6800 (read off the PNG's pixels)",
    ),
]
PRESETS = ("omnigrok-init", "omnigrok-init-quick")  # both tables: the same figure cell


def table() -> pd.DataFrame:
    columns = ["model.init_scale", "optimizer.weight_decay", "phase", "note"]
    frame = pd.DataFrame(CELLS, columns=columns)
    return frame.assign(source="figure", rule="accuracy")[[*columns[:3], "source", "rule", "note"]]


def build(out_dir: Path = Path(__file__).parent) -> list[Path]:
    """Write omnigrok-init.csv and omnigrok-init-quick.csv into `out_dir`."""
    outs = [out_dir / f"{name}.csv" for name in PRESETS]
    for out in outs:
        table().to_csv(out, index=False)
    return outs


if __name__ == "__main__":
    for out in build():
        print(out.name, "\n", out.read_text())
