"""Build ref/pair-modular-reverse.csv: the PAIR article's "Reverse Grokking With A Small Model".

Source: repository PAIR-code/ai-explorables, commit 64ac8eb842b97a00ee62b100b53e01e5296f26cd:
the article text `source/_posts/2023-05-32-grokking.md` ("This small model (trained with no
weight decay) starts generalizing, then switches to memorizing with periodic embeddings.") and
its chart `source/grokking/open-q-mem/init-0.js` (run 2023_07_22_20_25_47 of the sweep
`fail-memorize-generalize`; the chart plots train and test LOSS, `isLoss: 1`, y from 1e-1 to
1e-8). The run's curves are served from `/mlp_modular/...`, which is not in the repository, so
no value is read off the curves: the one row is the text's outcome, source=figure. The run's
hyperparameters are the commented-out "# Reverse grokking" cell of
`server-side/grokking/MLP_Modular_Addition.ipynb` (see sweeps/papers/pair-modular-reverse.yaml).

Rule: the text describes the run's course (generalizing, then memorizing ...), which PAIR's
loss rule (min and max over all steps, as their sweeps' colouring) cannot express, and the
chart is not the released per-run data that rule was applied to. So the table's `rule` is
`accuracy`: phasegrok's accuracy rule, which the presets read with `generalized: final` (how
the run ends), the closest reading of the text; the source itself states no numeric rule.

The row has no grid column: the outcome of one published run (seed 68), the one cell.

    python sweeps/papers/ref/make_pair-modular-reverse.py   # writes pair-modular-reverse.csv
"""

from pathlib import Path

import pandas as pd

NOTE = (
    "PAIR article, 'Reverse Grokking With A Small Model' (open-q-mem/init-0.js, run "
    "2023_07_22_20_25_47): 'starts generalizing, then switches to memorizing'; its curves are "
    "not in the repository"
)


def build(out_dir: Path = Path(__file__).parent) -> list[Path]:
    """Write pair-modular-reverse.csv into `out_dir` (no input: the text above is the source)."""
    out = out_dir / "pair-modular-reverse.csv"
    pd.DataFrame(
        [{"phase": "memorize", "source": "figure", "rule": "accuracy", "note": NOTE}]
    ).to_csv(out, index=False)
    return [out]


if __name__ == "__main__":
    print(build()[0].read_text())
