"""The batched measures of a trained batch against the per-run NumPy reference (float64)."""

import math

import jax
import numpy as np
import pytest

from phasegrok.config.load import load_sweep
from phasegrok.engine import batch as engine
from phasegrok.engine import measure
from phasegrok.engine.training import lens_metrics, model_facts
from phasegrok.lens import fourier as lens
from phasegrok.lens import progress_measures as progress
from phasegrok.lens import readout
from phasegrok.plan.runs import Batch, expand
from phasegrok.tasks import cyclic
from phasegrok.tasks.modular import modular_label

pytestmark = pytest.mark.training  # trains real (tiny) batches


def _trained(op, p, loss="cross_entropy"):
    """11 runs (more than one measuring call of `measure.CPU_CHUNK`, the last one padded), one
    of them diverged (SGD at lr 1e4: non-finite params), two saved steps."""
    sweep = {
        "name": "measure",
        "task": {"kind": "modular", "op": op, "p": p},
        "data": {"train_fraction": 0.5},
        "model": {"embed_dim": 8, "hidden": [24]},
        "optimizer": {"name": "sgd", "lr": 0.3, "weight_decay": 1.0e-3},
        "loss": loss,
        "train": {"steps": 20, "eval_every": 10, "seeds": 1, "save_params_at": [10]},
        "analysis": {"fourier_top_k": 3},
        "grid": {"optimizer.lr": [0.03, 0.1, 0.3, 1.0, 1.0e4, 0.05, 0.2, 0.5, 0.7, 0.02, 0.4]},
    }
    runs = expand(load_sweep(sweep))
    batch = Batch("measure", runs[0].static, tuple(runs))
    return batch, engine.execute_batch(batch)


def _reference(batch, result):
    """(key frequencies, runs.parquet columns, progress rows) run by run, as before batching:
    the NumPy lens on each run's final params, `readout.run_columns`, and `progress.measures`
    of each saved step's grid logits (float64)."""
    static = batch.static
    facts = model_facts(static)
    final = result.params[static.steps]
    one = [jax.tree.map(lambda a, i=i: np.asarray(a[i]), final) for i in range(len(batch.runs))]
    with np.errstate(invalid="ignore", divide="ignore"):
        keys = np.stack([lens_metrics(static, params, np)[1] for params in one])
    pairs, s = progress.group_grid(static.modular.op, static.modular.p)
    n = len(cyclic.group_tokens(static.modular.op, static.modular.p))
    labels = modular_label(
        static.modular.op, pairs[:, 0].astype(np.int64), pairs[:, 1], static.modular.p
    )
    columns, rows = [], []
    for i, run in enumerate(batch.runs):
        columns.append(readout.run_columns(facts, one[i], keys[i].tolist()))
        train = measure.train_mask(static, run, pairs)
        for step in sorted(result.params):
            params = jax.tree.map(lambda a, i=i: np.asarray(a[i]), result.params[step])
            found = dict.fromkeys(progress.MEASURES, float("nan"))
            if lens.finite(params):
                logits = measure.grid_logits(static, params, pairs)
                found = progress.measures(logits, labels, s, n, keys[i], train, static.loss)
            rows.append({"run_id": run.run_id, "step": step, **found})
    return keys, columns, rows


@pytest.mark.parametrize(
    ("op", "p", "loss"),
    [("add", 17, "cross_entropy"), ("mul", 13, "mse"), ("div", 17, "cross_entropy")],
)
def test_batched_measures_equal_the_per_run_reference(op, p, loss):
    batch, result = _trained(op, p, loss)
    keys, columns, rows = _reference(batch, result)
    finite = [lens.finite(jax.tree.map(lambda a, i=i: a[i], result.params[20])) for i in range(11)]
    assert finite.count(False) == 1 and not finite[4]  # the diverged run is there
    # The engine's key frequencies, one compiled call on the device, are the NumPy lens's.
    assert np.array_equal(result.key_frequencies[finite], keys[finite])
    found, frame = measure.batch_measures(batch, result)
    assert list(found) == [
        "readout_key_frequencies",
        "key_frequency_overlap",
        "units_per_frequency",
        "final_restricted_loss",
        "final_excluded_loss",
        "final_full_loss",
    ]
    for i, expected in enumerate(columns):
        # One value at a time: pytest >= 9 refuses `approx` of a dict that holds lists.
        for name, value in expected.items():
            want = value if value is None else pytest.approx(value, nan_ok=True)
            assert found[name][i] == want, (i, name)
    assert found["readout_key_frequencies"][4] is None
    assert frame.columns.tolist() == ["run_id", "step", *progress.MEASURES]
    assert frame[["run_id", "step"]].to_dict("records") == [
        {"run_id": r["run_id"], "step": r["step"]} for r in rows
    ]
    for name in progress.MEASURES:
        expected = np.array([r[name] for r in rows])
        if name.endswith("_acc"):  # counts of pairs: exact, barring a near tie
            np.testing.assert_array_equal(frame[name].to_numpy(), expected)
        else:
            np.testing.assert_allclose(frame[name].to_numpy(), expected, rtol=1e-4, atol=1e-5)
    assert frame.loc[frame["run_id"] == batch.runs[4].run_id, "full_loss"].isna().all()
    assert frame["full_loss"].notna().sum() >= 2 * 10
    last = frame.loc[frame["step"] == 20].set_index("run_id")
    for i, run in enumerate(batch.runs):
        for name in measure.FINAL_COLUMNS:
            value = found[f"final_{name}"][i]
            assert value == last.at[run.run_id, name] or (math.isnan(value) and not finite[i])


def test_a_non_cyclic_op_has_blank_columns_and_no_progress_rows():
    sweep = {
        "task": {"kind": "modular", "op": "square_sum", "p": 11},
        "model": {"embed_dim": 8, "hidden": [16]},
        "train": {"steps": 10, "eval_every": 10, "seeds": 2},
    }
    runs = expand(load_sweep(sweep))
    batch = Batch("blank", runs[0].static, tuple(runs))
    result = engine.execute_batch(batch)
    assert result.key_frequencies is None
    found, frame = measure.batch_measures(batch, result)
    assert found["readout_key_frequencies"] == [None, None] and frame.empty
    assert all(math.isnan(v) for v in found["final_restricted_loss"])


def test_the_layout_bounds_a_call_by_the_memory_budget(monkeypatch):
    assert measure.layout(10, 3) == (4, 1)  # CPU: one run at a time, calls of a few runs
    assert measure.layout(10, 100)[0] == measure.CPU_CHUNK
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert measure.layout(100, 1000, budget=1000 * 100) == (256, 256)
    assert measure.layout(100, 1000, budget=50 * 100) == (32, 32)
    assert measure.layout(100, 5, budget=1 << 30) == (8, 8)
    assert measure.layout(1 << 40, 5, budget=1 << 30) == (1, 1)
