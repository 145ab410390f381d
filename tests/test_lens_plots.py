"""Figures of the mechanistic lens, from synthetic results folders with stored parameters."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import assert_png, run_cli

from phasegrok import cyclic, lens
from phasegrok.classify import ClassifySpec, classify_runs
from phasegrok.lens import facts_of
from phasegrok.lens_data import star_points, token_circle
from phasegrok.parts import load_params, param_steps
from phasegrok.plot import main as plot_main
from phasegrok.report import LensWarning, draw_all
from phasegrok.report.lens_figures import spectrum_figure, star_figure
from phasegrok.report.lens_section import draw_run, lens_maps, lens_run_ids
from phasegrok.report.parallel import recording, replay
from phasegrok.results import with_frames
from phasegrok.store import write_batch


def pick_runs(runs: pd.DataFrame) -> list[str]:
    """The report's example runs: one per phase present."""
    return lens_run_ids(runs, {}, None)


def run_jobs(d: Path, runs: pd.DataFrame, curves: pd.DataFrame, ids, label=None):
    """The per-run lens figures of these frames, drawn into `d`: [(head, [file names])]."""
    results = with_frames(d, runs, curves, {})
    groups = [draw_run(results, r, ids is not None, []) for r in lens_run_ids(runs, {}, ids)]
    return [(head, [path.name for path, _ in drawn]) for head, drawn in groups if drawn]


STEPS = np.arange(0, 5001, 250)
P, D, WIDTH = 31, 12, 24
N_BITS, K_BITS, P_WIDTH = 12, 3, 32
GRID = {"optimizer.weight_decay": [1e-3, 1e-1], "data.train_fraction": [0.3, 0.7]}


def sigmoid(t0: float, width: float = 150.0) -> np.ndarray:
    return 1 / (1 + np.exp(np.clip((t0 - STEPS) / width, -50, 50)))


def circle_params(
    freqs_of_units: np.ndarray, rng: np.random.Generator, noise: float = 0.0, op: str = "add"
) -> dict[str, np.ndarray]:
    """A learned-embedding, concat model whose unit u reads frequency freqs_of_units[u] only,
    over `op`'s group index j (the token for add, log_g a for mul; token 0 then left as noise)."""
    freqs = sorted(set(freqs_of_units.tolist()))
    tokens = cyclic.group_tokens(op, P)
    j = np.arange(len(tokens))[:, None]
    table = noise * rng.normal(size=(P, D))
    angles = 2 * np.pi * j * np.asarray(freqs)[None, :] / len(tokens)
    table[tokens, : 2 * len(freqs)] = np.concatenate([np.cos(angles), np.sin(angles)], axis=1)
    kernel = noise * rng.normal(size=(2 * D, len(freqs_of_units)))
    for u, f in enumerate(freqs_of_units):
        j = freqs.index(f)
        for block in (0, D):  # the left operand's rows, then the right's
            kernel[block + j, u] = rng.normal()
            kernel[block + len(freqs) + j, u] = rng.normal()
    return {
        "embedding": table.astype(np.float32),
        "first_kernel": kernel.astype(np.float32),
        "first_bias": np.zeros(len(freqs_of_units), np.float32),
        "readout": {
            "kernel": rng.normal(size=(len(freqs_of_units), P)).astype(np.float32),
            "bias": np.zeros(P, np.float32),
        },
    }


def random_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "embedding": rng.normal(size=(P, D)).astype(np.float32),
        "first_kernel": rng.normal(size=(2 * D, WIDTH)).astype(np.float32) / np.sqrt(2 * D),
        "first_bias": np.zeros(WIDTH, np.float32),
        "readout": {
            "kernel": rng.normal(size=(WIDTH, P)).astype(np.float32),
            "bias": np.zeros(P, np.float32),
        },
    }


def parity_kernel(rng: np.random.Generator, prune: float) -> np.ndarray:
    """(n_bits, width): label-bit rows at full size, irrelevant rows scaled by `prune`."""
    w = rng.normal(size=(N_BITS, P_WIDTH)) * 0.5
    w[K_BITS:] *= prune
    return w.astype(np.float32)


def stack(trees: list[dict]) -> dict:
    """Per-run trees to one tree with a leading run axis, as the engine hands them to the store."""
    if isinstance(trees[0], dict):
        return {key: stack([t[key] for t in trees]) for key in trees[0]}
    return np.stack(trees)


def _phase_curves(kind: str, t_fit: float, t_gen: float, test_hi: float) -> dict:
    train = 0.02 + 0.98 * sigmoid(t_fit)
    gen = sigmoid(t_gen)
    test = 0.02 + (test_hi - 0.02) * gen
    n_classes = P if kind == "modular" else 2
    out = {
        "train_acc": train,
        "test_acc": test,
        "train_loss": np.log(n_classes) * (1 - train) + 1e-4,
        "test_loss": np.log(n_classes) * (1 - test) + 1e-4,
        "weight_norm": 40 * np.exp(-STEPS / 3000) + 5,
    }
    if kind == "modular":
        uniform = 5 / (P // 2)
        out["fourier_top_k_share"] = uniform + (0.97 - uniform) * gen + 0.01 * np.sin(STEPS)
        out["fourier_gini"] = 0.12 + 0.8 * gen
    else:
        out["relevant_weight_share"] = K_BITS / N_BITS + (1 - K_BITS / N_BITS) * gen
        out["irrelevant_units"] = np.round(P_WIDTH * (1 - gen))
    return out


def make_folder(d: Path, kind: str, grid: dict | None = None) -> Path:
    """A results folder as the engine writes it, lens columns and stored parameters included."""
    grid = GRID if grid is None else grid
    d.mkdir(parents=True, exist_ok=True)
    (d / "parts").mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    rows, curves, trees = [], [], {}
    saved = [0, 1000, 2500, int(STEPS[-1])]
    for point in itertools.product(*grid.values()):
        cfg = dict(zip(grid, point, strict=True))
        wd, frac = cfg["optimizer.weight_decay"], cfg.get("data.train_fraction", 0.7)
        run_id = f"{kind[0]}{len(rows):03d}"
        if wd >= 1e-1:
            t_gen, test_hi, learned = 600.0, 1.0, True  # comprehend
        elif frac >= 0.5:
            t_gen, test_hi, learned = 3000.0, 1.0, True  # grok
        else:
            t_gen, test_hi, learned = 1e9, 0.3, False  # memorize
        c = _phase_curves(kind, 300.0, t_gen, test_hi)
        curves.append(pd.DataFrame({"run_id": run_id, "step": STEPS, **c}))
        row = {
            "run_id": run_id,
            "task.kind": kind,
            "task.p": P if kind == "modular" else None,
            "task.n_bits": N_BITS if kind == "parity" else None,
            "task.k": K_BITS if kind == "parity" else None,
            "model.embedding": "learned",
            "model.circular_freqs": None,
            "model.combine": "concat",
            "model.hidden": f"[{WIDTH if kind == 'modular' else P_WIDTH}]",
            "loss": "cross_entropy",
            **cfg,
            "train.steps": int(STEPS[-1]),
            "train.eval_every": int(STEPS[1]),
            "train.save_params_at": str(saved[:-1]),
            "seed": 0,
            "n_classes": P if kind == "modular" else 2,
            **{f"final_{k}": float(v[-1]) for k, v in c.items()},
        }
        for step in saved:
            if kind == "modular":
                if learned and step >= t_gen:
                    freqs = np.array([5, 11, 5, 11, 14, 5][: 2 + (wd >= 1e-1)])
                    tree = circle_params(rng.choice(freqs, WIDTH), rng, noise=0.05)
                else:
                    tree = random_params(rng)
            else:
                prune = max(0.01, 1 - step / t_gen) if learned else 1.0
                tree = {
                    "Dense_0": {
                        "kernel": parity_kernel(rng, prune).T,  # stored (width, n_bits)
                        "bias": np.zeros(P_WIDTH, np.float32),
                    },
                    "Dense_1": {
                        "kernel": rng.normal(size=(2, P_WIDTH)).astype(np.float32),
                        "bias": np.zeros(2, np.float32),
                    },
                }
            trees.setdefault(step, []).append(tree)
        if kind == "modular":
            power = sum(
                lens.frequency_power(m)
                for m in lens.token_maps(
                    tree["embedding"], tree["first_kernel"], "concat"
                )  # the final step's tree
            )
            row["key_frequencies"] = np.asarray(lens.key_frequencies(power, 5), dtype=np.int64)
        rows.append(row)
    runs = pd.DataFrame(rows).dropna(axis=1, how="all")
    curves_df = pd.concat(curves, ignore_index=True)
    runs = classify_runs(runs, curves_df, ClassifySpec())
    params = {step: stack(ts) for step, ts in trees.items()}
    write_batch(d, "b0000", runs, curves_df, params, {"batch": 0})
    sweep = {
        "name": f"synthetic-{kind}",
        "task": {"kind": kind},
        "train": {"steps": int(STEPS[-1]), "seeds": 1, "save_params_at": saved[:-1]},
        "grid": grid,
        "analysis": {"fourier_top_k": 5, "irrelevant_threshold": 0.05},
        "classify": {},
        "plots": [],
    }
    (d / "sweep.yaml").write_text(yaml.safe_dump(sweep, sort_keys=False))
    runs.to_parquet(d / "runs.parquet", index=False)
    curves_df.to_parquet(d / "curves.parquet", index=False)
    return d


@pytest.fixture(scope="module")
def modular(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("lens_modular"), "modular")


@pytest.fixture(scope="module")
def parity(tmp_path_factory) -> Path:
    grid = {"optimizer.weight_decay": [1e-3, 1e-1]}
    return make_folder(tmp_path_factory.mktemp("lens_parity"), "parity", grid)


# --------------------------------------------------------------------------------------------
# The data behind the star


def test_star_of_an_exact_two_frequency_model():
    rng = np.random.default_rng(1)
    assigned = rng.choice([4, 9], WIDTH)
    params = circle_params(assigned, rng)
    row = {"task.p": P, "model.embedding": "learned", "model.combine": "concat"}
    pts = star_points(row, params)
    assert set(pts["operand"]) == {"left", "right"}
    assert set(pts["freq"]) == {4, 9}
    for op in ("left", "right"):
        sub = pts.loc[pts["operand"] == op].sort_values("unit")
        assert sub["freq"].tolist() == assigned.tolist()  # each unit on its own frequency
        assert np.allclose(sub["purity"], 1.0, atol=1e-6)
        # x, y are the projections onto cos / sin of f_u: a_u p / 2, b_u p / 2 here.
        rows = np.asarray([4, 9])
        j = (sub["freq"].to_numpy() == rows[1]).astype(int)
        block = 0 if op == "left" else D
        kernel = params["first_kernel"]
        assert np.allclose(sub["x"], kernel[block + j, sub["unit"]] * P / 2, atol=1e-4)
        assert np.allclose(sub["y"], kernel[block + 2 + j, sub["unit"]] * P / 2, atol=1e-4)
    # The tokens of either frequency sit on the unit circle at angle 2 pi f a / p.
    circle = token_circle(row, params, 9)
    angle = 2 * np.pi * 9 * circle["token"] / P
    assert np.allclose(circle["x"], np.cos(angle), atol=1e-5)
    assert np.allclose(circle["y"], np.sin(angle), atol=1e-5)
    # combine: sum shares one block between the operands.
    summed = {**params, "first_kernel": params["first_kernel"][:D]}
    pts = star_points({**row, "model.combine": "sum"}, summed)
    assert set(pts["operand"]) == {"both"} and set(pts["freq"]) == {4, 9}


def test_star_of_one_hot_and_circular_embeddings():
    rng = np.random.default_rng(2)
    kernel = rng.normal(size=(2 * 4, 16)).astype(np.float32)
    row = {
        "task.p": P,
        "model.embedding": "circular",
        "model.circular_freqs": "[3, 7]",
        "model.combine": "concat",
    }
    pts = star_points(row, {"first_kernel": kernel})
    assert set(pts["freq"]) <= {3, 7}
    one_hot = {"first_kernel": rng.normal(size=(2 * P, 16)).astype(np.float32)}
    pts = star_points({**row, "model.embedding": "one_hot"}, one_hot)
    assert len(pts) == 32 and pts["freq"].between(1, P // 2).all()


def test_star_and_circle_of_a_mul_model_follow_the_discrete_log():
    rng = np.random.default_rng(3)
    assigned = rng.choice([2, 6], WIDTH)
    params = circle_params(assigned, rng, op="mul")
    row = {
        "run_id": "m0",
        "phase": "grok",
        "task.kind": "modular",
        "task.op": "mul",
        "task.p": P,
        "model.embedding": "learned",
        "model.combine": "concat",
    }
    pts = star_points(row, params)
    for op in ("left", "right"):
        sub = pts.loc[pts["operand"] == op].sort_values("unit")
        assert sub["freq"].tolist() == assigned.tolist()
        assert np.allclose(sub["purity"], 1.0, atol=1e-6)
    # Over the token index (the lens before) no unit is a clean sinusoid.
    assert star_points({**row, "task.op": "add"}, params)["purity"].max() < 0.9
    # Token a = 3^j mod 31 sits at angle 2 pi f j / (p - 1) on the unit circle.
    circle = token_circle(row, params, 6)
    assert len(circle) == 2 * (P - 1)
    assert (circle["token"] == [pow(3, int(j), P) for j in circle["index"]]).all()
    angle = 2 * np.pi * 6 * circle["index"] / (P - 1)
    assert np.allclose(circle["x"], np.cos(angle), atol=1e-5)
    assert np.allclose(circle["y"], np.sin(angle), atol=1e-5)
    # The figures draw over the same index.
    runs = pd.DataFrame([row])
    facts = facts_of(runs.iloc[0], top_k=2)
    fig = spectrum_figure(facts, params, runs.iloc[0], runs, "m0")
    ax = fig.axes[0]
    assert "log_3 a" in ax.get_xaxis().get_label().get_text()
    assert len(ax.patches) == (P - 1) // 2
    fig = star_figure(facts, params, runs.iloc[0], runs, "m0")
    assert "j/(p−1)" in fig.axes[1].get_ylabel()


def test_a_nyquist_frequency_token_circle():
    """At f = n / 2 (n = p - 1 even for mul) every token sits at angle 0 or pi."""
    rng = np.random.default_rng(4)
    params = circle_params(np.full(WIDTH, (P - 1) // 2), rng, op="mul")
    row = {"task.op": "mul", "task.p": P, "model.embedding": "learned", "model.combine": "concat"}
    assert set(star_points(row, params)["freq"]) == {(P - 1) // 2}
    circle = token_circle(row, params, (P - 1) // 2)
    assert np.allclose(circle["x"], np.where(circle["index"] % 2, -1.0, 1.0), atol=1e-5)
    assert np.allclose(circle["y"], 0.0, atol=1e-5)


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
        for prefix in ("spectrum", "star", "lens_curve"):
            assert f"{prefix}__{run_id}.png" in names
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
        assert f"weights__{run_id}.png" in names and f"lens_curve__{run_id}.png" in names
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
        assert_png(modular / f"{prefix}__{run_id}.png")
    others = set(runs["run_id"]) - {run_id}
    assert not any((modular / f"star__{r}.png").exists() for r in others)
    page = (modular / "index.html").read_text()
    assert f"star__{run_id}.png" in page


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
    assert "ghost" in head and names == ["lens_curve__ghost.png"]
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
