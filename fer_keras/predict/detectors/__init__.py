"""Face detectors behind one contract (:class:`Detection`: box, five landmarks, score), chosen by name.

>>> sorted(DETECTORS)
['haar', 'yunet']
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fer_keras.errors import DataError
from fer_keras.predict.detectors.base import LANDMARK_NAMES, Box, Detection, FaceDetector, largest_first
from fer_keras.predict.detectors.haar import HaarDetector
from fer_keras.predict.detectors.yunet import YuNetDetector

DETECTORS: dict[str, type] = {"yunet": YuNetDetector, "haar": HaarDetector}
"""Every detector by name; ``yunet`` is the default."""
DEFAULT_DETECTOR = "yunet"


def build_detector(name: str = DEFAULT_DETECTOR, **settings: Any) -> FaceDetector:
    """A new detector ``name`` with ``settings`` (e.g. ``min_size=32``, ``score_threshold=0.9`` for YuNet)."""
    if name not in DETECTORS:
        raise DataError(f"Unknown face detector {name!r}: choose one of {', '.join(DETECTORS)}.")
    try:
        return DETECTORS[name](**settings)
    except TypeError as err:
        raise DataError(f"Bad setting for the {name} detector ({err}).") from err


@lru_cache(maxsize=8)
def get_detector(name: str = DEFAULT_DETECTOR, **settings: Any) -> FaceDetector:
    """The shared detector ``name`` with ``settings``, built once per process (detectors are thread-safe)."""
    return build_detector(name, **settings)


__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "LANDMARK_NAMES",
    "Box",
    "Detection",
    "FaceDetector",
    "HaarDetector",
    "YuNetDetector",
    "build_detector",
    "get_detector",
    "largest_first",
]
