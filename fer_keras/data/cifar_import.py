"""Import the original CIFAR-10 archive (``cifar-10-python.tar.gz``) into the folder layout the loaders read.

The archive holds ``cifar-10-batches-py/`` with five training batches (``data_batch_1`` .. ``_5``), ``test_batch``
and ``batches.meta``, each a pickled dict: ``data`` (uint8 rows of 3,072 values: the red, green and blue 32x32
planes, row by row), ``labels`` (0..9) and ``filenames``. Every image becomes a lossless PNG
``<root>/cifar10/{train,test}/<class>/<NNNNN>.png`` (``NNNNN`` its index in the split), so the pixels read back
are exactly the archive's. The batches are unpickled with an unpickler that builds only dicts, lists, strings and
numbers; arrays are recorded as (shape, dtype name, bytes) and become NumPy arrays only when they are plain
integer data of the size their shape says, so no code of any module (NumPy's included) runs on the archive's say.
The PNGs are written into a temporary folder renamed at the end: a bad archive or an interruption leaves no partial
``cifar10/``.
"""

from __future__ import annotations

import io
import os
import pickle
import re
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


@dataclass
class CifarImportResult:
    """What :func:`import_cifar10_archive` wrote: the new ``cifar10/`` folder and its counts per split and class."""

    cifar_dir: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def images(self) -> int:
        """Images written."""
        return sum(sum(per_class.values()) for per_class in self.counts.values())


class _DtypeStub:
    """What a pickled ``numpy.dtype(...)`` names; never a real dtype, so NumPy's ``__setstate__`` never runs."""

    def __init__(self, name: Any = None, *_: Any) -> None:
        self.name = name.decode("latin1") if isinstance(name, bytes) else str(name)

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ArrayStub:
    """What a pickled ``numpy.ndarray`` holds (shape, dtype stub, raw bytes); turned into an array by
    :func:`_to_array` only when it is plain unsigned 8-bit data of the size its shape says."""

    def __init__(self, *_: Any) -> None:
        self.shape: tuple = ()
        self.dtype: Any = None
        self.raw: Any = b""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 5:
            _, self.shape, self.dtype, _, self.raw = state


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of ``bytes`` use it, for latin-1 text only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("the batch encodes text in a way a CIFAR-10 batch never does")
    return text.encode("latin1")


_STUBS = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy", "dtype"): _DtypeStub,
    ("numpy", "ndarray"): _ArrayStub,
    ("numpy.core.multiarray", "_reconstruct"): _ArrayStub,
    ("numpy._core.multiarray", "_reconstruct"): _ArrayStub,
}


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain containers, strings and numbers, and records arrays as
    :class:`_ArrayStub` (no class or function of any module runs, NumPy's included)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _STUBS:
            return _STUBS[(module, name)]
        raise pickle.UnpicklingError(f"the batch asks for {module}.{name}, which a CIFAR-10 batch never holds")


_INTEGER_DTYPE = re.compile(r"^[<>|=]?[iu][1248]$|^u?int(8|16|32|64)$")
"""Dtype names of plain integers (``u1``, ``<i8``, ``uint8``...): the only arrays a batch may hold."""


def _to_array(value: Any, where: str, what: str) -> np.ndarray:
    """A recorded integer array as a NumPy array (lists pass through ``np.asarray``); anything else is refused."""
    if not isinstance(value, _ArrayStub):
        array = np.asarray(value)
        if array.dtype == object:
            raise DataError(f"{where}: {what} holds objects, not numbers. {_REDOWNLOAD}")
        return array
    name = value.dtype.name if isinstance(value.dtype, _DtypeStub) else None
    shape = value.shape if isinstance(value.shape, tuple) and all(isinstance(n, int) for n in value.shape) else None
    raw = value.raw.encode("latin1") if isinstance(value.raw, str) else value.raw
    if name is None or not _INTEGER_DTYPE.match(name) or shape is None or not isinstance(raw, bytes):
        raise DataError(f"{where}: {what} is not an integer array (dtype {name}). {_REDOWNLOAD}")
    dtype = np.dtype(name)  # a plain integer type, checked above
    if len(raw) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise DataError(f"{where}: {what} holds {len(raw)} bytes for shape {shape}. {_REDOWNLOAD}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _plain_keys(mapping: dict) -> dict[str, Any]:
    """Keys as ``str`` (the archive was written by Python 2, so they load as ``bytes``)."""
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in mapping.items()}


def read_batch(payload: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 32, 32, 3)`` uint8 and labels ``(n,)`` of one pickled batch; ``where`` names it in errors."""
    try:
        batch = _SafeUnpickler(io.BytesIO(payload), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, MemoryError) as exc:
        raise DataError(f"{where} is not a CIFAR-10 batch ({type(exc).__name__}: {exc}). {_REDOWNLOAD}") from exc
    if not isinstance(batch, dict):
        raise DataError(f"{where} holds a {type(batch).__name__}, not a CIFAR-10 batch dict. {_REDOWNLOAD}")
    batch = _plain_keys(batch)
    missing = [key for key in ("data", "labels") if key not in batch]
    if missing:
        raise DataError(f"{where} has no {' or '.join(missing)} entry. {_REDOWNLOAD}")
    data, labels = _to_array(batch["data"], where, "data"), _to_array(batch["labels"], where, "labels")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_VALUES:
        raise DataError(
            f"{where}: data is {data.dtype} {data.shape}, expected uint8 rows of {IMAGE_VALUES} values. {_REDOWNLOAD}"
        )
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: {labels.shape} {labels.dtype} labels for {len(data)} images. {_REDOWNLOAD}")
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
    with tqdm(total=None, unit=" images", desc="import", disable=not progress, mininterval=0.5) as bar:
        for split, _, images, labels in iter_archive_batches(archive):
            for image, label in zip(images, labels, strict=True):
                name = CIFAR10_CLASSES[label]
                Image.fromarray(image).save(folder / split / name / f"{index[split]:05d}.png")
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
