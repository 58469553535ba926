"""Publish recorded runs as the package's models (the ``compact:<name>`` step of results.sh and session.sh).

For each experiment, a preset of :mod:`fer_keras.presets`: :func:`fer_keras.export.publish_model` writes
``fer_keras/assets/<exp>.keras`` (``<base>/models/`` for another base such as ``full``; float16 kernels,
no augmentation layers, <= 16 MiB), ``.classes.json`` and their SHA-256 in ``SHA256SUMS``, compares its
predictions on the whole test split with the trained model's (on this machine's device), and re-writes
the run's metrics JSON and card so that the card's snippet loads the published file. ``--from DIR``
publishes ``DIR/<exp>.keras`` (an earlier published copy) instead of the trained model. With
``--cpu-check`` it then scores the published file on the CPU (a fresh process with ``JAX_PLATFORMS=cpu``)
against the card's accuracy, as tests/test_published_models.py does on the CPU machine. Usage::

    python tools/accelerator/publish.py --base . --data data fer4 fer7 cifar10 [--cpu-check] [--from models]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's fer_keras

from fer_keras.export import PUBLISHED_MODELS_DIR, publish_model, test_feed  # noqa: E402
from fer_keras.presets import PRESETS  # noqa: E402

CPU_CHECK = """
import json, sys
from fer_keras.export import check_published_model
print(json.dumps(check_published_model(sys.argv[1], sys.argv[2], sys.argv[3])))
"""


def main(argv: list[str] | None = None) -> int:
    """Publish each experiment; returns 1 when a compact copy's test accuracy moved by more than 0.3 points."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiments", nargs="+", choices=list(PRESETS), help="published models (fer_keras.presets)")
    parser.add_argument("--base", default=".", help="the runs' output folder (holds metrics/ and model_cards/)")
    parser.add_argument("--data", default=None, help="data root holding fer2013/, cifar10/ (default: $FER_KERAS_DATA)")
    parser.add_argument("--cpu-check", action="store_true", help="also score the committed file on the CPU")
    parser.add_argument("--from", dest="source", metavar="DIR", help="publish DIR/<exp>.keras, not the trained model")
    args = parser.parse_args(argv)
    at_root = Path(args.base).resolve() == Path(__file__).resolve().parents[2]
    models_dir = PUBLISHED_MODELS_DIR if at_root else "models"  # package data only from the repository's own runs
    status = 0
    for experiment in args.experiments:
        result = json.loads((Path(args.base) / "metrics" / f"{experiment}.json").read_text())
        source = str(Path(args.source) / f"{experiment}.keras") if args.source else None
        test = test_feed(result["dataset"]["id"], result["class_names"], args.data)
        published = publish_model(args.base, experiment, test, models_dir=models_dir, source=source)
        if source:
            again = published["republished_from"]["test_comparison"]
            print(f"{experiment}: republished from {source}: " + json.dumps(again))
            if again["top1_disagreements"]:
                print(f"WARNING: {experiment}'s republished copy changed {again['top1_disagreements']} test answers")
                status = 1
        comparison = published["test_comparison"]
        moved = abs(comparison["compact_accuracy"] - comparison["reference_accuracy"]) * 100
        print(f"{experiment}: {published['path']} {published['bytes']:,} bytes; " + json.dumps(comparison))
        if moved > 0.3:
            print(f"WARNING: {experiment}'s compact copy moved test accuracy by {moved:.2f} points (> 0.3)")
            status = 1
        if args.cpu_check:
            env = {**os.environ, "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
            data = args.data or os.environ.get("FER_KERAS_DATA", "data")
            command = [sys.executable, "-c", CPU_CHECK, args.base, experiment, data]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            print(f"{experiment} on the CPU: {done.stdout.strip() or done.stderr[-2000:]}")
            status |= done.returncode
    return status


if __name__ == "__main__":
    raise SystemExit(main())
