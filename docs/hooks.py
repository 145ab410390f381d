"""mkdocs hook: the reference pages' tables, generated from the code at build time.

A page asks for a table with a marker line, replaced here before the page is rendered:

    <!-- phasegrok:run-keys -->            every run key of the sweep file (`config.schema`)
    <!-- phasegrok:section classify -->    a section's keys: classify | refine | plots | top
    <!-- phasegrok:cli sweep -->           a command's options: sweep | plot | compare | bench

So the keys' types, defaults, allowed values, static or traced, meanings and units, and the
commands' options, are read off the pydantic schema (`Doc` / `Traced` metadata, field
descriptions) and the argparse parsers, never written twice. A marker naming nothing known
fails the build. The column pages are `docs/columns.md`, made by
`python -m phasegrok.store.columns` (tests/test_columns.py checks it). Needs only phasegrok
and mkdocs; `python docs/hooks.py MARKER...` prints what a marker becomes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

# The checkout these pages describe, before any installed copy of phasegrok.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
import phasegrok  # noqa: E402  (now, while ROOT leads sys.path: mkdocs restores it after loading)

assert Path(phasegrok.__file__).resolve().parents[1] == Path(ROOT), phasegrok.__file__

MARKER = re.compile(r"^<!-- phasegrok:(?P<what>[a-z-]+)(?: (?P<arg>[a-z]+))? -->$", re.M)

# A command's parser builder: module, function (each returns its argparse.ArgumentParser).
PARSERS = {
    "sweep": ("phasegrok.sweep", "_parser"),
    "plot": ("phasegrok.plot", "_parser"),
    "compare": ("phasegrok.compare", "_parser"),
    "bench": ("phasegrok.bench.cli", "_parser"),
}


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _prose(text: Any) -> str:
    """A table cell of prose (a help text, a meaning): `<name>` shown, not taken for HTML."""
    return _cell(str(text).replace("<", "&lt;").replace(">", "&gt;"))


def type_name(annotation: Any) -> str:
    """A field's type as a reader writes it: int, float, list of int, text, one of the values."""
    origin = get_origin(annotation)
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return "text"
    if origin in (Union, types.UnionType):
        names = []
        for arg in get_args(annotation):
            name = type_name(arg)
            if name not in names:
                names.append(name)
        return " or ".join(names)
    if origin is tuple:
        return f"list of {type_name(get_args(annotation)[0])}"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return {bool: "bool", int: "int", float: "float", str: "text"}.get(annotation, str(annotation))


def allowed(annotation: Any, metadata: list[Any]) -> str:
    """The values a field takes: its Literal choices and its pydantic constraints."""
    parts: list[str] = []
    stack = [annotation]
    while stack:
        a = stack.pop(0)
        if get_origin(a) is Literal:
            parts += [f"`{v}`" for v in get_args(a)]
        elif get_origin(a) in (Union, types.UnionType):
            stack += list(get_args(a))
    for m in metadata:
        for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if getattr(m, attr, None) is not None:
                parts.append(f"{sign} {getattr(m, attr)}")
        if getattr(m, "pattern", None):
            parts.append(f"pattern `{m.pattern}`")
    return ", ".join(parts)


def default_text(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, tuple):
        value = list(value)
    return f"`{json.dumps(value)}`"


def _field_meta(model: type[BaseModel], name: str) -> tuple[Any, list[Any], Any]:
    field = model.model_fields[name]
    default = None if field.is_required() else field.default
    return field.annotation, list(field.metadata), default


def run_keys_table() -> str:
    """Every key of a run (task, data, model, optimizer, loss, train, analysis)."""
    from phasegrok.config import schema

    rows = [
        "| key | type | default | allowed values | static or traced | sweepable | meaning | unit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in schema.RUN_KEYS:
        *sections, name = key.split(".")
        model: Any = schema.SweepFile
        for section in sections:
            model = model.model_fields[section].annotation
        annotation, metadata, default = _field_meta(model, name)
        traced = schema.traced(key)
        how = "static" if traced is None else f"traced (per {traced.within})"
        doc = schema.doc(key)
        meaning, unit = (doc.meaning, doc.unit) if doc else ("", "")
        sweepable = "yes" if key in schema.SWEEPABLE_KEYS else "no"
        if key in schema.SAMPLEABLE_KEYS:
            sweepable = "yes, and sampled"
        rows.append(
            f"| `{key}` | {_cell(type_name(schema.key_annotation(key)))} | "
            f"{_cell(default_text(default))} | {_cell(allowed(annotation, metadata))} | {how} | "
            f"{sweepable} | {_prose(meaning)} | {_prose(unit)} |"
        )
    return "\n".join(rows) + "\n"


def section_table(section: str) -> str:
    """A section's keys with their descriptions: classify, refine, plots, or top (the file)."""
    from phasegrok.config import schema

    models = {
        "classify": (schema.ClassifySpec, "classify."),
        "refine": (schema.RefineSpec, "refine."),
        "plots": (schema.PlotSpec, "plots[]."),
        "top": (schema.SweepFile, ""),
    }
    if section not in models:
        raise ValueError(f"unknown section {section!r}: one of {', '.join(models)}")
    model, prefix = models[section]
    rows = ["| key | type | default | allowed values | meaning |", "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        annotation, metadata, default = _field_meta(model, name)
        default_cell = "required" if field.is_required() else default_text(default)
        rows.append(
            f"| `{prefix}{name}` | {_cell(type_name(annotation))} | {_cell(default_cell)} | "
            f"{_cell(allowed(annotation, metadata))} | {_prose(field.description or '')} |"
        )
    return "\n".join(rows) + "\n"


def parser_of(command: str) -> argparse.ArgumentParser:
    if command not in PARSERS:
        raise ValueError(f"unknown command {command!r}: one of {', '.join(PARSERS)}")
    module, function = PARSERS[command]
    return getattr(importlib.import_module(module), function)()


def cli_table(command: str) -> str:
    """A command's usage line, its arguments and options from its parser, and its epilog."""
    parser = parser_of(command)
    usage = " ".join(parser.format_usage().split())
    lines = [parser.description or "", "", "```text", usage, "```", ""]
    lines += ["| argument or option | value | default | what |", "|---|---|---|---|"]
    for action in parser._actions:  # argparse keeps no public list of its arguments
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        names = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.dest}`"
        if action.nargs == 0:
            value = ""
        elif action.choices:
            value = " \\| ".join(f"`{c}`" for c in action.choices)
        else:
            value = f"`{action.metavar or action.dest.upper()}`"
            if action.nargs in ("*", "+"):
                value += " ..."
        default = action.default
        shown = "" if default in (None, False, argparse.SUPPRESS) else f"`{default}`"
        lines.append(f"| {names} | {value} | {shown} | {_prose(action.help or '')} |")
    if parser.epilog:
        lines += ["", "```text", parser.epilog.strip("\n"), "```"]
    return "\n".join(lines) + "\n"


def generate(what: str, arg: str | None) -> str:
    if what == "run-keys" and arg is None:
        return run_keys_table()
    if what == "section" and arg:
        return section_table(arg)
    if what == "cli" and arg:
        return cli_table(arg)
    raise ValueError(f"unknown marker phasegrok:{what} {arg or ''}")


def expand(markdown: str) -> str:
    """The page's markers replaced by their tables."""
    return MARKER.sub(lambda m: generate(m["what"], m["arg"]), markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return expand(markdown)


if __name__ == "__main__":
    for marker in sys.argv[1:]:
        print(expand(f"<!-- phasegrok:{marker} -->"))
