"""Fashion-MNIST: the IDX reader, malformed files, the seeded split, iterators and the Keras fallback."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import keras
import numpy as np
import pytest

from fer_keras.constants import FASHION_CLASSES
from fer_keras.data import DATA_ENV_VAR, DataError, FashionData, load_fashion, load_fashion_arrays, read_idx
from fer_keras.data.fashion import FASHION_FILES, SMOKE_SIZES, fashion_dir


def write_idx(path: Path, array: np.ndarray, *, magic: int | None = None, cut: int = 0) -> Path:
    """Write ``array`` (uint8) as an IDX file (gzipped if ``path`` ends in .gz), dropping the last ``cut`` bytes."""
    array = np.asarray(array, dtype=np.uint8)
    magic = (0x800 | array.ndim) if magic is None else magic
    data = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    data = data[: len(data) - cut]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def unique_images(n: int) -> np.ndarray:
    """``n`` 28x28 images, each identifiable by its first two pixels."""
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(n) % 256, np.arange(n) // 256
    images[:, 5:20, 5:20] = 200
    return images


def image_ids(x: np.ndarray) -> set[int]:
    return set((x[:, 0, 0].astype(int) + 256 * x[:, 0, 1].astype(int)).tolist())


@pytest.fixture
def synthetic_root(tmp_path: Path) -> Path:
    """``<tmp>/syn/fashion-mnist/`` with 1,000 unique train and 200 test images, 10 balanced classes."""
    folder = tmp_path / "syn" / "fashion-mnist"
    for split, n in (("train", 1000), ("test", 200)):
        images_file, labels_file = FASHION_FILES[split]
        write_idx(folder / images_file, unique_images(n))
        write_idx(folder / labels_file, np.arange(n) % 10)
    return folder.parent


@pytest.fixture(scope="module")
def smoke_fashion(fashion_root: Path) -> FashionData:
    return load_fashion(fashion_root.parent, smoke=True, seed=1337)


# ---------------------------------------------------------------- read_idx


def test_read_idx_real_files(fashion_root: Path) -> None:
    images = read_idx(fashion_root / "train-images-idx3-ubyte.gz")
    labels = read_idx(fashion_root / "train-labels-idx1-ubyte.gz")
    test_labels = read_idx(fashion_root / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and test_labels.shape == (10000,)
    assert np.bincount(labels).tolist() == [6000] * 10 and np.bincount(test_labels).tolist() == [1000] * 10
    # README: train mean 72.940 (of 255)
    assert images[:20000].mean() == pytest.approx(72.94, abs=1.0)


def test_read_idx_raw_equals_gz(fashion_root: Path, tmp_path: Path) -> None:
    gz = fashion_root / "t10k-images-idx3-ubyte.gz"
    raw = tmp_path / "t10k-images-idx3-ubyte"
    raw.write_bytes(gzip.decompress(gz.read_bytes()))
    from_raw, from_gz = read_idx(raw), read_idx(gz)
    assert from_raw.shape == (10000, 28, 28)
    np.testing.assert_array_equal(from_raw, from_gz)


def test_read_idx_roundtrip(tmp_path: Path) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "a.gz", array)), array)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "b-idx1", np.arange(7))), np.arange(7))


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("truncated-idx3-ubyte", {"cut": 100}, "truncated or padded"),
        ("truncated-idx3-ubyte.gz", {"cut": 1}, "truncated or padded"),
        ("header-idx3-ubyte", {"cut": 28 * 28 * 5 + 4}, "truncated or padded"),
        ("wrong-magic-idx3-ubyte.gz", {"magic": 0x00000D03}, "magic number 0x00000d03"),
        ("png-idx3-ubyte", {"magic": 0x89504E47}, "not a Fashion-MNIST IDX file"),
    ],
)
def test_read_idx_malformed(tmp_path: Path, name: str, kwargs: dict, match: str) -> None:
    path = write_idx(tmp_path / name, unique_images(5), **kwargs)
    with pytest.raises(DataError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value) and "replace" in str(info.value).lower()


def test_read_idx_unreadable(tmp_path: Path) -> None:
    empty = tmp_path / "empty-idx1-ubyte"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty or truncated") as info:
        read_idx(empty)
    assert str(empty) in str(info.value)
    broken_gz = tmp_path / "broken.gz"
    broken_gz.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(100))[:20])  # cut inside the stream
    with pytest.raises(DataError, match="Cannot read IDX file") as info:
        read_idx(broken_gz)
    assert str(broken_gz) in str(info.value)
    with pytest.raises(DataError, match="Cannot read IDX file") as info:
        read_idx(tmp_path / "missing.gz")
    assert "missing.gz" in str(info.value)


def test_mismatched_images_and_labels(synthetic_root: Path) -> None:
    labels = synthetic_root / "fashion-mnist" / FASHION_FILES["test"][1]
    write_idx(labels, np.arange(150) % 10)
    with pytest.raises(DataError, match="images must be") as info:
        load_fashion_arrays(synthetic_root)
    assert str(labels) in str(info.value)


# ---------------------------------------------------------------- load_fashion on the real data


def test_load_fashion_smoke_sizes_and_stratification(smoke_fashion: FashionData, fashion_root: Path) -> None:
    assert smoke_fashion.source == str(fashion_root)
    assert smoke_fashion.class_names == FASHION_CLASSES
    assert {split: len(y) for split, (_, y) in smoke_fashion.arrays.items()} == SMOKE_SIZES
    for split, size in SMOKE_SIZES.items():
        x, y = smoke_fashion.arrays[split]
        assert x.shape == (size, 28, 28) and x.dtype == np.uint8
        assert list(smoke_fashion.counts[split].values()) == [size // 10] * 10  # balanced classes stay balanced
        assert list(smoke_fashion.counts[split]) == list(FASHION_CLASSES)


def test_load_fashion_full_split(fashion_root: Path) -> None:
    data = load_fashion(fashion_root.parent, validation_split=0.2, seed=3)
    assert {split: len(y) for split, (_, y) in data.arrays.items()} == {
        "train": 48000,
        "validation": 12000,
        "test": 10000,
    }
    assert list(data.counts["validation"].values()) == [1200] * 10
    other = load_fashion(fashion_root.parent, validation_split=0.2, seed=4)
    assert not np.array_equal(data.arrays["validation"][1], other.arrays["validation"][1])
    np.testing.assert_array_equal(data.arrays["test"][0], other.arrays["test"][0])  # test is never split


def test_validation_split_seeded_and_disjoint(synthetic_root: Path) -> None:
    a = load_fashion(synthetic_root, validation_split=0.1, seed=1)
    b = load_fashion(synthetic_root, validation_split=0.1, seed=1)
    c = load_fashion(synthetic_root, validation_split=0.1, seed=2)
    for split in ("train", "validation", "test"):
        np.testing.assert_array_equal(a.arrays[split][0], b.arrays[split][0])
        np.testing.assert_array_equal(a.arrays[split][1], b.arrays[split][1])
    train, validation = image_ids(a.arrays["train"][0]), image_ids(a.arrays["validation"][0])
    assert len(train) == 900 and len(validation) == 100
    assert not train & validation and train | validation == set(range(1000))
    assert validation != image_ids(c.arrays["validation"][0])
    assert list(a.counts["validation"].values()) == [10] * 10
    # labels travel with their images (label = id % 10)
    x, y = a.arrays["validation"]
    ids = x[:, 0, 0].astype(int) + 256 * x[:, 0, 1].astype(int)
    np.testing.assert_array_equal(ids % 10, y)


def test_smoke_subset_on_small_data_keeps_everything(synthetic_root: Path) -> None:
    data = load_fashion(synthetic_root, smoke=True)
    assert {split: len(y) for split, (_, y) in data.arrays.items()} == {"train": 900, "validation": 100, "test": 200}


def test_flow_batches(smoke_fashion: FashionData) -> None:
    test = smoke_fashion.flow("test", batch_size=64)
    assert test.shuffle is False and len(test) == 16
    x, y = test[0]
    assert x.shape == (64, 28, 28, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() == pytest.approx(1.0)
    assert np.issubdtype(y.dtype, np.integer)
    np.testing.assert_array_equal(y, smoke_fashion.arrays["test"][1][:64])
    np.testing.assert_allclose(x[..., 0], smoke_fashion.arrays["test"][0][:64] / 255.0, atol=1e-6)
    train = smoke_fashion.flow("train", batch_size=2000, seed=0)
    assert train.shuffle is True
    xt, yt = train[0]
    assert not np.array_equal(yt, smoke_fashion.arrays["train"][1])  # shuffled
    assert sorted(yt.tolist()) == sorted(smoke_fashion.arrays["train"][1].tolist())
    assert smoke_fashion.flow("train", shuffle=False).shuffle is False
    augmented = smoke_fashion.flow("validation", batch_size=16, augmentation={"width_shift_range": 0.2}, seed=1)
    plain = smoke_fashion.flow("validation", batch_size=16)
    assert np.abs(augmented[0][0] - plain[0][0]).mean() > 0.001


def test_scaled(smoke_fashion: FashionData) -> None:
    x, y = smoke_fashion.scaled("validation")
    raw_x, raw_y = smoke_fashion.arrays["validation"]
    assert x.shape == (500, 28, 28, 1) and x.dtype == np.float32
    assert x.max() == pytest.approx(1.0) and x.min() == 0.0
    np.testing.assert_allclose(x[..., 0] * 255.0, raw_x, atol=1e-3)
    np.testing.assert_array_equal(y, raw_y)


# ---------------------------------------------------------------- locating the files and the Keras fallback


def test_fashion_dir(fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fashion_dir(fashion_root.parent) == fashion_root
    assert fashion_dir(fashion_root) == fashion_root  # the folder itself works too
    assert fashion_dir(tmp_path) is None  # exists, holds no copy
    with pytest.raises(DataError, match="does not exist"):
        fashion_dir(tmp_path / "missing")  # an explicit wrong path is an error, not a download
    monkeypatch.setenv(DATA_ENV_VAR, str(fashion_root.parent))
    assert fashion_dir() == fashion_root
    monkeypatch.delenv(DATA_ENV_VAR)
    monkeypatch.chdir(tmp_path)
    assert fashion_dir() is None  # no ./data either


def test_fallback_download_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def offline():
        calls.append(1)
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(DataError, match="download failed") as info:
        load_fashion_arrays(tmp_path)
    assert calls == [1]
    message = str(info.value)
    assert "fashion-mnist/" in message and "OSError" in message and DATA_ENV_VAR in message


def test_fallback_download_used_without_local_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x_train, y_train = unique_images(100), np.arange(100, dtype=np.uint8) % 10
    x_test, y_test = unique_images(20), np.arange(20, dtype=np.uint8) % 10
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", lambda: ((x_train, y_train), (x_test, y_test)))
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    (train, test, source) = load_fashion_arrays()
    assert source == "keras.datasets.fashion_mnist"
    assert train[0] is x_train and test[1] is y_test
    data = load_fashion(tmp_path, validation_split=0.2)
    assert data.source == "keras.datasets.fashion_mnist"
    assert {split: len(y) for split, (_, y) in data.arrays.items()} == {"train": 80, "validation": 20, "test": 20}


def test_local_copy_preferred_over_download(synthetic_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_download():
        raise AssertionError("downloaded although a local copy exists")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", must_not_download)
    (x_train, y_train), (x_test, _), source = load_fashion_arrays(synthetic_root)
    assert source == str(synthetic_root / "fashion-mnist")
    assert x_train.shape == (1000, 28, 28) and x_test.shape == (200, 28, 28)
    np.testing.assert_array_equal(y_train, np.arange(1000) % 10)
