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


# --- A trained model used on real photos (tests of fer_keras.predict, the service and its page) ---

SERVE_MAX_UPLOAD_MB = 1.0
"""Upload limit of the test server (small, so the 413 test sends little data)."""


@pytest.fixture(scope="session")
def astronaut_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-image's astronaut photo (512x512 RGB, one face near x=177, y=66, 95x95) saved as PNG."""
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


@pytest.fixture(scope="session")
def fer7_model_file(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FER-7 CNN with the training augmentation layer inside, fitted one epoch on 28 real images, saved by
    ``save_model`` (``model.keras`` + ``model.classes.json``), as ``train`` saves it."""
    import numpy as np

    from fer_keras.constants import FER7_CLASSES
    from fer_keras.data import DEFAULT_AUGMENTATION
    from fer_keras.data.augment import augmentation_layer
    from fer_keras.data.decode import decode_images
    from fer_keras.models import build_fer_cnn
    from fer_keras.training import compile_classifier, save_model

    files = [str(p) for cls in FER7_CLASSES for p in real_images(data_root, "train", cls, 4)]
    x = decode_images(files, workers=1)[..., None].astype("float32") / 255.0
    y = np.repeat(np.eye(len(FER7_CLASSES), dtype="float32"), 4, axis=0)
    model = build_fer_cnn(len(FER7_CLASSES), augmentation=augmentation_layer(DEFAULT_AUGMENTATION, 1337))
    compile_classifier(model).fit(x, y, batch_size=14, epochs=1, verbose=0)
    return save_model(model, tmp_path_factory.mktemp("model") / "model.keras", FER7_CLASSES)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def served_model(served_process: tuple[str, int]) -> str:
    """The base URL of :func:`served_process`."""
    return served_process[0]


@pytest.fixture(scope="session")
def served_process(fer7_model_file: Path, tmp_path_factory: pytest.TempPathFactory):
    """``python -m fer_keras serve`` running as a real process on 127.0.0.1; yields its base URL and process id.

    Uploads are limited to :data:`SERVE_MAX_UPLOAD_MB`. The process is stopped at the end of the session.
    """
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "fer_keras", "serve", str(fer7_model_file), "--port", str(port)]
    command += ["--max-upload-mb", str(SERVE_MAX_UPLOAD_MB), "--log-level", "warning"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not answer /health within 180 s:\n{log_path.read_text()}")
            time.sleep(0.25)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
