"""Tiny but complete FER training runs for ``tests/test_resume.py``, run as a script in its own process.

For each ``--pipeline`` in turn it trains through the package's own path (``load_fer`` ->
``build_fer_cnn`` -> ``compile_classifier`` -> ``make_callbacks`` -> ``train``) on a small real-image
tree into ``<out>/<pipeline>``, so running it again on the same folder exercises the real
BackupAndRestore resume. ``--hang-at EPOCH:BATCH`` stops making progress after that training batch
(it writes ``<out>/<pipeline>/hanging`` and sleeps) so the test can SIGKILL it at a known point.

Two settings make the callbacks' bookkeeping run across the kill, so a resume that forgets it shows:
``min_delta`` 100 means no epoch after the first improves ``val_loss``, so EarlyStopping (patience 3)
counts up and stops after epoch index 3, and ReduceLROnPlateau (patience 1) halves the learning rate at
the end of every epoch from index 1 on.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np

from fer_keras.constants import FER4_CLASSES
from fer_keras.data.augment import augmentation_layer
from fer_keras.data.fer import DEFAULT_AUGMENTATION, load_fer
from fer_keras.models import build_fer_cnn
from fer_keras.training import compile_classifier, make_callbacks, set_seed, train

SEED = 7


class HangAt(keras.callbacks.Callback):
    """After training batch ``batch`` of epoch ``epoch``: write ``marker`` and wait to be killed."""

    def __init__(self, epoch: int, batch: int, marker: Path) -> None:
        super().__init__()
        self.at, self.epoch, self.marker = (epoch, batch), -1, marker

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.marker.write_text(f"{self.epoch}:{batch}")
            time.sleep(600)


def run(data_dir: str, out: Path, pipeline: str, epochs: int, hang_at: str | None) -> None:
    """Train one tiny FER model with ``pipeline`` into ``out``; writes ``final_weights.npz`` and ``summary.json``."""
    keras.backend.clear_session()
    set_seed(SEED)
    data = load_fer(
        FER4_CLASSES,
        data_dir,
        batch_size=8,
        validation_split=0.25,
        seed=SEED,
        augmentation=DEFAULT_AUGMENTATION,
        pipeline=pipeline,
        augment_on="model",  # the fast path's default: RandomAffine in the model; IDG augments on the CPU
    )
    augmentation = augmentation_layer(data.augmentation, SEED) if data.augment_on == "model" else None
    model = build_fer_cnn(4, conv_blocks=((8, 1), (16, 1)), dense_units=(32,), augmentation=augmentation)
    compile_classifier(model)
    callbacks = make_callbacks(out, patience=3)
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.EarlyStopping | keras.callbacks.ReduceLROnPlateau):
            callback.min_delta = 100.0
        if isinstance(callback, keras.callbacks.ReduceLROnPlateau):
            callback.patience = 1
    if hang_at:
        epoch, batch = (int(v) for v in hang_at.split(":"))
        callbacks.append(HangAt(epoch, batch, out / "hanging"))
    result = train(model, data.train, data.validation, epochs=epochs, artifacts_dir=out, callbacks=callbacks, verbose=0)
    np.savez(out / "final_weights.npz", *model.get_weights())
    (out / "summary.json").write_text(
        json.dumps(
            {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch, "epochs_timed": result.epochs_timed}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--pipeline", choices=["imagegenerator", "fast"], action="append", required=True)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--hang-at")
    args = parser.parse_args()
    for pipeline in args.pipeline:
        run(args.data, args.out / pipeline, pipeline, args.epochs, args.hang_at)


if __name__ == "__main__":
    main()
