"""The reference tables (sweeps/papers/ref/*.csv) are what their scripts build, byte for byte.

Every `make_*.py` has a `build(out_dir)`: a table read off a figure or a text builds from the
values in its script, and is rebuilt here in-process into a temporary folder, so a table edited
by hand, or a script changed without its table, fails. A table made from the authors' released
files builds from an extract of them (`extract`), which is not committed: it is rebuilt here
where PHASEGROK_REF_ORIGINALS names a folder holding the original files (by their base names),
and skipped otherwise. Those scripts record the repository, commit, path and SHA-256 of the file
they read (`SOURCE`), listed again in sources/README.md.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from types import ModuleType

import pytest

from phasegrok.config.reference import (
    RULES,
    ReferenceError,
    check_reference,
    read_reference,
    reference_rule,
)
from phasegrok.errors import ConfigError

REF = Path(__file__).resolve().parents[1] / "sweeps" / "papers" / "ref"
SCRIPTS = sorted(REF.glob("make_*.py"))
COMMIT = re.compile(r"\b[0-9a-f]{40}\b")


def _load(script: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REF))  # the scripts import pair_rule and provenance
    name = "ref_" + script.stem.replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_scripts():
    assert len(SCRIPTS) >= 8


def _build(module: ModuleType, out_dir: Path) -> list[Path]:
    """The script's tables, built into `out_dir` (a data script from the original's extract)."""
    if not hasattr(module, "SOURCE"):
        return list(module.build(out_dir=out_dir))
    originals = os.environ.get("PHASEGROK_REF_ORIGINALS")
    if not originals:
        pytest.skip("set PHASEGROK_REF_ORIGINALS to a folder with the authors' files")
    if module.SOURCE.path.endswith(".h5"):
        pytest.importorskip("h5py")
    extract = out_dir / f"extract-{module.EXTRACT.name}"
    module.extract(str(Path(originals) / Path(module.SOURCE.path).name), extract)
    return list(module.build(extract, out_dir=out_dir))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_build_regenerates_the_committed_table(script, tmp_path, monkeypatch):
    outs = _build(_load(script, monkeypatch), tmp_path)
    assert outs, f"{script.name} built nothing"
    for out in outs:
        assert out.parent == tmp_path
        committed = REF / out.name
        assert committed.is_file(), f"{script.name} builds {out.name}, which is not committed"
        assert out.read_bytes() == committed.read_bytes(), (
            f"{out.name} differs from what {script.name} builds: regenerate it with the script "
            "(a reference is never edited by hand)"
        )


def test_every_table_has_a_script():
    named = {name for script in SCRIPTS for name in re.findall(r"[\w.-]+\.csv", script.read_text())}
    assert {p.name for p in REF.glob("*.csv")} <= named


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_every_script_names_the_commit_it_read(script, monkeypatch):
    doc = _load(script, monkeypatch).__doc__ or ""
    assert COMMIT.search(doc), f"{script.name}: its docstring names no 40-digit commit"


def _data_scripts(monkeypatch) -> list[ModuleType]:
    modules = [_load(s, monkeypatch) for s in SCRIPTS]
    return [m for m in modules if hasattr(m, "SOURCE")]


def test_data_scripts_record_their_source(monkeypatch):
    readme = (REF / "sources" / "README.md").read_text()
    modules = _data_scripts(monkeypatch)
    assert len(modules) == 3  # liu-toy, pair-parity, pair-modular
    for m in modules:
        src, doc = m.SOURCE, m.__doc__ or ""
        assert COMMIT.fullmatch(src.commit) and re.fullmatch(r"[0-9a-f]{64}", src.sha256)
        for fact in (src.commit, src.sha256, src.path):
            assert fact in doc.replace("\n", " ") or fact in doc, (m.__name__, fact)
            assert fact in readme, (m.__name__, fact)
        assert m.EXTRACT.parent == REF / "sources" and m.EXTRACT.name in readme


# The `rule` column: the rule each source classified by, one value a file.
EXPECTED_RULE = {
    "liu-toy": "liu",
    "liu-toy-quick": "liu",
    "pair-parity": "pair",
    "pair-modular": "pair",
    "pair-modular-reverse": "accuracy",
    "pair-modular-regrok": "accuracy",
    "omnigrok-init": "accuracy",
    "omnigrok-init-quick": "accuracy",
    "omnigrok-mnist": "accuracy",
    "power-fraction": "accuracy",
    "nanda-p113": "accuracy",
}


def test_every_reference_records_its_source_rule():
    tables = {p.stem: p for p in REF.glob("*.csv")}
    assert set(tables) == set(EXPECTED_RULE)
    for name, path in tables.items():
        ref = read_reference(path)
        assert ref.rule == EXPECTED_RULE[name], name
        assert reference_rule(ref.table) == ref.rule
        assert "rule" not in ref.numeric and "rule" not in ref.grid


def _write(tmp_path: Path, rules: list[str]) -> Path:
    path = tmp_path / "ref.csv"
    rows = "".join(f"{i}.0,grok,figure,{r}\n" for i, r in enumerate(rules))
    path.write_text("optimizer.weight_decay,phase,source,rule\n" + rows)
    return path


def test_a_reference_without_rule_has_none(tmp_path):
    path = tmp_path / "ref.csv"
    path.write_text("optimizer.weight_decay,phase\n1.0,grok\n")
    assert read_reference(path).rule is None


@pytest.mark.parametrize("rule", RULES)
def test_each_allowed_rule_is_read(tmp_path, rule):
    assert read_reference(_write(tmp_path, [rule, rule])).rule == rule


@pytest.mark.parametrize(
    "rules", [["accuracy", "pair"], ["liu", ""], ["oscillation"], ["Accuracy"]], ids=str
)
def test_a_bad_rule_column_is_one_line_naming_the_column_and_the_rules(tmp_path, rules):
    path = _write(tmp_path, rules)
    with pytest.raises(ReferenceError) as err:
        read_reference(path)
    message = str(err.value)
    assert "\n" not in message and "column rule" in message
    assert "accuracy, pair, liu" in message
    with pytest.raises(ConfigError) as config_err:
        check_reference(str(path), tmp_path)
    assert "\n" not in str(config_err.value) and "column rule" in str(config_err.value)
