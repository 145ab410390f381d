"""Untrusted input: reading a sweep's YAML file within limits, and bounding what it holds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from phasegrok.errors import ConfigError

# A sweep file is written by hand: anything larger is a mistake (or an attack), and reading it
# would already cost seconds. Nesting and the number of values (YAML aliases can repeat a
# list many times over without growing the file) are bounded for the same reason.
MAX_FILE_BYTES = 512 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 32


def read_sweep_file(path: str | Path) -> dict[str, Any]:
    """Read a sweep YAML into a dict, turning every failure into one ConfigError line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("", f"sweep file not found: {path}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ConfigError(
            "", f"{path} is {size / 2**20:.1f} MiB; a sweep file is at most {MAX_FILE_BYTES} bytes"
        )
    # libyaml's loader when present: a large grid list parses ~5x faster.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(path.read_text(), Loader=loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError("", f"invalid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError("", f"{path} is not a text file") from None
    except (ValueError, RecursionError) as err:  # e.g. an integer of more than 4,300 digits
        raise ConfigError("", f"{path}: a value cannot be read ({str(err)[:80]})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("", f"{path}: the top level must be a mapping of sections")
    return data


def check_size(data: Any) -> None:
    """Refuse a structure with more than MAX_NODES values or MAX_DEPTH levels (walking at most
    that many, so a cyclic or alias-bloated one is answered at once)."""
    stack, nodes = [(data, 0)], 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ConfigError("", f"the sweep holds more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise ConfigError("", f"the sweep is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, Mapping):
            stack.extend((v, depth + 1) for v in node.values())
            stack.extend((k, depth + 1) for k in node)
        elif isinstance(node, list | tuple):
            stack.extend((v, depth + 1) for v in node)
