"""The arrays task: a sweep over the user's own .npz file (Omnigrok's MNIST set-up, in small).

The files are made here (`conftest.write_arrays`: Gaussian class clusters, 4 classes, examples
of shape (3, 4)); nothing is downloaded.
"""

import copy
import shutil
import warnings

import numpy as np
import pytest
import yaml
from conftest import TINY, write_arrays

import phasegrok
from phasegrok.config.load import ConfigError, load_sweep
from phasegrok.engine.batch import batch_data
from phasegrok.engine.training import METRICS
from phasegrok.lens import fourier as lens
from phasegrok.plan.batching import n_params, run_bytes, step_flops
from phasegrok.plan.runs import expand
from phasegrok.report import LensWarning
from phasegrok.report.lens_section import draw_run
from phasegrok.store.folder import OutputError, prepare
from phasegrok.sweep import main
from phasegrok.tasks.base import example_order

LENS_COLUMNS = [f"final_{m}" for m in lens.MODULAR_METRICS + lens.PARITY_METRICS]


def _sweep(base: dict, path, **task) -> dict:
    sweep = copy.deepcopy(base)
    sweep["task"] = {**sweep["task"], "path": str(path), **task}
    return sweep


def test_an_arrays_sweep_trains_with_both_losses_and_minibatches(tiny_arrays, tmp_path):
    data = write_arrays(tmp_path / "data.npz")
    out = tmp_path / "out"
    res = phasegrok.run_sweep(_sweep(tiny_arrays, data), out, progress=False, plots=True)
    runs = res.runs.set_index("loss")
    assert sorted(runs.index) == ["cross_entropy", "mse"]
    assert (runs["n_classes"] == 4).all() and (runs["task.n_classes"] == 4).all()
    assert (runs["task.input_dim"] == 12).all() and (runs["task.test_size"] == 120).all()
    assert (runs["task.path"] == str(data)).all()
    assert (runs["optimizer.batch_size"] == "32").all()
    # Keys without effect on an arrays run are blank; there are no lens metrics at all.
    for key in ("task.p", "task.op", "task.n_bits", "task.k", "data.train_fraction"):
        assert runs[key].isna().all(), key
    assert runs["analysis.irrelevant_threshold"].isna().all()
    for column in LENS_COLUMNS:
        assert column not in runs.columns or runs[column].isna().all(), column
    assert set(res.curves.columns) == {"run_id", "step", *METRICS}
    # It learned: the clusters are separable, chance is 0.25.
    assert (runs["final_test_acc"] > 0.8).all(), runs["final_test_acc"]
    first = res.curves.groupby("run_id")["train_loss"].first()
    last = res.curves.groupby("run_id")["train_loss"].last()
    assert (last < first).all()
    params = res.params(res.runs["run_id"][0])  # 12 -> 16 -> 4
    assert params["Dense_0"]["kernel"].shape == (16, 12)
    assert params["Dense_1"]["kernel"].shape == (4, 16)
    # The figures skip the lens cleanly, asked for by id too.
    names = {p.name for p in out.glob("*.png")}
    assert any(n.startswith("phase__") for n in names) and (out / "index.html").exists()
    assert not any(n.split("__")[0] in ("spectrum", "star", "weights", "lens_curve") for n in names)
    assert not any(n.startswith("map_final_") and "test_acc" not in n for n in names), names
    with pytest.warns(LensWarning, match="arrays has no lens"):
        _, drawn = draw_run(phasegrok.load(out), str(res.runs["run_id"][0]), True, [])
    assert drawn == []


def test_resuming_from_the_resolved_sweep_skips_finished_runs(tiny_arrays, tmp_path, capsys):
    data = write_arrays(tmp_path / "data.npz")
    out = tmp_path / "out"
    sweep = _sweep(tiny_arrays, data)
    sweep["grid"] = {}
    sweep["train"]["steps"] = 20
    phasegrok.run_sweep(sweep, out, progress=False, plots=False)
    resolved = yaml.safe_load((out / "sweep.yaml").read_text())
    assert resolved["task"]["path"] == str(data)
    assert resolved["task"]["sha256"] == load_sweep(sweep).arrays.sha256
    # The repair command of "When things go wrong": the resolved sweep, into its folder.
    assert main([str(out / "sweep.yaml"), "--out", str(out), "--dry-run"]) == 0
    assert "(1 already done)" in capsys.readouterr().out


def test_train_sets_are_nested_across_train_sizes_and_the_test_set_is_all_of_x_test(
    tiny_arrays, tmp_path
):
    data = write_arrays(tmp_path / "data.npz")
    sweep = _sweep(tiny_arrays, data)
    sweep["grid"] = {"data.train_size": [37, 300]}
    sweep["train"]["seeds"] = [5]
    small, full = expand(load_sweep(sweep))
    assert (small.hyper.n_train, full.hyper.n_train) == (37, 300)
    batch = {r.hyper.n_train: batch_data(r.static, [r.hyper]) for r in (small, full)}
    with np.load(data) as raw:
        x_train = raw["x_train"].reshape(300, -1)
        y_train, x_test, y_test = raw["y_train"], raw["x_test"].reshape(120, -1), raw["y_test"]
    order = example_order(5, 300)
    a, b = batch[37], batch[300]
    np.testing.assert_array_equal(a.train_x[0, :37], b.train_x[0, :37])
    np.testing.assert_array_equal(b.train_x[0, :300], x_train[order])
    np.testing.assert_array_equal(b.train_y[0, :300], y_train[order])
    assert a.train_w[0].sum() == 37 and b.train_w[0].sum() == 300
    assert a.train_x.shape[1] == small.static.train_pad >= 37
    for d in (a, b):
        np.testing.assert_array_equal(d.test_x, x_test)
        np.testing.assert_array_equal(d.test_y, y_test)


def test_the_content_hash_decides_run_ids_and_the_sweep_identity(tiny_arrays, tmp_path):
    path = write_arrays(tmp_path / "data.npz")
    before = load_sweep(_sweep(tiny_arrays, path))
    moved = tmp_path / "elsewhere" / "moved.npz"
    moved.parent.mkdir()
    shutil.copy(path, moved)
    same = load_sweep(_sweep(tiny_arrays, moved))
    assert [r.run_id for r in expand(same)] == [r.run_id for r in expand(before)]
    assert same.identity() == before.identity()
    with np.load(path) as raw:
        x_train = raw["x_train"].copy()
    x_train[0, 0, 0] += 1.0  # one input of one example
    write_arrays(path, x_train=x_train)
    after = load_sweep(_sweep(tiny_arrays, path))
    assert after.arrays.sha256 != before.arrays.sha256
    assert not {r.run_id for r in expand(after)} & {r.run_id for r in expand(before)}
    assert after.identity() != before.identity()
    out = tmp_path / "out"
    prepare(out, before.identity(), before.resolved_dict(), force=False)
    with pytest.raises(OutputError, match="different sweep"):
        prepare(out, after.identity(), after.resolved_dict(), force=False)


def test_a_file_changed_since_the_sweep_was_loaded_is_refused(tiny_arrays, tmp_path):
    path = write_arrays(tmp_path / "data.npz")
    spec = load_sweep(_sweep(tiny_arrays, path))
    resolved = spec.resolved_dict()
    write_arrays(path, seed=1)
    run = expand(spec)[0]
    with pytest.raises(ConfigError, match="task.path: .*changed since the sweep was loaded"):
        batch_data(run.static, [run.hyper])
    with pytest.raises(ConfigError, match="task.sha256: .*the file changed"):
        load_sweep(resolved)  # the resolved sweep pins the content it was loaded with


def test_a_relative_path_is_taken_from_the_working_directory(tiny_arrays, tmp_path, monkeypatch):
    data_dir, other = tmp_path / "data", tmp_path / "other"
    data_dir.mkdir()
    other.mkdir()
    write_arrays(data_dir / "clusters.npz")
    sweep_file = other / "sweep.yaml"  # the sweep file's own folder does not count
    sweep_file.write_text(yaml.safe_dump(_sweep(tiny_arrays, "clusters.npz")))
    monkeypatch.chdir(data_dir)
    spec = load_sweep(sweep_file)
    assert spec.arrays.path == str(data_dir / "clusters.npz")
    assert spec.resolved_dict()["task"]["path"] == str(data_dir / "clusters.npz")
    assert expand(spec)[0].config["task.path"] == str(data_dir / "clusters.npz")
    monkeypatch.chdir(other)
    with pytest.raises(ConfigError, match=f"file not found: {other / 'clusters.npz'}"):
        load_sweep(sweep_file)


def test_the_estimates_use_the_files_width_and_classes(tiny_arrays, tmp_path):
    wide, labels = np.zeros((50, 7, 10), np.float32), np.arange(50) % 9
    path = write_arrays(
        tmp_path / "wide.npz", x_train=wide, y_train=labels, x_test=wide[:20], y_test=labels[:20]
    )
    sweep = _sweep(tiny_arrays, path)
    sweep["data"] = {"train_size": 50}
    sweep["model"] = {"hidden": [16, 8]}
    static = expand(load_sweep(sweep))[0].static
    assert (static.input_width, static.n_classes, static.arrays.test_size) == (70, 9, 20)
    assert n_params(static) == 70 * 16 + 16 + 16 * 8 + 8 + 8 * 9 + 9
    train, forward = step_flops(static, 32)
    assert forward == 2.0 * 32 * (70 * 16 + 16 * 8 + 8 * 9)
    assert train == 2 * 2.0 * 32 * 70 * 16 + 6.0 * 32 * (16 * 8 + 8 * 9)
    assert run_bytes(static) > static.n_eval_examples * 70 * 4


def test_a_two_class_file_may_have_one_logit(tiny_arrays, tmp_path):
    y = np.arange(300) % 2
    path = write_arrays(tmp_path / "two.npz", y_train=y, y_test=y[:120])
    sweep = _sweep(tiny_arrays, path)
    sweep["grid"] = {"loss": ["cross_entropy", "binary_cross_entropy"]}
    softmax, binary = (run.static for run in expand(load_sweep(sweep)))
    assert (softmax.n_classes, softmax.out_dim, binary.n_classes, binary.out_dim) == (2, 2, 2, 1)
    assert n_params(softmax) - n_params(binary) == 16 + 1  # one readout row and bias fewer


def test_inputs_of_any_real_dtype_and_whole_float_labels_are_taken(tiny_arrays, tmp_path):
    x = (np.arange(300 * 12) % 256).astype(np.uint8).reshape(300, 12)  # images as stored
    y = (np.arange(300) % 4).astype(np.float64)
    path = write_arrays(
        tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:120] > 7, y_test=y[:120]
    )
    spec = load_sweep(_sweep(tiny_arrays, path))
    assert (spec.arrays.n_train, spec.arrays.input_dim, spec.arrays.n_classes) == (300, 12, 4)


def test_keys_of_the_arrays_task_are_blank_for_other_tasks(tmp_path):
    sweep = copy.deepcopy(TINY)
    plain = {r.run_id for r in expand(load_sweep(sweep))}
    sweep["task"]["path"] = str(tmp_path / "never-read.npz")  # no arrays run: never opened
    runs = expand(load_sweep(sweep))
    assert {r.run_id for r in runs} == plain
    for key in ("task.path", "task.sha256", "task.input_dim", "task.n_classes"):
        assert runs[0].config[key] is None


# --------------------------------------------------------------------------------------------
# Bad files: one line naming the key and the array, exit status 2, nothing written


def _bad(tmp_path, **replace):
    return write_arrays(tmp_path / "bad.npz", **replace)


def _not_npz(tmp_path):
    path = tmp_path / "data.npz"
    path.write_text("x_train,y_train\n1,2\n")
    return path


def _npy(tmp_path):
    path = tmp_path / "data.npy"
    np.save(path, np.zeros((3, 4)))
    return path


def _long_y(tmp_path):
    return _bad(tmp_path, y_train=np.arange(299) % 4)


X = np.zeros((300, 12), np.float32)
BAD_FILES = [
    (lambda t: t / "missing.npz", "task.path", "file not found"),
    (lambda t: t, "task.path", "is not a file"),
    (_not_npz, "task.path", "is not an .npz file"),
    (_npy, "task.path", "single .npy array, not an .npz"),
    (lambda t: _bad(t, y_test=None), "task.path", "y_test: missing from"),
    (lambda t: _bad(t, x_train=None), "task.path", "x_train: missing from"),
    (_long_y, "task.path", "y_train: 299 labels for the 300 examples of x_train"),
    (lambda t: _bad(t, y_test=np.eye(4)[np.arange(120) % 4]), "task.path", "y_test: must be 1-d"),
    (lambda t: _bad(t, x_test=np.zeros((0, 12)), y_test=np.zeros(0, int)), "", "x_test: empty"),
    (lambda t: _bad(t, x_train=np.zeros((300, 0))), "task.path", "x_train: examples of size 0"),
    (lambda t: _bad(t, x_train=np.where(np.eye(300, 12) > 0, np.nan, X)), "", "x_train: 12 exam"),
    (lambda t: _bad(t, x_test=np.full((120, 12), np.inf)), "task.path", "x_test: 120 example(s)"),
    (lambda t: _bad(t, x_test=np.full((120, 12), 1e300)), "task.path", "x_test: 120 example(s)"),
    (lambda t: _bad(t, y_train=np.arange(300) % 4 - 1), "task.path", "y_train: labels must be"),
    (lambda t: _bad(t, y_test=np.full(120, 70_000)), "task.path", "y_test: labels must be class"),
    (lambda t: _bad(t, y_test=np.arange(120) % 4 + 0.5), "task.path", "y_test: labels must be int"),
    (lambda t: _bad(t, y_train=np.arange(300) % 2 == 0), "task.path", "y_train: labels must be in"),
    (lambda t: _bad(t, x_train=np.array(["a"] * 300)), "task.path", "x_train: inputs must be real"),
    (lambda t: _bad(t, x_test=np.zeros((120, 13))), "task.path", "x_test: examples of width 13"),
    (lambda t: _bad(t, y_train=np.zeros(300, int), y_test=np.zeros(120, int)), "", "2 classes"),
]
IDS = [
    "missing-file",
    "a-folder",
    "not-npz",
    "npy",
    "no-y_test",
    "no-x_train",
    "lengths-differ",
    "y-not-1d",
    "empty-x_test",
    "width-0",
    "nan-x_train",
    "inf-x_test",
    "overflows-float32",
    "negative-label",
    "label-too-large",
    "label-not-integer",
    "label-bool",
    "x-strings",
    "widths-differ",
    "one-class",
]


@pytest.mark.parametrize(("make", "key", "fragment"), BAD_FILES, ids=IDS)
def test_a_bad_file_is_refused_with_one_line(make, key, fragment, tiny_arrays, tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(_sweep(tiny_arrays, make(folder))))
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray NumPy warning (an overflow, say) either
        assert main([str(sweep_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"{key or 'task.path'}:" in err and fragment in err, err
    assert not out.exists()


BAD_SWEEPS = [
    ({"task": {"kind": "arrays"}}, "task.path", "needs a data file"),
    ({"data": {"train_size": 301}}, "data.train_size", "1 .. 300, the examples of x_train"),
    ({"grid": {"data.train_size": [40, 400]}}, "grid.data.train_size", "value 400"),
    ({"optimizer": {"batch_size": 101}}, "optimizer.batch_size", "larger than the training set"),
    ({"model": {"tie_output": True}}, "model.tie_output", "only for task.kind modular"),
    ({"grid": {"loss": ["binary_cross_entropy"]}}, "grid.loss", "arrays task has 4 classes"),
    ({"grid": {"task.path": ["a.npz", "b.npz"]}}, "grid.task.path", "cannot be swept"),
    ({"grid": {"task.test_size": [10, 20]}}, "grid.task.test_size", "no effect"),
    ({"task": {"sha256": "0" * 64}}, "task.sha256", "the file changed"),
    ({"task": {"sha256": "abc"}}, "task.sha256", "pattern"),
]


@pytest.mark.parametrize(("change", "key", "fragment"), BAD_SWEEPS, ids=[b[1] for b in BAD_SWEEPS])
def test_arrays_rules_name_the_key(change, key, fragment, tiny_arrays, tmp_path, capsys):
    sweep = _sweep(tiny_arrays, write_arrays(tmp_path / "data.npz"))
    for section, values in change.items():
        if section == "task" and "kind" in values:
            sweep["task"] = values
        else:
            sweep[section] = {**sweep.get(section, {}), **values}
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep))
    out = tmp_path / "out"
    assert main([str(sweep_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"{key}:" in err and fragment in err, err
    assert not out.exists()


def test_a_dry_run_counts_an_arrays_sweep(tiny_arrays, tmp_path, capsys):
    sweep_file = tmp_path / "sweep.yaml"
    sweep = _sweep(tiny_arrays, write_arrays(tmp_path / "data.npz"))
    sweep["grid"] = {"data.train_size": [50, 100, 300]}
    sweep_file.write_text(yaml.safe_dump(sweep))
    assert main([str(sweep_file), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "3 runs" in out and "3 shape group(s)" in out  # three size buckets
    assert not (tmp_path / "out").exists()
