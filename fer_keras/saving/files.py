"""A model file and its class names: ``<name>.keras`` with ``<name>.classes.json`` beside it."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import keras

from fer_keras import layers as _layers  # noqa: F401 - registers RandomAffine, which trained models may hold
from fer_keras.io import atomic_write_json


def save_model(model: keras.Model, path: str | os.PathLike, class_names: Sequence[str]) -> Path:
    """Save ``model`` as ``.keras`` with a ``<stem>.classes.json`` sidecar naming its outputs in order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    tmp.replace(path)
    write_class_names(path, class_names)
    return path


def write_class_names(model_path: str | os.PathLike, class_names: Sequence[str]) -> Path:
    """Write ``<stem>.classes.json`` beside ``model_path`` (the model's output class names, in order)."""
    return atomic_write_json(classes_path(model_path), {"class_names": list(class_names)})


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a ``.keras`` model saved by :func:`save_model` (this module registers fer_keras' custom layers)."""
    return keras.saving.load_model(path)


def classes_path(model_path: str | os.PathLike) -> Path:
    """Where :func:`save_model` writes the class names of ``model_path``."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}.classes.json")


def load_class_names(model_path: str | os.PathLike) -> list[str] | None:
    """The class names saved beside a model, or None when there is no sidecar."""
    sidecar = classes_path(model_path)
    return json.loads(sidecar.read_text())["class_names"] if sidecar.exists() else None
