"""The arrays task's data file: an .npz of x_train, y_train, x_test, y_test (NumPy, no JAX).

`inspect_file` checks a file once per sweep load, before anything is written, and returns the
facts that plan a sweep (`ArraysFile`: absolute path, content hash, sizes, input width, class
count); every fault is one `ConfigError` under `task.path` whose message starts with the array
at fault. `load` reads the arrays for a batch of runs and refuses a file whose content changed
since the sweep was loaded, since its runs would then not be the runs their ids name.

Inputs: any real dtype (bool, integer, float), used as float32, each example flattened to a
vector (`x[i].reshape(-1)`), finite as float32. Labels: integers (or whole floats) in
0 .. C - 1, one per example, with C = 1 + the largest label of y_train and y_test.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from phasegrok.errors import ConfigError, short_repr

ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")
# A class is one output of the model: more than this is a mistaken label column, not classes.
MAX_CLASSES = 65_536
_HASH_CHUNK = 1 << 20  # bytes read at a time: a large file is hashed in constant memory
_KEY = "task.path"
# The flat run-config key (not a sweep-file key) that carries a sweep's ArraysFile, or None
# (`config.SweepSpec.base_config`; `plan.resolve` records what a run uses of it).
ARRAYS = "task.arrays"


@dataclass(frozen=True)
class ArraysFile:
    """What a sweep needs to know of its data file, read once when the sweep is loaded."""

    path: str  # absolute
    sha256: str  # of the file's bytes
    n_train: int  # examples in x_train
    n_test: int  # examples in x_test
    input_dim: int  # width of a flattened example
    n_classes: int  # C: 1 + the largest label


class Arrays(NamedTuple):
    """The four arrays, checked: x as (n, input_dim) float32, y as (n,) int32."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def absolute(path: str) -> str:
    """`path` as an absolute path: a relative one is taken from the working directory."""
    return os.path.abspath(os.path.expanduser(path))


def file_sha256(path: str) -> str:
    """SHA-256 of the file's bytes, read in chunks. Raises ConfigError if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError as err:
        raise ConfigError(_KEY, f"{path} cannot be read ({err.strerror or err})") from None
    return digest.hexdigest()


def _check_regular_file(path: str) -> None:
    # A directory, a device or a pipe is refused before it is opened (reading /dev/zero or a
    # FIFO would never end).
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ConfigError(
            _KEY, f"file not found: {path} (a relative path is taken from the working directory)"
        ) from None
    except (OSError, ValueError) as err:  # a name too long, a NUL byte, a file as a folder
        raise ConfigError(_KEY, f"{short_repr(path)} is not a usable path ({err})") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(_KEY, f"{path} is not a file")


def inspect_file(path: str, expected_sha256: str | None = None) -> ArraysFile:
    """Check the data file at `path` (relative: from the working directory) and return its
    facts. Hashes the file once; `expected_sha256`, if given, must match. Raises ConfigError."""
    where = absolute(path)
    _check_regular_file(where)
    digest = file_sha256(where)
    if expected_sha256 is not None and digest != expected_sha256:
        raise ConfigError(
            "task.sha256",
            f"{where} has content hash {digest}, not the {expected_sha256} this sweep names "
            "(the file changed; remove task.sha256 to accept the new content as a new sweep)",
        )
    data = read_arrays(where)
    return ArraysFile(
        path=where,
        sha256=digest,
        n_train=len(data.y_train),
        n_test=len(data.y_test),
        input_dim=data.x_train.shape[1],
        n_classes=n_classes(data),
    )


def load(path: str, sha256: str) -> Arrays:
    """The arrays of the file a sweep was loaded with, for a batch of runs; ConfigError if its
    content changed since (hashed again: a batch's data must be the data of its run ids)."""
    digest = file_sha256(path)
    if digest != sha256:
        raise ConfigError(
            _KEY,
            f"{path} changed since the sweep was loaded (content hash {digest[:16]}..., was "
            f"{sha256[:16]}...); finished batches are kept: run the command again",
        )
    return read_arrays(path)


def n_classes(data: Arrays) -> int:
    """C: one class per label value up to the largest of either set."""
    return 1 + max(int(data.y_train.max()), int(data.y_test.max()))


def read_arrays(path: str) -> Arrays:
    """Read and check the four arrays of an .npz file (`allow_pickle=False`)."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        # numpy's own reason is about pickles or zip internals: say what the file should be.
        raise ConfigError(
            _KEY, f"{path} is not an .npz file (the zip archive of arrays numpy.savez writes)"
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a .npy file: one bare array
        raise ConfigError(
            _KEY,
            f"{path} is a single .npy array, not an .npz of {', '.join(ARRAY_NAMES)}; "
            "save them with numpy.savez",
        )
    with archive:
        raw = {name: _member(archive, name, path) for name in ARRAY_NAMES}
    x_train = _inputs("x_train", raw["x_train"])
    y_train = _labels("y_train", raw["y_train"], "x_train", len(x_train))
    x_test = _inputs("x_test", raw["x_test"])
    y_test = _labels("y_test", raw["y_test"], "x_test", len(x_test))
    if x_test.shape[1] != x_train.shape[1]:
        raise _fault(
            "x_test",
            f"examples of width {x_test.shape[1]} (shape {raw['x_test'].shape}), but x_train's "
            f"have width {x_train.shape[1]} (shape {raw['x_train'].shape})",
        )
    data = Arrays(x_train, y_train, x_test, y_test)
    if n_classes(data) < 2:
        raise _fault("y_train", "every label of y_train and y_test is 0: at least 2 classes")
    return data


def _fault(name: str, problem: str) -> ConfigError:
    return ConfigError(_KEY, f"{name}: {problem}")


def _reason(err: BaseException) -> str:
    return str(err).splitlines()[0][:80] if str(err) else type(err).__name__


def _member(archive: np.lib.npyio.NpzFile, name: str, path: str) -> np.ndarray:
    if name not in archive.files:
        held = ", ".join(archive.files[:8]) or "no arrays"
        raise _fault(name, f"missing from {path} (it holds {held})")
    try:
        return archive[name]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise _fault(name, f"cannot be read from {path} ({_reason(err)})") from None


def _inputs(name: str, x: np.ndarray) -> np.ndarray:
    """x as (n, width) float32, checked: real numbers, examples of width >= 1, all finite."""
    if not (x.dtype == np.bool_ or np.issubdtype(x.dtype, np.integer)) and not np.issubdtype(
        x.dtype, np.floating
    ):
        raise _fault(name, f"inputs must be real numbers (got dtype {x.dtype})")
    if x.ndim == 0 or len(x) == 0:
        raise _fault(name, f"empty: no examples (shape {x.shape})")
    width = math.prod(x.shape[1:])
    if width == 0:
        raise _fault(name, f"examples of size 0 (shape {x.shape})")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is refused below
        flat = x.reshape(len(x), width).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(flat).all(axis=1))
    if len(bad):
        raise _fault(
            name, f"{len(bad)} example(s) hold NaN or inf as float32, the first at index {bad[0]}"
        )
    return flat


def _labels(name: str, y: np.ndarray, x_name: str, n: int) -> np.ndarray:
    """y as (n,) int32, checked: one integer label in 0 .. MAX_CLASSES - 1 per example."""
    if y.ndim != 1:
        hint = " (one-hot labels? store y.argmax(axis=1))" if y.ndim == 2 else ""
        raise _fault(name, f"must be 1-d, one label per example; got shape {y.shape}{hint}")
    if len(y) != n:
        raise _fault(name, f"{len(y)} labels for the {n} examples of {x_name}")
    if np.issubdtype(y.dtype, np.floating):
        whole = np.isfinite(y) & (y == np.round(y))
        if not whole.all():
            first = np.flatnonzero(~whole)[0]
            raise _fault(
                name, f"labels must be integers (class indices); {name}[{first}] = {y[first]}"
            )
    elif not np.issubdtype(y.dtype, np.integer):
        raise _fault(name, f"labels must be integers (class indices); got dtype {y.dtype}")
    low, high = y.min(), y.max()
    if low < 0 or high >= MAX_CLASSES:
        value = low if low < 0 else high
        raise _fault(
            name, f"labels must be class indices in 0 .. {MAX_CLASSES - 1}; found {value:g}"
        )
    return y.astype(np.int32)
