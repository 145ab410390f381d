"""The task registry: every kind meets the `Task` contract, and what other layers derive from
it (the schema's kinds, blank keys, the column dictionary's kinds) agrees with it."""

from __future__ import annotations

from typing import get_args

import pytest

from phasegrok.config.load import load_sweep
from phasegrok.config.schema import RUN_KEYS, SIZE_KEYS, SweepFile
from phasegrok.plan.runs import expand, unread_keys
from phasegrok.store.columns import COLUMNS
from phasegrok.tasks import TASKS, TaskKind, kinds_reading
from phasegrok.tasks.arrays_file import ARRAYS

DERIVED = {"task.input_dim", "task.n_classes"}  # the data file's facts, not sweep keys


def test_the_schemas_kinds_are_the_registry():
    kinds = SweepFile.model_fields["task"].annotation.model_fields["kind"].annotation
    assert kinds is TaskKind and list(get_args(kinds)) == list(TASKS)


def test_the_size_keys_are_the_kinds():
    assert set(SIZE_KEYS) == {task.size_key for task in TASKS.values()}


@pytest.mark.parametrize("kind", sorted(TASKS))
def test_a_kind_owns_sweep_keys_and_a_traced_size_key(kind):
    task = TASKS[kind]
    assert task.kind == kind
    assert set(task.keys) <= set(RUN_KEYS) | DERIVED
    assert task.size_key in SIZE_KEYS and task.size_key in task.keys
    assert task.inputs in ("pairs", "vectors")
    assert not task.test_is_all or task.shares_test  # all examples means one shared array


def test_a_runs_unread_keys_are_blank_and_its_own_are_not():
    """Expanding one sweep per kind: every key another kind owns is None in the run, and the
    kind's own sweep keys keep a value (the column dictionary's kinds say the same)."""
    for kind, section in (("modular", {}), ("parity", {"n_bits": 8, "k": 3, "test_size": 50})):
        sweep = {"task": {"kind": kind, **section}, "data": {"train_size": 40}}
        sweep["train"] = {"steps": 10, "eval_every": 5, "seeds": 1}
        run = expand(load_sweep(sweep))[0]
        assert all(run.config[key] is None for key in unread_keys(kind) if key in run.config)
        assert run.config["task.kind"] == kind
        assert run.config[TASKS[kind].size_key] is not None
        for column in COLUMNS:
            if column.table == "runs" and column.name in run.config:
                assert (kind in column.tasks) == (kind in kinds_reading(column.name))
    assert ARRAYS not in run.config  # the sweep's data file object never reaches a run


class _Reads(dict):
    """A run config that records which keys are read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


@pytest.mark.parametrize(
    ("kind", "model"), [("modular", "mlp"), ("parity", "mlp"), ("modular", "transformer")]
)
def test_every_static_key_a_run_reads_reaches_its_program(kind, model):
    """A static (not traced) sweepable key that `plan.static_spec` never read would let two
    different runs share one compiled program: each key the kind (task and model) reads must
    be read."""
    from phasegrok.config.model import model_unread_keys
    from phasegrok.config.schema import NOT_SWEEPABLE, SWEEPABLE_KEYS, traced
    from phasegrok.plan.runs import static_spec

    section = {} if kind == "modular" else {"n_bits": 8, "k": 3, "test_size": 50}
    sweep = {"task": {"kind": kind, **section}, "data": {"train_size": 40}}
    sweep["model"] = {"kind": model}
    sweep["train"] = {"steps": 10, "eval_every": 5, "seeds": 1}
    run = expand(load_sweep(sweep))[0]
    cfg = _Reads(run.config)
    static_spec(cfg)
    unread = unread_keys(kind) | model_unread_keys(model)
    static = {
        k
        for k in SWEEPABLE_KEYS
        if traced(k) is None and k not in NOT_SWEEPABLE and k not in unread
    }
    assert static - cfg.read == set()
    assert all(run.config[k] is None for k in unread if k in run.config)


def test_a_key_added_later_is_left_out_of_the_run_id_at_its_default():
    """`Added` keys (and the data file's facts) enter a run's id only when set: the runs of a
    folder written before them keep their ids."""
    from phasegrok.plan.runs import ADDED_KEYS, make_run_id

    assert {"task.path", "task.sha256"} <= set(ADDED_KEYS)
    base = {"task.kind": "modular", "optimizer.lr": 0.001}
    at_default = {**base, **{key: ADDED_KEYS[key] for key in ADDED_KEYS}}
    assert make_run_id(at_default, 0) == make_run_id(base, 0)
    assert make_run_id({**base, "task.sha256": "ab" * 32}, 0) != make_run_id(base, 0)
    assert make_run_id({**base, "optimizer.lr": 0.002}, 0) != make_run_id(base, 0)
