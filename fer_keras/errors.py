"""The errors fer_keras raises for bad input; each message names the file or value and the fix.

Every one is a :class:`FerKerasError`, itself a ``ValueError``, so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class FerKerasError(ValueError):
    """Base of fer_keras' input errors."""


class DataError(FerKerasError):
    """Bad or missing input data or model file; the message names the path or class and the fix."""


class BadImageError(DataError):
    """The input is not a readable image (not an image at all, truncated, or an unsupported array)."""


class BadVideoError(DataError):
    """The input is not a readable video, or a video without frames."""


__all__ = ["BadImageError", "BadVideoError", "DataError", "FerKerasError"]
