"""The benchmark's FLOP count, checked against a hand count; the --workers mode's set-up."""

import pytest

from phasegrok.bench.cli import main, shrink
from phasegrok.bench.workers import worker_cores
from phasegrok.config.load import load_sweep
from phasegrok.plan.batching import step_flops
from phasegrok.plan.runs import expand


def _static(sweep):
    return expand(load_sweep(sweep))[0].static


def test_parity_flops_follow_the_formula():
    static = _static(
        {"task": {"kind": "parity", "n_bits": 30, "k": 3}, "model": {"hidden": [64]}, "grid": {}}
    )
    train, forward = step_flops(static, 1000)
    first = 2 * 1000 * 30 * 64
    readout = 2 * 1000 * 64 * 2
    assert forward == first + readout
    assert train == 2 * first + 3 * readout  # no input gradient for the first layer


def test_modular_first_layer_counts_the_table_not_the_examples():
    static = _static(
        {
            "task": {"kind": "modular", "p": 97},
            "model": {"embed_dim": 128, "hidden": [256, 64]},
            "grid": {},
        }
    )
    train, forward = step_flops(static, 2823)
    table = 2 * 2 * 97 * 128 * 256  # two operand tables
    hidden = 2 * 2823 * 256 * 64
    readout = 2 * 2823 * 64 * 97
    assert forward == table + hidden + readout
    # forward, weight gradient and the learned table's gradient (the first layer's input)
    assert train == 3 * table + 3 * hidden + 3 * readout
    assert step_flops(static, 100)[0] < train  # the dense layers scale with the examples


def test_a_fixed_embedding_needs_no_table_gradient():
    static = _static(
        {
            "task": {"kind": "modular", "p": 31},
            "model": {"embedding": "one_hot", "hidden": [64]},
            "grid": {},
        }
    )
    train, _ = step_flops(static, 300)
    table = 2 * 2 * 31 * 31 * 64
    readout = 2 * 300 * 64 * 31
    assert train == 2 * table + 3 * readout


def test_quick_shrinks_runs_and_steps():
    sweep = {"train": {"steps": 2000, "eval_every": 100, "seeds": 8}, "grid": {"a": [1, 2, 3, 4]}}
    quick = shrink(sweep)
    assert quick["train"]["steps"] == 400 and quick["train"]["seeds"] == 1
    assert quick["grid"]["a"] == [1, 2]


def test_workers_are_spread_over_the_cores_one_each():
    assert worker_cores(2, [0, 1]) == [0, 1]
    assert worker_cores(3, [4, 7]) == [4, 7, 4]  # more workers than cores: they share


def test_the_workers_mode_refuses_zero_workers(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--workers", "0"])
    assert stop.value.code == 2 and "--workers" in capsys.readouterr().err
