import numpy as np
import pytest

from phasegrok.config.load import load_sweep
from phasegrok.engine.batch import batch_data
from phasegrok.plan.runs import expand
from phasegrok.tasks.base import example_order
from phasegrok.tasks.modular import modular_pairs
from phasegrok.tasks.parity import PERMUTED_MAX_BITS, distinct_inputs, parity_split


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("add", lambda a, b, p: (a + b) % p),
        ("sub", lambda a, b, p: (a - b) % p),
        ("mul", lambda a, b, p: (a * b) % p),
        ("square_sum", lambda a, b, p: (a * a + b * b) % p),
    ],
)
def test_modular_labels_match_definition(op, expected):
    pairs, labels = modular_pairs(op, 7, symmetric=False)
    assert len(pairs) == 49
    for (a, b), y in zip(pairs, labels, strict=True):
        assert y == expected(int(a), int(b), 7)


def test_division_skips_zero_divisor_and_inverts():
    pairs, labels = modular_pairs("div", 7, symmetric=False)
    assert len(pairs) == 7 * 6
    assert (pairs[:, 1] != 0).all()
    # y = a / b means y * b = a (mod p)
    assert ((labels * pairs[:, 1]) % 7 == pairs[:, 0]).all()


def test_symmetric_keeps_each_unordered_pair_once():
    pairs, _ = modular_pairs("add", 7, symmetric=True)
    assert len(pairs) == 7 * 8 // 2
    assert (pairs[:, 0] <= pairs[:, 1]).all()
    assert len({tuple(p) for p in pairs}) == len(pairs)


def test_example_order_is_deterministic_and_seed_dependent():
    assert (example_order(3, 100) == example_order(3, 100)).all()
    assert not (example_order(3, 100) == example_order(4, 100)).all()
    assert sorted(example_order(3, 100)) == list(range(100))


def test_modular_splits_are_disjoint_nested_and_sized(tiny):
    tiny["grid"] = {"data.train_fraction": [0.2, 0.6]}
    tiny["train"]["seeds"] = [5]
    runs = expand(load_sweep(tiny))
    pairs, _ = modular_pairs("add", 11, False)
    train_sets = []
    for run in runs:
        data, i = batch_data(run.static, [run.hyper]), 0
        n_train = run.hyper.n_train
        assert n_train == round(run.config["data.train_fraction"] * 121)
        assert data.train_w[i].sum() == n_train
        train = {tuple(x) for x in data.train_x[i][:n_train]}
        test = {tuple(x) for x in pairs[data.test_w[i] > 0]}
        assert len(train) == n_train and not train & test
        assert len(train) + len(test) == 121
        train_sets.append(train)
    assert train_sets[0] < train_sets[1]  # nested across train fractions, same seed


def _rows(x: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in x}


def test_parity_labels_are_the_parity_of_the_first_k_bits():
    (train_x, train_y), (test_x, test_y) = parity_split(
        1, n_test=30, n_train=50, n_bits=6, k=3, encoding="pm1"
    )
    for x, y in ((train_x, train_y), (test_x, test_y)):
        assert x.dtype == np.int8 and set(np.unique(x)) == {-1, 1}
        assert (y == (np.prod(x[:, :3], axis=1) < 0)).all()
    assert 0 < train_y.mean() < 1


@pytest.mark.parametrize("n_bits", [6, PERMUTED_MAX_BITS, PERMUTED_MAX_BITS + 1, 40, 200])
def test_distinct_inputs_are_distinct_prefix_stable_and_seeded(n_bits):
    n = min(60, 2**n_bits)
    bits = distinct_inputs(3, n, n_bits)
    assert bits.shape == (n, n_bits) and bits.dtype == bool
    assert len(_rows(bits)) == n
    assert (distinct_inputs(3, n // 3, n_bits) == bits[: n // 3]).all()
    assert not (distinct_inputs(4, n, n_bits) == bits).all()
    assert 0.3 < bits.mean() < 0.7


def test_all_inputs_of_a_small_cube_once():
    bits = distinct_inputs(0, 64, 6)
    index = (bits * (1 << np.arange(6))).sum(axis=1)
    assert sorted(index) == list(range(64))


def test_parity_train_and_test_are_distinct_on_a_crowded_cube(tiny_parity):
    # n_bits 8: 100 train + 64 test of 256 inputs, where independent draws would repeat often.
    tiny_parity["train"]["seeds"] = 4
    runs = expand(load_sweep(tiny_parity))
    data = batch_data(runs[0].static, [r.hyper for r in runs])
    for i, run in enumerate(runs):
        train = data.train_x[i]  # the padding rows (104 in all) are distinct inputs too
        test = data.test_x[i]
        assert len(_rows(train)) == len(train) and len(_rows(test)) == len(test) == 64
        assert not _rows(train) & _rows(test)
        assert run.hyper.n_train == 100 and data.train_w[i].sum() == 100


def test_parity_test_set_is_fixed_and_train_sets_nested_across_train_sizes(tiny_parity):
    # 192 + 64 = all 256 inputs of 8 bits.
    tiny_parity["grid"] = {"data.train_size": [10, 100, 150, 192]}
    tiny_parity["train"]["seeds"] = [5]
    runs = expand(load_sweep(tiny_parity))
    tests, trains = [], []
    for run in runs:
        data = batch_data(run.static, [run.hyper])
        tests.append(data.test_x[0])
        trains.append(data.train_x[0][: run.hyper.n_train])
    for test in tests[1:]:
        assert (test == tests[0]).all()
    for small, large in zip(trains, trains[1:], strict=False):
        assert (large[: len(small)] == small).all()
    assert len(_rows(trains[-1]) | _rows(tests[0])) == 256


def test_parity_padding_never_exceeds_the_inputs_left(tiny_parity):
    # 191 train + 65 test = 256: the size bucket (192) would need one input too many.
    tiny_parity["task"]["test_size"] = 65
    tiny_parity["data"]["train_size"] = 191
    tiny_parity["grid"] = {}
    run = expand(load_sweep(tiny_parity))[0]
    assert run.static.train_pad == 191
    data = batch_data(run.static, [run.hyper])
    assert len(_rows(data.train_x[0]) | _rows(data.test_x[0])) == 256


def test_parity_with_many_bits_is_quick(tiny_parity):
    import time

    tiny_parity["task"].update({"n_bits": 60, "k": 3, "test_size": 2000})
    tiny_parity["data"]["train_size"] = 5000
    tiny_parity["train"]["seeds"] = 3
    runs = expand(load_sweep(tiny_parity))
    start = time.perf_counter()
    data = batch_data(runs[0].static, [r.hyper for r in runs])
    assert time.perf_counter() - start < 5.0
    assert data.train_x.shape[1:] == (runs[0].static.train_pad, 60)
    assert len(_rows(data.train_x[0]) | _rows(data.test_x[0])) == 2000 + runs[0].static.train_pad
    assert (data.test_y[0] == (np.prod(data.test_x[0][:, :3], axis=1) < 0)).all()


def test_parity_batch_masks_train_padding(tiny_parity):
    runs = expand(load_sweep(tiny_parity))
    data = batch_data(runs[0].static, [r.hyper for r in runs])
    assert data.train_x.shape == (len(runs), 104, 8)  # 100 padded to its size bucket
    assert data.train_w.sum(axis=1).tolist() == [100] * len(runs)
    assert data.test_x.shape == (len(runs), 64, 8)


def test_size_buckets_pad_at_most_one_sixteenth():
    from phasegrok.plan.runs import bucket

    for n in [1, 7, 36, 39, 100, 1000, 2823, 9409, 123_457]:
        assert n <= bucket(n) <= max(n + 7, n * 65 / 64)
    assert bucket(36) == bucket(39) == 40
