"""OpenCV's frontal-face Haar cascade (2001) behind the detector contract: boxes, no landmarks, no score."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from fer_keras.errors import DataError
from fer_keras.predict.detectors.base import Box, Detection

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"
WINDOW = 24
"""Size in pixels of the default cascade's detection window: the smallest face it can see."""


def cascade_path(name: str = DEFAULT_CASCADE) -> Path:
    """The Haar cascade file ``name`` shipped inside ``opencv-python-headless`` 4.x (``cv2.data``)."""
    import cv2

    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    path = Path(folder or "") / name
    if not folder or not path.is_file():
        raise DataError(
            f"OpenCV's face cascade {name} was not found (looked in {folder or 'cv2.data: missing'}). "
            "Install the pinned opencv-python-headless 4.x (`pip install -r requirements.txt`): "
            "the 5.x wheels no longer ship the cascade files."
        )
    return path


@dataclass
class HaarDetector:
    """OpenCV's frontal-face Haar cascade with its settings (``detector="haar"``); safe to share between threads.

    ``min_size``: smallest face searched, in pixels of the given image; 48 by default, the size of
    the FER-2013 faces the models learn from (smaller faces would be upscaled). Lower it for small
    faces in group photos.

    The image is searched shrunk so that a ``min_size`` face becomes ``search_size`` pixels (the
    cascade's own window is 24) and its longer side at most ``max_side``; boxes are scaled back.
    With ``scale_factor`` 1.2 (OpenCV's default 1.1 steps through the sizes more finely) this
    finds the test photo's face at the same place for about a third of the time of OpenCV's
    defaults at full size (see benchmarks/README.md).
    """

    scale_factor: float = 1.2
    min_neighbors: int = 5
    min_size: int = 48
    search_size: int = 32
    max_side: int | None = 1024
    cascade: str = DEFAULT_CASCADE
    name = "haar"
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.scale_factor <= 1.0 or self.min_size < 1 or self.search_size < WINDOW or self.min_neighbors < 0:
            raise ValueError(
                f"HaarDetector needs scale_factor > 1, min_size >= 1, search_size >= {WINDOW} "
                f"and min_neighbors >= 0, got {self}"
            )
        self._path = cascade_path(self.cascade)
        self._classifier()  # fail now, not at the first request

    def _classifier(self):
        """This thread's ``cv2.CascadeClassifier`` (OpenCV does not promise one is thread-safe)."""
        classifier = getattr(self._local, "classifier", None)
        if classifier is None:
            import cv2

            classifier = cv2.CascadeClassifier(str(self._path))
            if classifier.empty():
                raise DataError(
                    f"OpenCV could not load the face cascade {self._path}; reinstall opencv-python-headless."
                )
            self._local.classifier = classifier
        return classifier

    def search_scale(self, image_size: tuple[int, int]) -> float:
        """How much an image of ``image_size`` (width, height) is shrunk before searching (>= 1)."""
        scale = max(1.0, self.min_size / self.search_size)
        if self.max_side:
            scale = max(scale, max(image_size) / self.max_side)
        return scale

    def detect(self, gray: Image.Image | np.ndarray) -> list[Box]:
        """Face boxes ``(x, y, w, h)`` in a grayscale image, in its pixels, largest first."""
        image = gray if isinstance(gray, Image.Image) else Image.fromarray(gray)
        scale = self.search_scale(image.size)
        if scale > 1.0:
            size = (max(1, round(image.width / scale)), max(1, round(image.height / scale)))
            image = image.resize(size, Image.Resampling.BILINEAR)
        smallest = max(WINDOW, round(self.min_size / scale))
        found = self._classifier().detectMultiScale(
            np.asarray(image),
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(smallest, smallest),
        )
        boxes = [tuple(int(round(v * scale)) for v in box) for box in np.reshape(found, (-1, 4))]
        return sorted(boxes, key=lambda b: (-b[2] * b[3], b[1], b[0]))

    def detect_faces(self, image: np.ndarray) -> list[Detection]:
        """:meth:`detect` on a uint8 RGB ``(H, W, 3)`` or grayscale ``(H, W)`` image, as :class:`Detection` s."""
        gray = image if image.ndim == 2 else np.asarray(Image.fromarray(image).convert("L"))
        return [Detection(box) for box in self.detect(gray)]
