"""Fast input pipeline: decode once to uint8, batch from memory, augment with one batched warp.

Same batches as the ImageDataGenerator loaders (``x`` float32 ``(B, H, W, 1)`` in [0, 1],
``y`` one-hot float32, IDG's augmentation), but without per-image Python work. Augmentation
runs either on the CPU inside the :class:`ArrayDataset` (``augment_on="cpu"``) or on the
accelerator as a :class:`~fer_keras.data.augment.RandomAffine` layer in front of the model
(``augment_on="model"``, see :func:`augmentation_layer`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from fer_keras.data.augment import (
    RandomAffine,
    affine_params,
    augment_kwargs,
    augmentation_layer,
    crop_kwargs,
    random_crop_flip,
    warp_batch_numpy,
)
from fer_keras.data.decode import decode_images

logger = logging.getLogger(__name__)

AUGMENT_ON: tuple[str, ...] = ("cpu", "model")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
_RESCALE = np.float32(1.0 / 255.0)

__all__ = [
    "ArrayDataset",
    "RandomAffine",
    "augmentation_layer",
    "build_fast_iterators",
    "decode_images",
    "loading_options",
]


def loading_options(feed: Any) -> dict[str, Any]:
    """``feed``'s PyDataset loading options (workers, multiprocessing, queue size; Keras' defaults where it has
    none), for a PyDataset that wraps it to load alike."""
    return {
        "workers": getattr(feed, "workers", 1),
        "use_multiprocessing": getattr(feed, "use_multiprocessing", False),
        "max_queue_size": getattr(feed, "max_queue_size", 10),
    }


class ArrayDataset(keras.utils.PyDataset):
    """Batches ``(x, y)`` from a uint8 image array, like an ImageDataGenerator iterator.

    ``x`` is float32 ``(B, H, W, 1)`` for grayscale ``(N, H, W)`` images (``(B, H, W, 3)`` for RGB
    ``(N, H, W, 3)``), rescaled to [0, 1], ``y`` float32 one-hot. With ``shuffle`` the order is re-drawn
    every epoch; with ``augment`` each batch is warped (or, with ``crop_padding``, randomly cropped) on the
    CPU. All randomness derives from ``(seed, epoch, batch index)``, so batches do not depend on
    worker scheduling; ``epoch`` counts ``on_epoch_end`` calls unless :meth:`set_epoch` sets it (as
    :class:`fer_keras.resume.ResumeState` does from Keras' epoch number, so a resumed run continues
    the epoch sequence of the run it resumes).
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: Sequence[int] | np.ndarray,
        class_names: Sequence[str],
        *,
        batch_size: int = 32,
        shuffle: bool = False,
        augment: Mapping[str, Any] | None = None,
        seed: int = 0,
        filenames: Sequence[str] | None = None,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        if images.ndim not in (3, 4) or images.dtype != np.uint8:
            raise ValueError(
                f"images must be a uint8 (N, H, W) or (N, H, W, C) array, got {images.dtype} {images.shape}"
            )
        self.images = images
        self.classes = np.asarray(labels, dtype=np.int32)
        if len(self.classes) != len(images):
            raise ValueError(f"{len(images)} images but {len(self.classes)} labels")
        self.class_indices = {name: i for i, name in enumerate(class_names)}
        self.num_classes = len(class_names)
        self.filenames = list(filenames) if filenames is not None else []
        self.n = self.samples = len(images)
        self.batch_size = int(batch_size)
        self.image_shape = (*images.shape[1:], 1) if images.ndim == 3 else images.shape[1:]
        self.shuffle = bool(shuffle)
        self.augment = crop_kwargs(augment, colour=images.ndim == 4) or augment_kwargs(augment)
        self.seed = int(seed)
        self.epoch = 0
        self._order = self._epoch_order(0)

    def __len__(self) -> int:
        """Number of batches per epoch; the last one may be partial."""
        return math.ceil(self.n / self.batch_size)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        """Sample order of ``epoch``: a seeded permutation when shuffling, else 0..n-1."""
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def batch_indices(self, index: int) -> np.ndarray:
        """Sample indices of batch ``index`` in the current epoch."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        return self._order[index * self.batch_size : (index + 1) * self.batch_size]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``index``: float32 images in [0, 1] with a channel axis, and one-hot labels."""
        ids = self.batch_indices(index)
        images = self.images[ids]
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        if "crop_padding" in self.augment:
            x = random_crop_flip(images, rng, **self.augment)
        elif self.augment:
            matrices = affine_params(len(ids), rng, image_size=images.shape[1:], **self.augment)
            x = warp_batch_numpy(images, matrices)
        else:
            x = images.astype(np.float32)
        x *= _RESCALE
        y = np.zeros((len(ids), self.num_classes), dtype=np.float32)
        y[np.arange(len(ids)), self.classes[ids]] = 1.0
        return (x[..., None] if x.ndim == 3 else x), y

    def set_epoch(self, epoch: int) -> None:
        """Serve the batches of epoch ``epoch`` (0-based) from now on: its order and its augmentation."""
        self.epoch = int(epoch)
        self._order = self._epoch_order(self.epoch)

    def on_epoch_end(self) -> None:
        """Advance the epoch counter and re-draw the order (when shuffling)."""
        self.set_epoch(self.epoch + 1)


def _labels(frame, class_indices: Mapping[str, int], split: str) -> tuple[list[str], np.ndarray]:
    """Filenames and integer labels of ``frame``, dropping rows of other classes (as IDG does)."""
    keep = frame["class"].isin(list(class_indices))
    if not keep.all():
        logger.info("%s: dropping %d rows whose class is not in %s", split, int((~keep).sum()), list(class_indices))
    frame = frame[keep]
    labels = frame["class"].map(class_indices).to_numpy(dtype=np.int32)
    return [os.fspath(f) for f in frame["filename"]], labels


def build_fast_iterators(
    frames: Mapping[str, Any],
    class_names: Sequence[str],
    *,
    batch_size: int,
    augment: Mapping[str, Any] | None,
    seed: int,
    image_size: tuple[int, int] = (48, 48),
    color_mode: str = "grayscale",
    cache_dir: str | os.PathLike | None = None,
    workers: int = 1,
    use_multiprocessing: bool = False,
    max_queue_size: int = 10,
    augment_on: str = "cpu",
) -> dict[str, ArrayDataset]:
    """Fast-path replacements of the ImageDataGenerator iterators, keyed like ``frames``.

    ``frames`` maps ``"train"``, ``"validation"`` (optional, may be empty) and ``"test"`` to
    DataFrames with ``filename`` (absolute path) and ``class`` columns; an empty frame gives an
    empty dataset (``n == 0``), a missing or ``None`` one no entry. All files are decoded
    once (one :func:`decode_images` call in ``color_mode``, cached in ``cache_dir``). ``train`` is shuffled and,
    with ``augment_on="cpu"``, augmented; the others are neither. With ``augment_on="model"``
    put ``augmentation_layer(augment, seed)`` in front of the model instead.
    """
    if augment_on not in AUGMENT_ON:
        raise ValueError(f"augment_on must be one of {AUGMENT_ON}, got {augment_on!r}")
    class_indices = {name: i for i, name in enumerate(class_names)}
    splits = {name: _labels(frame, class_indices, name) for name, frame in frames.items() if frame is not None}
    union = list(dict.fromkeys(f for names, _ in splits.values() for f in names))
    images = decode_images(union, image_size=image_size, cache_dir=cache_dir, color_mode=color_mode)
    position = {f: i for i, f in enumerate(union)}
    datasets = {}
    for name, (names, labels) in splits.items():
        is_train = name == "train"
        datasets[name] = ArrayDataset(
            images[[position[f] for f in names]],
            labels,
            class_names,
            batch_size=batch_size,
            shuffle=is_train,
            augment=augment if is_train and augment_on == "cpu" else None,
            seed=seed,
            filenames=names,
            workers=workers,
            use_multiprocessing=use_multiprocessing,
            max_queue_size=max_queue_size,
        )
    return datasets
