"""FER-2013 data: data-root resolution, listing, seeded split, smoke subset, iterators and bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_keras.constants import FER4_CLASSES, FER7_CLASSES
from fer_keras.data import (
    DATA_ENV_VAR,
    DEFAULT_AUGMENTATION,
    DataError,
    FerData,
    check_images,
    fer_frames,
    flow_frame,
    list_class_images,
    list_fer_images,
    load_fer,
    load_sample_images,
    resolve_data_root,
)
from fer_keras.data.fer import SMOKE_SIZES, class_counts, image_generator, split_validation, stratified_sample
from fer_keras.data.paths import fer_split_dir

README_TRAIN = {"angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215, "neutral": 4965, "sad": 4830}
README_TRAIN["surprise"] = 3171
README_TEST = {"angry": 467, "disgust": 56, "fear": 496, "happy": 895, "neutral": 607, "sad": 653, "surprise": 415}


def _pixels(path: str | Path, size: tuple[int, int] = (48, 48)) -> np.ndarray:
    """Reference load: PIL grayscale, bilinear resize, rescaled to [0, 1]."""
    with Image.open(path) as image:
        gray = image.convert("L")
        if gray.size != size:
            gray = gray.resize(size, Image.Resampling.BILINEAR)
        return np.asarray(gray, dtype=np.float32) / 255.0


def _labels(frame: pd.DataFrame, classes=FER4_CLASSES) -> list[int]:
    return [classes.index(c) for c in frame["class"]]


# ---------------------------------------------------------------- data root


def test_resolve_data_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arg, env, cwd = tmp_path / "arg", tmp_path / "env", tmp_path / "cwd"
    for folder in (arg, env, cwd / "data"):
        folder.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv(DATA_ENV_VAR, str(env))
    assert resolve_data_root(arg) == arg.resolve()  # the argument wins over the variable and ./data
    assert resolve_data_root(str(arg)) == arg.resolve()
    assert resolve_data_root() == env.resolve()  # then the variable
    monkeypatch.setenv(DATA_ENV_VAR, "")
    assert resolve_data_root() == (cwd / "data").resolve()  # an empty variable counts as unset
    monkeypatch.delenv(DATA_ENV_VAR)
    assert resolve_data_root() == (cwd / "data").resolve()  # then ./data


def test_resolve_data_root_missing_names_path_source_and_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="does not exist") as info:
        resolve_data_root(missing)
    message = str(info.value)
    assert str(missing) in message and "data_dir argument" in message
    assert "--data" in message and DATA_ENV_VAR in message

    monkeypatch.setenv(DATA_ENV_VAR, str(missing))
    with pytest.raises(DataError, match=r"\$FER_KERAS_DATA") as info:
        resolve_data_root()
    assert str(missing) in str(info.value)

    monkeypatch.delenv(DATA_ENV_VAR)
    monkeypatch.chdir(tmp_path)  # holds no data/
    with pytest.raises(DataError, match=r"default \./data") as info:
        resolve_data_root()
    assert str(tmp_path / "data") in str(info.value)


def test_fer_split_dir_accepts_root_or_fer2013(fer_tree: Path) -> None:
    assert fer_split_dir(fer_tree, "train") == fer_tree / "fer2013" / "train"
    assert fer_split_dir(fer_tree / "fer2013", "test") == fer_tree / "fer2013" / "test"
    with pytest.raises(DataError, match="Missing FER-2013 folder") as info:
        fer_split_dir(fer_tree, "validation")
    assert str(fer_tree / "fer2013" / "validation") in str(info.value)


# ---------------------------------------------------------------- smoke loader on the real data


@pytest.fixture(scope="module")
def smoke(data_root: Path) -> FerData:
    return load_fer(FER4_CLASSES, data_root, batch_size=32, smoke=True, seed=1337)


def test_load_fer_smoke_batches(smoke: FerData) -> None:
    assert smoke.class_names == FER4_CLASSES
    assert smoke.pipeline == "imagegenerator"
    assert smoke.augmentation == DEFAULT_AUGMENTATION
    for iterator in (smoke.train, smoke.validation, smoke.test):
        assert iterator.class_indices == {name: i for i, name in enumerate(FER4_CLASSES)}
        x, y = iterator[0]
        assert x.shape == (32, 48, 48, 1)
        assert x.dtype == np.float32 and y.dtype == np.float32
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert x.max() > 0.5  # rescaled, not all black
        assert y.shape == (32, 4)
        np.testing.assert_array_equal(y.sum(axis=1), np.ones(32))
        assert set(np.unique(y)) <= {0.0, 1.0}


def test_load_fer_smoke_split_sizes_and_counts(smoke: FerData, data_root: Path) -> None:
    assert {split: len(frame) for split, frame in smoke.frames.items()} == SMOKE_SIZES
    assert (smoke.train.n, smoke.validation.n, smoke.test.n) == (512, 128, 128)
    assert {split: sum(c.values()) for split, c in smoke.counts.items()} == SMOKE_SIZES
    assert list(smoke.counts["test"]) == list(FER4_CLASSES)
    # stratified: the smoke proportions follow the full test split's (happy 895, sad 653, neutral 607, surprise 415)
    full = np.array([README_TEST[c] for c in FER4_CLASSES], dtype=float)
    for split in ("train", "validation", "test"):
        part = np.array([smoke.counts[split][c] for c in FER4_CLASSES], dtype=float)
        np.testing.assert_allclose(part / part.sum(), full / full.sum(), atol=0.04)
    # every listed file exists under the real root and belongs to its class folder
    for split, frame in smoke.frames.items():
        folder = "test" if split == "test" else "train"
        for name, cls in frame.head(5).itertuples(index=False):
            path = Path(name)
            assert path.is_file() and path.parent.name == cls
            assert path.parent.parent == data_root / "fer2013" / folder


def test_test_iterator_unshuffled_and_aligned(smoke: FerData) -> None:
    test = smoke.test
    assert test.shuffle is False and smoke.validation.shuffle is False and smoke.train.shuffle is True
    assert list(test.classes) == _labels(smoke.frames["test"])
    assert list(smoke.validation.classes) == _labels(smoke.frames["validation"])
    assert test.filepaths == list(smoke.frames["test"]["filename"])
    x, y = test[1]
    np.testing.assert_array_equal(y.argmax(axis=1), test.classes[32:64])
    np.testing.assert_allclose(x[0, ..., 0], _pixels(test.filepaths[32]), atol=1e-6)


def test_augmentation_only_on_train(smoke: FerData) -> None:
    assert smoke.train.image_data_generator.rotation_range == DEFAULT_AUGMENTATION["rotation_range"]
    assert smoke.train.image_data_generator.horizontal_flip is True
    for iterator in (smoke.validation, smoke.test):
        assert iterator.image_data_generator.rotation_range == 0
        assert iterator.image_data_generator.horizontal_flip is False
        first, again = iterator[0][0], iterator[0][0]
        np.testing.assert_array_equal(first, again)  # deterministic
        np.testing.assert_allclose(first[0, ..., 0], _pixels(iterator.filepaths[0]), atol=1e-6)


def test_augmented_feed_changes_pixels(smoke: FerData) -> None:
    frame = smoke.frames["train"].head(16)
    plain = flow_frame(frame, FER4_CLASSES, batch_size=16)[0][0]
    augmented = flow_frame(frame, FER4_CLASSES, augmentation=DEFAULT_AUGMENTATION, batch_size=16, seed=3)
    first, second = augmented[0][0], augmented[0][0]
    assert first.shape == plain.shape == (16, 48, 48, 1)
    assert np.abs(first - plain).mean() > 0.01  # augmented images differ from the originals
    assert np.abs(first - second).mean() > 0.01  # and are drawn afresh on every read
    assert first.min() >= 0.0 and first.max() <= 1.0


def test_validation_split_seeded_disjoint_stratified(data_root: Path) -> None:
    a = fer_frames(FER4_CLASSES, data_root, seed=1, smoke=True, check=False)
    b = fer_frames(FER4_CLASSES, data_root, seed=1, smoke=True, check=False)
    c = fer_frames(FER4_CLASSES, data_root, seed=2, smoke=True, check=False)
    for split in ("train", "validation", "test"):
        pd.testing.assert_frame_equal(a[split], b[split])  # same seed, same files
    assert set(a["validation"]["filename"]) != set(c["validation"]["filename"])  # another seed, other files
    assert set(a["train"]["filename"]) != set(c["train"]["filename"])
    assert not set(a["train"]["filename"]) & set(a["validation"]["filename"])
    assert all("/fer2013/train/" in f for f in a["validation"]["filename"])
    assert all("/fer2013/test/" in f for f in a["test"]["filename"])


def test_fer_frames_full_listing_matches_readme(data_root: Path) -> None:
    frames = fer_frames(FER4_CLASSES, data_root, validation_split=0.1, check=False)
    train, validation = class_counts(frames["train"], FER4_CLASSES), class_counts(frames["validation"], FER4_CLASSES)
    test = class_counts(frames["test"], FER4_CLASSES)
    for name in FER4_CLASSES:
        assert train[name] + validation[name] == README_TRAIN[name]
        assert test[name] == README_TEST[name]
        assert validation[name] == pytest.approx(0.1 * README_TRAIN[name], abs=1)  # stratified 10 %
    assert train["happy"] + validation["happy"] == 7215 and test["happy"] == 895
    assert not set(frames["train"]["filename"]) & set(frames["validation"]["filename"])
    assert frames["train"]["filename"].is_unique and frames["validation"]["filename"].is_unique


def test_fer7_order_and_full_counts(data_root: Path) -> None:
    assert tuple(sorted(p.name for p in (data_root / "fer2013" / "train").iterdir() if p.is_dir())) == FER7_CLASSES
    train = list_fer_images("train", FER7_CLASSES, str(data_root))
    test = list_fer_images("test", FER7_CLASSES, str(data_root))
    assert class_counts(train, FER7_CLASSES) == README_TRAIN
    assert class_counts(test, FER7_CLASSES) == README_TEST
    assert len(train) == 28709 and len(test) == 3589


def test_fer7_class_indices(make_fer_tree) -> None:
    root = make_fer_tree(FER7_CLASSES, per_class=2)
    data = load_fer(FER7_CLASSES, root, batch_size=4, validation_split=0.5, augmentation=False)
    assert data.train.class_indices == {name: i for i, name in enumerate(FER7_CLASSES)}
    assert data.test[0][1].shape == (4, 7)
    assert list(data.test.classes) == _labels(data.frames["test"], FER7_CLASSES)
    assert data.augmentation is None and data.train.image_data_generator.rotation_range == 0


def test_workers_reach_iterators(fer_tree: Path) -> None:
    data = load_fer(FER4_CLASSES, fer_tree, batch_size=4, validation_split=0.5, workers=3)
    assert (data.train.workers, data.validation.workers, data.test.workers) == (3, 3, 3)
    assert data.train.use_multiprocessing is False
    single = load_fer(FER4_CLASSES, fer_tree, batch_size=4, validation_split=0.5)
    assert single.train.workers == 1
    frame = list_class_images(fer_tree / "fer2013" / "test", FER4_CLASSES)
    assert flow_frame(frame, FER4_CLASSES, workers=2, use_multiprocessing=True).workers == 2


def test_load_fer_custom_augmentation_and_bad_pipeline(fer_tree: Path) -> None:
    data = load_fer(FER4_CLASSES, fer_tree, batch_size=4, validation_split=0.5, augmentation={"rotation_range": 5})
    assert data.augmentation == {"rotation_range": 5}
    assert data.train.image_data_generator.rotation_range == 5
    assert data.train.image_data_generator.horizontal_flip is False
    with pytest.raises(ValueError, match="pipeline must be one of"):
        load_fer(FER4_CLASSES, fer_tree, pipeline="tfdata")


# ---------------------------------------------------------------- helpers


def test_list_class_images(fer_tree: Path) -> None:
    frame = list_class_images(fer_tree / "fer2013" / "train", ("sad", "happy"))
    assert list(frame.columns) == ["filename", "class"]
    assert list(frame["class"]) == ["sad"] * 6 + ["happy"] * 6  # classes in the order asked
    assert all(Path(f).parent.name == c for f, c in frame.itertuples(index=False))
    assert frame["filename"].is_unique


def test_class_counts_stratified_sample_split_validation() -> None:
    frame = pd.DataFrame({"filename": [f"f{i:03d}" for i in range(100)], "class": ["a"] * 60 + ["b"] * 40})
    assert class_counts(frame, ["b", "a", "c"]) == {"b": 40, "a": 60, "c": 0}
    sample = stratified_sample(frame, 20, seed=0)
    assert len(sample) == 20 and class_counts(sample, ["a", "b"]) == {"a": 12, "b": 8}
    assert list(sample["filename"]) == sorted(sample["filename"])
    pd.testing.assert_frame_equal(sample, stratified_sample(frame, 20, seed=0))
    assert len(stratified_sample(frame, 500, seed=0)) == 100  # smaller than asked: the whole frame
    train, val = split_validation(frame, 0.25, seed=0)
    assert (len(train), len(val)) == (75, 25)
    assert class_counts(val, ["a", "b"]) == {"a": 15, "b": 10}
    assert not set(train["filename"]) & set(val["filename"])
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="validation_split"):
            split_validation(frame, bad, seed=0)


def test_image_generator_rescales() -> None:
    plain = image_generator()
    assert plain.rescale == pytest.approx(1 / 255) and plain.rotation_range == 0
    assert image_generator({"zoom_range": 0.2}).zoom_range == [0.8, 1.2]


def test_load_sample_images(fer_tree: Path) -> None:
    frame = list_class_images(fer_tree / "fer2013" / "train", FER4_CLASSES)
    images, labels = load_sample_images(frame, FER4_CLASSES, per_class=3, seed=0)
    assert images.shape == (12, 48, 48) and images.dtype == np.uint8
    assert list(labels) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    again, _ = load_sample_images(frame, FER4_CLASSES, per_class=3, seed=0)
    np.testing.assert_array_equal(images, again)
    few, few_labels = load_sample_images(frame, FER4_CLASSES, per_class=50)
    assert len(few) == 24 and np.bincount(few_labels).tolist() == [6, 6, 6, 6]


# ---------------------------------------------------------------- bad input


def test_missing_data_root(tmp_path: Path) -> None:
    missing = tmp_path / "no-data"
    with pytest.raises(DataError) as info:
        load_fer(FER4_CLASSES, missing)
    assert str(missing) in str(info.value) and "FER_KERAS_DATA" in str(info.value)


@pytest.mark.parametrize("split", ["train", "test"])
def test_missing_split_folder(make_fer_tree, split: str) -> None:
    other = "test" if split == "train" else "train"
    root = make_fer_tree(splits=[other], per_class=1)
    with pytest.raises(DataError, match="Missing FER-2013 folder") as info:
        load_fer(FER4_CLASSES, root)
    message = str(info.value)
    assert str(root / "fer2013" / split) in message
    assert f"'{split}/'" in message and "--data" in message


def test_class_without_folder_lists_available(fer_tree: Path) -> None:
    with pytest.raises(DataError) as info:
        load_fer(("happy", "sad", "contempt"), fer_tree)
    message = str(info.value)
    assert "'contempt'" in message and str(fer_tree / "fer2013" / "train" / "contempt") in message
    assert "Folders found: happy, neutral, sad, surprise" in message
    assert "spelling" in message


def test_empty_class_folder(fer_tree: Path) -> None:
    folder = fer_tree / "fer2013" / "train" / "sad"
    for path in folder.iterdir():
        path.unlink()
    (folder / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match="holds no images") as info:
        load_fer(FER4_CLASSES, fer_tree)
    assert str(folder) in str(info.value) and "Add its images" in str(info.value)


def test_duplicate_class_names(fer_tree: Path) -> None:
    with pytest.raises(DataError, match="name a class twice") as info:
        load_fer(("happy", "sad", "happy"), fer_tree)
    assert "happy" in str(info.value) and "once" in str(info.value)


def test_corrupt_jpeg_reported_by_path(fer_tree: Path) -> None:
    good = sorted((fer_tree / "fer2013" / "train" / "happy").glob("*.jpg"))
    corrupt = good[0].with_name("corrupt.jpg")
    data = good[0].read_bytes()
    corrupt.write_bytes(data[: len(data) // 2])
    assert check_images([str(p) for p in good]) is None  # intact files pass
    with pytest.raises(DataError, match="cannot be decoded") as info:
        check_images([str(good[1]), str(corrupt)])
    assert str(corrupt) in str(info.value) and str(good[1]) not in str(info.value)
    assert "Remove or replace" in str(info.value)
    # the loader finds it before any iterator is built, wherever the split puts it
    with pytest.raises(DataError, match="1 image file") as info:
        load_fer(FER4_CLASSES, fer_tree, validation_split=0.5)
    assert str(corrupt) in str(info.value)
    # the fast path finds it while decoding, before any training
    with pytest.raises(DataError, match="remove or replace") as info:
        load_fer(FER4_CLASSES, fer_tree, validation_split=0.5, pipeline="fast")
    assert str(corrupt) in str(info.value)


def test_many_corrupt_files_are_summarised(tmp_path: Path) -> None:
    paths = []
    for i in range(12):
        path = tmp_path / f"bad{i:02d}.jpg"
        path.write_bytes(b"\xff\xd8\xff garbage")
        paths.append(str(path))
    with pytest.raises(DataError, match="12 image file") as info:
        check_images(paths, workers=2)
    assert "... and 2 more" in str(info.value) and paths[0] in str(info.value)


def test_rgb_and_other_sizes_are_converted(fer_tree: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    path = fer_tree / "fer2013" / "test" / "happy" / "zz_rgb.png"
    Image.fromarray(rgb, "RGB").save(path)
    data = load_fer(FER4_CLASSES, fer_tree, batch_size=32, validation_split=0.5)
    frame = data.frames["test"]
    index = frame.index[frame["filename"] == str(path)][0]
    x, y = data.test[0]
    assert x.shape == (25, 48, 48, 1)
    assert y[index].argmax() == 0
    np.testing.assert_allclose(x[index, ..., 0], _pixels(path), atol=1 / 255 + 1e-6)


def test_env_var_is_used_by_loader(fer_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(fer_tree))
    frames = fer_frames(FER4_CLASSES, validation_split=0.5)
    assert all(f.startswith(str(fer_tree)) for frame in frames.values() for f in frame["filename"])
    assert {k: len(v) for k, v in frames.items()} == {"train": 12, "validation": 12, "test": 24}
    assert os.environ[DATA_ENV_VAR] == str(fer_tree)


def test_class_too_small_for_split(make_fer_tree) -> None:
    root = make_fer_tree(per_class=1)
    with pytest.raises(DataError, match=r"smallest class .* has 1 training image.*Add images to that class"):
        load_fer(FER4_CLASSES, root, validation_split=0.1)


def test_train_fraction_keeps_a_stratified_share_of_train_only(data_root: Path) -> None:
    full = fer_frames(FER4_CLASSES, data_root, check=False)
    quarter = fer_frames(FER4_CLASSES, data_root, check=False, train_fraction=0.25)
    assert len(quarter["train"]) == round(len(full["train"]) * 0.25)
    assert set(quarter["train"]["filename"]) <= set(full["train"]["filename"])
    shares = full["train"]["class"].value_counts(normalize=True)
    assert (quarter["train"]["class"].value_counts(normalize=True) - shares).abs().max() < 0.002
    for split in ("validation", "test"):
        assert quarter[split].equals(full[split])
    with pytest.raises(ValueError, match="train_fraction must be in"):
        fer_frames(FER4_CLASSES, data_root, check=False, train_fraction=0)
