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
from fer_keras.data.augment import CUTOUT_FILL, Cutout, crop_kwargs, random_crop_flip
from fer_keras.data.cifar import CIFAR_AUGMENTATION, cifar10_frames, load_cifar10
from fer_keras.describe import describe_augmentation
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


def test_cutout_blanks_one_square_inside_each_image_with_mid_grey() -> None:
    images = np.zeros((64, 12, 12, 3), dtype=np.uint8)
    out = random_crop_flip(images, np.random.default_rng(3), crop_padding=0, cutout=5)
    blanked = out[..., 0] == CUTOUT_FILL
    assert np.all(out[..., 0:1] == out)  # every channel of a pixel is blanked or kept together
    tops, lefts = [], []
    for mask in blanked:
        rows, cols = np.nonzero(mask)
        assert mask.sum() == 25 and np.ptp(rows) == 4 and np.ptp(cols) == 4  # one 5x5 square, inside
        tops.append(rows.min())
        lefts.append(cols.min())
    assert set(tops) == set(range(8)) and set(lefts) == set(range(8))  # every position 0..12-5 drawn


def test_cutout_with_affine_keywords_is_refused_not_dropped() -> None:
    """On grayscale images cutout takes the crop path, which has no rotation: asking for both is an error."""
    with pytest.raises(ValueError, match="rotation_range cannot be used with cutout"):
        crop_kwargs({"rotation_range": 10, "cutout": 8})
    assert crop_kwargs({"cutout": 8}) == {"crop_padding": 0, "horizontal_flip": False, "cutout": 8}


def test_imagegenerator_feed_applies_the_same_cutout(make_cifar_tree) -> None:
    root = make_cifar_tree()
    augmentation = {"crop_padding": 0, "horizontal_flip": False, "cutout": 6}
    data = load_cifar10(
        root, classes=CIFAR10_CLASSES[:3], batch_size=4, validation_split=0.25, augmentation=augmentation
    )
    cutout = data.train.image_data_generator.preprocessing_function
    assert isinstance(cutout, Cutout) and cutout.size == 6
    x, _ = data.train[0]
    assert np.all(np.isclose(x, CUTOUT_FILL / 255).all(axis=-1).sum(axis=(1, 2)) >= 36)
    assert describe_augmentation(keras.Sequential(), data.train)["settings"]["cutout"] == 6


def test_imagegenerator_feed_shifts_by_whole_pixels_uniformly(make_cifar_tree) -> None:
    """The ImageDataGenerator feed draws the crop as whole-pixel shifts, each of -4..4 about equally often
    (as random_crop_flip's offsets), and mirrors."""
    root = make_cifar_tree()
    data = load_cifar10(root, classes=CIFAR10_CLASSES[:3], batch_size=4, validation_split=0.25)
    generator = data.train.image_data_generator
    assert generator.horizontal_flip
    np.random.seed(0)
    draws = np.array([[t["tx"], t["ty"]] for t in (generator.get_random_transform((32, 32, 3)) for _ in range(9000))])
    values, counts = np.unique(draws, return_counts=True)
    assert values.tolist() == list(range(-4, 5))
    assert counts.min() / counts.max() > 0.8  # uniform: no offset (zero included) drawn twice as often


def test_fast_feed_mirrors_colour_images_and_refuses_what_it_cannot_do(make_cifar_tree, tmp_path: Path) -> None:
    root = make_cifar_tree(per_class=8)
    common = {"classes": CIFAR10_CLASSES[:3], "pipeline": "fast", "cache_dir": tmp_path, "validation_split": 0.25}
    flip_only = load_cifar10(root, augmentation={"horizontal_flip": True}, **common)
    assert flip_only.train.augment == {"crop_padding": 0, "horizontal_flip": True}
    assert flip_only.train[0][0].shape[1:] == (32, 32, 3)
    with pytest.raises(ValueError, match="rotation_range cannot be used with crop_padding"):
        load_cifar10(root, augmentation={"crop_padding": 4, "rotation_range": 10}, **common)
    with pytest.raises(ValueError, match="zoom_range cannot be used on colour images in the fast feed"):
        load_cifar10(root, augmentation={"zoom_range": 0.1}, **common)


def test_missing_class_folder_names_class_and_folder(make_cifar_tree) -> None:
    root = make_cifar_tree(classes=("airplane", "bird"))
    with pytest.raises(DataError, match=r"Class 'automobile' has no folder .*cifar10/train/automobile"):
        load_cifar10(root, classes=("airplane", "automobile", "bird"))


def test_missing_cifar10_folder_names_the_layout_and_the_import(tmp_path: Path) -> None:
    with pytest.raises(
        DataError,
        match=r"Missing CIFAR-10 folder .*/cifar10/train: expected the layout <data root>/cifar10/.*import-cifar10",
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


def test_unpickler_builds_arrays_only_from_plain_integer_data() -> None:
    """Arrays are rebuilt from (shape, dtype name, bytes) by the importer itself: an object array (whose
    bytes NumPy would take for pointers) and a size that does not match are refused; the original archive's
    numpy.core names read."""
    import pickle

    from fer_keras.data.cifar_import import read_batch

    good = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}, protocol=2)
    old_names = good.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    images, labels = read_batch(old_names, "old")
    assert images.shape == (2, 32, 32, 3) and labels.tolist() == [1, 2]
    forged = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": np.array([1, 2], object)}, protocol=2)
    with pytest.raises(DataError, match="labels is not an integer array"):
        read_batch(forged, "forged")
    short = good.replace(b"\x00" * 64, b"", 1)  # fewer bytes than the shape says
    with pytest.raises(DataError):
        read_batch(short, "short")


# ---------------------------------------------------------------- recipe pieces: schedule, optimizer, compute, card


def test_warmup_schedule_rises_then_decays_and_the_card_text_says_so() -> None:
    from fer_keras.describe import describe_optimizer
    from fer_keras.models import make_optimizer
    from fer_keras.training import learning_rate_schedule

    schedule = learning_rate_schedule(0.2, decay_steps=100, warmup_steps=20)
    rates = [float(schedule(step)) for step in (0, 10, 20, 60, 100)]
    assert rates[0] == pytest.approx(0.0) and rates[1] == pytest.approx(0.1) and rates[2] == pytest.approx(0.2)
    assert rates[3] == pytest.approx(0.1, abs=1e-6) and rates[4] == pytest.approx(0.0, abs=1e-6)
    model = build_cifar_resnet(10, width=0.25)
    model.compile(optimizer=make_optimizer("sgd", schedule, 5e-3), loss="categorical_crossentropy")
    text = describe_optimizer(model)["text"]
    assert "0 rising linearly to 0.2 over 20 steps, then cosine decay over 80 steps to 0" in text
    assert "weight decay 0.005" in text and "Nesterov" in text


def test_warmup_longer_than_the_run_or_without_cosine_is_refused() -> None:
    with pytest.raises(ValueError, match="warmup_epochs=4 leaves no decay in a run of epochs=3"):
        get_settings("cifar10", "cpu", epochs=3)
    with pytest.raises(ValueError, match="warmup_epochs=4 needs schedule='cosine'"):
        get_settings("cifar10", "cpu", schedule="plateau")


def test_compute_used_counts_cpu_core_hours() -> None:
    import os

    from fer_keras.runinfo import compute_used

    used = compute_used(1800.0)
    assert used == {"hours": 0.5, "devices": os.cpu_count(), "amount": 0.5 * os.cpu_count(), "unit": "CPU core-hours"}


def test_cifar10_card_has_uses_comparison_and_compute(cifar_root: Path, tmp_path: Path) -> None:
    """The smoke run through the command line writes a card with the CIFAR-10 card's extra sections."""
    import json
    import os
    import subprocess
    import sys

    from fer_keras.model_card import MODEL_CARD_SECTIONS

    env = {**os.environ, "FER_KERAS_DATA": str(cifar_root)}
    command = [sys.executable, "-m", "fer_keras", "train", "cifar10", "--profile", "smoke", "--out", str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    card = (tmp_path / "model_cards" / "cifar10.md").read_text()
    assert [line[3:] for line in card.splitlines() if line.startswith("## ")] == list(MODEL_CARD_SECTIONS)
    for heading in ("### Intended Uses", "### Out-of-Scope Uses", "### Compared with the Original Card"):
        assert heading in card
    assert "at least 90 % accuracy" in card and "1,000 training images" in card
    result = json.loads((tmp_path / "metrics" / "cifar10.json").read_text())
    compute = result["run"]["compute"]
    assert f"- Compute: {compute['hours']:.2f} h on {compute['devices']} CPU cores" in card
    assert result["model"]["params"]["total"] == build_cifar_resnet(10, width=0.25).count_params()
    assert result["training"]["augmentation"]["where"] == "feed"
    assert "fingerprint" in card and "over the arrays read" not in card


def test_data_check_report_and_import_through_the_command_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    make_archive(tmp_path / "cifar-10-python.tar.gz")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    base = [sys.executable, "-m", "fer_keras", "data"]
    done = subprocess.run(
        [*base, "import-cifar10", str(tmp_path / "cifar-10-python.tar.gz"), "--out", str(tmp_path / "root"), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Imported 60 images (lossless PNG)" in done.stdout
    again = subprocess.run(
        [*base, "import-cifar10", str(tmp_path / "cifar-10-python.tar.gz"), "--out", str(tmp_path / "root")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    from fer_keras.data.check import check_cifar10, format_check

    folder, counts, problems, notes = check_cifar10(tmp_path / "root", workers=1)
    assert counts == {"train": dict.fromkeys(CIFAR10_CLASSES, 5), "test": dict.fromkeys(CIFAR10_CLASSES, 1)}
    assert not problems
    from fer_keras.data.check import DataCheck, Duplicates

    report = DataCheck(tmp_path, tmp_path, {}, 0, [], Duplicates(), None, {}, [], [], folder, counts)
    assert "CIFAR-10 (" in format_check(report) and "train 50 (published 50,000, 5-5 per class)" in format_check(report)
