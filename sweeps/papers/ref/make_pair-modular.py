"""Make pair-modular.csv from the PAIR explorable's released runs of its modular model.

Source: repository PAIR-code/ai-explorables, file
source/grokking/mod-bot/seeds/data__hypers_mlp_modular_addition_sweep.csv, last changed in
commit 7dc86e79856355d8f46eaf4f1cdd318ab2635e34 (read at commit
64ac8eb842b97a00ee62b100b53e01e5296f26cd). 450 runs of the article's main modular model (the
"click through other training runs" panel after the model with frequencies 4, 5, 7 and 26;
the file keeps no hyperparameters, its loss charts span the main model's 50,000 steps), one
row each: min train and test loss and max test / train loss ratio over the logged steps, and
the run's key frequencies, as `mod-bot/seeds/parse.js` computed them: the frequencies some
hidden unit's largest DFT coefficient sits at with a value above 10, stored 0-based and shown
+1 (`init-seeds.js`), so 1..33 here.

The phase is the explorable's colouring of its sweeps (`sweep-mod/init.js`, `circleFillFn`:
losses against 1e-5, ratio against 5e4; see make_pair-parity.py). The reference has no grid
column: every row is one seed of the one cell, so `count` is left out (1 each). The table's
`rule` column is `pair`: compare classifies phasegrok's runs by the same rule.

Two steps (see provenance.py). Extraction copies the columns the build reads (minTrainLoss,
minEvalLoss, maxRatio, freqs; each value's text unchanged, rows in the file's order) into
sources/pair-modular.csv; it needs a clone of their repository and is not run by the tests:

    git clone https://github.com/PAIR-code/ai-explorables && \
        git -C ai-explorables checkout 64ac8eb842b97a00ee62b100b53e01e5296f26cd
    python sweeps/papers/ref/make_pair-modular.py extract \
        ai-explorables/source/grokking/mod-bot/seeds/data__hypers_mlp_modular_addition_sweep.csv

The build (no network; tests/test_references.py runs it) reads only that extract:

    python sweeps/papers/ref/make_pair-modular.py      # writes pair-modular.csv

Source file: 50,767 bytes, SHA-256
3a2740ff21ea120fb158975379628f4608b2222d31d1972bb42ffc3791926b5e.
"""

import sys
from pathlib import Path

import pandas as pd
from pair_rule import pair_phase  # beside this script
from provenance import SOURCES, Source, copy_columns

SOURCE = Source(
    repo="PAIR-code/ai-explorables",
    commit="64ac8eb842b97a00ee62b100b53e01e5296f26cd",
    path="source/grokking/mod-bot/seeds/data__hypers_mlp_modular_addition_sweep.csv",
    sha256="3a2740ff21ea120fb158975379628f4608b2222d31d1972bb42ffc3791926b5e",
)
EXTRACT = SOURCES / "pair-modular.csv"
COLUMNS = ["minTrainLoss", "minEvalLoss", "maxRatio", "freqs"]


def extract(original: str, out: Path = EXTRACT) -> None:
    copy_columns(SOURCE.check(original), out, COLUMNS)


def build(extract_path: Path = EXTRACT, out_dir: Path = Path(__file__).parent) -> list[Path]:
    """Write pair-modular.csv into `out_dir` from the extract."""
    data = pd.read_csv(extract_path, dtype={"freqs": str})
    freqs = (
        data["freqs"]
        .fillna("")
        .map(lambda s: " ".join(str(int(f) + 1) for f in sorted(map(int, s.split()))))
    )
    out = pd.DataFrame(
        {
            "phase": data.apply(pair_phase, axis=1),
            "max_loss_ratio": data["maxRatio"].map(lambda v: float(f"{v:.6g}")),
            "key_frequencies": freqs,
            "source": "data",
            "rule": "pair",
        }
    )
    out.to_csv(out_dir / "pair-modular.csv", index=False)
    return [out_dir / "pair-modular.csv"]


if __name__ == "__main__":
    if sys.argv[1:2] == ["extract"]:
        extract(sys.argv[2])
    out = pd.read_csv(build()[0], dtype={"key_frequencies": str})
    print(out["phase"].value_counts().to_string())
    print(out["key_frequencies"].fillna("").str.split().map(len).describe().to_string())
