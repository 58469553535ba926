"""Compile and fit with the standard callbacks: early stopping, LR schedule, CSV history, checkpoint, resume."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

from fer_keras.distribute import process_share, training_run
from fer_keras.io import atomic_write_json
from fer_keras.models.fashion_mlp import make_optimizer


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend for reproducible runs."""
    keras.utils.set_random_seed(seed)


def balanced_class_weight(counts: Mapping[str, int], classes: Sequence[str], power: float = 1.0) -> dict[int, float]:
    """scikit-learn's ``balanced`` class weights (index -> weight), damped by ``power`` (0.5 = square root)."""
    labels = np.repeat(np.arange(len(classes)), [counts[name] for name in classes])
    weights = compute_class_weight("balanced", classes=np.arange(len(classes)), y=labels)
    return {index: float(w**power) for index, w in enumerate(weights)}


def compile_classifier(
    model: keras.Model,
    *,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    decay_steps: int | None = None,
    label_smoothing: float = 0.0,
    sparse_labels: bool = False,
) -> keras.Model:
    """Compile ``model`` for classification; ``decay_steps`` turns on a cosine learning-rate decay."""
    lr: Any = learning_rate
    if decay_steps:
        lr = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    if sparse_labels:
        loss = keras.losses.SparseCategoricalCrossentropy()
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    model.compile(optimizer=make_optimizer(optimizer, lr), loss=loss, metrics=["accuracy"])
    return model


def make_callbacks(
    artifacts_dir: str | Path,
    *,
    patience: int = 10,
    reduce_lr: bool = True,
    monitor: str = "val_loss",
) -> list[keras.callbacks.Callback]:
    """EarlyStopping (best weights restored), ReduceLROnPlateau, CSVLogger, best-model checkpoint, BackupAndRestore.

    ``BackupAndRestore`` keeps state under ``artifacts_dir/backup`` so a run killed
    mid-way resumes from its last finished epoch when started again.
    """
    artifacts_dir = Path(artifacts_dir)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.BackupAndRestore(str(artifacts_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(artifacts_dir / "best.keras"), monitor=monitor, save_best_only=True),
        keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True),
    ]
    if reduce_lr:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=max(2, patience // 3)))
    # Last, so each epoch's row also holds what earlier callbacks logged (the learning rate).
    callbacks.append(keras.callbacks.CSVLogger(str(artifacts_dir / "history.csv"), append=True))
    return callbacks


def describe_callbacks(callbacks: Sequence[keras.callbacks.Callback]) -> list[str]:
    """Short text descriptions of callbacks, for the model card."""
    out = []
    for cb in callbacks:
        name = type(cb).__name__
        if isinstance(cb, keras.callbacks.EarlyStopping):
            name += f"({cb.monitor}, patience {cb.patience}, best weights restored)"
        elif isinstance(cb, keras.callbacks.ReduceLROnPlateau):
            name += f"({cb.monitor}, factor {cb.factor}, patience {cb.patience})"
        out.append(name)
    return out


@dataclass
class TrainResult:
    """What a training run produced besides the weights."""

    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int
    train_time_s: float
    images_per_s: float
    callbacks: list[str] = field(default_factory=list)


def read_history(csv_path: str | Path) -> dict[str, list[float]]:
    """The per-epoch history CSV written by ``CSVLogger`` (all epochs, across resumed runs)."""
    frame = pd.read_csv(csv_path).drop_duplicates("epoch", keep="last").sort_values("epoch")
    return {col: [float(v) for v in frame[col]] for col in frame.columns if col != "epoch"}


def _num_samples(data: Any) -> int:
    return int(getattr(data, "n", None) or getattr(data, "samples", None) or len(data) * data.batch_size)


def train(
    model: keras.Model,
    train_data: Any,
    validation_data: Any,
    *,
    epochs: int,
    artifacts_dir: str | Path,
    class_weight: Mapping[int, float] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    verbose: str | int = "auto",
) -> TrainResult:
    """Fit a compiled ``model`` and return its full history and timing.

    ``artifacts_dir`` receives ``history.csv``, ``best.keras`` and the resume backup;
    starting again after an interruption resumes at the last finished epoch.
    """
    artifacts_dir = Path(artifacts_dir)
    if not (artifacts_dir / "backup").exists():  # a fresh run, not a resumed one: drop an old history
        (artifacts_dir / "history.csv").unlink(missing_ok=True)
    callbacks = list(callbacks) if callbacks is not None else make_callbacks(artifacts_dir)
    start = time.perf_counter()
    with training_run():  # data-parallel: batches cut to the devices; predictions afterwards on one copy
        model.fit(
            process_share(train_data),
            validation_data=process_share(validation_data),
            epochs=epochs,
            class_weight=dict(class_weight) if class_weight else None,
            callbacks=callbacks,
            verbose=verbose,
        )
    elapsed = time.perf_counter() - start
    history = read_history(artifacts_dir / "history.csv")
    epochs_run = len(history.get("loss", []))
    monitor = "val_loss" if "val_loss" in history else "loss"
    best_epoch = int(np.argmin(history[monitor])) + 1 if history.get(monitor) else epochs_run
    return TrainResult(
        history=history,
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        train_time_s=round(elapsed, 2),
        images_per_s=round(_num_samples(train_data) * epochs_run / elapsed, 1) if elapsed else 0.0,
        callbacks=describe_callbacks(callbacks),
    )


def save_model(model: keras.Model, path: str | Path, class_names: Sequence[str]) -> Path:
    """Save ``model`` as ``.keras`` with a ``<stem>.classes.json`` sidecar naming its outputs in order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    tmp.replace(path)
    atomic_write_json(classes_path(path), {"class_names": list(class_names)})
    return path


def load_model(path: str | Path) -> keras.Model:
    """Load a ``.keras`` model saved by :func:`save_model`, including fer_keras' custom layers."""
    import fer_keras.data.augment  # noqa: F401 - registers RandomAffine for deserialization

    return keras.saving.load_model(path)


def classes_path(model_path: str | Path) -> Path:
    """Where :func:`save_model` writes the class names of ``model_path``."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}.classes.json")


def load_class_names(model_path: str | Path) -> list[str] | None:
    """The class names saved beside a model, or None when there is no sidecar."""
    sidecar = classes_path(model_path)
    return json.loads(sidecar.read_text())["class_names"] if sidecar.exists() else None
