"""Find the data root: an explicit argument, else ``$FER_KERAS_DATA``, else ``./data``."""

from __future__ import annotations

import os
from pathlib import Path

from fer_keras.errors import DataError

DATA_ENV_VAR = "FER_KERAS_DATA"


def resolve_data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the folder holding ``fer2013/`` and/or ``fashion-mnist/``.

    Order: ``data_dir`` if given, else the ``FER_KERAS_DATA`` environment variable,
    else ``./data``. Raises :class:`DataError` if that folder does not exist.
    """
    if data_dir is not None:
        root, source = Path(data_dir), "the data_dir argument"
    elif os.environ.get(DATA_ENV_VAR):
        root, source = Path(os.environ[DATA_ENV_VAR]), f"${DATA_ENV_VAR}"
    else:
        root, source = Path("data"), "the default ./data"
    root = root.expanduser()
    if not root.is_dir():
        raise DataError(
            f"Data root {root.resolve()} (from {source}) does not exist. Pass data_dir=... / --data DIR, "
            f"or set {DATA_ENV_VAR} to the folder that holds fer2013/ and fashion-mnist/ "
            "(e.g. export FER_KERAS_DATA=../shared/data)."
        )
    return root.resolve()


def fer_split_dir(root: Path, split: str) -> Path:
    """``<root>/fer2013/<split>``, checked to exist (accepts ``root`` pointing at ``fer2013/`` itself)."""
    base = root / "fer2013" if (root / "fer2013").is_dir() else root
    path = base / split
    if not path.is_dir():
        raise DataError(
            f"Missing FER-2013 folder {path}: expected the Kaggle layout "
            f"<data root>/fer2013/{{train,test}}/<emotion>/*.jpg. Put the '{split}/' folder there "
            f"or point {DATA_ENV_VAR} / --data at the folder that holds fer2013/."
        )
    return path


def cifar10_split_dir(root: Path, split: str) -> Path:
    """``<root>/cifar10/<split>``, checked to exist (accepts ``root`` pointing at ``cifar10/`` itself)."""
    base = root / "cifar10" if (root / "cifar10").is_dir() else root
    path = base / split
    if not path.is_dir():
        raise DataError(
            f"Missing CIFAR-10 folder {path}: expected <data root>/cifar10/{{train,test}}/<class>/*.jpg|png. "
            f"Put the '{split}/' folder there, convert the original archive with "
            "`python -m fer_keras data import-cifar10 cifar-10-python.tar.gz`, "
            f"or point {DATA_ENV_VAR} / --data at the folder that holds cifar10/."
        )
    return path
