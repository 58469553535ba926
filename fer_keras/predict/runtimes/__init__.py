"""Inference runtimes behind one contract (a float32 batch of faces -> class probabilities), chosen by name.

``keras`` runs the ``.keras`` model itself (imports Keras and its backend); ``onnx`` (ONNX Runtime) and
``litert`` (LiteRT) run a file written by ``fer-keras export`` and import neither TensorFlow nor Keras.
``auto`` takes ``<model>.onnx`` beside a ``.keras`` model when it is there, was exported from that very
file (its metadata holds the file's SHA-256) and ONNX Runtime is installed; else the Keras model.

>>> sorted(RUNTIMES)
['keras', 'litert', 'onnx']
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from fer_keras.errors import DataError

RUNTIMES: dict[str, tuple[str, str, str]] = {
    "keras": ("fer_keras.predict.runtimes.keras", "KerasRuntime", ".keras"),
    "onnx": ("fer_keras.predict.runtimes.onnx", "OnnxRuntime", ".onnx"),
    "litert": ("fer_keras.predict.runtimes.litert", "LiteRTRuntime", ".tflite"),
}
"""Runtime name -> (module, class, model file suffix); modules are imported only when chosen."""
RUNTIME_CHOICES = ("auto", *RUNTIMES)
SUFFIXES = {suffix: name for name, (_, _, suffix) in RUNTIMES.items()}
SOURCE_KEY = "fer_keras_source_sha256"
"""ONNX metadata key: the SHA-256 of the ``.keras`` file the ONNX file was exported from."""


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
    name = "onnx" if runtime == "auto" else runtime
    exported = path.with_suffix(RUNTIMES[name][2])
    if exported.is_file() and available(name):
        return name, exported
    if runtime != "auto":
        raise DataError(
            f"No {exported.name} beside {path} for --runtime {name}"
            f"{'' if available(name) else ' (and its package is not installed)'}: write it with "
            f"`fer-keras export {path} --format {name}`, or pass --runtime keras."
        )
    return "keras", path


@lru_cache(maxsize=8)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file (computed once per path, modification time and size)."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


def load_runtime(model_path: str | os.PathLike, runtime: str = "auto") -> Runtime:
    """Load the classifier at ``model_path`` in ``runtime`` (``auto``, ``keras``, ``onnx`` or ``litert``).

    An ONNX file found beside a ``.keras`` model must have been exported from it: else ``auto`` warns and
    runs the Keras model, and ``onnx`` is a :class:`DataError`.
    """
    name, path = resolve(model_path, runtime)
    module, cls, _ = RUNTIMES[name]
    loaded = getattr(importlib.import_module(module), cls).from_file(path)
    source = Path(model_path)
    if name == "onnx" and source.suffix.lower() == ".keras":
        recorded = getattr(loaded, "metadata", {}).get(SOURCE_KEY)
        if recorded != file_sha256(source):
            message = (
                f"{path} was not exported from {source} (it is older, or from another model): write it again with "
                f"`fer-keras export {source} --format onnx`"
            )
            if runtime != "auto":
                raise DataError(f"{message}, or pass --runtime keras.")
            print(f"warning: {message}; running the Keras model meanwhile.", file=sys.stderr)
            return load_runtime(source, "keras")
    return loaded


__all__ = [
    "RUNTIMES",
    "RUNTIME_CHOICES",
    "Runtime",
    "available",
    "file_sha256",
    "classes_file",
    "load_runtime",
    "read_class_names",
    "resolve",
]
