import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasegrok.config.load import load_sweep
from phasegrok.engine import batch as engine
from phasegrok.engine import training
from phasegrok.engine.models import make_model
from phasegrok.plan.batching import plan_batches
from phasegrok.plan.runs import Batch, expand


def _batch(runs):
    return Batch("test", runs[0].static, tuple(runs))


def test_run_in_vmapped_batch_equals_run_alone(tiny):
    runs = expand(load_sweep(tiny))
    together = engine.execute_batch(_batch(runs), strategy=engine.Strategy(4))
    alone = engine.execute_batch(_batch(runs[5:6]), strategy=engine.Strategy(1))
    np.testing.assert_allclose(together.metrics[5], alone.metrics[0], rtol=1e-4, atol=1e-5)
    final = runs[0].static.steps
    for a, b in zip(
        jax.tree.leaves(together.params[final]),
        jax.tree.leaves(alone.params[final]),
        strict=True,
    ):
        np.testing.assert_allclose(a[5], b[0], rtol=1e-4, atol=1e-5)


def test_same_strategy_is_bitwise_whatever_the_batch(tiny):
    runs = expand(load_sweep(tiny))
    full = engine.execute_batch(_batch(runs), strategy=engine.Strategy(2))
    part = engine.execute_batch(_batch(runs[3:6]), strategy=engine.Strategy(2))
    assert np.array_equal(full.metrics[3:6], part.metrics, equal_nan=True)


def test_one_compile_per_shape_group(tiny):
    tiny["grid"] = {
        "optimizer.lr": {"logspace": [-3.5, -2, 4]},
        "optimizer.weight_decay": {"logspace": [-2, 1, 4]},
        "model.init_scale": [0.5, 1.0],
        "data.train_fraction": [0.3, 0.32],  # 36 and 39 of 121 pairs: one size bucket (40)
        "model.hidden": [[16], [24]],  # a static axis: two shape groups
    }
    tiny["train"]["seeds"] = 1
    runs = expand(load_sweep(tiny))
    batches = plan_batches(runs, max_runs_per_batch=40)  # several batches per group
    assert len({b.static for b in batches}) == 2 and len(batches) > 2
    before = engine.compile_count()
    widths = {}
    for b in batches:
        widths[b.static] = max(widths.get(b.static, 0), len(b.runs))
    for b in batches:
        engine.execute_batch(b, width=widths[b.static], strategy=engine.Strategy(8))
    assert engine.compile_count() - before == 2


def test_divergent_run_is_marked_and_does_not_touch_the_others(tiny):
    tiny["grid"] = {"optimizer.lr": [1.0e-3, 1.0e4, 3.0e-3]}
    tiny["optimizer"]["name"] = "sgd"
    tiny["train"]["seeds"] = 1
    runs = expand(load_sweep(tiny))
    together = engine.execute_batch(_batch(runs), strategy=engine.Strategy(1))
    assert np.isnan(together.metrics[1, -1]).all()
    assert np.isfinite(together.metrics[[0, 2]]).all()
    without = engine.execute_batch(_batch([runs[0], runs[2]]), strategy=engine.Strategy(1))
    assert np.array_equal(together.metrics[[0, 2]], without.metrics)


def test_curves_have_every_eval_point_and_params_are_saved(tiny):
    tiny["train"]["save_params_at"] = [0, 20]
    runs = expand(load_sweep(tiny))[:2]
    result = engine.execute_batch(_batch(runs))
    assert result.steps.tolist() == [0, 20, 40, 60]
    assert result.metrics.shape == (2, 4, len(result.metric_names))
    assert sorted(result.params) == [0, 20, 60]
    norm0 = np.sqrt(sum((leaf[0] ** 2).sum() for leaf in jax.tree.leaves(result.params[0])))
    assert norm0 == pytest.approx(
        result.metrics[0, 0, training.METRICS.index("weight_norm")], rel=1e-5
    )


def test_init_scale_multiplies_every_initial_parameter(tiny):
    tiny["grid"] = {"model.init_scale": [1.0, 3.0]}
    tiny["train"] = {"steps": 20, "eval_every": 20, "seeds": 1, "save_params_at": [0]}
    runs = expand(load_sweep(tiny))
    result = engine.execute_batch(_batch(runs))
    for leaf in jax.tree.leaves(result.params[0]):
        np.testing.assert_allclose(leaf[1], 3.0 * leaf[0], rtol=1e-6)


def test_training_reduces_the_train_loss(tiny):
    tiny["train"] = {"steps": 200, "eval_every": 100, "seeds": 1}
    tiny["grid"] = {}
    result = engine.execute_batch(_batch(expand(load_sweep(tiny))))
    train_loss = result.metrics[0, :, 0]
    assert train_loss[-1] < 0.5 * train_loss[0]


@pytest.mark.parametrize(
    "overrides",
    [
        {"model": {"embedding": "one_hot", "combine": "sum", "activation": "quadratic"}},
        {"model": {"embedding": "circular", "circular_freqs": [1, 2], "tie_output": True}},
        {"model": {"hidden": [16, 8], "activation": "gelu", "bias": False}, "loss": "mse"},
        {"optimizer": {"name": "adam", "batch_size": 16, "warmup_steps": 10}},
        {
            "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
            "train": {"precision": "highest"},
        },
    ],
)
def test_every_model_and_optimizer_variant_trains(tiny, overrides):
    for section, values in overrides.items():
        if isinstance(values, dict):
            tiny.setdefault(section, {}).update(values)
        else:
            tiny[section] = values
    tiny["grid"] = {"optimizer.weight_decay": [0.0, 0.5]}
    runs = expand(load_sweep(tiny))
    result = engine.execute_batch(_batch(runs))
    assert np.isfinite(result.metrics).all()
    assert not np.array_equal(result.metrics[0], result.metrics[2])  # the swept value matters


def test_minibatches_differ_by_seed_and_are_reproducible(tiny):
    tiny["optimizer"]["batch_size"] = 8
    tiny["grid"] = {}
    runs = expand(load_sweep(tiny))
    a = engine.execute_batch(_batch(runs))
    b = engine.execute_batch(_batch(runs))
    assert np.array_equal(a.metrics, b.metrics)
    assert not np.array_equal(a.metrics[0], a.metrics[1])


def test_parity_batch_trains(tiny_parity):
    runs = expand(load_sweep(tiny_parity))
    result = engine.execute_batch(_batch(runs))
    assert result.metrics.shape == (4, 3, 7)
    assert np.isfinite(result.metrics).all()
    assert ((result.metrics[:, :, 2:4] >= 0) & (result.metrics[:, :, 2:4] <= 1)).all()


def test_batches_are_equal_and_bounded_by_work_between_evals(tiny):
    from phasegrok.plan.batching import flops_per_step

    tiny["grid"] = {"optimizer.weight_decay": {"logspace": [-2, 0, 10]}}
    runs = expand(load_sweep(tiny))  # 20 runs of one shape
    per_eval = flops_per_step(runs[0].static) * runs[0].static.eval_every
    batches = plan_batches(runs, max_flops_per_eval=6.5 * per_eval)
    assert [len(b.runs) for b in batches] == [5, 5, 5, 5]  # cap 6 -> 4 equal batches
    assert sorted(r.run_id for b in batches for r in b.runs) == sorted(r.run_id for r in runs)


def test_correct_is_argmax_except_that_a_tie_is_wrong():
    logits = np.array([[0.1, 2.0, -1.0], [3.0, 3.0, 0.0], [0.0, 0.0, 0.0], [-5.0, -4.0, -6.0]])
    labels = np.array([1, 0, 2, 1])
    got = np.asarray(training.correct(jnp.asarray(logits), jnp.asarray(labels)))
    assert got.tolist() == [1.0, 0.0, 0.0, 1.0]
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 13)).astype(np.float32)
    labels = rng.integers(0, 13, size=500)
    got = np.asarray(training.correct(jnp.asarray(logits), jnp.asarray(labels)))
    assert np.array_equal(got, (logits.argmax(-1) == labels).astype(np.float32))


def test_modular_train_metrics_from_the_pairs_equal_those_of_the_train_set(tiny):
    from phasegrok.engine.batch import batch_data

    tiny["grid"] = {}
    run = expand(load_sweep(tiny))[0]
    static = run.static
    data = jax.tree.map(lambda a: a[0] if a.shape[0] == 1 else a, batch_data(static, [run.hyper]))
    params = training.init_state(static, run.hyper).params
    metrics = np.asarray(training.evaluate(static, params, data))
    logits = np.asarray(make_model(static).apply({"params": params}, data.train_x))
    real = data.train_w > 0
    loss = training.per_example_loss(static, jnp.asarray(logits), data.train_y)
    np.testing.assert_allclose(metrics[0], np.asarray(loss)[real].mean(), rtol=1e-5)
    accuracy = (logits.argmax(-1) == data.train_y)[real].mean()
    np.testing.assert_allclose(metrics[2], accuracy, rtol=1e-6)
    assert 0 < real.sum() < len(data.test_y)


def test_parity_run_in_vmapped_batch_equals_run_alone(tiny_parity):
    # The accelerator layout (vmap) through parity's custom weight-gradient products.
    runs = expand(load_sweep(tiny_parity))
    together = engine.execute_batch(_batch(runs), strategy=engine.Strategy(4))
    alone = engine.execute_batch(_batch(runs[2:3]), strategy=engine.Strategy(1))
    np.testing.assert_allclose(together.metrics[2], alone.metrics[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "model",
    [
        {},
        {"hidden": [16, 8], "combine": "sum"},
        {"embedding": "one_hot", "tie_output": True},
    ],
)
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_gradient_in_slices_equals_the_whole_batch_gradient(tiny, model, loss):
    from phasegrok.engine.batch import batch_data

    tiny["model"].update(model)
    tiny["loss"] = loss
    tiny["grid"] = {}
    run = expand(load_sweep(tiny))[0]
    static = run.static
    data = batch_data(static, [run.hyper])
    x, y, w = data.train_x[0], data.train_y[0], data.train_w[0]
    assert w.min() == 0 and len(w) % 4 == 0  # padding rows in the slices too
    params = training.init_state(static, run.hyper).params
    whole = training.gradient(static, params, x, y, w)
    sliced = training.gradient(static, params, x, y, w, chunks=4)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(sliced), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert any(np.abs(a).max() > 0 for a in jax.tree.leaves(whole))


def test_example_slices_follow_the_cache_budget(tiny):
    tiny["task"]["p"] = 97
    tiny["data"]["train_fraction"] = 0.3
    tiny["model"] = {"embed_dim": 128, "hidden": [256]}
    static = expand(load_sweep(tiny))[0].static
    assert static.train_pad == 2848
    assert engine.Strategy(example_chunk_bytes=1 << 20).example_chunks(static) == 4
    assert engine.Strategy(example_chunk_bytes=1 << 19).example_chunks(static) == 8
    assert engine.Strategy().example_chunks(static) == 1  # accelerators: no slices
    tiny["data"]["train_fraction"] = 0.05  # 470 examples fit at once
    assert (
        engine.Strategy(example_chunk_bytes=1 << 20).example_chunks(
            expand(load_sweep(tiny))[0].static
        )
        == 1
    )


def test_sliced_strategy_trains_like_the_whole_batch(tiny):
    runs = expand(load_sweep(tiny))[:4]
    sliced = engine.Strategy(example_chunk_bytes=4 * 16 * 16)  # 16-row slices of 16 units
    assert sliced.example_chunks(runs[0].static) > 1
    a = engine.execute_batch(_batch(runs), strategy=sliced)
    b = engine.execute_batch(_batch(runs), strategy=engine.Strategy())
    np.testing.assert_allclose(a.metrics, b.metrics, rtol=1e-4, atol=1e-5)
    assert not np.array_equal(a.metrics, b.metrics)  # really another program
