"""Command line: ``python -m fer_keras train|evaluate|predict|serve ...`` (see ``--help`` of each)."""

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
    train.add_argument("--pipeline", choices=["auto", "imagegenerator", "fast"], help="FER input pipeline")
    train.add_argument("--workers", type=int, help="parallel workers feeding batches")
    train.add_argument("--quiet", action="store_true", help="no Keras progress bars")

    evaluate = sub.add_parser("evaluate", help="evaluate a saved model on a folder of class sub-folders")
    evaluate.add_argument("model", help="a .keras file saved by `train`")
    evaluate.add_argument("--data", required=True, help="folder with one sub-folder of images per class")
    evaluate.add_argument("--classes", nargs="+", help="the model's class names in output order")
    evaluate.add_argument("--batch-size", type=int, default=64)
    add_predict_commands(sub)
    return parser


def add_predict_commands(sub: argparse._SubParsersAction) -> None:
    """The ``predict`` and ``serve`` sub-commands (a trained model on ordinary photos)."""
    predict = sub.add_parser("predict", help="find the faces in photos and print their predicted expression as JSON")
    predict.add_argument("model", help="a .keras file saved by `train` (its .classes.json must be beside it)")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="photo files (PNG, JPEG, ...)")
    predict.add_argument("--no-detect", action="store_true", help="classify each whole image as one face")
    predict.add_argument("--annotate", metavar="DIR", help="also write each image with boxes and labels to DIR")
    min_face = {"type": _positive_int, "default": 48, "metavar": "PX", "help": "smallest face searched (default 48)"}
    predict.add_argument("--min-face", **min_face)

    serve = sub.add_parser("serve", help="serve the model over HTTP: /health, /predict, a demo page at /")
    serve.add_argument("model", help="a .keras file saved by `train` (its .classes.json must be beside it)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--max-upload-mb", type=float, default=10.0, help="largest accepted upload (default 10)")
    serve.add_argument("--min-face", **min_face)
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of pixels, got {text}")
    return value


def run_predict(args: argparse.Namespace) -> int:
    """``predict``: print ``[{"image": PATH, "faces": [...]}, ...]``; optionally write annotated copies."""
    from pathlib import Path

    from fer_keras.data.paths import DataError
    from fer_keras.predict import FaceDetector, Predictor
    from fer_keras.predict.annotate import save_annotated

    missing = [p for p in args.images if not Path(p).is_file()]
    if missing:
        raise DataError(f"Image file(s) not found: {', '.join(missing)}. Check the paths.")
    predictor = Predictor.from_file(args.model, detector=FaceDetector(min_size=args.min_face))
    results = []
    for path in args.images:
        img, faces = predictor.analyse(path, detect=not args.no_detect)
        results.append({"image": path, "faces": faces})
        if args.annotate:
            out = save_annotated(img, faces, Path(args.annotate) / f"{Path(path).stem}_annotated.png")
            print(f"wrote {out}", file=sys.stderr)
    print(json.dumps(results, indent=2))
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """``serve``: load the model once, then answer HTTP until interrupted."""
    from fer_keras.data.paths import DataError
    from fer_keras.predict.service import run_server

    if args.max_upload_mb <= 0:
        raise DataError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    run_server(
        args.model,
        host=args.host,
        port=args.port,
        max_upload_mb=args.max_upload_mb,
        min_face=args.min_face,
        log_level=args.log_level,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    from fer_keras.data.paths import DataError

    try:
        if args.command in ("predict", "serve"):
            return run_predict(args) if args.command == "predict" else run_serve(args)
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
