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
            f"or set {DATA_ENV_VAR} to the folder that holds fer2013/, fashion-mnist/ and cifar10/ "
            "(e.g. export FER_KERAS_DATA=../shared/data)."
        )
    return root.resolve()


def dataset_split_dir(root: Path, folder: str, split: str, *, name: str, layout: str, fix: str = "") -> Path:
    """``<root>/<folder>/<split>``, checked to exist; ``root`` may point at ``<folder>/`` itself.

    The error names the folder expected (under ``<root>/<folder>/`` when neither exists), the ``layout``
    and the fix: put the split there, ``fix`` (e.g. an import command), or point the data root elsewhere.
    """
    if (root / folder).is_dir():
        base = root / folder
    elif (root / split).is_dir() or root.name == folder:  # the data root given is the data set's own folder
        base = root
    else:
        base = root / folder
    path = base / split
    if not path.is_dir():
        raise DataError(
            f"Missing {name} folder {path}: expected the layout {layout}. Put the '{split}/' folder there{fix}, "
            f"or point {DATA_ENV_VAR} / --data at the folder that holds {folder}/."
        )
    return path


def fer_split_dir(root: Path, split: str) -> Path:
    """``<root>/fer2013/<split>``, checked to exist (accepts ``root`` pointing at ``fer2013/`` itself)."""
    return dataset_split_dir(
        root, "fer2013", split, name="FER-2013", layout="<data root>/fer2013/{train,test}/<emotion>/*.jpg (Kaggle's)"
    )


def cifar10_split_dir(root: Path, split: str) -> Path:
    """``<root>/cifar10/<split>``, checked to exist (accepts ``root`` pointing at ``cifar10/`` itself)."""
    return dataset_split_dir(
        root,
        "cifar10",
        split,
        name="CIFAR-10",
        layout="<data root>/cifar10/{train,test}/<class>/*.jpg|png",
        fix=", convert the original archive with `python -m fer_keras data import-cifar10 cifar-10-python.tar.gz`",
    )
