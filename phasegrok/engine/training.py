"""One run's training as pure functions of (static spec, hyperparameters, data, state).

`init_state`, `train_step`, `evaluate` and `train_segment` are what `jit` and `vmap` take:
`jax.lax.scan` carries the steps, so there is no Python loop per step. `engine` lifts a segment
to a batch of runs and compiles it; nothing here knows batches, devices or files.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import optax

from phasegrok.engine.models import example_input, logits_of, make_model
from phasegrok.engine.optim import add_l1_subgradient, run_optimizer
from phasegrok.lens import fourier as lens
from phasegrok.lens import readout
from phasegrok.plan.runs import Hyper, StaticSpec
from phasegrok.store.columns import CURVE_COLUMNS
from phasegrok.tasks import TASKS
from phasegrok.tasks.base import TaskData
from phasegrok.tasks.modular import ModularFields
from phasegrok.tasks.parity import ParityFields

_T = TypeVar("_T")

METRICS = CURVE_COLUMNS  # the curves' base columns, one definition with the classifier's


def metric_names(static: StaticSpec) -> tuple[str, ...]:
    """Columns of a run's curves: the losses, accuracies and norm, then the lens metrics."""
    facts = model_facts(static)
    return METRICS + facts.names + readout.metric_names(facts)


# Streams drawn from a run's seed inside JAX.
_INIT_STREAM, _MINIBATCH_STREAM = 0, 1


class TrainState(NamedTuple):
    params: Any
    opt_state: Any


def init_state(static: StaticSpec, hyper: Hyper) -> TrainState:
    """Base parameters from the seed (`static.init`'s initializers), a learned embedding
    multiplied by `embedding_std` (its N(0, 1) start becomes N(0, embedding_std^2)), then
    every parameter by `init_scale` (Omnigrok's alpha). Both factors are traced, per run."""
    key = jax.random.fold_in(jax.random.key(hyper.seed), _INIT_STREAM)
    params = make_model(static).init(key, example_input(static))["params"]
    if static.embedding == "learned":
        params = {**params, "embedding": params["embedding"] * hyper.embedding_std}
    params = jax.tree.map(lambda p: p * hyper.init_scale, params)
    return TrainState(params, run_optimizer(static, hyper).init(params))


PROBABILITY_CLIP = 1e-7  # binary_cross_entropy_clipped's eps (Keras's epsilon, PAIR's clip)


def per_example_loss(static: StaticSpec, logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Cross-entropy (natural log), MSE against one-hot targets averaged over classes, or for
    `binary_cross_entropy` (one logit z, label y in {0, 1}) the sigmoid cross-entropy
    -y log sigmoid(z) - (1 - y) log(1 - sigmoid(z)) = softplus(-s z), s = 2y - 1: optax's
    stable form, no probability clipping (the classifier floors losses at 2^-23).
    `binary_cross_entropy_clipped` clips p = sigmoid(z) to [eps, 1 - eps], eps = 1e-7, before
    -y log p - (1 - y) log(1 - p), as PAIR's sparse-parity model did: the loss bottoms out at
    -log(float32(1 - 1e-7)) = 2^-23 for either label (log(1 - p), not log1p(-p), so that 1 - p
    rounds as theirs did), and an example past the clip gives no gradient."""
    if static.loss == "cross_entropy":
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    if static.loss == "binary_cross_entropy":
        return optax.sigmoid_binary_cross_entropy(logits[:, 0], labels.astype(logits.dtype))
    if static.loss == "binary_cross_entropy_clipped":
        p = jnp.clip(jax.nn.sigmoid(logits[:, 0]), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
        y = labels.astype(logits.dtype)
        return -(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))
    targets = jax.nn.one_hot(labels, logits.shape[-1])
    return jnp.mean(jnp.square(logits - targets), axis=-1)


def _weighted_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
    return jnp.sum(values * weights) / jnp.sum(weights)


def loss_fn(static: StaticSpec, params: Any, x: jax.Array, y: jax.Array, w: jax.Array) -> jax.Array:
    logits = logits_of(make_model(static), params, x)
    return _weighted_mean(per_example_loss(static, logits, y), w)


def correct(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """1.0 where the label's logit is strictly above every other logit (a tie is wrong).

    Same as `argmax(logits) == labels` except on exact ties, and ~15x cheaper on XLA's CPU
    backend, where argmax over 9,409 x 97 logits took as long as half the forward pass.
    One logit z (the binary cross-entropies): 1.0 where (z > 0) == (label == 1).
    """
    if logits.shape[-1] == 1:
        return ((logits[:, 0] > 0) == (labels == 1)).astype(jnp.float32)
    label_logit = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    others = jnp.where(jax.nn.one_hot(labels, logits.shape[-1]) > 0, -jnp.inf, logits)
    return (label_logit > jnp.max(others, axis=-1)).astype(jnp.float32)


def gradient(
    static: StaticSpec, params: Any, x: jax.Array, y: jax.Array, w: jax.Array, chunks: int = 1
) -> Any:
    """The gradient of `loss_fn` with respect to `params`.

    With `chunks` > 1 (modular tasks) the examples are taken in `chunks` equal slices and the
    slices' gradients summed: the same gradient up to float rounding, but each slice's
    activations stay in a CPU core's cache (modadd-medium: ~25% faster a step on 2 cores).
    The token maps, shared by every example, are computed and differentiated once.
    """
    if chunks == 1:
        return jax.grad(partial(loss_fn, static))(params, x, y, w)
    model = make_model(static)
    maps, maps_vjp = jax.vjp(lambda p: model.apply({"params": p}, method="token_maps"), params)

    def summed_loss(p, m, xc, yc, wc):
        logits = logits_of(model, p, xc, maps=m)
        return jnp.sum(per_example_loss(static, logits, yc) * wc)

    def add_slice(total, part):
        grads = jax.grad(summed_loss, argnums=(0, 1))(params, maps, *part)
        return jax.tree.map(jnp.add, total, grads), None

    slices = jax.tree.map(lambda a: a.reshape(chunks, -1, *a.shape[1:]), (x, y, w))
    zeros = jax.tree.map(jnp.zeros_like, (params, maps))
    (direct, through_maps), _ = jax.lax.scan(add_slice, zeros, slices)
    (from_maps,) = maps_vjp(through_maps)
    total = jnp.sum(w)
    return jax.tree.map(lambda a, b: (a + b) / total, direct, from_maps)


def evaluate(static: StaticSpec, params: Any, data: TaskData[jax.Array]) -> jax.Array:
    """The `metric_names(static)` of a run's params; all NaN once params are not finite.

    A modular run's test set is every pair (weighted by `test_w`), so one forward pass over
    the pairs gives both: its train pairs are exactly those with `test_w` 0.
    """
    model = make_model(static)

    def per_example(x, y):
        logits = logits_of(model, params, x)
        return per_example_loss(static, logits, y), correct(logits, y)

    test_loss, test_correct = per_example(data.test_x, data.test_y)
    if TASKS[static.task_kind].test_is_all:
        train_loss, train_correct, train_w = test_loss, test_correct, 1.0 - data.test_w
    else:
        train_loss, train_correct = per_example(data.train_x, data.train_y)
        train_w = data.train_w
    norm = optax.tree.norm(params)
    metrics = jnp.stack(
        [
            _weighted_mean(train_loss, train_w),
            _weighted_mean(test_loss, data.test_w),
            _weighted_mean(train_correct, train_w),
            _weighted_mean(test_correct, data.test_w),
            norm,
        ]
    )
    found = lens_metrics(static, params, jnp)[0]
    readout_found = readout.readout_metrics(model_facts(static), params, jnp)
    metrics = jnp.concatenate([metrics, found, readout_found])
    return jnp.where(jnp.isfinite(norm), metrics, jnp.nan)


def model_facts(static: StaticSpec) -> lens.ModelFacts:
    """The lens's view of a run's static spec (hashable: a compile-time constant).

    Fields the task kind leaves None (p for parity, k for modular) take the facts' defaults.
    A transformer's is read over its embedding (`lens.model_token_maps`).
    """
    default = lens.ModelFacts()
    modular = static.task if isinstance(static.task, ModularFields) else None
    parity = static.task if isinstance(static.task, ParityFields) else None
    return lens.ModelFacts(
        lens=lens.lens_of(static.task_kind, static.model_kind),
        model=static.model_kind,
        op=default.op if modular is None else modular.op,
        p=default.p if modular is None else modular.p,
        k=default.k if parity is None else parity.k,
        embedding=_or(static.embedding, default.embedding),
        circular_freqs=static.circular_freqs,
        combine=_or(static.combine, default.combine),
        tie_output=static.tie_output,
        top_k=_or(static.fourier_top_k, default.top_k),
        threshold=_or(static.irrelevant_threshold, default.threshold),
    )


def _or(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def lens_metrics(static: StaticSpec, params: Any, xp: Any) -> tuple[Any, Any]:
    """(lens metrics in `metric_names` order, key frequencies or None): `lens.metrics`."""
    return lens.metrics(model_facts(static), params, xp)


def _minibatch(
    static: StaticSpec, hyper: Hyper, data: TaskData[jax.Array], step: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The step's examples: the whole train set, or `batch_size` distinct real examples drawn
    from the run's own train set by its seed and the step number (so segmentation and batch
    composition never change the draw)."""
    if static.batch_size is None:
        return data.train_x, data.train_y, data.train_w
    key = jax.random.fold_in(
        jax.random.fold_in(jax.random.key(hyper.seed), _MINIBATCH_STREAM), step
    )
    scores = jnp.where(data.train_w > 0, jax.random.uniform(key, data.train_w.shape), 2.0)
    _, index = jax.lax.top_k(-scores, static.batch_size)
    return data.train_x[index], data.train_y[index], jnp.ones((static.batch_size,), jnp.float32)


def train_step(
    static: StaticSpec,
    hyper: Hyper,
    data: TaskData[jax.Array],
    state: TrainState,
    step: jax.Array,
    chunks: int = 1,
    with_l1: bool = True,
) -> TrainState:
    """One optimizer step on the data loss plus, `with_l1`, the L1 penalty (`plan.Batch`);
    `chunks` as in `gradient`."""
    x, y, w = _minibatch(static, hyper, data, step)
    grads = gradient(static, state.params, x, y, w, chunks)
    if with_l1:  # once a step, after the example slices are summed: not a per-example term
        grads = add_l1_subgradient(grads, state.params, hyper.l1)
    updates, opt_state = run_optimizer(static, hyper).update(grads, state.opt_state, state.params)
    return TrainState(optax.apply_updates(state.params, updates), opt_state)


def train_segment(
    static: StaticSpec,
    n_evals: int,
    hyper: Hyper,
    data: TaskData[jax.Array],
    state: TrainState,
    first_step: jax.Array,
    chunks: int = 1,
    with_l1: bool = True,
) -> tuple[TrainState, jax.Array]:
    """`n_evals` x `eval_every` steps from `first_step`, evaluating after each `eval_every`.

    Returns the new state and the metrics, shape (n_evals, len(metric_names(static))).
    """

    def one_step(state, step):
        return train_step(static, hyper, data, state, step, chunks, with_l1), None

    def one_eval_period(state, start):
        steps = start + jnp.arange(static.eval_every)
        state, _ = jax.lax.scan(one_step, state, steps)
        return state, evaluate(static, state.params, data)

    starts = first_step + static.eval_every * jnp.arange(n_evals)
    return jax.lax.scan(one_eval_period, state, starts)
