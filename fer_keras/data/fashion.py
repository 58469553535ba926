"""Fashion-MNIST: read the IDX files from the data root, split, and feed with ImageDataGenerator."""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from fer_keras.constants import FASHION_CLASSES
from fer_keras.data.fer import image_generator
from fer_keras.data.paths import DATA_ENV_VAR, DataError, resolve_data_root

FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IDX_MAGIC = {0x00000803: 3, 0x00000801: 1}  # unsigned-byte images (3 dims) and labels (1 dim)

SMOKE_SIZES: dict[str, int] = {"train": 2000, "validation": 500, "test": 1000}
"""Images per split in the Fashion-MNIST ``smoke`` subset (stratified)."""


@dataclass
class FashionData:
    """Fashion-MNIST as uint8 arrays per split, with ImageDataGenerator iterators.

    Same interface as :class:`~fer_keras.data.fer.FerData`: ``train`` (shuffled, augmented
    with ``augmentation``), ``validation`` and ``test`` (unshuffled) feeds of ``batch_size``,
    ``class_names``, ``counts``, ``pipeline``, ``sparse_labels`` (integer labels here),
    :meth:`fingerprint` and :meth:`sample_images`.
    """

    arrays: dict[str, tuple[np.ndarray, np.ndarray]]
    class_names: tuple[str, ...] = FASHION_CLASSES
    source: str = ""
    batch_size: int = 128
    augmentation: dict[str, Any] | None = None
    seed: int = 1337
    pipeline: str = field(default="imagegenerator", init=False)
    augment_on: str = field(default="cpu", init=False)
    sparse_labels: bool = field(default=True, init=False)
    preprocessing: str = field(default="28x28 grayscale, pixels rescaled to [0, 1]", init=False)

    @cached_property
    def train(self):
        """Shuffled, augmented training feed (``NumpyArrayIterator``)."""
        return self.flow("train", batch_size=self.batch_size, augmentation=self.augmentation, seed=self.seed)

    @cached_property
    def validation(self):
        """Unshuffled validation feed."""
        return self.flow("validation", batch_size=self.batch_size)

    @cached_property
    def test(self):
        """Unshuffled test feed."""
        return self.flow("test", batch_size=self.batch_size)

    def fingerprint(self) -> dict[str, Any]:
        """SHA-256 over the arrays actually read (images and labels of every split)."""
        from fer_keras.runinfo import fingerprint_arrays

        flat = {f"{split}/{kind}": a for split, (x, y) in self.arrays.items() for kind, a in (("x", x), ("y", y))}
        return {"sha256": fingerprint_arrays(flat)["sha256"], "images": sum(len(y) for _, y in self.arrays.values())}

    def sample_images(self, per_class: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A few training images per class (uint8) and their labels, for a sample grid."""
        x, y = self.arrays["train"]
        rng = np.random.default_rng(seed)
        index = np.concatenate(
            [
                rng.choice(np.flatnonzero(y == c), min(per_class, int((y == c).sum())), replace=False)
                for c in range(len(self.class_names))
            ]
        )
        return x[index], y[index]

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Images per class per split."""
        return {
            split: {name: int((y == i).sum()) for i, name in enumerate(self.class_names)}
            for split, (_, y) in self.arrays.items()
        }

    def flow(
        self,
        split: str,
        *,
        batch_size: int = 128,
        shuffle: bool | None = None,
        augmentation: Mapping[str, Any] | None = None,
        seed: int = 1337,
    ):
        """An ImageDataGenerator ``flow`` over one split: (B, 28, 28, 1) floats in [0, 1], integer labels."""
        x, y = self.arrays[split]
        shuffle = split == "train" if shuffle is None else shuffle
        return image_generator(augmentation).flow(
            x[..., None].astype(np.float32), y, batch_size=batch_size, shuffle=shuffle, seed=seed
        )

    def scaled(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """One split as float32 (N, 28, 28, 1) in [0, 1] and integer labels (for keras-tuner searches)."""
        x, y = self.arrays[split]
        return (x[..., None] / np.float32(255)).astype(np.float32), y


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or raw) of unsigned bytes; raise :class:`DataError` if it is malformed."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"Cannot read IDX file {path}: {exc}. Replace it with an intact copy.") from exc
    if len(data) < 4:
        raise DataError(f"IDX file {path} is empty or truncated. Replace it with an intact copy.")
    (magic,) = struct.unpack(">I", data[:4])
    if magic not in IDX_MAGIC:
        raise DataError(
            f"IDX file {path} has magic number {magic:#010x}, expected 0x00000803 (images) or 0x00000801 "
            "(labels). It is not a Fashion-MNIST IDX file: replace it with the original download."
        )
    ndim = IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header]) if len(data) >= header else ()
    expected = int(np.prod(shape)) if shape else -1
    if len(data) - header != expected:
        raise DataError(
            f"IDX file {path} is truncated or padded: header says shape {shape} ({expected} bytes), "
            f"found {len(data) - header} bytes. Replace it with an intact copy."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def fashion_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The local ``fashion-mnist/`` folder under the data root, or None when there is none."""
    try:
        root = resolve_data_root(data_dir)
    except DataError:
        if data_dir is not None:
            raise
        return None
    folder = root / "fashion-mnist" if (root / "fashion-mnist").is_dir() else root
    return folder if (folder / FASHION_FILES["train"][0]).exists() else None


def load_fashion_arrays(
    data_dir: str | os.PathLike | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str]:
    """((x_train, y_train), (x_test, y_test), source) from local IDX files, else Keras' downloader.

    The local copy (``<root>/fashion-mnist/*-idx?-ubyte.gz``) is used whenever it
    exists, so no network is needed; ``keras.datasets.fashion_mnist.load_data()`` is
    the fallback only when no local copy is found.
    """
    folder = fashion_dir(data_dir)
    if folder is None:
        import keras

        try:
            (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
        except Exception as exc:  # noqa: BLE001 - offline machines end here
            raise DataError(
                "No local Fashion-MNIST found and the download failed "
                f"({type(exc).__name__}). Put the four IDX files in <data root>/fashion-mnist/ "
                f"and pass --data / set {DATA_ENV_VAR}."
            ) from exc
        return (x_train, y_train), (x_test, y_test), "keras.datasets.fashion_mnist"
    arrays = {}
    for split, (images_file, labels_file) in FASHION_FILES.items():
        images, labels = read_idx(folder / images_file), read_idx(folder / labels_file)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{folder / images_file} holds {images.shape} but {folder / labels_file} holds {labels.shape}: "
                "images must be (N, 28, 28) with N labels. Replace the files with the original pair."
            )
        arrays[split] = (images, labels)
    return arrays["train"], arrays["test"], str(folder)


def _subsample(x: np.ndarray, y: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if size >= len(y):
        return x, y
    index, _ = train_test_split(np.arange(len(y)), train_size=size, stratify=y, random_state=seed)
    index = np.sort(index)
    return x[index], y[index]


def load_fashion(
    data_dir: str | os.PathLike | None = None,
    *,
    batch_size: int = 128,
    validation_split: float = 0.1,
    seed: int = 1337,
    augmentation: Mapping[str, Any] | None = None,
    smoke: bool = False,
) -> FashionData:
    """Fashion-MNIST with a seeded, stratified validation split carved from train (uint8 arrays).

    The feeds (``.train``, ``.validation``, ``.test``) yield ``batch_size`` batches of
    (B, 28, 28, 1) floats in [0, 1] with integer labels; ``augmentation`` holds
    ImageDataGenerator keywords for the training feed.
    """
    (x_train, y_train), (x_test, y_test), source = load_fashion_arrays(data_dir)
    tr, val = train_test_split(np.arange(len(y_train)), test_size=validation_split, stratify=y_train, random_state=seed)
    tr, val = np.sort(tr), np.sort(val)
    arrays = {
        "train": (x_train[tr], y_train[tr]),
        "validation": (x_train[val], y_train[val]),
        "test": (x_test, y_test),
    }
    if smoke:
        arrays = {split: _subsample(x, y, SMOKE_SIZES[split], seed) for split, (x, y) in arrays.items()}
    return FashionData(
        arrays,
        FASHION_CLASSES,
        source,
        batch_size=batch_size,
        augmentation=dict(augmentation) if augmentation else None,
        seed=seed,
    )
