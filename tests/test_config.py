"""Bad sweep files: one line naming the key, exit status 2, nothing written."""

import copy

import pytest
import yaml
from conftest import TINY

from phasegrok.config.load import ConfigError, load_sweep
from phasegrok.sweep import main


def _with(path: str, value):
    sweep = copy.deepcopy(TINY)
    node = sweep
    *parents, leaf = path.split(".")
    for name in parents:
        node = node.setdefault(name, {})
    node[leaf] = value
    sweep["grid"].pop(path, None)  # a swept key's base value is never used
    return sweep


BAD = [
    (_with("optimizer.lrr", 1.0), "optimizer.lrr", "did you mean 'optimizer.lr'"),
    (_with("model.hiden", [3]), "model.hiden", "did you mean 'model.hidden'"),
    (_with("trian", {}), "trian", "did you mean 'train'"),
    (_with("classify.treshold", 0.8), "classify.treshold", "did you mean"),
    (_with("optimizer.lr", "fast"), "optimizer.lr", "valid number"),
    (
        _with("optimizer.weight_decay", [0.1, 1.0]),
        "optimizer.weight_decay",
        "valid number; to sweep it, list it under grid: as 'optimizer.weight_decay: [0.1,1.0]'",
    ),
    (_with("model.xyzzy", 1), "model.xyzzy", "unknown key; allowed here: activation, bias,"),
    (_with("optimizer.lr", -1.0), "optimizer.lr", "must be > 0"),
    (_with("optimizer.lr", 0.0), "optimizer.lr", "must be > 0"),
    (_with("optimizer.weight_decay", -0.1), "optimizer.weight_decay", ">= 0"),
    (_with("optimizer.l1", -1.0e-4), "optimizer.l1", "must be >= 0 (got -0.0001)"),
    (_with("optimizer.l1", "much"), "optimizer.l1", "valid number"),
    (_with("grid", {"optimizer.l1": [0.0, -1.0e-3]}), "grid.optimizer.l1", ">= 0"),
    (
        _with("grid", {"optimizer.l1": {"linspace": [-1.0e-3, 1.0e-3, 5]}}),
        "grid.optimizer.l1",
        ">= 0",
    ),
    (_with("task.encoding", "bipolar"), "task.encoding", "'pm1' or 'binary'"),
    (_with("optimizer.name", "lion"), "optimizer.name", "'adamw', 'adam' or 'sgd'"),
    (_with("model.init", "kaiming"), "model.init", "'torch' or 'lecun'"),
    (_with("model.embedding_std", 0.0), "model.embedding_std", "must be > 0"),
    (_with("grid", {"model.embedding_std": [1.0, -0.5]}), "grid.model.embedding_std", "> 0"),
    (_with("data.train_fraction", 1.5), "data.train_fraction", "(0, 1)"),
    (_with("data.train_fraction", 0.0), "data.train_fraction", "(0, 1)"),
    (_with("task.p", 1), "task.p", ">= 2"),
    (_with("task", {"kind": "modular", "op": "div", "p": 12}), "task.p", "prime"),
    (
        _with("task", {"kind": "modular", "op": "sub", "symmetric": True}),
        "task.symmetric",
        "commutative",
    ),
    (
        _with("model", {"embedding": "circular", "circular_freqs": [1, 9], "hidden": [8]}),
        "model.circular_freqs",
        "1..5",
    ),
    (_with("train.steps", 60.5), "train.steps", "integer"),
    (_with("train.eval_every", 7), "train.eval_every", "divide"),
    (_with("train.save_params_at", [30]), "train.save_params_at", "multiples"),
    (_with("grid", {"optimizer.lr": []}), "grid.optimizer.lr", "empty"),
    (
        _with("grid", {"optimizer.learning_rate": [1.0]}),
        "grid.optimizer.learning_rate",
        "not a known",
    ),
    (_with("grid", {"optimizer.lr": [1e-3, -1.0]}), "grid.optimizer.lr", "must be > 0"),
    (
        _with("grid", {"optimizer.lr": {"logspace": [-3, -1]}}),
        "grid.optimizer.lr.logspace",
        "[lo, hi, n]",
    ),
    (_with("grid", {"train.seeds": [1, 2]}), "grid.train.seeds", "cannot be swept"),
    (
        _with("plots", [{"x": "optimizer.lr", "y": "model.init_scale"}]),
        "plots[0].y",
        "not a swept axis",
    ),
    (_with("optimizer.batch_size", 10_000), "optimizer.batch_size", "larger than the training set"),
    (
        _with("task", {"kind": "parity", "n_bits": 4, "k": 5}),
        "task.k",
        "1..n_bits",
    ),
    (
        {**_with("task", {"kind": "parity", "n_bits": 4, "k": 2}), "data": {"train_size": 100}},
        "data.train_size",
        "16 distinct inputs",
    ),
    (
        {
            **_with("task", {"kind": "parity", "n_bits": 8, "k": 2, "test_size": 64}),
            "data": {"train_size": 193},
        },
        "data.train_size",
        "193 train + 64 test examples (task.test_size) exceed the 256 distinct inputs",
    ),
    (
        {
            **_with("task", {"kind": "parity", "n_bits": 8, "k": 2, "test_size": 64}),
            "data": {"train_size": 100},
            "grid": {"data.train_size": [100, 200]},
        },
        "grid.data.train_size",
        "256 distinct inputs",
    ),
    (
        {**_with("task", {"kind": "parity", "n_bits": 8, "k": 2}), "data": {"train_size": 0}},
        "data.train_size",
        ">= 1",
    ),
    (
        {
            **_with("task", {"kind": "parity", "n_bits": 12, "k": 2}),
            "data": {"train_size": 20},
            "model": {"tie_output": True},
        },
        "model.tie_output",
        "only for task.kind modular",
    ),
    (_with("analysis.fourier_top_k", 6), "analysis.fourier_top_k", "p // 2 = 5"),
    (
        {
            **_with("task", {"kind": "modular", "op": "mul", "p": 11}),
            "analysis": {"fourier_top_k": 6},
        },
        "analysis.fourier_top_k",
        "op 'mul' at p = 11 has (p - 1) // 2 = 5 frequencies",
    ),
    (_with("train.seeds", 0), "train.seeds", ">= 1"),
]


@pytest.mark.parametrize(("sweep", "key", "fragment"), BAD, ids=[b[1] for b in BAD])
def test_bad_sweep_names_the_key(sweep, key, fragment, tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(sweep))
    out = tmp_path / "out"
    status = main([str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    assert f"{key}:" in err and fragment in err, err
    assert not out.exists()


def test_missing_file_and_invalid_yaml(tmp_path, capsys):
    assert main([str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntask:\n  kind: modular: parity\n")
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert "invalid YAML" in err and "line 3" in err
    assert len(err.strip().splitlines()) == 1


def test_fourier_top_k_is_not_bounded_where_the_lens_is_blank():
    """square_sum and mul at a composite p have no cyclic group: no frequencies to exceed."""
    for task in ({"op": "square_sum", "p": 11}, {"op": "mul", "p": 12}, {"op": "mul", "p": 2}):
        sweep = {**_with("task", {"kind": "modular", **task}), "analysis": {"fourier_top_k": 7}}
        sweep["data"] = {"train_fraction": 0.5}
        assert load_sweep(sweep).n_runs() > 0


def test_grid_values_expand_in_order():
    spec = load_sweep(
        _with("grid", {"optimizer.weight_decay": {"logspace": [-2, 1, 4]}, "optimizer.lr": [1e-3]})
    )
    assert tuple(spec.grid["optimizer.weight_decay"]) == (0.01, 0.1, 1.0, 10.0)
    assert spec.n_runs() == 4 * 1 * 2
    linear = load_sweep(_with("grid", {"data.train_fraction": {"linspace": [0.2, 0.8, 4]}}))
    assert tuple(linear.grid["data.train_fraction"]) == (0.2, 0.4, 0.6, 0.8)


def test_sweeping_a_key_without_effect_is_refused():
    sweep = _with("task", {"kind": "parity", "n_bits": 12, "k": 2})
    sweep["data"] = {"train_size": 20}
    sweep["grid"] = {"data.train_fraction": [0.3, 0.5]}
    from phasegrok.plan.runs import expand

    with pytest.raises(ConfigError, match="no effect"):
        expand(load_sweep(sweep))


@pytest.mark.parametrize(
    "task",
    [
        {"task": {"kind": "modular", "p": 11}, "model": {"embedding": "one_hot"}},
        {"task": {"kind": "modular", "p": 11}, "model": {"embedding": "circular"}},
        {"task": {"kind": "parity", "n_bits": 12, "k": 2}, "data": {"train_size": 20}},
    ],
    ids=["one_hot", "circular", "parity"],
)
def test_sweeping_embedding_std_without_a_learned_embedding_is_refused(task):
    from phasegrok.plan.runs import expand

    sweep = {**copy.deepcopy(TINY), **task, "grid": {"model.embedding_std": [0.2, 1.0]}}
    with pytest.raises(ConfigError, match="grid.model.embedding_std.*no effect"):
        expand(load_sweep(sweep))
    sweep["model"] = {**sweep.get("model", {}), "embedding": "learned"}
    if task["task"]["kind"] == "modular":
        assert len(expand(load_sweep(sweep))) == 2 * 2  # values x seeds


def test_identity_ignores_grid_values_seeds_classify_and_plots():
    a = load_sweep(TINY)
    b = load_sweep(
        {
            **TINY,
            "grid": {"optimizer.weight_decay": [5.0], "optimizer.lr": [1e-3]},
            "train": {**TINY["train"], "seeds": 5},
            "classify": {"threshold": 0.8},
        }
    )
    c = load_sweep(_with("task.p", 13))
    assert a.identity() == b.identity() != c.identity()


def test_a_huge_grid_needs_yes(tmp_path, capsys):
    sweep = _with("grid", {"optimizer.lr": {"logspace": [-4, -1, 200]}})
    sweep["grid"]["optimizer.weight_decay"] = {"logspace": [-3, 1, 120]}
    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump(sweep))
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "48000 runs" in err and "--yes" in err and len(err.strip().splitlines()) == 1
    assert "TFLOP" in err and "MiB of results" in err  # an estimate comes with the count
    assert not out.exists()


def test_validation_does_not_import_jax(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(TINY))
    code = (
        "import sys; from phasegrok.sweep import main; "
        f"main([{str(path)!r}, '--dry-run']); "
        "assert 'jax' not in sys.modules, 'jax imported'; print('clean')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and "clean" in proc.stdout, proc.stderr


def test_unwritable_output_folder(tmp_path, capsys):
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(TINY))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert (
        main([str(path), "--out", str(blocker / "out")]) == 1
    )  # cannot write: one status, 1, wherever it happens
    err = capsys.readouterr().err
    assert "cannot write" in err and len(err.strip().splitlines()) == 1


def test_dynamic_keys_are_the_traced_hyperparameters():
    """config's list of traced keys (validated as intervals) matches plan.Hyper's fields, a
    parameter group's keys included (`optimizer.embedding.lr` -> `embedding_lr`)."""
    from phasegrok.config.load import DYNAMIC_KEYS
    from phasegrok.plan.runs import Hyper, traced_name

    names = [traced_name(k) for k in DYNAMIC_KEYS]
    assert len(set(names)) == len(names)
    assert set(names) == set(Hyper._fields) - {"n_train", "seed"}


def test_the_traced_keys_are_declared_on_the_schema_and_are_the_programs_traced_values():
    """Static or traced is declared once, on the schema's fields (`Traced`); the per-run values
    of the compiled program (`plan.Hyper`) are those keys, plus the train-set size and seed."""
    from phasegrok.config.schema import DYNAMIC_KEYS, SIZE_KEYS, SWEEPABLE_KEYS, traced
    from phasegrok.plan.runs import Hyper, traced_name

    assert set(Hyper._fields) == {traced_name(k) for k in DYNAMIC_KEYS} | {"n_train", "seed"}
    assert set(SIZE_KEYS) == {"data.train_fraction", "data.train_size"}
    assert traced("optimizer.weight_decay") is not None and traced("model.hidden") is None
    assert traced("optimizer.embedding.name") is None  # a group's optimizer is its program
    assert set(DYNAMIC_KEYS) | set(SIZE_KEYS) <= set(SWEEPABLE_KEYS)
