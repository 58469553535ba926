"""Classify the expression of every face in a photo with a trained model (``.keras``, or its exported copy)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fer_keras.errors import DataError
from fer_keras.predict.align import align_face
from fer_keras.predict.detectors import DEFAULT_DETECTOR, Detection, FaceDetector, get_detector
from fer_keras.predict.faces import DEFAULT_MARGIN, Box, face_crops
from fer_keras.predict.images import ImageInput, read_image
from fer_keras.predict.runtimes import RUNTIMES, Runtime, load_runtime, read_class_names, resolve
from fer_keras.presets import DEFAULT_PRESET, get_preset, model_file, preset_path

_RESCALE = np.float32(1.0 / 255.0)


def load_checked_model(path: str | os.PathLike):
    """Load a ``.keras`` model saved by ``train`` and its class names; :class:`DataError` names the bad file.

    The model must take images ``(H, W, 1 or 3)`` and output one probability per class named
    in ``<stem>.classes.json`` beside it.
    """
    resolve(path, "keras")
    class_names = read_class_names(path)
    from fer_keras.predict.runtimes.keras import KerasRuntime

    model = KerasRuntime.from_file(path).model
    check_model(model, class_names, str(path))
    return model, list(class_names)


def check_model(model: Any, class_names: Sequence[str], label: str = "the model") -> None:
    """Raise :class:`DataError` unless ``model`` (Keras or a runtime) maps ``(H, W, 1|3)`` images to
    ``len(class_names)`` outputs."""
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


def as_runtime(model: Any, name: str | None = None) -> Runtime:
    """``model`` as a :class:`~fer_keras.predict.runtimes.Runtime`: a Keras model is wrapped, a runtime kept."""
    if hasattr(model, "predict_on_batch"):
        from fer_keras.predict.runtimes.keras import KerasRuntime

        return KerasRuntime(model, name)
    return model


class Predictor:
    """A loaded classifier with its class names and face detector; :meth:`predict` is thread-safe.

    Args:
        model: a Keras model, or a runtime from :func:`~fer_keras.predict.runtimes.load_runtime`.
        class_names: the model's classes in output order.
        detector: a detector object, or its name (``"yunet"``, the default, or ``"haar"``).
        margin: border added around a box when a face is cut by its box (no landmarks, or ``align=False``).
        align: turn faces upright by their landmarks and cut them with FER-2013's framing
            (:mod:`fer_keras.predict.align`); faces without landmarks (Haar) are cut by their box.

    The faces of one image go through the model in ONE call.
    """

    def __init__(
        self,
        model: Any,
        class_names: Sequence[str],
        *,
        detector: FaceDetector | str | None = None,
        margin: float = DEFAULT_MARGIN,
        name: str | None = None,
        align: bool = True,
    ) -> None:
        runtime = as_runtime(model, name)
        check_model(runtime, class_names, name or runtime.path)
        self.runtime = runtime
        self.model = getattr(runtime, "model", runtime)
        self.class_names = list(class_names)
        self.detector = (
            get_detector(detector or DEFAULT_DETECTOR) if detector is None or isinstance(detector, str) else detector
        )
        self.margin = margin
        self.align = align
        self.name = name or runtime.path
        self.input_size: tuple[int, int] = (int(runtime.input_shape[1]), int(runtime.input_shape[2]))
        self.channels = int(runtime.input_shape[3])

    @classmethod
    def from_file(cls, path: str | os.PathLike | None = None, *, runtime: str = "auto", **kwargs: Any) -> Predictor:
        """Load the model at ``path`` (a file, or a published model's name; default: :func:`published_model`)
        and the class names beside it.

        ``runtime``: ``auto`` (the exported ``<model>.onnx`` beside a ``.keras`` file when there is one),
        ``keras``, ``onnx`` or ``litert``; see :mod:`fer_keras.predict.runtimes`.
        """
        path = model_file(path)
        resolve(path, runtime)  # a missing or unknown file is named before its classes file
        class_names = read_class_names(path)
        loaded = load_runtime(path, runtime)
        return cls(loaded, class_names, name=str(path), **kwargs)

    def load_image(self, image: ImageInput, *, name: str | None = None) -> Image.Image:
        """Decode ``image`` into the model's colour mode: ``L`` (grayscale) or ``RGB``."""
        return self.to_model_mode(read_image(image, name=name))

    def to_model_mode(self, img: Image.Image) -> Image.Image:
        """``img`` in the model's colour mode: ``L`` (grayscale, PIL's ITU-R 601 luma as in training) or ``RGB``."""
        mode = "L" if self.channels == 1 else "RGB"
        return img if img.mode == mode else img.convert(mode)

    def detect(self, img: Image.Image) -> list[Detection]:
        """The faces (box, landmarks, score) in a decoded image, largest first."""
        rgb = img if img.mode in ("RGB", "L") else img.convert("RGB")
        return self.detector.detect_faces(np.asarray(rgb))

    def find_faces(self, img: Image.Image) -> list[Box]:
        """Face boxes in a decoded image, largest first."""
        return [d.box for d in self.detect(img)]

    def classify(self, img: Image.Image, boxes: Sequence[Box | Detection]) -> np.ndarray:
        """Class probabilities ``(len(boxes), classes)`` of the faces at ``boxes`` in one model call: faces with
        landmarks aligned (when :attr:`align`), the others cut by their box with :attr:`margin`."""
        faces = [b if isinstance(b, Detection) else Detection(tuple(b)) for b in boxes]
        aligned = np.array([self.align and f.landmarks is not None for f in faces], dtype=bool)
        shape = (len(faces), *self.input_size) + (() if self.channels == 1 else (self.channels,))
        crops = np.empty(shape, dtype=np.uint8)
        if not aligned.all():
            boxed = [f.box for f, a in zip(faces, aligned, strict=True) if not a]
            crops[~aligned] = face_crops(img, boxed, self.input_size, self.margin)
        if aligned.any():
            pixels = np.asarray(img)
            for i in np.flatnonzero(aligned):
                crops[i] = align_face(pixels, faces[i].landmarks, self.input_size)
        return self.classify_crops(crops)

    def classify_crops(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities for uint8 face crops already at the model's input size (rescaled by 1/255)."""
        count = len(crops)
        if count == 0:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        batch = crops.reshape(count, *self.input_size, self.channels).astype(np.float32)
        batch *= _RESCALE
        return np.asarray(self.runtime(batch), dtype=np.float32)[:count]

    def describe(self, faces: Sequence[Box | Detection], probabilities: np.ndarray) -> list[dict[str, Any]]:
        """One ``{"box", "landmarks", "score", "emotion", "confidence", "probabilities"}`` dict per face
        (``landmarks`` and ``score`` are None when the detector gives none)."""
        described = []
        for face, probs in zip(faces, probabilities, strict=True):
            face = face if isinstance(face, Detection) else Detection(tuple(face))
            best = int(np.argmax(probs))
            described.append(
                {
                    "box": [int(v) for v in face.box],
                    "landmarks": face.landmark_dict(),
                    "score": None if face.score is None else round(face.score, 4),
                    "emotion": self.class_names[best],
                    "confidence": round(float(probs[best]), 6),
                    "probabilities": {n: round(float(p), 6) for n, p in zip(self.class_names, probs, strict=True)},
                }
            )
        return described

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
        faces = self.detect(original) if detect else [Detection((0, 0, img.width, img.height))]
        return original, self.describe(faces, self.classify(img, faces))

    def warm_up(self) -> None:
        """Run the model once on one face so that the first real request is not slow."""
        self.classify_crops(np.zeros((1, *self.input_size, self.channels), dtype=np.uint8))


def default_detector() -> FaceDetector:
    """The shared default detector (YuNet with default settings)."""
    return get_detector(DEFAULT_DETECTOR)


@lru_cache(maxsize=4)
def _predictor_from_file(path: str, mtime_ns: int, runtime: str, detector: str, align: bool) -> Predictor:
    return Predictor.from_file(path, runtime=runtime, detector=detector, align=align)


PUBLISHED_MODEL = get_preset(DEFAULT_PRESET).path
"""The published FER-7 model shipped in the package (``fer_keras/assets/fer7.keras``, made by ``make results``)."""


def published_model(name: str = DEFAULT_PRESET) -> Path:
    """The published model ``name`` shipped in the package, checked; a DataError names what is wrong and the fix."""
    return preset_path(name)


def get_predictor(
    model: Any,
    class_names: Sequence[str] | None = None,
    *,
    runtime: str = "auto",
    detector: str = DEFAULT_DETECTOR,
    align: bool = True,
) -> Predictor:
    """A :class:`Predictor` for a model file or a published model's name (cached per path, modification time,
    runtime and detector), a loaded Keras model or runtime (``class_names`` required) or a Predictor (returned
    as it is)."""
    if isinstance(model, Predictor):
        return model
    if not isinstance(model, (str, os.PathLike)):
        if class_names is None:
            raise DataError(
                f"No class names for model {getattr(model, 'name', model)!r}: pass class_names=[...] in its output "
                "order, or pass the path of a model saved by `train` (its classes file is read)."
            )
        return Predictor(model, class_names, detector=detector, align=align)
    if runtime not in ("auto", *RUNTIMES):
        raise DataError(f"Unknown runtime {runtime!r}: choose one of auto, {', '.join(RUNTIMES)}.")
    path = model_file(model).resolve()  # a published model's name, or a path
    mtime = path.stat().st_mtime_ns if path.is_file() else 0
    return _predictor_from_file(str(path), mtime, runtime, detector, align)


def predict_faces(
    model: Any,
    image: ImageInput,
    *,
    detect: bool = True,
    class_names: Sequence[str] | None = None,
    runtime: str = "auto",
    detector: str = DEFAULT_DETECTOR,
) -> list[dict[str, Any]]:
    """Predict the expression of every face in ``image``; see :meth:`Predictor.predict`.

    ``model`` is a model path (``.keras`` saved by ``train``, or ``.onnx`` / ``.tflite`` written by ``export``;
    loaded once and cached), a loaded Keras model with ``class_names``, or a :class:`Predictor`. ``image`` is a
    path, encoded bytes, a PIL image or a uint8 array. Each face is ``{"box": [x, y, w, h], "landmarks":
    {"right_eye": [x, y], ...} or None, "score": float or None, "emotion": str, "confidence": float,
    "probabilities": {class: p}}``.
    """
    return get_predictor(model, class_names, runtime=runtime, detector=detector).predict(image, detect=detect)
