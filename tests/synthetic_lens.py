"""Synthetic results folders for the lens tests, stored parameters included: modular-arithmetic
models whose units read one frequency each once they generalize, and parity models that prune
their irrelevant inputs."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from phasegrok.analysis.classify import classify_runs
from phasegrok.config.schema import ClassifySpec
from phasegrok.lens import fourier as lens
from phasegrok.store.folder import write_batch
from phasegrok.tasks import cyclic

STEPS = np.arange(0, 5001, 250)
P, D, WIDTH = 31, 12, 24
N_BITS, K_BITS, P_WIDTH = 12, 3, 32
GRID = {"optimizer.weight_decay": [1e-3, 1e-1], "data.train_fraction": [0.3, 0.7]}


def sigmoid(t0: float, width: float = 150.0) -> np.ndarray:
    return 1 / (1 + np.exp(np.clip((t0 - STEPS) / width, -50, 50)))


def circle_params(
    freqs_of_units: np.ndarray, rng: np.random.Generator, noise: float = 0.0, op: str = "add"
) -> dict[str, np.ndarray]:
    """A learned-embedding, concat model whose unit u reads frequency freqs_of_units[u] only,
    over `op`'s group index j (the token for add, log_g a for mul; token 0 then left as noise)."""
    freqs = sorted(set(freqs_of_units.tolist()))
    tokens = cyclic.group_tokens(op, P)
    j = np.arange(len(tokens))[:, None]
    table = noise * rng.normal(size=(P, D))
    angles = 2 * np.pi * j * np.asarray(freqs)[None, :] / len(tokens)
    table[tokens, : 2 * len(freqs)] = np.concatenate([np.cos(angles), np.sin(angles)], axis=1)
    kernel = noise * rng.normal(size=(2 * D, len(freqs_of_units)))
    for u, f in enumerate(freqs_of_units):
        j = freqs.index(f)
        for block in (0, D):  # the left operand's rows, then the right's
            kernel[block + j, u] = rng.normal()
            kernel[block + len(freqs) + j, u] = rng.normal()
    return {
        "embedding": table.astype(np.float32),
        "first_kernel": kernel.astype(np.float32),
        "first_bias": np.zeros(len(freqs_of_units), np.float32),
        "readout": {
            "kernel": rng.normal(size=(len(freqs_of_units), P)).astype(np.float32),
            "bias": np.zeros(P, np.float32),
        },
    }


def random_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "embedding": rng.normal(size=(P, D)).astype(np.float32),
        "first_kernel": rng.normal(size=(2 * D, WIDTH)).astype(np.float32) / np.sqrt(2 * D),
        "first_bias": np.zeros(WIDTH, np.float32),
        "readout": {
            "kernel": rng.normal(size=(WIDTH, P)).astype(np.float32),
            "bias": np.zeros(P, np.float32),
        },
    }


def parity_kernel(rng: np.random.Generator, prune: float) -> np.ndarray:
    """(n_bits, width): label-bit rows at full size, irrelevant rows scaled by `prune`."""
    w = rng.normal(size=(N_BITS, P_WIDTH)) * 0.5
    w[K_BITS:] *= prune
    return w.astype(np.float32)


def stack(trees: list[dict]) -> dict:
    """Per-run trees to one tree with a leading run axis, as the engine hands them to the store."""
    if isinstance(trees[0], dict):
        return {key: stack([t[key] for t in trees]) for key in trees[0]}
    return np.stack(trees)


def _phase_curves(kind: str, t_fit: float, t_gen: float, test_hi: float) -> dict:
    train = 0.02 + 0.98 * sigmoid(t_fit)
    gen = sigmoid(t_gen)
    test = 0.02 + (test_hi - 0.02) * gen
    n_classes = P if kind == "modular" else 2
    out = {
        "train_acc": train,
        "test_acc": test,
        "train_loss": np.log(n_classes) * (1 - train) + 1e-4,
        "test_loss": np.log(n_classes) * (1 - test) + 1e-4,
        "weight_norm": 40 * np.exp(-STEPS / 3000) + 5,
    }
    if kind == "modular":
        uniform = 5 / (P // 2)
        out["fourier_top_k_share"] = uniform + (0.97 - uniform) * gen + 0.01 * np.sin(STEPS)
        out["fourier_gini"] = 0.12 + 0.8 * gen
    else:
        out["relevant_weight_share"] = K_BITS / N_BITS + (1 - K_BITS / N_BITS) * gen
        out["irrelevant_units"] = np.round(P_WIDTH * (1 - gen))
    return out


def make_folder(d: Path, kind: str, grid: dict | None = None) -> Path:
    """A results folder as the engine writes it, lens columns and stored parameters included."""
    grid = GRID if grid is None else grid
    d.mkdir(parents=True, exist_ok=True)
    (d / "parts").mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    rows, curves, trees = [], [], {}
    saved = [0, 1000, 2500, int(STEPS[-1])]
    for point in itertools.product(*grid.values()):
        cfg = dict(zip(grid, point, strict=True))
        wd, frac = cfg["optimizer.weight_decay"], cfg.get("data.train_fraction", 0.7)
        run_id = f"{kind[0]}{len(rows):03d}"
        if wd >= 1e-1:
            t_gen, test_hi, learned = 600.0, 1.0, True  # comprehend
        elif frac >= 0.5:
            t_gen, test_hi, learned = 3000.0, 1.0, True  # grok
        else:
            t_gen, test_hi, learned = 1e9, 0.3, False  # memorize
        c = _phase_curves(kind, 300.0, t_gen, test_hi)
        curves.append(pd.DataFrame({"run_id": run_id, "step": STEPS, **c}))
        row = {
            "run_id": run_id,
            "task.kind": kind,
            "task.p": P if kind == "modular" else None,
            "task.n_bits": N_BITS if kind == "parity" else None,
            "task.k": K_BITS if kind == "parity" else None,
            "model.embedding": "learned",
            "model.circular_freqs": None,
            "model.combine": "concat",
            "model.hidden": f"[{WIDTH if kind == 'modular' else P_WIDTH}]",
            "loss": "cross_entropy",
            **cfg,
            "train.steps": int(STEPS[-1]),
            "train.eval_every": int(STEPS[1]),
            "train.save_params_at": str(saved[:-1]),
            "seed": 0,
            "n_classes": P if kind == "modular" else 2,
            **{f"final_{k}": float(v[-1]) for k, v in c.items()},
        }
        for step in saved:
            if kind == "modular":
                if learned and step >= t_gen:
                    freqs = np.array([5, 11, 5, 11, 14, 5][: 2 + (wd >= 1e-1)])
                    tree = circle_params(rng.choice(freqs, WIDTH), rng, noise=0.05)
                else:
                    tree = random_params(rng)
            else:
                prune = max(0.01, 1 - step / t_gen) if learned else 1.0
                tree = {
                    "Dense_0": {
                        "kernel": parity_kernel(rng, prune).T,  # stored (width, n_bits)
                        "bias": np.zeros(P_WIDTH, np.float32),
                    },
                    "Dense_1": {
                        "kernel": rng.normal(size=(2, P_WIDTH)).astype(np.float32),
                        "bias": np.zeros(2, np.float32),
                    },
                }
            trees.setdefault(step, []).append(tree)
        if kind == "modular":
            power = sum(
                lens.frequency_power(m)
                for m in lens.token_maps(
                    tree["embedding"], tree["first_kernel"], "concat"
                )  # the final step's tree
            )
            row["key_frequencies"] = np.asarray(lens.key_frequencies(power, 5), dtype=np.int64)
        rows.append(row)
    runs = pd.DataFrame(rows).dropna(axis=1, how="all")
    curves_df = pd.concat(curves, ignore_index=True)
    runs = classify_runs(runs, curves_df, ClassifySpec())
    params = {step: stack(ts) for step, ts in trees.items()}
    write_batch(d, "b0000", runs, curves_df, params, {"batch": 0})
    sweep = {
        "name": f"synthetic-{kind}",
        "task": {"kind": kind},
        "train": {"steps": int(STEPS[-1]), "seeds": 1, "save_params_at": saved[:-1]},
        "grid": grid,
        "analysis": {"fourier_top_k": 5, "irrelevant_threshold": 0.05},
        "classify": {},
        "plots": [],
    }
    (d / "sweep.yaml").write_text(yaml.safe_dump(sweep, sort_keys=False))
    runs.to_parquet(d / "runs.parquet", index=False)
    curves_df.to_parquet(d / "curves.parquet", index=False)
    return d
