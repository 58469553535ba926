"""Run the ``.keras`` model itself (``--runtime keras``): imports Keras and its backend."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from fer_keras.errors import DataError


class KerasRuntime:
    """A Keras model called with ``predict_on_batch``; calls are serialised by a lock.

    Batches are padded to a power of two, so a few compiled shapes serve every face count.
    """

    name = "keras"

    def __init__(self, model, path: str | None = None) -> None:
        self.model, self.path = model, path or model.name
        self.input_shape = tuple(model.input_shape)
        self.output_shape = tuple(model.output_shape)
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> KerasRuntime:
        """Load the ``.keras`` file at ``path`` (custom layers registered); :class:`DataError` names a bad file."""
        from fer_keras.saving import load_model

        try:
            model = load_model(path)
        except Exception as err:  # keras raises ValueError, zipfile.BadZipFile, OSError, ... for a bad file
            raise DataError(
                f"Cannot load model file {path} ({type(err).__name__}: {err}). It is not a Keras 3 .keras model "
                "saved by `python -m fer_keras train`; retrain or re-download it."
            ) from err
        return cls(model, str(Path(path)))

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, classes)`` for a float32 batch ``(N, H, W, C)`` scaled to 0-1."""
        count = len(batch)
        padded = np.zeros((1 << max(0, count - 1).bit_length(), *batch.shape[1:]), dtype=np.float32)
        padded[:count] = batch
        with self._lock:
            probabilities = self.model.predict_on_batch(padded)
        return np.asarray(probabilities, dtype=np.float32)[:count]
