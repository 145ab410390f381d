"""A damaged results folder: each kind of damage is moved aside and retrained, never a traceback.

One tiny sweep is trained once; each test damages a copy of its folder the way a half-finished
copy or a disk fault would, then reruns the sweep (in this process, through the CLI's `main`),
loads the folder, or draws it.
"""

import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import TINY, run_cli

import phasegrok
from phasegrok.store.folder import DamagedError
from phasegrok.sweep import main

pytestmark = pytest.mark.training  # trains real sweeps: the long tests

ARGS = ["--no-plots", "--quiet", "--batch-runs", "4"]  # 12 runs in 3 batches


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("damage")
    sweep_file = base / "tiny.yaml"
    sweep_file.write_text(yaml.safe_dump(TINY))
    out = base / "out"
    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    return sweep_file, out


def _copy(reference, tmp_path):
    sweep_file, out = reference
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    return sweep_file, copy


def _batch(out):
    """The first committed batch's files."""
    runs_part = sorted((out / "parts").glob("*.runs.parquet"))[0]
    stem = runs_part.name.removesuffix(".runs.parquet")
    return {
        "runs": runs_part,
        "curves": runs_part.with_name(f"{stem}.curves.parquet"),
        "params": runs_part.with_name(f"{stem}.params.npz"),
    }


def _truncate(path, size):
    data = path.read_bytes()[:size]
    path.write_bytes(data)


def _other_schema(path):
    pq.write_table(pa.table({"x": [1, 2, 3]}), path)


DAMAGE = {
    "runs part truncated": ("runs", lambda p: _truncate(p, 100)),
    "runs part empty": ("runs", lambda p: _truncate(p, 0)),
    "runs part of another schema": ("runs", _other_schema),
    "curves part empty": ("curves", lambda p: _truncate(p, 0)),
    "curves part truncated": ("curves", lambda p: _truncate(p, p.stat().st_size // 2)),
    "curves part of another schema": ("curves", _other_schema),
    "curves part missing": ("curves", lambda p: p.unlink()),
    "params missing": ("params", lambda p: p.unlink()),
    "params truncated": ("params", lambda p: _truncate(p, 100)),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_batch_is_moved_aside_and_trained_again(kind, reference, tmp_path, capsys):
    sweep_file, out = _copy(reference, tmp_path)
    which, damage = DAMAGE[kind]
    files = _batch(out)
    damage(files[which])
    before = pd.read_parquet(reference[1] / "runs.parquet").set_index("run_id")

    # A dry run says so and moves nothing.
    assert main([str(sweep_file), "--out", str(out), "--dry-run"]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and files[which].name in warnings[0], captured.err
    assert "12 runs (8 already done)" in captured.out
    assert not (out / "parts" / "damaged").exists()

    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and files[which].name in warnings[0], err
    assert "moved to" in warnings[0] and "trained again" in warnings[0]
    assert "12 runs (8 already done)" in err
    moved = {p.name for p in (out / "parts" / "damaged").iterdir()}
    assert {p.name for p in files.values() if p.name != files[which].name} <= moved
    after = pd.read_parquet(out / "runs.parquet").set_index("run_id")
    assert sorted(after.index) == sorted(before.index)
    pd.testing.assert_series_equal(
        after["final_test_loss"].sort_index(), before["final_test_loss"].sort_index()
    )
    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0  # and now it is whole
    assert "warning" not in capsys.readouterr().err


def test_load_names_a_damaged_part(reference, tmp_path):
    sweep_file, out = _copy(reference, tmp_path)
    (out / "runs.parquet").unlink()  # as after an interrupted sweep: load assembles the parts
    (out / "curves.parquet").unlink()
    files = _batch(out)
    _truncate(files["curves"], 0)
    with pytest.raises(DamagedError) as caught:
        phasegrok.load(out)
    message = str(caught.value)
    assert files["curves"].name in message and "python -m phasegrok.sweep" in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("name", ["runs.parquet", "curves.parquet"])
def test_load_and_plot_name_a_damaged_table(name, reference, tmp_path):
    sweep_file, out = _copy(reference, tmp_path)
    _truncate(out / name, 100)
    with pytest.raises(DamagedError, match=name) as caught:
        phasegrok.load(out)
    assert "python -m phasegrok.sweep" in str(caught.value)
    proc = run_cli(str(out))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and name in proc.stderr, proc.stderr
    assert "python -m phasegrok.sweep" in proc.stderr and "Traceback" not in proc.stderr
    # The command it names repairs the folder.
    assert main([str(out / "sweep.yaml"), "--out", str(out), *ARGS]) == 0
    assert len(phasegrok.load(out).runs) == 12


def test_an_unreadable_manifest_is_one_line(reference, tmp_path, capsys):
    sweep_file, out = _copy(reference, tmp_path)
    (out / "manifest.json").write_text("{not json")
    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "manifest.json" in err and "--force" in err


# --------------------------------------------------------------------------------------------
# Silent corruption: a byte changed where the file still decodes is found by its checksums.


def _flip_in_data_page(path, column="test_loss"):
    """Flip one byte inside `column`'s pages (the values: its dictionary page where it has one,
    else its data page), the byte nearest the middle after which the file still decodes, as
    read without checksums, with other values: the damage a disk does silently."""
    before = pq.read_table(path).column(column).to_pylist()
    meta = pq.ParquetFile(path).metadata
    chunk = meta.row_group(0).column(meta.schema.names.index(column))
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    end = (
        chunk.data_page_offset if chunk.has_dictionary_page else start + chunk.total_compressed_size
    )
    middle = (start + end) // 2
    original = path.read_bytes()
    for offset in sorted(range(start + 16, end), key=lambda o: abs(o - middle)):
        data = bytearray(original)
        data[offset] ^= 0x40
        path.write_bytes(bytes(data))
        try:
            after = pq.read_table(path).column(column).to_pylist()
        except OSError:  # compressed data that no longer decodes: a loud damage, try another
            continue
        if len(after) == len(before) and after != before:
            return offset
    raise AssertionError(f"no byte of {path}'s {column} pages changes a value silently")


def test_a_changed_byte_in_a_curves_part_is_found_and_trained_again(reference, tmp_path, capsys):
    sweep_file, out = _copy(reference, tmp_path)
    files = _batch(out)
    _flip_in_data_page(files["curves"])

    assert main([str(sweep_file), "--out", str(out), "--dry-run"]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and files["curves"].name in warnings[0], err
    assert "checksum" in warnings[0]

    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and files["curves"].name in warnings[0], err
    assert "moved to" in warnings[0] and "12 runs (8 already done)" in err
    assert files["curves"].name in {p.name for p in (out / "parts" / "damaged").iterdir()}
    _same_results(out, reference[1])


def _same_results(out, reference_out):
    """The curves bitwise, and the runs but for their wall times (the batch was trained again)."""
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "curves.parquet"), pd.read_parquet(reference_out / "curves.parquet")
    )
    runs, before = (pd.read_parquet(d / "runs.parquet") for d in (out, reference_out))
    timed = [c for c in runs.columns if "time" in c]
    pd.testing.assert_frame_equal(runs.drop(columns=timed), before.drop(columns=timed))


@pytest.mark.parametrize("name", ["runs.parquet", "curves.parquet"])
def test_a_changed_byte_in_a_table_is_refused_by_load_and_plot(name, reference, tmp_path):
    sweep_file, out = _copy(reference, tmp_path)
    _flip_in_data_page(out / name, "final_test_loss" if "runs" in name else "test_loss")
    with pytest.raises(DamagedError, match=name) as caught:
        phasegrok.load(out)
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and "checksum" in message
    assert "python -m phasegrok.sweep" in message
    proc = run_cli(str(out))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and name in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    # The command it names rebuilds it from the parts.
    assert main([str(out / "sweep.yaml"), "--out", str(out), *ARGS]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out / name), pd.read_parquet(reference[1] / name))


def _break_crc(path, every=False):
    """Change one byte of the first npz member's data (`every`: of each member's): its CRC-32
    no longer matches, while the archive's directory still reads."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    data = bytearray(path.read_bytes())
    for info in infos if every else infos[:1]:
        # The local header: 30 bytes, the name, the extra field; the data after them.
        at = info.header_offset
        name_len = int.from_bytes(data[at + 26 : at + 28], "little")
        extra_len = int.from_bytes(data[at + 28 : at + 30], "little")
        start = at + 30 + name_len + extra_len
        data[start + info.compress_size - 1] ^= 0x01  # the last byte of the array's values
    path.write_bytes(bytes(data))


def test_a_params_member_failing_its_crc_is_found_and_trained_again(reference, tmp_path, capsys):
    sweep_file, out = _copy(reference, tmp_path)
    files = _batch(out)
    _break_crc(files["params"])

    assert main([str(sweep_file), "--out", str(out), "--dry-run"]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and files["params"].name in warnings[0], err

    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and files["params"].name in warnings[0], err
    assert "moved to" in warnings[0] and "12 runs (8 already done)" in err
    assert files["params"].name in {p.name for p in (out / "parts" / "damaged").iterdir()}
    assert files["params"].read_bytes() == _batch(reference[1])["params"].read_bytes()


def test_plot_says_a_params_member_failing_its_crc_in_one_line(reference, tmp_path):
    sweep_file, out = _copy(reference, tmp_path)
    for path in (out / "parts").glob("*.params.npz"):
        _break_crc(path, every=True)
    proc = run_cli(str(out))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "params.npz" in lines[0] and "checksum" in lines[0], proc.stderr
    assert "python -m phasegrok.sweep" in lines[0]


def test_parts_written_without_checksums_are_read_and_kept(reference, tmp_path, capsys):
    sweep_file, out = _copy(reference, tmp_path)
    for path in [*(out / "parts").glob("*.parquet"), out / "runs.parquet", out / "curves.parquet"]:
        table = pq.read_table(path)
        pq.write_table(table, path, write_page_checksum=False)  # as before checksums
    for record in [*(out / "parts").glob("*.sha256"), out / "tables.sha256"]:
        record.unlink()  # ... and before SHA-256 records
    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    err = capsys.readouterr().err
    assert "warning" not in err and "12 runs (12 already done)" in err, err
    assert not (out / "parts" / "damaged").exists()
    assert len(list((out / "parts").glob("*.sha256"))) == 3  # checked by reading, recorded
    results = phasegrok.load(out)
    pd.testing.assert_frame_equal(results.curves, pd.read_parquet(reference[1] / "curves.parquet"))


def test_a_changed_byte_in_a_progress_part_is_found_and_trained_again(reference, tmp_path, capsys):
    sweep_file, out = _copy(reference, tmp_path)
    progress = _batch(out)["runs"].name.replace(".runs.", ".progress.")
    _flip_in_data_page(out / "parts" / progress, "test_loss")
    assert main([str(sweep_file), "--out", str(out), *ARGS]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and progress in warnings[0] and "checksum" in warnings[0], err
    assert "12 runs (8 already done)" in err and "Traceback" not in err
    assert progress in {p.name for p in (out / "parts" / "damaged").iterdir()}
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "progress.parquet"),
        pd.read_parquet(reference[1] / "progress.parquet"),
    )
