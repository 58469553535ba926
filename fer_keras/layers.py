"""Custom Keras layers of fer_keras: :class:`RandomAffine`, the training-time augmentation.

Kept apart from the data loaders so that loading a trained model (which may hold the layer)
needs only Keras: importing this module registers the layer as ``fer_keras>RandomAffine``.
Published models hold no such layer (:func:`fer_keras.export.save_compact_model` drops it).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops


def zoom_bounds(zoom_range: float | tuple[float, float]) -> tuple[float, float]:
    """ImageDataGenerator's zoom interval: a float ``z`` means ``[1 - z, 1 + z]``."""
    if isinstance(zoom_range, (int, float)):
        return 1.0 - float(zoom_range), 1.0 + float(zoom_range)
    low, high = zoom_range
    return float(low), float(high)


def shift_pixels(shift_range: float, size: int) -> float:
    """Half-width of the uniform shift in pixels: a fraction of ``size`` if < 1, else pixels."""
    shift_range = float(shift_range)
    return shift_range * size if shift_range < 1 else shift_range


def compose_coefficients(theta, tx, ty, zx, zy, flip, image_size: tuple[int, int], xp=np):
    """Output->input affine coefficients ``(a00, a01, a02, a10, a11, a12)`` in (row, col) pixels.

    Works on NumPy arrays (``xp=np``) or tensors (``xp=keras.ops``). ``theta`` is in degrees,
    ``tx``/``ty`` are IDG's shifts in pixels, ``flip`` is 0/1. Mirrors IDG: ``M = R T Z`` about
    the centre, axes swapped (``P M P``), then a horizontal flip of the output.
    """
    height, width = image_size
    rad = theta * (math.pi / 180.0)
    cos, sin = xp.cos(rad), xp.sin(rad)
    # P R(theta) T(tx, ty) Z(zx, zy) P in (row, col): R(-theta) . T(ty, tx) . diag(zy, zx).
    l00, l01, l10, l11 = cos * zy, sin * zx, -sin * zy, cos * zx
    off_r, off_c = cos * ty + sin * tx, -sin * ty + cos * tx
    c_r, c_c = width / 2.0 - 0.5, height / 2.0 - 0.5
    a02 = c_r - l00 * c_r - l01 * c_c + off_r
    a12 = c_c - l10 * c_r - l11 * c_c + off_c
    # Horizontal flip of the output: col -> (W - 1) - col.
    sign = 1.0 - 2.0 * flip
    a02 = a02 + flip * (width - 1.0) * l01
    a12 = a12 + flip * (width - 1.0) * l11
    return l00, l01 * sign, a02, l10, l11 * sign, a12


@keras.saving.register_keras_serializable(package="fer_keras")
class RandomAffine(keras.layers.Layer):
    """ImageDataGenerator's rotation/shift/zoom/flip as one ``affine_transform`` over the batch.

    Active only when ``training=True``; identity at inference. Inputs are ``(B, H, W, C)``
    channels-last images (any value scale).
    """

    def __init__(
        self,
        rotation_range: float = 0.0,
        width_shift_range: float = 0.0,
        height_shift_range: float = 0.0,
        zoom_range: float | tuple[float, float] = 0.0,
        horizontal_flip: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rotation_range = float(rotation_range)
        self.width_shift_range = float(width_shift_range)
        self.height_shift_range = float(height_shift_range)
        self.zoom_range = zoom_range if isinstance(zoom_range, (int, float)) else tuple(zoom_range)
        self.horizontal_flip = bool(horizontal_flip)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _uniform(self, batch, low: float, high: float):
        """``batch`` uniform draws in ``[low, high)`` from the layer's seed generator."""
        return keras.random.uniform((batch,), low, high, seed=self.seed_generator)

    def transforms(self, batch, image_size: tuple[int, int]):
        """Random ``(batch, 8)`` projective transforms in Keras' (x=col, y=row) convention."""
        height, width = image_size
        zero = ops.zeros((batch,))
        theta = self._uniform(batch, -self.rotation_range, self.rotation_range) if self.rotation_range else zero
        tx_max = shift_pixels(self.height_shift_range, height) if self.height_shift_range else 0.0
        ty_max = shift_pixels(self.width_shift_range, width) if self.width_shift_range else 0.0
        tx = self._uniform(batch, -tx_max, tx_max) if tx_max else zero
        ty = self._uniform(batch, -ty_max, ty_max) if ty_max else zero
        low, high = zoom_bounds(self.zoom_range)
        zoomed = (low, high) != (1.0, 1.0)
        zx = self._uniform(batch, low, high) if zoomed else zero + 1.0
        zy = self._uniform(batch, low, high) if zoomed else zero + 1.0
        flip = ops.cast(self._uniform(batch, 0.0, 1.0) < 0.5, "float32") if self.horizontal_flip else zero
        a00, a01, a02, a10, a11, a12 = compose_coefficients(theta, tx, ty, zx, zy, flip, image_size, xp=ops)
        # x' (source col) = a11 x + a10 y + a12 ; y' (source row) = a01 x + a00 y + a02.
        return ops.stack([a11, a10, a12, a01, a00, a02, zero, zero], axis=-1)

    def call(self, inputs, training: bool | None = None):
        """Augment a batch when training, else return it unchanged."""
        if not training:
            return inputs
        shape = ops.shape(inputs)
        transform = self.transforms(shape[0], (int(inputs.shape[1]), int(inputs.shape[2])))
        outputs = ops.image.affine_transform(
            ops.cast(inputs, "float32"),
            transform,
            interpolation="bilinear",
            fill_mode="nearest",
            data_format="channels_last",
        )
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        """Same shape as the input."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for saving and ``from_config``."""
        config = super().get_config()
        config.update(
            rotation_range=self.rotation_range,
            width_shift_range=self.width_shift_range,
            height_shift_range=self.height_shift_range,
            zoom_range=self.zoom_range,
            horizontal_flip=self.horizontal_flip,
            seed=self.seed,
        )
        return config


__all__ = ["RandomAffine", "compose_coefficients", "shift_pixels", "zoom_bounds"]
