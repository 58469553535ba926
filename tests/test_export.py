"""Compact committed models (issue 12): a real smoke-trained fer4 CNN, float16 kernels, <= 16 MiB, float32 on load."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from card_checks import card_section

from fer_keras.constants import FER4_CLASSES
from fer_keras.data.augment import augmentation_layer
from fer_keras.data.fer import DEFAULT_AUGMENTATION
from fer_keras.experiments import prepare_data, run_experiment
from fer_keras.export import (
    MAX_MODEL_BYTES,
    card_accuracy,
    check_published_model,
    compare_predictions,
    float32_copy,
    predict_probabilities,
    publish_model,
    save_compact_model,
    without_training_layers,
)
from fer_keras.models import build_fer_cnn
from fer_keras.presets import read_checksums
from fer_keras.profiles import get_settings
from fer_keras.training import dtype_policy, load_class_names


@pytest.fixture(scope="module")
def fer4_run(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real fer4 smoke run (1 epoch): the 7.8 M-parameter CNN the full profile trains, in miniature time."""
    out = tmp_path_factory.mktemp("fer4")
    run_experiment("fer4", "smoke", data_dir=data_root, out_dir=out, verbose=0, epochs=1)
    return out


@pytest.fixture(scope="module")
def smoke_test_feed(data_root: Path):
    """The smoke run's test split (128 images), unshuffled."""
    return prepare_data(get_settings("fer4", "smoke"), data_root).test


def test_compact_fer_cnn_fits_16_mib_and_loads_as_float32(fer4_run: Path, tmp_path: Path) -> None:
    trained = keras.saving.load_model(fer4_run / "artifacts" / "fer4" / "model.keras")
    info = save_compact_model(trained, tmp_path / "fer4.keras", FER4_CLASSES)
    size = (tmp_path / "fer4.keras").stat().st_size
    assert info.bytes == size <= MAX_MODEL_BYTES
    assert info.parameters == trained.count_params() > 7_800_000
    assert info.float16_arrays == 10  # 7 conv + 3 dense kernels
    assert load_class_names(tmp_path / "fer4.keras") == list(FER4_CLASSES)
    loaded = keras.saving.load_model(tmp_path / "fer4.keras")
    assert {v.dtype for v in loaded.weights} <= {"float32", "uint32", "int64", "int32"}
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    assert getattr(loaded, "optimizer", None) is None  # saved uncompiled: no optimizer state
    for kept, original in zip(loaded.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_allclose(kept, original, rtol=1e-3, atol=1e-4)  # float16 rounding of the kernels only


def test_compact_predictions_agree_with_the_trained_model(fer4_run: Path, smoke_test_feed, tmp_path: Path) -> None:
    trained = keras.saving.load_model(fer4_run / "artifacts" / "fer4" / "model.keras")
    save_compact_model(trained, tmp_path / "fer4.keras", FER4_CLASSES)
    comparison = compare_predictions(trained, keras.saving.load_model(tmp_path / "fer4.keras"), smoke_test_feed)
    print(json.dumps(comparison))
    assert comparison["images"] == 128
    assert comparison["max_probability_difference"] < 5e-3
    assert comparison["top1_disagreements"] <= 1
    assert abs(comparison["compact_accuracy"] - comparison["reference_accuracy"]) <= 1 / 128


def test_mixed_precision_model_becomes_float32(tmp_path: Path) -> None:
    with dtype_policy("mixed_bfloat16"):
        model = build_fer_cnn(7)
    assert model.layers[1].dtype_policy.name == "mixed_bfloat16"
    copy = float32_copy(model)
    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    assert keras.config.dtype_policy().name == "float32"
    x = np.random.default_rng(0).random((4, 48, 48, 1), dtype=np.float32)
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), atol=2e-2)


def test_publish_points_the_card_at_the_committed_file(
    fer4_run: Path, smoke_test_feed, data_root: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    published = publish_model(fer4_run, "fer4", smoke_test_feed)
    assert published["path"] == "fer_keras/assets/fer4.keras" and published["bytes"] <= MAX_MODEL_BYTES
    assert published["test_comparison"]["images"] == 128
    metrics = json.loads((fer4_run / "metrics" / "fer4.json").read_text())
    assert metrics["model_path"] == "fer_keras/assets/fer4.keras"
    assert read_checksums(fer4_run / "fer_keras" / "assets")["fer4.keras"] == published["sha256"]
    assert metrics["trained_model_path"] == "artifacts/fer4/model.keras"
    assert metrics["published_model"]["trained_dtype_policy"] == metrics["training"]["dtype_policy"]["name"]
    card = (fer4_run / "model_cards" / "fer4.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", card_section(card, "How to Use"), flags=re.DOTALL)
    assert 'load_model("fer_keras/assets/fer4.keras")' in snippet
    monkeypatch.chdir(fer4_run)  # the card's snippet, run as is from the run's folder
    monkeypatch.setenv("FER_KERAS_DATA", str(data_root))
    exec(compile(snippet, "card snippet", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("true: happy; predicted: [")
    assert publish_model(fer4_run, "fer4")["path"] == "fer_keras/assets/fer4.keras"  # again: reads the trained model


def test_check_published_model_scores_the_committed_file(fer4_run: Path, make_fer_tree, smoke_test_feed) -> None:
    publish_model(fer4_run, "fer4")
    metrics = json.loads((fer4_run / "metrics" / "fer4.json").read_text())
    assert card_accuracy(fer4_run / "model_cards" / "fer4.md") == pytest.approx(metrics["metrics"]["accuracy"])
    small = make_fer_tree(per_class=6)  # 24 real test images: the check's plumbing, not the 0.3-point claim
    check = check_published_model(fer4_run, "fer4", small)
    assert check["num_test"] == 24 and check["card_num_test"] == 128
    assert check["difference_points"] == pytest.approx((check["accuracy"] - check["card_accuracy"]) * 100, abs=1e-3)
    probabilities, labels = predict_probabilities(
        keras.saving.load_model(fer4_run / "fer_keras" / "assets" / "fer4.keras"), smoke_test_feed
    )
    assert probabilities.shape == (128, 4) and labels.shape == (128,)


def test_oversized_model_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    model = build_fer_cnn(4)
    with pytest.raises(ValueError, match="over the 1,000,000-byte limit"):
        save_compact_model(model, tmp_path / "big.keras", FER4_CLASSES, max_bytes=1_000_000)
    assert list(tmp_path.iterdir()) == []


PLAIN_KERAS = """
import sys
import keras
import numpy as np
model = keras.saving.load_model(sys.argv[1])
assert not [name for name in sys.modules if name.startswith("fer_keras")], "fer_keras was imported"
print(",".join(type(layer).__name__ for layer in model.layers))
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
"""


def test_published_copy_drops_the_augmentation_and_loads_with_plain_keras(tmp_path: Path) -> None:
    model = build_fer_cnn(4, augmentation=augmentation_layer(DEFAULT_AUGMENTATION, seed=1))
    assert model.layers[1].name == "random_affine"
    save_compact_model(model, tmp_path / "fer4.keras", FER4_CLASSES)
    x = np.random.default_rng(0).random((3, 48, 48, 1), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    done = subprocess.run(  # a fresh process that never imports fer_keras
        [sys.executable, "-c", PLAIN_KERAS, str(tmp_path / "fer4.keras"), str(tmp_path / "x.npy"), str(tmp_path / "p")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    layers = done.stdout.strip().splitlines()[-1].split(",")
    assert layers[:2] == ["InputLayer", "Conv2D"] and "RandomAffine" not in layers
    expected = model.predict(x, verbose=0)  # the augmentation is the identity at inference
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), expected, atol=5e-3)


def test_keras_augmentation_layers_are_dropped_too() -> None:
    inputs = keras.Input((8, 8, 3))
    augment = keras.Sequential([keras.layers.RandomFlip(), keras.layers.RandomRotation(0.1)], name="augment")
    x = keras.layers.RandomZoom(0.1)(augment(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    config = without_training_layers(keras.saving.serialize_keras_object(model))
    stripped = keras.saving.deserialize_keras_object(config)
    assert [type(layer).__name__ for layer in stripped.layers] == ["InputLayer", "Flatten", "Dense"]
    sequential = keras.Sequential([keras.Input((4,)), keras.layers.GaussianNoise(0.1), keras.layers.Dense(1)])
    kept = without_training_layers(keras.saving.serialize_keras_object(sequential))
    assert len(kept["config"]["layers"]) == 3  # GaussianNoise is not an augmentation layer of the list: kept
