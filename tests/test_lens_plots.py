"""Figures of the mechanistic lens, from synthetic results folders with stored parameters.

tests/test_lens_data.py checks the data behind the star figure."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
from conftest import assert_png, run_cli, run_figure
from synthetic_lens import K_BITS, make_folder

from phasegrok.analysis.results import with_frames
from phasegrok.lens import fourier as lens
from phasegrok.plot import main as plot_main
from phasegrok.report import LensWarning, draw_all
from phasegrok.report.lens_section import draw_run, lens_maps, lens_run_ids
from phasegrok.report.parallel import recording, replay
from phasegrok.store.parts import load_params, param_steps


def pick_runs(runs: pd.DataFrame) -> list[str]:
    """The report's example runs: one per phase present."""
    return lens_run_ids(runs, {}, None)


def run_jobs(d: Path, runs: pd.DataFrame, curves: pd.DataFrame, ids, label=None):
    """The per-run lens figures of these frames, drawn into `d`: [(head, [file names])]."""
    results = with_frames(d, runs, curves, {})
    groups = [draw_run(results, r, ids is not None, []) for r in lens_run_ids(runs, {}, ids)]
    return [(head, [path.name for path, _ in drawn]) for head, drawn in groups if drawn]


@pytest.fixture(scope="module")
def modular(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("lens_modular"), "modular")


@pytest.fixture(scope="module")
def parity(tmp_path_factory) -> Path:
    grid = {"optimizer.weight_decay": [1e-3, 1e-1]}
    return make_folder(tmp_path_factory.mktemp("lens_parity"), "parity", grid)


# --------------------------------------------------------------------------------------------
# Figures


def test_runs_without_a_cyclic_group_get_no_lens_figures(modular):
    runs = pd.read_parquet(modular / "runs.parquet").assign(**{"task.op": "add"})
    curves = pd.read_parquet(modular / "curves.parquet")
    target = pick_runs(runs)[0]
    runs.loc[runs["run_id"] == target, "task.op"] = "square_sum"
    with pytest.warns(LensWarning, match="no cyclic group"):
        assert run_jobs(modular, runs, curves, [target], str) == []
    examples = run_jobs(modular, runs, curves, None, str)
    assert examples and not any(target in head for head, _ in examples)
    assert all("Blank cells" in caption for _, caption in lens_maps(runs, {}))
    assert len(lens_maps(runs, {})) == 2
    assert lens_maps(runs.assign(**{"task.op": "square_sum"}), {}) == []
    assert lens_maps(runs.assign(**{"task.op": "mul", "task.p": 12}), {}) == []


def test_modular_folder_draws_every_lens_figure(modular):
    runs = pd.read_parquet(modular / "runs.parquet")
    assert {"comprehend", "grok", "memorize"} <= set(runs["phase"])
    assert param_steps(modular)[runs["run_id"].iloc[0]] == [0, 1000, 2500, 5000]
    paths = draw_all(modular)
    names = {p.name for p in paths}
    stem = "optimizer.weight_decay__data.train_fraction"
    assert f"map_final_fourier_top_k_share__{stem}.png" in names
    assert f"map_final_fourier_gini__{stem}.png" in names
    assert not any("relevant" in n or n.startswith("weights__") for n in names)
    picked = pick_runs(runs)
    assert len(picked) == runs["phase"].nunique()
    for run_id in picked:
        phase = runs.loc[runs["run_id"] == run_id, "phase"].iloc[0]
        for prefix in ("spectrum", "star", "lens_curve"):
            name = run_figure(names, prefix, run_id)
            # Named by phase and grid point as well as the run id: findable in the folder.
            assert name and name.startswith(f"{prefix}__{phase}__wd"), (prefix, run_id, names)
            assert "_frac" in name and "__s" in name
    for p in paths:
        assert p.exists()
        if p.suffix == ".png":
            assert_png(p)
    page = (modular / "index.html").read_text()
    assert "Mechanistic lens" in page
    for p in paths:
        if p.suffix == ".png":
            assert f"src='{p.name}'" in page
    assert "http" not in page


def test_parity_folder_draws_weights_and_maps(parity):
    paths = draw_all(parity)
    names = {p.name for p in paths}
    stem = "optimizer.weight_decay__seed"
    assert f"map_final_relevant_weight_share__{stem}.png" in names
    assert f"map_final_irrelevant_units__{stem}.png" in names
    assert not any(n.startswith(("spectrum__", "star__")) for n in names)
    runs = pd.read_parquet(parity / "runs.parquet")
    for run_id in pick_runs(runs):
        assert run_figure(names, "weights", run_id) and run_figure(names, "lens_curve", run_id)
    for p in paths:
        if p.suffix == ".png":
            assert_png(p)
    # The stored kernels are what the figure reads: the generalizing run pruned its inputs.
    grok = runs.loc[runs["phase"] != "memorize", "run_id"].iloc[0]
    share, irrelevant = lens.parity_lens(
        lens.parity_first_kernel(load_params(parity, grok)), K_BITS, 0.05
    )
    assert share > 0.99 and irrelevant == 0


def test_cli_run_option_draws_that_run(modular):
    runs = pd.read_parquet(modular / "runs.parquet")
    run_id = runs.loc[runs["phase"] == "grok", "run_id"].iloc[-1]
    for old in modular.glob("*__*.png"):
        old.unlink()
    # A subprocess: `python -m phasegrok.plot` draws in forked workers (no JAX loaded there).
    result = run_cli(str(modular), "--run", run_id)
    assert result.returncode == 0, result.stderr
    for prefix in ("spectrum", "star", "lens_curve"):
        assert_png(modular / run_figure(modular, prefix, run_id))
    others = set(runs["run_id"]) - {run_id}
    assert not any(run_figure(modular, "star", r) for r in others)
    page = (modular / "index.html").read_text()
    assert run_figure(modular, "star", run_id) in page


def test_cli_unknown_run_is_one_line_exit_2(parity, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in parity.iterdir()}
    assert plot_main([str(parity), "--run", "p000", "--run", "nope-42"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope-42" in err
    assert {p.name: p.stat().st_mtime_ns for p in parity.iterdir()} == before


def test_a_run_without_parameters_keeps_its_lens_curve_and_warns(parity):
    runs = pd.read_parquet(parity / "runs.parquet")
    curves = pd.read_parquet(parity / "curves.parquet")
    source = runs["run_id"].iloc[0]
    ghost = runs.iloc[[0]].assign(run_id="ghost")
    ghost_curve = curves.loc[curves["run_id"] == source].assign(run_id="ghost")
    runs, curves = pd.concat([runs, ghost]), pd.concat([curves, ghost_curve])
    with pytest.warns(LensWarning, match="ghost"):
        groups = run_jobs(parity, runs, curves, ["ghost"], str)
    [(head, names)] = groups
    phase, seed = ghost["phase"].iloc[0], ghost["seed"].iloc[0]
    assert "ghost" in head and names == [f"lens_curve__{phase}__s{seed}__ghost.png"]  # no keys
    with pytest.raises(ValueError, match="nope"):
        run_jobs(parity, runs, curves, ["nope"], str)


def test_warnings_of_a_worker_reach_the_caller():
    def skip(run_id: str) -> str:
        warnings.warn(f"run {run_id}: skipped", LensWarning, stacklevel=2)
        return run_id

    result, caught = recording(skip, "r7")
    assert result == "r7" and caught == [("run r7: skipped", LensWarning)]
    with pytest.warns(LensWarning, match="r7"):
        replay(caught)


def test_drawing_in_forked_workers_writes_the_same_files(parity, tmp_path):
    import shutil
    import subprocess
    import sys

    # In a fresh process: JAX, loaded in this one by other tests, must not be forked.
    copy = shutil.copytree(parity, tmp_path / "copy")
    code = (
        "import sys; from phasegrok.report import draw_all;"
        " print('\\n'.join(sorted(p.name for p in draw_all(sys.argv[1], workers=2))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(copy)], capture_output=True, text=True, check=True
    )
    one = sorted(p.name for p in draw_all(parity, workers=1))
    assert proc.stdout.split() == one


def test_replot_of_an_older_folder_writes_the_new_names(modular, tmp_path):
    import shutil

    d = shutil.copytree(modular, tmp_path / "older")
    runs = pd.read_parquet(d / "runs.parquet")
    picked = pick_runs(runs)
    draw_all(d, workers=1)
    # As an older version named them: '<kind>__<run_id>.png'.
    for run_id in picked:
        for kind in ("spectrum", "star", "lens_curve"):
            (d / run_figure(d, kind, run_id)).rename(d / f"{kind}__{run_id}.png")
    other = next(r for r in runs["run_id"] if r not in picked)
    (d / f"star__{other}.png").write_bytes((d / f"star__{picked[0]}.png").read_bytes())
    assert plot_main([str(d)]) == 0
    names = {p.name for p in d.iterdir()}
    page = (d / "index.html").read_text()
    for run_id in picked:
        row = runs.loc[runs["run_id"] == run_id].iloc[0]
        for kind in ("spectrum", "star", "lens_curve"):
            assert f"{kind}__{run_id}.png" not in names  # replaced, not left beside
            name = run_figure(names, kind, run_id)
            assert name.startswith(f"{kind}__{row['phase']}__") and f"__s{row['seed']}__" in name
            assert f"href='{name}'" in page and f"#{name.removesuffix('.png')}" in page
        assert f"<h3>{row['phase']} run, wd=" in page  # the run's heading: phase, coordinates
    assert f"star__{other}.png" in names  # not a run drawn now: left alone
