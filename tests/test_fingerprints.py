"""Results stay bit for bit what they were: the fingerprinted sweeps (tests/fingerprint_sweeps.py)
trained now against the tables recorded from the code before a change that must keep numbers
(the redesign). Columns added since are allowed; every recorded column must be equal, NaN equal
to NaN. Where the arithmetic's environment differs from the recording's (another JAX, another
CPU), floats are compared to 1e-4 instead, and the test says so."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest
from fingerprint_sweeps import NAMES, RECORDED, UNCOMPARED, environment, train

pytestmark = pytest.mark.training

SAME_ARITHMETIC = json.loads((RECORDED / "environment.json").read_text()) == environment()


@pytest.mark.parametrize("name", NAMES)
def test_results_equal_the_recorded_fingerprints(name, tmp_path):
    if not SAME_ARITHMETIC:
        warnings.warn("fingerprints recorded elsewhere: floats compared to 1e-4", stacklevel=1)
    found = train(name, tmp_path)
    recorded = {p.name.split(".")[1]: p for p in RECORDED.glob(f"{name}.*.parquet")}
    assert set(found) == set(recorded), "tables written"
    for table, path in recorded.items():
        want = pd.read_parquet(path)
        want = want.drop(columns=[c for c in UNCOMPARED if c in want.columns])
        got = found[table]
        missing = sorted(set(want.columns) - set(got.columns))
        assert not missing, f"{table}: columns gone: {missing}"
        pd.testing.assert_frame_equal(
            got[want.columns],
            want,
            check_exact=SAME_ARITHMETIC,
            rtol=1e-4,
            obj=f"{name} {table}.parquet",
        )
