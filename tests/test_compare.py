"""`reference:` (checked, copied into the results folder) and `python -m phasegrok.compare`."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, TINY_PARITY

import phasegrok
from phasegrok.analysis.comparison import majority_phase, spearman
from phasegrok.compare import main as compare_main
from phasegrok.config.load import ConfigError, load_sweep
from phasegrok.config.reference import REFERENCE_FILE
from phasegrok.store.integrity import file_digest, record_tables
from phasegrok.sweep import main as sweep_main

WD = "optimizer.weight_decay"
SIZE = "data.train_size"


def _sweep(reference: Path | None = None) -> dict:
    sweep = copy.deepcopy(TINY_PARITY)
    sweep["name"] = "tiny-compare"
    sweep["train"] = {"steps": 40, "eval_every": 20, "seeds": 2}
    sweep["grid"] = {WD: [0.01, 0.1, 1.0], SIZE: [60, 100]}
    if reference is not None:
        sweep["reference"] = str(reference)
    return sweep


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A trained tiny sweep (3 x 2 cells, 2 seeds) whose sweep named a reference table."""
    base = tmp_path_factory.mktemp("compare")
    ref = base / "placeholder.csv"
    pd.DataFrame({WD: [0.01], SIZE: [60], "phase": ["grok"]}).to_csv(ref, index=False)
    out = base / "out"
    phasegrok.run_sweep(_sweep(ref), out, progress=False, plots=False)
    return out


def _folder(trained: Path, tmp_path: Path) -> Path:
    out = tmp_path / "results"
    shutil.copytree(trained, out)
    return out


def _as_copied(out: Path, ref: pd.DataFrame) -> None:
    """`ref` as the folder's reference.csv, recorded as the sweep records its copy (an edit
    of the copy alone is refused: `test_integrity`)."""
    ref.to_csv(out / REFERENCE_FILE, index=False)
    record_tables(out, {REFERENCE_FILE: file_digest(out / REFERENCE_FILE)})


def _majorities(runs: pd.DataFrame) -> dict[tuple[float, int], str]:
    return {
        cell: majority_phase(group["phase"])[0]
        for cell, group in runs.groupby([WD, SIZE], sort=True)
    }


def test_the_sweep_copies_its_reference_and_records_the_copy(trained):
    copied = trained / REFERENCE_FILE
    assert copied.read_text() == (trained.parent / "placeholder.csv").read_text()
    assert yaml.safe_load((trained / "sweep.yaml").read_text())["reference"] == REFERENCE_FILE
    # Rerunning the folder's own sweep.yaml finds its reference.csv beside it.
    assert load_sweep(trained / "sweep.yaml").reference == copied.resolve()


def test_a_missing_or_bad_reference_is_refused_naming_the_key(tmp_path, capsys):
    with pytest.raises(ConfigError, match="^reference: reference table not found"):
        load_sweep(_sweep(tmp_path / "nope.csv"))
    bad = tmp_path / "bad.csv"
    pd.DataFrame({WD: [0.1], "phase": ["groks"]}).to_csv(bad, index=False)
    with pytest.raises(ConfigError, match="^reference: .*phase 'groks' is not a phase"):
        load_sweep(_sweep(bad))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**_sweep(), "reference": "ref/missing.csv"}))
    out = tmp_path / "out"
    assert sweep_main([str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reference: reference table not found" in err[0]
    assert str(tmp_path / "ref" / "missing.csv") in err[0]  # relative to the sweep file
    assert not out.exists()


def test_compare_counts_agreement_cell_by_cell_and_draws(trained, tmp_path, capsys):
    out = _folder(trained, tmp_path)
    runs = pd.read_parquet(out / "runs.parquet")
    ours = _majorities(runs)
    cells = sorted(ours)
    wrong = next(p for p in ("diverge", "oscillate") if p != ours[cells[0]])
    rows = [{WD: cells[0][0], SIZE: cells[0][1], "phase": wrong, "count": 3, "source": "data"}]
    rows += [{WD: wd, SIZE: size, "phase": ours[(wd, size)]} for wd, size in cells[1:]]
    rows.append({WD: 0.3, SIZE: 100, "phase": "grok"})  # a reference cell that was not run
    ref = pd.DataFrame(rows)
    ref[WD] = ref[WD] * (1 + 1e-9)  # floats off in the last digits still match
    _as_copied(out, ref)
    assert compare_main([str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    published = {cells[0]: wrong, **{c: ours[c] for c in cells[1:]}}
    per_seed = [
        sum(phase == published[cell] for cell, phase in _majorities(group).items())
        for _, group in runs.groupby("seed")
    ]
    baseline = pd.Series(list(published.values())).value_counts().max()
    n = len(cells)
    assert printed[-1] == (
        f"agree {n - 1}/{n} cells (rule: accuracy; 2 seeds, each seed "
        f"{min(per_seed)}-{max(per_seed)}/{n}; most-common-phase baseline {baseline}/{n})"
    )
    assert "reference cells not run: 1" in printed[0]
    assert any(f"{wrong} 3/3" in line and line.rstrip().endswith("no") for line in printed)
    png = out / f"compare__{WD}__{SIZE}.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    assert png.name in (out / "index.html").read_text()  # no index before: made for it
    assert (out / "compare.txt").read_text().strip().splitlines()[-1] == printed[-1]


def test_compare_reports_numeric_targets_with_ratio_and_rank_correlation(trained, tmp_path, capsys):
    out = _folder(trained, tmp_path)
    runs = pd.read_parquet(out / "runs.parquet")
    medians = runs.groupby([WD, SIZE])["final_test_acc"].median()
    ref = medians.mul(2).rename("final_test_acc").reset_index()  # ratio 0.5 everywhere
    ref = ref.assign(source="data")
    path = tmp_path / "numeric.csv"
    ref.to_csv(path, index=False)
    assert compare_main([str(out), "--ref", str(path), "--no-figure"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    rho = "1.00" if medians.nunique() == len(medians) else None
    assert last.startswith(f"final_test_acc: Spearman rank correlation {rho or ''}")
    assert last.endswith("median ratio phasegrok/published 0.5")
    assert not (out / "compare.txt").exists()  # --no-figure: printed only


def test_compare_reclassifies_with_pair_rule_and_reports_the_accuracy_rule(
    trained, tmp_path, capsys
):
    out = _folder(trained, tmp_path)
    runs = phasegrok.load(out).runs
    ref = pd.DataFrame({WD: runs[WD], SIZE: runs[SIZE], "phase": "confuse"})
    _as_copied(out, ref.drop_duplicates())
    assert compare_main([str(out), "--rule", "pair", "--no-figure"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("agree ") and lines[-2].startswith("accuracy rule: agree ")
    assert "PAIR's loss rule" in "\n".join(lines)


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        (None, "no reference"),
        ({"optimizer.nonexistent": [1.0], "phase": ["grok"]}, "not a column of runs.parquet"),
        ({SIZE: [60, 100], "phase": ["grok", "grok"]}, f"the results sweep {WD}"),
        ({WD: [5.0], SIZE: [60], "phase": ["grok"]}, "no cell in common"),
        ({WD: [0.1], SIZE: [60]}, "no target column"),
    ],
    ids=["missing", "unknown-column", "axis-not-in-reference", "no-common-cell", "no-target"],
)
def test_compare_exits_2_with_one_line_when_it_cannot_compare(
    trained, tmp_path, capsys, table, reason
):
    out = _folder(trained, tmp_path)
    (out / REFERENCE_FILE).unlink()
    if table is not None:
        _as_copied(out, pd.DataFrame(table))
    assert compare_main([str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and reason in err[0], err
    assert not list(out.glob("compare*"))


def test_majority_with_counts_and_spearman_by_ranks():
    phases = pd.Series(["grok", "memorize", "grok"])
    assert majority_phase(phases, pd.Series([1, 3, 1])) == ("memorize", 3, 5)
    assert majority_phase(pd.Series(["memorize", "grok"])) == ("grok", 1, 2)  # PHASES order
    a = pd.Series([1.0, 2.0, 3.0, np.inf])
    assert spearman(a, pd.Series([10.0, 30.0, 20.0, 40.0])) == pytest.approx(0.8)
    assert np.isnan(spearman(a[:2], a[:2]))


# The arrays presets need their data file: tests/test_papers.py checks them on a stand-in.
PRESETS = sorted(
    p for p in (ROOT / "sweeps" / "papers").glob("*.yaml") if "kind: arrays" not in p.read_text()
)


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_paper_presets_validate_with_their_reference(preset, capsys):
    assert sweep_main([str(preset), "--dry-run"]) == 0
    spec = load_sweep(preset)
    assert spec.reference is not None and spec.reference.is_file()
    assert capsys.readouterr().out.startswith(spec.name + ":")
    if not preset.stem.endswith(("-quick", "-gpu")):  # -gpu: a documented subset
        assert (preset.with_name(preset.stem + "-quick.yaml")).is_file()


def test_compare_classifies_by_the_references_own_rule(trained, tmp_path, capsys):
    """A reference that records its source's rule (`rule: liu`) is compared under it, so no
    phase appears that it cannot hold; `--rule` still asks for another."""
    out = _folder(trained, tmp_path)
    runs = phasegrok.load(out).runs
    ref = pd.DataFrame({WD: runs[WD], SIZE: runs[SIZE], "phase": "confuse", "rule": "liu"})
    _as_copied(out, ref.drop_duplicates())
    assert compare_main([str(out), "--no-figure"]) == 0
    text = capsys.readouterr().out
    assert "(rule: liu;" in text.strip().splitlines()[-1]
    liu = {"comprehend", "grok", "memorize", "confuse"}
    assert not {"oscillate", "collapse", "diverge"} & set(text.split())
    assert compare_main([str(out), "--no-figure", "--rule", "accuracy"]) == 0
    assert "(rule: accuracy;" in capsys.readouterr().out.strip().splitlines()[-1]
    assert liu <= set(phasegrok.analysis.classify.PHASE_COLORS)


def test_a_predicted_column_is_kept_but_never_compared(tmp_path):
    """A formula's prediction (`predicted_t_gen`) sits in its own column: not a target."""
    from phasegrok.config.reference import read_reference

    path = tmp_path / "ref.csv"
    pd.DataFrame({WD: [0.1], "phase": ["grok"], "predicted_t_gen": [100.0]}).to_csv(
        path, index=False
    )
    ref = read_reference(path)
    assert "predicted_t_gen" in ref.table and "predicted_t_gen" not in ref.numeric
