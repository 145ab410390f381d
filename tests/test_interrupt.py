"""One line, always: an interrupt at any phase of a sweep's life is `interrupted: ...` with exit
status 130 and a rerun finishes with the same results; a failed write is one line with exit
status 1, wherever it happens.

Each test runs the command's `main` in this process, with one function of the phase patched to
raise (and the import of a command, as `python -m` runs it, through `run_command`).
"""

from __future__ import annotations

import errno
import shutil

import matplotlib.figure
import pandas as pd
import pytest
import yaml
from conftest import TINY

import phasegrok.analysis.classify
import phasegrok.engine.batch
import phasegrok.report
import phasegrok.store.folder
import phasegrok.sweep
from phasegrok.command import run_command
from phasegrok.plot import main as plot_main
from phasegrok.sweep import main as sweep_main

pytestmark = pytest.mark.training  # trains real sweeps

ARGS = ["--quiet", "--no-live", "--batch-runs", "4"]  # 12 runs in 3 batches
PLOT = "phasegrok.plot: error: "


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("interrupt")
    sweep_file = base / "tiny.yaml"
    sweep_file.write_text(yaml.safe_dump(TINY))
    out = base / "out"
    assert sweep_main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    return sweep_file, out


def _same_results(out, reference_out):
    """The curves bitwise, and the runs but for their wall times."""
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "curves.parquet"), pd.read_parquet(reference_out / "curves.parquet")
    )
    runs, before = (pd.read_parquet(d / "runs.parquet") for d in (out, reference_out))
    timed = [c for c in runs.columns if "time" in c]
    pd.testing.assert_frame_equal(runs.drop(columns=timed), before.drop(columns=timed))


def _raise_on_call(monkeypatch, owner, name, exc, after=0):
    """Patch `owner.name` to raise `exc` on its call number `after` + 1 (earlier calls pass)."""
    real = getattr(owner, name)
    calls = [0]

    def patched(*args, **kwargs):
        calls[0] += 1
        if calls[0] > after:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, patched)


# phase -> (owner, function, calls let through, runs saved when it stops; None: no count yet)
PHASES = {
    "start-up": (phasegrok.sweep, "load_sweep", 0, None),
    "before training": (phasegrok.sweep, "use_compile_cache", 0, 0),
    "between batches": (phasegrok.engine.batch, "execute_batch", 1, 4),
    "assembling": (phasegrok.store.folder, "assemble", 0, 12),
    "classifying": (phasegrok.analysis.classify, "classify_runs", 0, 12),
    "drawing": (phasegrok.report, "draw_all", 0, 12),
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_an_interrupt_at_any_phase_is_one_line_and_resumes(
    phase, reference, tmp_path, monkeypatch, capsys
):
    sweep_file, reference_out = reference
    out = tmp_path / "out"
    owner, name, after, saved = PHASES[phase]
    with monkeypatch.context() as patch:
        _raise_on_call(patch, owner, name, KeyboardInterrupt, after)
        status = sweep_main([str(sweep_file), "--out", str(out), *ARGS])
    assert status == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    said = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert len(said) == 1, err
    if saved is None:
        assert said[0] == "interrupted"
    else:
        assert said[0].startswith(f"interrupted: {saved} of 12 runs are saved (this folder in all)")
        assert said[0].endswith("run the same command again to resume")
    assert sweep_main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    _same_results(out, reference_out)


def test_an_interrupt_during_a_refinement_round_counts_the_whole_folder(tmp_path, capsys):
    from test_refine_sweep import SWEEP

    sweep_file = tmp_path / "refine.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "out"
    argv = [str(sweep_file), "--out", str(out), "--quiet", "--no-plots", "--batch-runs", "1"]
    assert sweep_main(argv) == 0
    capsys.readouterr()
    runs = pd.read_parquet(out / "runs.parquet")
    last = runs.loc[runs["refine_round"] == runs["refine_round"].max()]
    assert len(last) >= 2  # a round of several batches: interrupted after its first
    for batch_id in set(last["batch_id"].iloc[1:]):
        for path in (out / "parts").glob(f"{batch_id}.*"):
            path.unlink()
    saved = len(runs) - len(last) + 1
    monkey = pytest.MonkeyPatch()
    try:
        _raise_on_call(monkey, phasegrok.engine.batch, "execute_batch", KeyboardInterrupt)
        assert sweep_main(argv) == 130
    finally:
        monkey.undo()
    said = [x for x in capsys.readouterr().err.splitlines() if x.startswith("interrupted")]
    budget = SWEEP["refine"]["max_runs"]
    assert said[0].startswith(f"interrupted: {saved} of {6 + budget} runs (the grid's 6 and up to")


def test_a_failed_figure_write_is_one_line_naming_the_file(
    reference, tmp_path, monkeypatch, capsys
):
    sweep_file, reference_out = reference
    out = tmp_path / "out"
    shutil.copytree(reference_out, out)
    full = OSError(errno.ENOSPC, "No space left on device")  # as write() raises it: no file
    _raise_on_call(monkeypatch, matplotlib.figure.Figure, "savefig", full)
    assert sweep_main([str(sweep_file), "--out", str(out), *ARGS]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("tiny: 12 runs (12 already done)"), err
    assert err[1].startswith(f"error: cannot write {out}/") and ".png: No space left" in err[1]
    assert plot_main([str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{PLOT}cannot write {out}/"), err
    assert err[0].endswith(".png: No space left on device")


def test_a_folder_that_cannot_be_prepared_exits_1_as_every_write_failure(
    reference, tmp_path, monkeypatch, capsys
):
    sweep_file, _ = reference
    denied = PermissionError(errno.EACCES, "Permission denied")
    _raise_on_call(monkeypatch, phasegrok.store.folder, "write_text", denied)
    status = sweep_main([str(sweep_file), "--out", str(tmp_path / "o"), *ARGS])
    assert status == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot write to") and "denied" in err[0]


def test_a_reference_that_is_not_a_csv_is_one_line(reference, tmp_path, capsys):
    sweep_file, _ = reference
    odd = tmp_path / "passwd"
    odd.write_text("root:x:0:0:root:/root:/bin/bash\nat x 25 25 Batch jobs daemon\n" * 20)
    argv = [str(sweep_file), f"reference={odd}", "--out", str(tmp_path / "o"), "--dry-run"]
    assert sweep_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reference" in err[0], err
    assert not (tmp_path / "o").exists()


def test_an_interrupt_while_the_command_imports_is_one_line(monkeypatch, capsys):
    import importlib

    _raise_on_call(monkeypatch, importlib, "import_module", KeyboardInterrupt)
    assert run_command("phasegrok.sweep", ["x.yaml"]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["interrupted"]
