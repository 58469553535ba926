"""fer_keras: facial-expression recognition with Keras 3, and the experiments that made its models.

The one call::

    import fer_keras
    faces = fer_keras.detect_emotions("photo.jpg")  # each face: box, emotion, confidence, probabilities

Names are imported on first use (PEP 562), so ``import fer_keras`` loads nothing heavy and changes
nothing: no Keras, no TensorFlow, no layer registration until a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "detect_emotions": "fer_keras.api",
    "analyze_video": "fer_keras.api",
    "Face": "fer_keras.api",
    "Predictor": "fer_keras.predict.predictor",
    "PRESETS": "fer_keras.presets",
    "FER4_CLASSES": "fer_keras.constants",
    "FER7_CLASSES": "fer_keras.constants",
    "FASHION_CLASSES": "fer_keras.constants",
    "FerKerasError": "fer_keras.errors",
    "DataError": "fer_keras.errors",
    "BadImageError": "fer_keras.errors",
    "BadVideoError": "fer_keras.errors",
}
"""Public name -> the module that defines it."""

__all__ = [
    "FASHION_CLASSES",
    "FER4_CLASSES",
    "FER7_CLASSES",
    "PRESETS",
    "BadImageError",
    "BadVideoError",
    "DataError",
    "Face",
    "FerKerasError",
    "Predictor",
    "__version__",
    "analyze_video",
    "detect_emotions",
]

if TYPE_CHECKING:
    from fer_keras.api import Face, analyze_video, detect_emotions
    from fer_keras.constants import FASHION_CLASSES, FER4_CLASSES, FER7_CLASSES
    from fer_keras.errors import BadImageError, BadVideoError, DataError, FerKerasError
    from fer_keras.predict.predictor import Predictor
    from fer_keras.presets import PRESETS


def __getattr__(name: str) -> Any:
    """Import ``name``'s module on first use (sub-modules such as ``fer_keras.data`` import as usual)."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fer_keras' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
