"""Import the original CIFAR-10 archive (``cifar-10-python.tar.gz``) into the folder layout the loaders read.

The archive holds ``cifar-10-batches-py/`` with five training batches (``data_batch_1`` .. ``_5``), ``test_batch``
and ``batches.meta``, each a pickled dict: ``data`` (uint8 rows of 3,072 values: the red, green and blue 32x32
planes, row by row), ``labels`` (0..9) and ``filenames``. Every image becomes a lossless PNG
``<root>/cifar10/{train,test}/<class>/<NNNNN>.png`` (``NNNNN`` its index in the split), so the pixels read back
are exactly the archive's. The batches are unpickled with an unpickler that only builds dicts, lists, strings and
NumPy arrays, so a crafted archive cannot run code. The PNGs are written into a temporary folder renamed at the
end: a bad archive or an interruption leaves no partial ``cifar10/``.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fer_keras.constants import CIFAR10_CLASSES
from fer_keras.data.importing import check_target_free, import_into_folder
from fer_keras.data.paths import DataError

ARCHIVE_DIR = "cifar-10-batches-py"
BATCHES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
"""The archive's batch files of each split, in order."""
TEMP_PREFIX = ".cifar10.import-"
"""Prefix of the temporary folder the import writes into (beside the final ``cifar10/``)."""
IMAGE_VALUES = 32 * 32 * 3
_REDOWNLOAD = "Download cifar-10-python.tar.gz (the Python version) again and run the import again."
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


@dataclass
class CifarImportResult:
    """What :func:`import_cifar10_archive` wrote: the new ``cifar10/`` folder and its counts per split and class."""

    cifar_dir: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def images(self) -> int:
        """Images written."""
        return sum(sum(per_class.values()) for per_class in self.counts.values())


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain containers and NumPy arrays (no other class or function)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"the batch asks for {module}.{name}, which a CIFAR-10 batch never holds")


def _plain_keys(mapping: dict) -> dict[str, Any]:
    """Keys as ``str`` (the archive was written by Python 2, so they load as ``bytes``)."""
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in mapping.items()}


def read_batch(payload: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 32, 32, 3)`` uint8 and labels ``(n,)`` of one pickled batch; ``where`` names it in errors."""
    try:
        batch = _SafeUnpickler(io.BytesIO(payload), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(f"{where} is not a CIFAR-10 batch ({type(exc).__name__}: {exc}). {_REDOWNLOAD}") from exc
    if not isinstance(batch, dict):
        raise DataError(f"{where} holds a {type(batch).__name__}, not a CIFAR-10 batch dict. {_REDOWNLOAD}")
    batch = _plain_keys(batch)
    missing = [key for key in ("data", "labels") if key not in batch]
    if missing:
        raise DataError(f"{where} has no {' or '.join(missing)} entry. {_REDOWNLOAD}")
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_VALUES:
        raise DataError(
            f"{where}: data is {data.dtype} {data.shape}, expected uint8 rows of {IMAGE_VALUES} values. {_REDOWNLOAD}"
        )
    if labels.shape != (len(data),):
        raise DataError(f"{where}: {len(labels)} labels for {len(data)} images. {_REDOWNLOAD}")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
        raise DataError(f"{where}: labels outside 0..9 ({labels.min()}..{labels.max()}). {_REDOWNLOAD}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # planes -> (H, W, RGB)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def iter_archive_batches(archive: str | os.PathLike) -> Iterator[tuple[str, str, np.ndarray, np.ndarray]]:
    """``(split, batch name, images, labels)`` for every batch of the archive, train first; checked as read."""
    path = Path(archive)
    if not path.is_file():
        raise DataError(f"CIFAR-10 archive {path} does not exist. Pass the path of cifar-10-python.tar.gz.")
    try:
        with tarfile.open(path, "r:*") as tar:
            members = {m.name.split("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
            wanted = [name for names in BATCHES.values() for name in names]
            missing = [name for name in wanted if name not in members]
            if missing:
                raise DataError(
                    f"{path} lacks {', '.join(missing)} (expected {ARCHIVE_DIR}/data_batch_1..5 and test_batch). "
                    "Pass cifar-10-python.tar.gz, the Python version (not the binary or MATLAB one)."
                )
            for split, names in BATCHES.items():
                for name in names:
                    handle = tar.extractfile(members[name])
                    payload = handle.read() if handle else b""
                    yield split, name, *read_batch(payload, f"{path}: {name}")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{path} is not a readable tar.gz archive or is truncated ({exc}). {_REDOWNLOAD}") from exc


def _write_images(archive: Path, folder: Path, progress: bool) -> dict[str, dict[str, int]]:
    """Write every image of ``archive`` as ``folder/<split>/<class>/<NNNNN>.png``; counts per split and class."""
    from tqdm import tqdm

    counts = {split: dict.fromkeys(CIFAR10_CLASSES, 0) for split in BATCHES}
    for split in BATCHES:
        for name in CIFAR10_CLASSES:
            (folder / split / name).mkdir(parents=True)
    index = dict.fromkeys(BATCHES, 0)
    with tqdm(total=60_000, unit=" images", desc="import", disable=not progress, mininterval=0.5) as bar:
        for split, _, images, labels in iter_archive_batches(archive):
            for image, label in zip(images, labels, strict=True):
                name = CIFAR10_CLASSES[label]
                Image.fromarray(image, mode="RGB").save(folder / split / name / f"{index[split]:05d}.png")
                index[split] += 1
                counts[split][name] += 1
                bar.update()
    return counts


def import_cifar10_archive(
    archive: str | os.PathLike, data_root: str | os.PathLike, *, progress: bool = False
) -> CifarImportResult:
    """Convert ``cifar-10-python.tar.gz`` into ``<data_root>/cifar10/{train,test}/<class>/*.png`` (lossless).

    An existing ``<data_root>/cifar10`` is never overwritten; a missing, wrong or truncated archive raises
    :class:`DataError` naming the file and the fix, and leaves nothing behind. ``progress`` shows a bar on stderr.
    """
    archive, target = Path(archive), Path(data_root).expanduser() / "cifar10"
    if not archive.is_file():
        raise DataError(f"CIFAR-10 archive {archive} does not exist. Pass the path of cifar-10-python.tar.gz.")
    check_target_free(target)
    counts = import_into_folder(target, TEMP_PREFIX, lambda temp: _write_images(archive, temp, progress))
    return CifarImportResult(target.resolve(), counts)
