"""The package's shape: each subpackage imports only the layers its `__init__` allows, no module
imports a private name of another, no import cycle, few flat modules, none too long. Read from
the source's imports (every `import`, at any depth of a function), so a new edge fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "phasegrok"

# What each layer may import (besides itself). The commands at the top (`sweep`, `plot`,
# `compare`, `bench`) and the package's `__init__` may import anything.
# `errors` (the bad-input exception) and `tasks` (the task kinds) are the ground floor.
BASE = {"errors", "tasks"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "tasks": {"errors"},
    "config": BASE,
    "plan": BASE | {"config"},
    "store": BASE | {"config"},
    "lens": BASE | {"config"},
    "engine": BASE | {"config", "plan", "lens", "store.columns"},
    "analysis": BASE | {"config", "plan", "store"},
    "run": BASE | {"config", "plan", "store", "lens", "engine", "analysis", "report"},
    "report": BASE | {"config", "store", "lens", "analysis"},
}
NO_JAX = ("errors", "tasks", "config", "plan", "store", "lens", "analysis", "report")
MAX_FLAT = 12
MAX_LINES = 450


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, name: str) -> list[tuple[str, str]]:
    """(module, name imported or '') for every phasegrok or JAX import in `path`."""
    found = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found += [(base, a.name) for a in node.names]
    return [(m, n) for m, n in found if m.split(".")[0] in ("phasegrok", "jax", "flax", "optax")]


def target(module: str, name: str, known: dict[str, Path]) -> str:
    """The module an import reaches: `from phasegrok.lens import fourier` reaches
    phasegrok.lens.fourier."""
    return f"{module}.{name}" if f"{module}.{name}" in known else module


def layer(module: str) -> str:
    """The subpackage a module is in ('' for the package's flat modules)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else ""


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {target(m, n, known) for m, n in imports(path, name) if m.startswith("phasegrok")}
        for name, path in known.items()
    }


def test_every_layer_imports_only_what_it_may(graph):
    wrong = []
    for module, targets in graph.items():
        own = layer(module)
        if not own:
            continue  # a command at the top, or the package's __init__
        for reached in targets:
            other, sub = layer(reached), ".".join(reached.split(".")[1:3])
            if not other:
                wrong.append(f"{module} -> {reached} (a command, at the top)")
            elif other != own and other not in ALLOWED[own] and sub not in ALLOWED[own]:
                wrong.append(f"{module} -> {reached}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_the_layers_without_jax_never_import_it():
    wrong = [
        f"{name} -> {m}"
        for name, path in modules().items()
        if layer(name) in NO_JAX
        for m, _ in imports(path, name)
        if not m.startswith("phasegrok")
    ]
    assert not wrong, wrong


def test_no_private_name_crosses_a_module():
    wrong = [
        f"{name} imports {m}.{n}"
        for name, path in modules().items()
        for m, n in imports(path, name)
        if m.startswith("phasegrok") and n.startswith("_") and m != name
    ]
    assert not wrong, wrong


def test_no_import_cycle(graph):
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph or nxt == node:
                continue
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_few_flat_modules_none_too_long():
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(flat) <= MAX_FLAT, flat
    lengths = {
        str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")
    }
    assert not {k: n for k, n in lengths.items() if n > MAX_LINES}
