"""Liu et al. 2022's toy, the classification variant: `task.op: add_integers` (a + b, 2p - 1
classes) and the learned embedding's own optimizer settings (`optimizer.embedding`)."""

import copy
import math

import jax
import numpy as np
import optax
import pandas as pd
import pytest
import yaml
from conftest import TINY

import phasegrok
from phasegrok.config.load import load_sweep
from phasegrok.engine import batch as engine
from phasegrok.engine import training
from phasegrok.engine.optim import make_optimizer, run_optimizer
from phasegrok.plan.batching import n_params, step_flops
from phasegrok.plan.runs import Batch, expand
from phasegrok.sweep import main
from phasegrok.tasks.modular import modular_pairs


def _sweep(**sections):
    """TINY with its grid replaced and `sections` merged into its own (dotted keys allowed)."""
    sweep = copy.deepcopy(TINY)
    sweep["grid"] = {}
    for dotted, value in sections.items():
        node = sweep
        *parents, leaf = dotted.split(".")
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    return sweep


def _train(sweep):
    runs = expand(load_sweep(sweep))
    return runs, engine.execute_batch(Batch("test", runs[0].static, tuple(runs)))


# --------------------------------------------------------------------------------------------
# add_integers


def test_add_integers_labels_are_plain_sums_over_2p_minus_1_classes():
    pairs, labels = modular_pairs("add_integers", 7, False)
    assert len(labels) == 49
    np.testing.assert_array_equal(labels, pairs[:, 0] + pairs[:, 1])
    assert sorted(set(labels.tolist())) == list(range(13))  # 0 .. 2p - 2, no modulus
    pairs, labels = modular_pairs("add_integers", 7, True)  # symmetric: a <= b
    assert len(labels) == 7 * 8 // 2 and (pairs[:, 0] <= pairs[:, 1]).all()
    assert labels.max() == 12

    run = expand(load_sweep(_sweep(**{"task.op": "add_integers", "task.p": 7})))[0]
    assert run.static.n_classes == 13
    params = training.init_state(run.static, run.hyper).params
    assert params["readout"]["kernel"].shape[0] == 13  # one logit per class, not per token
    assert sum(leaf.size for leaf in jax.tree.leaves(params)) == n_params(run.static)
    # The readout's FLOPs count 13 logits: 6 n h (13 - 7) more than add's 7.
    add = expand(load_sweep(_sweep(**{"task.p": 7, "analysis.fourier_top_k": 3})))[0]
    n = 20
    extra = step_flops(run.static, n)[0] - step_flops(add.static, n)[0]
    assert extra == 6 * n * 16 * (13 - 7)


def test_add_integers_allows_symmetric_pairs_and_refuses_a_tied_output(tmp_path, capsys):
    spec = load_sweep(_sweep(**{"task.op": "add_integers", "task.symmetric": True}))
    run = expand(spec)[0]
    assert run.static.n_eval_examples == 11 * 12 // 2
    sweep = _sweep(**{"task.op": "add_integers", "model.tie_output": True})
    path = tmp_path / "tied.yaml"
    path.write_text(yaml.safe_dump(sweep))
    assert main([str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "model.tie_output:" in err
    assert "2p - 1 = 21" in err
    assert not (tmp_path / "out").exists()


def test_a_tiny_add_integers_sweep_trains_with_a_blank_lens(tmp_path):
    sweep = _sweep(
        **{"task.op": "add_integers", "task.p": 7, "task.symmetric": True, "train.seeds": 1}
    )
    sweep["grid"] = {"optimizer.weight_decay": [0.1, 1.0]}
    out = tmp_path / "sums"
    phasegrok.run_sweep(sweep, out, progress=False)
    runs = pd.read_parquet(out / "runs.parquet")
    curves = pd.read_parquet(out / "curves.parquet")
    assert len(runs) == 2 and (runs["n_classes"] == 13).all()
    for name in ("fourier_top_k_share", "fourier_gini"):
        assert runs[f"final_{name}"].isna().all() and curves[name].isna().all()
    assert runs["key_frequencies"].isna().all()
    assert runs["final_train_acc"].between(0, 1).all() and runs["phase"].notna().all()
    # At step 0 the logits are near zero: the loss is near ln(2p - 1), not ln(p).
    start = curves.loc[curves["step"] == 0, "train_loss"]
    assert start.to_numpy() == pytest.approx(math.log(13), abs=0.25)
    assert not list(out.glob("star__*.png"))  # no lens figure without a cyclic group


# --------------------------------------------------------------------------------------------
# optimizer.embedding


def test_without_a_group_the_single_optimizer_is_taken():
    run = expand(load_sweep(_sweep()))[0]
    assert run.static.embedding_optimizer is None
    assert all(run.config[k] is None for k in run.config if k.startswith("optimizer.embedding."))
    state = training.init_state(run.static, run.hyper)
    single = make_optimizer(run.static.optimizer, run.hyper).init(state.params)
    assert jax.tree.structure(state.opt_state) == jax.tree.structure(single)
    grouped = _sweep(**{"optimizer.embedding.weight_decay": 0.0})
    run = expand(load_sweep(grouped))[0]
    assert run.static.embedding_optimizer == "adamw"
    state = training.init_state(run.static, run.hyper)
    assert isinstance(state.opt_state, optax.PartitionState)


def test_a_tiny_embedding_lr_freezes_the_embedding_while_the_rest_trains():
    sweep = _sweep(**{"train.seeds": 1, "train.save_params_at": [0]})
    grouped = copy.deepcopy(sweep)
    grouped["optimizer"]["embedding"] = {"lr": 1.0e-30}  # below float32's step at |x| ~ 1
    _, result = _train(grouped)
    start, end = result.params[0], result.params[sweep["train"]["steps"]]
    np.testing.assert_array_equal(start["embedding"], end["embedding"])
    assert not np.array_equal(start["first_kernel"], end["first_kernel"])
    _, plain = _train(sweep)
    start, end = plain.params[0], plain.params[sweep["train"]["steps"]]
    assert not np.array_equal(start["embedding"], end["embedding"])


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_the_embedding_decays_at_its_own_rate(name):
    """Zero gradients leave only the decay: adamw p <- p (1 - lr wd), sgd (L2) the same."""
    sweep = _sweep(**{"optimizer.name": name, "optimizer.lr": 0.1, "optimizer.weight_decay": 0.5})
    sweep["optimizer"]["embedding"] = {"weight_decay": 2.0}  # lr inherited: 0.1
    run = expand(load_sweep(sweep))[0]
    state = training.init_state(run.static, run.hyper)
    optimizer = run_optimizer(run.static, run.hyper)
    zeros = jax.tree.map(np.zeros_like, state.params)
    updates, _ = optimizer.update(zeros, state.opt_state, state.params)
    after = optax.apply_updates(state.params, updates)
    np.testing.assert_allclose(after["embedding"], 0.8 * state.params["embedding"], rtol=1e-6)
    np.testing.assert_allclose(after["first_kernel"], 0.95 * state.params["first_kernel"], 1e-6)
    kernel = after["readout"]["kernel"]
    np.testing.assert_allclose(kernel, 0.95 * state.params["readout"]["kernel"], rtol=1e-6)


def test_unset_group_keys_inherit_the_swept_main_values():
    sweep = _sweep(**{"optimizer.embedding.name": "adam", "optimizer.embedding.weight_decay": 0.0})
    sweep["grid"] = {"optimizer.lr": [1.0e-3, 3.0e-3], "optimizer.b2": [0.98, 0.999]}
    sweep["train"]["seeds"] = 1
    runs = expand(load_sweep(sweep))
    for run in runs:
        cfg = run.config
        assert cfg["optimizer.embedding.lr"] == cfg["optimizer.lr"] == run.hyper.embedding_lr
        assert cfg["optimizer.embedding.b2"] == cfg["optimizer.b2"] == run.hyper.embedding_b2
        assert cfg["optimizer.embedding.weight_decay"] == 0.0 == run.hyper.embedding_weight_decay
        assert cfg["optimizer.embedding.name"] == "adam" == run.static.embedding_optimizer
    assert len({run.hyper.embedding_lr for run in runs}) == 2
    # Set, it no longer follows the main lr.
    sweep["optimizer"]["embedding"]["lr"] = 1.0e-2
    assert {run.config["optimizer.embedding.lr"] for run in expand(load_sweep(sweep))} == {1e-2}


def test_a_group_key_set_to_the_inherited_value_is_the_same_run():
    """Unset and set to the main value resolve alike: one run_id. A group of the main values
    is still another program (optax.partition) than no group: another run_id."""
    base = _sweep(**{"optimizer.embedding.weight_decay": 0.0})
    same = _sweep(**{"optimizer.embedding.weight_decay": 0.0, "optimizer.embedding.lr": 3e-3})
    ids = [[r.run_id for r in expand(load_sweep(s))] for s in (base, same)]
    assert ids[0] == ids[1]
    plain = _sweep(**{"optimizer.weight_decay": 1.0})
    grouped = _sweep(**{"optimizer.embedding.weight_decay": 1.0})
    assert expand(load_sweep(plain))[0].run_id != expand(load_sweep(grouped))[0].run_id


@pytest.mark.parametrize(
    ("axis", "groups"),
    [
        ({"optimizer.embedding.lr": {"logspace": [-4, -2, 5]}}, 1),
        ({"optimizer.embedding.weight_decay": [0.0, 0.1, 1.0], "optimizer.lr": [1e-3, 3e-3]}, 1),
        ({"optimizer.embedding.name": ["adam", "sgd"]}, 2),  # changes the program
    ],
    ids=["lr", "weight_decay-and-main-lr", "name"],
)
def test_a_group_sweep_has_its_shape_groups(axis, groups, tmp_path, capsys):
    path = tmp_path / "group.yaml"
    path.write_text(yaml.safe_dump({**copy.deepcopy(TINY), "grid": axis}))
    assert main([str(path), "--dry-run"]) == 0
    assert f" {groups} shape group(s)" in capsys.readouterr().out


def _with_group(key, value, **extra):
    sweep = _sweep(**extra)
    if key.startswith("grid."):
        sweep["grid"] = {key.removeprefix("grid."): value}
    else:
        sweep["optimizer"]["embedding"] = {key.rsplit(".", 1)[1]: value}
    return sweep


BAD_GROUP = [
    (_with_group("optimizer.embedding.lr", -1.0), "optimizer.embedding.lr", "must be > 0"),
    (_with_group("optimizer.embedding.lr", 0.0), "optimizer.embedding.lr", "must be > 0"),
    (_with_group("optimizer.embedding.lr", "fast"), "optimizer.embedding.lr", "valid number"),
    (
        _with_group("optimizer.embedding.weight_decay", -0.1),
        "optimizer.embedding.weight_decay",
        "must be >= 0",
    ),
    (_with_group("optimizer.embedding.b1", 1.0), "optimizer.embedding.b1", "[0, 1)"),
    (_with_group("optimizer.embedding.b2", -0.1), "optimizer.embedding.b2", "[0, 1)"),
    (_with_group("optimizer.embedding.eps", 0.0), "optimizer.embedding.eps", "must be > 0"),
    (_with_group("optimizer.embedding.momentum", -1.0), "optimizer.embedding.momentum", ">= 0"),
    (_with_group("optimizer.embedding.name", "lion"), "optimizer.embedding.name", "'sgd'"),
    (
        _with_group("optimizer.embedding.lrr", 1.0),
        "optimizer.embedding.lrr",
        "did you mean 'optimizer.embedding.lr'",
    ),
    (
        _with_group("grid.optimizer.embedding.lr", [1e-3, -1.0]),
        "grid.optimizer.embedding.lr",
        "must be > 0",
    ),
    (
        _with_group("grid.optimizer.embedding.b1", {"linspace": [0.5, 1.0, 3]}),
        "grid.optimizer.embedding.b1",
        "[0, 1)",
    ),
    (
        _with_group("grid.optimizer.embedding.lr", [None, 1e-3]),
        "grid.optimizer.embedding.lr",
        "inherit optimizer.lr",
    ),
    (
        _with_group("grid.optimizer.embedding.lrr", [1e-3]),
        "grid.optimizer.embedding.lrr",
        "did you mean 'optimizer.embedding.lr'",
    ),
    (
        _with_group("grid.optimizer.embedding.lr", [1e-3, 1e-2], **{"model.embedding": "one_hot"}),
        "grid.optimizer.embedding.lr",
        "no effect with task.kind 'modular' / model.embedding 'one_hot'",
    ),
    (
        _with_group(
            "grid.optimizer.embedding.weight_decay",
            [0.0, 1.0],
            **{
                "data.train_size": 100,
                "task.kind": "parity",
                "task.n_bits": 8,
                "task.k": 2,
                "task.test_size": 64,
            },
        ),
        "grid.optimizer.embedding.weight_decay",
        "no effect with task.kind 'parity'",
    ),
]


@pytest.mark.parametrize(
    ("sweep", "key", "fragment"), BAD_GROUP, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD_GROUP)]
)
def test_bad_group_values_name_the_dotted_key(sweep, key, fragment, tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(sweep))
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"{key}:" in err and fragment in err, err
    assert not out.exists()


def test_runs_parquet_holds_the_resolved_group_values_and_resumes(tmp_path, capsys):
    sweep = _sweep(**{"optimizer.embedding.name": "adam", "optimizer.embedding.weight_decay": 0.0})
    sweep["train"]["seeds"] = 1
    sweep["grid"] = {"optimizer.lr": [1.0e-3, 3.0e-3], "model.embedding": ["learned", "one_hot"]}
    out = tmp_path / "groups"
    phasegrok.run_sweep(sweep, out, progress=False, plots=False)
    runs = pd.read_parquet(out / "runs.parquet")
    learned = runs["model.embedding"] == "learned"
    assert learned.sum() == 2 and (~learned).sum() == 2
    rows = runs.loc[learned]
    np.testing.assert_array_equal(rows["optimizer.embedding.lr"], rows["optimizer.lr"])
    np.testing.assert_array_equal(rows["optimizer.embedding.b1"], rows["optimizer.b1"])
    assert (rows["optimizer.embedding.name"] == "adam").all()
    assert (rows["optimizer.embedding.weight_decay"] == 0.0).all()
    assert (rows["optimizer.weight_decay"] == 1.0).all()
    group_columns = [c for c in runs.columns if c.startswith("optimizer.embedding.")]
    assert len(group_columns) == 7
    assert runs.loc[~learned, group_columns].isna().all().all()  # no embedding: blank
    path = tmp_path / "groups.yaml"
    path.write_text(yaml.safe_dump(sweep))
    assert main([str(path), "--out", str(out), "--dry-run"]) == 0
    assert "(4 already done)" in capsys.readouterr().out
