"""The data behind the lens's star figure (`lens.figure_data`: star_points, token_circle) on
models with known frequencies."""

from __future__ import annotations

import numpy as np
import pandas as pd
from synthetic_lens import WIDTH, D, P, circle_params

from phasegrok.lens.figure_data import star_points, token_circle
from phasegrok.lens.fourier import facts_of
from phasegrok.report.lens_figures import spectrum_figure, star_figure


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


def star_labels(op: str, combine: str = "concat") -> tuple[str, list[str]]:
    """The star's colour bar label and its panels' y labels, for a model of `op`."""
    rng = np.random.default_rng(5)
    params = circle_params(rng.choice([2, 6], WIDTH), rng, op=op)
    if combine == "sum":
        params = {**params, "first_kernel": params["first_kernel"][:D]}
    row = {
        "run_id": "s0",
        "phase": "grok",
        "task.kind": "modular",
        "task.op": op,
        "task.p": P,
        "model.embedding": "learned",
        "model.combine": combine,
    }
    runs = pd.DataFrame([row])
    fig = star_figure(facts_of(runs.iloc[0], top_k=2), params, runs.iloc[0], runs, "s0")
    bar = next(ax for ax in fig.axes if hasattr(ax, "_colorbar"))
    return bar.get_ylabel(), [ax.get_ylabel() for ax in fig.axes if ax is not bar]


def test_star_labels_name_each_rows_operand():
    bar, ylabels = star_labels("add")
    assert bar == "token a (top row), token b (bottom row)"
    assert "mᵤ(a)" in ylabels[0] and "·a/p" in ylabels[1]  # top row: a
    assert "mᵤ(b)" in ylabels[2] and "·b/p" in ylabels[3]  # bottom row: b
    bar, _ = star_labels("mul")
    assert bar == f"j = log_3 a (top row), log_3 b (bottom row); token = 3^j mod {P}"
    bar, ylabels = star_labels("add", combine="sum")  # one map, one row
    assert bar == "token a or b (one map for both)" and len(ylabels) == 2
