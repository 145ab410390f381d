"""`--executor ray`: one Ray task per batch of the workers' plan, on a local Ray or a cluster.

The driver (the `python -m phasegrok.sweep` process) records the plan (`workers.record_plan`:
the same batches as `--worker`), submits one task per batch not yet committed, moves its
progress bar as tasks finish, and merges (`pipeline.finish`) at the end. Each task trains its
batch and writes the batch's parts itself into the results folder, through the same store
functions as a local run (`local.train_missing`): parts go straight from the node that made
them to the shared filesystem, not through Ray's object store and the driver, and a finished
task's parts survive the driver's death (the next run skips them). Hence every Ray node must
see the results folder at the same path.

No claim files: Ray retries a task lost with its worker process or node (`max_retries`); a
retry first removes the half-written files of the lost attempt (`workers.drop_leftovers`).
Each task's JAX is set up by its `runtime_env`: one XLA host device per CPU Ray granted (not
the driver's `XLA_FLAGS`). Ray reuses a worker process only for tasks of the same runtime_env,
so a reused worker's JAX, already started, has the devices this task asked for.

The core never imports ray: it is imported here, inside functions, and is an optional extra.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phasegrok.config.load import ConfigError, SweepSpec
from phasegrok.plan.batching import flops_per_step
from phasegrok.plan.runs import Batch
from phasegrok.run import workers
from phasegrok.run.local import train_missing
from phasegrok.run.pipeline import LocalExecutor, RunOptions
from phasegrok.store import folder as store

INSTALL_HINT = "pip install -e '.[ray]'"
MAX_RETRIES = 3
# Test-only: a path; the first task attempt to create it kills its own worker process
# (SIGKILL) right after writing its batch's curves part, in the middle of the batch.
KILL_ENV = "PHASEGROK_RAY_TEST_KILL"


class TaskFailed(RuntimeError):
    """A Ray task failed after its retries (one line: the batch and Ray's last line)."""


@dataclass(frozen=True)
class RayOptions:
    """`--executor ray`'s options: the cluster (None: start a local Ray) and each task's share."""

    address: str | None = None  # --ray-address ('auto': the running cluster)
    cpus_per_task: float | None = None  # default 1; the task's JAX gets a device per CPU
    gpus_per_task: float | None = None  # default: 1 where the cluster has GPUs, else 0
    batch_runs: int = 256  # --batch-runs: the plan's batch size


@dataclass(frozen=True)
class RayExecutor:
    """One Ray task per batch, then the (empty) local pass that returns the sweep's runs."""

    options: RayOptions
    live = False  # the tasks write parts elsewhere: no live page

    def train(self, spec: SweepSpec, options: RunOptions, page: Any) -> dict[str, int] | None:
        run(spec, options.out_dir, self.options, train_missing, progress=options.progress)
        return LocalExecutor().train(spec, options, None)


def import_ray() -> Any:
    """The ray module, or ConfigError (one line) saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor", f"ray is not installed; install it with: {INSTALL_HINT}"
        ) from None
    return ray


def check_options(options: RayOptions, spec: SweepSpec, with_workers: bool = False) -> None:
    """Refuse what the ray executor cannot do, before anything is written (ConfigError);
    `with_workers`: --worker or --merge was asked for too."""
    if with_workers:
        raise ConfigError("--executor", "ray plans its own tasks: not with --worker or --merge")
    if spec.file.refine is not None:
        raise ConfigError("--executor", "refinement rounds run with --executor local only")
    for flag, value in (
        ("--ray-cpus-per-task", options.cpus_per_task),
        ("--ray-gpus-per-task", options.gpus_per_task),
    ):
        if value is not None and value < 0:
            raise ConfigError(flag, f"must be >= 0 (got {value})")
    import_ray()


def task_env(cpus: float, gpus: float) -> dict[str, str]:
    """A task's environment variables: one XLA host device per granted CPU (at least one);
    CPU only when it asked for no GPU, so that JAX does not reach for the node's GPUs."""
    env = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={max(1, int(cpus))}"}
    if not gpus:
        env["JAX_PLATFORMS"] = "cpu"
    if os.environ.get(KILL_ENV):
        env[KILL_ENV] = os.environ[KILL_ENV]
    return env


def resources(options: RayOptions, cluster: dict[str, float]) -> tuple[float, float]:
    """(CPUs, GPUs) per task: the options, else 1 CPU, and 1 GPU when the cluster has any."""
    cpus = 1.0 if options.cpus_per_task is None else options.cpus_per_task
    gpus = options.gpus_per_task
    if gpus is None:
        gpus = 1.0 if cluster.get("GPU", 0) > 0 else 0.0
    return cpus, gpus


def arm_test_kill(marker: str) -> None:
    """Test-only (KILL_ENV): the first attempt to claim `marker` dies mid-batch."""
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(str(os.getpid()))
    real_replace = os.replace

    def replace_then_die(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        if str(dst).endswith(".curves.parquet"):
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace_then_die  # type: ignore[assignment]  # test-only fault injection


def train_task(
    train: Callable[..., None],
    spec: SweepSpec,
    out_dir: str,
    batch: Batch,
    width: int,
    gpus: float,
) -> str:
    """The body of one Ray task: train `batch` and write its parts to `out_dir`."""
    import jax

    from phasegrok.run.host import use_compile_cache

    if gpus and not any(d.platform == "gpu" for d in jax.devices()):
        raise RuntimeError(
            f"this task asked Ray for {gpus:g} GPU but JAX on {os.uname().nodename} finds "
            f"none ({jax.devices()[0].platform} only): install jax[cuda12] on the Ray nodes"
        )
    use_compile_cache()
    if os.environ.get(KILL_ENV):
        arm_test_kill(os.environ[KILL_ENV])
    folder = Path(out_dir)
    if not workers.committed(folder, batch.batch_id):
        workers.drop_leftovers(folder, batch.batch_id)  # of an attempt lost with its worker
        train(spec, folder, progress=False, batches=[(batch, width)])
    return batch.batch_id


def batch_flops(batch: Batch) -> float:
    return len(batch.runs) * batch.static.steps * flops_per_step(batch.static)


def run(
    spec: SweepSpec,
    out_dir: Path,
    options: RayOptions,
    train: Callable[..., None],
    progress: bool = True,
) -> int:
    """Train every uncommitted batch of the plan as Ray tasks; returns how many were trained.
    `train` is `local.train_missing` (it runs in the tasks). Raises TaskFailed (one line)
    when a task fails after its retries."""
    from phasegrok.run.progress_bar import progress_bar

    ray = import_ray()
    record = workers.record_plan(out_dir, spec, options.batch_runs)
    done = store.done_run_ids(out_dir)
    todo = [
        (batch, width)
        for batch, width in workers.worker_batches(record)
        if not workers.committed(out_dir, batch.batch_id)
        and not all(r.run_id in done for r in batch.runs)
    ]
    if not todo:
        return 0
    started = not ray.is_initialized()
    if started:
        ray.init(address=options.address, include_dashboard=False, log_to_driver=False)
    try:
        cpus, gpus = resources(options, ray.cluster_resources())
        remote = ray.remote(max_retries=MAX_RETRIES)(train_task).options(
            num_cpus=cpus, num_gpus=gpus, runtime_env={"env_vars": task_env(cpus, gpus)}
        )
        spec_ref = ray.put(spec)
        pending = {
            remote.remote(train, spec_ref, str(out_dir.resolve()), batch, width, gpus): batch
            for batch, width in todo
        }
        total = sum(batch_flops(b) for b, _w in todo)
        bar = progress_bar(total, f"{spec.name} (ray)", enabled=progress)
        with bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                batch = pending.pop(ready[0])
                try:
                    ray.get(ready[0])
                except ray.exceptions.RayError as err:
                    for ref in pending:
                        ray.cancel(ref)
                    first = str(err).strip().splitlines()
                    raise TaskFailed(
                        f"batch {batch.batch_id} failed: {first[-1] if first else err}"
                    ) from None
                bar.update(batch_flops(batch))
    finally:
        if started:
            ray.shutdown()
    print(f"ray: trained {len(todo)} batches", file=sys.stderr)
    return len(todo)
