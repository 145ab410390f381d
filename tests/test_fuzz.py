"""Fuzzing the sweep file: whatever it holds, a validated sweep or one line and exit status 2.

Random sweep files are built from the valid ones (sweeps/*.yaml and the tests' TINY sweeps, an
arrays task's among them) by replacing, deleting and duplicating keys, with values of every type:
huge and negative numbers, NaN, infinity, empty and nested lists, strings like "1e-3", paths
that are no data file, booleans, null, mappings, and grid ranges with huge n. Each case goes
through the CLI's `main` in this process with --dry-run (and the Python API's `load_sweep` +
`plan` for a dict), and must end in a dry-run line (exit 0) or one error line (exit 2), within
2 s and 100 MB of Python allocations.
Derandomized, so CI runs the same cases every time.
"""

import contextlib
import copy
import io
import math
import tempfile
import typing
from pathlib import Path

import yaml
from conftest import TINY, TINY_ARRAYS, TINY_PARITY, measured
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from phasegrok.config.load import SWEEPABLE_KEYS, ConfigError, key_annotation, load_sweep
from phasegrok.plan.groups import plan
from phasegrok.sweep import check_limits, main

ROOT = Path(__file__).resolve().parents[1]
BASES = [TINY, TINY_PARITY, TINY_ARRAYS] + [
    yaml.safe_load(p.read_text()) for p in sorted((ROOT / "sweeps").glob("*.yaml"))
]
BYTES = 100 << 20
SETTINGS = settings(
    max_examples=1500,
    deadline=None,  # the bound is asserted per case below, with its measurement
    derandomize=True,  # the same cases on every run
    database=None,  # and no replay of earlier failures: CI sees exactly these
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Values of every type, the troublesome ones weighted in.
NUMBERS = st.one_of(
    st.integers(),
    st.integers(-(10**40), 10**40),
    st.sampled_from([0, 1, -1, 2, 3, 7, 2**31, 2**31 - 1, 2**63, -(2**63), 10**9, 10**18]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 1e-3, 1e308, -1e308, 5e-324, math.nan, math.inf]),
)
WORDS = st.sampled_from(
    ["1e-3", "1.0e-3", "nan", "inf", "-inf", "full", "", " ", "0x10", "1_000", "true", "null"]
    + ["modular", "parity", "add", "div", "learned", "one_hot", "circular", "sum", "concat"]
    + ["relu", "gelu", "quadratic", "adamw", "sgd", "highest", "mse", "pair", "per_class"]
    + ["arrays", "/", "/dev/null", "/proc", "no-such-file.npz", "sweeps/parity.yaml"]
    + ["linspace", "logspace", "optimizer.lr", "data.train_fraction", "x" * 300]
)
RANGES = st.builds(
    lambda kind, lo, hi, n: {kind: [lo, hi, n]},
    st.sampled_from(["linspace", "logspace", "geomspace"]),
    NUMBERS,
    NUMBERS,
    st.one_of(st.sampled_from([0, 1, 2, 3000, 10**6, 10**9, 10**12, 10**18, 2**64]), NUMBERS),
)
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, WORDS, st.text(max_size=8), RANGES)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(WORDS, st.sampled_from(SWEEPABLE_KEYS)), inner, max_size=3),
    ),
    max_leaves=12,
)
# Values a key could well take, so that many cases get past the first check and reach the
# grid's counting, corners and planning: small numbers, and grids of any length.
PLAUSIBLE = st.one_of(
    st.floats(0.001, 0.999),
    st.integers(1, 64),
    st.lists(st.floats(0.001, 0.999), min_size=1, max_size=4),
    st.lists(st.integers(1, 64), min_size=1, max_size=3),
    st.lists(WORDS, min_size=1, max_size=3, unique=True),
    st.lists(st.booleans(), min_size=1, max_size=2, unique=True),
    st.builds(
        lambda kind, lo, hi, n: {kind: [lo, hi, n]},
        st.sampled_from(["linspace", "logspace"]),
        st.floats(-3, 0.9),
        st.floats(-3, 0.9),
        st.sampled_from([1, 2, 3, 3000, 10**6, 10**9, 10**12]),
    ),
)
SECTIONS = ["name", "task", "data", "model", "optimizer", "loss", "train", "analysis"]
SECTIONS += ["grid", "classify", "plots", "trian", "extra"]


def _paths(tree, prefix=()):
    """Every key path of a nested dict, sections included."""
    for key, value in tree.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from _paths(value, (*prefix, key))


def _set(tree, path, value):
    node = tree
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


def _delete(tree, path):
    node = tree
    for key in path[:-1]:
        node = node.get(key)
        if not isinstance(node, dict):
            return
    node.pop(path[-1], None)


def _get(tree, path):
    node = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


@st.composite
def sweeps(draw):
    """(a sweep dict, YAML lines appended to its text: duplicated top-level keys)."""
    sweep = copy.deepcopy(draw(st.sampled_from(BASES)))
    known = [p for p in _paths(sweep) if len(p) > 1]
    grid_keys = [("grid", k) for k in SWEEPABLE_KEYS]
    somewhere = st.one_of(  # mostly keys that exist, or grid axes
        st.sampled_from(known),
        st.sampled_from(known),
        st.sampled_from(grid_keys),
        st.sampled_from(grid_keys),
        st.sampled_from([tuple(k.split(".")) for k in SWEEPABLE_KEYS]),
        st.sampled_from([(s,) for s in SECTIONS]),
        st.tuples(st.sampled_from(SECTIONS), WORDS),
    )
    appended = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 2, 3, 4]))):
        action = draw(st.sampled_from(["replace", "replace", "delete", "duplicate", "yaml-dup"]))
        path = draw(somewhere)
        if action == "replace":
            _set(sweep, path, draw(st.one_of(VALUES, PLAUSIBLE)))
        elif action == "delete":
            _delete(sweep, path)
        elif action == "duplicate":  # a value copied under another key
            _set(sweep, draw(somewhere), copy.deepcopy(_get(sweep, path)))
        else:  # the same top-level key twice in the file (YAML keeps the last)
            appended.append(yaml.safe_dump({path[0]: draw(VALUES)}, default_flow_style=False))
    return sweep, appended


def _one_case(run):
    """Run `run()` under tracemalloc; assert the memory bound; return its result. (No time
    bound: a time asserted in a test fails on a busy machine; benchmarks/ measure speed.)"""
    result, _, peak = measured(run)
    assert peak < BYTES, f"peak {peak / 2**20:.0f} MiB"
    return result


@SETTINGS
@given(sweeps())
def test_fuzzed_sweep_files_end_in_a_line(case):
    sweep, appended = case
    try:
        text = yaml.safe_dump(sweep, sort_keys=False) + "".join(appended)
    except (ValueError, yaml.YAMLError):  # a value YAML cannot write (an int of 4,300+ digits)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep.yaml"
        path.write_text(text)
        out, err = io.StringIO(), io.StringIO()
        args = [str(path), "--out", str(Path(tmp) / "out"), "--dry-run"]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = _one_case(lambda: main(args))
        assert not (Path(tmp) / "out").exists()
    out, err = out.getvalue(), err.getvalue()
    event(f"exit {status}" + (f": {err.split(': ')[2][:24]}" if status == 2 else ""))
    assert "Traceback" not in out + err
    if status == 0:
        assert len(out.strip().splitlines()) == 1 and " runs (" in out, out
        assert not err, err
    else:
        assert status == 2, (status, err)
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err


@settings(SETTINGS, max_examples=800)
@given(sweeps())
def test_fuzzed_sweep_dicts_end_in_a_config_error(case):
    """The Python API's path: a dict (no YAML round trip), validated, planned, limited."""
    sweep, _appended = case

    def api():
        try:
            check_limits(plan(load_sweep(sweep)))
        except ConfigError as err:
            assert len(str(err).splitlines()) == 1, str(err)

    _one_case(api)


def _typed_axis(key):
    """Grid axes of the type `key` takes (values may still break a rule across keys); a key
    at any depth (`optimizer.embedding.lr`)."""
    annotation = key_annotation(key)
    choices = [a for a in typing.get_args(annotation) if not isinstance(a, type)]
    if annotation is float:
        return st.one_of(PLAUSIBLE, st.lists(NUMBERS, min_size=1, max_size=3))
    if annotation is bool:
        return st.lists(st.booleans(), min_size=1, max_size=2, unique=True)
    if annotation is int:
        return st.lists(st.integers(-2, 200), min_size=1, max_size=4, unique=True)
    if choices and all(isinstance(c, str) for c in choices):  # a Literal
        return st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique=True)
    widths = st.lists(st.integers(1, 40), min_size=1, max_size=3)
    return st.lists(st.one_of(widths, st.just("full"), st.integers(1, 64)), min_size=1, max_size=3)


@st.composite
def grids(draw):
    """A valid sweep with a random grid of typed values and seed count: many valid, some huge."""
    sweep = copy.deepcopy(draw(st.sampled_from(BASES)))
    sweep.pop("plots", None)  # its axes may no longer be swept
    keys = draw(st.lists(st.sampled_from(SWEEPABLE_KEYS), max_size=3, unique=True))
    sweep["grid"] = {k: draw(st.one_of(_typed_axis(k), _typed_axis(k), VALUES)) for k in keys}
    seeds = st.one_of(st.integers(1, 3), st.sampled_from([10**5, 10**9, 2**31, 2**40]))
    listed = st.lists(st.integers(0, 9), max_size=3, unique=True)
    sweep["train"]["seeds"] = draw(st.one_of(seeds, listed))
    return sweep, []


@settings(SETTINGS, max_examples=700)
@given(grids())
def test_fuzzed_grids_end_in_a_line(case):
    test_fuzzed_sweep_files_end_in_a_line.hypothesis.inner_test(case)
