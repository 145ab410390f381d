"""Bad input: the one exception for it, and bounded reprs for its messages.

The bottom of the package: every layer raises `ConfigError` for input it refuses (a sweep
key, a data file, a command-line option), and the commands turn it into one line, exit 2.
"""

from __future__ import annotations

import reprlib


class ConfigError(ValueError):
    """Bad input: `key` is the dotted path at fault, `message` says what is allowed."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict = 3, 8, 8, 4
_SHORT.maxstring, _SHORT.maxlong, _SHORT.maxother = 50, 40, 50


def short_repr(value: object) -> str:
    """A bounded `repr`: an error about a huge or deeply nested value stays one short line
    (reprlib stops at a few items and levels, so it never walks the whole value)."""
    try:
        return _SHORT.repr(value)
    except ValueError:  # an int too long to print (Python caps int-to-text at 4,300 digits)
        return f"<{type(value).__name__} too long to print>"
