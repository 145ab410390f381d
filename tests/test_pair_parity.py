"""PAIR's sparse parity: `task.encoding` (inputs in {-1, +1} or {0, 1}) and `optimizer.l1`
(the penalty l1 * sum |w| over every parameter, whose subgradient l1 * sign(w) joins the data
gradient once a step; the curves keep the data loss alone)."""

from __future__ import annotations

import copy
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from conftest import TINY, TINY_PARITY

import phasegrok
from phasegrok.config.load import ConfigError, load_sweep
from phasegrok.engine import batch as engine
from phasegrok.engine import training
from phasegrok.engine.batch import batch_data
from phasegrok.plan.batching import plan_batches, uses_l1
from phasegrok.plan.runs import Batch, expand
from phasegrok.sweep import main
from phasegrok.tasks import TASKS
from phasegrok.tasks.base import TaskData, data_axes
from phasegrok.tasks.parity import parity_split


def _sweep(base: dict, grid: dict | None = None, **sections: dict) -> dict:
    sweep = copy.deepcopy(base)
    for section, values in sections.items():
        sweep[section] = {**sweep.get(section, {}), **values}
    sweep["grid"] = grid or {}
    return sweep


def _run_data(run) -> TaskData:
    """A one-run batch's arrays without the run axis (the shared ones as they are)."""
    data = batch_data(run.static, [run.hyper])
    axes = data_axes(TASKS[run.static.task_kind].shares_test)
    return TaskData(
        *(jnp.asarray(a if ax is None else a[0]) for a, ax in zip(data, axes, strict=True))
    )


def _hyper(run):
    """A run's traced values as the engine gets them (float32 rates, int32 counts)."""
    return jax.tree.map(lambda a: jnp.asarray(a[0]), engine.stack_hypers([run.hyper]))


# --------------------------------------------------------------------------------------------
# task.encoding


@pytest.mark.parametrize("n_bits", [6, 40])
def test_binary_inputs_are_the_pm1_examples_in_0_1(n_bits):
    for seed in (0, 7):
        pm1 = parity_split(seed, n_test=30, n_train=50, n_bits=n_bits, k=3, encoding="pm1")
        binary = parity_split(seed, n_test=30, n_train=50, n_bits=n_bits, k=3, encoding="binary")
        for (x_pm1, y_pm1), (x_bin, y_bin) in zip(pm1, binary, strict=True):
            assert x_bin.dtype == np.int8 and set(np.unique(x_bin)) == {0, 1}
            assert set(np.unique(x_pm1)) == {-1, 1}
            np.testing.assert_array_equal(x_bin, (x_pm1 == -1).astype(np.int8))  # a set bit
            np.testing.assert_array_equal(y_bin, y_pm1)
            np.testing.assert_array_equal(y_bin, x_bin[:, :3].sum(axis=1) % 2)


def test_encoding_changes_only_the_input_values_of_a_batch(tiny_parity):
    tiny_parity["grid"] = {"task.encoding": ["pm1", "binary"]}
    runs = expand(load_sweep(tiny_parity))
    by_encoding = {}
    for run in runs:
        by_encoding.setdefault(run.static.parity.encoding, []).append(run)
    assert sorted(by_encoding) == ["binary", "pm1"]  # a static key: one program each
    assert [r.config["task.encoding"] for r in runs[:2]] == ["pm1", "pm1"]
    pm1, binary = (
        batch_data(by_encoding[e][0].static, [r.hyper for r in by_encoding[e]])
        for e in ("pm1", "binary")
    )
    np.testing.assert_array_equal(binary.train_x, pm1.train_x == -1)
    np.testing.assert_array_equal(binary.test_x, pm1.test_x == -1)
    for name in ("train_y", "train_w", "test_y", "test_w"):
        np.testing.assert_array_equal(getattr(binary, name), getattr(pm1, name))


def test_encoding_is_blank_and_not_sweepable_for_a_modular_task(tiny):
    run = expand(load_sweep(_sweep(tiny)))[0]
    assert run.config["task.encoding"] is None and not hasattr(run.static.task, "encoding")
    tiny["grid"] = {"task.encoding": ["pm1", "binary"]}
    with pytest.raises(ConfigError, match="grid.task.encoding.*no effect"):
        expand(load_sweep(tiny))


def test_binary_parity_sweep_trains(tiny_parity, tmp_path):
    sweep = _sweep(
        tiny_parity,
        task={"encoding": "binary"},
        model={"hidden": [32]},
        optimizer={"lr": 1.0e-2, "weight_decay": 0.0},
        train={"steps": 200, "eval_every": 50, "seeds": [0]},
    )
    results = phasegrok.run_sweep(sweep, tmp_path / "binary", progress=False, plots=False)
    assert results.runs["task.encoding"].tolist() == ["binary"]
    curve = results.curves.sort_values("step")
    assert np.isfinite(curve[["train_loss", "test_loss", "weight_norm"]].to_numpy()).all()
    assert curve["train_loss"].iloc[-1] < 0.5 * curve["train_loss"].iloc[0]
    assert curve["train_acc"].iloc[-1] > 0.9
    sweep["task"]["encoding"] = "pm1"  # the same examples, other values: another run
    other = phasegrok.run_sweep(sweep, tmp_path / "pm1", progress=False, plots=False)
    assert other.runs["run_id"][0] != results.runs["run_id"][0]
    assert other.runs["final_train_loss"][0] != results.runs["final_train_loss"][0]


# --------------------------------------------------------------------------------------------
# optimizer.l1


@pytest.mark.parametrize(
    ("base", "optimizer", "slice_bytes"),
    [
        (TINY_PARITY, {}, None),
        (TINY_PARITY, {"name": "sgd", "momentum": 0.9, "batch_size": 32}, None),
        (TINY, {}, 4 * 11 * 16),  # 16-row slices of the 64 examples (training.gradient)
        (TINY, {"name": "adam", "batch_size": 16}, None),
    ],
    ids=["parity", "parity-sgd-minibatch", "modular-slices", "modular-adam-minibatch"],
)
def test_a_sweep_without_l1_trains_todays_program(base, optimizer, slice_bytes, monkeypatch):
    """l1 = 0 everywhere (the default): no penalty code in the program, so the numbers are bit
    for bit those of phasegrok before the key, and the same with the key written as 0."""

    def penalty(*args):
        raise AssertionError("the L1 penalty was compiled into a sweep without one")

    monkeypatch.setattr(training, "add_l1_subgradient", penalty)
    strategy = engine.Strategy(example_chunk_bytes=slice_bytes)
    results = []
    for opt in (optimizer, {**optimizer, "l1": 0.0}):
        # hidden [11]: a shape no other test compiles, so it is traced here, under the patch.
        runs = expand(load_sweep(_sweep(base, optimizer=opt, model={"hidden": [11]})))
        batches = plan_batches(runs)
        assert len(batches) == 1 and not batches[0].adds_l1
        assert strategy.example_chunks(runs[0].static) == (4 if slice_bytes else 1)
        results.append(engine.execute_batch(batches[0], strategy=strategy))
    without_key, with_zero = results
    assert without_key.run_ids == with_zero.run_ids  # the same runs
    assert np.array_equal(without_key.metrics, with_zero.metrics)
    final = runs[0].static.steps
    for a, b in zip(*(jax.tree.leaves(r.params[final]) for r in results), strict=True):
        assert np.array_equal(a, b)


def test_a_sweep_uses_l1_where_some_run_has_it(tiny_parity):
    for grid, base, expected in [
        ({}, 0.0, False),
        ({"optimizer.l1": [0.0]}, 1.0e-3, False),  # the axis, not the base value, is trained
        ({}, 1.0e-3, True),
        ({"optimizer.l1": [0.0, 1.0e-3]}, 0.0, True),
        ({"optimizer.l1": {"logspace": [-5, -2, 7]}}, 0.0, True),
    ]:
        sweep = _sweep(tiny_parity, grid, optimizer={"l1": base})
        assert uses_l1(load_sweep(sweep)) is expected, (grid, base)


def _one_sgd_step(sweep: dict, chunks: int = 1):
    """(static, hyper, data, params before, params after) of one SGD step from the init."""
    run = expand(load_sweep(sweep))[0]
    hyper, data = _hyper(run), _run_data(run)
    state = training.init_state(run.static, hyper)
    step = jax.jit(partial(training.train_step, run.static, chunks=chunks))
    after = step(hyper, data, state, jnp.int32(0))
    return run.static, hyper, data, state.params, after.params


@pytest.mark.parametrize("base", [TINY_PARITY, TINY], ids=["parity", "modular"])
def test_one_sgd_step_adds_l1_sign_w_to_the_data_gradient(base):
    lr, l1 = 0.1, 0.01
    sweep = _sweep(base, optimizer={"name": "sgd", "lr": lr, "weight_decay": 0.0, "l1": l1})
    static, _, data, before, after = _one_sgd_step(sweep)
    gradient = jax.jit(partial(training.gradient, static))
    grads = gradient(before, data.train_x, data.train_y, data.train_w)
    leaves = jax.tree.leaves_with_path(before)
    assert len(leaves) == (5 if static.task_kind == "modular" else 4)  # the embedding too
    for (path, w), g, new in zip(
        leaves, jax.tree.leaves(grads), jax.tree.leaves(after), strict=True
    ):
        w, g, new = np.asarray(w), np.asarray(g), np.asarray(new)
        assert (w != 0).all(), path  # torch init: every weight has a sign
        expected = w - np.float32(lr) * (g + np.float32(l1) * np.sign(w))
        np.testing.assert_allclose(new, expected, rtol=1e-6, atol=1e-8, err_msg=str(path))
        # Every weight moved by the penalty's lr * l1 = 1e-3 besides the data gradient's step.
        penalty_step = w - np.float32(lr) * g - new
        np.testing.assert_allclose(penalty_step, lr * l1 * np.sign(w), rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize(
    ("base", "chunks", "optimizer"),
    [
        (TINY, 4, {}),
        (TINY, 1, {"batch_size": 16}),
        (TINY_PARITY, 1, {"batch_size": 32}),
    ],
    ids=["modular-slices", "modular-minibatch", "parity-minibatch"],
)
def test_the_penalty_is_added_once_a_step_whatever_the_slices_or_batch(base, chunks, optimizer):
    lr, l1 = 0.1, 0.01
    sgd = {"name": "sgd", "lr": lr, "weight_decay": 0.0, **optimizer}
    *_, before, with_l1 = _one_sgd_step(_sweep(base, optimizer={**sgd, "l1": l1}), chunks)
    *_, same_before, without = _one_sgd_step(_sweep(base, optimizer=sgd), chunks)
    for w, w0, a, b in zip(
        *(jax.tree.leaves(t) for t in (before, same_before, with_l1, without)), strict=True
    ):
        np.testing.assert_array_equal(w, w0)
        # Not l1 per slice or per example, nor scaled by the batch: l1 * sign(w), once.
        np.testing.assert_allclose(np.asarray(b - a), lr * l1 * np.sign(w), rtol=1e-3, atol=1e-6)


def test_curves_hold_the_data_loss_alone(tiny_parity):
    l1 = 0.01
    sweep = _sweep(tiny_parity, {"optimizer.l1": [0.0, l1]}, train={"seeds": [3]})
    runs = expand(load_sweep(sweep))
    result = engine.execute_batch(Batch("l1", runs[0].static, tuple(runs)))
    final = runs[0].static.steps
    data = batch_data(runs[0].static, [r.hyper for r in runs])
    names = list(result.metric_names)
    for i in range(len(runs)):
        params = jax.tree.map(lambda a, i=i: a[i], result.params[final])
        train = training.loss_fn(
            runs[0].static, params, data.train_x[i], data.train_y[i], data.train_w[i]
        )
        test = training.loss_fn(
            runs[0].static, params, data.test_x[i], data.test_y[i], data.test_w[i]
        )
        np.testing.assert_allclose(
            result.metrics[i, -1, names.index("train_loss")], train, rtol=1e-5
        )
        np.testing.assert_allclose(result.metrics[i, -1, names.index("test_loss")], test, rtol=1e-5)
        penalty = runs[i].hyper.l1 * sum(np.abs(a).sum() for a in jax.tree.leaves(params))
        assert penalty == 0 if i == 0 else penalty > 1e-3 * float(train)  # it would show
    assert not np.array_equal(result.metrics[0], result.metrics[1])  # the penalty trained


def test_an_l1_sweep_is_one_program_and_its_zero_runs_match_up_to_rounding(
    tiny_parity, tmp_path, capsys
):
    tiny_parity["model"] = {"hidden": [13]}  # a shape no other test compiles
    tiny_parity["grid"] = {"optimizer.l1": [0.0, 1.0e-3]}
    before = engine.compile_count()
    # Batches of 2 in grid order: the l1 = 0 runs, then the l1 = 1e-3 runs; one program.
    swept = phasegrok.run_sweep(
        tiny_parity, tmp_path / "l1", progress=False, plots=False, max_runs_per_batch=2
    )
    assert engine.compile_count() - before == 1
    assert swept.runs["batch_id"].nunique() == 2 and len(swept.runs) == 4
    assert sorted(swept.runs["optimizer.l1"]) == [0.0, 0.0, 1.0e-3, 1.0e-3]
    # Its l1 = 0 runs are the runs of a sweep without L1 (same ids); trained in a program with
    # the penalty term (adding 0), they differ from those only by float rounding.
    tiny_parity["grid"] = {}
    plain = phasegrok.run_sweep(tiny_parity, tmp_path / "plain", progress=False, plots=False)
    zero = swept.runs[swept.runs["optimizer.l1"] == 0.0].set_index("run_id")
    plain_runs = plain.runs.set_index("run_id")
    assert sorted(zero.index) == sorted(plain_runs.index)
    for column in ("final_train_loss", "final_test_loss", "final_weight_norm"):
        np.testing.assert_allclose(
            zero.loc[plain_runs.index, column], plain_runs[column], rtol=1e-4
        )
    # Dynamic: any number of values, one shape group, checked from the axes at once.
    tiny_parity["grid"] = {
        "optimizer.l1": {"logspace": [-6, -2, 1000]},
        "optimizer.weight_decay": {"logspace": [-2, 0, 3]},
    }
    path = tmp_path / "l1.yaml"
    path.write_text(yaml.safe_dump(tiny_parity))
    assert main([str(path), "--dry-run"]) == 0
    assert "6000 runs (0 already done), 1 shape group(s)" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# loss: binary_cross_entropy (one logit, PAIR's sparse-parity head)


def test_the_binary_head_loss_and_accuracy_match_a_numpy_reference(tiny_parity):
    tiny_parity["loss"] = "binary_cross_entropy"
    static = expand(load_sweep(tiny_parity))[0].static
    assert (static.n_classes, static.out_dim) == (2, 1)
    z = np.array([[-30.0], [-1.5], [0.0], [0.3], [2.0], [40.0]], np.float32)
    y = np.array([0, 1, 1, 0, 1, 1], np.int32)
    # -y log sigmoid(z) - (1 - y) log(1 - sigmoid(z)) = log(1 + exp(-s z)), s = 2y - 1
    expected = np.log1p(np.exp(-(2 * y - 1) * z[:, 0].astype(np.float64)))
    got = np.asarray(training.per_example_loss(static, jnp.asarray(z), jnp.asarray(y)))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    assert got[-1] > 0  # no clipping: a confident right answer keeps its tiny loss
    accuracy = np.asarray(training.correct(jnp.asarray(z), jnp.asarray(y)))
    np.testing.assert_array_equal(accuracy, [1, 0, 0, 0, 1, 1])  # z = 0 says class 0


def test_the_clipped_binary_loss_floors_at_2_to_the_minus_23_and_stops_the_gradient(
    tiny_parity,
):
    tiny_parity["loss"] = "binary_cross_entropy_clipped"
    static = expand(load_sweep(tiny_parity))[0].static
    assert (static.n_classes, static.out_dim) == (2, 1)
    z = np.array([[-30.0], [-1.5], [0.0], [0.3], [2.0], [40.0]], np.float32)
    y = np.array([0, 1, 1, 0, 1, 1], np.int32)
    p = np.clip(1 / (1 + np.exp(-z[:, 0].astype(np.float64))), 1e-7, 1 - 1e-7)
    expected = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    got = np.asarray(training.per_example_loss(static, jnp.asarray(z), jnp.asarray(y)))
    np.testing.assert_allclose(got[1:5], expected[1:5], rtol=1e-5)
    # Past the clip, both labels sit at PAIR's released floor -log(float32(1 - 1e-7)).
    np.testing.assert_array_equal(got[[0, 5]], np.float32(2.0**-23))

    def total(logits):
        return training.per_example_loss(static, logits, jnp.asarray(y)).sum()

    grad = np.asarray(jax.grad(total)(jnp.asarray(z)))[:, 0]
    assert grad[0] == 0 and grad[5] == 0  # no gradient past the clip
    assert np.all(grad[1:5] != 0)
    exact = dict(tiny_parity, loss="binary_cross_entropy")
    exact_static = expand(load_sweep(exact))[0].static
    exact_grad = jax.grad(
        lambda logits: training.per_example_loss(exact_static, logits, jnp.asarray(y)).sum()
    )(jnp.asarray(z))
    assert np.asarray(exact_grad)[5, 0] < 0  # the unclipped loss still pulls


def test_a_binary_head_parity_sweep_trains_with_one_logit(tiny_parity, tmp_path):
    sweep = _sweep(
        tiny_parity,
        model={"hidden": [32]},
        optimizer={"lr": 1.0e-2, "weight_decay": 0.0},
        train={"steps": 200, "eval_every": 50, "seeds": [0]},
    )
    sweep["loss"] = "binary_cross_entropy"
    results = phasegrok.run_sweep(sweep, tmp_path / "bce", progress=False, plots=False)
    assert results.runs["loss"].tolist() == ["binary_cross_entropy"]
    assert "loss: binary_cross_entropy" in results.sweep_text()
    params = results.params(results.runs["run_id"][0])
    assert params["Dense_1"]["kernel"].shape[0] == 1  # (out, in): one output unit
    assert params["Dense_1"]["bias"].shape == (1,)
    curve = results.curves.sort_values("step")
    assert np.isfinite(curve[["train_loss", "test_loss", "weight_norm"]].to_numpy()).all()
    assert np.isfinite(curve["relevant_weight_share"]).all()
    np.testing.assert_allclose(curve["train_loss"].iloc[0], np.log(2), atol=0.1)  # chance
    assert curve["train_loss"].iloc[-1] < 0.1 * curve["train_loss"].iloc[0]
    assert curve["train_acc"].iloc[-1] == 1.0


def test_the_binary_head_is_refused_for_a_modular_task(tiny, tmp_path, capsys):
    clipped = dict(tiny, loss="binary_cross_entropy_clipped")
    with pytest.raises(ConfigError, match="^loss: binary_cross_entropy_clipped .*modular task"):
        load_sweep(clipped)
    tiny["loss"] = "binary_cross_entropy"
    with pytest.raises(ConfigError, match="^loss: binary_cross_entropy .*modular task has 11"):
        load_sweep(tiny)
    path = tmp_path / "bce.yaml"
    path.write_text(yaml.safe_dump(tiny))
    assert main([str(path), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
    assert "use cross_entropy or mse" in capsys.readouterr().err
