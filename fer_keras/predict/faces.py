"""Cut faces out of a photo with FER-2013-like framing (the box plus a margin); the Haar cascade lives in
:mod:`fer_keras.predict.detectors.haar` and is re-exported here under its old name, ``FaceDetector``."""

from __future__ import annotations

import numpy as np
from PIL import Image

from fer_keras.predict.detectors.base import Box
from fer_keras.predict.detectors.haar import DEFAULT_CASCADE, WINDOW, cascade_path
from fer_keras.predict.detectors.haar import HaarDetector as FaceDetector

__all__ = [
    "DEFAULT_CASCADE",
    "DEFAULT_MARGIN",
    "WINDOW",
    "Box",
    "FaceDetector",
    "cascade_path",
    "crop_region",
    "face_crops",
]

DEFAULT_MARGIN = 0.1
"""Border added around a detected box on every side, as a fraction of its size (FER-2013 framing)."""


def crop_region(box: Box, image_size: tuple[int, int], margin: float = DEFAULT_MARGIN) -> tuple[int, int, int, int]:
    """The ``(left, top, right, bottom)`` region cut for ``box``: ``margin`` added, kept inside the image."""
    x, y, w, h = box
    width, height = image_size
    dx, dy = round(w * margin), round(h * margin)
    return max(0, x - dx), max(0, y - dy), min(width, x + w + dx), min(height, y + h + dy)


def face_crops(
    image: Image.Image,
    boxes: list[Box],
    size: tuple[int, int],
    margin: float = DEFAULT_MARGIN,
) -> np.ndarray:
    """Each box cut out with ``margin`` and resized (PIL bilinear, as in training) to ``size`` = (H, W).

    Returns uint8 ``(N, H, W)`` for a grayscale ``image`` or ``(N, H, W, 3)`` for an RGB one.
    """
    height, width = size
    crops = [
        np.asarray(image.resize((width, height), Image.Resampling.BILINEAR, box=crop_region(b, image.size, margin)))
        for b in boxes
    ]
    channels = () if image.mode == "L" else (len(image.getbands()),)
    return np.stack(crops) if crops else np.zeros((0, height, width, *channels), dtype=np.uint8)
