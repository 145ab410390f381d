"""SHA-256 records: a changed byte that page checksums and zip CRCs let through (a parquet
footer, a zip directory) is found, and `--verify` checks a whole folder without writing.

One tiny sweep (with a reference table) is trained once; each test changes a copy of its folder.
"""

import copy
import shutil

import pandas as pd
import pytest
import yaml
from conftest import TINY, run_cli

import phasegrok
from phasegrok.store import progress as progress_store
from phasegrok.store.folder import DamagedError
from phasegrok.sweep import main

pytestmark = pytest.mark.training  # trains a real sweep

ARGS = ["--no-plots", "--quiet", "--batch-runs", "4"]  # 12 runs in 3 batches


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("integrity")
    table = base / "published.csv"
    pd.DataFrame(
        {"optimizer.weight_decay": [0.01], "optimizer.lr": [0.001], "phase": ["grok"]}
    ).to_csv(table, index=False)
    sweep = copy.deepcopy(TINY)
    sweep["reference"] = str(table)
    sweep["train"]["save_params_at"] = [20]  # two saved steps: plot draws a trajectory
    sweep_file = base / "tiny.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep))
    out = base / "out"
    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    return sweep_file, out


def _copy(reference, tmp_path):
    sweep_file, out = reference
    target = tmp_path / "out"
    shutil.copytree(out, target)
    return sweep_file, target


def _first(out, suffix):
    return sorted((out / "parts").glob(f"*{suffix}"))[0]


def _rename_everywhere(path, old: bytes, new: bytes):
    """Rename a column (or an npz member) wherever its name is written: the parquet footer and
    its pandas metadata (or a zip's local header and directory), which no page checksum or
    member CRC covers, so the file still decodes, with another name."""
    data = path.read_bytes()
    assert old in data and len(old) == len(new)
    path.write_bytes(data.replace(old, new))


def _snapshot(out):
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}


def test_a_renamed_column_in_a_part_footer_is_found_and_trained_again(reference, tmp_path, capsys):
    sweep_file, out = _copy(reference, tmp_path)
    curves = _first(out, ".curves.parquet")
    _rename_everywhere(curves, b"weight_norm", b"weight_norn")
    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and curves.name in warnings[0] and "checksum" in warnings[0], err
    assert "12 runs (8 already done)" in err
    assert curves.name in {p.name for p in (out / "parts" / "damaged").iterdir()}
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "curves.parquet"),
        pd.read_parquet(reference[1] / "curves.parquet"),
    )


@pytest.mark.parametrize(
    "name, column",
    [("curves.parquet", b"weight_norm"), ("runs.parquet", b"final_weight_norm")],
)
def test_a_renamed_column_in_a_table_is_refused_and_rebuilt(
    name, column, reference, tmp_path, capsys
):
    sweep_file, out = _copy(reference, tmp_path)
    _rename_everywhere(out / name, column, column[:-1] + b"n")
    with pytest.raises(DamagedError, match=name) as caught:
        phasegrok.load(out)
    assert len(str(caught.value).splitlines()) == 1 and "checksum" in str(caught.value)
    assert main([str(sweep_file), "--out", str(out), "--dry-run"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and name in warnings[0] and "assemble it again" in warnings[0]
    proc = run_cli(str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and name in proc.stderr
    assert main([str(out / "sweep.yaml"), "--out", str(out), *ARGS]) == 0
    capsys.readouterr()
    pd.testing.assert_frame_equal(pd.read_parquet(out / name), pd.read_parquet(reference[1] / name))
    assert main([str(sweep_file), "--out", str(out), "--verify"]) == 0


def test_a_renamed_params_member_is_never_served(reference, tmp_path, capsys):
    sweep_file, out = _copy(reference, tmp_path)
    params = _first(out, ".params.npz")
    _rename_everywhere(params, b"kernel", b"kernal")
    results = phasegrok.load(out)
    in_part = pd.read_parquet(_first(out, ".runs.parquet"))["run_id"].iloc[0]
    with pytest.raises(DamagedError, match="params.npz") as caught:
        results.params(in_part)
    assert len(str(caught.value).splitlines()) == 1
    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    err = capsys.readouterr().err
    assert params.name in err and "checksum" in err and "12 runs (8 already done)" in err
    assert "kernel" in str(phasegrok.load(out).params(in_part))


def test_a_damaged_progress_table_is_reported_and_rebuilt(reference, tmp_path, capsys):
    sweep_file, out = _copy(reference, tmp_path)
    _rename_everywhere(out / "progress.parquet", b"restricted_loss", b"restricted_lost")
    with pytest.raises(DamagedError, match="progress.parquet"):
        progress_store.read(out)
    proc = run_cli(str(out))  # drawing the lens reads it: one line, never a silent gap
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "progress.parquet" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    capsys.readouterr()
    pd.testing.assert_frame_equal(
        progress_store.read(out), pd.read_parquet(reference[1] / "progress.parquet")
    )


def test_a_changed_reference_copy_is_refused(reference, tmp_path, capsys):
    sweep_file, out = _copy(reference, tmp_path)
    ref = out / "reference.csv"
    ref.write_text(ref.read_text().replace("0.001", "0.003"))  # still a valid reference
    assert main([str(out / "sweep.yaml"), "--out", str(out), *ARGS]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reference.csv" in err[0] and "checksum" in err[0], err
    from phasegrok.compare import main as compare_main

    assert compare_main([str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reference.csv" in err[0] and "checksum" in err[0], err


def test_verify_says_intact_and_writes_nothing(reference, tmp_path, capsys):
    sweep_file, out = _copy(reference, tmp_path)
    before = _snapshot(out)
    assert main([str(sweep_file), "--out", str(out), "--verify"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"verified {out}: 3 parts, 12 runs, 4 top-level files, all intact"]
    assert _snapshot(out) == before


def test_verify_names_each_damaged_file_and_the_rerun_repairs_them(reference, tmp_path, capsys):
    sweep_file, out = _copy(reference, tmp_path)
    _rename_everywhere(_first(out, ".curves.parquet"), b"weight_norm", b"weight_norn")
    _rename_everywhere(out / "runs.parquet", b"final_weight_norm", b"final_weight_norn")
    before = _snapshot(out)
    assert main([str(sweep_file), "--out", str(out), "--verify"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3, lines
    assert ".curves.parquet" in lines[0] and "runs.parquet" in lines[1]
    assert lines[2].startswith("1 of 3 parts damaged, 1 of 4 top-level files damaged; run `")
    assert _snapshot(out) == before
    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    assert main([str(sweep_file), "--out", str(out), "--verify"]) == 0
    assert capsys.readouterr().out.strip().endswith("all intact")


def test_verify_of_a_folder_without_results_is_one_line(reference, tmp_path, capsys):
    sweep_file, _ = reference
    assert main([str(sweep_file), "--out", str(tmp_path / "none"), "--verify"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds no phasegrok results" in err[0]
    assert not (tmp_path / "none").exists()


def test_a_legacy_folder_is_verified_by_reading_and_recorded_by_the_rerun(
    reference, tmp_path, capsys
):
    sweep_file, out = _copy(reference, tmp_path)
    for record in [*(out / "parts").glob("*.sha256"), out / "tables.sha256"]:
        record.unlink()  # as a folder written before SHA-256 records
    assert main([str(sweep_file), "--out", str(out), "--verify"]) == 0
    assert "3 without a SHA-256 record" in capsys.readouterr().out
    assert not list((out / "parts").glob("*.sha256"))
    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    assert "12 runs (12 already done)" in capsys.readouterr().err  # nothing retrained
    assert len(list((out / "parts").glob("*.sha256"))) == 3 and (out / "tables.sha256").exists()


def test_a_folder_name_that_is_not_utf8_is_refused_in_one_line(tmp_path, capsys):
    """pyarrow cannot encode such a path: the sweep trained, then read every healthy part as
    damaged, for ever. Now the name is refused first, nothing written, by every command."""
    import os

    from phasegrok.compare import main as compare_main
    from phasegrok.plot import main as plot_main
    from phasegrok.sweep import main as sweep_main

    bad = os.fsdecode(os.fsencode(str(tmp_path)) + b"/bad\xff\xfename")
    sweep = tmp_path / "s.yaml"
    sweep.write_text("task: {kind: parity, n_bits: 8, k: 3, test_size: 40}\n")
    assert sweep_main([str(sweep), "--out", bad]) == 2
    assert not os.path.exists(bad)
    for command in (plot_main, compare_main):
        assert command([bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all("bad\\xff\\xfename is not valid UTF-8" in line for line in err)
