"""Validation-accuracy parity of the two FER feeds under an experiment's own profile settings.

The full profile trains with the fast path (decoded arrays, augmentation as a ``RandomAffine``
layer in the model); the original experiment used the ImageDataGenerator feed. This script
trains the experiment's model with each feed, ``len(--seeds)`` times each, with everything else
the profile's (optimizer, schedule, label smoothing, batch size, augmentation, dtype policy,
callbacks) except ``--epochs``, and reports the validation accuracy at the last epoch (the
cosine schedule has decayed to zero there, so it has settled), its mean over the last 3 epochs,
the best, and the test accuracy of the model the callbacks kept. Runs can go in parallel
processes (``--jobs``): timings are then not comparable, accuracies are. Usage::

    KERAS_BACKEND=jax python benchmarks/parity_full.py --data DIR [--experiment fer4] [--epochs 30]
        [--seeds 1337 2024] [--workers 16] [--jobs 4] [--out FILE]
    python benchmarks/parity_full.py --data DIR --profile smoke --epochs 1 --workers 2 --jobs 1   # a CPU try-out

With ``--workers N > 1`` the ImageDataGenerator feed uses N worker processes
(``use_multiprocessing=True``: Keras forks them, which JAX warns about; it ran without a deadlock under
JAX on the CPU, and session.sh bounds the step's time in case it does hang); the fast feed needs none.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

PIPELINES = ("imagegenerator", "fast")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="data root holding fer2013/ (default: $FER_KERAS_DATA, ./data)")
    parser.add_argument("--experiment", choices=("fer4", "fer7"), default="fer4")
    parser.add_argument("--profile", choices=("smoke", "full"), default="full")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1337, 2024])
    parser.add_argument("--workers", type=int, default=16, help="worker processes of the ImageDataGenerator feed")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (GPU memory is shared)")
    parser.add_argument("--out", default=None, help="JSON output (default benchmarks/results/parity-<device>.json)")
    parser.add_argument("--one", nargs=2, metavar=("PIPELINE", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--row-out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_one(args: argparse.Namespace, pipeline: str, seed: int) -> dict[str, Any]:
    """Train and evaluate one (pipeline, seed) run with the experiment's steps; return its row."""
    from fer_keras import training
    from fer_keras.experiments import OutputPaths, build_model, evaluate, fit_model, prepare_data
    from fer_keras.profiles import get_settings

    workers = args.workers if pipeline == "imagegenerator" else 1
    settings = get_settings(
        args.experiment, args.profile, epochs=args.epochs, seed=seed, pipeline=pipeline, workers=workers
    )
    training.set_seed(seed)
    data = prepare_data(settings, args.data)
    if pipeline == "imagegenerator" and workers > 1:
        data.train.use_multiprocessing = True  # worker processes: ImageDataGenerator's decode + warp is CPU-bound
    model = build_model(settings, data)
    with tempfile.TemporaryDirectory() as tmp:
        result = fit_model(model, settings, data, OutputPaths(Path(tmp), args.experiment), verbose=2)
    metrics = evaluate(model, settings, data)
    val = result.history["val_accuracy"]
    return {
        "pipeline": pipeline,
        "seed": seed,
        "feed": type(data.train).__name__,
        "augment_on": data.augment_on,
        "workers": workers,
        "epochs_run": result.epochs_run,
        "val_accuracy_last": val[-1],
        "val_accuracy_last3_mean": statistics.fmean(val[-3:]),
        "val_accuracy_best": max(val),
        "best_epoch": result.best_epoch,
        "monitor": result.monitor,
        "test_accuracy": metrics["accuracy"],
        "test_macro_f1": metrics["macro_f1"],
        "train_time_s": result.train_time_s,
        "images_per_s": result.images_per_s,
        "dtype_policy": model.dtype_policy.name,
    }


def run_parallel(args: argparse.Namespace, argv: list[str]) -> list[dict[str, Any]]:
    """Run every (pipeline, seed) in its own process, ``args.jobs`` at a time; return the rows in order."""
    runs = [(pipeline, seed) for pipeline in PIPELINES for seed in args.seeds]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if args.jobs > 1:  # JAX takes 75 % of GPU memory per process by default; share it
        env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.9 / args.jobs:.2f}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        pending = list(runs)
        active: list[tuple[subprocess.Popen, Path, Any]] = []
        while pending or active:
            while pending and len(active) < args.jobs:
                pipeline, seed = pending.pop(0)
                row_path = Path(tmp) / f"{pipeline}-{seed}.json"
                log = open(Path(tmp) / f"{pipeline}-{seed}.log", "w")  # noqa: SIM115 - closed when the run ends
                command = [sys.executable, __file__, *argv, "--one", pipeline, str(seed), "--row-out", str(row_path)]
                active.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), row_path, log))
                print(f"started {pipeline} seed {seed}", flush=True)
            time.sleep(2)
            for entry in list(active):
                process, row_path, log = entry
                if process.poll() is None:
                    continue
                active.remove(entry)
                log.close()
                text = Path(log.name).read_text()
                epochs = [line for line in text.splitlines() if "val_accuracy:" in line]
                print(f"--- {row_path.stem} ended (exit {process.returncode}); last epoch: {(epochs or ['none'])[-1]}")
                if process.returncode != 0:
                    raise SystemExit(f"parity run {row_path.stem} failed (exit {process.returncode}):\n{text[-3000:]}")
                rows.append(json.loads(row_path.read_text()))
    order = {run: index for index, run in enumerate(runs)}
    return sorted(rows, key=lambda row: order[(row["pipeline"], row["seed"])])


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per pipeline: mean and spread (max - min) over seeds of the settled validation accuracy; their gap."""
    by_pipeline: dict[str, dict[str, float]] = {}
    for pipeline in PIPELINES:
        values = [row["val_accuracy_last3_mean"] for row in rows if row["pipeline"] == pipeline]
        if values:
            by_pipeline[pipeline] = {"mean": statistics.fmean(values), "seed_spread": max(values) - min(values)}
    out: dict[str, Any] = {"val_accuracy_last3_mean": by_pipeline}
    if len(by_pipeline) == 2:
        gap = by_pipeline["fast"]["mean"] - by_pipeline["imagegenerator"]["mean"]
        spread = max(p["seed_spread"] for p in by_pipeline.values())
        out.update(
            {
                "gap_fast_minus_idg": gap,
                "largest_seed_spread": spread,
                "verdict": "within the seed spread" if abs(gap) <= spread else "larger than the seed spread",
            }
        )
    return out


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (accuracies in %)."""
    lines = [
        "| feed | seed | val acc (last epoch) | val acc (mean of last 3) | best val acc | test acc | train s | img/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['pipeline']} ({r['feed']}, workers {r['workers']}) | {r['seed']} | {r['val_accuracy_last']:.2%} | "
            f"{r['val_accuracy_last3_mean']:.2%} | {r['val_accuracy_best']:.2%} | {r['test_accuracy']:.2%} | "
            f"{r['train_time_s']:.0f} | {r['images_per_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> Path | None:
    """Run the parity check (or, with the hidden ``--one``, a single run); write JSON + Markdown."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.one:
        row = run_one(args, args.one[0], int(args.one[1]))
        Path(args.row_out).write_text(json.dumps(row))
        return None
    from fer_keras.io import atomic_write_json, atomic_write_text
    from fer_keras.runinfo import collect_run_info

    start = time.perf_counter()
    info = collect_run_info()
    print(f"Device: {info['device']}, backend {info['backend']}", flush=True)
    if args.jobs > 1:
        rows = run_parallel(args, argv)
    else:
        rows = [run_one(args, pipeline, seed) for pipeline in PIPELINES for seed in args.seeds]
    result = {
        "run": info | {"command": "python benchmarks/parity_full.py " + " ".join(argv)},
        "settings": {k: v for k, v in vars(args).items() if k not in ("one", "row_out")},
        "wall_time_s": round(time.perf_counter() - start, 1),
        "rows": rows,
        "summary": summary(rows),
    }
    table = markdown_table(rows)
    print("\n" + table + "\n" + json.dumps(result["summary"], indent=2))
    slug = re.sub(r"[^a-z0-9]+", "-", f"{info['device']}-{info['backend']}".lower()).strip("-")
    out = Path(args.out or Path(__file__).resolve().parent / "results" / f"parity-{args.experiment}-{slug}.json")
    atomic_write_json(out, result)
    atomic_write_text(out.with_suffix(".md"), f"{info['device']}, {info['backend']}, {info['date']}\n\n{table}")
    print(f"Wrote {out} and {out.with_suffix('.md')} ({result['wall_time_s']:.0f} s)")
    return out


if __name__ == "__main__":
    main()
