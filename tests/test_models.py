"""Model builders: the FER CNN, the Fashion-MNIST CNN and MLP, optimizers and the keras-tuner search."""

from __future__ import annotations

from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest

from fer_keras.data import load_fashion
from fer_keras.models import (
    SEARCH_SPACE,
    FashionMLPHyperModel,
    build_fashion_cnn,
    build_fashion_mlp,
    build_fer_cnn,
    make_optimizer,
    make_tuner,
    tuning_summary,
)
from fer_keras.models.fer_cnn import CONV_BLOCKS


def layer_types(model: keras.Model, kind: type) -> list:
    return [layer for layer in model.layers if isinstance(layer, kind)]


def expected_fer_params(num_classes: int, input_shape: tuple[int, int, int]) -> tuple[int, int]:
    """(total, non-trainable) parameters of the FER CNN, counted by hand from its architecture."""
    height, width, channels = input_shape
    total = non_trainable = 0
    for filters, convs in CONV_BLOCKS:
        for _ in range(convs):
            total += 3 * 3 * channels * filters + filters + 4 * filters  # conv kernel + bias, BatchNorm
            non_trainable += 2 * filters  # BatchNorm moving mean and variance
            channels = filters
        height, width = height // 2, width // 2
    units = height * width * channels
    for dense in (1024, 768):
        total += units * dense + dense + 4 * dense
        non_trainable += 2 * dense
        units = dense
    return total + units * num_classes + num_classes, non_trainable


def test_fer_cnn_four_classes() -> None:
    model = build_fer_cnn(4)
    assert model.count_params() == 7_847_108
    assert model.count_params() == pytest.approx(7_842_500, rel=0.03)  # the original experiment's size
    assert (model.count_params(), 2 * (64 + 64 + 128 + 128 + 256 + 256 + 512 + 1024 + 768)) == expected_fer_params(
        4, (48, 48, 1)
    )
    assert len(layer_types(model, keras.layers.Conv2D)) == 7
    dense = layer_types(model, keras.layers.Dense)
    assert [layer.units for layer in dense] == [1024, 768, 4]  # 2 hidden + output
    assert [layer.filters for layer in layer_types(model, keras.layers.Conv2D)] == [64, 64, 128, 128, 256, 256, 512]
    assert dense[-1].activation is keras.activations.softmax and model.layers[-1] is dense[-1]
    assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, 4)
    assert model.name == "fer_cnn"


@pytest.mark.parametrize(("classes", "shape"), [(7, (48, 48, 1)), (4, (64, 64, 1)), (4, (48, 48, 3)), (2, (16, 16, 1))])
def test_fer_cnn_other_classes_and_inputs(classes: int, shape: tuple[int, int, int]) -> None:
    model = build_fer_cnn(classes, shape)
    assert model.input_shape == (None, *shape) and model.output_shape == (None, classes)
    assert model.count_params() == expected_fer_params(classes, shape)[0]
    probabilities = model.predict(np.random.default_rng(0).random((2, *shape), dtype=np.float32), verbose=0)
    assert probabilities.shape == (2, classes)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_fer_cnn_options() -> None:
    model = build_fer_cnn(3, conv_blocks=((8, 1), (16, 1)), dense_units=(32,), l2=1e-4, name="tiny")
    assert model.name == "tiny"
    convs = layer_types(model, keras.layers.Conv2D)
    assert [c.filters for c in convs] == [8, 16]
    assert isinstance(convs[0].kernel_regularizer, keras.regularizers.L2)
    assert [d.units for d in layer_types(model, keras.layers.Dense)] == [32, 3]
    assert build_fer_cnn(3).layers[1].kernel_regularizer is None


def test_fashion_cnn() -> None:
    model = build_fashion_cnn()
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    assert len(layer_types(model, keras.layers.Conv2D)) == 4
    assert model.layers[-1].activation is keras.activations.softmax
    # conv 1->32->32->64->64, 7*7*64 flattened into Dense(256), Dense(10); BatchNorm 4 params per channel
    convs = (9 * 1 * 32 + 32) + (9 * 32 * 32 + 32) + (9 * 32 * 64 + 64) + (9 * 64 * 64 + 64)
    assert model.count_params() == convs + 4 * (32 + 32 + 64 + 64) + (7 * 7 * 64 * 256 + 256) + (256 * 10 + 10)
    small = build_fashion_cnn(5, (32, 32, 3), filters=(8, 16), dense_units=16)
    assert small.output_shape == (None, 5) and small.input_shape == (None, 32, 32, 3)
    assert [d.units for d in layer_types(small, keras.layers.Dense)] == [16, 5]


def test_fashion_mlp_structure_and_compile() -> None:
    model = build_fashion_mlp(units_1=96, units_2=48, activation="tanh", learning_rate=3e-3, optimizer="nadam")
    assert [type(layer).__name__ for layer in model.layers] == ["Flatten", "Dense", "Dense", "Dense"]
    dense = layer_types(model, keras.layers.Dense)
    assert [d.units for d in dense] == [96, 48, 10]
    assert [d.activation for d in dense] == [keras.activations.tanh, keras.activations.tanh, keras.activations.softmax]
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    assert isinstance(model.optimizer, keras.optimizers.Nadam)
    assert float(model.optimizer.learning_rate) == pytest.approx(3e-3)
    assert model.count_params() == (784 * 96 + 96) + (96 * 48 + 48) + (48 * 10 + 10)
    # trains on integer labels as compiled
    x = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    history = model.fit(x, np.arange(8) % 10, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    with_dropout = build_fashion_mlp(dropout=0.2, num_classes=3)
    assert [type(layer).__name__ for layer in with_dropout.layers] == [
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert with_dropout.output_shape == (None, 3)


@pytest.mark.parametrize(
    ("name", "cls"),
    [("adam", keras.optimizers.Adam), ("Nadam", keras.optimizers.Nadam), ("RMSPROP", keras.optimizers.RMSprop)],
)
def test_make_optimizer(name: str, cls: type) -> None:
    optimizer = make_optimizer(name, 0.01)
    assert type(optimizer) is cls
    assert float(optimizer.learning_rate) == pytest.approx(0.01)


def test_make_optimizer_sgd_and_unknown() -> None:
    sgd = make_optimizer("sgd", 0.05)
    assert isinstance(sgd, keras.optimizers.SGD)
    assert sgd.momentum == 0.9 and sgd.nesterov is True
    with pytest.raises(ValueError, match="Unknown optimizer 'adagrad'") as info:
        make_optimizer("adagrad", 0.1)
    assert "adam, nadam, sgd, rmsprop" in str(info.value)


def test_hypermodel_values_within_search_space() -> None:
    hp = keras_tuner.HyperParameters()
    model = FashionMLPHyperModel().build(hp)
    values = hp.values
    assert set(values) == set(SEARCH_SPACE)
    lo1, hi1, step1 = SEARCH_SPACE["units_1"]
    lo2, hi2, step2 = SEARCH_SPACE["units_2"]
    assert lo1 <= values["units_1"] <= hi1 and (values["units_1"] - lo1) % step1 == 0
    assert lo2 <= values["units_2"] <= hi2 and (values["units_2"] - lo2) % step2 == 0
    for key in ("activation", "learning_rate", "optimizer"):
        assert values[key] in SEARCH_SPACE[key]
    assert [d.units for d in layer_types(model, keras.layers.Dense)] == [values["units_1"], values["units_2"], 10]
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    # a fixed value is honoured, and a custom space replaces the default one
    hp = keras_tuner.HyperParameters()
    hp.Fixed("optimizer", "sgd")
    custom = FashionMLPHyperModel({"units_1": (16, 32, 16), "activation": ("tanh",)}, dropout=0.1).build(hp)
    assert isinstance(custom.optimizer, keras.optimizers.SGD)
    assert hp.values["units_1"] in (16, 32) and hp.values["activation"] == "tanh"
    assert any(isinstance(layer, keras.layers.Dropout) for layer in custom.layers)


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_tuner_search_on_real_fashion(fashion_root: Path, tmp_path: Path) -> None:
    data = load_fashion(fashion_root.parent, smoke=True)
    x_train, y_train = data.scaled("train")
    x_val, y_val = data.scaled("validation")
    tuner = make_tuner(tmp_path / "tuner", max_trials=2, seed=7)
    assert isinstance(tuner, keras_tuner.RandomSearch)
    assert tuner.oracle.objective.name == "val_accuracy" and tuner.oracle.max_trials == 2
    tuner.search(x_train[:512], y_train[:512], validation_data=(x_val, y_val), epochs=1, batch_size=128, verbose=0)
    summary = tuning_summary(tuner)
    assert summary["objective"] == "val_accuracy" and summary["max_trials"] == 2
    assert summary["search_space"] == {k: list(v) for k, v in SEARCH_SPACE.items()}
    trials = summary["trials"]
    assert len(trials) == 2
    for trial in trials:
        assert set(trial) == {"trial_id", "hyperparameters", "val_accuracy", "status"}
        assert 0.0 <= trial["val_accuracy"] <= 1.0
        assert trial["status"] == "COMPLETED"
    assert trials[0]["val_accuracy"] >= trials[1]["val_accuracy"]  # best first
    assert summary["best_hyperparameters"] == trials[0]["hyperparameters"]
    assert set(summary["best_hyperparameters"]) == set(SEARCH_SPACE)
    assert (tmp_path / "tuner" / "fashion_mlp").is_dir()
    best = tuner.get_best_models(1)[0]
    accuracy = best.evaluate(x_val, y_val, verbose=0)[1]
    assert accuracy == pytest.approx(trials[0]["val_accuracy"], abs=1e-4)
    assert accuracy > 0.3  # far above chance (0.1) after one epoch on 512 images


def test_fer_cnn_with_augmentation_layer_keeps_architecture() -> None:
    from fer_keras.data.augment import RandomAffine, augmentation_layer
    from fer_keras.data.fer import DEFAULT_AUGMENTATION

    plain = build_fer_cnn(4)
    augmented = build_fer_cnn(4, augmentation=augmentation_layer(DEFAULT_AUGMENTATION, seed=1))
    assert isinstance(augmented.layers[1], RandomAffine)
    assert augmented.count_params() == plain.count_params()
    assert [type(layer).__name__ for layer in augmented.layers].count("Conv2D") == 7
    x = np.random.default_rng(0).random((2, 48, 48, 1)).astype("float32")
    augmented.set_weights(plain.get_weights())
    np.testing.assert_allclose(augmented.predict(x, verbose=0), plain.predict(x, verbose=0), atol=1e-6)  # inference
