"""Drawing several figures at once: a pool of forked processes, or the caller itself.

Saving a PNG is most of a figure's time and runs in one thread, so separate processes draw
in parallel. Fork is used only where no JAX is loaded (JAX's threads do not survive a fork):
`python -m phasegrok.plot` forks; a sweep that just trained draws in its own process.
Warnings raised in a worker (a `LensWarning` for a run asked for) come back to the caller.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

Caught = list[tuple[str, type[Warning]]]


class InlineExecutor(Executor):
    """Runs each submitted call at once, in the caller: the one-process path."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # noqa: BLE001 - re-raised by .result(), as a pool's would
            future.set_exception(err)
        return future


def default_workers(tasks: int) -> int:
    """Processes to draw `tasks` figure groups: the CPUs, 1 where JAX is loaded or one task."""
    if "jax" in sys.modules or tasks < 2:
        return 1
    return max(1, min(tasks, os.cpu_count() or 1, 4))


@contextmanager
def executor(workers: int) -> Iterator[Executor]:
    """A pool of `workers` forked processes, or the caller itself for one."""
    if workers <= 1:
        yield InlineExecutor()
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield pool


def recording(fn: Callable[..., Any], *args: Any) -> tuple[Any, Caught]:
    """`fn(*args)` and the warnings it raised, as (message, category), to replay elsewhere."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args)
    return result, [(str(w.message), w.category) for w in caught]


def replay(caught: Caught) -> None:
    """Raise the warnings a worker recorded, in the caller (where filters and catchers are)."""
    for message, category in caught:
        warnings.warn(message, category, stacklevel=3)
