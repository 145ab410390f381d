"""What measuring a trained batch costs: the per-run host path against the batched one.

    PYTHONPATH=. python benchmarks/measure_cost.py [--runs 128] [--steps 30] [--out PATH]

After each batch a sweep computes each run's key frequencies (the end of
`engine.execute_batch`), its readout columns and its progress measures
(`measure.batch_measures`). Until commit 28ce7de this was a loop over the runs on the host:
per run a NumPy lens (float32), `readout.run_columns` (float64), and for the progress measures
one jitted forward on the p^2 grid followed by float64 NumPy projections. That path is kept
below, as it was (`old_*`), so this script measures it whatever the library has become. The
new path is the library's: `engine.final_key_frequencies` and `measure.batch_measures`, the
same per-run functions vmapped over the runs on the device.

Both run on one batch trained here with modadd-large's model (p = 97, learned embedding 128,
hidden [256], relu, 30% of the pairs; `--runs` runs x `--steps` steps, one saved step), each
path twice: the first call compiles (``cold``), the second is timed again (``warm``). The
results are compared (largest differences of the progress measures; runs whose key
frequencies, readout keys or unit counts differ) and written with the timings to `--out`.
Defaults fit a 2-core CPU in about two minutes; on a GPU: ``--runs 1024 --steps 1000``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from phasegrok.config.load import load_sweep
from phasegrok.engine import batch as engine
from phasegrok.engine import measure
from phasegrok.engine.training import lens_metrics, model_facts
from phasegrok.lens import fourier as lens
from phasegrok.lens import progress_measures as progress
from phasegrok.lens import readout
from phasegrok.plan.runs import Batch, expand
from phasegrok.tasks.modular import modular_label

ROOT = Path(__file__).resolve().parents[1]


def sweep(runs: int, steps: int) -> dict:
    """modadd-large's model and data, `runs` runs (weight decays x seeds), `steps` steps."""
    decays = min(32, runs)
    return {
        "name": "measure-cost",
        "task": {"kind": "modular", "op": "add", "p": 97},
        "data": {"train_fraction": 0.3},
        "model": {"embedding": "learned", "embed_dim": 128, "hidden": [256], "activation": "relu"},
        "optimizer": {"name": "adamw", "lr": 1.0e-3, "b1": 0.9, "b2": 0.98, "weight_decay": 1.0},
        "train": {"steps": steps, "eval_every": steps, "seeds": -(-runs // decays)},
        "grid": {"optimizer.weight_decay": {"logspace": [-2, 1, decays]}},
    }


# --------------------------------------------------------------------------------------------
# The per-run path as it was at 28ce7de (engine's key loop, measure, progress, readout).


def old_key_frequencies(static, final, n_runs):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack(
            [
                lens_metrics(static, jax.tree.map(lambda a, i=i: a[i], final), np)[1]
                for i in range(n_runs)
            ]
        )


def old_key_components(logits, s, n, keys):
    by_s = np.asarray(logits, dtype=np.float64)[np.argsort(s, kind="stable")]
    means = by_s.reshape(n, -1, logits.shape[1]).mean(axis=1)
    out = np.zeros_like(logits, dtype=np.float64)
    for k in sorted(set(int(k) for k in keys)):
        angle = 2 * np.pi * k * np.arange(n) / n
        cos, sin = np.cos(angle), np.sin(angle)
        nyquist = 2 * k == n
        a = means.T @ cos * ((1 if nyquist else 2) / n)
        b = np.zeros_like(a) if nyquist else means.T @ sin * (2 / n)
        out += np.outer(cos[s], a) + np.outer(sin[s], b)
    return out


def old_per_pair_loss(logits, labels, loss):
    if loss == "cross_entropy":
        top = logits.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        return log_z - logits[np.arange(len(labels)), labels]
    targets = np.eye(logits.shape[1])[labels]
    return np.mean((logits - targets) ** 2, axis=1)


def old_measures(logits, labels, s, n, keys, train, loss):
    logits = np.asarray(logits, dtype=np.float64)
    components = old_key_components(logits, s, n, keys)
    restricted, excluded = logits.mean(axis=0) + components, logits - components
    full = old_per_pair_loss(logits, labels, loss)
    test = ~train
    found = {
        "full_loss": float(full.mean()),
        "train_loss": float(full[train].mean()) if train.any() else float("nan"),
        "test_loss": float(full[test].mean()) if test.any() else float("nan"),
        "restricted_loss": float(old_per_pair_loss(restricted, labels, loss).mean()),
        "restricted_acc": float(np.mean(restricted.argmax(axis=1) == labels)),
    }
    if not train.any():
        return {**found, "excluded_loss": float("nan"), "excluded_acc": float("nan")}
    excluded, on = excluded[train], labels[train]
    found["excluded_loss"] = float(old_per_pair_loss(excluded, on, loss).mean())
    found["excluded_acc"] = float(np.mean(excluded.argmax(axis=1) == on))
    return found


def old_train_mask(static, run, pairs):
    from phasegrok.tasks.base import example_order
    from phasegrok.tasks.modular import modular_pairs

    every, _ = modular_pairs(static.modular.op, static.modular.p, static.modular.symmetric)
    chosen = every[example_order(run.seed, len(every))[: int(run.hyper.n_train)]]
    codes = set((chosen[:, 0].astype(np.int64) * static.modular.p + chosen[:, 1]).tolist())
    grid_codes = pairs[:, 0].astype(np.int64) * static.modular.p + pairs[:, 1]
    return np.isin(grid_codes, np.fromiter(codes, dtype=np.int64, count=len(codes)))


def old_run_columns(facts, params, input_keys):
    blank = {"readout_key_frequencies": None, "key_frequency_overlap": float("nan")}
    blank["units_per_frequency"] = None
    if facts.blank or input_keys is None or not lens.finite(params):
        return blank
    params = lens.as_float64(params)
    keys = np.asarray(
        lens.key_frequencies(readout.readout_power(facts, params), facts.top_k)
    ).tolist()
    power = sum(lens.unit_power(np.asarray(m)) for m in lens.group_token_maps(facts, params))
    total = power.sum(axis=0)
    units = pd.DataFrame({"unit": np.arange(power.shape[1]), "freq": power.argmax(axis=0) + 1})
    units["power"] = total
    live = units.loc[(total >= readout.LIVE_SHARE * float(total.max())) & (total > 0)]
    table = live.groupby("freq").agg(units=("unit", "size"), power=("power", "sum"))
    table = table.sort_values(["units", "power"], ascending=False)
    return {
        "readout_key_frequencies": keys,
        "key_frequency_overlap": readout.key_frequency_overlap(input_keys, keys),
        "units_per_frequency": json.dumps({str(f): int(n) for f, n in table["units"].items()}),
    }


def old_batch_measures(batch, result):
    static = batch.static
    facts = model_facts(static)
    pairs, s = progress.group_grid(static.modular.op, static.modular.p)
    n = static.modular.p  # add: the group is Z_p
    labels = modular_label(
        static.modular.op, pairs[:, 0].astype(np.int64), pairs[:, 1], static.modular.p
    )
    columns, rows = {}, []
    for i, run in enumerate(batch.runs):
        saved = result.params.items()
        steps = {t: jax.tree.map(lambda a, i=i: np.asarray(a[i]), p) for t, p in saved}
        keys = result.key_frequencies[i].tolist()
        found = old_run_columns(facts, steps[static.steps], keys)
        train = old_train_mask(static, run, pairs)
        run_rows = []
        for step, params in sorted(steps.items()):
            values = dict.fromkeys(progress.MEASURES, float("nan"))
            if lens.finite(params):
                logits = measure.grid_logits(static, params, pairs)
                values = old_measures(logits, labels, s, n, keys, train, static.loss)
            run_rows.append({"run_id": run.run_id, "step": int(step), **values})
        rows += run_rows
        for name in measure.FINAL_COLUMNS:
            found[f"final_{name}"] = run_rows[-1][name]
        for name, value in found.items():
            columns.setdefault(name, []).append(value)
    return columns, pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------


def old_path(batch, result):
    keys = old_key_frequencies(batch.static, result.params[batch.static.steps], len(batch.runs))
    return keys, old_batch_measures(batch, result)


def new_path(batch, result):
    final = result.params[batch.static.steps]
    keys = np.asarray(engine.final_key_frequencies(batch.static, final), dtype=np.int64)
    return keys, measure.batch_measures(batch, result)


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def compare(old, new) -> dict:
    """Largest differences of the progress measures; runs whose other columns differ."""
    (old_keys, (old_cols, old_rows)), (new_keys, (new_cols, new_rows)) = old, new
    found = {"key_frequencies_differ": int((old_keys != new_keys).any(axis=1).sum())}
    for name in ("readout_key_frequencies", "units_per_frequency"):
        pairs = zip(old_cols[name], new_cols[name], strict=True)
        found[f"{name}_differ"] = sum(a != b for a, b in pairs)
    for name in progress.MEASURES:
        a, b = old_rows[name].to_numpy(), new_rows[name].to_numpy()
        finite = np.isfinite(a) & np.isfinite(b)
        found[f"{name}_max_abs_diff"] = float(np.abs(a - b)[finite].max(initial=0.0))
        found[f"{name}_nan_differ"] = int((np.isnan(a) != np.isnan(b)).sum())
    return found


def commit() -> str:
    """The git commit measured (with '+dirty' for local changes); 'unknown' outside git."""
    try:
        args = {"capture_output": True, "text": True, "cwd": ROOT}
        head = subprocess.run(["git", "rev-parse", "HEAD"], **args).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], **args).stdout.strip()
        return (head or "unknown") + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results-measure-cpu.json")
    args = parser.parse_args()
    runs = expand(load_sweep(sweep(args.runs, args.steps)))[: args.runs]
    batch = Batch("measure-cost", runs[0].static, tuple(runs))
    train_s, result = timed(
        engine.execute_batch, batch, None, None, engine.choose_strategy(batch.static)
    )
    print(f"trained {len(runs)} runs x {args.steps} steps in {train_s:.1f} s")
    report = {
        "what": "benchmarks/measure_cost.py: key frequencies + measure.batch_measures of one "
        "trained batch, per-run host path (as at 28ce7de) against the batched device path",
        "commit": commit(),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
        f"{engine.device_description()}",
        "jax": jax.__version__,
        "runs": len(runs),
        "steps": args.steps,
        "train_seconds": train_s,
    }
    outputs = {}
    for name, path in (("old", old_path), ("new", new_path)):
        cold, _ = timed(path, batch, result)
        warm, outputs[name] = timed(path, batch, result)
        report[f"{name}_cold_seconds"], report[f"{name}_warm_seconds"] = cold, warm
        print(f"{name}: {cold:.2f} s first call (compiles), {warm:.2f} s second")
    report["ratio_warm_old_over_new"] = report["old_warm_seconds"] / report["new_warm_seconds"]
    report["ratio_cold_old_over_new"] = report["old_cold_seconds"] / report["new_cold_seconds"]
    report["differences"] = compare(outputs["old"], outputs["new"])
    print(json.dumps(report, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
