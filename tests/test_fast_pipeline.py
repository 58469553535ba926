"""Tests of the fast input pipeline (decode + cache, batched warp, RandomAffine, ArrayDataset)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from keras import ops
from PIL import Image

from fer_keras.constants import FER7_CLASSES
from fer_keras.data import decode as decode_mod
from fer_keras.data.augment import (
    RandomAffine,
    affine_params,
    augmentation_layer,
    matrices_from,
    to_keras_transforms,
    warp_batch_numpy,
)
from fer_keras.data.decode import decode_images
from fer_keras.data.fast import ArrayDataset, build_fast_iterators

PER_CLASS = 20
AUGMENT = {
    "rotation_range": 10,
    "width_shift_range": 0.1,
    "height_shift_range": 0.1,
    "zoom_range": 0.1,
    "horizontal_flip": True,
}


def _data_root() -> Path:
    """``$FER_KERAS_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get("FER_KERAS_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """A stratified slice of FER-2013 train: the first PER_CLASS files of each emotion."""
    train = _data_root() / "fer2013" / "train"
    if not train.is_dir():
        pytest.skip(f"FER-2013 not found under {train}; set FER_KERAS_DATA")
    rows = [(str(path), name) for name in FER7_CLASSES for path in sorted((train / name).glob("*.jpg"))[:PER_CLASS]]
    return pd.DataFrame(rows, columns=["filename", "class"])


@pytest.fixture(scope="module")
def images(frame: pd.DataFrame) -> np.ndarray:
    """The slice decoded without a cache."""
    return decode_images(frame["filename"].tolist())


def _pil(path: str, size: tuple[int, int] = (48, 48)) -> np.ndarray:
    """Reference decode: PIL grayscale, bilinear resize to (H, W)."""
    img = Image.open(path).convert("L")
    if img.size != size[::-1]:
        img = img.resize(size[::-1], Image.Resampling.BILINEAR)
    return np.asarray(img)


# ---------------------------------------------------------------- decoding and cache


def test_decode_matches_pil(frame: pd.DataFrame, images: np.ndarray) -> None:
    assert images.shape == (len(frame), 48, 48)
    assert images.dtype == np.uint8
    for i in (0, 37, len(frame) - 1):
        np.testing.assert_array_equal(images[i], _pil(frame["filename"][i]))


def test_cache_hit_and_changed_file_list(frame, images, tmp_path, monkeypatch, caplog) -> None:
    files = frame["filename"].tolist()
    first = decode_images(files, cache_dir=tmp_path)
    np.testing.assert_array_equal(first, images)
    caches = list(tmp_path.glob("fer_*.npy"))
    assert len(caches) == 1

    def no_decode(*args, **kwargs):
        raise AssertionError("a cache hit must not decode")

    monkeypatch.setattr(decode_mod, "decode_one", no_decode)
    reordered = files[::-1]
    np.testing.assert_array_equal(decode_images(reordered, cache_dir=tmp_path), images[::-1])
    monkeypatch.undo()

    subset = files[::2]
    with caplog.at_level(logging.WARNING, logger=decode_mod.__name__):
        part = decode_images(subset, cache_dir=tmp_path)
    np.testing.assert_array_equal(part, images[::2])
    assert len(list(tmp_path.glob("fer_*.npy"))) == 2
    assert "changed" in caplog.text and "rebuilt" in caplog.text
    assert decode_mod.cache_key(subset, (48, 48)) != decode_mod.cache_key(files, (48, 48))
    assert decode_mod.cache_key(files, (48, 48)) != decode_mod.cache_key(files, (40, 40))


def test_cache_messages_show_home_as_tilde(tmp_path, monkeypatch) -> None:
    """Messages that reach notebooks name the cache as ~/..., never the machine's home folder."""
    monkeypatch.setenv("HOME", str(tmp_path))
    assert decode_mod.shown_path(tmp_path / ".cache" / "fer_keras") == "~/.cache/fer_keras"
    assert decode_mod.shown_path("/srv/cache") == "/srv/cache"  # outside home: as given


def test_modified_file_changes_key(frame, tmp_path) -> None:
    src = Path(frame["filename"][0])
    copy = tmp_path / "a.jpg"
    copy.write_bytes(src.read_bytes())
    key = decode_mod.cache_key([str(copy)], (48, 48))
    os.utime(copy, ns=(0, 12345))
    assert decode_mod.cache_key([str(copy)], (48, 48)) != key


def test_corrupt_image_names_path(frame, tmp_path, monkeypatch) -> None:
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(Path(frame["filename"][0]).read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated.jpg") as info:
        decode_images([frame["filename"][1], str(bad)])
    assert "remove or replace the file" in str(info.value)
    monkeypatch.setattr(decode_mod, "_CHUNK", 1)  # same error through the worker processes
    with pytest.raises(ValueError, match="truncated.jpg"):
        decode_images([frame["filename"][1], str(bad)], workers=2)


def test_rgb_and_other_size_converted(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rgb = tmp_path / "rgb.png"
    big = tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8), "RGB").save(rgb)
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8), "L").save(big)
    out = decode_images([str(rgb), str(big)])
    assert out.shape == (2, 48, 48)
    np.testing.assert_array_equal(out[0], _pil(str(rgb)))
    np.testing.assert_array_equal(out[1], _pil(str(big)))


# ---------------------------------------------------------------- batched warp


def _matrices(n: int, **params) -> np.ndarray:
    """IDG-parameter matrices for ``n`` images (defaults: identity)."""
    full = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "zx": 1.0, "zy": 1.0, "flip": 0.0} | params
    return matrices_from(
        *(np.full(n, full[k], dtype=np.float64) for k in ("theta", "tx", "ty", "zx", "zy", "flip")),
        image_size=(48, 48),
    )


def _edge_shift(img: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """``out[r, c] = img[clip(r + dr), clip(c + dc)]`` (np.roll with edge fill instead of wrap)."""
    h, w = img.shape
    rows = np.clip(np.arange(h) + dr, 0, h - 1)
    cols = np.clip(np.arange(w) + dc, 0, w - 1)
    return img[np.ix_(rows, cols)]


def test_warp_identity_flip_shift_exact(images: np.ndarray) -> None:
    batch = images[:8]
    np.testing.assert_array_equal(warp_batch_numpy(batch, _matrices(8)), batch.astype(np.float32))
    np.testing.assert_array_equal(warp_batch_numpy(batch, _matrices(8, flip=1.0)), np.flip(batch, -1))
    # IDG convention: tx moves along columns, ty along rows (output pixel reads input + shift).
    shifted = warp_batch_numpy(batch, _matrices(8, tx=3.0, ty=-2.0))
    for out, img in zip(shifted, batch, strict=True):
        np.testing.assert_array_equal(out, _edge_shift(img, -2, 3))
    assert warp_batch_numpy(batch, _matrices(8)).dtype == np.float32


def test_warp_matches_image_data_generator(images: np.ndarray) -> None:
    from fer_keras.data.legacy import ImageDataGenerator

    idg = ImageDataGenerator(fill_mode="nearest")
    params = [
        {"theta": 8.5, "tx": 2.7, "ty": -3.1, "zx": 1.07, "zy": 0.94, "flip_horizontal": False},
        {"theta": -9.0, "tx": -1.2, "ty": 4.4, "zx": 0.92, "zy": 1.09, "flip_horizontal": True},
        {"theta": 3.3, "tx": 0.0, "ty": 0.6, "zx": 1.0, "zy": 1.1, "flip_horizontal": True},
    ]
    batch = images[:3].astype(np.float32) / 255.0
    mats = np.concatenate(
        [
            matrices_from(
                [p["theta"]],
                [p["tx"]],
                [p["ty"]],
                [p["zx"]],
                [p["zy"]],
                [float(p["flip_horizontal"])],
                (48, 48),
            )
            for p in params
        ]
    )
    ours = warp_batch_numpy(batch, mats)
    for img, out, p in zip(batch, ours, params, strict=True):
        ref = idg.apply_transform(img[..., None], p)[..., 0]
        assert np.abs(out - ref)[2:-2, 2:-2].mean() < 2 / 255
        assert np.abs(out - ref).max() < 1e-3


def test_affine_params_distribution() -> None:
    rng = np.random.default_rng(0)
    m = affine_params(4000, rng, **AUGMENT)
    assert m.shape == (4000, 2, 3) and m.dtype == np.float32
    det = np.linalg.det(m[:, :, :2].astype(np.float64))
    flipped = det < 0
    assert 0.45 < flipped.mean() < 0.55
    assert np.all((np.abs(det) > 0.9**2 - 1e-4) & (np.abs(det) < 1.1**2 + 1e-4))
    np.testing.assert_array_equal(affine_params(3, np.random.default_rng(0)), _matrices(3))


# ---------------------------------------------------------------- RandomAffine layer


def test_keras_transform_matches_numpy_warp(images: np.ndarray) -> None:
    batch = images[:6].astype(np.float32)
    mats = affine_params(6, np.random.default_rng(1), **AUGMENT)
    out = ops.image.affine_transform(batch[..., None], to_keras_transforms(mats), fill_mode="nearest")
    np.testing.assert_allclose(ops.convert_to_numpy(out)[..., 0], warp_batch_numpy(batch, mats), atol=1e-2)
    shift = ops.image.affine_transform(
        batch[..., None], to_keras_transforms(_matrices(6, tx=3.0, ty=-2.0)), fill_mode="nearest"
    )
    np.testing.assert_allclose(ops.convert_to_numpy(shift)[0, ..., 0], _edge_shift(batch[0], -2, 3), atol=1e-3)


def test_random_affine_layer(images: np.ndarray) -> None:
    x = images[:16, :, :, None].astype(np.float32) / 255.0
    layer = RandomAffine(**AUGMENT, seed=3)
    y = ops.convert_to_numpy(layer(x, training=True))
    assert y.shape == x.shape and y.dtype == np.float32
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert np.abs(y - x).mean() > 0.01
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(x, training=False)), x)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(x)), x)

    flip = RandomAffine(horizontal_flip=True, seed=0)
    out = ops.convert_to_numpy(flip(x, training=True))
    same = [np.allclose(o, i, atol=1e-5) for o, i in zip(out, x, strict=True)]
    mirrored = [np.allclose(o, i[:, ::-1], atol=1e-5) for o, i in zip(out, x, strict=True)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True))
    assert any(same) and any(mirrored)

    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, RandomAffine)
    assert restored.get_config() == layer.get_config()
    assert augmentation_layer(AUGMENT | {"rescale": 1 / 255}, seed=3).get_config()["zoom_range"] == 0.1


# ---------------------------------------------------------------- ArrayDataset and builder


def _labels(frame: pd.DataFrame) -> np.ndarray:
    return frame["class"].map({n: i for i, n in enumerate(FER7_CLASSES)}).to_numpy()


def test_array_dataset_batches(frame, images) -> None:
    ds = ArrayDataset(images, _labels(frame), FER7_CLASSES, batch_size=32, shuffle=True, augment=AUGMENT, seed=7)
    assert len(ds) == 5 and ds.n == 140 and ds.batch_size == 32
    assert ds.class_indices == {n: i for i, n in enumerate(FER7_CLASSES)}
    x, y = ds[0]
    assert x.shape == (32, 48, 48, 1) and x.dtype == np.float32
    assert y.shape == (32, 7) and y.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    np.testing.assert_array_equal(y.sum(1), 1.0)
    np.testing.assert_array_equal(y.argmax(1), ds.classes[ds.batch_indices(0)])
    assert ds[4][0].shape == (12, 48, 48, 1)
    # Reproducible for a seed, independent of call order; new epoch -> new order and warps.
    again = ArrayDataset(images, _labels(frame), FER7_CLASSES, batch_size=32, shuffle=True, augment=AUGMENT, seed=7)
    late = again[3]
    np.testing.assert_array_equal(again[0][0], x)
    np.testing.assert_array_equal(ds[3][0], late[0])
    ds.on_epoch_end()
    assert not np.array_equal(ds[0][0], x)
    with pytest.raises(IndexError):
        ds[5]


def test_unshuffled_matches_image_data_generator(frame, images) -> None:
    from fer_keras.data.fer import flow_frame

    ds = ArrayDataset(images, _labels(frame), FER7_CLASSES, batch_size=50)
    np.testing.assert_array_equal(ds.classes, _labels(frame))
    flow = flow_frame(frame, FER7_CLASSES, batch_size=50, shuffle=False)
    assert flow.class_indices == ds.class_indices
    np.testing.assert_array_equal(flow.classes, ds.classes)
    for i in range(len(ds)):
        (xa, ya), (xb, yb) = ds[i], flow[i]
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_build_fast_iterators(frame, tmp_path) -> None:
    test = frame.iloc[::3].reset_index(drop=True)
    frames = {"train": frame, "validation": frame.iloc[:0], "test": test}
    its = build_fast_iterators(frames, FER7_CLASSES, batch_size=16, augment=AUGMENT, seed=1, cache_dir=tmp_path)
    assert set(its) == {"train", "validation", "test"}
    assert its["validation"].n == 0 and len(its["validation"]) == 0
    train, tst = its["train"], its["test"]
    assert train.shuffle and train.augment and not tst.shuffle and not tst.augment
    np.testing.assert_array_equal(tst.classes, _labels(test))
    assert tst.filenames == test["filename"].tolist()
    np.testing.assert_array_equal(tst.images, decode_images(test["filename"].tolist()))
    assert len(list(tmp_path.glob("fer_*.npy"))) == 1
    on_model = build_fast_iterators(
        frames, FER7_CLASSES, batch_size=16, augment=AUGMENT, seed=1, cache_dir=tmp_path, augment_on="model"
    )
    assert not on_model["train"].augment and on_model["train"].shuffle
    with pytest.raises(ValueError, match="augment_on"):
        build_fast_iterators(frames, FER7_CLASSES, batch_size=16, augment=None, seed=1, augment_on="gpu")


def test_fit_with_workers(frame, images) -> None:
    ds = ArrayDataset(
        images, _labels(frame), FER7_CLASSES, batch_size=35, shuffle=True, augment=AUGMENT, seed=0, workers=2
    )
    model = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten(), keras.layers.Dense(7, "softmax")])
    model.compile("adam", "categorical_crossentropy")
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert ds.epoch >= 2  # counts on_epoch_end calls (the TF trainer also calls it once after peeking)
