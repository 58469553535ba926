"""Classify the expression of every face in a photo with a saved ``.keras`` model."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import keras
import numpy as np
from PIL import Image

from fer_keras.errors import DataError
from fer_keras.predict.faces import DEFAULT_MARGIN, Box, FaceDetector, face_crops
from fer_keras.predict.images import ImageInput, read_image
from fer_keras.presets import DEFAULT_PRESET, get_preset, model_file, preset_path
from fer_keras.saving import classes_path, load_class_names, load_model

_RESCALE = np.float32(1.0 / 255.0)


def load_checked_model(path: str | os.PathLike) -> tuple[keras.Model, list[str]]:
    """Load a model saved by ``train`` and its class names; :class:`DataError` names the bad file.

    The model must take images ``(H, W, 1 or 3)`` and output one probability per class named
    in ``<stem>.classes.json`` beside it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Model file {path} does not exist. Train one with `python -m fer_keras train fer7`.")
    class_names = load_class_names(path)
    if not class_names:
        raise DataError(
            f"No class names for model {path}: {classes_path(path)} is missing. "
            "Use a model saved by `python -m fer_keras train` (it writes both files)."
        )
    try:
        model = load_model(path)
    except Exception as err:  # keras raises ValueError, zipfile.BadZipFile, OSError, ... for a bad file
        raise DataError(
            f"Cannot load model file {path} ({type(err).__name__}: {err}). "
            "It is not a Keras 3 .keras model saved by `python -m fer_keras train`; retrain or re-download it."
        ) from err
    check_model(model, class_names, str(path))
    return model, list(class_names)


def check_model(model: keras.Model, class_names: Sequence[str], label: str = "the model") -> None:
    """Raise :class:`DataError` unless ``model`` maps ``(H, W, 1|3)`` images to ``len(class_names)`` outputs."""
    in_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
    if len(in_shape) != 4 or in_shape[-1] not in (1, 3) or None in in_shape[1:3]:
        raise DataError(
            f"{label} takes inputs {in_shape[1:]}, not images (height, width, 1 or 3 channels): "
            "use an image classifier such as the fer4/fer7 models."
        )
    if len(out_shape) != 2 or out_shape[-1] != len(class_names):
        raise DataError(
            f"{label} outputs {out_shape[1:]} but {len(class_names)} class names were given "
            f"({', '.join(class_names)}): the classes file does not belong to this model."
        )


class Predictor:
    """A loaded model with its class names and face detector; :meth:`predict` is thread-safe.

    Faces of one image go through the model in ONE call (padded to a power of two, so a few
    compiled shapes serve every face count); model calls are serialised by a lock.
    """

    def __init__(
        self,
        model: keras.Model,
        class_names: Sequence[str],
        *,
        detector: FaceDetector | None = None,
        margin: float = DEFAULT_MARGIN,
        name: str | None = None,
    ) -> None:
        check_model(model, class_names, name or "the model")
        self.model = model
        self.class_names = list(class_names)
        self.detector = detector or default_detector()
        self.margin = margin
        self.name = name or model.name
        self.input_size: tuple[int, int] = (int(model.input_shape[1]), int(model.input_shape[2]))
        self.channels = int(model.input_shape[3])
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | os.PathLike | None = None, **kwargs: Any) -> Predictor:
        """Load the ``.keras`` file at ``path`` (or a published model's name; default: :func:`published_model`)
        and the class names beside it."""
        path = model_file(path)
        model, class_names = load_checked_model(path)
        return cls(model, class_names, name=str(path), **kwargs)

    def load_image(self, image: ImageInput, *, name: str | None = None) -> Image.Image:
        """Decode ``image`` into the model's colour mode: ``L`` (grayscale) or ``RGB``."""
        return self.to_model_mode(read_image(image, name=name))

    def to_model_mode(self, img: Image.Image) -> Image.Image:
        """``img`` in the model's colour mode: ``L`` (grayscale, PIL's ITU-R 601 luma as in training) or ``RGB``."""
        mode = "L" if self.channels == 1 else "RGB"
        return img if img.mode == mode else img.convert(mode)

    def find_faces(self, img: Image.Image) -> list[Box]:
        """Face boxes in a decoded image, largest first."""
        return self.detector.detect(img if img.mode == "L" else img.convert("L"))

    def classify(self, img: Image.Image, boxes: Sequence[Box]) -> np.ndarray:
        """Class probabilities ``(len(boxes), classes)`` of the faces at ``boxes``, in one model call."""
        crops = face_crops(img, list(boxes), self.input_size, self.margin)
        return self.classify_crops(crops)

    def classify_crops(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities for uint8 face crops already at the model's input size (rescaled by 1/255)."""
        count = len(crops)
        if count == 0:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        batch = np.zeros((1 << (count - 1).bit_length(), *self.input_size, self.channels), dtype=np.float32)
        batch[:count] = crops.reshape(count, *self.input_size, self.channels)
        batch *= _RESCALE
        with self._lock:
            probabilities = self.model.predict_on_batch(batch)
        return np.asarray(probabilities, dtype=np.float32)[:count]

    def describe(self, boxes: Sequence[Box], probabilities: np.ndarray) -> list[dict[str, Any]]:
        """One ``{"box", "emotion", "confidence", "probabilities"}`` dict per face."""
        faces = []
        for box, probs in zip(boxes, probabilities, strict=True):
            best = int(np.argmax(probs))
            faces.append(
                {
                    "box": [int(v) for v in box],
                    "emotion": self.class_names[best],
                    "confidence": round(float(probs[best]), 6),
                    "probabilities": {n: round(float(p), 6) for n, p in zip(self.class_names, probs, strict=True)},
                }
            )
        return faces

    def predict(self, image: ImageInput, *, detect: bool = True) -> list[dict[str, Any]]:
        """Faces found in ``image`` with their predicted expression, largest face first.

        ``detect=False`` classifies the whole image as one face (for pre-cropped faces).
        """
        return self.analyse(image, detect=detect)[1]

    def analyse(
        self, image: ImageInput, *, detect: bool = True, name: str | None = None
    ) -> tuple[Image.Image, list[dict[str, Any]]]:
        """The decoded, upright image (in its own colours) and :meth:`predict`'s faces."""
        original = read_image(image, name=name)
        img = self.to_model_mode(original)
        boxes = self.find_faces(img) if detect else [(0, 0, img.width, img.height)]
        return original, self.describe(boxes, self.classify(img, boxes))

    def warm_up(self) -> None:
        """Compile the model call for one face so that the first real request is not slow."""
        self.classify_crops(np.zeros((1, *self.input_size, self.channels), dtype=np.uint8))


@lru_cache(maxsize=1)
def default_detector() -> FaceDetector:
    """The shared :class:`FaceDetector` with default settings (its classifiers are per thread)."""
    return FaceDetector()


@lru_cache(maxsize=4)
def _predictor_from_file(path: str, mtime_ns: int) -> Predictor:
    return Predictor.from_file(path)


PUBLISHED_MODEL = get_preset(DEFAULT_PRESET).path
"""The published FER-7 model shipped in the package (``fer_keras/assets/fer7.keras``, made by ``make results``)."""


def published_model(name: str = DEFAULT_PRESET) -> Path:
    """The published model ``name`` shipped in the package, checked; a DataError names what is wrong and the fix."""
    return preset_path(name)


def get_predictor(
    model: Predictor | keras.Model | str | os.PathLike, class_names: Sequence[str] | None = None
) -> Predictor:
    """A :class:`Predictor` for a model file or a published model's name (cached per path and modification
    time), a loaded model (``class_names`` required) or a Predictor (returned as it is)."""
    if isinstance(model, Predictor):
        return model
    if isinstance(model, keras.Model):
        if class_names is None:
            raise DataError(
                f"No class names for model {model.name!r}: pass class_names=[...] in its output order, "
                "or pass the path of a model saved by `train` (its classes file is read)."
            )
        return Predictor(model, class_names)
    path = model_file(model).resolve()  # a published model's name, or a path
    mtime = path.stat().st_mtime_ns if path.is_file() else 0
    return _predictor_from_file(str(path), mtime)


def predict_faces(
    model: Predictor | keras.Model | str | os.PathLike,
    image: ImageInput,
    *,
    detect: bool = True,
    class_names: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Predict the expression of every face in ``image``; see :meth:`Predictor.predict`.

    ``model`` is a ``.keras`` path saved by ``train`` (loaded once and cached), a loaded
    ``keras.Model`` with ``class_names``, or a :class:`Predictor`. ``image`` is a path,
    encoded bytes, a PIL image or a uint8 array. Each face is
    ``{"box": [x, y, w, h], "emotion": str, "confidence": float, "probabilities": {class: p}}``.
    """
    return get_predictor(model, class_names).predict(image, detect=detect)
