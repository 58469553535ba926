"""Describe the software, hardware, code and data a run used, for cards and notebooks."""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

UNKNOWN = "unknown"

PACKAGE_DIR = Path(__file__).resolve().parent
"""The source folder of ``fer_keras``; its git checkout is the code a run used."""

BACKEND_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos", "tf-nightly"),
    "jax": ("jax",),
    "torch": ("torch",),
}
"""Distributions that provide each Keras backend (TensorFlow ships under several names)."""

LIBRARIES = ("keras", "numpy", "scikit-learn", "pillow", "pandas", "keras-tuner")
"""Distributions whose versions a run records besides the backend's."""


def backend_name() -> str:
    """The active Keras backend (``tensorflow``, ``jax`` or ``torch``)."""
    import keras

    return keras.backend.backend()


def _accelerators() -> list[str]:
    """Keras' non-CPU devices (empty on a CPU, or when listing them fails)."""
    try:
        import keras

        return [d for d in keras.distribution.list_devices() if not d.lower().startswith("cpu")]
    except Exception:  # noqa: BLE001 - naming or measuring the device must never break a run
        return []


def device_description() -> str:
    """A human-readable name of the device Keras computes on, e.g. ``GPU (NVIDIA H100 80GB HBM3)``."""
    accelerators = _accelerators()
    if accelerators:
        kind = accelerators[0].split(":")[0].upper()
        return f"{kind} ({accelerator_model()}) x{len(accelerators)}"
    return f"CPU ({os.cpu_count()} cores, {platform.machine()})"


def compute_used(wall_time_s: float) -> dict[str, Any]:
    """What a run of ``wall_time_s`` seconds used: hours x the devices it held (CPU cores when no
    accelerator is visible), the card's measure of compute (its "environmental impact" line)."""
    accelerators = _accelerators()
    units, unit = (len(accelerators), "accelerator-hours") if accelerators else (os.cpu_count() or 1, "CPU core-hours")
    hours = wall_time_s / 3600
    return {"hours": round(hours, 3), "devices": units, "amount": round(hours * units, 3), "unit": unit}


def accelerator_model() -> str:
    """The accelerator's product name: JAX's ``device_kind`` under JAX, else ``nvidia-smi``'s, else ``unknown``."""
    try:
        if backend_name() == "jax":
            import jax

            return jax.devices()[0].device_kind
    except Exception:  # noqa: BLE001 - naming the device must never break a run
        pass
    names = _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], PACKAGE_DIR)
    return names.splitlines()[0].strip() if names and names.strip() else UNKNOWN


def _run(command: list[str], cwd: Path, timeout: float = 10.0) -> str | None:
    """stdout of ``command``, or None when it is missing, fails or hangs."""
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


RUN_OUTPUTS: tuple[str, ...] = (
    "model_cards/**",
    "figures/**",
    "metrics/**",
    "models/**",
    "benchmarks/results/**",
    "full/**",
    "notebooks/*.ipynb",
    "README.md",
)
"""What the recorded runs write into the checkout (cards, figures, metrics, models, executed notebooks, the
README's results table): changes there do not make the code dirty, so a run recorded after another is clean."""


def git_state(directory: str | os.PathLike | None = None) -> dict[str, str | bool]:
    """The git commit of the checkout holding ``directory`` (default: the package source) and whether it was dirty.

    ``{"commit": "<40 hex>", "dirty": bool}``; both ``"unknown"`` when git is missing, ``directory``
    is in no git checkout, or none of its files are tracked (an installed copy inside another
    repository's ignored folder). Dirty means tracked files other than :data:`RUN_OUTPUTS` differ from
    the commit (untracked files are ignored, as setuptools-scm does).
    """
    where = Path(directory) if directory is not None else PACKAGE_DIR
    unknown: dict[str, str | bool] = {"commit": UNKNOWN, "dirty": UNKNOWN}
    if not where.is_dir():
        return unknown
    commit = _run(["git", "rev-parse", "--verify", "HEAD"], where)
    tracked = _run(["git", "ls-files", "--", "."], where)
    outputs = [f":(top,exclude,glob){path}" for path in RUN_OUTPUTS]
    status = _run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", *outputs], where)
    if not commit or not tracked or status is None:
        return unknown
    return {"commit": commit.strip(), "dirty": bool(status.strip())}


def distribution_version(*names: str) -> str:
    """The installed version of the first of ``names`` (distribution names) that is installed, else ``unknown``."""
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return UNKNOWN


def library_versions() -> dict[str, str]:
    """Versions of Keras, the active backend and the libraries that shape results, from package metadata.

    Keys are distribution names (``keras``, the backend name, ``numpy``, ``scikit-learn``, ``pillow``,
    ``pandas``, ``keras-tuner``); values ``unknown`` when not installed.
    """
    backend = backend_name()
    versions = {"keras": distribution_version("keras")}
    versions[backend] = distribution_version(*BACKEND_DISTRIBUTIONS.get(backend, (backend,)))
    versions.update({name: distribution_version(name) for name in LIBRARIES if name not in versions})
    return versions


def _file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of one file (read whole when small, in 1 MiB chunks otherwise)."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size <= _WHOLE_FILE_BYTES:
            data = handle.read()
            return len(data), hashlib.sha256(data).hexdigest()
        digest, size = hashlib.sha256(), 0
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()


def _file_digests(paths: list[Path]) -> list[tuple[int, str]]:
    return [_file_digest(path) for path in paths]


_WHOLE_FILE_BYTES = 16 << 20
_FILES_PER_TASK = 256  # small images: per-task overhead would cost more than hashing one file


def fingerprint_files(
    paths: Iterable[str | os.PathLike], root: str | os.PathLike, workers: int | None = None
) -> dict[str, str | int]:
    """A fingerprint of the files read: SHA-256 over their manifest, sorted by path relative to ``root``.

    The manifest has one line per distinct file: relative POSIX path, size in bytes and SHA-256 of the
    content (hex), separated by tabs, each line ending in a newline (UTF-8); so it changes when any
    byte, name or the set of files changes, and not with the order of ``paths``.
    Returns ``{"sha256": "sha256:<hex>", "files": count, "bytes": total size}``. Files are hashed
    in a thread pool (``workers``, default Python's). Raises ``ValueError`` for a path outside ``root``.
    """
    root = Path(os.path.abspath(root))
    files: dict[str, Path] = {}
    for path in paths:
        absolute = Path(os.path.abspath(path))
        try:
            relative = absolute.relative_to(root).as_posix()
        except ValueError:
            raise ValueError(f"{path} is not under the fingerprint root {root}") from None
        files[relative] = absolute
    names = sorted(files)
    batches = [[files[n] for n in names[i : i + _FILES_PER_TASK]] for i in range(0, len(names), _FILES_PER_TASK)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        digests = [digest for batch in pool.map(_file_digests, batches) for digest in batch]
    manifest = hashlib.sha256()
    for name, (size, digest) in zip(names, digests, strict=True):
        manifest.update(f"{name}\t{size}\t{digest}\n".encode())
    return {
        "sha256": f"sha256:{manifest.hexdigest()}",
        "files": len(names),
        "bytes": sum(size for size, _ in digests),
    }


def fingerprint_arrays(arrays: Mapping[str, np.ndarray]) -> dict:
    """A fingerprint of in-memory data: SHA-256 over each array's name, dtype, shape and bytes, sorted by name.

    Returns ``{"sha256": "sha256:<hex>", "arrays": {name: {"shape": [...], "dtype": "uint8"}}}``.
    """
    digest = hashlib.sha256()
    described = {}
    for name in sorted(arrays):
        array = np.asarray(arrays[name])
        if array.dtype.hasobject:
            raise TypeError(f"Array {name!r} holds Python objects ({array.dtype}); fingerprint numeric arrays only")
        digest.update(f"{name}\t{array.dtype.str}\t{list(array.shape)}\n".encode())
        digest.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
        described[name] = {"shape": list(array.shape), "dtype": str(array.dtype)}
    return {"sha256": f"sha256:{digest.hexdigest()}", "arrays": described}


def has_accelerator() -> bool:
    """True when Keras runs on a GPU/TPU rather than the CPU."""
    return not device_description().startswith("CPU")


def collect_run_info() -> dict:
    """Backend, device, library versions, git commit, host and UTC date of this process.

    ``versions`` maps distribution names to versions (see :func:`library_versions`);
    ``git_commit`` / ``git_dirty`` come from :func:`git_state`.
    """
    import keras

    versions = library_versions()
    git = git_state()
    info = {
        "backend": backend_name(),
        "device": device_description(),
        "keras_version": keras.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    info["backend_version"] = versions.get(info["backend"], UNKNOWN)
    info["versions"] = versions
    info["git_commit"] = git["commit"]
    info["git_dirty"] = git["dirty"]
    return info
