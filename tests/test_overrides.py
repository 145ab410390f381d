"""Command-line overrides (Hydra's grammar): parsed, applied, validated like the file."""

from __future__ import annotations

import pytest
import yaml

import phasegrok
from phasegrok.config.load import ConfigError, load_sweep
from phasegrok.config.overrides import apply_overrides, parse_override
from phasegrok.sweep import _parser, main


@pytest.fixture
def tiny_file(tiny, tmp_path):
    tiny["plots"] = [{"x": "optimizer.weight_decay", "y": "optimizer.lr"}]
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny))
    return path


def test_grammar():
    assert parse_override("optimizer.lr=3.0e-4") == ("set", ["optimizer", "lr"], 3.0e-4)
    assert parse_override("model.hidden=[128,128]") == ("set", ["model", "hidden"], [128, 128])
    assert parse_override("+train.steps=5") == ("set", ["train", "steps"], 5)
    assert parse_override("++train.steps=5")[2] == 5
    # A grid key is one dotted key after `grid.`.
    assert parse_override("grid.optimizer.lr={logspace: [-4, -2, 5]}") == (
        "set",
        ["grid", "optimizer.lr"],
        {"logspace": [-4, -2, 5]},
    )
    assert parse_override("~grid.data.train_fraction") == (
        "remove",
        ["grid", "data.train_fraction"],
        None,
    )
    for bad in ("optimizer.lr", "=3", "a..b=1", "model.hidden=[1,"):
        with pytest.raises(ConfigError):
            parse_override(bad)


def test_apply_sets_removes_and_drops_plots_naming_a_removed_axis(tiny):
    tiny["plots"] = [{"x": "optimizer.weight_decay", "y": "optimizer.lr"}]
    out = apply_overrides(tiny, ["optimizer.lr=1e-2", "~grid.optimizer.lr", "new.key=1"])
    assert out["optimizer"]["lr"] == "1e-2"  # YAML 1.1 text; validation reads the number
    assert "optimizer.lr" not in out["grid"] and out["plots"] == []
    assert out["new"] == {"key": 1}
    assert tiny["grid"]["optimizer.lr"] == [1.0e-3, 3.0e-3]  # the input is not changed


def test_overrides_go_through_the_files_validation(tiny):
    spec = load_sweep(tiny, ["optimizer.lr=1e-2", "~grid.optimizer.lr", "train.seeds=1"])
    assert spec.file.optimizer.lr == 1e-2 and list(spec.grid) == ["optimizer.weight_decay"]
    assert spec.n_runs() == 3
    spec = load_sweep(tiny, ["grid.optimizer.lr={logspace: [-4, -2, 3]}"])
    assert list(spec.grid["optimizer.lr"]) == [1e-4, 1e-3, 1e-2]
    cases = {
        "train.steps=-1": ("train.steps", ">= 1"),
        "optimizer.lrr=1": ("optimizer.lrr", "did you mean 'optimizer.lr'"),
        "grid.optimizer.lr=[1,-1]": ("grid.optimizer.lr", "> 0"),
        "grid.train.seeds=[1,2]": ("grid.train.seeds", "cannot be swept"),
        "optimizer.lr.x=1": ("optimizer.lr", "not a section"),
        "~model.nothing": ("model.nothing", "does not set it"),
    }
    for override, (key, message) in cases.items():
        with pytest.raises(ConfigError) as err:
            load_sweep(tiny, [override])
        assert err.value.key == key and message in err.value.message, override
    # In order: the base value is checked once no axis replaces it.
    with pytest.raises(ConfigError, match="optimizer.lr: must be > 0"):
        load_sweep(tiny, ["~grid.optimizer.lr", "optimizer.lr=-1"])


def test_cli_overrides_anywhere_and_dry_run_prints_the_resolved_sweep(tiny_file, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [str(tiny_file), "train.seeds=1", "--out", str(out), "--dry-run", "~grid.optimizer.lr"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    resolved = yaml.safe_load("\n".join(printed.splitlines()[:-1]))  # all but the summary
    assert resolved["train"]["seeds"] == [0] and list(resolved["grid"]) == [
        "optimizer.weight_decay"
    ]
    assert resolved["plots"] == []  # the plot that named the removed axis went with it
    assert "3 runs" in printed.splitlines()[-1]
    assert not out.exists()


def test_cli_bad_override_is_one_line_exit_2_nothing_written(tiny_file, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [str(tiny_file), "~grid.optimizer.lr", "--out", str(out), "optimizer.lr=-1"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "optimizer.lr: must be > 0" in err
    assert not out.exists()


def test_a_list_for_a_one_value_key_suggests_the_grid(tiny_file, tmp_path, capsys):
    out = tmp_path / "out"
    cases = {
        "optimizer.weight_decay=[0.1,1]": "optimizer.weight_decay: Input should be a valid "
        "number; to sweep it, write grid.optimizer.weight_decay=[0.1,1]",
        "task.kind=[modular,parity]": "write grid.task.kind=['modular','parity']",
        "train.steps=[1,2]": "write grid.train.steps=[1,2]",
        # a key that takes a list, given a list of lists
        "model.hidden=[[8],[16]]": "model.hidden.0: Input should be a valid integer; to sweep "
        "it, write grid.model.hidden=[[8],[16]]",
        "optimizer.lr=[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9]": "write grid.optimizer.lr=[...]",
    }
    for override, message in cases.items():
        assert main([str(tiny_file), override, "--dry-run", "--out", str(out)]) == 2, override
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, (override, err)
        assert not out.exists()
    # No hint where a list cannot sweep: a key that is not sweepable, a list key given a list.
    for override in ("classify.threshold=[0.9]", "model.hidden=[[8],3]"):
        with pytest.raises(ConfigError) as err:
            load_sweep(tiny_file, [override])
        assert "grid" not in err.value.message, override


def test_a_typo_suggests_the_closest_three_keys_at_most(tiny_file):
    cases = {
        "grid.optimizer.weight_dcay=[1,2]": "not a known dotted path (did you mean "
        "'optimizer.weight_decay', 'optimizer.embedding.weight_decay' or 'optimizer.eps'?)",
        "grid.lr=[1,2]": "(did you mean 'optimizer.lr' or 'optimizer.embedding.lr'?)",
        "optimizer.weight_dcay=1": "unknown key (did you mean 'optimizer.weight_decay'?)",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError) as err:
            load_sweep(tiny_file, [override])
        assert str(err.value).endswith(message), (override, str(err.value))
    # Nothing close: where the keys are, not all ~50 of them.
    with pytest.raises(ConfigError) as err:
        load_sweep(tiny_file, ["grid.zzz=[1]"])
    assert err.value.message == (
        "not a known dotted path; a grid key is a dotted path into task.*, data.*, model.*, "
        "optimizer.*, loss, train.*, analysis.*"
    )


def test_help_shows_the_grammar_with_an_example():
    text = _parser().format_help()
    assert "~KEY" in text and "grid.optimizer.lr='{logspace" in text and "example:" in text


def test_run_sweep_takes_overrides_and_records_them(tiny, tmp_path):
    res = phasegrok.run_sweep(
        tiny,
        tmp_path / "api",
        progress=False,
        plots=False,
        overrides=["grid.optimizer.weight_decay=[0.1]", "~grid.optimizer.lr", "train.seeds=1"],
    )
    assert len(res.runs) == 1
    written = yaml.safe_load((tmp_path / "api" / "sweep.yaml").read_text())
    assert written["grid"] == {"optimizer.weight_decay": [0.1]}
