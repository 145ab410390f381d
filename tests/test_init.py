"""Initial parameters follow `model.init`'s formulas, layer by layer, for both models.

torch (PyTorch's nn.Linear / nn.Embedding): kernels and biases U(-b, b) with b = 1/sqrt(fan_in),
so a kernel's standard deviation is b / sqrt(3); lecun: kernels truncated normal with standard
deviation 1/sqrt(fan_in), biases 0. A learned embedding starts N(0, embedding_std^2); every
parameter is then multiplied by init_scale.
"""

from __future__ import annotations

import copy
import math

import jax
import numpy as np
import pytest
from conftest import TINY, TINY_PARITY

from phasegrok.config.load import load_sweep
from phasegrok.engine import batch as engine
from phasegrok.engine import training
from phasegrok.plan.runs import Batch, expand

# Layers wide enough that a sample standard deviation is within ~1% of the formula.
MODULAR = {"task": {"kind": "modular", "op": "add", "p": 97}, "data": {"train_fraction": 0.3}}
PARITY = {"task": {"kind": "parity", "n_bits": 40, "k": 3, "test_size": 64}}


def _run(base: dict, model: dict, **scales: float):
    sweep = copy.deepcopy(base)
    sweep.update(copy.deepcopy(MODULAR if base["task"]["kind"] == "modular" else PARITY))
    sweep["model"] = {**sweep["model"], **model, **scales}
    sweep["grid"] = {}
    sweep["train"]["seeds"] = [7]
    return expand(load_sweep(sweep))[0]


def _params(run) -> dict:
    params = training.init_state(run.static, run.hyper).params
    return jax.tree.map(np.asarray, params)


def _dense_layers(params: dict) -> list[tuple[str, np.ndarray, np.ndarray | None, int]]:
    """(name, kernel, bias or None, fan_in) of every dense layer; kernels as stored."""
    layers = []
    if "first_kernel" in params:  # stored (in, width): the fan-in is the first axis
        kernel = params["first_kernel"]
        layers.append(("first", kernel, params.get("first_bias"), kernel.shape[0]))
    for name, leaf in params.items():
        if isinstance(leaf, dict):  # Dense: kernel stored (out, in)
            layers.append((name, leaf["kernel"], leaf.get("bias"), leaf["kernel"].shape[1]))
    return layers


def _std_tolerance(values: np.ndarray) -> float:
    """Relative tolerance of a sample standard deviation: 6 standard errors (a uniform
    variable's kurtosis 1.8 gives a relative standard error sqrt(0.2 / n)), at least 1%."""
    return max(0.01, 6 * math.sqrt(0.2 / values.size))


MODELS = [
    (TINY, {"embed_dim": 64, "hidden": [256], "combine": "concat"}),
    (TINY, {"embed_dim": 64, "hidden": [256], "combine": "sum"}),
    (TINY, {"embed_dim": 64, "hidden": [256, 192], "combine": "concat"}),
    (TINY, {"embed_dim": 64, "hidden": [256, 192], "combine": "sum", "bias": False}),
    (TINY, {"embed_dim": 64, "hidden": [256], "tie_output": True}),
    (TINY_PARITY, {"hidden": [256]}),
    (TINY_PARITY, {"hidden": [256, 128], "bias": False}),
]
IDS = ["concat", "sum", "concat-deep", "sum-deep-nobias", "tied", "parity", "parity-deep-nobias"]


def _expected_fan_ins(run) -> list[int]:
    s = run.static
    if s.task_kind == "parity":
        return [s.parity.n_bits, *s.hidden]
    first = s.embed_dim if s.combine == "sum" else 2 * s.embed_dim
    return [first, *s.hidden]


@pytest.mark.parametrize(("base", "model"), MODELS, ids=IDS)
def test_torch_init_is_pytorchs_default(base, model):
    run = _run(base, {**model, "init": "torch"})
    layers = _dense_layers(_params(run))
    assert [fan_in for *_, fan_in in layers] == _expected_fan_ins(run)
    for name, kernel, bias, fan_in in layers:
        bound = 1 / math.sqrt(fan_in)
        assert np.abs(kernel).max() <= bound * (1 + 1e-6), name
        assert np.abs(kernel).max() > 0.95 * bound, name  # fills the interval, not a narrower one
        np.testing.assert_allclose(
            kernel.std(), bound / math.sqrt(3), rtol=_std_tolerance(kernel), err_msg=name
        )
        assert abs(kernel.mean()) < 6 * bound / math.sqrt(3 * kernel.size), name
        if run.static.bias:
            assert bias is not None and np.abs(bias).max() <= bound * (1 + 1e-6), name
            assert np.count_nonzero(bias) == bias.size, name
            if bias.size >= 64:
                np.testing.assert_allclose(bias.std(), bound / math.sqrt(3), rtol=0.25)
        else:
            assert bias is None, name


@pytest.mark.parametrize(("base", "model"), MODELS, ids=IDS)
def test_lecun_init_is_truncated_normal_with_zero_biases(base, model):
    run = _run(base, {**model, "init": "lecun"})
    layers = _dense_layers(_params(run))
    assert [fan_in for *_, fan_in in layers] == _expected_fan_ins(run)
    for name, kernel, bias, fan_in in layers:
        std = 1 / math.sqrt(fan_in)
        # A normal's sample std has relative standard error sqrt(1 / 2n); 6 of them.
        rtol = max(0.01, 6 * math.sqrt(0.5 / kernel.size))
        np.testing.assert_allclose(kernel.std(), std, rtol=rtol, err_msg=name)
        # truncated at 2 standard deviations of the underlying normal (std / 0.8796)
        assert np.abs(kernel).max() <= 2 * std / 0.8796 * (1 + 1e-6), name
        assert np.abs(kernel).max() > std, name  # wider than torch's bound of 1/sqrt(fan_in)
        if run.static.bias:
            assert bias is not None and not bias.any(), name
        else:
            assert bias is None, name


@pytest.mark.parametrize("init", ["torch", "lecun"])
@pytest.mark.parametrize("embedding_std", [1.0, 0.17])
def test_learned_embedding_starts_normal_with_embedding_std(init, embedding_std):
    run = _run(TINY, {"embed_dim": 64, "hidden": [32], "init": init}, embedding_std=embedding_std)
    table = _params(run)["embedding"]
    assert table.shape == (97, 64)
    np.testing.assert_allclose(table.std(), embedding_std, rtol=6 * math.sqrt(0.5 / table.size))
    assert abs(table.mean()) < 0.05 * embedding_std
    assert np.abs(table).max() > 3 * embedding_std  # a normal, not a bounded distribution


@pytest.mark.parametrize(("base", "model"), [MODELS[2], MODELS[5]], ids=["modular", "parity"])
def test_init_scale_multiplies_every_parameter(base, model):
    one = _params(_run(base, model, init_scale=1.0, embedding_std=0.5))
    scaled = _params(_run(base, model, init_scale=2.5, embedding_std=0.5))
    leaves = jax.tree.leaves(one)
    assert len(leaves) == len(jax.tree.leaves(scaled)) >= 4
    for a, b in zip(leaves, jax.tree.leaves(scaled), strict=True):
        np.testing.assert_allclose(b, 2.5 * a, rtol=1e-6)


def test_embedding_std_is_dynamic_and_scales_only_the_embedding():
    sweep = copy.deepcopy(TINY)
    sweep["grid"] = {"model.embedding_std": [0.17, 1.0], "model.init_scale": [1.0, 2.0]}
    sweep["train"] = {"steps": 20, "eval_every": 20, "seeds": [3], "save_params_at": [0]}
    runs = expand(load_sweep(sweep))
    assert len({r.static for r in runs}) == 1  # one program for the whole grid
    before = engine.compile_count()
    params = engine.execute_batch(Batch("test", runs[0].static, tuple(runs))).params[0]
    assert engine.compile_count() - before <= 1
    table = params["embedding"]  # runs: (0.17, 1), (0.17, 2), (1, 1), (1, 2)
    np.testing.assert_allclose(table[0], 0.17 * table[2], rtol=1e-6)
    np.testing.assert_allclose(table[1], 0.17 * 2.0 * table[2], rtol=1e-6)
    assert table[0].std() < 0.3 < table[2].std()
    for name in ("first_kernel", "first_bias"):
        np.testing.assert_array_equal(params[name][0], params[name][2])
        np.testing.assert_allclose(params[name][1], 2.0 * params[name][0], rtol=1e-6)


def test_embedding_std_is_blank_without_a_learned_embedding():
    one_hot = _run(TINY, {"embedding": "one_hot", "hidden": [16]}, embedding_std=0.3)
    parity = _run(TINY_PARITY, {"hidden": [16]}, embedding_std=0.3)
    learned = _run(TINY, {"hidden": [16]}, embedding_std=0.3)
    assert one_hot.config["model.embedding_std"] is None and one_hot.hyper.embedding_std == 1.0
    assert parity.config["model.embedding_std"] is None and parity.hyper.embedding_std == 1.0
    assert learned.config["model.embedding_std"] == 0.3 and learned.hyper.embedding_std == 0.3
    assert one_hot.config["model.init"] == parity.config["model.init"] == "torch"  # the default


def test_init_is_static_and_part_of_the_run():
    torch = _run(TINY, {"hidden": [16], "init": "torch"})
    lecun = _run(TINY, {"hidden": [16], "init": "lecun"})
    assert torch.static != lecun.static and torch.run_id != lecun.run_id
