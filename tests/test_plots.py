"""Figures, gallery and the `phasegrok.plot` CLI on small synthetic results folders."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import assert_png, run_cli

from phasegrok.classify import (
    CLASSIFY_META,
    LOSS_FLOOR,
    PHASE_COLORS,
    PHASES,
    ClassifySpec,
    classify_runs,
)
from phasegrok.plot import build_spec, parse_overrides
from phasegrok.plot import main as plot_main
from phasegrok.plots import (
    draw_all,
    fmt,
    grid_keys,
    is_log_spaced,
    lu_figure,
    majority,
    make_axis,
    plot_pairs,
)

P = 31
STEPS = np.arange(0, 5001, 100)

GRID3 = {
    "optimizer.weight_decay": [1e-4, 1e-3, 1e-2, 1e-1],  # log-spaced
    "data.train_fraction": [0.3, 0.5, 0.7],  # linear
    "model.hidden": [[32], [64]],  # list-valued: a facet
}


def sigmoid(t0: float, width: float = 150.0) -> np.ndarray:
    return 1 / (1 + np.exp(np.clip((t0 - STEPS) / width, -50, 50)))


def synth_run(wd: float, frac: float, hidden: str, seed: int) -> dict[str, np.ndarray]:
    """Curves whose phase depends on the grid point, so every phase shows up."""
    t_fit, t_gen, test_hi = 300.0, 600.0, 1.0
    extra = {}
    if wd <= 1e-4:
        t_gen, test_hi = 1e9, 0.4  # memorize
    elif wd <= 1e-3:
        t_gen = 3000.0  # grok
        if frac == 0.3 and seed == 1:
            t_gen, test_hi = 4900.0, 0.6  # still rising at the end: memorize + still_learning
    elif wd >= 1e-1 and frac == 0.3:
        t_fit = 1e9  # confuse
    train = 0.02 + 0.98 * sigmoid(t_fit)
    test = 0.02 + (test_hi - 0.02) * sigmoid(t_gen)
    if wd >= 1e-1 and frac == 0.5:  # oscillate: relapses through to the end
        for t in (1500, 3000, 4500):
            train[(STEPS >= t) & (STEPS < t + 200)] = 0.3
    if wd >= 1e-1 and frac == 0.7 and hidden == "[32]":  # collapse: loses the fit for good
        train[STEPS >= 3500] = 0.3
    train_loss = np.log(P) * (1 - train) + 1e-4
    test_loss = np.log(P) * (1 - test) + 1e-4
    wn = 40 * np.exp(-STEPS * wd / 50) + 5 + seed
    if wd >= 1e-1 and frac == 0.7 and hidden == "[64]":  # diverge
        train_loss[STEPS >= 2500] = np.nan
        extra["nan"] = True
    return {
        "train_acc": train,
        "test_acc": test,
        "train_loss": train_loss,
        "test_loss": test_loss,
        "weight_norm": wn,
        **extra,
    }


def make_results(
    d: Path, grid: dict | None = None, plots: list | None = None, seeds=(0, 1), classify=True
) -> Path:
    """A results folder shaped like the engine's output (sweep.yaml, runs/curves parquet)."""
    grid = GRID3 if grid is None else grid
    d.mkdir(parents=True, exist_ok=True)
    base = {
        "optimizer.lr": 1e-3,
        "optimizer.weight_decay": 1e-2,
        "data.train_fraction": 0.5,
        "model.hidden": [32],
    }
    rows, curves = [], []
    points = list(itertools.product(*grid.values())) if grid else [()]
    for point in points:
        cfg = {**base, **dict(zip(grid, point, strict=True))}
        for seed in seeds:
            run_id = f"r{len(rows):04d}"
            hidden = json.dumps(cfg["model.hidden"])
            c = synth_run(cfg["optimizer.weight_decay"], cfg["data.train_fraction"], hidden, seed)
            c.pop("nan", None)
            curves.append(pd.DataFrame({"run_id": run_id, "step": STEPS, **c}))
            rows.append(
                {
                    "run_id": run_id,
                    "task.kind": "modular",
                    "task.op": "add",
                    "task.p": P,
                    "loss": "cross_entropy",
                    **{k: json.dumps(v) if isinstance(v, list) else v for k, v in cfg.items()},
                    "train.steps": int(STEPS[-1]),
                    "train.eval_every": 100,
                    "seed": seed,
                    "n_classes": P,
                    **{f"final_{k}": float(c[k][-1]) for k in c},
                    "final_weight_norm": float(c["weight_norm"][-1]),
                    "batch_wall_time": 1.0,
                }
            )
    runs = pd.DataFrame(rows)
    curves_df = pd.concat(curves, ignore_index=True)
    sweep = {
        "name": "synthetic",
        "task": {"kind": "modular", "op": "add", "p": P},
        "loss": "cross_entropy",
        "train": {"steps": int(STEPS[-1]), "eval_every": 100, "seeds": list(seeds)},
        "grid": grid,
        "classify": {},
        "plots": plots or [],
    }
    if classify:
        runs = classify_runs(runs, curves_df, ClassifySpec())
    (d / "sweep.yaml").write_text(yaml.safe_dump(sweep, sort_keys=False))
    runs.to_parquet(d / "runs.parquet", index=False)
    curves_df.to_parquet(d / "curves.parquet", index=False)
    return d


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("three_axes"))


@pytest.fixture(scope="module")
def drawn(folder) -> list[Path]:
    return draw_all(folder)


# --------------------------------------------------------------------------------------------
# Pure helpers


def test_log_spacing_detection():
    assert is_log_spaced([1e-4, 1e-3, 1e-2, 1e-1])
    assert is_log_spaced([1e-4, 3e-4, 1e-3, 3e-3, 1e-2])
    assert is_log_spaced([23, 47, 97])
    assert is_log_spaced([0.01, 1.0])
    assert not is_log_spaced([0.3, 0.5])
    assert not is_log_spaced([0.1, 0.2, 0.3, 0.4])
    assert not is_log_spaced([0.0, 1e-3, 1e-2])
    assert not is_log_spaced([100, 101, 102])
    runs = pd.DataFrame(
        {
            "wd": [1e-3, 1e-2, 1e-1],
            "frac": [0.2, 0.4, 0.6],
            "odd": [0.0, 1e-2, 1.0],
            "hidden": ["[64]", "[128]", "[32]"],
        }
    )
    assert make_axis(runs, "wd").scale == "log"
    assert make_axis(runs, "frac").scale == "linear"
    assert make_axis(runs, "odd").scale == "category"
    hidden = make_axis(runs, "hidden", {"hidden": [[32], [64], [128]]})
    assert hidden.scale == "category" and hidden.values == ("[32]", "[64]", "[128]")
    assert list(hidden.codes(runs["hidden"])) == [1, 2, 0]
    edges = make_axis(runs, "wd").edges()
    assert edges[1] == pytest.approx(np.sqrt(1e-3 * 1e-2))


def test_fmt():
    assert [fmt(v) for v in (1e-4, 3e-4, 0.25, 97, 1.0, 0.0, "[128]", 2500.0)] == [
        "1e-4",
        "3e-4",
        "0.25",
        "97",
        "1",
        "0",
        "[128]",
        "2500",
    ]


def test_axes_and_pairs():
    runs = pd.DataFrame({"a": [1, 2], "b": [3, 3], "seed": [0, 1], "final_test_acc": [0.1, 0.2]})
    with pytest.warns(UserWarning, match="zz"):
        assert grid_keys({"grid": {"a": [1, 2], "zz": [1]}}, runs) == ["a"]
    assert grid_keys({}, runs) == ["a"]  # inferred: varying hyperparameter columns
    assert plot_pairs({"plots": [{"x": "b", "y": "a"}]}, ["a", "b"]) == [("b", "a")]
    assert plot_pairs({}, ["a", "b", "c"]) == [("a", "b")]
    assert plot_pairs({}, ["a"]) == [("a", "seed")]
    assert plot_pairs({}, []) == []


def test_majority_vote_and_ties():
    cells = pd.DataFrame(
        {
            "_ix": [0, 0, 0, 1, 1],
            "_iy": [0, 0, 0, 0, 0],
            "phase": ["grok", "grok", "memorize", "memorize", "grok"],
        }
    )
    m = majority(cells)
    assert m.loc[(0, 0)].tolist() == ["grok", 2, 3]
    assert m.loc[(1, 0)].tolist() == ["grok", 1, 2]  # tie: PHASES order


# --------------------------------------------------------------------------------------------
# Figures


def test_draw_all_three_axes_with_facets(folder, drawn):
    names = {p.name for p in drawn}
    stem = "optimizer.weight_decay__data.train_fraction"
    expected = {
        f"phase__{stem}.png",
        f"map_t_gen__{stem}.png",
        f"map_final_test_acc__{stem}.png",
        f"map_grok_delay__{stem}.png",
        "curves.png",
        "lu.png",
        "index.html",
    }
    assert names == expected
    for p in drawn:
        assert p.parent == folder and p.exists()
        if p.suffix == ".png":
            assert_png(p)
    runs = pd.read_parquet(folder / "runs.parquet")
    assert set(PHASES) <= set(runs["phase"])  # the synthetic grid shows every phase
    assert runs["still_learning"].any()


def test_lu_figure_draws_zero_losses_at_the_floor(folder):
    runs, curves = (
        pd.read_parquet(folder / "runs.parquet"),
        pd.read_parquet(folder / "curves.parquet"),
    )
    # float32 underflow: the grok runs' train loss is exactly 0 from step 4000 on.
    zero = set(runs.loc[runs["phase"] == "grok", "run_id"])
    curves.loc[curves["run_id"].isin(zero) & (curves["step"] >= 4000), "train_loss"] = 0.0
    runs.loc[runs["run_id"].isin(zero), "final_train_loss"] = 0.0
    train_ax, test_ax = lu_figure(runs, curves).axes[:2]
    # Dots: every grok run's final state is drawn, at the floor.
    ys = np.concatenate([c.get_offsets()[:, 1] for c in train_ax.collections])
    assert (ys == LOSS_FLOOR).sum() == len(zero) and (ys >= LOSS_FLOOR).all()
    # Lines: each example grok run reaches the floor rather than dropping off the log axis.
    grok = [ln for ln in train_ax.get_lines() if ln.get_color() == PHASE_COLORS["grok"]]
    assert grok and all(np.nanmin(ln.get_ydata()) == LOSS_FLOOR for ln in grok)
    floor_lines = [ln for ln in train_ax.get_lines() if ln.get_linestyle() == ":"]
    assert len(floor_lines) == 1 and not any(ln.get_linestyle() == ":" for ln in test_ax.lines)


def test_index_html_links_and_counts(folder, drawn):
    page = (folder / "index.html").read_text()
    for p in drawn:
        if p.suffix == ".png":
            assert f"src='{p.name}'" in page  # relative: browsable with no server
    assert "file://" not in page and "http" not in page.replace("http-equiv", "")
    runs = pd.read_parquet(folder / "runs.parquet")
    for phase, n in runs["phase"].value_counts().items():
        assert f"{phase}</td><td>{n}</td>" in page
    assert "weight_decay" in page and "name: synthetic" in page  # sweep.yaml shown
    assert "grok_gap" in page  # classification settings shown


SMALL3 = {
    "optimizer.weight_decay": [1e-3, 1e-2],
    "data.train_fraction": [0.3, 0.7],
    "model.hidden": [[32], [64]],
}
ONE_AXIS = {"optimizer.weight_decay": [1e-4, 1e-3, 1e-2, 1e-1]}


def test_plots_entries_choose_axes(tmp_path):
    d = make_results(
        tmp_path / "r",
        grid=SMALL3,
        plots=[{"x": "data.train_fraction", "y": "model.hidden"}],
        seeds=(0,),
    )
    names = {p.name for p in draw_all(d)}
    assert "phase__data.train_fraction__model.hidden.png" in names
    assert not any("weight_decay__" in n for n in names)


def test_one_axis_and_no_axis(tmp_path):
    d1 = make_results(tmp_path / "one", grid=ONE_AXIS)
    names = {p.name for p in draw_all(d1)}
    assert "phase__optimizer.weight_decay__seed.png" in names
    for n in names - {"index.html"}:
        assert_png(d1 / n)
    d0 = make_results(tmp_path / "zero", grid={})
    names = {p.name for p in draw_all(d0)}
    assert names == {"curves.png", "lu.png", "index.html"}


def test_frames_given_directly_and_classified_in_memory(tmp_path):
    d = make_results(tmp_path / "given", grid=SMALL3, seeds=(0,), classify=False)
    runs, curves = pd.read_parquet(d / "runs.parquet"), pd.read_parquet(d / "curves.parquet")
    assert "phase" not in runs.columns
    spec = yaml.safe_load((d / "sweep.yaml").read_text())
    for name in ("runs.parquet", "curves.parquet", "sweep.yaml"):
        (d / name).unlink()
    paths = draw_all(d, runs=runs, curves=curves, spec=spec)
    assert len(paths) == 7 and all(p.exists() for p in paths)
    assert not (d / "runs.parquet").exists()  # classified in memory only
    assert "name: synthetic" in (d / "index.html").read_text()


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
    result = run_cli(str(d))
    assert result.returncode == 0, result.stderr
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


def test_cli_reclassify_subprocess_pair_rule(tmp_path):
    d = make_results(tmp_path / "pair", grid=SMALL3, seeds=(0,))
    curves_hash = sha(d / "curves.parquet")
    result = run_cli(str(d), "--classify", "rule=pair", "--classify", "pair_loss_scale=per_class")
    assert result.returncode == 0, result.stderr
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
    result = run_cli(str(tmp_path / "nope"), "--classify", "threshold=0.5")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "does not exist" in result.stderr
    result = run_cli(str(tmp_path), "--bogus")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
