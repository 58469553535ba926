"""Train a small CNN for one epoch through ``fer_keras.training.train`` and print what came out, as JSON.

Run by tests/test_distribute.py in subprocesses (JAX must see its devices before it is imported):
``python tests/data_parallel_check.py DATA_ROOT OUT [--distribute] [--compare]``. With ``--compare`` it
first trains on one device, then (distribution on) on all of them, and prints both. Batches of 8:
training 24 images (even batches), validation 11 (8 + 3: cut to 8 + 2 on two devices), test 13 (8 + 5:
predicted after training on one copy of the weights, so every image counts).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np

from fer_keras.data import load_fashion
from fer_keras.distribute import configure_distribution, current_distribution
from fer_keras.evaluation import evaluate_model
from fer_keras.models import build_fashion_cnn
from fer_keras.training import compile_classifier, train

SIZES = {"train": 24, "validation": 11, "test": 13}


def run(data_root: str, out: Path, distribute: bool) -> dict:
    data = load_fashion(data_root, smoke=True)
    data.arrays = {split: tuple(a[: SIZES[split]] for a in data.arrays[split]) for split in SIZES}
    configure_distribution(distribute)
    keras.utils.set_random_seed(7)
    model = compile_classifier(
        build_fashion_cnn(10, filters=(4, 8), dense_units=16), optimizer="sgd", learning_rate=0.05, sparse_labels=True
    )
    out.mkdir(parents=True, exist_ok=True)
    result = train(
        model,
        data.flow("train", batch_size=8),
        data.flow("validation", batch_size=8),
        epochs=1,
        artifacts_dir=out,
        callbacks=[keras.callbacks.CSVLogger(str(out / "history.csv"))],
        verbose=0,
    )
    metrics = evaluate_model(model, data.flow("test", batch_size=8), data.class_names)
    return {
        "distribution": current_distribution(),
        "loss": result.history["loss"][0],
        "num_test": metrics["num_test"],
        "weights": [float(np.abs(np.asarray(w)).sum()) for w in model.get_weights()],
    }


if __name__ == "__main__":
    root, out = sys.argv[1], Path(sys.argv[2])
    runs = {}
    if "--compare" in sys.argv:
        runs["single"] = run(root, out / "single", distribute=False)
    runs["parallel"] = run(root, out / "parallel", distribute="--distribute" in sys.argv or "--compare" in sys.argv)
    print(json.dumps(runs))
