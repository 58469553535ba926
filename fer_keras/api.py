"""The one call from a photo (or a video) to emotions, with the published model loaded once.

>>> import fer_keras
>>> faces = fer_keras.detect_emotions("photo.jpg")  # doctest: +SKIP
>>> faces[0].emotion, faces[0].confidence, faces[0].box  # doctest: +SKIP
('happy', 0.93, (177, 66, 95, 95))
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from fer_keras.presets import DEFAULT_PRESET

if TYPE_CHECKING:
    import pandas as pd

    from fer_keras.predict.images import ImageInput
    from fer_keras.predict.predictor import Predictor


@dataclass(frozen=True)
class Face:
    """One face found in an image and its predicted expression.

    Attributes:
        box: ``(x, y, width, height)`` in pixels of the (EXIF-upright) image.
        emotion: the most probable class.
        confidence: its probability.
        probabilities: every class's probability, in the model's class order.
        landmarks: ``{"right_eye": (x, y), "left_eye", "nose", "mouth_right", "mouth_left"}`` ("right" is the
            person's right), or None with the Haar cascade.
        score: the detector's confidence that this is a face (0-1), or None with the Haar cascade.
    """

    box: tuple[int, int, int, int]
    emotion: str
    confidence: float
    probabilities: dict[str, float]
    landmarks: dict[str, tuple[float, float]] | None = None
    score: float | None = None

    @classmethod
    def from_dict(cls, face: Mapping[str, Any]) -> Face:
        """A Face from :meth:`fer_keras.predict.Predictor.predict`'s dict."""
        x, y, w, h = (int(v) for v in face["box"])
        points = face.get("landmarks")
        landmarks = {name: (float(px), float(py)) for name, (px, py) in points.items()} if points else None
        return cls(
            (x, y, w, h),
            face["emotion"],
            float(face["confidence"]),
            dict(face["probabilities"]),
            landmarks,
            face.get("score"),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"box": [x, y, w, h], "emotion", "confidence", "probabilities", "landmarks", "score"}``."""
        points = {name: list(point) for name, point in self.landmarks.items()} if self.landmarks else None
        return {**asdict(self), "box": list(self.box), "landmarks": points}


def _predictor(
    model: str | os.PathLike | Predictor, detector: str = "yunet", align: bool = True, runtime: str = "auto"
) -> Predictor:
    """The cached :class:`Predictor` of a published model's name, a model path, or a Predictor itself."""
    from fer_keras.predict.predictor import get_predictor

    return get_predictor(model, runtime=runtime, detector=detector, align=align)


def detect_emotions(
    image: ImageInput,
    *,
    model: str | os.PathLike | Predictor = DEFAULT_PRESET,
    detector: str = "yunet",
    align: bool = True,
    runtime: str = "auto",
    detect: bool = True,
) -> list[Face]:
    """Find the faces in ``image`` and predict each one's expression, largest face first.

    Args:
        image: a file path, the encoded bytes of an image file, a PIL image, or a uint8 array
            ``(H, W)``, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA.
        model: a published model's name (``"fer7"``: all seven emotions, the default; ``"fer4"``),
            a ``.keras`` file saved by ``train``, or a :class:`~fer_keras.predict.Predictor`. It is
            loaded on the first call and reused by the next ones.
        detector: ``"yunet"`` (the default: faces turned up to +-35 degrees, with five landmarks) or
            ``"haar"`` (OpenCV's Haar cascade: upright faces, no landmarks).
        align: turn each face upright by its landmarks and cut it with FER-2013's framing first.
        runtime: ``"auto"`` (the exported ONNX copy shipped beside a published model: no TensorFlow or Keras
            is imported), ``"keras"``, ``"onnx"`` or ``"litert"``.
        detect: ``False`` classifies the whole image as one face (for images already cropped to a face).

    Returns:
        One :class:`Face` per face found (``box``, ``emotion``, ``confidence``, ``probabilities``,
        ``landmarks``, ``score``); an empty list when there is none.

    Raises:
        fer_keras.BadImageError: ``image`` cannot be decoded. fer_keras.DataError: the file or the model
        is missing or unusable; the message names it and the fix.
    """
    return [Face.from_dict(face) for face in _predictor(model, detector, align, runtime).predict(image, detect=detect)]


def analyze_video(
    video: str | os.PathLike,
    *,
    model: str | os.PathLike | Predictor = DEFAULT_PRESET,
    every: int = 1,
    max_frames: int | None = None,
    detect: bool = True,
    progress: bool | None = None,
) -> pd.DataFrame:
    """The expression of every face in ``video``, frame by frame, as a pandas DataFrame.

    One row per face per analysed frame (every ``every``-th frame, at most ``max_frames``): ``frame``,
    ``time_s``, ``face`` (0 = largest), the box ``x, y, w, h``, ``emotion``, ``confidence`` and one
    probability column per class; ``table.attrs`` holds the video's ``fps``, size and timings.
    ``model`` is as in :func:`detect_emotions`. This is :func:`fer_keras.predict.analyze_video` with
    the video first and the published model by default.
    """
    from fer_keras.predict.video import analyze_video as analyze

    return analyze(_predictor(model), video, every, max_frames, detect=detect, progress=progress)


__all__ = ["Face", "analyze_video", "detect_emotions"]
