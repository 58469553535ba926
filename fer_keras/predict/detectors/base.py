"""The detector contract: every face detector returns :class:`Detection` s (box, five landmarks, score)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

Box = tuple[int, int, int, int]
"""A face box ``(x, y, width, height)`` in pixels of the image."""

LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")
"""The five landmarks, in YuNet's order; "right" is the person's right (the left side of the photo)."""


@dataclass(frozen=True)
class Detection:
    """One face found in an image.

    ``box``: ``(x, y, w, h)`` in image pixels, inside the image. ``landmarks``: a ``(5, 2)`` float
    array of ``(x, y)`` in :data:`LANDMARK_NAMES` order, or None for a detector without landmarks
    (the Haar cascade). ``score``: the detector's confidence in [0, 1], or None (Haar).
    """

    box: Box
    landmarks: np.ndarray | None = None
    score: float | None = None

    def landmark_dict(self) -> dict[str, list[float]] | None:
        """The landmarks as ``{"right_eye": [x, y], ...}`` rounded to 0.1 pixel (None without landmarks)."""
        if self.landmarks is None:
            return None
        points = zip(LANDMARK_NAMES, self.landmarks, strict=True)
        return {name: [round(float(v), 1) for v in point] for name, point in points}


class FaceDetector(Protocol):
    """What :class:`~fer_keras.predict.predictor.Predictor` needs of a detector."""

    name: str
    min_size: int

    def detect_faces(self, rgb: np.ndarray) -> list[Detection]:
        """The faces in a uint8 ``(H, W, 3)`` RGB or ``(H, W)`` grayscale image, largest first."""
        ...


def largest_first(detections: list[Detection]) -> list[Detection]:
    """``detections`` sorted by box area, then top to bottom, then left to right."""
    return sorted(detections, key=lambda d: (-d.box[2] * d.box[3], d.box[1], d.box[0]))
