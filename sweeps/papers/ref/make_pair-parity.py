"""Make pair-parity.csv from the PAIR explorable's released sparse-parity sweep.

Source: repository PAIR-code/ai-explorables, file
source/grokking/sweep-sparse-parity/data__hypers_sparse_parity_v4.csv, last changed in commit
345e664d0e1314e3d0608d015e5577079da5d063 (read at commit 64ac8eb842b97a00ee62b100b53e01e5296f26cd).
One row per trained model (1,125: weight decay x train size x hidden size x 9 seeds), with the
minimum train and test loss and the maximum test / train loss ratio over the logged steps
(every 100 of 20,000), as `sweep-sparse-parity/parse.js` computed them.

Each model's phase is the explorable's own colouring (`sweep-sparse-parity/init.js`,
`circleFillFn`, thresholds `minEvalLoss: 0.00001`, `maxRatio: 50000`), named as phasegrok names
it: min train loss > 1e-5 "high train loss" -> confuse; else min test loss > 1e-5 "high test
loss" -> memorize; else max ratio < 5e4 "train/test drop together" -> comprehend; else grokking
-> grok. `max_loss_ratio` (their maxRatio) compares with runs.parquet's column of that name.
The table's `rule` column is `pair`: compare classifies phasegrok's runs by the same rule.

Two steps (see provenance.py). Extraction copies the columns the build reads (weight_decay,
train_size, hidden_size, seed, minTrainLoss, minEvalLoss, maxRatio; each value's text unchanged,
rows in the file's order) into sources/pair-parity.csv; it needs a clone of their repository
and is not run by the tests:

    git clone https://github.com/PAIR-code/ai-explorables && \
        git -C ai-explorables checkout 64ac8eb842b97a00ee62b100b53e01e5296f26cd
    python sweeps/papers/ref/make_pair-parity.py extract \
        ai-explorables/source/grokking/sweep-sparse-parity/data__hypers_sparse_parity_v4.csv

The build (no network; tests/test_references.py runs it) reads only that extract:

    python sweeps/papers/ref/make_pair-parity.py      # writes pair-parity.csv

Source file: 103,478 bytes, SHA-256
bd16e17985ab1df55af9f3bf78fb665a10dc436290c1b2ae25055906e2f19c5e.
"""

import sys
from pathlib import Path

import pandas as pd
from pair_rule import pair_phase  # beside this script
from provenance import SOURCES, Source, copy_columns

SOURCE = Source(
    repo="PAIR-code/ai-explorables",
    commit="64ac8eb842b97a00ee62b100b53e01e5296f26cd",
    path="source/grokking/sweep-sparse-parity/data__hypers_sparse_parity_v4.csv",
    sha256="bd16e17985ab1df55af9f3bf78fb665a10dc436290c1b2ae25055906e2f19c5e",
)
EXTRACT = SOURCES / "pair-parity.csv"
COLUMNS = [
    "weight_decay",
    "train_size",
    "hidden_size",
    "seed",
    "minTrainLoss",
    "minEvalLoss",
    "maxRatio",
]
KEYS = ["optimizer.weight_decay", "data.train_size", "model.hidden", "seed"]


def extract(original: str, out: Path = EXTRACT) -> None:
    copy_columns(SOURCE.check(original), out, COLUMNS)


def build(extract_path: Path = EXTRACT, out_dir: Path = Path(__file__).parent) -> list[Path]:
    """Write pair-parity.csv into `out_dir` from the extract."""
    data = pd.read_csv(extract_path)
    out = pd.DataFrame(
        {
            "optimizer.weight_decay": data["weight_decay"],
            "data.train_size": data["train_size"],
            "model.hidden": data["hidden_size"],
            "seed": data["seed"],
            "phase": data.apply(pair_phase, axis=1),
            "max_loss_ratio": data["maxRatio"].map(lambda v: float(f"{v:.6g}")),
            "source": "data",
            "rule": "pair",
        }
    )
    out = out.sort_values(KEYS).reset_index(drop=True)
    out.to_csv(out_dir / "pair-parity.csv", index=False)
    return [out_dir / "pair-parity.csv"]


if __name__ == "__main__":
    if sys.argv[1:2] == ["extract"]:
        extract(sys.argv[2])
    out = pd.read_csv(build()[0])
    print(out.groupby(KEYS[:3])["phase"].agg(lambda s: s.mode()[0]).value_counts().to_string())
