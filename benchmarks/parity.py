"""Accuracy parity of the two FER input pipelines (a script, not a test).

Trains the FER CNN twice with the same seed, epochs and data subset — once fed by
ImageDataGenerator (``pipeline="imagegenerator"``), once by the fast array pipeline —
and prints both test accuracies. Usage:

    python benchmarks/parity.py --data DIR [--train 3000] [--epochs 6] [--classes fer4]
"""

from __future__ import annotations

import argparse
import json
import time

import keras

from fer_keras.constants import FER4_CLASSES, FER7_CLASSES
from fer_keras.data.fast import build_fast_iterators
from fer_keras.data.fer import DEFAULT_AUGMENTATION, fer_frames, flow_frame, stratified_sample
from fer_keras.evaluation import evaluate_model
from fer_keras.models import build_fer_cnn
from fer_keras.runinfo import collect_run_info
from fer_keras.training import compile_classifier, set_seed


def feeds(pipeline: str, frames, classes, batch_size: int, seed: int):
    """(train, validation, test) iterators of one pipeline over the same file lists."""
    if pipeline == "fast":
        its = build_fast_iterators(frames, classes, batch_size=batch_size, augment=DEFAULT_AUGMENTATION, seed=seed)
        return its["train"], its["validation"], its["test"]
    common = {"batch_size": batch_size, "seed": seed}
    return (
        flow_frame(frames["train"], classes, augmentation=DEFAULT_AUGMENTATION, shuffle=True, **common),
        flow_frame(frames["validation"], classes, **common),
        flow_frame(frames["test"], classes, **common),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data")
    parser.add_argument("--classes", choices=["fer4", "fer7"], default="fer4")
    parser.add_argument("--train", type=int, default=3000, help="training images (stratified subset)")
    parser.add_argument("--validation", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args()
    classes = FER4_CLASSES if args.classes == "fer4" else FER7_CLASSES
    frames = fer_frames(classes, args.data, seed=args.seed)
    frames["train"] = stratified_sample(frames["train"], args.train, args.seed)
    frames["validation"] = stratified_sample(frames["validation"], args.validation, args.seed)
    rows = []
    for pipeline in ("imagegenerator", "fast"):
        set_seed(args.seed)
        train, validation, test = feeds(pipeline, frames, classes, args.batch_size, args.seed)
        model = compile_classifier(build_fer_cnn(len(classes)))
        start = time.perf_counter()
        model.fit(train, validation_data=validation, epochs=args.epochs, verbose=2)
        seconds = time.perf_counter() - start
        metrics = evaluate_model(model, test, classes)
        rows.append(
            {
                "pipeline": pipeline,
                "test_accuracy": metrics["accuracy"],
                "macro_f1": metrics["macro_f1"],
                "train_seconds": round(seconds, 1),
            }
        )
        keras.backend.clear_session()
    info = collect_run_info()
    print(
        json.dumps({"settings": vars(args) | {"test_images": len(frames["test"])}, "run": info, "rows": rows}, indent=2)
    )
    gap = abs(rows[0]["test_accuracy"] - rows[1]["test_accuracy"]) * 100
    print(
        f"test accuracy: imagegenerator {rows[0]['test_accuracy']:.4f}, fast {rows[1]['test_accuracy']:.4f}, "
        f"difference {gap:.2f} points"
    )


if __name__ == "__main__":
    main()
