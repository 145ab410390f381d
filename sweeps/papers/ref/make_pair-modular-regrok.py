"""Build ref/pair-modular-regrok.csv: the PAIR article's second open-question chart.

Source: repository PAIR-code/ai-explorables, commit 64ac8eb842b97a00ee62b100b53e01e5296f26cd:
the article text `source/_posts/2023-05-32-grokking.md` ("It's even possible to find
hyperparameters where models start generalizing, then switch to memorizing, then switch back
to generalizing!", and its footnote `open-q-mem`: the model is slightly larger, has more
training data and weight decay) and its chart `source/grokking/open-q-mem/init-1.js` (run
2023_07_22_20_37_01 of the sweep `fail-memorize-generalize`; the chart plots train and test
LOSS, `isLoss: 1`). The run's curves are served from `/mlp_modular/...`, which is not in the
repository, so no value is read off the curves: the one row is the text's outcome (it ends
generalized after memorizing), source=figure. Hyperparameters: see
sweeps/papers/pair-modular-regrok.yaml.

Rule: the text describes the run's course (generalizing, then memorizing ...), which PAIR's
loss rule (min and max over all steps, as their sweeps' colouring) cannot express, and the
chart is not the released per-run data that rule was applied to. So the table's `rule` is
`accuracy`: phasegrok's accuracy rule, which the presets read with `generalized: final` (how
the run ends), the closest reading of the text; the source itself states no numeric rule.

The row has no grid column: the outcome of one published run, the one cell.

    python sweeps/papers/ref/make_pair-modular-regrok.py   # writes pair-modular-regrok.csv
"""

from pathlib import Path

import pandas as pd

NOTE = (
    "PAIR article, second open-question chart (open-q-mem/init-1.js, run 2023_07_22_20_37_01): "
    "'start generalizing, then switch to memorizing, then switch back to generalizing'; ends "
    "generalized after memorizing; its curves are not in the repository"
)


def build(out_dir: Path = Path(__file__).parent) -> list[Path]:
    """Write pair-modular-regrok.csv into `out_dir` (no input: the text above is the source)."""
    out = out_dir / "pair-modular-regrok.csv"
    pd.DataFrame([{"phase": "grok", "source": "figure", "rule": "accuracy", "note": NOTE}]).to_csv(
        out, index=False
    )
    return [out]


if __name__ == "__main__":
    print(build()[0].read_text())
