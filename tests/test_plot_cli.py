"""The `phasegrok.plot` CLI on small synthetic results folders: redraw, reclassify, bad input.

The CLI runs in-process (`plot_main([...])`): a subprocess would only add Python's start-up.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import assert_png, run_cli
from synthetic_results import ONE_AXIS, SMALL3, make_results

from phasegrok.plot import build_spec, parse_overrides
from phasegrok.plot import main as plot_main
from phasegrok.report import draw_all
from phasegrok.store.columns import CLASSIFY_META


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# CLI


def test_cli_redraws(tmp_path):
    d = make_results(tmp_path / "cli", grid=SMALL3, seeds=(0,))
    draw_all(d)
    pngs = sorted(d.glob("*.png"))
    assert len(pngs) == 6
    for p in [*pngs, d / "index.html"]:
        os.utime(p, ns=(0, 0))
    runs_hash, curves_hash = sha(d / "runs.parquet"), sha(d / "curves.parquet")
    assert plot_main([str(d)]) == 0
    assert sorted(d.glob("*.png")) == pngs
    for p in [*pngs, d / "index.html"]:
        assert p.stat().st_mtime_ns > 0, p  # redrawn
    for p in pngs:
        assert_png(p)
    # Already classified and no new thresholds: the data files are left alone.
    assert sha(d / "runs.parquet") == runs_hash and sha(d / "curves.parquet") == curves_hash


def test_reclassify_changes_phase_not_curves(tmp_path):
    d = make_results(tmp_path / "re", grid=ONE_AXIS, seeds=(0, 1))
    curves_hash = sha(d / "curves.parquet")
    before = pd.read_parquet(d / "runs.parquet")
    meta_before = pq.read_schema(d / "runs.parquet").metadata
    assert plot_main([str(d), "--classify", "threshold=0.5", "grok_gap=10000"]) == 0
    after = pd.read_parquet(d / "runs.parquet")
    assert sha(d / "curves.parquet") == curves_hash
    assert (after["phase"] != before["phase"]).any()
    assert list(after.columns) == list(before.columns)
    untouched = [
        c
        for c in before.columns
        if c
        not in (
            "phase",
            "t_fit",
            "t_gen",
            "grok_delay",
            "lost_generalization",
            "still_learning",
            "n_relapses",
            "max_loss_ratio",
            "partial_generalization",
        )
    ]
    pd.testing.assert_frame_equal(after[untouched], before[untouched])
    meta = pq.read_schema(d / "runs.parquet").metadata
    assert json.loads(meta[CLASSIFY_META])["threshold"] == 0.5
    assert set(meta_before) - {b"pandas"} <= set(meta)
    assert "threshold: 0.5" in (d / "index.html").read_text()
    # --reclassify restores sweep.yaml's settings and drops the record.
    assert plot_main([str(d), "--reclassify"]) == 0
    restored = pd.read_parquet(d / "runs.parquet")
    assert restored["phase"].tolist() == before["phase"].tolist()
    assert CLASSIFY_META not in pq.read_schema(d / "runs.parquet").metadata


def test_cli_generalized_ever(tmp_path):
    assert build_spec({}, parse_overrides(["generalized=ever"])).generalized == "ever"
    d = make_results(tmp_path / "ever", grid=ONE_AXIS, seeds=(0,))
    assert plot_main([str(d), "--classify", "generalized=ever"]) == 0
    meta = pq.read_schema(d / "runs.parquet").metadata
    assert json.loads(meta[CLASSIFY_META])["generalized"] == "ever"
    assert "lost generalization" in (d / "index.html").read_text()


def test_cli_reclassify_pair_rule(tmp_path):
    d = make_results(tmp_path / "pair", grid=SMALL3, seeds=(0,))
    curves_hash = sha(d / "curves.parquet")
    args = ["--classify", "rule=pair", "--classify", "pair_loss_scale=per_class"]
    assert plot_main([str(d), *args]) == 0
    runs = pd.read_parquet(d / "runs.parquet")
    assert sha(d / "curves.parquet") == curves_hash
    assert "oscillate" not in set(runs["phase"])  # the pair rule has no oscillate phase


def listing(d: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in d.iterdir()}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--classify", "treshold=0.5"], "treshold"),
        (["--classify", "threshold"], "KEY=VALUE"),
        (["--classify", "rule=loss"], "rule"),
        (["--classify", "threshold=abc"], "threshold"),
        (["--classify", "generalized=always"], "'final' or 'ever'"),
    ],
)
def test_cli_bad_input(tmp_path, capsys, args, needle):
    d = make_results(tmp_path / "bad", seeds=(0,), grid={"optimizer.weight_decay": [1e-3]})
    before = listing(d)
    assert plot_main([str(d), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
    if "treshold" in args[1]:
        assert "allowed:" in err and "threshold" in err.split("allowed:")[1]
    assert listing(d) == before  # nothing written


def test_cli_missing_folder_subprocess(tmp_path):
    # One subprocess: `python -m phasegrok.plot` itself, its exit status and stderr.
    result = run_cli(str(tmp_path / "nope"), "--classify", "threshold=0.5")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "does not exist" in result.stderr


def test_cli_unknown_flag(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        plot_main([str(tmp_path), "--bogus"])
    assert exit_.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
