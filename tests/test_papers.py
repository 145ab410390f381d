"""The paper presets of sweeps/papers/ (issue #14, part b): every preset and its quick variant
validates, the quick variants are small, each reference table fits its preset, and the MNIST
quick preset trains in-process on a small stand-in file."""

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import phasegrok
from phasegrok.config.schema import PHASES
from phasegrok.sweep import main

PAPERS = Path(__file__).resolve().parents[1] / "sweeps" / "papers"
NAMES = ["liu-toy", "omnigrok-init", "power-fraction", "omnigrok-mnist", "nanda-p113"]
FILES = [f"{n}{v}.yaml" for n in NAMES for v in ("", "-quick")] + ["power-fraction-gpu.yaml"]
# A quick variant's runs x steps: ~3 min on a 2-core CPU at most (liu-toy-quick: 48 runs of a
# tiny MLP, 2e4 steps each; cells or steps are cut before seeds are).
MODEL_STEPS = 1_000_000


def _load(name: str) -> dict:
    return yaml.safe_load((PAPERS / name).read_text())


def _without_reference(sweep: dict) -> dict:
    """The sweep minus `reference:`, which only `phasegrok.compare` reads."""
    return {k: v for k, v in sweep.items() if k != "reference"}


def _stand_in(path: Path, n_train: int = 1000) -> Path:
    """A random file of MNIST's shapes (fewer test images): what an arrays preset reads."""
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.random((n_train, 28, 28), dtype=np.float32),
        y_train=rng.integers(0, 10, n_train),
        x_test=rng.random((40, 28, 28), dtype=np.float32),
        y_test=rng.integers(0, 10, 40),
    )
    return path


def _dry_run(sweep: dict, tmp_path: Path, capsys) -> int:
    """Runs of `sweep` by the CLI's --dry-run, in-process; asserts it validated. An arrays
    preset reads a stand-in for its data file."""
    sweep = copy.deepcopy(_without_reference(sweep))
    if sweep["task"]["kind"] == "arrays":
        sweep["task"]["path"] = str(_stand_in(tmp_path / "stand-in.npz"))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    assert main([str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    return int(re.search(r": (\d+) runs", out).group(1))


@pytest.mark.parametrize("name", FILES)
def test_every_preset_validates_and_names_its_reference(name, tmp_path, capsys):
    sweep = _load(name)
    assert sweep["name"] == name.removesuffix(".yaml")
    assert _dry_run(sweep, tmp_path, capsys) > 0
    ref = pd.read_csv(PAPERS / sweep["reference"])
    axes = [c for c in ref.columns if c in sweep["grid"]]
    assert axes, f"{name}: no reference column is a grid axis"
    extra = set(ref.columns) - set(axes) - {"seed", "count", "source", "rule", "note", "phase"}
    assert extra <= {"t_fit", "t_gen", "grok_delay", "final_test_acc", "predicted_t_gen"}, extra
    assert set(ref["source"]) <= {"data", "figure"}
    if "phase" in ref:
        assert set(ref["phase"]) <= set(PHASES)
    assert not ref.duplicated(axes).any()


@pytest.mark.parametrize("path", sorted(PAPERS.glob("*-quick.yaml")), ids=lambda p: p.stem)
def test_quick_variants_count_three_seeds_from_zero(path):
    """Every seed counts: at least 3, numbered from 0, fixed in the file before any run."""
    seeds = yaml.safe_load(path.read_text())["train"]["seeds"]
    assert (seeds if isinstance(seeds, int) else len(seeds)) >= 3
    assert isinstance(seeds, int) or list(seeds) == list(range(len(seeds)))


@pytest.mark.parametrize("name", NAMES)
def test_quick_variants_are_small(name, tmp_path, capsys):
    quick = _load(f"{name}-quick.yaml")
    runs = _dry_run(quick, tmp_path, capsys)
    assert runs * quick["train"]["steps"] <= MODEL_STEPS
    full = _load(f"{name}.yaml")
    full_steps = _dry_run(full, tmp_path, capsys) * full["train"]["steps"]
    assert runs * quick["train"]["steps"] < full_steps
    header = (PAPERS / f"{name}-quick.yaml").read_text().split("\nname:")[0]
    assert "WHAT IS CUT" in header


def test_the_liu_reference_is_their_whole_grid():
    ref = pd.read_csv(PAPERS / "ref" / "liu-toy.csv")
    assert len(ref) == 16 * 11 and (ref["count"] == 1).all() and (ref["source"] == "data").all()
    # Their rule: a gap under 1e3 steps is comprehension, over it grokking.
    both = ref.dropna(subset=["t_fit", "t_gen"])
    gap = both["t_gen"] - both["t_fit"]
    assert ((gap < 1000) == (both["phase"] == "comprehend")).all()
    assert set(ref["phase"]) == {"comprehend", "grok", "memorize", "confuse"}


def test_the_mnist_quick_preset_trains_on_a_stand_in_file(tmp_path):
    stand_in = _stand_in(tmp_path / "mnist.npz", n_train=96)
    sweep = copy.deepcopy(_without_reference(_load("omnigrok-mnist-quick.yaml")))
    sweep["task"]["path"] = str(stand_in)
    sweep["data"]["train_size"] = 64
    sweep["model"]["hidden"] = [16, 16]
    sweep["optimizer"]["batch_size"] = 32
    sweep["train"].update(steps=20, eval_every=10)
    out = tmp_path / "out"
    phasegrok.run_sweep(sweep, out, progress=False, plots=False)
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 4 * 3 and set(runs["phase"]) <= set(PHASES)  # 2 x 2 cells, 3 seeds
    for column in ("t_fit", "t_gen", "grok_delay", "final_test_acc", "model.init_scale"):
        assert column in runs.columns
    assert sorted(runs["model.init_scale"]) == [1.0] * 6 + [8.0] * 6
    assert (runs["n_classes"] == 10).all()
    ref = pd.read_csv(PAPERS / "ref" / "omnigrok-mnist.csv")
    cells = set(zip(runs["model.init_scale"], runs["optimizer.weight_decay"], strict=True))
    assert cells == set(zip(ref["model.init_scale"], ref["optimizer.weight_decay"], strict=True))
