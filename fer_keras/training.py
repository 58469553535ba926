"""Compile and fit with the standard callbacks: early stopping, LR schedule, CSV history, checkpoint, resume."""

from __future__ import annotations

import contextlib
import datetime as _dt
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

from fer_keras.describe import describe_optimizer
from fer_keras.determinism import enable_deterministic_ops, record_seed
from fer_keras.distribute import process_share, training_run
from fer_keras.models.fashion_mlp import make_optimizer
from fer_keras.resume import with_resume_state
from fer_keras.saving import (  # noqa: F401 - their old home: fer_keras.training.save_model, ... keep working
    classes_path,
    load_class_names,
    load_model,
    save_model,
    write_class_names,
)


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and the Keras backend; ``deterministic`` also switches on the backend's deterministic ops.

    See :func:`fer_keras.determinism.enable_deterministic_ops` (once on, they stay on for the process) and
    :func:`fer_keras.determinism.determinism_state`, which reports the seed and the switch for the card.
    """
    how = enable_deterministic_ops() if deterministic else None  # first: JAX reads its flag when it starts
    keras.utils.set_random_seed(seed)
    record_seed(seed, how)


def balanced_class_weight(counts: Mapping[str, int], classes: Sequence[str], power: float = 1.0) -> dict[int, float]:
    """scikit-learn's ``balanced`` class weights (index -> weight), damped by ``power`` (0.5 = square root)."""
    labels = np.repeat(np.arange(len(classes)), [counts[name] for name in classes])
    weights = compute_class_weight("balanced", classes=np.arange(len(classes)), y=labels)
    return {index: float(w**power) for index, w in enumerate(weights)}


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build models under the Keras dtype policy ``name`` (e.g. ``"mixed_bfloat16"``), restoring the previous one.

    Layers take the global policy when they are created, so wrap the model's construction
    only; the policy in effect is read back from ``model.dtype_policy`` afterwards.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def learning_rate_schedule(learning_rate: float, decay_steps: int | None = None, warmup_steps: int = 0) -> Any:
    """``learning_rate`` as is, or a cosine decay to 0 over ``decay_steps`` optimizer steps.

    With ``warmup_steps`` the rate first rises linearly from 0 to ``learning_rate`` over that many steps
    (Keras' ``CosineDecay`` warm-up), then decays over the remaining ``decay_steps - warmup_steps``.
    """
    if decay_steps and warmup_steps:
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps - warmup_steps, warmup_target=learning_rate, warmup_steps=warmup_steps
        )
    if decay_steps:
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    return learning_rate


def make_loss(*, sparse_labels: bool = False, label_smoothing: float = 0.0) -> keras.losses.Loss:
    """Cross-entropy for integer (``sparse_labels``) or one-hot labels, with optional label smoothing."""
    if sparse_labels:
        if label_smoothing:
            raise ValueError("label smoothing needs one-hot labels; use sparse_labels=False")
        return keras.losses.SparseCategoricalCrossentropy()
    return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)


def make_metrics(num_classes: int, *, sparse_labels: bool = False) -> list[Any]:
    """Accuracy, plus macro-F1 (``keras.metrics.F1Score``) when labels are one-hot."""
    metrics: list[Any] = ["accuracy"]
    if not sparse_labels:
        metrics.append(keras.metrics.F1Score(average="macro", name="macro_f1"))
    return metrics


def compile_classifier(
    model: keras.Model,
    *,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    decay_steps: int | None = None,
    label_smoothing: float = 0.0,
    sparse_labels: bool = False,
) -> keras.Model:
    """Compile ``model`` for classification; ``decay_steps`` turns on a cosine learning-rate decay.

    Metrics: accuracy, and macro-F1 (``macro_f1``) for one-hot labels.
    """
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate_schedule(learning_rate, decay_steps)),
        loss=make_loss(sparse_labels=sparse_labels, label_smoothing=label_smoothing),
        metrics=make_metrics(int(model.output_shape[-1]), sparse_labels=sparse_labels),
    )
    return model


def monitor_mode(monitor: str) -> str:
    """``"min"`` for losses, ``"max"`` for accuracy- and F1-like quantities."""
    return "min" if monitor.endswith("loss") else "max"


def make_callbacks(
    artifacts_dir: str | Path,
    *,
    patience: int = 10,
    reduce_lr: bool = True,
    monitor: str = "val_loss",
    class_names: Sequence[str] | None = None,
) -> list[keras.callbacks.Callback]:
    """Best-model checkpoint, EarlyStopping (best weights restored), ReduceLROnPlateau, CSVLogger, BackupAndRestore.

    All of them watch ``monitor`` (``"min"`` for losses, ``"max"`` otherwise).
    ``BackupAndRestore`` keeps state under ``artifacts_dir/backup`` so a run killed
    mid-way resumes from its last finished epoch when started again (:func:`train` adds
    :class:`fer_keras.resume.ResumeState` so the resumed run continues rather than replays). With
    ``class_names`` the checkpoint ``best.keras`` gets its ``best.classes.json`` (written now, before training).
    """
    artifacts_dir = Path(artifacts_dir)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    mode = monitor_mode(monitor)
    if class_names is not None:
        write_class_names(artifacts_dir / "best.keras", class_names)
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.ModelCheckpoint(
            str(artifacts_dir / "best.keras"), monitor=monitor, mode=mode, save_best_only=True
        ),
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True),
    ]
    if reduce_lr:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=0.5, patience=max(2, patience // 3))
        )
    callbacks.append(EpochProgress())
    # After ReduceLROnPlateau, so each epoch's row also holds the learning rate it logged.
    callbacks.append(keras.callbacks.CSVLogger(str(artifacts_dir / "history.csv"), append=True))
    # Last: an epoch counts as done (a resumed run does not redo it) only once its row, checkpoint and
    # learning-rate change are written, and the backed-up optimizer holds the rate ReduceLROnPlateau just set.
    callbacks.append(keras.callbacks.BackupAndRestore(str(artifacts_dir / "backup")))
    return callbacks


class EpochProgress(keras.callbacks.Callback):
    """Prints one line per epoch: ``epoch k/N: 251 s, about 79 min left (until 03:10 UTC)``.

    The time left is the mean epoch time of this ``fit`` times the epochs still planned (early
    stopping may end sooner), so a long run can be followed with ``tail -f`` on its log.
    """

    def on_train_begin(self, logs=None) -> None:
        self._start = self._epoch_start = time.time()
        self._epochs_done = 0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch_start = time.time()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        now = time.time()
        self._epochs_done += 1
        total = int(self.params.get("epochs") or 0)
        left = (now - self._start) / self._epochs_done * max(total - epoch - 1, 0)
        until = _dt.datetime.fromtimestamp(now + left, _dt.UTC).strftime("%H:%M UTC")
        took = now - self._epoch_start
        print(f"epoch {epoch + 1}/{total}: {took:.0f} s, about {left / 60:.0f} min left (until {until})", flush=True)


def describe_callbacks(callbacks: Sequence[keras.callbacks.Callback]) -> list[str]:
    """Short text descriptions of callbacks, for the model card."""
    out = []
    for cb in callbacks:
        if isinstance(cb, EpochProgress):  # a progress printer, not a training detail
            continue
        name = type(cb).__name__
        if isinstance(cb, keras.callbacks.EarlyStopping):
            name += f"({cb.monitor}, patience {cb.patience}, best weights restored)"
        elif isinstance(cb, keras.callbacks.ReduceLROnPlateau):
            name += f"({cb.monitor}, factor {cb.factor}, patience {cb.patience})"
        elif isinstance(cb, keras.callbacks.ModelCheckpoint):
            name += f"({cb.monitor}, best only)"
        out.append(name)
    return out


@dataclass
class TrainResult:
    """What a training run produced besides the weights (read from the callbacks and ``fit`` that ran)."""

    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int
    train_time_s: float
    images_per_s: float
    callbacks: list[str] = field(default_factory=list)
    monitor: str = "val_loss"
    monitor_mode: str = "min"
    best_value: float | None = None
    class_weight: dict[int, float] | None = None
    epochs_planned: int = 0
    optimizer_at_start: dict[str, Any] | None = None
    epochs_timed: int = 0  # the epochs this process ran (train_time_s covers them): < epochs_run when resumed


def early_stopping_monitor(callbacks: Sequence[keras.callbacks.Callback]) -> str | None:
    """The quantity the EarlyStopping (else ModelCheckpoint) callback in ``callbacks`` watches."""
    for kind in (keras.callbacks.EarlyStopping, keras.callbacks.ModelCheckpoint):
        for cb in callbacks:
            if isinstance(cb, kind):
                return cb.monitor
    return None


def best_epoch_of(history: Mapping[str, Sequence[float]], monitor: str) -> tuple[int, float | None]:
    """(1-based epoch, value) where ``monitor`` was best in ``history``; ``(len, None)`` if it was not logged."""
    values = history.get(monitor)
    if not values:
        return len(history.get("loss", [])), None
    index = int(np.argmin(values) if monitor_mode(monitor) == "min" else np.argmax(values))
    return index + 1, float(values[index])


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
    class_names: Sequence[str] | None = None,
) -> TrainResult:
    """Fit a compiled ``model`` and return its full history and timing.

    ``artifacts_dir`` receives ``history.csv``, ``best.keras`` and the resume backup;
    starting again after an interruption resumes at the last finished epoch and, with the
    same seed, trains exactly as the uninterrupted run would have (see :mod:`fer_keras.resume`).
    A feed that is a ``keras.utils.PyDataset`` shuffles itself per epoch, so Keras' extra
    batch-order shuffle (drawn from Python's global ``random``, which a resumed process
    cannot continue) is off for it. ``class_names`` (the model's outputs in order) are saved beside
    the ``.keras`` file of every ``ModelCheckpoint`` (``best.keras`` -> ``best.classes.json``).
    """
    artifacts_dir = Path(artifacts_dir)
    if not (artifacts_dir / "backup").exists():  # a fresh run, not a resumed one: drop an old history
        (artifacts_dir / "history.csv").unlink(missing_ok=True)
    callbacks = list(callbacks) if callbacks is not None else make_callbacks(artifacts_dir)
    optimizer_at_start = describe_optimizer(model)
    if class_names is not None:
        for cb in callbacks:
            if isinstance(cb, keras.callbacks.ModelCheckpoint) and str(cb.filepath).endswith(".keras"):
                write_class_names(cb.filepath, class_names)
    callbacks = with_resume_state(callbacks, artifacts_dir / "resume", feed=train_data)
    start = time.perf_counter()
    with training_run():  # data-parallel: batches cut to the devices; predictions afterwards on one copy
        fitted = model.fit(
            process_share(train_data),
            validation_data=process_share(validation_data),
            epochs=epochs,
            class_weight=dict(class_weight) if class_weight else None,
            callbacks=callbacks,
            shuffle=not isinstance(train_data, keras.utils.PyDataset),
            verbose=verbose,
        )
    elapsed = time.perf_counter() - start
    epochs_this_fit = len(fitted.epoch)  # fewer than epochs_run when this fit resumed an interrupted one
    history = read_history(artifacts_dir / "history.csv")
    epochs_run = len(history.get("loss", []))
    monitor = early_stopping_monitor(callbacks) or ("val_loss" if "val_loss" in history else "loss")
    best_epoch, best_value = best_epoch_of(history, monitor)
    return TrainResult(
        history=history,
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        train_time_s=round(elapsed, 2),
        images_per_s=round(_num_samples(train_data) * epochs_this_fit / elapsed, 1) if elapsed else 0.0,
        callbacks=describe_callbacks(callbacks),
        monitor=monitor,
        monitor_mode=monitor_mode(monitor),
        best_value=best_value,
        class_weight=dict(class_weight) if class_weight else None,
        epochs_planned=int(epochs),
        optimizer_at_start=optimizer_at_start,
        epochs_timed=epochs_this_fit,
    )
