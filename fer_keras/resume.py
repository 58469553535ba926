"""Make a fit that ``BackupAndRestore`` resumes continue the run it resumes instead of replaying its start.

``BackupAndRestore`` brings back the weights, the optimizer and the epoch number. Everything else
starts over in the new process: the feed's shuffle and augmentation counters, the random streams of
Dropout and RandomAffine (``SeedGenerator`` states, which weight files do not hold) and the bookkeeping
of EarlyStopping, ReduceLROnPlateau and ModelCheckpoint. Without this module the first resumed epoch
re-trained on the first epoch's exact batches, augmentations and dropout masks, which the model had
already fitted (issue 13: training accuracy 0.87 in that epoch against 0.30-0.35 in the others).

:class:`ResumeState` makes the feed and the random streams a function of the epoch number, and saves
the callbacks' bookkeeping after each epoch so a resumed fit picks it up again.
"""

from __future__ import annotations

import io
import json
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from fer_keras.data.legacy import ImageIterator
from fer_keras.io import atomic_write_bytes, atomic_write_json

STREAM_STRIDE = 2**20
"""Draws a random stream may make in one epoch: epoch ``e`` draws from counter ``e * STREAM_STRIDE`` on."""

CALLBACK_STATE: dict[type, tuple[str, ...]] = {
    keras.callbacks.EarlyStopping: ("wait", "stopped_epoch", "best", "best_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
    keras.callbacks.ModelCheckpoint: ("best",),
}
"""What each stateful Keras callback carries from one epoch to the next (reset by its ``on_train_begin``)."""


def set_feed_epoch(feed: Any, epoch: int) -> bool:
    """Put a training feed at the start of epoch ``epoch`` (0-based); False for a feed it cannot place.

    An :class:`~fer_keras.data.fast.ArrayDataset` draws everything from ``(seed, epoch, batch)``
    (its ``set_epoch``). A seeded ImageDataGenerator iterator gets the epoch's shuffle order from
    ``(seed, epoch)`` and ``total_batches_seen = epoch * len(feed)``, from which it seeds each batch's
    augmentation (``np.random.seed(seed + total_batches_seen)``). That is exact with one worker; with
    several, the iterator's threads share NumPy's global generator and batches are not reproducible.
    """
    if hasattr(feed, "set_epoch"):
        feed.set_epoch(epoch)
        return True
    if isinstance(feed, ImageIterator) and feed.seed is not None:
        feed.total_batches_seen = epoch * len(feed)
        order = np.random.default_rng([feed.seed, epoch]).permutation(feed.n) if feed.shuffle else np.arange(feed.n)
        feed.index_array = order
        return True
    return False


def random_streams(model: keras.Model) -> list[keras.Variable]:
    """The model's random-number states: its variables that are not weights (``SeedGenerator`` states)."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def set_random_streams(model: keras.Model, epoch: int) -> int:
    """Start every random stream of ``model`` at epoch ``epoch``'s counter (seed kept); returns how many."""
    streams = random_streams(model)
    for state in streams:
        seed = int(keras.ops.convert_to_numpy(state)[0])
        state.assign(np.array([seed, (epoch * STREAM_STRIDE) % 2**32], dtype=state.dtype))
    return len(streams)


def _state_attributes(callback: keras.callbacks.Callback) -> tuple[str, ...] | None:
    return next((names for kind, names in CALLBACK_STATE.items() if isinstance(callback, kind)), None)


def _plain(value: Any) -> Any:
    """A JSON value for a callback attribute (Keras keeps monitor values as NumPy or backend scalars)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, np.integer):
        return int(value)
    return float(keras.ops.convert_to_numpy(value))


class ResumeState(keras.callbacks.Callback):
    """Continue a resumed run: the feed's epoch, the model's random streams and the callbacks' bookkeeping.

    At each epoch's start it puts ``feed`` (see :func:`set_feed_epoch`) and the model's random streams
    (:func:`set_random_streams`) at that epoch, so batches, augmentation and dropout depend on the epoch
    number only. After each epoch it saves the state of the :data:`CALLBACK_STATE` callbacks among
    ``callbacks`` (and EarlyStopping's best weights) to ``state_dir``; when a fit starts past epoch 0
    (``BackupAndRestore`` resumed it) it restores them. Place it after those callbacks and before
    ``BackupAndRestore`` (:func:`with_resume_state` does), so an epoch's state is on disk before the backup
    that marks the epoch done. ``state_dir`` is removed when training ends normally.
    """

    def __init__(
        self, state_dir: str | Path, feed: Any = None, callbacks: Sequence[keras.callbacks.Callback] = ()
    ) -> None:
        super().__init__()
        self.state_dir = Path(state_dir)
        self.feed = feed
        self.tracked = [(index, cb) for index, cb in enumerate(callbacks) if _state_attributes(cb)]
        self._started = False

    def on_train_begin(self, logs=None):
        self._started = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self._started:
            self._started = True
            if epoch == 0:
                shutil.rmtree(self.state_dir, ignore_errors=True)  # a fresh run: drop a killed run's leftovers
            else:
                self._restore(epoch)
        if self.feed is not None:
            set_feed_epoch(self.feed, epoch)
        set_random_streams(self.model, epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._save(epoch + 1)

    def on_train_end(self, logs=None):
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def _path(self, next_epoch: int) -> Path:
        return self.state_dir / f"epoch{next_epoch:05d}.json"

    def _save(self, next_epoch: int) -> None:
        """Write the callbacks' state after ``next_epoch`` epochs; keep this one and the one before."""
        entries = {}
        for index, callback in self.tracked:
            entry = {"type": type(callback).__name__}
            entry.update({name: _plain(getattr(callback, name)) for name in _state_attributes(callback)})
            best_weights = getattr(callback, "best_weights", None)
            if best_weights is not None:
                entry["best_weights"] = f"callback{index}-best-epoch{callback.best_epoch:05d}.npz"
                target = self.state_dir / entry["best_weights"]
                if not target.exists():
                    buffer = io.BytesIO()
                    np.savez(buffer, *best_weights)
                    atomic_write_bytes(target, buffer.getvalue())
            entries[str(index)] = entry
        atomic_write_json(self._path(next_epoch), {"epoch": next_epoch, "callbacks": entries})
        kept = {self._path(next_epoch).name, self._path(next_epoch - 1).name}
        for old in self.state_dir.glob("epoch*.json"):
            if old.name not in kept:
                old.unlink(missing_ok=True)
        referenced = {
            e.get("best_weights")
            for name in kept
            if (self.state_dir / name).exists()
            for e in json.loads((self.state_dir / name).read_text())["callbacks"].values()
        }
        for weights in self.state_dir.glob("*.npz"):
            if weights.name not in referenced:
                weights.unlink(missing_ok=True)

    def _restore(self, epoch: int) -> None:
        path = self._path(epoch)
        if not path.exists():
            warnings.warn(
                f"Resuming at epoch {epoch + 1} without {path}: EarlyStopping, ReduceLROnPlateau and "
                "ModelCheckpoint start their bookkeeping afresh.",
                stacklevel=2,
            )
            return
        entries = json.loads(path.read_text())["callbacks"]
        for index, callback in self.tracked:
            entry = entries.get(str(index))
            if entry is None or entry["type"] != type(callback).__name__:
                warnings.warn(f"{path} has no state for callback {index} ({type(callback).__name__})", stacklevel=2)
                continue
            for name in _state_attributes(callback):
                setattr(callback, name, entry[name])
            if "best_weights" in entry:
                with np.load(self.state_dir / entry["best_weights"]) as saved:
                    callback.best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]


def with_resume_state(
    callbacks: Sequence[keras.callbacks.Callback], state_dir: str | Path, feed: Any = None
) -> list[keras.callbacks.Callback]:
    """``callbacks`` plus a :class:`ResumeState` for ``feed``: right before ``BackupAndRestore`` when that
    comes after every stateful callback (as in :func:`fer_keras.training.make_callbacks`), else last."""
    callbacks = list(callbacks)
    last_stateful = max((i for i, cb in enumerate(callbacks) if _state_attributes(cb)), default=-1)
    backup = next((i for i, cb in enumerate(callbacks) if isinstance(cb, keras.callbacks.BackupAndRestore)), None)
    position = backup if backup is not None and backup > last_stateful else len(callbacks)
    return [*callbacks[:position], ResumeState(state_dir, feed, callbacks), *callbacks[position:]]
