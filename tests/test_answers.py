"""Wrong or misleading answers (issue #30): inputs the README calls valid are accepted, and
invalid ones are refused with one line, exit status 2, nothing written."""

import copy

import pytest
import yaml
from conftest import TINY

from phasegrok.config.load import load_sweep
from phasegrok.sweep import main


def _grid(axis: dict) -> dict:
    sweep = copy.deepcopy(TINY)
    sweep["grid"] = {"optimizer.weight_decay": axis}
    return sweep


def _refused(sweep_text: str, tmp_path, capsys, *extra: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(sweep_text)
    out = tmp_path / "out"
    status = main([str(path), "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()
    return err


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("{linspace: [1e-3, 1e-2, 3]}", (0.001, 0.0055, 0.01)),  # YAML 1.1: 1e-3 is text
        ("{logspace: [-2, 1, 1e1]}", None),  # 1e1: text to YAML 1.1, ten
        ("{logspace: [-2, 1, 10.0]}", None),
        ("{linspace: [0.1, 1.0, 1.0e+1]}", None),
    ],
)
def test_range_numbers_written_as_yaml_reads_them(text, values):
    sweep = yaml.safe_load(yaml.safe_dump(_grid({})).replace("{}", text))
    axis = load_sweep(sweep).grid["optimizer.weight_decay"]
    if values is not None:
        assert tuple(axis) == values
    else:
        assert len(axis) == 10 and isinstance(len(axis), int)


@pytest.mark.parametrize(
    "text", ["{logspace: [-2, 1, 2.5]}", "{linspace: [0.1, 1, '2.5']}", "{linspace: [a, 1, 3]}"]
)
def test_range_with_a_fractional_count_is_refused(text, tmp_path, capsys):
    raw = yaml.safe_dump(_grid({})).replace("{}", text)
    err = _refused(raw, tmp_path, capsys)
    assert "grid.optimizer.weight_decay." in err and "whole n" in err, err


def _with_lr(lr) -> dict:
    sweep = copy.deepcopy(TINY)
    sweep["optimizer"]["lr"] = lr
    sweep["grid"] = {"optimizer.weight_decay": [0.0, 1.0]}
    return sweep


@pytest.mark.parametrize(
    ("sweep", "extra", "key"),
    [
        (_with_lr(1e300), (), "optimizer.lr"),
        (_with_lr(1e-300), (), "optimizer.lr"),
        (_with_lr(1e-3), ("optimizer.lr=1e300",), "optimizer.lr"),
        (_with_lr(1e-3), ("optimizer.eps=1e-40",), "optimizer.eps"),
        (_grid([0.0, 1e-300, 1.0]), (), "grid.optimizer.weight_decay"),
        (_grid({"logspace": [-40, -1, 4]}), (), "grid.optimizer.weight_decay"),
        (_grid({"linspace": [0.0, 1e-35, 20_000]}), (), "grid.optimizer.weight_decay"),
    ],
)
def test_magnitudes_outside_float32_are_refused(sweep, extra, key, tmp_path, capsys):
    err = _refused(yaml.safe_dump(sweep), tmp_path, capsys, *extra)
    assert f"{key}:" in err and "float32" in err, err


def test_zero_and_float32_extremes_stay_valid():
    sweep = _grid([0.0, 1.2e-38, 3.4e38])
    sweep["optimizer"]["eps"] = 2e-38
    assert len(load_sweep(sweep).grid["optimizer.weight_decay"]) == 3
    assert len(load_sweep(_grid({"linspace": [0.0, 1e-3, 20_000]})).grid) == 1


@pytest.mark.parametrize(
    ("flags", "name"),
    [
        (("--batch-runs", "0"), "--batch-runs"),
        (("--batch-runs=-3",), "--batch-runs"),
        (("--claim-timeout=-5", "--worker"), "--claim-timeout"),
        (("--claim-timeout", "nan", "--worker"), "--claim-timeout"),
        (("--claim-timeout", "0"), "--claim-timeout"),
    ],
)
def test_out_of_range_options_are_refused(flags, name, tmp_path, capsys):
    err = _refused(yaml.safe_dump(TINY), tmp_path, capsys, *flags)
    assert f"{name}:" in err and "must be" in err, err


def _foreign_folder(tmp_path, manifest: str | None):
    from phasegrok.store.folder import MANIFEST

    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "out"
    out.mkdir()
    if manifest is None:
        (out / "notes.txt").write_text("mine")
    else:
        (out / MANIFEST).write_text(manifest)
    return path, out


@pytest.mark.parametrize(
    ("manifest", "fragment"),
    [
        ('{"identity": "another", "name": "other"}', "holds the results of another sweep"),
        ("{not json", "cannot be read"),
        (None, "holds no phasegrok results"),
    ],
)
def test_dry_run_says_the_folder_is_refused(manifest, fragment, tmp_path, capsys):
    path, out = _foreign_folder(tmp_path, manifest)
    before = sorted(p.name for p in out.iterdir())
    assert main([str(path), "--out", str(out), "--dry-run"]) == 0
    said = capsys.readouterr().out
    assert "refused:" in said and fragment in said and "--force" in said, said
    assert sorted(p.name for p in out.iterdir()) == before
    assert main([str(path), "--out", str(out), "--no-plots", "--quiet"]) == 2  # as it said
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == before
    assert main([str(path), "--out", str(out), "--dry-run", "--force"]) == 0
    said = capsys.readouterr().out
    assert "refused" not in said and "(0 already done)" in said, said


def test_plot_on_a_file_says_it_is_not_a_results_folder(tmp_path, capsys):
    from phasegrok.plot import main as plot_main

    afile = tmp_path / "afile"
    afile.write_text("x")
    assert plot_main([str(afile)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a results folder" in err, err
    assert "does not exist" not in err


def test_merge_on_a_missing_folder_says_it_does_not_exist(tmp_path, capsys):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "nope"
    assert main([str(path), "--out", str(out), "--merge"]) == 1  # as for any missing runs
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{out} does not exist" in err, err
    assert "still training" not in err and not out.exists()
