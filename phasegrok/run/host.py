"""The process around a sweep: one XLA host device per core, and JAX's compilation cache.

Both must be set before JAX starts (or before its first compile); `phasegrok.sweep` calls them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from phasegrok.plan.calibrate import FLAG


def use_host_devices() -> None:
    """One XLA host device per core, so CPU runs split over the cores (see engine.Strategy).

    Must happen before JAX starts; a process that already imported JAX keeps its devices.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" in sys.modules or FLAG in flags:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    flag = f"--{FLAG}={max(1, cores or 1)}"
    os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()


def compile_cache_dir() -> Path | None:
    """Where the CLI keeps compiled programs: `$PHASEGROK_COMPILE_CACHE` ("off" for nowhere),
    else `$XDG_CACHE_HOME/phasegrok/xla` (`~/.cache/phasegrok/xla`)."""
    chosen = os.environ.get("PHASEGROK_COMPILE_CACHE")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "none") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "phasegrok" / "xla"


def use_compile_cache() -> None:
    """JAX's persistent compilation cache, so that resuming, extending or rerunning a sweep
    reuses the programs of its shape groups instead of compiling each again (~3 s on a CPU)."""
    folder = compile_cache_dir()
    if folder is None:
        return
    try:  # an unusable cache folder only costs compile time: train without it
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    if not os.access(folder, os.W_OK):
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
