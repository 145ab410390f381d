"""What each command (`python -m phasegrok.sweep`, `.plot`, `.compare`) does around its `main`:
one handler, set up before the heavy imports, so that whatever the moment, an interrupt or a
failed write ends in one line on stderr:

    Ctrl-C, SIGTERM          interrupted: ... (the sweep: what its folder holds)    status 130
    an OSError (a write, a figure, a full disk, a read-only folder)
                             error: cannot write PATH: CAUSE                         status 1

The command module runs `run_command` first thing when it is `__main__`, so the handler holds
while pandas, pyarrow and JAX load. Only the standard library is imported here.
"""

from __future__ import annotations

import errno
import importlib
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

# What the "interrupted" line says, set by a command once it knows (the sweep: its folder).
_SAYS: list[Callable[[], str]] = []


def when_interrupted(describe: Callable[[], str]) -> None:
    """From now on, an interrupt prints "interrupted: " + describe() (the sweep: the runs its
    folder holds, counted then)."""
    _SAYS[:] = [describe]


def one_line(message: str) -> str:
    """A message as one line (a library's error text may span several)."""
    return " ".join(line.strip() for line in str(message).splitlines() if line.strip())


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM behaves like Ctrl-C: the batch in flight is dropped, finished ones are kept.
    raise KeyboardInterrupt


WRITE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EDQUOT}


def os_error_line(err: OSError) -> str:
    """One line naming the path and the cause of `err`."""
    cause = err.strerror or one_line(str(err)) or type(err).__name__
    path = err.filename
    if path is None:
        return f"cannot write: {cause}"
    verb = "cannot write" if err.errno in WRITE_ERRNOS else "cannot use"
    return f"{verb} {path}: {cause}"


def run_command(module: str, argv: Sequence[str] | None = None, prefix: str = "error: ") -> int:
    """Import `module` (a command) and run its `main(argv)` under the one handler (which its
    `main` sets up again: called from Python, it answers the same); returns the exit status.
    `prefix`: what the command's error lines start with."""
    return guarded(
        lambda: importlib.import_module(module).main(None if argv is None else list(argv)),
        prefix,
    )


def guarded(body: Callable[[], int], prefix: str = "error: ") -> int:
    """`body()` under the one handler: its status, 130 for an interrupt (SIGTERM included),
    1 for an OSError, each said in one line."""
    _SAYS.clear()
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: signals stay as they are
        previous = None
    try:
        return int(body())
    except KeyboardInterrupt:
        return _interrupted()
    except OSError as err:
        print(f"{prefix}{os_error_line(err)}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        _SAYS.clear()


def _interrupted() -> int:
    """Print the interrupted line (another Ctrl-C or SIGTERM while it counts is ignored); 130."""
    try:
        old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        old = {}
    try:
        said = ""
        if _SAYS:
            try:
                said = ": " + one_line(_SAYS[0]())
            except Exception:  # the count is a courtesy: the interrupt is the answer
                said = ""
        print(f"\ninterrupted{said}", file=sys.stderr)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return 130
