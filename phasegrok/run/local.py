"""The in-process executor's training loop: the missing runs of a sweep, batch after batch.

Each batch is trained by the engine (one compiled program per shape), measured (the lens
values of `engine.measure`), and written as the parts of one batch (`store`), with a progress
bar at this edge. Workers and Ray tasks call the same loop on the batches they were given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from phasegrok.config.load import SweepSpec
from phasegrok.plan.batching import flops_per_step
from phasegrok.plan.calibrate import Recorder
from phasegrok.plan.groups import Plan, grid_columns, iter_batches, plan
from phasegrok.plan.runs import Batch
from phasegrok.run.progress_bar import leave_out, progress_bar
from phasegrok.store import folder as store
from phasegrok.store.parts import check_parts, part_rows
from phasegrok.tasks import TASKS
from phasegrok.tasks.base import FOURIER


def folder_plan(spec: SweepSpec, out_dir: Path) -> Plan:
    """The sweep's plan against the runs already in `out_dir` (its whole batches)."""
    parts = check_parts(out_dir).whole if (out_dir / store.MANIFEST).exists() else []
    return plan(spec, part_rows(parts, grid_columns(spec)))


def advance(bar: Any, flops_per_step: float, steps: int) -> None:
    """Move the progress bar by `steps` model-steps of `flops_per_step` FLOPs each."""
    bar.update(steps * flops_per_step)


def train_missing(
    spec: SweepSpec,
    out_dir: Path,
    progress: bool = True,
    memory_budget: int | None = None,
    max_runs_per_batch: int = 256,
    page: Any = None,
    batches: Iterable[tuple[Batch, int]] | None = None,
    columns: Mapping[str, Any] | None = None,
) -> None:
    """Train the runs of `spec` that `out_dir` does not hold yet, one batch file at a time.

    Batches are planned as training reaches them (`plan.groups.iter_batches`): memory holds one
    batch, and the run_ids of the runs already done. `page.add(runs, curves)` (a
    `report.live.LivePage`) is called with each batch once it is saved. `batches`: (batch,
    width) pairs to train instead (a worker's claimed batches, `phasegrok.run.workers`). `columns`:
    constant columns of every run written (a refinement round's `refine_round`).
    """
    from phasegrok.engine import batch as engine
    from phasegrok.engine import measure
    from phasegrok.store import progress as progress_store

    the_plan = folder_plan(spec, out_dir)
    if not the_plan.n_todo:
        return
    if batches is None:
        batches = iter_batches(
            the_plan,
            store.done_run_ids(out_dir),
            memory_budget=memory_budget or engine.default_memory_budget(),
            max_runs_per_batch=max_runs_per_batch,
            max_flops_per_eval=engine.max_flops_per_eval(),
        )
    device = engine.device_description()
    provenance = {
        "versions": store.package_versions(),
        "device": device,
        "identity": spec.identity(),
    }
    # Counted in FLOPs, not steps: a step's cost differs between shape groups by orders of
    # magnitude, and the ETA is the work left over the recent rate (compilation left out).
    work = [flops_per_step(g.static) for g in the_plan.groups]
    total = sum(
        n * g.static.steps * w for g, n, w in zip(the_plan.groups, the_plan.todo, work, strict=True)
    )
    bar = progress_bar(total, spec.name, enabled=progress)
    n_done, finished = the_plan.n_runs - the_plan.n_todo, 0
    recorder = Recorder(device)
    try:
        for batch, width in batches:
            strategy = engine.choose_strategy(batch.static)
            on_steps = partial(advance, bar, flops_per_step(batch.static))
            result = engine.execute_batch(
                batch,
                on_steps=on_steps,
                width=width,
                strategy=strategy,
                on_compiled=partial(leave_out, bar),
            )
            recorder.add(batch.static, len(batch.runs), result.wall_seconds, result.compile_seconds)
            configs = [r.config for r in batch.runs]
            extra = {
                "batch_id": batch.batch_id,
                "batch_wall_time": result.wall_seconds,
                "batch_compile_time": result.compile_seconds,
                "strategy": strategy.describe(),
                **(columns or {}),
            }
            runs_part = store.runs_frame(
                configs,
                result.run_ids,
                [r.seed for r in batch.runs],
                batch.static.n_classes,
                result.metric_names,
                result.metrics,
                extra,
            )
            if result.key_frequencies is not None:
                runs_part["key_frequencies"] = [k.tolist() for k in result.key_frequencies]
            elif TASKS[batch.static.task_kind].lens == FOURIER:  # no cyclic group: blank
                runs_part["key_frequencies"] = None
            measured, progress_part = measure.batch_measures(batch, result)
            for name, values in measured.items():
                runs_part[name] = values
            progress_store.write_part(out_dir, batch.batch_id, progress_part, provenance)
            curves_part = store.curves_frame(
                result.run_ids, result.steps, result.metric_names, result.metrics
            )
            store.write_batch(
                out_dir, batch.batch_id, runs_part, curves_part, result.params, provenance
            )
            if page is not None:
                page.add(runs_part, curves_part)
            finished += len(batch.runs)
            bar.set_postfix_str(f"runs {n_done + finished}/{the_plan.n_runs}")
    except KeyboardInterrupt:  # the command says what the folder holds (`phasegrok.command`)
        bar.close()
        raise
    finally:  # what was measured calibrates the next estimate, interrupted or not
        recorder.save()
    bar.close()
