"""`--worker` and `--merge`: many processes (a Slurm job array) training one results folder.

    plan.json    what every worker cuts into batches: the identity, --batch-runs, the sweeps,
                 and the runs of the first sweep the folder held when the plan was made

A worker cuts the batches from the whole sweep and `--batch-runs` alone (`worker_batches`: not
from the host's memory, nor from what is done), so every worker on every host has the same
batch ids; the first records them in plan.json, and a worker with another plan is refused.
It then trains every batch that is neither committed nor claimed by a live worker
(`phasegrok.store.claims`), and exits 0 when none is left. `--merge` assembles, classifies and draws
once every run is there. No JAX at import.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Collection, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phasegrok.config.load import ConfigError, SweepSpec, load_sweep
from phasegrok.plan.groups import iter_batches, iter_group_runs, plan
from phasegrok.plan.runs import Batch
from phasegrok.run.local import folder_plan, train_missing
from phasegrok.run.pipeline import RunOptions, finish
from phasegrok.store import folder as store
from phasegrok.store.claims import DEFAULT_TIMEOUT, heartbeat, live_claims, try_claim, unique_suffix
from phasegrok.store.parts import PARTS

PLAN_JSON, PARTIAL_JSON = "plan.json", "partial.json"
UNBOUNDED = 1 << 62  # no memory cap: --batch-runs alone sizes a worker's batches


def run_ids(spec: SweepSpec) -> set[str]:
    """Every run_id of the sweep (listed: a worker's plan holds the runs of its folder)."""
    return {run.run_id for g in plan(spec).groups for run in iter_group_runs(spec, g)}


def recorded_sweep(resolved: dict[str, Any]) -> SweepSpec:
    """A sweep recorded in plan.json, without its `reference:`: the table names the folder's
    own copy (relative to no sweep file here) and defines no run."""
    return load_sweep({k: v for k, v in resolved.items() if k != "reference"})


def worker_batches(record: dict[str, Any]) -> Iterator[tuple[Batch, int]]:
    """(batch, width) of a plan.json record: each recorded sweep's runs not in an earlier one
    nor `done` when the plan was made (the runs of an earlier grid that return), cut by
    `batch_runs` alone (no memory cap), so every host names the same batches and an extension
    appends batches without renaming the old ones."""
    earlier: set[str] = set(record.get("done", ()))
    for resolved in record["sweeps"]:
        spec = recorded_sweep(resolved)
        yield from iter_batches(plan(spec), earlier, UNBOUNDED, record["batch_runs"], None)
        earlier |= run_ids(spec)


def read_plan(out_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((out_dir / PLAN_JSON).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("sweeps"), list) else None


def worker_plan(
    spec: SweepSpec,
    batch_runs: int,
    theirs: dict[str, Any] | None,
    busy: bool = False,
    done: Collection[str] = (),
) -> dict[str, Any]:
    """The plan this worker follows: the folder's (`theirs`), extended by `spec` when it adds
    runs; a new one when there is none, it is of another sweep (a folder replaced with
    --force), or `spec` drops runs of it (another grid: the runs of the old one stay in
    parts/, kept aside as without workers) while no worker is `busy` in the folder (holds a
    live claim). A new plan records which of its runs are `done` (in the folder's parts),
    which no worker trains again. Raises ConfigError (one line) for another --batch-runs, or a
    sweep that drops runs of the plan of busy workers."""
    batch_runs = max(1, batch_runs)
    fresh = {"identity": spec.identity(), "batch_runs": batch_runs}

    def new_plan() -> dict[str, Any]:
        reused = sorted(run_ids(spec) & set(done)) if done else []
        return {**fresh, "sweeps": [spec.resolved_dict()], **({"done": reused} if reused else {})}

    if theirs is None or theirs.get("identity") != spec.identity():
        return new_plan()
    if theirs.get("batch_runs") != batch_runs:
        raise ConfigError(
            "--batch-runs",
            f"the workers of this folder cut batches with --batch-runs {theirs.get('batch_runs')} "
            f"(plan.json), this one with {batch_runs}: every worker must use the same",
        )
    planned: set[str] = set()
    for resolved in theirs["sweeps"]:
        planned |= run_ids(recorded_sweep(resolved))
    mine = run_ids(spec)
    if mine <= planned:
        return theirs
    if not planned <= mine and busy:
        raise ConfigError(
            "grid",
            f"plan.json holds {len(planned - mine)} runs this sweep does not, and workers are "
            "training them: workers of one folder run the same sweep at a time (or one that "
            "extends it); wait for them to finish, or choose another --out",
        )
    if not planned <= mine:  # another grid: a plan of its own
        return new_plan()
    return {**fresh, "sweeps": [*theirs["sweeps"], spec.resolved_dict()]}


def record_plan(out_dir: Path, spec: SweepSpec, batch_runs: int) -> dict[str, Any]:
    """Write (or extend) plan.json; the first writer's plan wins (a link: create-exclusive,
    whole or not at all). Returns the plan to follow; raises ConfigError if it differs."""
    path = out_dir / PLAN_JSON
    theirs = read_plan(out_dir)
    busy, done = bool(live_claims(out_dir)), store.done_run_ids(out_dir)
    record = worker_plan(spec, batch_runs, theirs, busy, done)
    if theirs is not None:
        if record is not theirs:  # an extension, or a stale plan of another sweep
            store.write_text(path, json.dumps(record, indent=1))
        return record
    tmp = path.with_name(f".{PLAN_JSON}.tmp-{unique_suffix()}")
    tmp.write_text(json.dumps(record, indent=1))
    try:
        os.link(tmp, path)
    except FileExistsError:  # another worker was first: follow its plan
        return record_plan(out_dir, spec, batch_runs)
    finally:
        tmp.unlink(missing_ok=True)
    return record


@dataclass
class Tally:
    trained: int = 0  # batches
    runs: int = 0
    held: int = 0  # batches skipped: claimed by a live worker


def committed(out_dir: Path, batch_id: str) -> bool:
    return (out_dir / PARTS / f"{batch_id}.runs.parquet").exists()


def drop_leftovers(out_dir: Path, batch_id: str) -> None:
    """A claimed, uncommitted batch's files from an earlier holder (killed mid-write)."""
    parts = out_dir / PARTS
    for stale in parts.glob(f".{batch_id}.*.tmp-*"):
        stale.unlink(missing_ok=True)
    for stale in parts.glob(f"{batch_id}.*"):
        if not stale.name.endswith(".runs.parquet"):
            stale.unlink(missing_ok=True)


def claimed(
    out_dir: Path, batches: Iterable[tuple[Batch, int]], timeout: float, tally: Tally
) -> Generator[tuple[Batch, int], None, None]:
    """The batches of `batches` this worker claims, each held (heartbeat running) while the
    consumer trains and writes it, released when the next is asked for (or on close)."""
    done = store.done_run_ids(out_dir)
    for batch, width in batches:
        if committed(out_dir, batch.batch_id) or all(r.run_id in done for r in batch.runs):
            continue
        claim = try_claim(out_dir, batch.batch_id, timeout)
        if claim is None:
            tally.held += 1
            continue
        try:
            if committed(out_dir, batch.batch_id):  # finished by the last holder meanwhile
                continue
            drop_leftovers(out_dir, batch.batch_id)
            with heartbeat(claim, max(1.0, timeout / 5)):
                yield batch, width
            tally.trained, tally.runs = tally.trained + 1, tally.runs + len(batch.runs)
        finally:
            claim.release()


@dataclass(frozen=True)
class WorkerExecutor:
    """`--worker`: record (or check) the plan, train claimed batches, say what was done; no
    merge (None: `--merge` assembles, classifies and draws once every run is there)."""

    batch_runs: int  # --batch-runs: the plan's batch size, the same for every worker
    claim_timeout: float = DEFAULT_TIMEOUT  # take over a claim silent for this long (s)
    live = False  # many workers, one folder: no live page

    def train(self, spec: SweepSpec, options: RunOptions, page: Any) -> None:
        out_dir = options.out_dir
        record = record_plan(out_dir, spec, self.batch_runs)
        tally = Tally()
        batches = claimed(out_dir, worker_batches(record), self.claim_timeout, tally)
        with contextlib.closing(batches):  # an interrupted worker releases its claim at once
            train_missing(spec, out_dir, progress=options.progress, page=None, batches=batches)
        held = f"; {tally.held} batches held by other workers" if tally.held else ""
        done = f"worker done: trained {tally.trained} batches ({tally.runs} runs)"
        print(done + held, file=sys.stderr)


def merge(spec: SweepSpec, options: RunOptions, allow_partial: bool = False) -> int:
    """--merge: assemble, classify, draw; with runs missing, say how many, exit 1, change
    nothing (unless `allow_partial`: merge them, and mark the folder in partial.json).
    Returns the exit status."""
    out_dir = options.out_dir
    if not out_dir.is_dir():  # no worker has started there: nothing is training
        what = "is not a folder" if out_dir.exists() else "does not exist"
        total = plan(spec).n_runs
        print(
            f"error: {out_dir} {what}, so all {total} of {total} runs are "
            "missing (check --out: it is the folder the workers were given); nothing was changed",
            file=sys.stderr,
        )
        return 1
    manifest = out_dir / store.MANIFEST
    try:
        identity = json.loads(manifest.read_text()).get("identity") if manifest.exists() else None
    except (OSError, ValueError, AttributeError):
        identity = None
    if manifest.exists() and identity != spec.identity():
        print(f"error: {out_dir} holds results of a different sweep", file=sys.stderr)
        return 2
    the_plan = folder_plan(spec, out_dir) if manifest.exists() else plan(spec)
    missing, total = the_plan.n_todo, the_plan.n_runs
    if missing == total or (missing and not allow_partial):
        print(
            f"error: {missing} of {total} runs are missing in {out_dir} (workers still "
            "training, or one died: start another --worker); nothing was changed"
            + ("" if missing == total else "; --allow-partial merges the runs there"),
            file=sys.stderr,
        )
        return 1
    try:
        results = finish(spec, out_dir, plots=options.plots)
        if missing:
            store.write_text(
                out_dir / PARTIAL_JSON, json.dumps({"missing": missing, "runs": total}, indent=1)
            )
        else:
            (out_dir / PARTIAL_JSON).unlink(missing_ok=True)
    except store.OutputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    note = f" (partial: {missing} of {total} runs missing)" if missing else ""
    print(f"merged {len(results.runs)} runs in {out_dir}{note}")
    return 0
