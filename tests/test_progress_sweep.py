"""progress.parquet and the readout columns as a tiny sweep writes them."""

import json

import numpy as np
import pandas as pd
import pytest

import phasegrok
from phasegrok.config.load import ConfigError, load_sweep
from phasegrok.plan.runs import expand

pytestmark = pytest.mark.training  # trains real (tiny) sweeps

SWEEP = {
    "name": "progress",
    "task": {"kind": "modular", "op": "add", "p": 11},
    "data": {"train_fraction": 0.5},
    "model": {"embed_dim": 8, "hidden": [16]},
    "optimizer": {"lr": 3.0e-3, "weight_decay": 1.0},
    "train": {"steps": 40, "eval_every": 20, "seeds": 2, "save_params_at": [20]},
    "analysis": {"fourier_top_k": 2},
}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("progress") / "on"
    phasegrok.run_sweep(SWEEP, out, progress=False, plots=False)
    return out


def test_a_sweep_writes_progress_measures_at_every_saved_step(swept):
    out = swept
    runs = pd.read_parquet(out / "runs.parquet")
    progress = pd.read_parquet(out / "progress.parquet")
    curves = pd.read_parquet(out / "curves.parquet")
    assert sorted(progress.groupby("run_id")["step"].apply(list).tolist()) == [[20, 40]] * 2
    assert progress[["restricted_loss", "excluded_loss", "full_loss"]].notna().all().all()
    # The excluded loss is over the run's own training pairs: the full logits' loss on the
    # same pairs is the curves' train loss, and off them the test loss.
    both = progress.merge(curves, on=["run_id", "step"], suffixes=("", "_curve"))
    np.testing.assert_allclose(both["train_loss"], both["train_loss_curve"], rtol=1e-4)
    np.testing.assert_allclose(both["test_loss"], both["test_loss_curve"], rtol=1e-4)
    last = progress.loc[progress["step"] == 40].set_index("run_id")
    np.testing.assert_allclose(
        runs.set_index("run_id")["final_restricted_loss"], last["restricted_loss"]
    )
    assert curves["readout_top_k_share"].between(0, 1).all()
    assert runs["final_readout_top_k_share"].between(0, 1).all()
    for _, row in runs.iterrows():
        assert len(row["readout_key_frequencies"]) == 2
        overlap = len(set(row["key_frequencies"]) & set(row["readout_key_frequencies"])) / 2
        assert row["key_frequency_overlap"] == overlap
        counts = json.loads(row["units_per_frequency"])
        assert 0 < sum(counts.values()) <= 16 and list(counts.values()) == sorted(
            counts.values(), reverse=True
        )


def test_progress_measures_off(tmp_path):
    sweep = {**SWEEP, "analysis": {"fourier_top_k": 2, "progress_measures": False}}
    out = tmp_path / "off"
    runs = phasegrok.run_sweep(sweep, out, progress=False, plots=False).runs
    assert not (out / "progress.parquet").exists()
    assert not list((out / "parts").glob("*.progress.parquet"))
    assert runs["final_restricted_loss"].isna().all()
    assert runs["units_per_frequency"].notna().all()  # the cheap lens columns stay
    # The switch decides what is measured, not the runs: their ids do not change.
    assert {r.run_id for r in expand(load_sweep(sweep))} == {
        r.run_id for r in expand(load_sweep(SWEEP))
    }


def test_progress_measures_is_not_a_grid_axis():
    with pytest.raises(ConfigError, match="analysis.progress_measures"):
        load_sweep({**SWEEP, "grid": {"analysis.progress_measures": [True, False]}})


def test_the_gallery_shows_each_lens_runs_trajectory_beside_its_star(swept):
    from phasegrok.report import draw_all

    written = {p.name for p in draw_all(swept, workers=1)}
    stars = sorted(n.removeprefix("star__") for n in written if n.startswith("star__"))
    trajectories = sorted(n.removeprefix("trajectory__") for n in written if "trajectory__" in n)
    assert stars and trajectories == stars
    assert "units_per_frequency.png" in written
    page = (swept / "index.html").read_text()
    for name in stars:  # in the run's group, right after its star
        assert page.index(f"trajectory__{name}") > page.index(f"star__{name}")
    assert "restricted loss" in page
