"""ImageDataGenerator-style random affine augmentation, batched.

Two implementations of the same transform:

* :func:`affine_params` + :func:`warp_batch_numpy`: one vectorised bilinear gather over the
  whole batch on the CPU (for a ``PyDataset``);
* :class:`RandomAffine`: a Keras layer doing one ``keras.ops.image.affine_transform`` call per
  batch on the accelerator.

Both reproduce ``ImageDataGenerator.apply_transform`` (rotation, shift, zoom, then horizontal
flip; bilinear, ``fill_mode="nearest"``), including its axis conventions: the shift drawn from
``height_shift_range`` (a fraction of the height) moves the image along the columns and the one
from ``width_shift_range`` along the rows, and the rotation centre is ``(W/2 - 0.5, H/2 - 0.5)``
in (row, col). For square images such as FER's 48x48 these quirks are invisible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

AUGMENT_KEYS: tuple[str, ...] = (
    "rotation_range",
    "width_shift_range",
    "height_shift_range",
    "zoom_range",
    "horizontal_flip",
)
"""The ImageDataGenerator keywords the fast path implements; other keys are ignored."""


def augment_kwargs(augment: Mapping[str, Any] | None) -> dict[str, Any]:
    """The supported augmentation keywords from an ImageDataGenerator-style mapping."""
    if not augment:
        return {}
    return {k: augment[k] for k in AUGMENT_KEYS if k in augment}


CROP_KEYS: tuple[str, ...] = ("crop_padding", "horizontal_flip")
"""The keywords of the random-crop augmentation (CIFAR-10): pad by ``crop_padding`` pixels, crop, flip."""


def crop_kwargs(augment: Mapping[str, Any] | None) -> dict[str, Any]:
    """The random-crop keywords of ``augment`` when it asks for crops (``crop_padding``), else ``{}``."""
    if not augment or not augment.get("crop_padding"):
        return {}
    return {k: augment[k] for k in CROP_KEYS if k in augment}


def idg_crop_equivalent(augment: Mapping[str, Any]) -> dict[str, Any]:
    """ImageDataGenerator keywords for a random-crop augmentation: whole-pixel shifts of at most
    ``crop_padding`` (IDG draws ``choice(range(k)) * ±1`` for an integer ``k``) with edge filling,
    and the same flip. Other keywords pass through."""
    out = {k: v for k, v in augment.items() if k != "crop_padding"}
    if augment.get("crop_padding"):
        shift = int(augment["crop_padding"]) + 1
        out.update(width_shift_range=shift, height_shift_range=shift)
    return out


def random_crop_flip(
    images: np.ndarray, rng: np.random.Generator, *, crop_padding: int = 4, horizontal_flip: bool = False
) -> np.ndarray:
    """Random crops of a uint8 ``(B, H, W[, C])`` batch padded by ``crop_padding`` (edge pixels
    repeated, as ``fill_mode="nearest"``), each mirrored with p = 0.5 if ``horizontal_flip``; float32 out.

    >>> batch = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    >>> random_crop_flip(batch, np.random.default_rng(0), crop_padding=1).shape
    (2, 4, 4)
    """
    n, height, width = images.shape[:3]
    pad = int(crop_padding)
    spec = [(0, 0), (pad, pad), (pad, pad)] + [(0, 0)] * (images.ndim - 3)
    padded = np.pad(images, spec, mode="edge")
    dy, dx = rng.integers(0, 2 * pad + 1, (2, n))
    rows = dy[:, None] + np.arange(height)[None, :]
    cols = dx[:, None] + np.arange(width)[None, :]
    if horizontal_flip:
        flip = rng.random(n) < 0.5
        cols[flip] = cols[flip, ::-1]
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.astype(np.float32)


def zoom_bounds(zoom_range: float | tuple[float, float]) -> tuple[float, float]:
    """ImageDataGenerator's zoom interval: a float ``z`` means ``[1 - z, 1 + z]``."""
    if isinstance(zoom_range, (int, float)):
        return 1.0 - float(zoom_range), 1.0 + float(zoom_range)
    low, high = zoom_range
    return float(low), float(high)


def _shift_pixels(shift_range: float, size: int) -> float:
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


def affine_params(
    n: int,
    rng: np.random.Generator,
    *,
    rotation_range: float = 0.0,
    width_shift_range: float = 0.0,
    height_shift_range: float = 0.0,
    zoom_range: float | tuple[float, float] = 0.0,
    horizontal_flip: bool = False,
    image_size: tuple[int, int] = (48, 48),
) -> np.ndarray:
    """Draw ``n`` random transforms as float32 ``(n, 2, 3)`` output->input matrices in (row, col).

    Distributions follow ImageDataGenerator: rotation uniform in +-``rotation_range`` degrees,
    shifts uniform in +-range (fraction of height/width if < 1, else pixels), ``zx``/``zy``
    independently uniform in the zoom interval, horizontal flip with p = 0.5.
    """
    height, width = image_size
    theta = rng.uniform(-rotation_range, rotation_range, n) if rotation_range else np.zeros(n)
    tx_max = _shift_pixels(height_shift_range, height) if height_shift_range else 0.0
    ty_max = _shift_pixels(width_shift_range, width) if width_shift_range else 0.0
    tx = rng.uniform(-tx_max, tx_max, n) if tx_max else np.zeros(n)
    ty = rng.uniform(-ty_max, ty_max, n) if ty_max else np.zeros(n)
    low, high = zoom_bounds(zoom_range)
    zx, zy = rng.uniform(low, high, (2, n)) if (low, high) != (1.0, 1.0) else np.ones((2, n))
    flip = (rng.random(n) < 0.5).astype(np.float64) if horizontal_flip else np.zeros(n)
    return matrices_from(theta, tx, ty, zx, zy, flip, image_size)


def matrices_from(theta, tx, ty, zx, zy, flip, image_size: tuple[int, int]) -> np.ndarray:
    """Stack per-image parameters (IDG's ``theta, tx, ty, zx, zy, flip_horizontal``) into (n, 2, 3)."""
    arrays = [np.asarray(v, dtype=np.float64) for v in (theta, tx, ty, zx, zy, flip)]
    coeffs = compose_coefficients(*arrays, image_size=image_size, xp=np)
    return np.stack(coeffs, axis=-1).reshape(-1, 2, 3).astype(np.float32)


def to_keras_transforms(matrices: np.ndarray) -> np.ndarray:
    """Convert (row, col) ``(n, 2, 3)`` matrices to ``keras.ops.image.affine_transform``'s ``(n, 8)`` rows."""
    m = np.asarray(matrices, dtype=np.float32)
    zero = np.zeros(len(m), dtype=np.float32)
    return np.stack([m[:, 1, 1], m[:, 1, 0], m[:, 1, 2], m[:, 0, 1], m[:, 0, 0], m[:, 0, 2], zero, zero], -1)


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Flattened float32 row and column coordinates of an ``(H, W)`` image."""
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij")
    return rows.ravel(), cols.ravel()


def _floor_fraction(coord: np.ndarray, size: int) -> np.ndarray:
    """Clamp coordinates to the image (edge fill); return their floor, leave the fraction in ``coord``."""
    np.clip(coord, 0.0, size - 1.0, out=coord)
    low = coord.astype(np.int32)  # truncation == floor for non-negative values
    coord -= low
    return low


def warp_batch_numpy(images: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Warp a batch ``(B, H, W)`` with per-image output->input matrices ``(B, 2, 3)`` (or ``(B, 3, 3)``).

    One vectorised bilinear gather over the whole batch (``np.take`` on flat int32 indices into the
    batch padded by one edge row/column), so out-of-range points take the nearest edge pixel.
    Returns float32 ``(B, H, W)`` on the input's value scale.
    """
    batch, height, width = images.shape
    padded = np.pad(images, ((0, 0), (0, 1), (0, 1)), mode="edge")
    flat = padded.reshape(-1).astype(np.float32, copy=False)
    m = np.asarray(matrices, dtype=np.float32)[:, :2, :]
    rows, cols = _grid(height, width)
    src_r = m[:, 0, 0, None] * rows + m[:, 0, 1, None] * cols + m[:, 0, 2, None]
    src_c = m[:, 1, 0, None] * rows + m[:, 1, 1, None] * cols + m[:, 1, 2, None]
    idx = _floor_fraction(src_r, height)
    idx *= width + 1
    idx += _floor_fraction(src_c, width)
    idx += (np.arange(batch, dtype=np.int32) * ((height + 1) * (width + 1)))[:, None]
    top = np.take(flat, idx)
    idx += 1
    right = np.take(flat, idx)
    idx += width
    bottom = np.take(flat, idx)
    idx += 1
    bottom_right = np.take(flat, idx)
    right -= top
    right *= src_c
    top += right
    bottom_right -= bottom
    bottom_right *= src_c
    bottom += bottom_right
    bottom -= top
    bottom *= src_r
    top += bottom
    return top.reshape(batch, height, width)


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
        tx_max = _shift_pixels(self.height_shift_range, height) if self.height_shift_range else 0.0
        ty_max = _shift_pixels(self.width_shift_range, width) if self.width_shift_range else 0.0
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


def augmentation_layer(augment: Mapping[str, Any] | None, seed: int | None = None) -> RandomAffine:
    """A :class:`RandomAffine` configured from an ImageDataGenerator-style ``augment`` mapping."""
    return RandomAffine(**augment_kwargs(augment), seed=seed, name="random_affine")
