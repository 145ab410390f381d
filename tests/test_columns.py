"""The column dictionary (phasegrok.store.columns) against docs/columns.md, the code's column names,
and the tables that tiny sweeps of each task kind write."""

import copy
import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT, TINY, TINY_ARRAYS, TINY_PARITY

import phasegrok
from phasegrok.analysis.classify import CLASS_COLUMNS
from phasegrok.config.schema import RUN_KEYS
from phasegrok.lens.fourier import MODULAR_METRICS, PARITY_METRICS
from phasegrok.lens.progress_measures import MEASURES
from phasegrok.lens.readout import READOUT_METRICS
from phasegrok.store import columns
from phasegrok.store.columns import CURVE_COLUMNS


def _names(table: str) -> set[str]:
    return {c.name for c in columns.of_table(table)}


def test_docs_columns_md_is_the_generated_text():
    committed = (ROOT / "docs" / "columns.md").read_text()
    assert committed == columns.markdown(), (
        "docs/columns.md is stale: run `python -m phasegrok.store.columns > docs/columns.md`"
    )


def test_entries_are_unique_and_well_formed():
    keys = [(c.table, c.name) for c in columns.COLUMNS]
    assert len(keys) == len(set(keys))
    for c in columns.COLUMNS:
        assert c.table in columns.TABLES and c.meaning, c
        assert c.tasks and set(c.tasks) <= set(columns.TASKS), c


def test_the_codes_column_names_are_described():
    runs = _names("runs")
    assert {k for k in RUN_KEYS if k != "train.seeds"} <= runs  # every resolved sweep key
    assert set(CLASS_COLUMNS) <= runs
    curves = {*CURVE_COLUMNS, *MODULAR_METRICS, *PARITY_METRICS, *READOUT_METRICS}
    assert curves | {"run_id", "step"} == _names("curves")
    assert {f"final_{name}" for name in curves} <= runs
    assert {"run_id", "step", *MEASURES} == _names("progress")


def test_the_module_imports_no_jax():
    code = "import sys, phasegrok.store.columns; print(sorted({'jax', 'flax'} & set(sys.modules)))"
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]"


def _one_run(sweep: dict) -> dict:
    sweep = copy.deepcopy(sweep)
    sweep["grid"] = {}
    sweep["train"] = {**sweep["train"], "seeds": 1, "steps": 40, "eval_every": 20}
    return sweep


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """{task kind: {table: DataFrame}} of a one-run sweep of each task kind."""
    found = {}
    for sweep in (TINY, TINY_PARITY, TINY_ARRAYS):
        sweep = _one_run(sweep)
        kind = sweep["task"]["kind"]
        out = tmp_path_factory.mktemp(kind)
        phasegrok.run_sweep(sweep, out, progress=False, plots=False)
        found[kind] = {
            table: pd.read_parquet(out / f"{table}.parquet")
            for table in columns.TABLES
            if (out / f"{table}.parquet").exists()
        }
    return found


@pytest.mark.training
@pytest.mark.parametrize("kind", columns.TASKS)
def test_every_written_column_is_described_and_every_entry_written(written, kind):
    tables = written[kind]
    assert set(tables) == (
        {"runs", "curves", "progress"} if kind == "modular" else {"runs", "curves"}
    )
    for table, frame in tables.items():
        described = {c.name: c for c in columns.of_table(table)}
        undescribed = set(frame.columns) - set(described)
        assert not undescribed, (
            f"{table}.parquet: {sorted(undescribed)} not in phasegrok.store.columns"
        )
        required = {c.name for c in described.values() if kind in c.tasks and not c.when}
        missing = required - set(frame.columns)
        assert not missing, f"{kind} {table}.parquet lacks {sorted(missing)}"
        # `tasks` is true: a column that another task kind fills is blank in this one's rows.
        for name in frame.columns:
            if kind not in described[name].tasks:
                assert frame[name].isna().all(), f"{kind} fills {table}.{name}"
