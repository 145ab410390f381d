import numpy as np
import pytest

from phasegrok.config import load_sweep
from phasegrok.plan import expand
from phasegrok.tasks import batch_data, example_order, modular_pairs, parity_examples


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


def test_parity_labels_and_nested_train_sets():
    x, y = parity_examples(seed=1, stream=1, n=50, n_bits=6, k=3)
    assert set(np.unique(x)) == {-1, 1}
    assert (y == (np.prod(x[:, :3], axis=1) < 0)).all()
    x_small, _ = parity_examples(seed=1, stream=1, n=20, n_bits=6, k=3)
    assert (x_small == x[:20]).all()
    x_other, _ = parity_examples(seed=2, stream=1, n=20, n_bits=6, k=3)
    assert not (x_other == x_small).all()


def test_parity_batch_masks_train_padding(tiny_parity):
    runs = expand(load_sweep(tiny_parity))
    data = batch_data(runs[0].static, [r.hyper for r in runs])
    assert data.train_x.shape == (len(runs), 104, 8)  # 100 padded to its size bucket
    assert data.train_w.sum(axis=1).tolist() == [100] * len(runs)
    assert data.test_x.shape == (len(runs), 64, 8)


def test_size_buckets_pad_at_most_one_sixteenth():
    from phasegrok.plan import bucket

    for n in [1, 7, 36, 39, 100, 1000, 2823, 9409, 123_457]:
        assert n <= bucket(n) <= max(n + 7, n * 65 / 64)
    assert bucket(36) == bucket(39) == 40
