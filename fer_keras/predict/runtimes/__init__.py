"""Inference runtimes behind one contract (a float32 batch of faces -> class probabilities), chosen by name.

``keras`` runs the ``.keras`` model itself (imports Keras and its backend); ``onnx`` (ONNX Runtime) and
``litert`` (LiteRT) run a file written by ``fer-keras export`` and import neither TensorFlow nor Keras.
``auto`` takes ``<model>.onnx`` beside a ``.keras`` model when it is there, at least as new, and ONNX
Runtime is installed; else the Keras model.

>>> sorted(RUNTIMES)
['keras', 'litert', 'onnx']
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from fer_keras.data.paths import DataError

RUNTIMES: dict[str, tuple[str, str, str]] = {
    "keras": ("fer_keras.predict.runtimes.keras", "KerasRuntime", ".keras"),
    "onnx": ("fer_keras.predict.runtimes.onnx", "OnnxRuntime", ".onnx"),
    "litert": ("fer_keras.predict.runtimes.litert", "LiteRTRuntime", ".tflite"),
}
"""Runtime name -> (module, class, model file suffix); modules are imported only when chosen."""
RUNTIME_CHOICES = ("auto", *RUNTIMES)
SUFFIXES = {suffix: name for name, (_, _, suffix) in RUNTIMES.items()}


class Runtime(Protocol):
    """A loaded classifier: ``input_shape`` ``(None, H, W, C)``, ``output_shape`` ``(None, classes)``."""

    name: str
    path: str
    input_shape: tuple
    output_shape: tuple

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, classes)`` for a float32 batch ``(N, H, W, C)`` of images scaled to 0-1."""
        ...


def classes_file(model_path: str | os.PathLike) -> Path:
    """``<stem>.classes.json`` beside a model file (``.keras``, ``.onnx`` or ``.tflite``)."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}.classes.json")


def read_class_names(model_path: str | os.PathLike) -> list[str]:
    """The class names saved beside ``model_path``; a :class:`DataError` names the missing file."""
    sidecar = classes_file(model_path)
    if not sidecar.is_file():
        raise DataError(
            f"No class names for model {model_path}: {sidecar} is missing. Use a model saved by "
            "`python -m fer_keras train` or written by `fer-keras export` (both write it)."
        )
    return list(json.loads(sidecar.read_text())["class_names"])


def available(name: str) -> bool:
    """Whether runtime ``name``'s Python package is installed (without importing it)."""
    package = {"keras": "keras", "onnx": "onnxruntime", "litert": "ai_edge_litert"}[name]
    return importlib.util.find_spec(package) is not None


def resolve(model_path: str | os.PathLike, runtime: str = "auto") -> tuple[str, Path]:
    """The runtime name and the file it runs for ``model_path`` (see the module docstring)."""
    path = Path(model_path)
    if runtime not in RUNTIME_CHOICES:
        raise DataError(f"Unknown runtime {runtime!r}: choose one of {', '.join(RUNTIME_CHOICES)}.")
    if not path.is_file():
        raise DataError(f"Model file {path} does not exist. Train one with `python -m fer_keras train fer7`.")
    own = SUFFIXES.get(path.suffix.lower())
    if own is None:
        raise DataError(f"{path} is not a model file: pass a .keras, .onnx or .tflite file.")
    if own != "keras":
        if runtime not in ("auto", own):
            raise DataError(f"{path} runs with --runtime {own}, not {runtime}: pass its .keras model for {runtime}.")
        return own, path
    if runtime == "keras":
        return "keras", path
    wanted = ["onnx"] if runtime == "auto" else [runtime]
    for name in wanted:
        exported = path.with_suffix(RUNTIMES[name][2])
        fresh = exported.is_file() and exported.stat().st_mtime >= path.stat().st_mtime
        if fresh and available(name):
            return name, exported
        if runtime != "auto":
            raise DataError(
                f"No up-to-date {exported.name} beside {path} for --runtime {name}"
                f"{'' if available(name) else ' (and its package is not installed)'}: write it with "
                f"`fer-keras export {path} --format {name}`, or pass --runtime keras."
            )
    return "keras", path


def load_runtime(model_path: str | os.PathLike, runtime: str = "auto") -> Runtime:
    """Load the classifier at ``model_path`` in ``runtime`` (``auto``, ``keras``, ``onnx`` or ``litert``)."""
    name, path = resolve(model_path, runtime)
    module, cls, _ = RUNTIMES[name]
    return getattr(importlib.import_module(module), cls).from_file(path)


__all__ = [
    "RUNTIMES",
    "RUNTIME_CHOICES",
    "Runtime",
    "available",
    "classes_file",
    "load_runtime",
    "read_class_names",
    "resolve",
]
