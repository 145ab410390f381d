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

    python sweeps/papers/ref/make_pair-parity.py PATH/TO/data__hypers_sparse_parity_v4.csv

(a local copy of the file; no network is used). Writes pair-parity.csv beside this script.
"""

import sys
from pathlib import Path

import pandas as pd
from pair_rule import pair_phase  # beside this script


def main(source: str) -> None:
    data = pd.read_csv(source)
    out = pd.DataFrame(
        {
            "optimizer.weight_decay": data["weight_decay"],
            "data.train_size": data["train_size"],
            "model.hidden": data["hidden_size"],
            "seed": data["seed"],
            "phase": data.apply(pair_phase, axis=1),
            "max_loss_ratio": data["maxRatio"].map(lambda v: float(f"{v:.6g}")),
            "source": "data",
        }
    )
    keys = ["optimizer.weight_decay", "data.train_size", "model.hidden", "seed"]
    out = out.sort_values(keys).reset_index(drop=True)
    out.to_csv(Path(__file__).with_name("pair-parity.csv"), index=False)
    print(out.groupby(keys[:3])["phase"].agg(lambda s: s.mode()[0]).value_counts().to_string())


if __name__ == "__main__":
    main(sys.argv[1])
