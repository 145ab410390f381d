"""Many worker processes on one results folder: claims, takeover, the plan, merge."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from phasegrok.config.load import ConfigError, load_sweep
from phasegrok.run import workers
from phasegrok.store import claims
from phasegrok.store import folder as store
from phasegrok.store.parts import remove_unfinished

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
TIMING = ["batch_wall_time", "batch_compile_time"]  # the only columns allowed to differ
SWEEP = {
    "name": "workers",
    "task": {"kind": "modular", "op": "add", "p": 11},
    "data": {"train_fraction": 0.5},
    "model": {"embed_dim": 8, "hidden": [16]},
    "optimizer": {"lr": 3.0e-3},
    "train": {"steps": 60, "eval_every": 20, "seeds": 2},
    "grid": {"optimizer.weight_decay": [0.01, 0.1, 1.0], "optimizer.lr": [1.0e-3, 3.0e-3]},
}
CORES = sorted(os.sched_getaffinity(0))


# --------------------------------------------------------------------------------------------
# Claims (no training)


def _write_claim(path: Path, **fields) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fields))


def test_a_claim_is_exclusive_while_its_owner_lives(tmp_path):
    first = claims.try_claim(tmp_path, "b1")
    assert first is not None and first.owned()
    assert claims.try_claim(tmp_path, "b1") is None  # this live process holds it
    assert claims.live_claims(tmp_path) == {"b1"}
    first.release()
    assert claims.try_claim(tmp_path, "b1") is not None


def test_a_dead_pid_on_this_host_is_taken_over_at_once(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = claims.claim_path(tmp_path, "b1")
    _write_claim(path, host=socket.gethostname(), pid=dead.pid, token="old", heartbeat=time.time())
    taken = claims.try_claim(tmp_path, "b1", timeout=600)
    assert taken is not None and json.loads(path.read_text())["token"] == taken.token


def test_another_hosts_claim_is_taken_over_after_the_timeout(tmp_path):
    path = claims.claim_path(tmp_path, "b1")
    _write_claim(path, host="elsewhere", pid=1, token="old", heartbeat=time.time() - 100)
    assert claims.try_claim(tmp_path, "b1", timeout=600) is None
    assert claims.try_claim(tmp_path, "b1", timeout=60) is not None


def test_a_claim_whose_pid_lives_on_but_beats_no_more_is_taken_after_the_timeout(tmp_path):
    """pid reuse after a restart (a container's python as pid 1): the pid is alive, but its
    owner is gone; the old heartbeat gives it away."""
    path = claims.claim_path(tmp_path, "b1")
    old = time.time() - 1000
    _write_claim(path, host=socket.gethostname(), pid=os.getpid(), token="old", heartbeat=old)
    assert claims.try_claim(tmp_path, "b1", timeout=2000) is None  # could still be alive
    taken = claims.try_claim(tmp_path, "b1", timeout=600)
    assert taken is not None and json.loads(path.read_text())["token"] == taken.token


@pytest.mark.parametrize(
    "fields",
    [
        {"heartbeat": float("nan")},
        {"heartbeat": "soon"},
        {"pid": 0},
        {"pid": -1},
        {"pid": "12"},
    ],
)
def test_a_malformed_claim_is_stale(tmp_path, fields):
    path = claims.claim_path(tmp_path, "b1")
    claim = {"host": socket.gethostname(), "pid": os.getpid(), "token": "old"}
    claim["heartbeat"] = time.time()
    _write_claim(path, **{**claim, **fields})
    assert claims.live_claims(tmp_path) == set()
    assert claims.try_claim(tmp_path, "b1", timeout=600) is not None


def test_a_folder_where_a_claim_belongs_is_taken_over(tmp_path):
    path = claims.claim_path(tmp_path, "b1")
    (path / "inside").mkdir(parents=True)
    taken = claims.try_claim(tmp_path, "b1", timeout=600)
    assert taken is not None and path.is_file()
    assert json.loads(path.read_text())["token"] == taken.token


def test_the_heartbeat_refreshes_and_stops_after_a_takeover(tmp_path):
    claim = claims.try_claim(tmp_path, "b1")
    before = json.loads(claim.path.read_text())["heartbeat"]
    with claims.heartbeat(claim, 0.05):
        time.sleep(0.3)
    assert json.loads(claim.path.read_text())["heartbeat"] > before
    _write_claim(claim.path, host="elsewhere", pid=1, token="theirs", heartbeat=0)
    claim.beat()
    claim.release()  # not ours any more: neither refreshed nor removed
    assert json.loads(claim.path.read_text())["token"] == "theirs"


def test_start_up_keeps_the_files_of_a_live_workers_batch(tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    names = ["live.curves.parquet", ".live.params.npz.tmp-h-1-ab", "dead.curves.parquet"]
    names += [".dead.params.npz.tmp-h-2-cd"]
    for name in names:
        (parts / name).write_bytes(b"x")
    assert claims.try_claim(tmp_path, "live") is not None
    remove_unfinished(parts, keep=claims.live_claims(tmp_path))
    assert sorted(p.name for p in parts.iterdir() if p.is_file()) == sorted(names[:2])


def test_temporary_names_are_unique_across_hosts_and_processes(tmp_path, monkeypatch):
    seen = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (seen.append(Path(a).name), real(a, b)))
    store.write_text(tmp_path / "a.txt", "1")
    store.write_text(tmp_path / "a.txt", "2")
    assert seen[0] != seen[1]
    assert f"{socket.gethostname()}-{os.getpid()}-" in seen[0]


# --------------------------------------------------------------------------------------------
# The plan (no training)


def _spec(**grid):
    return load_sweep({**SWEEP, "grid": {**SWEEP["grid"], **grid}})


def _ids(record):
    return [(b.batch_id, len(b.runs)) for b, _w in workers.worker_batches(record)]


def test_the_plan_depends_on_the_sweep_and_batch_runs_alone(tmp_path):
    first = workers.record_plan(tmp_path, _spec(), 5)
    assert workers.record_plan(tmp_path, _spec(), 5) == first == workers.read_plan(tmp_path)
    assert [n for _id, n in _ids(first)] == [4, 4, 4]  # 12 runs in equal batches of <= 5
    with pytest.raises(ConfigError, match="--batch-runs 5 .* with 4"):
        workers.worker_plan(_spec(), 4, first)
    other = _spec(**{"optimizer.weight_decay": [0.01, 0.1, 5.0]})
    with pytest.raises(ConfigError, match="holds 4 runs this sweep does not, and workers"):
        workers.worker_plan(other, 5, first, busy=True)
    # Another grid once no worker is busy: a plan of its own, as a sweep without workers.
    assert workers.worker_plan(other, 5, first)["sweeps"] == [other.resolved_dict()]


def test_extending_a_sweep_appends_batches_and_keeps_the_old_ones(tmp_path):
    first = workers.record_plan(tmp_path, _spec(), 5)
    wider = _spec(**{"optimizer.weight_decay": [0.01, 0.1, 1.0, 3.0]})
    extended = workers.record_plan(tmp_path, wider, 5)
    assert len(extended["sweeps"]) == 2 and workers.read_plan(tmp_path) == extended
    old, new = _ids(first), _ids(extended)
    assert new[: len(old)] == old and sum(n for _id, n in new[len(old) :]) == 4
    assert workers.record_plan(tmp_path, _spec(), 5) == extended  # an older worker follows it


def test_a_plan_of_a_sweep_with_a_reference_is_read_from_any_directory(tmp_path, monkeypatch):
    # plan.json records `reference: reference.csv` (the folder's copy); reading the plan must
    # not look for that table beside the reader's working directory.
    (tmp_path / "ref.csv").write_text("optimizer.weight_decay,phase\n0.1,grok\n")
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump({**SWEEP, "reference": "ref.csv"}))
    out = tmp_path / "out"
    out.mkdir()
    first = workers.record_plan(out, load_sweep(sweep_file), 5)
    assert first["sweeps"][0]["reference"] == "reference.csv"
    monkeypatch.chdir(out.parent.parent)
    assert workers.record_plan(out, load_sweep(sweep_file), 5) == first
    assert [n for _id, n in _ids(workers.read_plan(out))] == [4, 4, 4]


# --------------------------------------------------------------------------------------------
# Processes on one folder


def _start(sweep_file, out, args, core, wrapper=""):
    """A sweep CLI in a fresh process pinned to `core` (its one XLA device)."""
    code = f"import os\nos.sched_setaffinity(0, {{{core}}})\n" + textwrap.dedent(wrapper)
    code += textwrap.dedent(
        f"""
        import sys
        from phasegrok.sweep import main
        sys.exit(main({[str(sweep_file), "--out", str(out), "--quiet", "--no-plots", *args]!r}))
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], env=ENV, stderr=subprocess.PIPE, text=True
    )


def _finish(proc, timeout=600):
    status = proc.wait(timeout=timeout)
    return status, proc.stderr.read()


def _frames(out):
    runs = pd.read_parquet(out / "runs.parquet").drop(columns=TIMING)
    curves = pd.read_parquet(out / "curves.parquet")
    return (
        runs.sort_values("run_id").reset_index(drop=True),
        curves.sort_values(["run_id", "step"]).reset_index(drop=True),
    )


def test_merge_of_an_empty_folder_exits_1_and_writes_nothing(tmp_path):
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    status, err = _finish(_start(sweep_file, tmp_path / "out", ["--merge"], CORES[0]))
    assert status == 1 and "12 of 12 runs are missing" in err
    assert not (tmp_path / "out").exists()


# Worker A sleeps once its first batch's curves part is in place: killed there, mid-batch.
SLOW_A = """
    import time
    _replace = os.replace
    def slow_replace(src, dst):
        _replace(src, dst)
        if str(dst).endswith(".curves.parquet"):
            time.sleep(300)
    os.replace = slow_replace
"""


@pytest.mark.training
def test_workers_killed_and_replaced_give_the_one_process_rows(tmp_path):
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    work = ["--worker", "--batch-runs", "2"]
    out = tmp_path / "shared"
    parts = out / "parts"
    a = _start(sweep_file, out, work, CORES[0], SLOW_A)
    start = time.monotonic()
    while not (parts.exists() and list(parts.glob("*.curves.parquet"))):
        assert a.poll() is None, a.stderr.read()
        assert time.monotonic() - start < 300
        time.sleep(0.05)
    (held,) = [p.name.split(".")[0] for p in parts.glob("*.curves.parquet")]
    a_files = {p.name for p in parts.glob(f"{held}.*")}
    assert f"{held}.runs.parquet" not in a_files  # A is in the middle of its batch
    # B starts while A is mid-write: deletes nothing of A's, trains every other batch.
    status, err = _finish(_start(sweep_file, out, work, CORES[-1]))
    assert status == 0, err
    assert "trained 5 batches (10 runs); 1 batches held by other workers" in err
    assert a_files <= {p.name for p in parts.glob(f"{held}.*")}
    a.send_signal(signal.SIGKILL)
    assert a.wait(timeout=60) == -signal.SIGKILL
    status, err = _finish(_start(sweep_file, out, ["--merge"], CORES[-1]))
    assert status == 1 and "2 of 12 runs are missing" in err
    assert not (out / "runs.parquet").exists()  # the refused merge changed nothing
    status, err = _finish(_start(sweep_file, out, ["--worker", "--batch-runs", "3"], CORES[-1]))
    assert status == 2 and err.count("\n") == 1 and "--batch-runs" in err
    # A third worker takes the dead worker's claim over at once (same host, pid gone).
    status, err = _finish(_start(sweep_file, out, work, CORES[-1]))
    assert status == 0 and "trained 1 batches (2 runs)" in err, err
    status, err = _finish(_start(sweep_file, out, ["--merge"], CORES[0]))
    assert status == 0, err
    assert not list((out / "parts" / "claims").glob("*.claim"))
    # One process, one core: the same strategy as each worker's.
    status, err = _finish(_start(sweep_file, tmp_path / "one", ["--batch-runs", "2"], CORES[0]))
    assert status == 0, err
    runs, curves = _frames(out)
    ref_runs, ref_curves = _frames(tmp_path / "one")
    assert runs["run_id"].is_unique and len(runs) == 12
    pd.testing.assert_frame_equal(runs, ref_runs, check_exact=True)
    pd.testing.assert_frame_equal(curves, ref_curves, check_exact=True)


def test_a_start_in_progress_is_not_a_foreign_folder(tmp_path):
    """Two workers started together: the second sees the first's parts/ and its manifest's
    temporary, not yet its manifest, and must join; a stranger's file is still refused."""
    spec = load_sweep(SWEEP)
    out = tmp_path / "out"
    (out / "parts").mkdir(parents=True)
    (out / ".manifest.json.tmp-otherhost-123-abcd").write_text("{")
    store.prepare(out, spec.identity(), spec.resolved_dict(), force=False)
    assert json.loads((out / "manifest.json").read_text())["identity"] == spec.identity()

    strange = tmp_path / "strange"
    strange.mkdir()
    (strange / "notes.txt").write_text("mine")
    with pytest.raises(store.OutputError, match="not empty and holds no phasegrok results"):
        store.prepare(strange, spec.identity(), spec.resolved_dict(), force=False)
    assert sorted(p.name for p in strange.iterdir()) == ["notes.txt"]


@pytest.mark.training
def test_workers_of_another_grid_merge_that_grid_alone(tmp_path):
    first, other = tmp_path / "first.yaml", tmp_path / "other.yaml"
    first.write_text(yaml.safe_dump(SWEEP))
    grid = {**SWEEP["grid"], "optimizer.weight_decay": [0.3, 1.0]}
    other.write_text(yaml.safe_dump({**SWEEP, "grid": grid}))
    out = tmp_path / "out"
    for sweep_file, trained in ((first, 12), (other, 4)):
        status, err = _finish(_start(sweep_file, out, ["--worker"], CORES[0]))
        assert status == 0 and f"({trained} runs)" in err, err
        status, err = _finish(_start(sweep_file, out, ["--merge"], CORES[0]))
        assert status == 0, err
    assert "8 runs of an earlier grid kept aside" in err
    runs, curves = _frames(out)
    assert len(runs) == 8 and sorted(runs["optimizer.weight_decay"].unique()) == [0.3, 1.0]
    assert set(curves["run_id"]) == set(runs["run_id"])
    status, err = _finish(_start(first, out, ["--worker"], CORES[0]))  # back: nothing to train
    assert status == 0 and "(0 runs)" in err, err
