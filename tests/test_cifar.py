"""CIFAR-10: RGB folders through the FER loaders (both feeds), the crop augmentation, the ResNet builder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest

from fer_keras.constants import CIFAR10_CLASSES
from fer_keras.data import DataError
from fer_keras.data.augment import random_crop_flip
from fer_keras.data.cifar import CIFAR_AUGMENTATION, cifar10_frames, load_cifar10
from fer_keras.experiments import prepare_data
from fer_keras.models import build_cifar_resnet
from fer_keras.profiles import get_settings
from fer_keras.training import dtype_policy


@pytest.fixture(scope="session")
def cifar_root(data_root: Path) -> Path:
    """The real data root, checked to hold ``cifar10/{train,test}``."""
    if not (data_root / "cifar10" / "train").is_dir() or not (data_root / "cifar10" / "test").is_dir():
        pytest.fail(f"CIFAR-10 not found under {data_root}/cifar10/{{train,test}}; set FER_KERAS_DATA.")
    return data_root


@pytest.fixture
def make_cifar_tree(cifar_root: Path, tmp_path: Path) -> Callable[..., Path]:
    """``build(classes, per_class=4)``: ``<tmp>/root/cifar10/{train,test}/<class>/`` with real CIFAR-10 JPEGs."""

    def build(classes=CIFAR10_CLASSES[:3], per_class: int = 4) -> Path:
        root = tmp_path / "root"
        for split in ("train", "test"):
            for name in classes:
                dest = root / "cifar10" / split / name
                dest.mkdir(parents=True, exist_ok=True)
                for src in sorted((cifar_root / "cifar10" / split / name).iterdir())[:per_class]:
                    shutil.copy2(src, dest / src.name)
        return root

    return build


def test_real_split_is_45000_5000_10000_stratified_and_seeded(cifar_root: Path) -> None:
    frames = cifar10_frames(data_dir=cifar_root, check=False)
    sizes = {split: len(frame) for split, frame in frames.items()}
    assert sizes == {"train": 45_000, "validation": 5_000, "test": 10_000}
    assert (frames["validation"]["class"].value_counts() == 500).all()
    assert set(frames["train"]["filename"]).isdisjoint(frames["validation"]["filename"])
    again = cifar10_frames(data_dir=cifar_root, check=False)
    assert again["validation"]["filename"].tolist() == frames["validation"]["filename"].tolist()
    other = cifar10_frames(data_dir=cifar_root, check=False, seed=7)
    assert other["validation"]["filename"].tolist() != frames["validation"]["filename"].tolist()


def test_smoke_feed_is_rgb_in_unit_range(cifar_root: Path) -> None:
    data = load_cifar10(cifar_root, smoke=True, batch_size=32)
    x, y = data.train[0]
    assert x.shape == (32, 32, 32, 3) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert y.shape == (32, 10)
    assert data.counts["train"] == dict.fromkeys(CIFAR10_CLASSES, 100)
    assert data.counts["test"] == dict.fromkeys(CIFAR10_CLASSES, 50)
    assert "RGB" in data.preprocessing
    images, labels = data.sample_images(per_class=2)
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(labels, np.repeat(np.arange(10), 2))
    assert np.std(images.astype(float), axis=-1).mean() > 1  # colour, not three equal channels


def test_fast_and_imagegenerator_feeds_give_the_same_unaugmented_pixels(make_cifar_tree, tmp_path: Path) -> None:
    root = make_cifar_tree(per_class=6)
    common = {"classes": CIFAR10_CLASSES[:3], "batch_size": 8, "validation_split": 0.5, "augmentation": False}
    plain = load_cifar10(root, pipeline="imagegenerator", **common)
    fast = load_cifar10(root, pipeline="fast", cache_dir=tmp_path / "cache", **common)
    for split in ("validation", "test"):
        (x_idg, y_idg), (x_fast, y_fast) = getattr(plain, split)[0], getattr(fast, split)[0]
        assert x_fast.shape == x_idg.shape == (8, 32, 32, 3)
        np.testing.assert_allclose(x_fast, x_idg, atol=1e-6)
        np.testing.assert_array_equal(y_fast, y_idg)
    cached = load_cifar10(root, pipeline="fast", cache_dir=tmp_path / "cache", **common)  # from the cache
    np.testing.assert_array_equal(cached.test[0][0], fast.test[0][0])


def test_fast_feed_crops_training_batches_only(make_cifar_tree, tmp_path: Path) -> None:
    root = make_cifar_tree(per_class=8)
    data = load_cifar10(
        root, classes=CIFAR10_CLASSES[:3], batch_size=8, pipeline="fast", cache_dir=tmp_path, validation_split=0.25
    )
    assert data.augmentation == CIFAR_AUGMENTATION and data.train.augment == CIFAR_AUGMENTATION
    assert not data.validation.augment and not data.test.augment
    x, _ = data.train[0]
    assert x.shape == (8, 32, 32, 3) and x.min() >= 0.0 and x.max() <= 1.0
    originals = data.train.images[data.train.batch_indices(0)].astype(np.float32) / 255
    assert not np.allclose(x, originals)  # cropped and/or mirrored


def test_random_crop_flip_takes_windows_of_the_edge_padded_image() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    out = random_crop_flip(images, np.random.default_rng(1), crop_padding=2, horizontal_flip=True)
    assert out.shape == images.shape and out.dtype == np.float32
    padded = np.pad(images, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="edge").astype(np.float32)
    flipped_any = False
    for i in range(len(images)):
        windows = [
            (flip, padded[i, dy : dy + 8, dx : dx + 8][:, ::-1] if flip else padded[i, dy : dy + 8, dx : dx + 8])
            for dy in range(5)
            for dx in range(5)
            for flip in (False, True)
        ]
        matches = [flip for flip, window in windows if np.array_equal(window, out[i])]
        assert matches, f"image {i} is not a (mirrored) window of its padded original"
        flipped_any |= all(matches)
    assert flipped_any
    same = random_crop_flip(images, np.random.default_rng(1), crop_padding=0)
    np.testing.assert_array_equal(same, images.astype(np.float32))


def test_imagegenerator_feed_shifts_by_whole_pixels(make_cifar_tree) -> None:
    root = make_cifar_tree()
    data = load_cifar10(root, classes=CIFAR10_CLASSES[:3], batch_size=4, validation_split=0.25)
    generator = data.train.image_data_generator
    assert (generator.width_shift_range, generator.height_shift_range, generator.horizontal_flip) == (5, 5, True)


def test_missing_class_folder_names_class_and_folder(make_cifar_tree) -> None:
    root = make_cifar_tree(classes=("airplane", "bird"))
    with pytest.raises(DataError, match=r"Class 'automobile' has no folder .*cifar10/train/automobile"):
        load_cifar10(root, classes=("airplane", "automobile", "bird"))


def test_missing_cifar10_folder_names_the_layout_and_the_import(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"Missing CIFAR-10 folder .*/train: expected <data root>/cifar10/.*import-cifar10"
    ):
        load_cifar10(tmp_path)


@pytest.mark.parametrize("pipeline", ["imagegenerator", "fast"])
def test_undecodable_file_is_named_before_training(make_cifar_tree, tmp_path: Path, pipeline: str) -> None:
    root = make_cifar_tree()
    bad = root / "cifar10" / "train" / "bird" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    with pytest.raises(DataError, match="broken.jpg"):
        load_cifar10(
            root, classes=CIFAR10_CLASSES[:3], pipeline=pipeline, cache_dir=tmp_path / "cache", validation_split=0.25
        )


def test_prepare_data_uses_the_profile(cifar_root: Path) -> None:
    settings = get_settings("cifar10", "smoke")
    data = prepare_data(settings, cifar_root)
    assert data.class_names == CIFAR10_CLASSES
    assert data.train.batch_size == settings.batch_size
    cpu = get_settings("cifar10", "cpu")
    assert (cpu.pipeline, cpu.width, cpu.augmentation) == ("fast", 0.5, CIFAR_AUGMENTATION)


@pytest.mark.parametrize(("width", "params"), [(1.0, 6_577_610), (0.5, 1_648_362)])
def test_cifar_resnet_parameters(width: float, params: int) -> None:
    model = build_cifar_resnet(10, width=width)
    assert model.count_params() == params
    layer_types = [type(layer).__name__ for layer in model.layers]
    assert layer_types.count("Conv2D") == 8 and layer_types.count("Add") == 2 and layer_types.count("Dense") == 1


def test_cifar_resnet_softmax_is_float32_under_bf16() -> None:
    with dtype_policy("mixed_bfloat16"):
        model = build_cifar_resnet(10, width=0.25)
    out = model.predict(np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32), verbose=0)
    assert out.dtype == np.float32 and out.shape == (2, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)
    assert model.get_layer("predictions").dtype_policy.compute_dtype == "float32"


def test_cifar_resnet_rejects_bad_width() -> None:
    with pytest.raises(ValueError, match="width must be positive"):
        build_cifar_resnet(width=0)


def test_cifar_resnet_round_trips_through_keras_saving(tmp_path: Path) -> None:
    model = build_cifar_resnet(10, width=0.25)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


# ---------------------------------------------------------------- data import-cifar10


def _batch(rng: np.random.Generator, n: int, label_offset: int = 0) -> dict:
    """A batch as the archive stores it (Python 2 pickles: keys and names as bytes)."""
    return {
        b"batch_label": b"training batch",
        b"labels": [(i + label_offset) % 10 for i in range(n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }


def make_archive(path: Path, per_batch: int = 10, *, drop: str | None = None, truncate: bool = False) -> dict:
    """Write a small ``cifar-10-python.tar.gz`` in the original format; returns its batches by name."""
    import io
    import pickle
    import tarfile

    rng = np.random.default_rng(0)
    batches = {f"data_batch_{i}": _batch(rng, per_batch, i) for i in range(1, 6)}
    batches["test_batch"] = _batch(rng, per_batch)
    batches["batches.meta"] = {b"label_names": [n.encode() for n in CIFAR10_CLASSES]}
    with tarfile.open(path, "w:gz") as tar:
        for name, content in batches.items():
            if name == drop:
                continue
            payload = pickle.dumps(content, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    if truncate:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return batches


def test_import_cifar10_writes_lossless_pngs_in_the_loaders_layout(tmp_path: Path) -> None:
    from PIL import Image

    from fer_keras.data.cifar_import import import_cifar10_archive

    batches = make_archive(tmp_path / "cifar-10-python.tar.gz")
    result = import_cifar10_archive(tmp_path / "cifar-10-python.tar.gz", tmp_path / "root")
    assert result.images == 60 and result.counts["train"] == dict.fromkeys(CIFAR10_CLASSES, 5)
    assert not list((tmp_path / "root").glob(".cifar10.import-*"))
    # the first test image, channel planes -> RGB pixels, read back exactly
    first = batches["test_batch"]
    expected = first[b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    name = CIFAR10_CLASSES[first[b"labels"][0]]
    with Image.open(tmp_path / "root" / "cifar10" / "test" / name / "00000.png") as image:
        assert image.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(image), expected)
    frames = cifar10_frames(data_dir=tmp_path / "root", validation_split=0.5)  # the loaders read it
    assert len(frames["test"]) == 10


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "does not exist"),
        ("not-tar", "not a readable tar.gz archive"),
        ("truncated", "truncated"),
        ("no-test-batch", "lacks test_batch"),
        ("exists", "already exists"),
    ],
)
def test_import_cifar10_bad_archives_leave_nothing(tmp_path: Path, kind: str, message: str) -> None:
    from fer_keras.data.cifar_import import import_cifar10_archive

    archive, root = tmp_path / "cifar-10-python.tar.gz", tmp_path / "root"
    if kind == "not-tar":
        archive.write_bytes(b"this is not an archive")
    elif kind != "missing":
        make_archive(archive, drop="test_batch" if kind == "no-test-batch" else None, truncate=kind == "truncated")
    if kind == "exists":
        (root / "cifar10").mkdir(parents=True)
    with pytest.raises(DataError, match=message):
        import_cifar10_archive(archive, root)
    leftovers = sorted(p.name for p in root.iterdir()) if root.exists() else []
    assert leftovers == (["cifar10"] if kind == "exists" else [])


def test_import_cifar10_refuses_pickles_that_run_code(tmp_path: Path) -> None:
    import io
    import pickle
    import tarfile

    from fer_keras.data.cifar_import import import_cifar10_archive

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            payload = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(DataError, match=r"asks for (__builtin__|builtins)\.print"):
        import_cifar10_archive(archive, tmp_path / "root")
    assert not (tmp_path / "root").exists()


def test_data_check_counts_cifar10(make_cifar_tree) -> None:
    from fer_keras.data.check import check_cifar10

    root = make_cifar_tree(classes=CIFAR10_CLASSES, per_class=2)
    (root / "cifar10" / "test" / "cat" / "00000.jpg").write_bytes(b"not a jpeg")
    folder, counts, problems, notes = check_cifar10(root, workers=1)
    assert folder == root / "cifar10"
    assert counts["train"] == dict.fromkeys(CIFAR10_CLASSES, 2)
    assert counts["test"]["cat"] == 3
    assert any("cannot be decoded" in p and "00000.jpg" in p for p in problems)
    assert any("differs from the published 5,000 per class" in n for n in notes)


def test_data_check_names_a_missing_cifar10_and_the_import(tmp_path: Path) -> None:
    from fer_keras.data.check import check_cifar10

    folder, _, problems, notes = check_cifar10(tmp_path)
    assert folder is None and not problems and "import-cifar10" in notes[0]
