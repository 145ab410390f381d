"""Claims on batches: many worker processes, on many hosts, sharing one results folder.

    parts/claims/<batch>.claim    {"host", "pid", "token", "heartbeat"} of the worker training it

A worker claims a batch by creating its claim file exclusively (O_CREAT | O_EXCL), refreshes
the heartbeat time while it trains (a daemon thread), and removes the claim once the batch is
committed. A claim whose owner is gone is taken over: at once when the owner ran on this host
and its pid is dead, and after `timeout` seconds without a heartbeat whatever host or pid it
names (a pid reused after a restart cannot hold a batch); a malformed claim at once.

Claims only save work, they do not make results right: a batch trained twice (a takeover by a
host whose clock is ahead, a race between two takers) writes the same files with the same rows
(a run's numbers do not depend on which process trained it), each file renamed into place
atomically, and assembling keeps one row per run_id. No JAX, no pandas.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phasegrok.store.atomic import host_name, unique_suffix
from phasegrok.store.parts import PARTS

__all__ = ["host_name", "unique_suffix"]  # defined in atomic, used here and by workers
CLAIMS = f"{PARTS}/claims"
DEFAULT_TIMEOUT = 600.0


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def claim_path(out_dir: Path, batch_id: str) -> Path:
    return out_dir / CLAIMS / f"{batch_id}.claim"


def read_claim(path: Path) -> dict[str, Any] | None:
    """A claim's content; None when it is absent; {} when unreadable (being written)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_stale(claim: dict[str, Any], path: Path, timeout: float, now: float | None = None) -> bool:
    """Whether a claim's owner is gone: its heartbeat is older than `timeout`, whatever host or
    pid it names (a live owner refreshes it well within the timeout, so a pid reused by another
    process after a restart cannot hold a batch for ever); on this host, at once when its pid is
    dead. A malformed claim (a directory, a heartbeat that is not a finite number, a pid <= 0)
    is stale; one that cannot be read yet (being written) is judged by the file's mtime.
    Hosts' clocks are compared: a skew of s seconds moves a takeover by s."""
    now = time.time() if now is None else now
    if path.is_dir():
        return True
    pid = claim.get("pid")
    if "pid" in claim and (isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0):
        return True
    if claim.get("host") == host_name() and isinstance(pid, int) and not pid_alive(pid):
        return True
    beat = claim.get("heartbeat")
    if "heartbeat" in claim:
        if isinstance(beat, bool) or not isinstance(beat, int | float) or not math.isfinite(beat):
            return True
    else:
        try:
            beat = path.stat().st_mtime
        except FileNotFoundError:
            return True
    return now - beat > timeout


def live_claims(out_dir: Path, timeout: float = DEFAULT_TIMEOUT) -> set[str]:
    """The batch ids whose claims are held by a live worker (their files are not leftovers)."""
    found = set()
    for path in (out_dir / CLAIMS).glob("*.claim"):
        claim = read_claim(path)
        if claim is not None and not is_stale(claim, path, timeout):
            found.add(path.name.removesuffix(".claim"))
    return found


@dataclass
class Claim:
    """A batch this process holds: `token` tells its claim file from a successor's."""

    path: Path
    token: str

    def content(self) -> str:
        return json.dumps(
            {
                "host": host_name(),
                "pid": os.getpid(),
                "token": self.token,
                "heartbeat": time.time(),
            }
        )

    def owned(self) -> bool:
        claim = read_claim(self.path)
        return bool(claim and claim.get("token") == self.token)

    def beat(self) -> None:
        """Refresh the heartbeat, unless another worker took the claim over."""
        if not self.owned():
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp-{unique_suffix()}")
        try:
            tmp.write_text(self.content())
            os.replace(tmp, self.path)
        except OSError:  # a missed beat only brings a takeover nearer
            tmp.unlink(missing_ok=True)

    def release(self) -> None:
        if self.owned():
            self.path.unlink(missing_ok=True)


def _create(path: Path, claim: Claim) -> bool:
    """Create the claim file exclusively; False when it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(claim.content())
        handle.flush()
        os.fsync(handle.fileno())
    return True


def try_claim(out_dir: Path, batch_id: str, timeout: float = DEFAULT_TIMEOUT) -> Claim | None:
    """Claim `batch_id`, taking over a stale claim; None when a live worker holds it."""
    path = claim_path(out_dir, batch_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    claim = Claim(path, secrets.token_hex(8))
    if _create(path, claim):
        return claim
    old = read_claim(path)
    if old is None:  # released meanwhile
        return claim if _create(path, claim) else None
    if not is_stale(old, path, timeout):
        return None
    # Rename, not unlink: of several takers only one moves the stale file away.
    grave = path.with_name(f".{path.name}.stale-{unique_suffix()}")
    try:
        os.rename(path, grave)
    except FileNotFoundError:
        return None
    if grave.is_dir():  # a malformed claim: a folder where the file belongs
        shutil.rmtree(grave, ignore_errors=True)
    else:
        grave.unlink(missing_ok=True)
    return claim if _create(path, claim) else None


@contextmanager
def heartbeat(claim: Claim, interval: float) -> Iterator[None]:
    """Refresh `claim` every `interval` seconds while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            claim.beat()

    thread = threading.Thread(target=loop, name="phasegrok-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
