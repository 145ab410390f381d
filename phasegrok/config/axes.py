"""Grid axes and seeds as lazy sequences: lengths known from the sweep file, values on demand.

A sweep's size is the product of its axis lengths times the seed count, and each of these is
known from the file alone (a list's length, the `n` of `{linspace: [lo, hi, n]}`, the seed
count). So a grid of any size is counted, checked and refused before a single value of it is
produced. An axis is a read-only sequence (`len`, indexing, iteration, `index`): a range of a
real-valued key computes each value when asked, and seeds given as a count are a `range`.

Pure Python, no pydantic: config.py passes in the function that validates one value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from phasegrok.errors import ConfigError, short_repr


def refine_axes(refine: Any, grid: Mapping[str, Any], allowed: Sequence[str]) -> tuple[str, ...]:
    """The refined axes of a sweep (`refine`: its `RefineSpec`; `grid`: key -> axis), checked:
    one or two grid keys traced per run or sizing the train set (`allowed`), every other grid
    axis with one value. Raises ConfigError naming `refine.axes` or `refine`."""
    from phasegrok.errors import ConfigError

    axes = tuple(refine.axes) if refine.axes is not None else tuple(grid)[:2]
    if not axes or len(axes) > 2 or len(set(axes)) != len(axes):
        got = list(axes) if axes else "no grid axes"
        raise ConfigError("refine.axes", f"expects one or two distinct grid keys (got {got})")
    for key in axes:
        if key not in grid:
            raise ConfigError(
                "refine.axes", f"'{key}' is not a grid axis; grid axes: {', '.join(grid)}"
            )
        if key not in allowed:
            raise ConfigError(
                "refine.axes",
                f"'{key}' cannot be refined: only keys traced per run and the train-set size "
                f"can ({', '.join(allowed)}), so that new points need no new program",
            )
    others = [k for k in grid if k not in axes and len(grid[k]) > 1]
    if others:
        raise ConfigError(
            "refine",
            f"refines a grid of its axes only: {', '.join(others)} must have one value (split "
            "the sweep into one file per value)",
        )
    return axes


# Values checked one by one: every value of a list (it is in the file already), of a range of
# an integer or categorical key, and of a range of a real key up to this length (a longer one
# has its ends checked: every rule on a real key is an interval).
MAX_EXPANDED = 10_000
# Seeds become 32-bit ints inside JAX.
MAX_SEED = 2**31 - 1
RANGE_KINDS = ("linspace", "logspace")
# Values are kept to 12 significant digits: 1e-2 rather than 0.010000000000000002 in a table.
DIGITS = 12


class Axis(Sequence[Any]):
    """One grid axis: the dotted `key` it sweeps, `len(axis)` values, `axis[i]` on demand."""

    key: str

    def written(self, limit: int = MAX_EXPANDED) -> Any:
        """The axis for a YAML file: its values as a list, or its range if that is longer
        than `limit` values."""
        raise NotImplementedError

    def bounds(self) -> tuple[Any, Any]:
        """(smallest, largest) value of a numeric axis."""
        raise NotImplementedError


@dataclass(frozen=True)
class ValuesAxis(Axis):
    """An axis given (or expanded) as an explicit tuple of validated values."""

    key: str
    values: tuple[Any, ...]
    _positions: dict[Any, int] = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i: int) -> Any:  # type: ignore[override]
        return self.values[i]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.values)

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        if not self._positions:  # built once, on the first look-up
            self._positions.update((v, i) for i, v in reversed(list(enumerate(self.values))))
        try:
            return self._positions[value]
        except (KeyError, TypeError):
            raise ValueError(f"{short_repr(value)} is not on axis {self.key}") from None

    def written(self, limit: int = MAX_EXPANDED) -> Any:
        return [list(v) if isinstance(v, tuple) else v for v in self.values]

    def bounds(self) -> tuple[Any, Any]:
        return min(self.values), max(self.values)


@dataclass(frozen=True)
class RangeAxis(Axis):
    """`n` values from `lo` to `hi`, evenly spaced (linspace) or evenly spaced exponents of 10
    (logspace), each computed when asked; monotone, so its ends are its bounds."""

    key: str
    kind: str
    lo: float
    hi: float
    n: int

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> float:  # type: ignore[override]
        if not -self.n <= i < self.n:
            raise IndexError(f"axis {self.key} has {self.n} values; no index {i}")
        return range_value(self.kind, self.lo, self.hi, self.n, i % self.n)

    def __iter__(self) -> Iterator[float]:
        return (self[i] for i in range(self.n))

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """Position of `value` in O(1): invert the spacing, then look at the neighbours."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{short_repr(value)} is not on axis {self.key}")
        guess = 0
        if self.n > 1 and math.isfinite(value) and (self.kind == "linspace" or value > 0):
            s = math.log10(value) if self.kind == "logspace" else value
            guess = round((s - self.lo) / (self.hi - self.lo) * (self.n - 1))
        for i in (guess, guess - 1, guess + 1):
            if 0 <= i < self.n and self[i] == value:
                return i
        raise ValueError(f"{short_repr(value)} is not on axis {self.key}")

    def written(self, limit: int = MAX_EXPANDED) -> Any:
        if self.n <= limit:
            return list(self)
        return {self.kind: [self.lo, self.hi, self.n]}

    def bounds(self) -> tuple[float, float]:
        ends = self[0], self[self.n - 1]
        return min(ends), max(ends)


def range_value(kind: str, lo: float, hi: float, n: int, i: int) -> float:
    """Value i of `{kind: [lo, hi, n]}`."""
    s = lo + (hi - lo) * i / (n - 1) if n > 1 else lo
    value = 10.0**s if kind == "logspace" else s
    return float(f"{value:.{DIGITS}g}")


@dataclass(frozen=True)
class Take(Sequence[Any]):
    """The values of `seq` at `positions` (a range or a tuple of indices), without copying."""

    seq: Sequence[Any]
    positions: Sequence[int]

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> Any:  # type: ignore[override]
        return self.seq[self.positions[i]]


def iter_product(seqs: Sequence[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
    """`itertools.product(*seqs)`, last sequence fastest, without materializing its arguments
    (itertools turns each into a tuple first: a range of 10**9 would become one)."""
    if any(len(s) == 0 for s in seqs):
        return
    positions = [0] * len(seqs)
    current = [s[0] for s in seqs]
    while True:
        yield tuple(current)
        j = len(seqs) - 1
        while j >= 0:
            positions[j] += 1
            if positions[j] < len(seqs[j]):
                current[j] = seqs[j][positions[j]]
                break
            positions[j] = 0
            current[j] = seqs[j][0]
            j -= 1
        if j < 0:
            return


# --------------------------------------------------------------------------------------------
# Parsing


def parse_axis(key: str, spec: Any, check: Callable[[Any], Any], real: bool) -> Axis:
    """One `grid:` entry as an axis. `check(value)` validates one value of `key` and returns it
    normalised (raising ConfigError); `real` says the key takes real numbers, whose ranges stay
    lazy. Reads nothing longer than the file itself."""
    where = f"grid.{key}"
    if isinstance(spec, Mapping):
        kind, lo, hi, n = _range_args(where, spec)
        if real:
            return _real_range(key, kind, lo, hi, n, check)
        if n > MAX_EXPANDED:
            raise ConfigError(
                f"{where}.{kind}",
                f"at most {MAX_EXPANDED} values for {key}, which is checked value by value "
                f"(got n = {n}); use a list, or fewer values",
            )
        values: list[Any] = [range_value(kind, lo, hi, n, i) for i in range(n)]
    elif isinstance(spec, list | tuple):
        values = list(spec)
    else:
        raise ConfigError(
            where,
            f"a grid axis is a list or {{logspace|linspace: [lo, hi, n]}} (got {short_repr(spec)})",
        )
    if not values:
        raise ConfigError(where, "the grid axis is empty; give at least one value")
    checked = tuple(_hashable(check(v)) for v in values)
    _no_repeats(where, checked)
    return ValuesAxis(key, checked)


def _range_args(where: str, spec: Mapping[Any, Any]) -> tuple[str, float, float, int]:
    if len(spec) != 1 or next(iter(spec)) not in RANGE_KINDS:
        raise ConfigError(
            where, "a grid axis is a list, {logspace: [lo, hi, n]} or {linspace: [lo, hi, n]}"
        )
    kind, args = next(iter(spec.items()))
    numbers = (
        [_number(a) for a in args] if isinstance(args, list | tuple) and len(args) == 3 else []
    )
    count = _whole(numbers[2]) if len(numbers) == 3 else None
    if len(numbers) != 3 or numbers[0] is None or numbers[1] is None or count is None:
        raise ConfigError(
            f"{where}.{kind}",
            f"expects [lo, hi, n], numbers with a whole n such as 5 or 1e1 "
            f"(got {short_repr(args)})",
        )
    lo, hi, n = numbers[0], numbers[1], count
    if n < 1:
        raise ConfigError(f"{where}.{kind}", f"n must be >= 1 (got {n})")
    try:
        lo, hi = float(lo), float(hi)
        ends = [range_value(kind, lo, hi, n, i) for i in (0, n - 1)]
    except OverflowError:
        ends = [math.inf]
    if not all(math.isfinite(v) for v in (lo, hi, hi - lo, *ends)):
        allowed = "exponents within +-308" if kind == "logspace" else "finite numbers"
        raise ConfigError(
            f"{where}.{kind}",
            f"lo and hi must be {allowed}, with finite values between "
            f"(got {short_repr(list(args))})",
        )
    return kind, lo, hi, n


def _number(value: Any) -> float | None:
    """A range argument as a number: an int or float, or a string that reads as one (YAML 1.1
    reads `1e-3` as text; accepted as the file's other numbers are); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _whole(value: float | None) -> int | None:
    """A count given as an int or as a float with a whole value (YAML `1e1` or `10.0`)."""
    if isinstance(value, int) or value is None:
        return value
    return int(value) if math.isfinite(value) and value == int(value) else None


def _real_range(
    key: str, kind: str, lo: float, hi: float, n: int, check: Callable[[Any], Any]
) -> RangeAxis:
    axis = RangeAxis(key, kind, lo, hi, n)
    where = f"grid.{key}"
    if n <= MAX_EXPANDED:
        _no_repeats(where, tuple(check(v) for v in axis))
        return axis
    # A monotone axis: every interval rule holds if it does at both ends; their neighbours
    # hold the smallest nonzero magnitude of a range from 0 (checked against float32's range).
    for end in (*axis.bounds(), axis[1], axis[n - 2]):
        check(end)
    if not _distinct_at_digits(kind, lo, hi, n):
        raise ConfigError(
            f"{where}.{kind}",
            f"{n} values from {lo:g} to {hi:g} are closer than the {DIGITS} significant digits "
            "values are kept to, so some repeat; use fewer values",
        )
    return axis


def _distinct_at_digits(kind: str, lo: float, hi: float, n: int) -> bool:
    """Whether n values stay distinct once rounded to DIGITS significant digits (sufficient:
    neighbours further apart than the rounding step at the largest value)."""
    if n == 1:
        return True
    spacing = abs(hi - lo) / (n - 1)
    if spacing == 0:  # lo == hi (or a step below the smallest float)
        return False
    if kind == "logspace":  # neighbours differ by a factor 10**spacing
        return math.expm1(spacing * math.log(10)) > 2 * 10.0 ** (1 - DIGITS)
    largest = max(abs(lo), abs(hi))
    return spacing > 10.0 ** (math.floor(math.log10(largest)) + 1 - DIGITS)


def _hashable(value: Any) -> Any:
    """Lists as tuples (all the way down), so that values can be compared and looked up."""
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    return value


def _no_repeats(where: str, values: tuple[Any, ...]) -> None:
    seen: set[Any] = set()
    for value in values:
        try:
            repeated = value in seen
            seen.add(value)
        except TypeError:  # unhashable (a mapping): compared by equality below
            repeated = sum(1 for v in values if v == value) > 1
        if repeated:
            raise ConfigError(where, f"the grid axis repeats a value ({short_repr(value)})")


def parse_seeds(seeds: int | tuple[int, ...]) -> Sequence[int]:
    """`train.seeds` as a sequence: a count is `range(count)` (never listed), a list a tuple."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(
                "train.seeds", f"must be a count >= 1 or a list of seeds (got {short_repr(seeds)})"
            )
        if seeds > MAX_SEED + 1:  # seeds are 32-bit ints inside JAX
            raise ConfigError(
                "train.seeds", f"at most {MAX_SEED + 1} seeds (got {short_repr(seeds)})"
            )
        return range(seeds)
    if not seeds:
        raise ConfigError("train.seeds", "the list of seeds is empty")
    if len(set(seeds)) != len(seeds) or not all(0 <= s <= MAX_SEED for s in seeds):
        raise ConfigError(
            "train.seeds",
            f"seeds must be distinct ints in 0..{MAX_SEED} (got {short_repr(list(seeds))})",
        )
    return tuple(seeds)


def written_seeds(seeds: Sequence[int], limit: int = MAX_EXPANDED) -> int | list[int]:
    """Seeds for a YAML file: a list, or the count of a long `range(count)`."""
    if isinstance(seeds, range) and len(seeds) > limit:
        return len(seeds)
    return list(seeds)


def declared_scale(written: Any) -> str | None:
    """The scale a grid axis declares as written in the sweep file: "log" for `logspace` /
    `loguniform`, "linear" for `linspace` / `uniform`, None for a list (no declaration)."""
    if not isinstance(written, Mapping):
        return None
    if {"logspace", "loguniform"} & set(written):
        return "log"
    return "linear" if {"linspace", "uniform"} & set(written) else None
