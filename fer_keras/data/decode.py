"""Decode image files once into a uint8 array, in parallel, with an optional on-disk cache.

The cache file is ``<cache_dir>/fer_<key>.npy`` (``rgb_<key>.npy`` for colour images); ``key`` is a SHA-256
over the sorted ``(path, size, mtime_ns)`` list, the image size and the colour mode, so any added, removed or
modified file (or another image size or mode) gives a new key and the old cache is never used.
"""

from __future__ import annotations

import hashlib
import io
import logging
import multiprocessing as mp
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fer_keras.data.paths import DataError
from fer_keras.io import atomic_write_bytes

logger = logging.getLogger(__name__)

CACHE_PREFIX = "fer_"
"""Prefix of the grayscale caches (FER-2013's); colour caches are ``rgb_<key>.npy`` (:func:`cache_prefix`)."""


def cache_prefix(color_mode: str = "grayscale") -> str:
    """The cache file prefix of ``color_mode``: caches of one kind are only compared with each other."""
    return CACHE_PREFIX if color_mode == "grayscale" else f"{color_mode}_"


_CHUNK = 2048
_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}


COLOR_MODES: dict[str, str] = {"grayscale": "L", "rgb": "RGB"}
"""``color_mode`` (as ImageDataGenerator names it) -> the PIL mode images are converted to."""


def decode_one(
    path: str, image_size: tuple[int, int] = (48, 48), interpolation: str = "bilinear", color_mode: str = "grayscale"
) -> np.ndarray:
    """Decode one image file to a uint8 ``(H, W)`` grayscale or ``(H, W, 3)`` RGB array, resized if needed.

    Raises :class:`DataError` (a ``ValueError``) naming the path if the file cannot be decoded.
    """
    height, width = image_size
    mode = COLOR_MODES[color_mode]
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode != mode:
                img = img.convert(mode)
            if img.size != (width, height):
                img = img.resize((width, height), _RESAMPLE[interpolation])
            return np.asarray(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise DataError(
            f"Cannot decode image {path}: {err}. The file is corrupt or truncated; "
            "remove or replace the file, then run again."
        ) from err


def cache_key(filenames: Sequence[str], image_size: tuple[int, int], color_mode: str = "grayscale") -> str:
    """SHA-256 over the sorted ``(path, size, mtime_ns)`` list plus the image size (and colour mode if not gray)."""
    mode = "" if color_mode == "grayscale" else f" {color_mode}"  # grayscale keys stay as they were
    digest = hashlib.sha256(f"size={image_size[0]}x{image_size[1]}{mode}\n".encode())
    for path in sorted(filenames):
        stat = os.stat(path)
        digest.update(f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def image_shape(image_size: tuple[int, int], color_mode: str = "grayscale") -> tuple[int, ...]:
    """The shape of one decoded image: ``(H, W)`` for grayscale, ``(H, W, 3)`` for RGB."""
    if color_mode not in COLOR_MODES:
        raise ValueError(f"color_mode must be one of {', '.join(COLOR_MODES)}, got {color_mode!r}")
    return (*image_size, 3) if color_mode == "rgb" else tuple(image_size)


def _decode_chunk(
    filenames: Sequence[str], image_size: tuple[int, int], interpolation: str, color_mode: str = "grayscale"
) -> np.ndarray:
    """Decode a list of files into a uint8 ``(n, H, W[, 3])`` array (runs in a worker process)."""
    out = np.empty((len(filenames), *image_shape(image_size, color_mode)), dtype=np.uint8)
    for i, name in enumerate(filenames):
        out[i] = decode_one(name, image_size, interpolation, color_mode)
    return out


def _pool(workers: int):
    """A process pool (``fork``: workers need no re-import), else threads where fork is unavailable.

    PIL spends most of a 48x48 JPEG's decode in Python, so threads barely help; processes do.
    """
    if "fork" in mp.get_all_start_methods():
        return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"))
    return ThreadPoolExecutor(max_workers=workers)


def _decode_all(
    filenames: Sequence[str],
    image_size: tuple[int, int],
    interpolation: str,
    workers: int | None,
    color_mode: str = "grayscale",
) -> np.ndarray:
    """Decode ``filenames`` (in order) into one uint8 array, in chunks over ``workers`` processes."""
    workers = max(1, workers or min(8, os.cpu_count() or 1))
    chunks = [filenames[i : i + _CHUNK] for i in range(0, len(filenames), _CHUNK)]
    if workers == 1 or len(chunks) < 2:
        return _decode_chunk(filenames, image_size, interpolation, color_mode)
    out = np.empty((len(filenames), *image_shape(image_size, color_mode)), dtype=np.uint8)
    with _pool(min(workers, len(chunks))) as pool:
        n = len(chunks)
        parts = pool.map(_decode_chunk, chunks, [image_size] * n, [interpolation] * n, [color_mode] * n)
        for i, part in enumerate(parts):
            out[i * _CHUNK : i * _CHUNK + len(part)] = part
    return out


def _load_cache(path: Path, expected_shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached array if ``path`` holds a readable uint8 array of ``expected_shape``, else None."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        logger.warning("Ignoring unreadable image cache %s (%s); rebuilding it.", shown_path(path), err)
        return None
    if arr.dtype != np.uint8 or arr.shape != expected_shape:
        logger.warning(
            "Ignoring image cache %s with shape %s %s; rebuilding it.", shown_path(path), arr.shape, arr.dtype
        )
        return None
    return arr


def _save_cache(path: Path, arr: np.ndarray) -> None:
    """Write ``arr`` as ``.npy`` atomically (temporary file, then rename)."""
    buffer = io.BytesIO()
    np.save(buffer, arr, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def decode_images(
    filenames: Sequence[str],
    image_size: tuple[int, int] = (48, 48),
    cache_dir: str | os.PathLike | None = None,
    *,
    interpolation: str = "bilinear",
    workers: int | None = None,
    color_mode: str = "grayscale",
) -> np.ndarray:
    """Decode ``filenames`` into a uint8 array ``(N, H, W)`` (``(N, H, W, 3)`` with ``color_mode="rgb"``).

    Images are converted with PIL ``convert("L")`` (or ``"RGB"``); other sizes are resized with
    ``interpolation`` (PIL bilinear by default; ImageDataGenerator's flow default is "nearest").
    With ``cache_dir`` the decoded set is stored as ``fer_<key>.npy`` and reused only when
    the key (file list, sizes, mtimes, image size) matches. ``workers`` processes decode in
    parallel (default: up to 8, one per core).
    """
    filenames = [str(f) for f in filenames]
    image_size = (int(image_size[0]), int(image_size[1]))
    shape = image_shape(image_size, color_mode)
    if cache_dir is None:
        return _decode_all(filenames, image_size, interpolation, workers, color_mode)
    cache_dir = Path(cache_dir)
    key = cache_key(filenames, image_size, color_mode)
    prefix = cache_prefix(color_mode)
    path = cache_dir / f"{prefix}{key}.npy"
    order = sorted(range(len(filenames)), key=filenames.__getitem__)
    if path.is_file():
        cached = _load_cache(path, (len(filenames), *shape))
        if cached is not None:
            logger.info("Loaded %d decoded images from cache %s", len(filenames), shown_path(path))
            return _unsort(cached, order)
    _report_rebuild(cache_dir, path, len(filenames), prefix)
    sorted_names = [filenames[i] for i in order]
    arr = _decode_all(sorted_names, image_size, interpolation, workers, color_mode)
    _save_cache(path, arr)
    return _unsort(arr, order)


def _unsort(sorted_arr: np.ndarray, order: list[int]) -> np.ndarray:
    """Put rows stored in sorted-path order back into the caller's order."""
    if order == list(range(len(order))):
        return sorted_arr
    out = np.empty_like(sorted_arr)
    out[np.asarray(order, dtype=np.int64)] = sorted_arr
    return out


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as messages show it: ``~`` for the home folder, so logs and notebooks hold no machine paths."""
    path, home = Path(path), Path.home()
    return f"~/{path.relative_to(home).as_posix()}" if path.is_relative_to(home) and path != home else str(path)


def _report_rebuild(cache_dir: Path, path: Path, count: int, prefix: str = CACHE_PREFIX) -> None:
    """Say why the cache is being (re)built: first use, or a changed file list / image size."""
    others = sorted(p.name for p in cache_dir.glob(f"{prefix}*.npy") if p != path)
    if others:
        logger.warning(
            "Image cache in %s does not match: the file list (paths, sizes or mtimes) or image size "
            "changed, so the cache is rebuilt as %s (%d images). Existing caches not used: %s",
            shown_path(cache_dir),
            path.name,
            count,
            ", ".join(others),
        )
    else:
        logger.info("No image cache yet; decoding %d images into %s", count, shown_path(path))
