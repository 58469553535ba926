"""Compare training recipes on the VALIDATION split, before spending hours on one.

Each candidate is a named set of overrides of a profile's settings (``fer_keras.profiles``): it is
trained from the same seed for ``--epochs`` epochs (its cosine schedule spans exactly those epochs,
as in a real run of that length), and its validation accuracy and macro-F1 are recorded per epoch.
The test split is never read. One process per candidate (``--jobs`` at a time); results go to
``benchmarks/results/recipes-<experiment>-<device>-<backend>.{json,md}``.

    python benchmarks/recipes.py fer4 --profile cpu --epochs 3                 # on the CPU: first epochs
    KERAS_BACKEND=jax python benchmarks/recipes.py fer7 --profile cpu --jobs 3  # on a GPU: whole budget
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CANDIDATES: dict[str, dict[str, Any]] = {
    # the recipe of the 14-epoch run: Adam, label smoothing, sqrt class weights (fer7), the builder's dropout
    "adam": {"conv_dropout": 0.25, "dense_dropout": 0.5},
    "adam-less-dropout": {"conv_dropout": 0.1, "dense_dropout": 0.3},
    "adam-no-smoothing": {"label_smoothing": 0.0},
    "adam-lr2e-3": {"learning_rate": 2e-3},
    "adam-batch64": {"batch_size": 64},
    "sgd-0.01": {"optimizer": "sgd", "learning_rate": 0.01},
    "sgd-0.05": {"optimizer": "sgd", "learning_rate": 0.05},  # the old full recipe
    "adam-less-dropout-lr2e-3": {"conv_dropout": 0.1, "dense_dropout": 0.3, "learning_rate": 2e-3},
    "adam-less-dropout-seed2024": {"conv_dropout": 0.1, "dense_dropout": 0.3, "seed": 2024},  # seed-to-seed noise
    "adam-dropout-0.05-0.2": {"conv_dropout": 0.05, "dense_dropout": 0.2},
    "adam-less-dropout-batch64": {"conv_dropout": 0.1, "dense_dropout": 0.3, "batch_size": 64},
    "adam-less-dropout-no-weights": {"conv_dropout": 0.1, "dense_dropout": 0.3, "class_weight": ""},
    # the profile as it is, and the same in float32: does bf16 learn as float32 does (and how much faster)?
    "profile": {},
    "profile-float32": {"mixed_precision": False},
    # CIFAR-10 (short one-cycle runs: a 1-epoch warm-up, then the cosine decay over the remaining epochs)
    "cifar-sgd-0.2": {"warmup_epochs": 1},
    "cifar-sgd-0.4": {"warmup_epochs": 1, "learning_rate": 0.4},
    "cifar-sgd-0.1": {"warmup_epochs": 1, "learning_rate": 0.1},
    "cifar-sgd-0.2-smoothing-0.1": {"warmup_epochs": 1, "label_smoothing": 0.1},
    "cifar-sgd-0.2-width-0.75": {"warmup_epochs": 1, "width": 0.75},
    "cifar-adam-2e-3": {"warmup_epochs": 1, "optimizer": "adam", "learning_rate": 2e-3, "weight_decay": 5e-4},
    "cifar-sgd-0.2-cutout-8": {
        "warmup_epochs": 1,
        "augmentation": {"crop_padding": 4, "horizontal_flip": True, "cutout": 8},
    },
}


def run_candidate(
    experiment: str, profile: str, name: str, epochs: int, data_dir: str | None, train_fraction: float = 1.0
) -> dict:
    """Train one candidate and return its per-epoch validation history (in this process)."""
    from fer_keras import training
    from fer_keras.experiments import OutputPaths, build_model, dtype_policy_for, fit_model, prepare_data
    from fer_keras.profiles import get_settings

    overrides = CANDIDATES[name]
    settings = get_settings(experiment, profile, epochs=epochs, train_fraction=train_fraction, **overrides)
    training.set_seed(settings.seed)
    data = prepare_data(settings, data_dir)
    training.set_seed(settings.seed)
    model = build_model(settings, data)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = fit_model(model, settings, data, OutputPaths(Path(tmp), experiment), verbose=2)
        wall = time.perf_counter() - start
    history = result.history
    f1 = history["val_macro_f1"]
    return {
        "candidate": name,
        "overrides": overrides,
        "epochs": epochs,
        "epochs_run": result.epochs_run,
        "policy": dtype_policy_for(settings),
        "feed": type(data.train).__name__,
        "train_images": int(sum(data.counts["train"].values())),
        "images_per_s": result.images_per_s,
        "wall_s": round(wall, 1),
        "val_accuracy": [round(v, 4) for v in history.get("val_accuracy", [])],
        "val_macro_f1": [round(v, 4) for v in history.get("val_macro_f1", [])],
        "accuracy": [round(v, 4) for v in history.get("accuracy", [])],
        # by validation macro-F1 whatever the run monitored (FER monitors it; CIFAR-10 monitors accuracy)
        "best_epoch": 1 + max(range(len(f1)), key=f1.__getitem__),
        "best_val_macro_f1": max(f1),
        "monitor": result.monitor,
        "loss": [round(v, 4) for v in history.get("loss", [])],
        "val_loss": [round(v, 4) for v in history.get("val_loss", [])],
        "settings": settings.as_dict(),
    }


def markdown(rows: list[dict], header: str) -> str:
    """A table: one row per candidate, best validation macro-F1 first (runs of <= 6 epochs: every epoch too)."""
    short = all(len(r.get("val_accuracy", [])) <= 6 for r in rows)
    lines = [
        header,
        "",
        "| candidate | overrides | epochs | best val macro-F1 (epoch) | val accuracy there | last val acc | "
        "last train acc | images/s |" + (" val accuracy by epoch |" if short else ""),
        "|---|---|---:|---:|---:|---:|---:|---:|" + ("---|" if short else ""),
    ]
    for r in sorted(rows, key=lambda r: -(r.get("best_val_macro_f1") or 0)):
        if "error" in r:
            lines.append(f"| {r['candidate']} | failed: {r['error']} | | | | | | |")
            continue
        best = r["best_epoch"] - 1
        lines.append(
            f"| {r['candidate']} | `{json.dumps(r['overrides'])}` | {r['epochs_run']} | "
            f"{r['best_val_macro_f1']:.4f} ({r['best_epoch']}) | {r['val_accuracy'][best]:.4f} | "
            f"{r['val_accuracy'][-1]:.4f} | {r['accuracy'][-1]:.4f} | {r['images_per_s']:.0f} |"
            + (f" {', '.join(f'{v:.4f}' for v in r['val_accuracy'])} |" if short else "")
        )
    return "\n".join(lines) + "\n"


def write_results(out: Path, args: argparse.Namespace, epochs: int, info: dict, rows: list[dict], wall: float) -> None:
    """``out`` (JSON) and the ``.md`` table beside it, for the candidates finished so far."""
    share = f" on {args.train_fraction:.0%} of train" if args.train_fraction < 1 else ""
    header = (
        f"Recipes for `{args.experiment}` ({args.profile} profile overrides), {epochs} epochs each{share}, "
        f"validation split only. Device: {info['device']}; Keras {info['keras_version']} on {info['backend']} "
        f"{info['backend_version']}; {info['date']}; {args.jobs} at a time; {wall:.0f} s in all."
    )
    result = {"experiment": args.experiment, "profile": args.profile, "epochs": epochs, "run": info, "rows": rows}
    result["train_fraction"] = args.train_fraction
    out.write_text(json.dumps(result, indent=1))
    out.with_suffix(".md").write_text(markdown(rows, header))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=("fer4", "fer7", "fashion_cnn", "cifar10"))
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--epochs", type=int, default=None, help="default: the profile's epochs")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated names")
    parser.add_argument("--train-fraction", type=float, default=1.0, help="a stratified share of train (FER, CIFAR)")
    parser.add_argument("--jobs", type=int, default=1, help="candidates trained at once (one process each)")
    parser.add_argument("--data", default=None, help="data root (default: $FER_KERAS_DATA, else ./data)")
    parser.add_argument("--out", default=None, help="JSON path (default: benchmarks/results/recipes-...)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child mode: train this candidate
    parser.add_argument("--row-out", default=None, help=argparse.SUPPRESS)  # child mode: where its row goes
    args = parser.parse_args(argv)

    from fer_keras.profiles import get_settings

    epochs = args.epochs or get_settings(args.experiment, args.profile).epochs
    if args.one:
        row = run_candidate(args.experiment, args.profile, args.one, epochs, args.data, args.train_fraction)
        Path(args.row_out).write_text(json.dumps(row))
        return 0

    from fer_keras.runinfo import collect_run_info

    names = [n for n in args.candidates.split(",") if n]
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidate(s) {unknown}; choose from {list(CANDIDATES)}")
    info = collect_run_info()
    slug = "-".join("".join(c if c.isalnum() else " " for c in info["device"].lower()).split())
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"recipes-{args.experiment}-{slug}-{info['backend']}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    logs = out.with_suffix("")
    logs.mkdir(exist_ok=True)
    start = time.perf_counter()
    pending, running, rows = list(names), {}, []
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            cmd = [sys.executable, __file__, args.experiment, "--profile", args.profile, "--epochs", str(epochs)]
            cmd += ["--one", name, "--row-out", str(logs / f"{name}.json")]
            cmd += ["--train-fraction", str(args.train_fraction)]
            cmd += ["--data", args.data] if args.data else []
            log = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed when the process ends
            # stdout to a file, not a pipe: Keras' per-epoch lines must never fill a pipe nobody reads yet
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=os.environ)
            running[name] = (proc, log)
            print(f"[{time.perf_counter() - start:6.0f} s] started {name}", flush=True)
        for name, (proc, log) in list(running.items()):
            if proc.poll() is None:
                continue
            log.close()
            del running[name]
            try:
                rows.append(json.loads((logs / f"{name}.json").read_text()))
                r = rows[-1]
                print(
                    f"[{time.perf_counter() - start:6.0f} s] {name}: best val macro-F1 {r['best_val_macro_f1']:.4f} "
                    f"(epoch {r['best_epoch']}), val acc {r['val_accuracy']}",
                    flush=True,
                )
            except (OSError, json.JSONDecodeError):
                rows.append({"candidate": name, "error": f"exit {proc.returncode}, see {logs.name}/{name}.log"})
                print(f"{name} failed (exit {proc.returncode})", flush=True)
            write_results(out, args, epochs, info, rows, time.perf_counter() - start)  # each as it ends
        time.sleep(1)
    print(out.with_suffix(".md").read_text())
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
