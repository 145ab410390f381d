"""Progress on stderr: a plain line per tenth in a log, and an ETA without compilation."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tqdm.std import tqdm

from phasegrok.run.progress_bar import LogLines, leave_out, progress_bar

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_gets_a_line_per_tenth_and_no_carriage_return():
    log, clock = io.StringIO(), Clock()
    bar = progress_bar(1e12, "sweep", file=log)
    assert isinstance(bar, LogLines)
    bar.clock, bar.start = clock, 0.0
    for i in range(250):  # many small updates, as segments of batches
        clock.now += 0.2
        bar.update(4e9)
        if i % 25 == 24:
            bar.set_postfix_str(f"runs {i + 1}/250")
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 10
    assert lines[0] == "sweep: 10% of 1 TFLOP in 5 s, ~45 s left"
    assert lines[1] == "sweep: 20% of 1 TFLOP in 10 s, ~40 s left (runs 25/250)"
    assert lines[-1].startswith("sweep: 100% of 1 TFLOP in 50 s") and "left" not in lines[-1]


def test_an_interrupted_log_says_where_it_stopped():
    log = io.StringIO()
    with LogLines(100, "sweep", log) as bar:
        bar.update(12)
        bar.update(3)
    assert [line.split(" in ")[0] for line in log.getvalue().splitlines()] == [
        "sweep: 12% of 100 FLOP",
        "sweep: 15% of 100 FLOP",
    ]


def test_a_terminal_keeps_tqdm_and_quiet_is_silent():
    assert isinstance(progress_bar(100, "sweep", file=Terminal()), tqdm)
    log = io.StringIO()
    quiet = progress_bar(100, "sweep", enabled=False, file=log)
    quiet.update(100)
    quiet.close()
    assert log.getvalue() == ""


def test_compilation_is_left_out_of_the_rate():
    clock = Clock()
    bar = tqdm(total=100, file=Terminal(), mininterval=0)
    bar._time = clock
    bar.start_t = bar.last_print_t = 0.0
    clock.now = 10.0  # a program compiled for 10 s, then 1 s of training did 10% of the work
    leave_out(bar, 10.0)
    clock.now = 11.0
    bar.update(10)
    assert bar.format_dict["rate"] == pytest.approx(10.0)  # not 10 / 11 s
    assert bar.format_dict["elapsed"] == pytest.approx(11.0)  # the time spent still shows
    log, clock = io.StringIO(), Clock()
    lines = LogLines(100, "sweep", log, clock)
    clock.now = 10.0
    leave_out(lines, 10.0)
    clock.now = 11.0
    lines.update(10)
    assert log.getvalue().strip() == "sweep: 10% of 100 FLOP in 11 s, ~9 s left"


@pytest.mark.training
def test_the_cli_logs_about_ten_plain_lines(tiny, tmp_path):
    sweep_file = tmp_path / "tiny.yaml"
    sweep_file.write_text(yaml.safe_dump(tiny))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "phasegrok.sweep", str(sweep_file), "--no-plots"]
    proc = subprocess.run(
        [*command, "--out", str(tmp_path / "out")],
        capture_output=True,  # stderr is a pipe, not a terminal
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    progress = [line for line in lines if line.startswith("tiny: ") and "% of" in line]
    assert "\r" not in proc.stderr and 1 <= len(progress) <= 10
    assert progress[-1].startswith("tiny: 100% of")
