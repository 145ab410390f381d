"""The lens metrics as the engine computes them during training."""

import numpy as np
import pandas as pd
import pytest

import phasegrok
from phasegrok.config.load import load_sweep
from phasegrok.engine import batch as engine
from phasegrok.plan.runs import Batch, expand

pytestmark = pytest.mark.training  # trains real sweeps: the long tests


def _train(sweep):
    runs = expand(load_sweep(sweep))
    return engine.execute_batch(Batch("lens", runs[0].static, tuple(runs)))


def _column(result, name):
    return result.metrics[:, :, result.metric_names.index(name)]


def test_circular_embedding_reports_exactly_its_frequencies():
    result = _train(
        {
            "task": {"kind": "modular", "p": 17},
            "model": {"embedding": "circular", "circular_freqs": [3, 7], "hidden": [16]},
            "analysis": {"fourier_top_k": 2},
            "train": {"steps": 20, "eval_every": 10, "seeds": 2},
        }
    )
    assert [sorted(k) for k in result.key_frequencies.tolist()] == [[3, 7], [3, 7]]
    np.testing.assert_allclose(_column(result, "fourier_top_k_share"), 1.0, atol=1e-4)


def test_random_initialization_reports_about_the_uniform_share():
    result = _train(
        {
            "task": {"kind": "modular", "p": 59},
            "model": {"embed_dim": 64, "hidden": [512]},
            "train": {"steps": 10, "eval_every": 10, "seeds": 2},
        }
    )
    uniform = 5 / (59 // 2)
    at_init = _column(result, "fourier_top_k_share")[:, 0]
    assert ((at_init > uniform) & (at_init < 1.3 * uniform)).all(), at_init


def test_parity_lens_is_tracked_at_every_eval(tiny_parity):
    result = _train(tiny_parity)
    share = _column(result, "relevant_weight_share")
    units = _column(result, "irrelevant_units")
    assert ((share > 0) & (share < 1)).all()
    assert share[:, 0] == pytest.approx(2 / 8, abs=0.15)  # random init: ~k / n_bits
    assert ((units >= 0) & (units <= 16)).all()


def test_generalizing_runs_concentrate_on_few_frequencies(tmp_path):
    """A real sweep at p = 59: grok/comprehend runs are Fourier-sparse, memorizers are not."""
    sweep = {
        "name": "fourier",
        "task": {"kind": "modular", "op": "add", "p": 59},
        "model": {"embed_dim": 32, "hidden": [64]},
        "optimizer": {"lr": 2.0e-2},
        "train": {"steps": 2000, "eval_every": 50, "seeds": 2},
        "classify": {"grok_gap": 200},
        # No weight decay memorizes; weight decay 1 groks (0.5) or comprehends (0.7).
        "grid": {"optimizer.weight_decay": [0.0, 1.0], "data.train_fraction": [0.5, 0.7]},
    }
    runs = phasegrok.run_sweep(sweep, tmp_path / "fourier", progress=False, plots=False).runs
    general = runs[runs["phase"].isin(["grok", "comprehend"])]
    memorize = runs[runs["phase"] == "memorize"]
    assert len(general) >= 2 and len(memorize) >= 2, runs["phase"].tolist()
    ratio = (
        general["final_fourier_top_k_share"].mean() / memorize["final_fourier_top_k_share"].mean()
    )
    assert ratio >= 1.5, ratio
    assert isinstance(
        pd.read_parquet(tmp_path / "fourier" / "runs.parquet")["key_frequencies"][0][0], np.integer
    )


def test_ops_without_a_cyclic_group_leave_the_lens_blank(tmp_path):
    """square_sum next to add in one sweep: its lens columns are blank, its figures skipped."""
    sweep = {
        "name": "blank-lens",
        "task": {"kind": "modular", "p": 13},
        "data": {"train_fraction": 0.5},
        "model": {"embed_dim": 8, "hidden": [16]},
        "train": {"steps": 20, "eval_every": 10, "seeds": 1},
        "grid": {"task.op": ["add", "square_sum"], "optimizer.weight_decay": [0.1, 1.0]},
    }
    out = tmp_path / "blank"
    results = phasegrok.run_sweep(sweep, out, progress=False)
    runs = pd.read_parquet(out / "runs.parquet")
    curves = pd.read_parquet(out / "curves.parquet")
    blank = runs["task.op"] == "square_sum"
    assert blank.sum() == 2 and (~blank).sum() == 2
    for name in ("fourier_top_k_share", "fourier_gini"):
        assert runs.loc[blank, f"final_{name}"].isna().all()
        assert runs.loc[~blank, f"final_{name}"].between(0, 1).all()
        by_run = curves.set_index("run_id")[name]
        assert by_run.loc[runs.loc[blank, "run_id"]].isna().all()
        assert by_run.loc[runs.loc[~blank, "run_id"]].notna().all()
    assert runs.loc[blank, "key_frequencies"].isna().all()
    assert all(len(k) == 5 for k in runs.loc[~blank, "key_frequencies"])
    assert results.runs["final_train_acc"].notna().all()
    # No lens figure of a square_sum run; the add runs are the examples (one per phase).
    stars = {p.name.removesuffix(".png").rsplit("__", 1)[-1] for p in out.glob("star__*")}
    assert stars and stars <= set(runs.loc[~blank, "run_id"])
    assert len(stars) == runs.loc[~blank, "phase"].nunique()
    for run_id in runs.loc[blank, "run_id"]:
        assert not list(out.glob(f"*__{run_id}.png"))
    assert list(out.glob("map_final_fourier_top_k_share__*.png"))  # blank cells for square_sum


def test_mul_lens_in_training_matches_the_figures_recomputation(tmp_path):
    """The engine (jax.numpy, in training) and the figures (NumPy, from stored params) read a
    mul run over the same discrete-log group."""
    from phasegrok.lens.figure_data import power_spectrum
    from phasegrok.lens.fourier import as_float64, facts_of, values
    from phasegrok.lens.readout import readout_metrics
    from phasegrok.store.parts import load_params

    sweep = {
        "name": "mul-lens",
        "task": {"kind": "modular", "op": "mul", "p": 13},
        "data": {"train_fraction": 0.5},
        "model": {"embed_dim": 8, "hidden": [16]},
        "train": {"steps": 20, "eval_every": 10, "seeds": 2},
        "analysis": {"fourier_top_k": 2},
    }
    out = tmp_path / "mul"
    runs = phasegrok.run_sweep(sweep, out, progress=False, plots=False).runs
    for _, row in runs.iterrows():
        params = load_params(out, row["run_id"])
        found = values(row, params)
        assert found["fourier_top_k_share"] == pytest.approx(
            row["final_fourier_top_k_share"], abs=1e-4
        )
        assert found["fourier_gini"] == pytest.approx(row["final_fourier_gini"], abs=1e-4)
        power = power_spectrum(row, params)
        assert len(power) == 6  # (p - 1) // 2
        assert list(row["key_frequencies"]) == (np.argsort(-power)[:2] + 1).tolist()
        # The readout lens reads the classes over the same group, in training as from params.
        found = float(readout_metrics(facts_of(row), as_float64(params))[0])
        assert found == pytest.approx(row["final_readout_top_k_share"], abs=1e-4)
        assert np.isfinite(row["final_restricted_loss"])  # over the (p - 1)^2 group pairs
