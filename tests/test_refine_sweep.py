"""Refinement rounds of a real (tiny) sweep: refine_round, budget, resume picks the same points."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from phasegrok.analysis.refine import point_phases
from phasegrok.analysis.rounds import finished_runs, plan_round
from phasegrok.config.load import ConfigError, load_sweep
from phasegrok.sweep import main, run_sweep

SWEEP = {
    "name": "refine-tiny",
    "task": {"p": 11},
    "model": {"hidden": [32], "embed_dim": 16},
    "optimizer": {"lr": 0.01},
    "train": {"steps": 300, "eval_every": 50, "seeds": 1},
    "classify": {"threshold": 0.5},
    # memorize at small weight decay, confuse at 10: a boundary between the last two columns
    "grid": {"optimizer.weight_decay": [0.01, 0.316, 10.0], "data.train_fraction": [0.2, 0.8]},
    "refine": {"rounds": 2, "max_runs": 4},
}
AXES = ["optimizer.weight_decay", "data.train_fraction"]


@pytest.fixture(scope="module")
def refined(tmp_path_factory):
    out = tmp_path_factory.mktemp("refine") / "out"
    res = run_sweep(SWEEP, out, progress=False, plots=False, live=False)
    return out, res.runs


@pytest.mark.training
def test_rounds_are_marked_and_budget_kept(refined):
    _out, runs = refined
    rounds = runs["refine_round"]
    assert (rounds == 0).sum() == 6
    assert 1 <= (rounds > 0).sum() <= SWEEP["refine"]["max_runs"]
    assert set(rounds) <= {0, 1, 2}


def in_mixed_cell(point: tuple[float, float], phases: dict[tuple[float, float], str]) -> bool:
    """Whether `point` lies in, or on an edge of, a Delaunay triangle of the points `phases`
    (log10 weight decay, both axes to [0, 1]) whose corners' phases are not all equal."""
    from scipy.spatial import Delaunay

    coords = np.array(list(phases))
    xy = np.column_stack([np.log10(coords[:, 0]), coords[:, 1]])
    lo, span = xy.min(axis=0), np.ptp(xy, axis=0)
    unit = (xy - lo) / span
    q = (np.array([math.log10(point[0]), point[1]]) - lo) / span
    labels = list(phases.values())
    for simplex in Delaunay(unit).simplices:
        a, b, c = unit[simplex]
        m = np.column_stack([b - a, c - a])
        u, v = np.linalg.solve(m, q - a)
        inside = u >= -1e-9 and v >= -1e-9 and u + v <= 1 + 1e-9
        if inside and len({labels[i] for i in simplex}) > 1:
            return True
    return False


@pytest.mark.training
def test_refined_points_lie_in_mixed_cells(refined):
    _out, runs = refined
    grid = runs[runs["refine_round"] == 0]
    phases = {p.coords: p.phase for p in point_phases(grid.to_dict("records"), AXES, ["x"])}
    assert len(set(phases.values())) > 1  # the tiny sweep has a boundary to refine
    first = runs[runs["refine_round"] == 1]
    for wd, frac in first[AXES].itertuples(index=False):
        assert in_mixed_cell((wd, frac), phases), (wd, frac)


@pytest.mark.training
def test_resume_picks_the_same_points(refined, tmp_path):
    out, runs = refined
    spec = load_sweep(SWEEP)
    finished = finished_runs(spec, out)
    for r in (1, 2):
        trained = finished.loc[finished["refine_round"] == r, AXES]
        expected = sorted(map(tuple, trained.to_numpy().tolist()))
        earlier = finished[finished["refine_round"] < r]
        assert sorted(plan_round(spec, earlier, r)) == expected
        assert sorted(plan_round(spec, finished, r)) == expected  # later rounds do not count
    # Interrupted during round 2: its parts are lost; running again trains the same points.
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    last = runs.loc[runs["refine_round"] == runs["refine_round"].max(), "batch_id"]
    for batch_id in set(last):
        for path in (copy / "parts").glob(f"{batch_id}.*"):
            path.unlink()
    again = run_sweep(SWEEP, copy, progress=False, plots=False, live=False).runs
    key = ["run_id", "refine_round"]
    pd.testing.assert_frame_equal(
        again[key].sort_values("run_id").reset_index(drop=True),
        runs[key].sort_values("run_id").reset_index(drop=True),
    )


@pytest.mark.training
def test_the_rounds_belong_to_their_grid(refined, tmp_path, capsys):
    out, runs = refined
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    parts = sorted((copy / "parts").iterdir())
    # Without refinement the sweep is its grid: the rounds' runs are kept aside, not shown.
    bare = run_sweep({**SWEEP, "refine": None}, copy, progress=False, plots=False, live=False)
    assert sorted(bare.runs["run_id"]) == sorted(runs.loc[runs["refine_round"] == 0, "run_id"])
    assert (
        "refine_round" not in pd.read_parquet(copy / "runs.parquet")
        or (bare.runs["refine_round"] == 0).all()
    )
    aside = int((runs["refine_round"] > 0).sum())
    assert f"{aside} runs of an earlier grid kept aside" in capsys.readouterr().err
    # With it again: the same rounds, replayed from the grid's runs, nothing trained.
    again = run_sweep(SWEEP, copy, progress=False, plots=False, live=False).runs
    assert sorted((copy / "parts").iterdir()) == parts
    key = ["run_id", "refine_round"]
    pd.testing.assert_frame_equal(again[key], runs[key])
    assert set(finished_runs(load_sweep(SWEEP), copy)["run_id"]) == set(runs["run_id"])


@pytest.mark.training
def test_min_step_from_the_sweep_file_stops_the_cuts(refined):
    out, _runs = refined
    grid = finished_runs(load_sweep(SWEEP), out).query("refine_round == 0")
    # In [0, 1] units the grid's edges are 0.5 (along weight decay), 1 (along the train
    # fraction) and 1.12 (diagonals): with min_step 0.99 only the last two are cut, whose
    # midpoints all lie at the middle train fraction, 0.5 (60 / 121 once snapped to examples).
    coarse = {**SWEEP, "refine": {**SWEEP["refine"], "max_runs": 40, "min_step": 0.99}}
    points = plan_round(load_sweep(coarse), grid, 1)
    assert points and all(abs(frac - 0.5) < 0.01 for _wd, frac in points)
    finer = {**coarse, "refine": {**coarse["refine"], "min_step": 0.4}}
    assert any(abs(frac - 0.5) > 0.1 for _wd, frac in plan_round(load_sweep(finer), grid, 1))


@pytest.mark.parametrize(
    ("refine", "where"),
    [
        ({"axes": ["model.hidden"], "max_runs": 4}, "refine.axes"),
        ({"axes": ["optimizer.lr"], "max_runs": 4}, "refine.axes"),
        ({"rounds": 2}, "refine.max_runs"),
        ({"max_runs": 4, "step": 1}, "refine.step"),
        ({"max_runs": 4, "min_step": 0}, "refine.min_step"),
        ({"max_runs": 4, "min_step": 1.5}, "refine.min_step"),
    ],
)
def test_bad_refine_is_one_error_naming_the_key(refine, where):
    with pytest.raises(ConfigError) as err:
        load_sweep({**SWEEP, "refine": refine})
    assert str(err.value).startswith(where)


def test_dry_run_names_the_refinement_budget(tmp_path, capsys):
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    assert main([str(sweep_file), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("refine-tiny: 6 runs") and "up to 4 runs of refinement in 2" in line
    assert not (tmp_path / "out").exists()
    assert main([str(sweep_file), "--dry-run", "refine.rounds=0"]) == 0
    assert "refinement" not in capsys.readouterr().out
