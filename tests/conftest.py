"""Shared fixtures: the real data root and small FER-style folder trees built from real images."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
PER_CLASS = 6


def _data_root() -> Path:
    return Path(os.environ.get("FER_KERAS_DATA") or REPO_ROOT.parent / "shared" / "data").expanduser().resolve()


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data root (``$FER_KERAS_DATA`` or ``<repo>/../shared/data``); fails if FER-2013 is not there."""
    root = _data_root()
    if not (root / "fer2013" / "train").is_dir() or not (root / "fer2013" / "test").is_dir():
        pytest.fail(
            f"FER-2013 not found: expected {root}/fer2013/{{train,test}}/<emotion>/*.jpg. "
            "Set FER_KERAS_DATA to the folder that holds fer2013/ and fashion-mnist/ "
            "(e.g. export FER_KERAS_DATA=../shared/data), or run through `make test`."
        )
    return root


@pytest.fixture(scope="session")
def fashion_root(data_root: Path) -> Path:
    """The real ``fashion-mnist/`` folder; fails if its four IDX files are missing."""
    folder = data_root / "fashion-mnist"
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    names += ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        pytest.fail(f"Fashion-MNIST files {missing} not found under {folder}; set FER_KERAS_DATA.")
    return folder


def real_images(data_root: Path, split: str, cls: str, count: int = PER_CLASS) -> list[Path]:
    """The first ``count`` real images (sorted by name) of ``split/cls``."""
    return sorted((data_root / "fer2013" / split / cls).glob("*.jpg"))[:count]


def copy_images(sources: Sequence[Path], dest: Path) -> list[Path]:
    """Copy ``sources`` into ``dest`` (created); returns the new paths."""
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(src, dest / src.name)) for src in sources]


@pytest.fixture(scope="session")
def copy_real_images(data_root: Path) -> Callable[..., list[Path]]:
    """``copy(split, cls, dest, count=6)``: copy the first ``count`` real images of ``split/cls`` into ``dest``."""

    def copy(split: str, cls: str, dest: Path, count: int = PER_CLASS) -> list[Path]:
        return copy_images(real_images(data_root, split, cls, count), dest)

    return copy


@pytest.fixture
def make_fer_tree(data_root: Path, tmp_path: Path) -> Callable[..., Path]:
    """Build ``<tmp>/<name>/fer2013/{train,test}/<class>/`` with ``per_class`` real images per class.

    Returns the data root (the folder holding ``fer2013/``). ``splits`` picks which splits
    to create, so a tree without ``test/`` can be made.
    """

    def build(
        classes: Sequence[str] = ("happy", "sad", "neutral", "surprise"),
        *,
        per_class: int = PER_CLASS,
        splits: Sequence[str] = ("train", "test"),
        name: str = "data",
    ) -> Path:
        root = tmp_path / name
        for split in splits:
            for cls in classes:
                copy_images(real_images(data_root, split, cls, per_class), root / "fer2013" / split / cls)
        (root / "fer2013").mkdir(parents=True, exist_ok=True)
        return root

    return build


@pytest.fixture
def fer_tree(make_fer_tree: Callable[..., Path]) -> Path:
    """A small 4-class FER tree (6 real images per class and split)."""
    return make_fer_tree()
