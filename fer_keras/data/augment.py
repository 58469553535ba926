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

from collections.abc import Mapping
from typing import Any

import numpy as np

from fer_keras.layers import RandomAffine, compose_coefficients, zoom_bounds
from fer_keras.layers import shift_pixels as _shift_pixels

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


CROP_KEYS: tuple[str, ...] = ("crop_padding", "horizontal_flip", "cutout")
"""The keywords of the random-crop augmentation (CIFAR-10): pad by ``crop_padding`` pixels, crop, flip, and
blank one ``cutout`` x ``cutout`` square (DeVries & Taylor 2017)."""

CUTOUT_FILL: float = 127.5
"""The value (0-255 scale) a cutout square is filled with: mid-grey, about CIFAR-10's mean pixel (so about 0
once the model standardises its input)."""


def crop_kwargs(augment: Mapping[str, Any] | None, *, colour: bool = False) -> dict[str, Any]:
    """The random-crop keywords of ``augment`` when it asks for crops (``crop_padding``), else ``{}``.

    ``colour``: the images have a channel axis, which only the crop (and mirror) implementation takes, so a
    mirror-only augmentation becomes a crop of padding 0. Crops or cutout mixed with the affine keywords
    (rotation, zoom, shifts), or those keywords on colour images, raise ``ValueError`` naming them.
    """
    if not augment:
        return {}
    affine = sorted(k for k in augment_kwargs(augment) if k != "horizontal_flip" and augment[k])
    cropping = [k for k in ("crop_padding", "cutout") if augment.get(k)]
    if affine and (cropping or colour):
        where = f"with {' and '.join(cropping)}" if cropping else "on colour images in the fast feed"
        raise ValueError(
            f"Augmentation {', '.join(affine)} cannot be used {where}: use crop_padding and horizontal_flip, "
            "or the ImageDataGenerator feed (pipeline='imagegenerator')."
        )
    if not cropping and not (colour and augment.get("horizontal_flip")):
        return {}
    out = {
        "crop_padding": int(augment.get("crop_padding") or 0),
        "horizontal_flip": bool(augment.get("horizontal_flip")),
    }
    if augment.get("cutout"):
        out["cutout"] = int(augment["cutout"])
    return out


def idg_crop_equivalent(augment: Mapping[str, Any]) -> dict[str, Any]:
    """ImageDataGenerator keywords for a random-crop augmentation: whole-pixel shifts drawn uniformly from
    ``-crop_padding .. crop_padding`` (IDG takes a list as the values to choose from; an integer ``k`` would
    draw ``choice(range(k)) * ±1``, which favours no shift), edge filling, and the same flip. Other keywords
    pass through; ``cutout`` becomes a :class:`Cutout` ``preprocessing_function``."""
    out = {k: v for k, v in augment.items() if k not in ("crop_padding", "cutout")}
    if augment.get("cutout"):
        out["preprocessing_function"] = Cutout(int(augment["cutout"]))
    if augment.get("crop_padding"):
        shifts = list(range(-int(augment["crop_padding"]), int(augment["crop_padding"]) + 1))
        out.update(width_shift_range=shifts, height_shift_range=shifts)
    return out


class Cutout:
    """ImageDataGenerator's ``preprocessing_function`` for cutout: one ``size`` x ``size`` square of each
    (already shifted and mirrored) image, placed uniformly inside it, set to :data:`CUTOUT_FILL`. Draws from
    NumPy's global generator, which ImageDataGenerator seeds per batch."""

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        top = np.random.randint(0, height - self.size + 1)
        left = np.random.randint(0, width - self.size + 1)
        image = np.array(image, copy=True)
        image[top : top + self.size, left : left + self.size] = CUTOUT_FILL
        return image


def random_crop_flip(
    images: np.ndarray,
    rng: np.random.Generator,
    *,
    crop_padding: int = 4,
    horizontal_flip: bool = False,
    cutout: int = 0,
) -> np.ndarray:
    """Random crops of a uint8 ``(B, H, W[, C])`` batch padded by ``crop_padding`` (edge pixels
    repeated, as ``fill_mode="nearest"``), each mirrored with p = 0.5 if ``horizontal_flip``, then with
    ``cutout`` one ``cutout`` x ``cutout`` square inside each image set to :data:`CUTOUT_FILL`; float32 out.

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
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]].astype(np.float32)
    if cutout:
        top = rng.integers(0, height - cutout + 1, n)
        left = rng.integers(0, width - cutout + 1, n)
        inside_rows = (np.arange(height)[None, :] >= top[:, None]) & (
            np.arange(height)[None, :] < top[:, None] + cutout
        )
        inside_cols = (np.arange(width)[None, :] >= left[:, None]) & (
            np.arange(width)[None, :] < left[:, None] + cutout
        )
        out[inside_rows[:, :, None] & inside_cols[:, None, :]] = CUTOUT_FILL
    return out


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


def augmentation_layer(augment: Mapping[str, Any] | None, seed: int | None = None) -> RandomAffine:
    """A :class:`RandomAffine` configured from an ImageDataGenerator-style ``augment`` mapping."""
    return RandomAffine(**augment_kwargs(augment), seed=seed, name="random_affine")
