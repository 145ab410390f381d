"""Build ref/omnigrok-init.csv and ref/omnigrok-init-quick.csv: Omnigrok's qualitative claims on
the presets' init scale x weight decay grid.

Source: Liu, Michaud & Tegmark, "Omnigrok: Grokking Beyond Algorithmic Data" (ICLR 2023,
arXiv:2210.01117), code KindXiaoming/Omnigrok, commit 3a0a57346230a7255e5390fcd565812d00f1a281
(mod-addition/ and mnist/grokking/: notebooks only, no per-run tables). So source=figure, and
the table places the paper's claims on our grid rather than reading values:

1. A large initialization (alpha > 1) fits the training set at once and generalizes late:
   with weight decay it groks (phase `grok`), without it the norm never comes down and it stays
   memorized within the budget (phase `memorize`).
2. Weight decay brings the norm down to the "Goldilocks zone", so the grokking delay grows
   roughly as 1 / weight decay. Under AdamW (optax, PyTorch) decay alone shrinks the weights by
   exp(-lr * wd * t), so the time to bring a norm alpha times the standard one back to it is
   ln(alpha) / (lr * wd): the table's `grok_delay`, in steps. It is the mechanism's prediction,
   not a measured value: `compare`'s ratio column then reads phasegrok's delay in units of that
   time (a constant ratio across cells is agreement), and its rank correlation tests the
   ordering by 1 / weight decay. The phase does not follow from it: a run with weight decay at
   a large alpha is `grok` (claim 1) whatever the predicted delay (measured delays were ~10x
   these times, 2026-11-27).

Only cells the claims decide are listed: alpha in {4, 8} (clearly above 1) at every weight
decay of the grid. Cells at alpha <= 2 are left out: the paper's modular-addition transformer
still groks at the standard init (alpha = 1) with weight decay 1, so no phase follows from it
there for an MLP.

    python sweeps/papers/ref/make_omnigrok-init.py
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

ALPHAS = (4.0, 8.0)
WEIGHT_DECAYS = (0.0, 0.3, 1.0, 3.0)  # both presets' grid
LR = {"omnigrok-init": 1.0e-3, "omnigrok-init-quick": 2.0e-2}  # each preset's optimizer.lr


def table(lr: float) -> pd.DataFrame:
    rows = []
    for alpha in ALPHAS:
        for wd in WEIGHT_DECAYS:
            delay = round(math.log(alpha) / (lr * wd), 1) if wd > 0 else float("nan")
            rows.append(
                {
                    "model.init_scale": alpha,
                    "optimizer.weight_decay": wd,
                    "phase": "grok" if wd > 0 else "memorize",
                    "grok_delay": delay,
                    "source": "figure",
                    "rule": "accuracy",
                }
            )
    return pd.DataFrame(rows)


def build(out_dir: Path = Path(__file__).parent) -> list[Path]:
    """Write omnigrok-init.csv and omnigrok-init-quick.csv into `out_dir`."""
    outs = []
    for name, lr in LR.items():
        outs.append(out_dir / f"{name}.csv")
        table(lr).to_csv(outs[-1], index=False)
    return outs


if __name__ == "__main__":
    for out in build():
        print(out.name, "\n", out.read_text())
