"""Run a model exported to LiteRT (``fer-keras export --format litert``) with Google's ``ai-edge-litert``."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from fer_keras.errors import DataError


class LiteRTRuntime:
    """A LiteRT interpreter (XNNPACK on the CPU); calls are serialised by a lock (the interpreter keeps state)."""

    name = "litert"

    def __init__(self, interpreter, path: str) -> None:
        self.interpreter, self.path = interpreter, path
        (given,), (output,) = interpreter.get_input_details(), interpreter.get_output_details()
        self._input, self._output = given["index"], output["index"]
        self.input_shape = (None, *(int(d) for d in given["shape_signature"][1:]))
        self.output_shape = (None, *(int(d) for d in output["shape_signature"][1:]))
        self._batch = int(given["shape"][0])
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | os.PathLike, threads: int = 1) -> LiteRTRuntime:
        """Open the ``.tflite`` file at ``path``; a :class:`DataError` names a file LiteRT cannot load."""
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as err:
            raise DataError(
                "--runtime litert needs LiteRT: `pip install ai-edge-litert` (or pass --runtime keras)."
            ) from err
        try:
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
        except Exception as err:  # LiteRT raises ValueError / RuntimeError for a bad file
            raise DataError(
                f"LiteRT cannot load {path} ({type(err).__name__}: {err}). Write it again with "
                "`fer-keras export MODEL.keras --format litert`."
            ) from err
        return cls(interpreter, str(Path(path)))

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, classes)`` for a float32 batch ``(N, H, W, C)`` scaled to 0-1."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            if len(batch) != self._batch:
                self.interpreter.resize_tensor_input(self._input, batch.shape)
                self.interpreter.allocate_tensors()
                self._batch = len(batch)
            self.interpreter.set_tensor(self._input, batch)
            self.interpreter.invoke()
            return self.interpreter.get_tensor(self._output).copy()
