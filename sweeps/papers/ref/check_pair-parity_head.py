"""Which output head reproduces PAIR's sparse-parity runs at weight decay 1? (a check, not a preset)

PAIR's released runs (data__hypers_sparse_parity_v4.csv, see make_pair-parity.py) at weight
decay 1, train size 1,000 never fit: median min train loss 0.28 / 0.088 / 0.012 at hidden
16 / 32 / 64, and hidden 128 fits (2^-23). phasegrok's parity model (two logits, softmax
cross-entropy) fits at hidden 64. This script trains the same MLP standalone (30 binary
inputs, k = 3, 1 hidden ReLU layer with biases, LeCun truncated-normal kernels as phasegrok's
`init: lecun`, zero biases; optax.adamw lr 3e-3, b1 0.99, b2 0.98, eps 1e-8, weight decay on
every parameter; full batch, 20,000 steps, losses every 100) with either head:

- ``softmax2``: two logits, cross-entropy of the softmax (phasegrok's);
- ``sigmoid1``: one logit, binary cross-entropy of sigmoid(z) with the probability clipped to
  [1e-7, 1 - 1e-7]. The clip is read off PAIR's data: 890 of the 1,125 released runs have a
  min train loss of 2^-23 = -log(float32(1 - 1e-7)) (or the next float32 above it), and none
  less, where a log-softmax cross-entropy reaches 0 in float32.
- ``sigmoid1_exact``: one logit, optax.sigmoid_binary_cross_entropy, unclipped (phasegrok's
  `loss: binary_cross_entropy`): past the clip an example still gives a (tiny) gradient.

and prints each run's min train / test loss and max test / train ratio (floored at 2^-23) and
the phase by PAIR's rule. ``--decay sign`` swaps AdamW's decay for a decoupled L1 ("sign")
decay, w <- w - lr * (adam_update + wd * sign(w)): the article's footnote says the 1s-and-0s
model used L1 weight decay. With the two-logit head the logit difference moves at twice the Adam
step and decays to twice the equilibrium of one logit, so under decoupled weight decay it holds
about twice the output capacity: the wd-1 edge moves by a factor ~2 in hidden width.

    python sweeps/papers/ref/check_pair-parity_head.py --head sigmoid1 --hidden 16 32 64 128
    python sweeps/papers/ref/check_pair-parity_head.py --head sigmoid1 sigmoid1_exact \
        --hidden 64 128 --wd 0.03 --train 1250 --seeds 9      # does the clip move grokking?

Besides the phase it prints t_gen, the first logged step with test accuracy >= 0.99 ("-":
never), so heads can be compared by when they generalize, not only by PAIR's phase.

The examples are drawn here (numpy), not by phasegrok's parity task, so seed k here is not
phasegrok's seed k. About 10-15 s a run on a 2-core CPU.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

N_BITS, K, TRAIN, TEST = 30, 3, 1000, 5000
STEPS, EVERY, FLOOR = 20_000, 100, 2.0**-23


def parity_data(
    seed: int, train: int = TRAIN
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Random 0/1 strings; label = parity of the first K bits. (train, test) pairs."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, (train + TEST, N_BITS)).astype(np.float32)
    y = (x[:, :K].sum(axis=1) % 2).astype(np.int32)
    return (x[:train], y[:train]), (x[train:], y[train:])


def init_mlp(key: jax.Array, sizes: tuple[int, ...]) -> list[tuple[jax.Array, jax.Array]]:
    """LeCun truncated normal kernels (std 1 / sqrt(fan_in) after truncation), zero biases."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        key, sub = jax.random.split(key)
        std = 1.0 / np.sqrt(fan_in) / 0.87962566  # the std of a normal truncated at 2 sigma
        params.append(
            (jax.random.truncated_normal(sub, -2, 2, (fan_in, fan_out)) * std, jnp.zeros(fan_out))
        )
    return params


def logits(params: list, x: jax.Array) -> jax.Array:
    for i, (w, b) in enumerate(params):
        x = x @ w + b
        x = jax.nn.relu(x) if i < len(params) - 1 else x
    return x


def loss(head: str, params: list, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean cross-entropy (natural log) of the head's prediction."""
    z = logits(params, x)
    if head == "softmax2":
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(z, y))
    if head == "sigmoid1_exact":
        return jnp.mean(optax.sigmoid_binary_cross_entropy(z[:, 0], y))
    p = jnp.clip(jax.nn.sigmoid(z[:, 0]), 1e-7, 1 - 1e-7)
    return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))


def optimizer(decay: str, weight_decay: float) -> optax.GradientTransformation:
    """optax.adamw, or Adam with the decoupled L1 decay wd * sign(w) in place of wd * w."""
    if decay == "adamw":
        return optax.adamw(3e-3, b1=0.99, b2=0.98, eps=1e-8, weight_decay=weight_decay)
    sign_decay = optax.GradientTransformation(
        lambda params: optax.EmptyState(),
        lambda u, state, params: (
            jax.tree.map(lambda g, w: g + weight_decay * jnp.sign(w), u, params),
            state,
        ),
    )
    adam = optax.scale_by_adam(b1=0.99, b2=0.98, eps=1e-8)
    return optax.chain(adam, sign_decay, optax.scale(-3e-3))


def accuracy(head: str, params: list, x: jax.Array, y: jax.Array) -> jax.Array:
    z = logits(params, x)
    guess = jnp.argmax(z, axis=1) if head == "softmax2" else (z[:, 0] > 0).astype(jnp.int32)
    return jnp.mean(guess == y)


def train(
    head: str, hidden: int, weight_decay: float, seed: int, decay: str, size: int = TRAIN
) -> np.ndarray:
    """Train one run; rows (train loss, test loss, test accuracy) every EVERY steps."""
    (xt, yt), (xe, ye) = parity_data(seed, size)
    params = init_mlp(jax.random.PRNGKey(seed), (N_BITS, hidden, 2 if head == "softmax2" else 1))
    opt = optimizer(decay, weight_decay)

    def step(carry, _):
        p, s = carry
        updates, s = opt.update(jax.grad(lambda q: loss(head, q, xt, yt))(p), s, p)
        return (optax.apply_updates(p, updates), s), None

    @jax.jit
    def chunk(p, s):
        (p, s), _ = jax.lax.scan(step, (p, s), None, length=EVERY)
        row = [loss(head, p, xt, yt), loss(head, p, xe, ye), accuracy(head, p, xe, ye)]
        return p, s, jnp.stack(row)

    state, rows = opt.init(params), []
    for _ in range(STEPS // EVERY):
        params, state, row = chunk(params, state)
        rows.append(np.asarray(row))
    rows = np.array(rows)
    rows[:, :2] = np.maximum(rows[:, :2], FLOOR)
    return rows


def pair_phase(min_train: float, min_test: float, max_ratio: float) -> str:
    """PAIR's colouring (sweep-sparse-parity/init.js), phasegrok's names."""
    if min_train > 1e-5:
        return "confuse"
    if min_test > 1e-5:
        return "memorize"
    return "comprehend" if max_ratio < 5e4 else "grok"


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    heads = ["softmax2", "sigmoid1", "sigmoid1_exact"]
    cli.add_argument("--head", choices=heads, nargs="+", default=["sigmoid1"])
    cli.add_argument("--hidden", type=int, nargs="+", default=[64])
    cli.add_argument("--wd", type=float, nargs="+", default=[1.0])
    cli.add_argument("--seeds", type=int, default=1)
    cli.add_argument("--decay", choices=["adamw", "sign"], default="adamw")
    cli.add_argument("--train", type=int, default=TRAIN, help="train examples")
    args = cli.parse_args()
    print("head            hidden  wd     seed  min_train  min_test  max_ratio  phase       t_gen")
    for head in args.head:
        for hidden in args.hidden:
            for wd in args.wd:
                for seed in range(args.seeds):
                    rows = train(head, hidden, wd, seed, args.decay, args.train)
                    tr, te = rows[:, 0].min(), rows[:, 1].min()
                    ratio = (rows[:, 1] / rows[:, 0]).max()
                    hits = np.flatnonzero(rows[:, 2] >= 0.99)
                    t_gen = str((hits[0] + 1) * EVERY) if hits.size else "-"
                    print(
                        f"{head:15s} {hidden:6d}  {wd:<5g}  {seed:4d}  {tr:9.3g}  {te:8.3g}  "
                        f"{ratio:9.3g}  {pair_phase(tr, te, ratio):10s}  {t_gen}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
