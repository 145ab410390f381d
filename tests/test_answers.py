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
