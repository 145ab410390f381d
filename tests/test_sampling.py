"""Sampled grid axes: drawn jointly and reproducibly from grid_seed, crossed with listed axes."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

import phasegrok
from phasegrok.config.load import ConfigError, load_sweep
from phasegrok.plan.groups import iter_group_runs, plan
from phasegrok.plan.runs import expand
from phasegrok.report.scatter import point_phases


@pytest.fixture
def sampled(tiny):
    tiny["grid"] = {
        "optimizer.weight_decay": {"loguniform": ["1e-2", 1], "n": 4},
        "model.hidden": [[16], [8]],
        "optimizer.lr": {"uniform": [1.0e-3, 3.0e-3], "n": 4},
    }
    return tiny


def test_draws_are_reproducible_within_their_ranges_and_joint(sampled):
    spec = load_sweep(sampled)
    again = load_sweep(sampled)
    wd, lr = list(spec.grid["optimizer.weight_decay"]), list(spec.grid["optimizer.lr"])
    assert wd == list(again.grid["optimizer.weight_decay"]) and len(wd) == len(set(wd)) == 4
    assert all(1e-2 <= v <= 1 for v in wd) and all(1e-3 <= v <= 3e-3 for v in lr)
    # One point set of 4, crossed with the 2 listed values, times 2 seeds: not 4 x 4 x 2 x 2.
    assert spec.n_points() == 8 and spec.n_runs() == 16
    points = {(c["optimizer.weight_decay"], c["optimizer.lr"]) for c, _ in spec.run_configs()}
    assert points == set(zip(wd, lr, strict=True))
    other = load_sweep({**sampled, "grid_seed": 1})
    assert list(other.grid["optimizer.weight_decay"]) != wd


def test_plan_groups_and_expand_agree(sampled):
    spec = load_sweep(sampled)
    the_plan = plan(spec)
    assert len(the_plan.groups) == 2 and the_plan.n_runs == 16
    grouped = [r.run_id for g in the_plan.groups for r in iter_group_runs(spec, g)]
    assert sorted(grouped) == sorted(r.run_id for r in expand(spec))


def test_a_sampled_train_fraction_splits_into_size_buckets(tiny):
    tiny["grid"] = {
        "data.train_fraction": {"uniform": [0.3, 0.9], "n": 5},
        "optimizer.weight_decay": {"loguniform": [0.01, 1.0], "n": 5},
    }
    spec = load_sweep(tiny)
    the_plan = plan(spec)
    assert the_plan.n_runs == 10 and sum(g.n_runs for g in the_plan.groups) == 10
    grouped = [r.run_id for g in the_plan.groups for r in iter_group_runs(spec, g)]
    assert sorted(grouped) == sorted(r.run_id for r in expand(spec))


def test_choice_and_integer_keys_drop_repeated_points(tiny):
    tiny["grid"] = {"optimizer.warmup_steps": {"choice": [0, 10], "n": 8}}
    axis = load_sweep(tiny).grid["optimizer.warmup_steps"]
    assert sorted(axis) == [0, 10]  # 8 draws of 2 choices: 2 distinct points
    tiny["grid"] = {"optimizer.warmup_steps": {"uniform": [0, 100], "n": 6}}
    assert all(isinstance(v, int) for v in load_sweep(tiny).grid["optimizer.warmup_steps"])


@pytest.mark.parametrize(
    ("grid", "key", "message"),
    [
        (
            {
                "optimizer.lr": {"loguniform": [1e-4, 1e-2], "n": 4},
                "optimizer.weight_decay": {"uniform": [0, 1], "n": 5},
            },
            "grid.optimizer.lr",
            "n must be equal",
        ),
        ({"model.hidden": {"choice": [[8], [16]], "n": 2}}, "grid.model.hidden", "cannot be"),
        ({"optimizer.lr": {"loguniform": [0, 1e-2], "n": 4}}, "grid.optimizer.lr.loguniform", ""),
        ({"optimizer.lr": {"uniform": [1e-3, 1e-2], "n": 0}}, "grid.optimizer.lr.n", "1.."),
        ({"optimizer.lr": {"uniform": [1e-3, 1e-2]}}, "grid.optimizer.lr", "n: N"),
        ({"optimizer.lr": {"uniform": [-1, 1], "n": 3}}, "grid.optimizer.lr", "> 0"),
        ({"optimizer.lrr": {"uniform": [1, 2], "n": 3}}, "grid.optimizer.lrr", "did you mean"),
    ],
)
def test_bad_samplers_are_one_line_naming_the_key(tiny, grid, key, message):
    tiny["grid"] = grid
    with pytest.raises(ConfigError) as err:
        load_sweep(tiny)
    assert err.value.key == key and message in err.value.message


def test_sweep_yaml_keeps_the_specs_and_seed_and_rerunning_it_is_the_same_sweep(sampled, tmp_path):
    sampled["grid"].pop("model.hidden")
    sampled["grid_seed"] = 7
    sampled["train"]["seeds"] = 1
    out = tmp_path / "out"
    res = phasegrok.run_sweep(sampled, out, progress=False)  # figures and page too
    written = yaml.safe_load((out / "sweep.yaml").read_text())
    assert written["grid_seed"] == 7
    assert written["grid"]["optimizer.lr"] == {"uniform": [1.0e-3, 3.0e-3], "n": 4}
    spec = load_sweep(written)
    assert sorted(res.runs["optimizer.lr"]) == sorted(spec.grid["optimizer.lr"])
    # Found again on disk: nothing left to train.
    from phasegrok.sweep import folder_plan

    assert folder_plan(spec, out).n_todo == 0
    assert len(pd.read_parquet(out / "runs.parquet")) == 4
    assert (out / "phase__optimizer.weight_decay__optimizer.lr.png").is_file()
    assert (out / "index.html").is_file()


def test_scatter_points_hold_the_majority_phase():
    runs = pd.DataFrame(
        {
            "a": [0.1, 0.1, 0.2, 0.3],
            "b": [1.0, 1.0, 2.0, 3.0],
            "phase": ["grok", "grok", "memorize", "confuse"],
        }
    )
    points = point_phases(runs, "a", "b")
    assert len(points) == 3
    first = points[points["a"] == 0.1].iloc[0]
    assert first["phase"] == "grok" and first["k"] == 2 and first["n"] == 2
    assert math.isclose(points["b"].sum(), 6.0)
