"""The one-line messages of bad sweep input: pydantic's errors as a `ConfigError` naming the key,
the closest keys to a typo, and the hint that a list sweeps a key only under `grid`."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import Any, get_origin

from pydantic import ValidationError

from phasegrok.config.overrides import parse_override
from phasegrok.config.schema import (
    SWEEPABLE_KEYS,
    ClassifySpec,
    PlotSpec,
    RefineSpec,
    SweepFile,
    key_annotation,
    leaf_keys,
)
from phasegrok.errors import ConfigError, short_repr


def to_config_error(err: ValidationError, prefix: str = "") -> ConfigError:
    first = err.errors()[0]
    loc = [str(part)[:60] for part in first["loc"] if not _is_union_tag(part)]
    key = prefix + ".".join(loc)
    if first["type"] == "extra_forbidden":
        return ConfigError(key, unknown_key_message(key))
    got = first.get("input")
    message = first["msg"]
    if first["type"] not in ("missing",) and not isinstance(got, dict | list):
        message += f" (got {short_repr(got)})"
    return ConfigError(key, message)


def _is_union_tag(part: Any) -> bool:
    # pydantic inserts the union member's type name into `loc` (e.g. 'int', 'literal[...]').
    return isinstance(part, str) and (
        part in {"int", "str", "float", "bool"} or part.startswith(("literal[", "tuple["))
    )


def with_grid_hint(
    err: ConfigError, raw: Mapping[str, Any], overrides: Sequence[str]
) -> ConfigError:
    """`err`, with a hint where a list was given to a sweepable key that takes one value: a list
    sweeps a key only under `grid` (as an override, `grid.KEY=[...]`)."""
    key = err.key
    while key.rpartition(".")[2].isdigit():  # `model.hidden.0`: the error is inside the list
        key = key.rpartition(".")[0]
    if key not in SWEEPABLE_KEYS:
        return err
    top: object = raw
    value = reduce(_child, key.split("."), top)
    takes_list = get_origin(key_annotation(key)) is tuple
    if not isinstance(value, list) or (takes_list and not all(isinstance(v, list) for v in value)):
        return err
    values = short_repr(value).replace(" ", "")
    if "..." in values:  # a long list, cut short: not a value to copy
        values = "[...]"
    if any(parse_override(text)[1] == key.split(".") for text in overrides):
        hint = f"to sweep it, write grid.{key}={values}"
    else:
        hint = f"to sweep it, list it under grid: as '{key}: {values}'"
    return ConfigError(err.key, f"{err.message}; {hint}")


def _child(node: object, name: str) -> object:
    """`node[name]` of a mapping, None below anything else (`with_grid_hint`'s walk)."""
    return node.get(name) if isinstance(node, Mapping) else None


def did_you_mean(word: str, choices: Sequence[str], n: int = 3) -> list[str]:
    """The (at most `n`) choices closest to `word`, best first; dotted keys also by their last
    part (`lr` finds `optimizer.lr`)."""

    def similarity(a: str, b: str) -> float:
        return difflib.SequenceMatcher(None, a, b).ratio()

    leaf = word.rpartition(".")[2]
    scored = []
    for choice in choices:
        whole = similarity(word, choice)
        best = max(whole, similarity(leaf, choice.rpartition(".")[2]))
        if best >= 0.6:  # difflib.get_close_matches' cutoff
            scored.append((-best, -whole, choice))
    return [choice for *_, choice in sorted(scored)[:n]]


def suggest(hints: Sequence[str]) -> str:
    """` (did you mean 'a', 'b' or 'c'?)`, or nothing."""
    quoted = [f"'{h}'" for h in hints]
    if not quoted:
        return ""
    listed = ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0]
    return f" (did you mean {listed}?)"


def unknown_key_message(key: str) -> str:
    parent, _, leaf = key.rpartition(".")
    siblings = _children(parent)
    prefix = parent + "." if parent else ""
    hints = [prefix + name for name in did_you_mean(leaf, siblings)]
    if hints:  # the closest few; the whole list only when none is close
        return f"unknown key{suggest(hints)}"
    return f"unknown key; allowed here: {', '.join(siblings)}"


def _children(parent: str) -> list[str]:
    all_keys = leaf_keys(SweepFile, "")
    depth = parent.count(".") + 1 if parent else 0
    prefix = parent + "." if parent else ""
    names = {k.split(".")[depth] for k in all_keys if k.startswith(prefix)}
    if parent == "classify":
        names = set(ClassifySpec.model_fields)
    if parent.startswith("plots"):
        names = set(PlotSpec.model_fields)
    if parent == "refine":
        names = set(RefineSpec.model_fields)
    return sorted(names)
