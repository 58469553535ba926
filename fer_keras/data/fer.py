"""FER-2013 loaders on ``ImageDataGenerator``: folder listing, checks, seeded split, iterators.

The file list of each split is read from the Kaggle folder layout
(``<root>/fer2013/{train,test}/<emotion>/*.jpg``) and fed to
``ImageDataGenerator.flow_from_dataframe``. We list the folders ourselves instead
of calling ``flow_from_directory`` because its ``validation_split`` always takes
the first files of each class; listing first gives a seeded, stratified split, a
stratified smoke subset and a corrupt-file check before any training starts,
while the iterators (grayscale loading, resizing, rescale, augmentation) stay
ImageDataGenerator's own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.model_selection import train_test_split

from fer_keras.constants import FER4_CLASSES, FER_IMAGE_SIZE
from fer_keras.data.legacy import ImageDataGenerator
from fer_keras.data.paths import DataError, fer_split_dir, resolve_data_root

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff"})

DEFAULT_AUGMENTATION: dict[str, Any] = {
    "rotation_range": 10,
    "width_shift_range": 0.1,
    "height_shift_range": 0.1,
    "zoom_range": 0.1,
    "horizontal_flip": True,
}
"""ImageDataGenerator keyword arguments of the default training augmentation."""

SMOKE_SIZES: dict[str, int] = {"train": 512, "validation": 128, "test": 128}
"""Images per split in the ``smoke`` subset (stratified, so class proportions are kept)."""

PIPELINES = ("imagegenerator", "fast")


@dataclass
class FerData:
    """The three iterators of one FER experiment plus what describes them."""

    train: Any
    validation: Any
    test: Any
    class_names: tuple[str, ...]
    frames: dict[str, pd.DataFrame]
    pipeline: str = "imagegenerator"
    augmentation: dict[str, Any] | None = None
    augment_on: str = "cpu"  # "model": the fast path leaves augmentation to a RandomAffine layer in the model
    root: Path | None = None
    counts: dict[str, dict[str, int]] = field(init=False)
    sparse_labels: bool = field(default=False, init=False)  # one-hot labels
    preprocessing: str = field(default="grayscale, resized to 48x48 (bilinear), pixels rescaled to [0, 1]", init=False)

    def __post_init__(self) -> None:
        self.counts = {split: class_counts(frame, self.class_names) for split, frame in self.frames.items()}

    def fingerprint(self) -> dict[str, Any]:
        """SHA-256 over (relative path, size, content hash) of every image file the splits read."""
        from fer_keras.runinfo import fingerprint_files

        files = sorted({f for frame in self.frames.values() for f in frame["filename"]})
        root = self.root if self.root is not None else os.path.commonpath(files)
        digest = fingerprint_files(files, root)
        return {"sha256": digest["sha256"], "images": int(digest["files"]), "bytes": int(digest["bytes"])}

    def sample_images(self, per_class: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A few training images per class (uint8) and their labels, for a sample grid."""
        return load_sample_images(self.frames["train"], self.class_names, per_class, seed)


def list_class_images(split_dir: str | os.PathLike, classes: Sequence[str]) -> pd.DataFrame:
    """List ``split_dir/<class>/*`` image files as a DataFrame with ``filename`` and ``class`` columns.

    Raises :class:`DataError` for a class without a folder or a class folder without images.
    """
    split_dir = Path(split_dir)
    available = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    rows = []
    for name in classes:
        folder = split_dir / name
        if not folder.is_dir():
            raise DataError(
                f"Class '{name}' has no folder {folder}. Folders found: {', '.join(available) or 'none'}. "
                "Check the class name's spelling or add the folder."
            )
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(
                f"Class folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}). "
                "Add its images or leave the class out."
            )
        rows.extend((str(path), name) for path in files)
    return pd.DataFrame(rows, columns=["filename", "class"])


def list_fer_images(split: str, classes: Sequence[str] = FER4_CLASSES, data_dir: str | None = None) -> pd.DataFrame:
    """List the images of one FER-2013 split (``train`` or ``test``) for ``classes``."""
    return list_class_images(fer_split_dir(resolve_data_root(data_dir), split), classes)


def _image_problem(path: str) -> str | None:
    try:
        with Image.open(path) as image:
            image.load()
    except Exception as exc:  # noqa: BLE001 - any failure to decode is the problem we report
        return f"{path}: {type(exc).__name__}: {exc}"
    return None


def check_images(filenames: Sequence[str], workers: int = 8) -> None:
    """Decode every file once; raise :class:`DataError` listing each unreadable or truncated image."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = [p for p in pool.map(_image_problem, filenames, chunksize=256) if p]
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise DataError(
            f"{len(problems)} image file(s) cannot be decoded (corrupt or truncated):\n  {shown}{more}\n"
            "Remove or replace these files, then run again."
        )


def class_counts(frame: pd.DataFrame, classes: Sequence[str]) -> dict[str, int]:
    """Images per class in ``frame``, in ``classes`` order."""
    counts = frame["class"].value_counts()
    return {name: int(counts.get(name, 0)) for name in classes}


def stratified_sample(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """A seeded sample of ``size`` rows keeping class proportions (the whole frame if smaller)."""
    if size >= len(frame):
        return frame.reset_index(drop=True)
    sample, _ = train_test_split(frame, train_size=size, stratify=frame["class"], random_state=seed)
    return sample.sort_values("filename").reset_index(drop=True)


def split_validation(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``frame`` into (train, validation) with a seeded, stratified ``fraction`` for validation."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), got {fraction}")
    try:
        train, val = train_test_split(frame, test_size=fraction, stratify=frame["class"], random_state=seed)
    except ValueError as exc:  # too few images in a class for a stratified split
        counts = frame["class"].value_counts()
        raise DataError(
            f"Cannot carve a stratified {fraction:.0%} validation split: the smallest class "
            f"'{counts.idxmin()}' has {counts.min()} training image(s) ({exc}). Add images to that class "
            "or change validation_split."
        ) from exc
    return train.sort_values("filename").reset_index(drop=True), val.sort_values("filename").reset_index(drop=True)


def class_folder_frames(
    train_dir: Path,
    test_dir: Path,
    classes: Sequence[str],
    *,
    validation_split: float = 0.1,
    seed: int = 1337,
    smoke_sizes: Mapping[str, int] | None = None,
    check: bool = True,
    train_fraction: float = 1.0,
) -> dict[str, pd.DataFrame]:
    """File lists of the train, validation and test splits of a data set stored as class folders.

    A seeded, stratified ``validation_split`` of ``train_dir``; ``train_fraction`` < 1 keeps a seeded
    stratified share of the training split (validation and test stay whole); ``smoke_sizes`` keeps a
    stratified subset of each split; ``check`` decodes every file once (:func:`check_images`).
    """
    if not 0 < train_fraction <= 1:
        raise ValueError(f"train_fraction must be in (0, 1], got {train_fraction}")
    train, validation = split_validation(list_class_images(train_dir, classes), validation_split, seed)
    if train_fraction < 1:
        train = stratified_sample(train, round(len(train) * train_fraction), seed)
    frames = {"train": train, "validation": validation, "test": list_class_images(test_dir, classes)}
    if smoke_sizes:
        frames = {split: stratified_sample(frame, smoke_sizes[split], seed) for split, frame in frames.items()}
    if check:
        check_images([f for frame in frames.values() for f in frame["filename"]])
    return frames


def fer_frames(
    classes: Sequence[str] = FER4_CLASSES,
    data_dir: str | os.PathLike | None = None,
    *,
    validation_split: float = 0.1,
    seed: int = 1337,
    smoke: bool = False,
    check: bool = True,
    train_fraction: float = 1.0,
) -> dict[str, pd.DataFrame]:
    """File lists of the train, validation and test splits (seeded split; smoke subset; checked files).

    ``train_fraction`` < 1 keeps a seeded stratified share of the training split (e.g. for quick comparisons);
    validation and test stay whole.
    """
    root = resolve_data_root(data_dir)
    return class_folder_frames(
        fer_split_dir(root, "train"),
        fer_split_dir(root, "test"),
        classes,
        validation_split=validation_split,
        seed=seed,
        smoke_sizes=SMOKE_SIZES if smoke else None,
        check=check,
        train_fraction=train_fraction,
    )


def image_generator(augmentation: Mapping[str, Any] | None = None) -> ImageDataGenerator:
    """An ``ImageDataGenerator`` rescaling to [0, 1], with optional augmentation keywords."""
    return ImageDataGenerator(rescale=1.0 / 255, fill_mode="nearest", **dict(augmentation or {}))


def flow_frame(
    frame: pd.DataFrame,
    classes: Sequence[str],
    *,
    augmentation: Mapping[str, Any] | None = None,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int = 1337,
    image_size: tuple[int, int] = FER_IMAGE_SIZE,
    color_mode: str = "grayscale",
    workers: int = 1,
    use_multiprocessing: bool = False,
):
    """An ImageDataGenerator iterator over ``frame``: ``image_size`` images (grayscale by default), one-hot labels.

    Colour images are converted to grayscale and other sizes resized (bilinear) on
    load. ``workers > 1`` lets Keras fetch batches in parallel (``PyDataset`` workers).
    """
    iterator = image_generator(augmentation).flow_from_dataframe(
        frame,
        x_col="filename",
        y_col="class",
        classes=list(classes),
        target_size=image_size,
        color_mode=color_mode,
        class_mode="categorical",
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        interpolation="bilinear",
        validate_filenames=False,
    )
    iterator.workers = workers
    iterator.use_multiprocessing = use_multiprocessing
    return iterator


def checked_request(
    pipeline: str,
    classes: Sequence[str],
    augmentation: Mapping[str, Any] | bool | None,
    default_augmentation: Mapping[str, Any],
) -> tuple[tuple[str, ...], dict[str, Any] | None]:
    """A loader's ``pipeline`` and ``classes`` checked, and its augmentation resolved: ``True`` gives
    ``default_augmentation``, a mapping itself, ``False``/``None`` none. Returns ``(classes, augmentation)``."""
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be one of {PIPELINES}, got {pipeline!r}")
    classes = tuple(classes)
    if len(set(classes)) != len(classes):
        raise DataError(f"Classes {classes} name a class twice; list each class once.")
    if augmentation is True:
        return classes, dict(default_augmentation)
    return classes, dict(augmentation) if augmentation else None


def load_fer(
    classes: Sequence[str] = FER4_CLASSES,
    data_dir: str | os.PathLike | None = None,
    *,
    batch_size: int = 64,
    validation_split: float = 0.1,
    seed: int = 1337,
    augmentation: Mapping[str, Any] | bool | None = True,
    smoke: bool = False,
    pipeline: str = "imagegenerator",
    workers: int = 1,
    use_multiprocessing: bool = False,
    cache_dir: str | os.PathLike | None = None,
    augment_on: str = "cpu",
    train_fraction: float = 1.0,
) -> FerData:
    """Train (shuffled, augmented), validation and test (unshuffled) iterators for FER-2013 ``classes``.

    ``augmentation=True`` uses :data:`DEFAULT_AUGMENTATION`; a mapping gives
    ImageDataGenerator keywords; ``False``/``None`` turns it off. ``pipeline="fast"``
    decodes the images once into a uint8 array (cached in ``cache_dir`` if given) and
    augments whole batches with one vectorised warp (same semantics, much faster);
    ``augment_on="model"`` leaves that warp to a ``RandomAffine`` layer in the model
    (on the accelerator). ``"imagegenerator"`` is the plain feed. ``train_fraction`` as in :func:`fer_frames`.
    """
    classes, augment = checked_request(pipeline, classes, augmentation, DEFAULT_AUGMENTATION)
    # The fast path decodes every file anyway and reports a bad one by path, so it skips the separate check.
    frames = fer_frames(
        classes,
        data_dir,
        validation_split=validation_split,
        seed=seed,
        smoke=smoke,
        check=pipeline != "fast",
        train_fraction=train_fraction,
    )
    if pipeline == "fast":
        from fer_keras.data.fast import build_fast_iterators

        its = build_fast_iterators(
            frames,
            classes,
            batch_size=batch_size,
            augment=augment,
            seed=seed,
            cache_dir=cache_dir,
            workers=workers,
            use_multiprocessing=use_multiprocessing,
            augment_on=augment_on,
        )
        train, validation, test = its["train"], its["validation"], its["test"]
    else:
        common = {
            "batch_size": batch_size,
            "seed": seed,
            "workers": workers,
            "use_multiprocessing": use_multiprocessing,
        }
        train = flow_frame(frames["train"], classes, augmentation=augment, shuffle=True, **common)
        validation = flow_frame(frames["validation"], classes, **common)
        test = flow_frame(frames["test"], classes, **common)
    augment_on = augment_on if pipeline == "fast" else "cpu"
    return FerData(train, validation, test, classes, frames, pipeline, augment, augment_on, resolve_data_root(data_dir))


def load_sample_images(
    frame: pd.DataFrame,
    classes: Sequence[str],
    per_class: int = 6,
    seed: int = 0,
    *,
    mode: str = "L",
    size: tuple[int, int] = FER_IMAGE_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``per_class`` random images of each class from ``frame`` as (uint8 images, int labels), in PIL
    ``mode`` (``"L"`` grayscale, ``"RGB"``) at ``size``."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for index, name in enumerate(classes):
        files = frame.loc[frame["class"] == name, "filename"].to_numpy()
        for path in rng.choice(files, size=min(per_class, len(files)), replace=False):
            with Image.open(path) as image:
                images.append(np.asarray(image.convert(mode).resize(size), dtype=np.uint8))
            labels.append(index)
    return np.stack(images), np.asarray(labels)
