"""A batch of runs: one run's pure functions (`training`) vmapped and compiled once per shape.

A `Strategy` lifts a segment to a batch: `jax.vmap` over chunks of runs, `jax.lax.map` over the
chunks, `shard_map` over local devices. `execute_batch` is the only impure part: it builds the
data, compiles (once per static spec, strategy and batch width), and calls the segment program
once per few eval points so that progress and Ctrl-C come back quickly. It knows no files.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from phasegrok.engine.training import (
    evaluate,
    init_state,
    lens_metrics,
    metric_names,
    model_facts,
    train_segment,
)
from phasegrok.plan.batching import segment_evals
from phasegrok.plan.runs import Batch, Hyper, StaticSpec
from phasegrok.tasks import TASKS
from phasegrok.tasks.base import FOURIER, TaskData, data_axes
from phasegrok.tasks.cyclic import n_frequencies
from phasegrok.tasks.modular import ModularFields


def _split(
    data: TaskData[jax.Array], axes: TaskData[int | None]
) -> tuple[TaskData[jax.Array | None], TaskData[jax.Array | None]]:
    """(per-run fields, shared fields) of `data`; the other fields are None in each."""
    per_run = TaskData(*(a if ax == 0 else None for a, ax in zip(data, axes, strict=True)))
    shared = TaskData(*(a if ax is None else None for a, ax in zip(data, axes, strict=True)))
    return per_run, shared


def _merge(
    per_run: TaskData[jax.Array | None], shared: TaskData[jax.Array | None]
) -> TaskData[jax.Array]:
    merged: list[jax.Array] = []
    for a, b in zip(per_run, shared, strict=True):
        field = a if a is not None else b
        assert field is not None  # `_split` puts every field in one of the two
        merged.append(field)
    return TaskData(*merged)


def over_runs(fn: Callable, per_run: Any, vmap_width: int) -> Any:
    """Apply `fn` to every run of `per_run` (a pytree with a leading run axis W): `jax.vmap`
    over chunks of `vmap_width` runs, `jax.lax.map` over the chunks.

    A run's numbers depend only on the chunk program, not on W or its neighbours, so a run
    gives bitwise the same result in any batch of the same strategy.
    """
    if vmap_width == 1:  # a vmap of one run only adds unit axes, which cost XLA fusions
        return jax.lax.map(fn, per_run)
    width = jax.tree.leaves(per_run)[0].shape[0]
    n_chunks = width // vmap_width
    chunked = jax.tree.map(lambda a: a.reshape(n_chunks, vmap_width, *a.shape[1:]), per_run)
    out = jax.lax.map(jax.vmap(fn), chunked)
    return jax.tree.map(lambda a: a.reshape(width, *a.shape[2:]), out)


def _batched_init(
    static: StaticSpec, vmap_width: int, hypers: Hyper, data: TaskData[jax.Array]
) -> Any:
    per_run, shared = _split(data, data_axes(TASKS[static.task_kind].shares_test))

    def one(args):
        hyper, run_data = args
        state = init_state(static, hyper)
        return state, evaluate(static, state.params, _merge(run_data, shared))

    return over_runs(one, (hypers, per_run), vmap_width)


def _batched_segment(
    static: StaticSpec,
    n_evals: int,
    strategy: Strategy,
    with_l1: bool,
    hypers,
    data,
    state,
    first_step,
):
    per_run, shared = _split(data, data_axes(TASKS[static.task_kind].shares_test))
    chunks = strategy.example_chunks(static)

    def one(args):
        hyper, run_data, run_state = args
        run_data = _merge(run_data, shared)
        return train_segment(
            static, n_evals, hyper, run_data, run_state, first_step, chunks, with_l1
        )

    return over_runs(one, (hypers, per_run, state), strategy.vmap_width)


@dataclass(frozen=True)
class Strategy:
    """How a batch's run axis is laid out: chunks of `vmap_width` runs side by side (vmap),
    chunks one after another (lax.map), the runs split over `n_devices` local devices."""

    vmap_width: int = 1
    n_devices: int = 1
    example_chunk_bytes: int | None = None

    @property
    def multiple(self) -> int:
        """A batch's width must be a multiple of this."""
        return self.vmap_width * self.n_devices

    def example_chunks(self, static: StaticSpec) -> int:
        """How many equal slices a modular step's examples are taken in (see `gradient`):
        enough that a slice's widest activations fit `example_chunk_bytes`, 1 if no divisor
        of the step's examples is near that (or the step is small, or not the modular MLP)."""
        if self.example_chunk_bytes is None or (static.inputs, static.model_kind) != (
            "pairs",
            "mlp",
        ):
            return 1
        rows = static.batch_size or static.train_pad
        target = max(1, self.example_chunk_bytes // (4 * max(*static.hidden, static.out_dim)))
        fewest = -(-rows // target)
        if fewest < 2:
            return 1
        return next((n for n in range(fewest, 2 * fewest + 1) if rows % n == 0), 1)

    def describe(self) -> str:
        layout = "lax.map over runs" if self.vmap_width == 1 else f"vmap x{self.vmap_width}"
        text = f"{layout} on {self.n_devices} {jax.default_backend()} device(s)"
        if self.example_chunk_bytes:
            text += f", examples in slices of ~{self.example_chunk_bytes / 2**20:g} MiB"
        return text


def _sharded(fn: Callable, strategy: Strategy, static: StaticSpec, n_args: int) -> Callable:
    """`fn(hypers, data, *rest)` with the run axis split over local devices (shard_map).

    Arrays with a run axis are split, the shared task arrays and scalars replicated.
    """
    if strategy.n_devices == 1:
        return fn
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()[: strategy.n_devices]), ("runs",))
    runs, replicated = jax.sharding.PartitionSpec("runs"), jax.sharding.PartitionSpec()
    data_specs = TaskData(
        *(runs if ax == 0 else replicated for ax in data_axes(TASKS[static.task_kind].shares_test))
    )
    rest = (runs, replicated)[: n_args - 2]
    return jax.shard_map(
        fn,
        mesh=mesh,
        in_specs=(runs, data_specs, *rest),
        out_specs=runs,
        check_vma=False,
    )


@dataclass
class Programs:
    init: Any
    segment: Any
    compile_seconds: float


# Compiled programs by shape, the most recently used kept: a sweep trains its shape groups one
# after another, so a finished group's programs are not needed again, and a sweep of thousands
# of groups must not hold thousands of executables.
MAX_PROGRAMS = 16
_PROGRAMS: OrderedDict[tuple, Programs] = OrderedDict()
_COMPILED = [0]


def compile_count() -> int:
    """Programs compiled so far in this process (each is an init and a segment executable)."""
    return _COMPILED[0]


def _precision(static: StaticSpec) -> Any:
    return jax.default_matmul_precision("highest" if static.precision == "highest" else None)


def _programs(
    static: StaticSpec,
    n_evals: int,
    strategy: Strategy,
    with_l1: bool,
    hypers: Hyper,
    data: TaskData[np.ndarray],
) -> Programs:
    """Compile (or fetch) the init and segment executables for this shape, ahead of time."""
    key = (static, n_evals, strategy, with_l1, len(hypers.seed))
    if key in _PROGRAMS:
        _PROGRAMS.move_to_end(key)
        return _PROGRAMS[key]
    start = time.perf_counter()
    init_fn = _sharded(partial(_batched_init, static, strategy.vmap_width), strategy, static, 2)
    batched = partial(_batched_segment, static, n_evals, strategy, with_l1)
    segment_fn = _sharded(batched, strategy, static, 4)
    with _precision(static):
        init = jax.jit(init_fn).lower(hypers, data).compile()
        state_shape, _ = jax.eval_shape(init_fn, hypers, data)
        segment = (
            jax.jit(segment_fn, donate_argnums=(2,))
            .lower(hypers, data, state_shape, jnp.int32(0))
            .compile()
        )
    programs = Programs(init, segment, time.perf_counter() - start)
    _PROGRAMS[key] = programs
    _COMPILED[0] += 1
    while len(_PROGRAMS) > MAX_PROGRAMS:
        _PROGRAMS.popitem(last=False)
    return programs


def device_description() -> str:
    devices = jax.devices()
    return f"{len(devices)} x {devices[0].platform}: {devices[0].device_kind}"


def default_memory_budget() -> int:
    """Bytes one batch may use: 1 GiB on a CPU host, half the free memory of an accelerator."""
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(0.5 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0)))
    return 1 << 30


def max_flops_per_eval() -> float | None:
    """Work allowed between two eval points of a batch: ~3-4 s on a 2-core CPU, so that Ctrl-C
    and the progress bar answer within seconds; accelerators are fast enough not to need it."""
    return 4e11 if jax.default_backend() == "cpu" else None


# A modular step's activations are taken in slices of about this size on a CPU: a core's L2
# cache (1 MiB on the development machine's EPYC). Measured on modadd-medium's 2,848 x 256
# activations: 4 slices ~25% faster a step than 1 (2 cores, 2 host devices).
CPU_CHUNK_BYTES = 1 << 20


def choose_strategy(static: StaticSpec) -> Strategy:
    """The layout of the run axis for this backend and shape.

    On a CPU one run at a time inside one program beats a wide vmap (each run's matmuls stay
    in cache), with the runs split over the host devices (one per core when the CLI started
    JAX) and a large modular step's examples taken in cache-sized slices; an accelerator needs
    many runs side by side to fill its cores. The choice depends on the backend and shape
    alone, so a run's numbers never depend on its batch.
    """
    n_devices = len(jax.local_devices())
    if jax.default_backend() == "cpu":
        # Slices pay only when a device has a core to itself: on one device whose matmuls
        # spread over several cores (a notebook's default), they made modadd ~30% slower.
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        own_core = n_devices >= (cores or os.cpu_count() or 1)
        chunk_bytes = CPU_CHUNK_BYTES if own_core else None
        return Strategy(vmap_width=1, n_devices=n_devices, example_chunk_bytes=chunk_bytes)
    return Strategy(vmap_width=128, n_devices=n_devices)


def stack_hypers(hypers: list[Hyper]) -> Hyper:
    """Per-run values as arrays with a leading run axis (float32 for rates, int32 for counts)."""
    columns = list(zip(*hypers, strict=True))
    ints = {"n_train", "seed", "warmup_steps"}
    return Hyper(
        *(
            np.asarray(col, dtype=np.int32 if name in ints else np.float32)
            for name, col in zip(Hyper._fields, columns, strict=True)
        )
    )


@lru_cache(maxsize=MAX_PROGRAMS)
def _key_program(static: StaticSpec) -> Callable:
    return jax.jit(jax.vmap(lambda params: lens_metrics(static, params, jnp)[1]))


def final_key_frequencies(static: StaticSpec, params: Any) -> jax.Array:
    """Each run's key frequencies (`lens.metrics`), (runs, fourier_top_k), from params with a
    leading run axis: one compiled call where they lie, not a host loop over the runs.

    Full-precision matmuls (the token maps E @ W), as NumPy's, not the backend's TF32: a key
    frequency is an argsort, which a rounding of 1e-3 could reorder.
    """
    with jax.default_matmul_precision("highest"):
        return _key_program(static)(params)


@dataclass
class BatchResult:
    """What one batch produced, as NumPy arrays with a leading run axis (padding removed)."""

    run_ids: list[str]
    metric_names: tuple[str, ...]
    steps: np.ndarray  # (n_evals + 1,) eval steps, 0 included
    metrics: np.ndarray  # (runs, n_evals + 1, len(metric_names))
    key_frequencies: np.ndarray | None  # (runs, fourier_top_k) of the final params; None: no lens
    params: dict[int, Any]  # step -> params pytree with a leading run axis; the last step always
    wall_seconds: float
    compile_seconds: float


def batch_data(static: StaticSpec, hypers: Sequence[Hyper]) -> TaskData[np.ndarray]:
    """The host arrays a batch of runs trains on (one `Hyper` per run): its task kind's data."""
    seeds, n_trains = [int(h.seed) for h in hypers], [int(h.n_train) for h in hypers]
    return TASKS[static.task_kind].batch_data(static.task, static.train_pad, seeds, n_trains)


def execute_batch(
    batch: Batch,
    on_steps: Callable[[int], None] | None = None,
    width: int | None = None,
    strategy: Strategy | None = None,
    on_compiled: Callable[[float], None] | None = None,
) -> BatchResult:
    """Train every run of `batch` and return its curves and parameters.

    The batch is padded with copies of its last run (results discarded) to `width` runs (a
    multiple of `strategy.multiple`), so that the batches of a group share one compiled program;
    `on_steps(n)` is called after each segment with the number of model-steps just done (runs x
    steps, padding excluded); `on_compiled(seconds)` once the batch's programs are compiled,
    with the seconds that took (0 when they were compiled for an earlier batch).
    """
    static = batch.static
    start = time.perf_counter()
    runs = list(batch.runs)
    n_real = len(runs)
    strategy = strategy or Strategy()
    width = -(-max(width or n_real, n_real) // strategy.multiple) * strategy.multiple
    hyper_list = [r.hyper for r in runs] + [runs[-1].hyper] * (width - n_real)
    hypers = stack_hypers(hyper_list)
    data = batch_data(static, hyper_list)
    n_evals = segment_evals(static, width)
    compiled_before = compile_count()
    programs = _programs(static, n_evals, strategy, batch.adds_l1, hypers, data)
    compile_seconds = programs.compile_seconds if compile_count() > compiled_before else 0.0
    if on_compiled is not None:
        on_compiled(compile_seconds)

    state, metrics0 = programs.init(hypers, data)
    saves = set(static.save_params_at) | {static.steps}
    saved = {0: jax.device_get(state.params)} if 0 in saves else {}
    chunks = [np.asarray(metrics0)[:, None, :]]
    for first in range(0, static.steps, n_evals * static.eval_every):
        state, metrics = programs.segment(hypers, data, state, jnp.int32(first))
        chunks.append(np.asarray(metrics))  # blocks: progress and Ctrl-C every segment
        done = first + n_evals * static.eval_every
        if done in saves:
            saved[done] = jax.device_get(state.params)
        if on_steps is not None:
            on_steps(n_real * n_evals * static.eval_every)
    trim = {step: jax.tree.map(lambda a: np.asarray(a[:n_real]), p) for step, p in saved.items()}
    keys = None
    if (
        isinstance(static.task, ModularFields)
        and n_frequencies(static.task.op, static.task.p)
        and model_facts(static).lens == FOURIER
    ):
        keys = np.asarray(final_key_frequencies(static, state.params), dtype=np.int64)[:n_real]
    return BatchResult(
        run_ids=[r.run_id for r in runs],
        metric_names=metric_names(static),
        key_frequencies=keys,
        steps=np.arange(static.n_evals + 1) * static.eval_every,
        metrics=np.concatenate(chunks, axis=1)[:n_real],
        params=trim,
        wall_seconds=time.perf_counter() - start,
        compile_seconds=compile_seconds,
    )
