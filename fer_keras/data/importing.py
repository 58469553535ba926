"""Write an imported data set into its final folder atomically: a temporary folder beside it, renamed at the end."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fer_keras.data.paths import DataError

T = TypeVar("T")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_target_free(target: Path) -> None:
    """Raise :class:`DataError` when ``target`` exists: an import never overwrites data."""
    if target.exists() or target.is_symlink():
        raise DataError(
            f"{target} already exists; the import does not overwrite data. Move or delete it, "
            "or pass --out with another data root."
        )


def import_into_folder(target: Path, temp_prefix: str, write: Callable[[Path], T]) -> T:
    """Run ``write(temp)`` on a new temporary folder beside ``target`` and rename it to ``target``; return its result.

    An existing ``target`` is never overwritten (:class:`DataError`); the data root (``target``'s parent) is
    created if needed. On any error or interruption the temporary folder is removed (and a data root this call
    created), so nothing half-written is left; an ``OSError`` becomes a :class:`DataError` naming the fix.
    """
    root = target.parent
    check_target_free(target)
    if root.exists() and not root.is_dir():
        raise DataError(f"Data root {root} is a file, not a folder. Pass --out with a folder.")
    created_root = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(dir=root, prefix=temp_prefix))
    except OSError as exc:
        raise DataError(f"Cannot write into {root}: {exc}. Pass --out with a writable folder.") from exc
    try:
        result = write(temp)
        if target.exists() or target.is_symlink():
            raise DataError(f"{target} appeared while importing; the import does not overwrite it. Move it away.")
        os.chmod(temp, 0o777 & ~_umask())  # mkdtemp creates 0700; give the folder ordinary permissions
        os.rename(temp, target)
    except BaseException as exc:
        shutil.rmtree(temp, ignore_errors=True)
        if created_root and not any(root.iterdir()):
            root.rmdir()
        if isinstance(exc, OSError):
            raise DataError(
                f"Writing {target} failed: {exc}. Nothing was kept; free disk space or pass --out with a "
                "writable folder, then run the import again."
            ) from exc
        raise
    return result
