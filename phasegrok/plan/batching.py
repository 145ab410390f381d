"""Cost estimates and batches: how much work and memory a run takes, and so how runs are cut
into batches (the unit compiled, trained and saved together) and segments (the unit between
two returns to Python). Pure Python, no JAX.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence

from phasegrok.config.load import SweepSpec
from phasegrok.plan.runs import Batch, Run, StaticSpec, need

# The transformer's sequence: (a, b, =) (`engine.models.transformer`).
SEQUENCE = 3


def n_params(static: StaticSpec) -> int:
    """Parameters of one run's model (a transformer's: `transformer_params`)."""
    if static.model_kind == "transformer":
        return transformer_params(static)
    widths = list(static.hidden)
    count = 0
    if static.inputs == "pairs":
        d, p = need(static.embed_dim), static.modular.p
        if static.embedding == "learned":
            count += p * d
        first_in = d if static.combine == "sum" else 2 * d
        out_dim = d if static.tie_output else static.out_dim
    else:
        first_in, out_dim = static.input_width, static.out_dim
    dims = [first_in, *widths, out_dim]
    for fan_in, fan_out in itertools.pairwise(dims):
        count += fan_in * fan_out + (fan_out if static.bias else 0)
    return count


def transformer_params(static: StaticSpec) -> int:
    """A transformer's parameters, with p the modulus, d = d_model, m = d_mlp, L layers, C
    classes (out_dim), T = 3 positions:

        d (p + 1) + T d                  token embedding W_E, positions W_pos
        + L (4 d^2 + 2 d m)              per block W_Q, W_K, W_V (heads x d_head = d), W_O,
                                         W_in, W_out
        + L (m + d)       if bias        b_in, b_out
        + L 4 d           if pre-LN      two LayerNorms' weights and biases
        + d C                            W_U
    """
    p, d, m, layers = (
        static.modular.p,
        need(static.d_model),
        need(static.d_mlp),
        need(static.layers),
    )
    block = 4 * d * d + 2 * d * m + (m + d if static.bias else 0)
    block += 4 * d if static.layer_norm == "pre" else 0
    return d * (p + 1) + SEQUENCE * d + layers * block + d * static.out_dim


def transformer_forward_flops(static: StaticSpec) -> float:
    """A transformer's forward FLOPs per example: the matrix products, 2 FLOPs a multiply-add,
    with d, m, L, C, T as in `transformer_params`:

        (L - 1) (8 T d^2 + 4 T^2 d + 4 T d m)     blocks before the last: Q, K, V and O
                                                  projections, scores and weighted values
                                                  over all T x T pairs, the MLP
        + 4 T d^2 + 4 d^2 + 4 T d + 4 d m         the last block, at the last position only:
                                                  K and V at every position, Q and O, one
                                                  query's scores and values, the MLP
        + 2 d C                                   the unembedding

    (the embedding is a lookup; softmax, norms and activations are not counted).
    """
    d, m, layers, t = need(static.d_model), need(static.d_mlp), need(static.layers), SEQUENCE
    full = 8 * t * d * d + 4 * t * t * d + 4 * t * d * m
    last = 4 * t * d * d + 4 * d * d + 4 * t * d + 4 * d * m
    return float((layers - 1) * full + last + 2 * d * static.out_dim)


def step_flops(static: StaticSpec, n: int) -> tuple[float, float]:
    """(training FLOPs of one step on n examples, forward FLOPs of n examples) for one run:
    the minimal dense work, formula in `phasegrok.bench`'s docstring; a transformer's is 3x
    its forward on the n examples (`transformer_forward_flops`: the backward pass's two
    products per forward product)."""
    if static.model_kind == "transformer":
        forward = n * transformer_forward_flops(static)
        return 3 * forward, forward
    widths = list(static.hidden)
    forward = 0.0
    train = 0.0
    if static.inputs == "pairs":
        d, p = need(static.embed_dim), static.modular.p
        tables = 1 if static.combine == "sum" else 2
        first = 2.0 * tables * p * d * widths[0]
        out = d if static.tie_output else static.out_dim
    else:
        first = 2.0 * n * static.input_width * widths[0]
        out = static.out_dim
    forward += first
    train += 2 * first
    if static.embedding == "learned":
        train += first  # the learned table's gradient: the first layer's input gradient
    for fan_in, fan_out in zip(widths, [*widths[1:], out], strict=True):
        forward += 2.0 * n * fan_in * fan_out
        train += 6.0 * n * fan_in * fan_out
    if static.tie_output:
        tied = 2.0 * n * need(static.embed_dim) * static.modular.p
        forward += tied
        train += tied * (3 if static.embedding == "learned" else 2)
    return train, forward


def flops_per_step(static: StaticSpec) -> float:
    """FLOPs of one training step of one run on its padded train set (for sizing)."""
    return step_flops(static, static.batch_size or static.train_pad)[0]


def run_bytes(static: StaticSpec) -> int:
    """Device bytes one run needs while training: params, optimizer state, data, activations."""
    params = 4 * n_params(static) * 5  # params, grads, two moments, updates
    rows = static.train_pad + static.n_eval_examples
    activations = 4 * rows * activation_width(static)
    # An example is input_width 4-byte values (a token pair: 2); a shared test set is counted
    # per run too (conservative).
    data = rows * static.input_width * 4
    return params + activations + data


def activation_width(static: StaticSpec) -> int:
    """Float32 activations one example keeps for the backward pass (an estimate): an MLP's
    hidden layers 3x and its logits 2x; a transformer's, per block and position, its residual
    stream, norms, queries, keys, values and attention output (~6 d_model), its MLP (3 d_mlp)
    and its attention weights (2 heads T), and its logits 2x."""
    if static.model_kind == "transformer":
        d, m, heads = need(static.d_model), need(static.d_mlp), need(static.heads)
        per_position = 6 * d + 3 * m + 2 * heads * SEQUENCE
        return need(static.layers) * SEQUENCE * per_position + 2 * static.out_dim
    return sum(static.hidden) * 3 + static.out_dim * 2


def batch_cap(
    static: StaticSpec,
    memory_budget: int = 1 << 30,
    max_runs_per_batch: int = 256,
    max_flops_per_eval: float | None = None,
) -> int:
    """Most runs of `static` one batch may hold: within `memory_budget` and, if given,
    `max_flops_per_eval` of work between two eval points (the smallest compiled segment is one
    eval period, and Ctrl-C and the progress bar wait for a segment to end)."""
    cap = max(1, min(max_runs_per_batch, memory_budget // run_bytes(static)))
    if max_flops_per_eval is not None:
        per_run = flops_per_step(static) * static.eval_every
        cap = max(1, min(cap, int(max_flops_per_eval // per_run)))
    return cap


def batch_width(n_runs: int, cap: int) -> int:
    """Runs per batch for a group of `n_runs`: equal sizes within `cap`, so that one padded
    width (one compiled program) serves the whole group."""
    n_batches = -(-n_runs // cap)
    return -(-n_runs // n_batches)


def make_batch(static: StaticSpec, runs: Sequence[Run], with_l1: bool) -> Batch:
    digest = hashlib.sha256("".join(r.run_id for r in runs).encode()).hexdigest()[:16]
    return Batch(digest, static, tuple(runs), with_l1)


def uses_l1(spec: SweepSpec) -> bool:
    """Whether some run of the sweep has an L1 penalty (`optimizer.l1` > 0). The key is
    dynamic, so every shape group holds all its values: this is every group's `with_l1`."""
    axis = spec.grid.get("optimizer.l1")
    return (axis.bounds()[1] if axis is not None else spec.file.optimizer.l1) > 0


def plan_batches(
    runs: list[Run],
    memory_budget: int = 1 << 30,
    max_runs_per_batch: int = 256,
    max_flops_per_eval: float | None = None,
) -> list[Batch]:
    """Group runs by static spec, then cut each group into batches (`batch_cap`, `batch_width`).

    For a list of runs at hand; `phasegrok.plan.groups.iter_batches` makes the same batches from a
    sweep's axes, one group at a time.
    """
    groups: dict[StaticSpec, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.static, []).append(run)
    batches = []
    for static, members in groups.items():
        cap = batch_cap(static, memory_budget, max_runs_per_batch, max_flops_per_eval)
        size = batch_width(len(members), cap)
        with_l1 = any(r.hyper.l1 > 0 for r in members)
        for start in range(0, len(members), size):
            batches.append(make_batch(static, members[start : start + size], with_l1))
    return batches


def segment_evals(static: StaticSpec, n_runs: int, target_flops: float = 2e10) -> int:
    """Eval points per compiled segment: about `target_flops` of work, so progress and Ctrl-C
    come back every second or so; a divisor of the eval count (and of every step whose params
    are saved), so every segment has the same shape and compiles once."""
    unit = static.n_evals
    for step in static.save_params_at:
        unit = math.gcd(unit, step // static.eval_every)
    unit = unit or static.n_evals
    per_eval = max(1.0, flops_per_step(static) * static.eval_every * n_runs)
    wanted = max(1, int(target_flops // per_eval))
    return (
        max(d for d in range(1, unit + 1) if unit % d == 0 and d <= wanted)
        if wanted < unit
        else unit
    )
