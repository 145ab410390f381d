"""The documentation is checked the way the code is (docs/development.md, "Snippets are tested"):
every ```yaml block of README.md and docs/ is a sweep file (or a fragment of one) that validates;
every ```python block runs, unless the line before its fence says `<!-- snippet: not run (...)
-->`; the reference tables generate; and the site builds with `mkdocs build --strict`."""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import ROOT

from phasegrok.config.load import load_sweep
from phasegrok.config.schema import RUN_KEYS

PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[A-Za-z]*)[^\n]*$")
NOT_RUN = re.compile(r"^\s*<!-- snippet: not run \(.+\) -->\s*$")
# Where a fragment is validated: merged over the quickstart (its top-level keys replace these).
BASE = yaml.safe_load((ROOT / "sweeps" / "quickstart.yaml").read_text())


def blocks(lang: str) -> list[tuple[str, str, bool]]:
    """(where, code, marked not run) of every fenced block of `lang` in the pages."""
    found = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        i = 0
        while i < len(lines):
            m = FENCE.match(lines[i])
            if not m or not m["lang"]:
                i += 1 if not m else _skip(lines, i)
                continue
            end = _skip(lines, i)
            indent = len(m["indent"])
            body = "\n".join(line[indent:] for line in lines[i + 1 : i + end - 1])
            if m["lang"] == lang:
                marked = i > 0 and bool(NOT_RUN.match(lines[i - 1]))
                found.append((f"{page.relative_to(ROOT)}:{i + 1}", body + "\n", marked))
            i += end
    return found


def _skip(lines: list[str], start: int) -> int:
    """How many lines the fence opening at `start` spans, both fences included."""
    for j in range(start + 1, len(lines)):
        if lines[j].strip() == "```":
            return j - start + 1
    raise AssertionError(f"unclosed fence at line {start + 1}")


YAML_BLOCKS = blocks("yaml")
PYTHON_BLOCKS = blocks("python")


def test_the_pages_have_snippets():
    assert len(YAML_BLOCKS) >= 8 and len(PYTHON_BLOCKS) >= 5


def _arrays_file(path: Path) -> Path:
    """Random arrays of MNIST's shapes (1,000 examples of 28 x 28, 10 classes)."""
    rng = np.random.default_rng(0)
    x_train, x_test = rng.random((1000, 28, 28), np.float32), rng.random((100, 28, 28), np.float32)
    y_train, y_test = np.arange(1000) % 10, np.arange(100) % 10
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def as_sweep(block: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A whole sweep from a block: itself if it names `name` or `task`, else merged over BASE."""
    sweep = copy.deepcopy(block) if {"name", "task"} & set(block) else {**BASE, **block}
    task = sweep.get("task") or {}
    if task.get("kind") == "arrays" and not Path(task.get("path") or "").exists():
        sweep["task"] = {**task, "path": str(_arrays_file(tmp_path / "arrays.npz"))}
    return sweep


@pytest.mark.parametrize(("where", "code"), [(w, c) for w, c, _ in YAML_BLOCKS])
def test_yaml_snippet_is_a_valid_sweep(where, code, tmp_path):
    block = yaml.safe_load(code)
    assert isinstance(block, dict), f"{where}: not a mapping (YAML that is no sweep: ```text)"
    spec = load_sweep(as_sweep(block, tmp_path))
    assert spec.n_runs() >= 1, where


@pytest.fixture(scope="module")
def quickstart_stand_in(tmp_path_factory) -> Path:
    """A folder holding `results/quickstart` (a tiny sweep over the quickstart's two axes, 4 runs
    of 60 steps) and `sweeps/` (the repository's), where the Python snippets run."""
    import phasegrok

    folder = tmp_path_factory.mktemp("snippets")
    (folder / "sweeps").symlink_to(ROOT / "sweeps")
    tiny = {
        "name": "quickstart",
        "task": {"kind": "modular", "op": "add", "p": 11},
        "model": {"embed_dim": 8, "hidden": [16]},
        "optimizer": {"lr": 3.0e-3},
        "train": {"steps": 60, "eval_every": 20, "seeds": 2},
        "grid": {"optimizer.weight_decay": [0.1, 1.0], "data.train_fraction": [0.5]},
    }
    phasegrok.run_sweep(
        tiny, folder / "results" / "quickstart", plots=False, progress=False, live=False
    )
    return folder


@pytest.mark.training
@pytest.mark.parametrize(
    ("where", "code"), [(w, c) for w, c, marked in PYTHON_BLOCKS if not marked]
)
def test_python_snippet_runs(where, code, quickstart_stand_in, monkeypatch):
    monkeypatch.chdir(quickstart_stand_in)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    exec(compile(code, where, "exec"), {"__name__": "__snippet__"})
    import matplotlib.pyplot as plt

    plt.close("all")


def test_not_run_snippets_are_few_and_say_why():
    marked = [where for where, _, m in PYTHON_BLOCKS if m]
    assert len(marked) <= 3, marked  # each needs a reason in its marker


def _hooks() -> Any:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_tables_cover_the_code():
    hooks = _hooks()
    keys = hooks.expand("<!-- phasegrok:run-keys -->")
    assert all(f"| `{key}` |" in keys for key in RUN_KEYS)
    assert "traced (per run)" in keys and "traced (per size bucket)" in keys
    classify = hooks.expand("<!-- phasegrok:section classify -->")
    assert "| `classify.grok_gap` |" in classify and "`liu`" in classify
    for command in hooks.PARSERS:
        text = hooks.expand(f"<!-- phasegrok:cli {command} -->")
        for action in hooks.parser_of(command)._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help", "--one"):
                    assert f"`{option}`" in text, (command, option)
    with pytest.raises(ValueError):
        hooks.expand("<!-- phasegrok:cli nothing -->")


def test_every_page_marker_is_known():
    hooks = _hooks()
    for page in PAGES:
        for m in hooks.MARKER.finditer(page.read_text()):
            assert hooks.generate(m["what"], m["arg"]), (page, m.group(0))


def test_mkdocs_builds_strictly_and_offline(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    pages = list(site.rglob("*.html"))
    assert (site / "index.html").exists() and len(pages) > 20
    remote = re.compile(r"<(?:script|link)[^>]+(?:src|href)=\"(?:https?:)?//", re.I)
    for page in pages:
        text = page.read_text()
        assert not remote.search(text), f"{page}: loads something from the network"
        assert "fonts.googleapis" not in text, page
    sweep_keys = (site / "reference" / "sweep-file.html").read_text()
    assert "optimizer.weight_decay" in sweep_keys and "traced (per run)" in sweep_keys
