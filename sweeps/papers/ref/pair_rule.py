"""The PAIR explorable's colouring of its sweeps (`sweep-sparse-parity/init.js` and
`sweep-mod/init.js`, `circleFillFn`), named as phasegrok names the phases; shared by the scripts
that make the PAIR reference tables from the released per-run losses."""

import pandas as pd

LOSS, RATIO = 1e-5, 5e4  # init.js: state.minEvalLoss (both loss tests) and state.maxRatio


def pair_phase(row: pd.Series) -> str:
    """min train loss > 1e-5: confuse; else min test loss > 1e-5: memorize; else the max test /
    train loss ratio below 5e4: comprehend, above: grok."""
    if row.minTrainLoss > LOSS:
        return "confuse"
    if row.minEvalLoss > LOSS:
        return "memorize"
    return "comprehend" if row.maxRatio < RATIO else "grok"
