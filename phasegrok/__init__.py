"""phasegrok: grokking phase diagrams from one sweep file.

    >>> import phasegrok
    >>> res = phasegrok.run_sweep("sweeps/quickstart.yaml")   # doctest: +SKIP
    >>> res.runs[["optimizer.weight_decay", "phase"]]          # doctest: +SKIP

Importing the package does not import JAX: validation stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from phasegrok.analysis.results import Results

__all__ = ["load", "run_sweep"]
__version__ = "0.1.0"


def run_sweep(
    source: str | Path | Mapping[str, Any], out: str | Path | None = None, **kwargs: Any
) -> Results:
    """Train (or resume) a sweep from a YAML path or a dict; see `phasegrok.sweep.run_sweep`."""
    from phasegrok.sweep import run_sweep as _run_sweep

    return _run_sweep(source, out, **kwargs)


def load(results_dir: str | Path) -> Results:
    """Open a results folder: `.runs` and `.curves` DataFrames, `.params(run_id)`."""
    from phasegrok.analysis.results import load as _load

    return _load(results_dir)
