"""Files written whole or not at all: a temporary name no other process uses, fsync, rename.

Every file of a results folder is written this way, so a process killed at any moment leaves
the old file or the new one, never half of one. No JAX, no pandas.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any


def host_name() -> str:
    return socket.gethostname()


def unique_suffix() -> str:
    """host-pid-random: a temporary name no other process, on any host, uses."""
    return f"{host_name()}-{os.getpid()}-{secrets.token_hex(4)}"


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write through `write(file)` to a temporary name, fsync, then rename over `path`. An
    OSError names `path` (a failed write() names no file; a failed open names the temporary)."""
    tmp = path.with_name(f".{path.name}.tmp-{unique_suffix()}")  # unique across hosts
    try:
        with open(tmp, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno is None or err.filename not in (None, str(tmp)):
            raise
        raise type(err)(err.errno, err.strerror or str(err), str(path)) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text), mode="w")


def write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def path_problem(path: str | Path) -> str | None:
    """Why a results folder cannot live at `path`, or None: a name that is not valid UTF-8 (a
    shell's $'\\xff'), which pyarrow cannot encode, so no parquet file could be written or read
    under it."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(str(path)).decode("utf-8", "backslashreplace")
        return f"{shown} is not valid UTF-8, which parquet needs of a path; use a UTF-8 name"
    return None
