"""Command line: ``python -m fer_keras train EXPERIMENT`` and ``python -m fer_keras evaluate MODEL``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from fer_keras.profiles import EXPERIMENTS, PROFILE_NAMES


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m fer_keras``."""
    parser = argparse.ArgumentParser(prog="python -m fer_keras", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train, evaluate and write metrics, figures and the model card")
    train.add_argument("experiment", choices=list(EXPERIMENTS))
    train.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        default="smoke",
        help="smoke: tiny, seconds on CPU (default); full: the published results",
    )
    train.add_argument("--data", help="folder holding fer2013/ and fashion-mnist/ (default: $FER_KERAS_DATA or ./data)")
    train.add_argument("--out", help="output base folder (default: . for full, runs/<profile> otherwise)")
    train.add_argument("--epochs", type=int, help="override the profile's epochs")
    train.add_argument("--seed", type=int, help="override the profile's seed")
    train.add_argument(
        "--deterministic",
        action="store_true",
        default=None,
        help="switch on the backend's deterministic ops (repeatable on GPUs, slower); with JAX it must come "
        "before JAX starts, or set XLA_FLAGS=--xla_gpu_deterministic_ops=true yourself",
    )
    train.add_argument("--pipeline", choices=["auto", "imagegenerator", "fast"], help="FER input pipeline")
    train.add_argument("--workers", type=int, help="parallel workers feeding batches")
    train.add_argument("--quiet", action="store_true", help="no Keras progress bars")

    evaluate = sub.add_parser("evaluate", help="evaluate a saved model on a folder of class sub-folders")
    evaluate.add_argument("model", help="a .keras file saved by `train`")
    evaluate.add_argument("--data", required=True, help="folder with one sub-folder of images per class")
    evaluate.add_argument("--classes", nargs="+", help="the model's class names in output order")
    evaluate.add_argument("--batch-size", type=int, default=64)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    from fer_keras.data.paths import DataError

    try:
        if args.command == "train":
            from fer_keras.experiments import run_experiment

            result = run_experiment(
                args.experiment,
                args.profile,
                data_dir=args.data,
                out_dir=args.out,
                verbose=0 if args.quiet else "auto",
                epochs=args.epochs,
                seed=args.seed,
                deterministic=args.deterministic,
                pipeline=args.pipeline,
                workers=args.workers,
            )
            m = result["metrics"]
            print(
                f"{args.experiment} ({args.profile}): test accuracy {m['accuracy']:.4f}, "
                f"macro-F1 {m['macro_f1']:.4f}, {result['run']['wall_time_s']:.0f} s"
            )
            print(
                json.dumps(
                    {
                        "accuracy": m["accuracy"],
                        "macro_f1": m["macro_f1"],
                        "card": result.get("card_path"),
                        "metrics": result.get("metrics_path"),
                    }
                )
            )
        else:
            from fer_keras.folder_eval import evaluate_folder

            metrics = evaluate_folder(args.model, args.data, args.classes, args.batch_size)
            metrics.pop("report_text", None)
            print(json.dumps(metrics, indent=2))
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
