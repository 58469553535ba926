"""CIFAR-10 from class folders (``<root>/cifar10/{train,test}/<class>/*``): RGB through the same loaders as FER.

The folders are listed and split with the FER loaders' functions (seeded, stratified validation split,
stratified smoke subset, every file decoded once before training), then fed by ImageDataGenerator
(``color_mode="rgb"``) or by the fast path (decoded once into a uint8 ``(N, 32, 32, 3)`` array, cached).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fer_keras.constants import CIFAR10_CLASSES, CIFAR10_IMAGE_SIZE
from fer_keras.data.augment import idg_crop_equivalent
from fer_keras.data.fer import FerData, checked_request, class_folder_frames, flow_frame, load_sample_images
from fer_keras.data.paths import cifar10_split_dir, resolve_data_root

CIFAR_AUGMENTATION: dict[str, Any] = {"crop_padding": 4, "horizontal_flip": True}
"""The standard CIFAR-10 augmentation: random 32x32 crops of the image padded by 4 pixels, and mirroring."""

SMOKE_SIZES: dict[str, int] = {"train": 1000, "validation": 200, "test": 500}
"""Images per split in the CIFAR-10 ``smoke`` subset (stratified)."""


@dataclass
class CifarData(FerData):
    """The three feeds of CIFAR-10 plus what describes them (the interface of :class:`FerData`)."""

    preprocessing: str = field(default="32x32 RGB, pixels rescaled to [0, 1]", init=False)

    def sample_images(self, per_class: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A few training images per class (uint8 RGB) and their labels, for a sample grid."""
        return load_sample_images(
            self.frames["train"], self.class_names, per_class, seed, mode="RGB", size=CIFAR10_IMAGE_SIZE
        )


def cifar10_frames(
    classes: Sequence[str] = CIFAR10_CLASSES,
    data_dir: str | os.PathLike | None = None,
    *,
    validation_split: float = 0.1,
    seed: int = 1337,
    smoke: bool = False,
    check: bool = True,
    train_fraction: float = 1.0,
) -> dict[str, pd.DataFrame]:
    """File lists of the train, validation and test splits of CIFAR-10 (as :func:`fer_keras.data.fer_frames`)."""
    root = resolve_data_root(data_dir)
    return class_folder_frames(
        cifar10_split_dir(root, "train"),
        cifar10_split_dir(root, "test"),
        classes,
        validation_split=validation_split,
        seed=seed,
        smoke_sizes=SMOKE_SIZES if smoke else None,
        check=check,
        train_fraction=train_fraction,
    )


def load_cifar10(
    data_dir: str | os.PathLike | None = None,
    *,
    classes: Sequence[str] = CIFAR10_CLASSES,
    batch_size: int = 128,
    validation_split: float = 0.1,
    seed: int = 1337,
    augmentation: Mapping[str, Any] | bool | None = True,
    smoke: bool = False,
    pipeline: str = "imagegenerator",
    workers: int = 1,
    cache_dir: str | os.PathLike | None = None,
    train_fraction: float = 1.0,
) -> CifarData:
    """Train (shuffled, augmented), validation and test (unshuffled) feeds of CIFAR-10: RGB 32x32 in [0, 1].

    ``augmentation=True`` uses :data:`CIFAR_AUGMENTATION` (random crops of the 4-pixel padded image and
    mirroring); a mapping gives other keywords (``crop_padding``, ``horizontal_flip`` or ImageDataGenerator's);
    ``False``/``None`` turns it off. ``pipeline="fast"`` decodes the files once into a uint8 array (cached in
    ``cache_dir``) and crops whole batches with one gather; ``"imagegenerator"`` feeds with
    ``ImageDataGenerator.flow_from_dataframe(color_mode="rgb")``, its crops drawn as whole-pixel shifts.

    Raises :class:`DataError` (naming the folder, class or file and the fix) before any training.
    """
    classes, augment = checked_request(pipeline, classes, augmentation, CIFAR_AUGMENTATION)
    frames = cifar10_frames(
        classes,
        data_dir,
        validation_split=validation_split,
        seed=seed,
        smoke=smoke,
        check=pipeline != "fast",  # the fast path decodes every file anyway and names a bad one
        train_fraction=train_fraction,
    )
    if pipeline == "fast":
        from fer_keras.data.fast import build_fast_iterators

        feeds = build_fast_iterators(
            frames,
            classes,
            batch_size=batch_size,
            augment=augment,
            seed=seed,
            image_size=CIFAR10_IMAGE_SIZE,
            color_mode="rgb",
            cache_dir=cache_dir,
            workers=workers,
        )
    else:
        common = {"batch_size": batch_size, "seed": seed, "workers": workers}
        rgb = {"image_size": CIFAR10_IMAGE_SIZE, "color_mode": "rgb"}
        idg_augment = idg_crop_equivalent(augment) if augment else None
        feeds = {
            "train": flow_frame(frames["train"], classes, augmentation=idg_augment, shuffle=True, **rgb, **common),
            "validation": flow_frame(frames["validation"], classes, **rgb, **common),
            "test": flow_frame(frames["test"], classes, **rgb, **common),
        }
    root = resolve_data_root(data_dir)
    return CifarData(
        feeds["train"], feeds["validation"], feeds["test"], classes, frames, pipeline, augment, "cpu", root
    )
