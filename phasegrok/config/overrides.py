"""Command-line overrides of a sweep file, in Hydra's grammar (without Hydra).

    KEY=VALUE      set a dotted key:            optimizer.lr=3.0e-4  model.hidden=[128,128]
    +KEY=VALUE     the same (Hydra's "add"; accepted for muscle memory), as is ++KEY=VALUE
    grid.KEY=AXIS  set a grid axis (KEY is the whole dotted key after `grid.`):
                   grid.optimizer.lr=[1.0e-4,3.0e-4]   grid.optimizer.lr='{logspace: [-4, -2, 5]}'
    ~KEY           remove a key (back to its default); ~grid.KEY removes an axis, and with it
                   the `plots:` entries that name it

VALUE is parsed as YAML, as the file is: `1e-3` (a string to YAML 1.1) is read as a number by
the same validation as the file's. Overrides apply to the file's raw mapping, in order, before
validation, so a bad value is refused with the same one line, naming its dotted key.
Pure Python, no JAX.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from phasegrok.errors import ConfigError, short_repr

GRAMMAR = """\
overrides (after the file, before or after the flags; Hydra's grammar):
  KEY=VALUE        set a dotted key, VALUE parsed as YAML:
                   optimizer.lr=3.0e-4  model.hidden=[128,128]
  grid.KEY=AXIS    set an axis: grid.optimizer.lr=[1.0e-4,3.0e-4]
                   grid.optimizer.lr='{logspace: [-4, -2, 5]}'
                   grid.optimizer.lr='{loguniform: [1e-4, 1e-2], n: 16}'
  ~KEY             remove a key (default again); ~grid.KEY removes an axis and the plots naming it
  +KEY=VALUE       same as KEY=VALUE (as is ++KEY=VALUE)
example:
  python -m phasegrok.sweep sweeps/quickstart.yaml train.steps=1000 ~grid.data.train_fraction \\
      data.train_fraction=0.6 grid.optimizer.lr=[1e-2,2e-2] --dry-run"""

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")


def parse_override(text: str) -> tuple[str, list[str], Any]:
    """One override as (action, path, value): action 'set' or 'remove', path the keys from the
    top of the file (a grid axis's dotted key is one element: ['grid', 'optimizer.lr'])."""
    if text.startswith("~"):
        action, body, value = "remove", text[1:], None
        if "=" in body:  # Hydra's `~key=value` removes only if equal; here the key is enough
            body = body.split("=", 1)[0]
    else:
        body, eq, raw = text.lstrip("+").partition("=")
        if not eq:
            raise ConfigError(
                "", f"override {short_repr(text)}: expected KEY=VALUE or ~KEY (see --help)"
            )
        action, value = "set", _parse_value(body, raw)
    if not _KEY.match(body):
        raise ConfigError(
            "", f"override {short_repr(text)}: {short_repr(body)} is not a dotted key"
        )
    head, _, rest = body.partition(".")
    path = [head, rest] if head == "grid" and rest else body.split(".")
    return action, path, value


def _parse_value(key: str, raw: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(raw, Loader=loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(key, f"the override's value is not YAML ({problem})") from None


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of the sweep's raw mapping with `overrides` applied in order (`parse_override`).
    Raises ConfigError naming the key for an override that cannot apply (a key under a value
    that is not a section); what the result means is left to the sweep's validation."""
    out = copy.deepcopy(dict(raw))
    for text in overrides:
        action, path, value = parse_override(text)
        if action == "set":
            _set(out, path, value)
        else:
            _remove(out, path)
    return out


def _parent(tree: dict[str, Any], path: list[str], create: bool) -> dict[str, Any] | None:
    node = tree
    for depth, name in enumerate(path[:-1]):
        child = node.get(name)
        if child is None and create:
            child = node[name] = {}
        if child is None:
            return None
        if not isinstance(child, dict):
            where = ".".join(path[: depth + 1])
            raise ConfigError(where, f"is a value ({short_repr(child)}), not a section with keys")
        node = child
    return node


def _set(tree: dict[str, Any], path: list[str], value: Any) -> None:
    parent = _parent(tree, path, create=True)
    assert parent is not None
    parent[path[-1]] = value


def _remove(tree: dict[str, Any], path: list[str]) -> None:
    parent = _parent(tree, path, create=False)
    if parent is None or path[-1] not in parent:
        where = ".".join(path)
        raise ConfigError(where, "cannot be removed: the sweep does not set it")
    del parent[path[-1]]
    if path[0] == "grid" and isinstance(tree.get("plots"), list):  # ~grid: every plot goes
        tree["plots"] = [p for p in tree["plots"] if len(path) == 1 or not _names(p, path[1])]


def _names(plot: Any, key: str) -> bool:
    return isinstance(plot, Mapping) and key in (plot.get("x"), plot.get("y"))
