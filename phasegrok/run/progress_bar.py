"""A sweep's progress on stderr: tqdm's bar on a terminal, a plain line per tenth in a log.

tqdm redraws its bar with carriage returns, which a log (stderr redirected to a file, a batch
job's output) keeps as one huge line; there `progress_bar` gives a `LogLines` instead, which
prints a line each time another ~10% of the work is done. Both count FLOPs and leave
compilation out of the rate their ETA comes from (`leave_out`): a program compiles once per
shape group, seconds before the first step, and counted as training it made the first ETA of a
77 s sweep read 7 minutes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from phasegrok.plan.limits import duration

TENTH = 0.1


def progress_bar(total: float, desc: str, enabled: bool = True, file: TextIO | None = None) -> Any:
    """tqdm's bar where `file` (default stderr) is a terminal or in a notebook (its widget),
    else a `LogLines`; a disabled tqdm bar when not `enabled`."""
    from tqdm.auto import tqdm
    from tqdm.autonotebook import tqdm as notebook
    from tqdm.std import tqdm as plain

    file = file or sys.stderr
    if enabled and not _isatty(file) and notebook is plain:
        return LogLines(total, desc, file)
    return tqdm(
        total=total,
        unit="FLOP",
        unit_scale=True,
        desc=desc,
        disable=not enabled,
        dynamic_ncols=True,
        file=file,
    )


def _isatty(file: TextIO) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):  # closed, or not a real stream
        return False


def leave_out(bar: Any, seconds: float) -> None:
    """Leave `seconds` just spent (compiling) out of the rate the bar's ETA comes from. The
    elapsed time still counts them: only the rate is of training alone."""
    if seconds <= 0 or getattr(bar, "disable", False):
        return
    if isinstance(bar, LogLines):
        bar.left_out += seconds
    else:  # tqdm's rate is over the time since its last print
        bar.last_print_t = min(bar.last_print_t + seconds, bar._time())


class LogLines:
    """What `sweep.train_missing` and `ray_executor.run` ask of a tqdm bar (`update`,
    `set_postfix_str`, `close`, a context), written as a plain line each time another tenth of
    `total` is done:

        quickstart: 40% of 1.15 TFLOP in 24 s, ~36 s left (runs 24/60)
    """

    def __init__(
        self,
        total: float,
        desc: str,
        file: TextIO,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.total, self.desc, self.file = max(float(total), 1e-300), desc, file
        self.clock = clock
        self.n = 0.0
        self.start = clock()
        self.left_out = 0.0  # seconds of compilation, not in the rate
        self.postfix = ""
        self.printed = 0  # tenths said so far
        self.said = 0.0  # the work done at the last line
        self.disable = False

    def __enter__(self) -> LogLines:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def update(self, n: float) -> None:
        self.n += n
        tenths = min(9, int(self.n / self.total / TENTH + 1e-9))  # the last line: `close`
        if tenths > self.printed:
            self.printed = tenths
            self.write()

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def close(self) -> None:
        """Say where it stopped (100%, with the last postfix: the runs saved), unless the last
        line said it already."""
        if self.n != self.said:
            self.write()
        self.printed = 10

    def write(self) -> None:
        elapsed = self.clock() - self.start
        self.said = self.n
        share = min(1.0, self.n / self.total)
        line = f"{self.desc}: {share:.0%} of {_flops(self.total)} in {duration(elapsed)}"
        training = elapsed - self.left_out
        if 0 < share < 1 and training > 0:
            left = training / self.n * (self.total - self.n)
            line += f", ~{duration(left)} left"
        if self.postfix:
            line += f" ({self.postfix})"
        print(line, file=self.file, flush=True)


def _flops(n: float) -> str:
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= factor:
            return f"{n / factor:.3g} {prefix}FLOP"
    return f"{n:.3g} FLOP"
