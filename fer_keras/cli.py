"""Command line: ``fer-keras`` (or ``python -m fer_keras``) ``predict|serve|export|evaluate|train|tune|data ...``.

stdout carries only each command's result (the JSON of ``predict``, ``evaluate``, ``train`` and ``tune``, so
``| jq`` works; the report of ``data`` and ``results-table``); progress, Keras' messages and warnings go to
stderr, and TensorFlow's start-up log lines are dropped unless ``--verbose``.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

EXIT_CODES = """exit status:
  0  done
  1  the work failed (an unexpected error; `data check`: the data is broken)
  2  bad input or usage: a missing or unreadable file, a bad option (the message names it and the fix)"""

_RESULT: contextvars.ContextVar[TextIO | None] = contextvars.ContextVar("fer_keras_result_stream", default=None)


def print_result(text: str) -> None:
    """Write a command's result to stdout; everything else a command prints goes to stderr."""
    print(text, file=_RESULT.get() or sys.stdout, flush=True)


class _LazyChoices:
    """argparse ``choices`` read from :mod:`fer_keras.profiles` only when checked or shown, so that
    ``predict`` and ``--version`` do not import the training side (and TensorFlow with it)."""

    def __init__(self, read: Callable[[], Sequence[str]]) -> None:
        self._read = read

    def __contains__(self, value: object) -> bool:
        return value in self._read()

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __repr__(self) -> str:
        return repr(list(self._read()))


def _experiments() -> list[str]:
    from fer_keras.profiles import EXPERIMENTS

    return list(EXPERIMENTS)


def _profiles() -> list[str]:
    from fer_keras.profiles import PROFILE_NAMES

    return list(PROFILE_NAMES)


EXPERIMENTS, PROFILE_NAMES = _LazyChoices(_experiments), _LazyChoices(_profiles)


def _prog() -> str:
    """``fer-keras`` when run as the console script, else ``python -m fer_keras`` (the two behave the same)."""
    return "fer-keras" if os.path.basename(sys.argv[0]) == "fer-keras" else "python -m fer_keras"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fer-keras`` / ``python -m fer_keras``."""
    from fer_keras import __version__

    parser = argparse.ArgumentParser(
        prog=_prog(), description=__doc__, epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"fer_keras {__version__}")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's start-up log lines")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train, evaluate and write metrics, figures and the model card")
    train.add_argument("experiment", choices=EXPERIMENTS, metavar="EXPERIMENT", help="one of: %(choices)s")
    train.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        metavar="PROFILE",
        default="smoke",
        help="smoke: tiny, seconds on CPU (default); cpu: the published results, sized for a 2-core CPU; "
        "full: longer, for accelerators",
    )
    train.add_argument(
        "--data", help="folder holding fer2013/, fashion-mnist/, cifar10/ (default: $FER_KERAS_DATA or ./data)"
    )
    train.add_argument("--out", help="output base folder (default: . for cpu, full/ for full, runs/smoke for smoke)")
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
    train.add_argument(
        "--distribute",
        action="store_true",
        default=None,
        help="data-parallel over every visible device (JAX backend; README 'Scaling out')",
    )

    add_tune_parser(sub)

    evaluate = sub.add_parser("evaluate", help="evaluate a saved model on a folder of class sub-folders")
    evaluate.add_argument("model", help="a .keras file saved by `train`")
    evaluate.add_argument("--data", required=True, help="folder with one sub-folder of images per class")
    evaluate.add_argument("--classes", nargs="+", help="the model's class names in output order")
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument(
        "--allow-missing-classes",
        action="store_true",
        help="score only the classes that have images in --data (default: a class without a folder is an error)",
    )
    _add_data_parser(sub)
    table = sub.add_parser("results-table", help="README's results table from metrics/*.json (printed, or --write)")
    table.add_argument("--root", default=".", help="folder holding metrics/ and figures/ (default .)")
    table.add_argument("--write", metavar="README", help="replace the table block of this README file")
    add_predict_commands(sub)
    _add_export_parser(sub)
    for command in sub.choices.values():  # --verbose after the command too; exit codes in every --help
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        command.epilog, command.formatter_class = EXIT_CODES, argparse.RawDescriptionHelpFormatter
    return parser


def _add_data_parser(sub: argparse._SubParsersAction) -> None:
    """``data import-csv``, ``data import-cifar10`` and ``data check``."""
    data = sub.add_parser(
        "data", help="get the data ready: import the FER-2013 CSV or the CIFAR-10 archive, check a data root"
    )
    commands = data.add_subparsers(dest="data_command", required=True)
    import_csv = commands.add_parser(
        "import-csv",
        help="convert fer2013.csv / icml_face_data.csv into fer2013/{train,test,privatetest}/<emotion>/*.png",
        description="Convert the FER-2013 CSV (columns emotion, pixels, Usage) into the folder layout the "
        "experiments read: Training -> fer2013/train/, PublicTest -> fer2013/test/, PrivateTest -> "
        "fer2013/privatetest/; emotion 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral. One "
        "lossless PNG per row (pixels exactly as in the CSV). A bad row stops the import with its line number "
        "and leaves nothing behind.",
    )
    import_csv.add_argument("csv", help="fer2013.csv or icml_face_data.csv")
    import_csv.add_argument("--out", help="data root to create fer2013/ in (default: $FER_KERAS_DATA or ./data)")
    import_csv.add_argument("--quiet", action="store_true", help="no progress bar")
    import_cifar = commands.add_parser(
        "import-cifar10",
        help="convert cifar-10-python.tar.gz into cifar10/{train,test}/<class>/*.png (lossless)",
        description="Convert the original CIFAR-10 archive (the Python version, cifar-10-python.tar.gz: five "
        "training batches and test_batch) into the folder layout the cifar10 experiment reads: one lossless PNG "
        "per image in cifar10/{train,test}/<class>/. A wrong or truncated archive stops the import and leaves "
        "nothing behind; an existing cifar10/ is never overwritten.",
    )
    import_cifar.add_argument("archive", help="cifar-10-python.tar.gz")
    import_cifar.add_argument("--out", help="data root to create cifar10/ in (default: $FER_KERAS_DATA or ./data)")
    import_cifar.add_argument("--quiet", action="store_true", help="no progress bar")
    check = commands.add_parser(
        "check",
        help="counts vs the published FER-2013 / Fashion-MNIST / CIFAR-10 sizes, undecodable files, duplicates",
        description="Check a data root; exit status 1 when something the experiments need is missing or broken.",
    )
    check.add_argument("root", nargs="?", help="data root holding fer2013/ (default: $FER_KERAS_DATA or ./data)")


def _run_data(args: argparse.Namespace) -> int:
    """Run ``data import-csv`` / ``data import-cifar10`` / ``data check``; returns the exit status."""
    from fer_keras.data.check import check_data, format_check, format_count_table

    if args.data_command == "import-csv":
        from fer_keras.data.fer_csv import import_fer_csv
        from fer_keras.data.paths import DATA_ENV_VAR

        out = args.out or os.environ.get(DATA_ENV_VAR) or "data"
        result = import_fer_csv(args.csv, out, progress=not args.quiet)
        print_result(f"Imported {result.rows} images (lossless PNG) into {result.fer_dir}:")
        print_result(format_count_table(result.counts))
        root = result.fer_dir.parent
        print_result(f"Next: python -m fer_keras data check {root}")
        print_result(f"The experiments read it with --data {root} or {DATA_ENV_VAR}={root} (`make run` finds ./data).")
        return 0
    if args.data_command == "import-cifar10":
        from fer_keras.data.cifar_import import import_cifar10_archive
        from fer_keras.data.paths import DATA_ENV_VAR

        out = args.out or os.environ.get(DATA_ENV_VAR) or "data"
        result = import_cifar10_archive(args.archive, out, progress=not args.quiet)
        print_result(f"Imported {result.images:,} images (lossless PNG) into {result.cifar_dir}:")
        for split, per_class in result.counts.items():
            counts = ", ".join(f"{k} {v}" for k, v in per_class.items())
            print_result(f"  {split}: {sum(per_class.values()):,} ({counts})")
        root = result.cifar_dir.parent
        print_result(f"Next: python -m fer_keras data check {root}; the experiment reads it with --data {root}.")
        return 0
    report = check_data(args.root)
    print_result(format_check(report))
    return 0 if report.ok else 1


def add_tune_parser(sub: argparse._SubParsersAction) -> None:
    """``tune fashion_mlp --chief|--worker N``: keras-tuner's distributed search (README 'Scaling out')."""
    tune = sub.add_parser(
        "tune",
        help="distributed keras-tuner search: one --chief (oracle, then retrains the best and writes the card) "
        "and --worker N processes running the trials",
    )
    tune.add_argument("experiment", choices=["fashion_mlp"])
    role = tune.add_mutually_exclusive_group(required=True)
    role.add_argument("--chief", action="store_true", help="serve the oracle, then retrain the best and record it")
    role.add_argument("--worker", type=int, metavar="N", help="run trials as keras-tuner's tuner<N>")
    tune.add_argument(
        "--oracle",
        default=None,
        metavar="HOST:PORT",
        help="chief: address to listen on (0.0.0.0:PORT for other machines); worker: the chief's address "
        "(default: $KERASTUNER_ORACLE_IP:$KERASTUNER_ORACLE_PORT)",
    )
    tune.add_argument("--profile", choices=PROFILE_NAMES, metavar="PROFILE", default="smoke", help="%(choices)s")
    tune.add_argument("--data", help="folder holding fashion-mnist/ (default: $FER_KERAS_DATA or ./data)")
    tune.add_argument("--out", help="output base folder (default: . for cpu, full/ for full, runs/smoke for smoke)")
    tune.add_argument("--max-trials", type=int, help="chief: override the profile's trial budget")
    tune.add_argument("--tuner-epochs", type=int, help="worker: override the profile's epochs per trial")
    tune.add_argument("--epochs", type=int, help="chief: override the epochs of the final retraining")
    tune.add_argument("--quiet", action="store_true", help="no Keras progress bars")


def run_tune(args: argparse.Namespace) -> int:
    """Run the ``tune`` sub-command as chief or worker; returns the exit status."""
    import os

    from fer_keras import tuning

    oracle = args.oracle
    if oracle is None:
        ip, port = os.environ.get("KERASTUNER_ORACLE_IP"), os.environ.get("KERASTUNER_ORACLE_PORT")
        if not (ip and port):
            print(
                "error: give the oracle's address: --oracle HOST:PORT (or set KERASTUNER_ORACLE_IP and "
                "KERASTUNER_ORACLE_PORT)",
                file=sys.stderr,
            )
            return 2
        oracle = f"{ip}:{port}"
    try:
        tuning.parse_address(oracle)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    common = {"data_dir": args.data, "out_dir": args.out, "verbose": 0 if args.quiet else "auto"}
    if args.chief:
        result = tuning.run_chief(oracle, args.profile, max_trials=args.max_trials, epochs=args.epochs, **common)
        m, dist = result["metrics"], result["tuning"]["distributed"]
        print(
            f"fashion_mlp ({args.profile}): trials per worker {dist['trials_per_tuner']}, test accuracy "
            f"{m['accuracy']:.4f}"
        )
        print_result(
            json.dumps(
                {
                    "accuracy": m["accuracy"],
                    "trials_per_tuner": dist["trials_per_tuner"],
                    "card": result["card_path"],
                    "metrics": result["metrics_path"],
                }
            )
        )
    else:
        done = tuning.run_worker(args.worker, oracle, args.profile, tuner_epochs=args.tuner_epochs, **common)
        print_result(json.dumps(done))
    return 0


def add_predict_commands(sub: argparse._SubParsersAction) -> None:
    """The ``predict`` and ``serve`` sub-commands (a trained model on ordinary photos)."""
    predict = sub.add_parser(
        "predict",
        help="find the faces in photos (or in a video) and print their predicted expression as JSON",
        description="Photos: print [{image, faces}] as JSON. A video (recognised by its content or extension): "
        "write into --out the per-frame CSV, an emotion timeline figure and an annotated video, and print a "
        "JSON summary.",
    )
    predict.add_argument(
        "paths",
        nargs="+",
        metavar="[MODEL] IMAGE_OR_VIDEO",
        help="a .keras file saved by `train` or a .onnx/.tflite file written by `export` (its .classes.json beside "
        "it), or a published model's name (fer7, fer4, cifar10 with --no-detect; default: fer7, shipped in the "
        "package), then photo files (PNG, JPEG, ...) or one video file",
    )
    predict.add_argument("--no-detect", action="store_true", help="classify each whole image (frame) as one face")
    predict.add_argument("--annotate", metavar="DIR", help="also write each image with boxes and labels to DIR")
    add_detector_options(predict)
    video = predict.add_argument_group("video")
    video.add_argument("--out", metavar="DIR", help="folder for a video's outputs (default ./<video name>_emotions)")
    video.add_argument("--every", type=_positive_int, default=1, metavar="N", help="analyse every N-th frame")
    video.add_argument("--max-frames", type=_positive_int, metavar="N", help="stop after N analysed frames")
    video.add_argument("--quiet", action="store_true", help="no progress bar")

    serve = sub.add_parser("serve", help="serve the model over HTTP: /health, /predict, a demo page at /")
    serve.add_argument(
        "model",
        nargs="?",
        help="a .keras file saved by `train` (its .classes.json beside it), or a published model's name "
        "(fer7, the default; fer4)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--max-upload-mb", type=float, default=10.0, help="largest accepted upload (default 10)")
    add_detector_options(serve)
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def add_detector_options(parser: argparse.ArgumentParser) -> None:
    """The face detector, its settings, alignment and the inference runtime (``predict`` and ``serve``)."""
    from fer_keras.predict.runtimes import RUNTIME_CHOICES

    group = parser.add_argument_group("faces and runtime")
    group.add_argument(
        "--detector",
        choices=["yunet", "haar"],
        default="yunet",
        help="face detector (default yunet; haar: OpenCV's Haar cascade, no landmarks)",
    )
    group.add_argument(
        "--min-face",
        type=_positive_int,
        metavar="PX",
        help="smallest face kept, in pixels (default: yunet 20, haar 48)",
    )
    group.add_argument(
        "--score-threshold", type=float, metavar="S", help="yunet: smallest face score kept (default 0.8)"
    )
    group.add_argument(
        "--nms-threshold", type=float, metavar="IOU", help="yunet: overlap that merges boxes (default 0.3)"
    )
    group.add_argument(
        "--no-align",
        action="store_true",
        help="cut faces by their box instead of turning them upright by their landmarks",
    )
    group.add_argument(
        "--runtime",
        choices=RUNTIME_CHOICES,
        default="auto",
        help="auto (default): the exported <model>.onnx beside a .keras model when there is one, else Keras; "
        "keras, onnx or litert to choose",
    )


def detector_from_args(args: argparse.Namespace):
    """The detector that ``--detector``, ``--min-face``, ``--score-threshold`` and ``--nms-threshold`` ask for."""
    from fer_keras.errors import DataError
    from fer_keras.predict.detectors import get_detector

    settings = {"min_size": args.min_face, "score_threshold": args.score_threshold, "nms_threshold": args.nms_threshold}
    settings = {key: value for key, value in settings.items() if value is not None}
    if args.detector == "haar" and set(settings) - {"min_size"}:
        raise DataError("--score-threshold and --nms-threshold are YuNet settings: drop them with --detector haar.")
    try:
        return get_detector(args.detector, **settings)
    except ValueError as err:
        raise DataError(str(err)) from err


def _add_export_parser(sub: argparse._SubParsersAction) -> None:
    """``export MODEL --format onnx|litert``."""
    export = sub.add_parser(
        "export",
        help="export a .keras model for inference (ONNX Runtime or LiteRT), after a parity check on labelled images",
        description="Write <model>.onnx (or .tflite) with its .classes.json beside it, through Keras' model.export,\n"
        "only when, on the labelled images of --data, the exported file's top-1 answer agrees with the Keras\n"
        "model's on >= 99.9 % of them and its accuracy is within 0.1 point.",
    )
    export.add_argument("model", help="a .keras file saved by `train`")
    export.add_argument("--format", choices=["onnx", "litert"], default="onnx", help="default onnx")
    export.add_argument(
        "--data", help="folder with one sub-folder of images per class (default: $FER_KERAS_DATA/fer2013/test)"
    )
    export.add_argument("--out", help="the file to write (default: beside the model, .onnx or .tflite)")
    export.add_argument("--report", metavar="JSON", help="also write the parity report here")


def _run_export(args: argparse.Namespace) -> int:
    """``export``: print the parity report as JSON; the file is written only when it passes."""
    from fer_keras.data.paths import DATA_ENV_VAR, DataError
    from fer_keras.saving.convert import export_model

    data = args.data or (os.environ.get(DATA_ENV_VAR) and os.path.join(os.environ[DATA_ENV_VAR], "fer2013", "test"))
    if not data:
        raise DataError(
            f"Give labelled images for the parity check: --data DIR (class sub-folders), or set {DATA_ENV_VAR}."
        )
    result = export_model(args.model, args.format, data, out=args.out, report=args.report)
    print(f"wrote {result['file']} ({result['bytes']} bytes)", file=sys.stderr)
    print_result(json.dumps(result, indent=2))
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def split_model_and_images(paths: Sequence[str]) -> tuple[str, list[str]]:
    """``predict``'s paths as (model, images): a first path ending in ``.keras`` (``.onnx``, ``.tflite``) or
    naming a published model (``fer7``, ``fer4``, ``cifar10``; not an existing file) is the model, else
    :func:`fer_keras.predict.published_model`."""
    from pathlib import Path

    from fer_keras.errors import DataError
    from fer_keras.predict import published_model
    from fer_keras.presets import PRESETS

    first = paths[0]
    is_model = first.lower().endswith((".keras", ".onnx", ".tflite")) or (first in PRESETS and not Path(first).exists())
    model, images = (paths[0], list(paths[1:])) if is_model else (None, list(paths))
    if not images:
        raise DataError(f"No image or video given after the model {paths[0]}: name the files to analyse.")
    return model or str(published_model()), images


def run_predict(args: argparse.Namespace) -> int:
    """``predict``: print ``[{"image": PATH, "faces": [...]}, ...]``, or a video's summary after writing its outputs."""
    from pathlib import Path

    from fer_keras.errors import DataError
    from fer_keras.predict import Predictor
    from fer_keras.predict.annotate import save_annotated
    from fer_keras.predict.video import VideoReader, is_video

    model, images = split_model_and_images(args.paths)
    missing = [p for p in images if not Path(p).is_file()]
    if missing:
        raise DataError(f"Image file(s) not found: {', '.join(missing)}. Check the paths.")
    videos = [p for p in images if is_video(p)]
    if videos and len(images) > 1:
        raise DataError(f"{videos[0]} is a video: give one video per `predict` call (photos in a call of their own).")
    if videos:
        VideoReader(videos[0]).close()  # a bad video is reported before the model loads
    predictor = Predictor.from_file(
        model, runtime=args.runtime, detector=detector_from_args(args), align=not args.no_align
    )
    if videos:
        return _predict_video(predictor, videos[0], args)
    results = []
    for path in images:
        img, faces = predictor.analyse(path, detect=not args.no_detect)
        results.append({"image": path, "faces": faces})
        if args.annotate:
            out = save_annotated(img, faces, Path(args.annotate) / f"{Path(path).stem}_annotated.png")
            print(f"wrote {out}", file=sys.stderr)
    print_result(json.dumps(results, indent=2))
    return 0


def _predict_video(predictor, path: str, args: argparse.Namespace) -> int:
    """Write the video's CSV, timeline and annotated video into ``--out``; print the summary as JSON."""
    from pathlib import Path

    from fer_keras.predict.video_report import video_report

    out = args.out or args.annotate or f"{Path(path).stem}_emotions"
    summary = video_report(
        predictor,
        path,
        out,
        every=args.every,
        max_frames=args.max_frames,
        detect=not args.no_detect,
        progress=False if args.quiet else None,
    )
    for key, written in summary["outputs"].items():
        print(f"wrote {written} ({key})", file=sys.stderr)
    if "message" in summary:
        print(summary["message"], file=sys.stderr)
    print_result(json.dumps(summary, indent=2))
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """``serve``: load the model once, then answer HTTP until interrupted."""
    from fer_keras.errors import DataError
    from fer_keras.predict import published_model
    from fer_keras.predict.service import run_server

    if args.max_upload_mb <= 0:
        raise DataError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    run_server(
        args.model or published_model(),
        host=args.host,
        port=args.port,
        max_upload_mb=args.max_upload_mb,
        detector=detector_from_args(args),
        runtime=args.runtime,
        align=not args.no_align,
        log_level=args.log_level,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 1 the work failed, 2 bad input or usage).

    Run as a program (``argv`` None), TensorFlow's start-up log lines are dropped from stderr unless
    ``--verbose``; called with ``argv`` (tests, scripts) the process' stderr is left alone.
    """
    quiet = argv is None and "--verbose" not in sys.argv[1:]
    if quiet:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: no INFO/WARNING logs
    with StartupLogFilter() if quiet else contextlib.nullcontext():  # `train --help` imports TensorFlow too
        args = build_parser().parse_args(argv)
        token = _RESULT.set(sys.stdout)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return run_command(args)
        finally:
            _RESULT.reset(token)


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command; results go through :func:`print_result`, the rest to stdout (made stderr by main)."""
    from fer_keras.errors import FerKerasError

    try:
        if args.command == "data":
            return _run_data(args)
        if args.command == "tune":
            return run_tune(args)
        if args.command == "results-table":
            from fer_keras.results_table import results_table, write_results_table

            if args.write:
                changed = write_results_table(args.write, args.root)
                print_result(f"{args.write}: results table {'updated' if changed else 'already up to date'}")
            else:
                print_result(results_table(args.root))
            return 0
        if args.command == "export":
            return _run_export(args)
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
                deterministic=args.deterministic,
                pipeline=args.pipeline,
                workers=args.workers,
                distribute=args.distribute,
            )
            m = result["metrics"]
            print(
                f"{args.experiment} ({args.profile}): test accuracy {m['accuracy']:.4f}, "
                f"macro-F1 {m['macro_f1']:.4f}, {result['run']['wall_time_s']:.0f} s"
            )
            print_result(
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

            metrics = evaluate_folder(
                args.model, args.data, args.classes, args.batch_size, allow_missing_classes=args.allow_missing_classes
            )
            metrics.pop("report_text", None)
            print_result(json.dumps(metrics, indent=2))
    except Exception as exc:
        distribute = sys.modules.get("fer_keras.distribute")  # imported only by the commands that train
        if not isinstance(exc, FerKerasError) and not (distribute and isinstance(exc, distribute.DistributionError)):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


_STARTUP_LOG = re.compile(
    rb"\r?(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] "  # absl/glog lines of TensorFlow's C++ runtime
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|This TensorFlow binary is optimized"
    rb"|To enable the following instructions: )"
)
"""The beginnings of TensorFlow's start-up log lines (oneDNN, CPU features, absl), some printed before
``TF_CPP_MIN_LOG_LEVEL`` is read and so not silenced by it."""
_DECIDE_AFTER = 64  # bytes of a line that tell whether it is one of them


class StartupLogFilter:
    """Within ``with``: file descriptor 2 (stderr, C++ code's too) forwarded to the real stderr through a
    pipe, less the lines :data:`_STARTUP_LOG` matches. Partial lines (progress bars) pass at once."""

    def __enter__(self) -> StartupLogFilter:
        sys.stderr.flush()
        self._stderr = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self._pump = threading.Thread(target=self._forward, args=(read,), name="stderr-filter", daemon=True)
        self._pump.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        sys.stderr.flush()
        os.dup2(self._stderr, 2)  # closes the pipe's last write end: the pump reads EOF and ends
        self._pump.join(timeout=5)
        os.close(self._stderr)

    def _forward(self, read: int) -> None:
        pending, mode = b"", "decide"  # each line: decided on its first bytes, then passed or dropped whole
        with os.fdopen(read, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                pending += chunk
                while pending:
                    end = pending.find(b"\n") + 1
                    if mode == "decide":
                        if not (end or len(pending) >= _DECIDE_AFTER or pending.startswith(b"\r")):
                            break  # too short to tell yet
                        mode = "drop" if _STARTUP_LOG.match(pending) else "pass"
                    line, pending = (pending[:end], pending[end:]) if end else (pending, b"")
                    if mode == "pass":
                        os.write(self._stderr, line)
                    if end:
                        mode = "decide"
            if pending and mode != "drop" and not _STARTUP_LOG.match(pending):
                os.write(self._stderr, pending)
