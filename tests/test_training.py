"""Training helpers: seeding, class weights, compile, callbacks, train() with resume, model saving."""

from __future__ import annotations

import json
import re
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.utils.class_weight import compute_class_weight

from fer_keras.data import FashionData, load_fashion
from fer_keras.models import build_fashion_mlp
from fer_keras.training import (
    EpochProgress,
    TrainResult,
    balanced_class_weight,
    classes_path,
    compile_classifier,
    describe_callbacks,
    load_class_names,
    make_callbacks,
    read_history,
    save_model,
    set_seed,
    train,
)


@pytest.fixture(scope="module")
def fashion(fashion_root: Path) -> FashionData:
    """Real Fashion-MNIST smoke subset cut to 256 train and 128 validation images."""
    data = load_fashion(fashion_root.parent, smoke=True)
    data.arrays["train"] = tuple(a[:256] for a in data.arrays["train"])
    data.arrays["validation"] = tuple(a[:128] for a in data.arrays["validation"])
    return data


def tiny_mlp(seed: int | None = None) -> keras.Model:
    if seed is not None:
        set_seed(seed)
    return build_fashion_mlp(units_1=32, units_2=16)


class StopAtEpoch(keras.callbacks.Callback):
    """Simulates a crash: raises when ``epoch`` (0-based) begins, i.e. after the earlier ones finished."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt(f"interrupted at epoch {epoch}")


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []
        self.start_weights: list[np.ndarray] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        if not self.epochs:
            self.start_weights = self.model.get_weights()
        self.epochs.append(epoch)


# ---------------------------------------------------------------- seeding and class weights


def test_set_seed_reproducible(fashion: FashionData) -> None:
    x, y = fashion.scaled("train")

    def fit(seed: int) -> list[np.ndarray]:
        model = tiny_mlp(seed)
        model.fit(x, y, epochs=1, batch_size=64, shuffle=True, verbose=0)
        return model.get_weights()

    first, second, other = fit(7), fit(7), fit(8)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    set_seed(3)
    draw = np.random.rand(3)
    set_seed(3)
    np.testing.assert_array_equal(draw, np.random.rand(3))


def test_balanced_class_weight_matches_sklearn() -> None:
    classes = ["happy", "sad", "neutral"]
    counts = {"sad": 30, "happy": 10, "neutral": 60, "unused": 999}
    weights = balanced_class_weight(counts, classes)
    labels = np.repeat([0, 1, 2], [10, 30, 60])
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    assert list(weights) == [0, 1, 2]
    np.testing.assert_allclose([weights[i] for i in range(3)], expected)
    np.testing.assert_allclose([weights[i] for i in range(3)], [100 / 30, 100 / 90, 100 / 180])
    damped = balanced_class_weight(counts, classes, power=0.5)
    np.testing.assert_allclose([damped[i] for i in range(3)], np.sqrt(expected))
    assert all(isinstance(w, float) for w in damped.values())
    assert balanced_class_weight({"a": 5, "b": 5}, ["a", "b"]) == {0: 1.0, 1: 1.0}


# ---------------------------------------------------------------- compile and callbacks


def test_compile_classifier_options() -> None:
    model = compile_classifier(tiny_mlp(), optimizer="sgd", learning_rate=0.05, decay_steps=100, label_smoothing=0.1)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    schedule = model.optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"]["initial_learning_rate"] == pytest.approx(0.05)
    assert schedule["config"]["decay_steps"] == 100
    assert isinstance(model.loss, keras.losses.CategoricalCrossentropy)
    assert model.loss.label_smoothing == pytest.approx(0.1)
    cosine = keras.optimizers.schedules.CosineDecay(0.05, 100)
    assert float(cosine(50)) == pytest.approx(0.025)  # halfway through the decay

    constant = compile_classifier(tiny_mlp(), learning_rate=3e-4, sparse_labels=True)
    assert isinstance(constant.optimizer, keras.optimizers.Adam)
    assert float(constant.optimizer.learning_rate) == pytest.approx(3e-4)
    assert isinstance(constant.loss, keras.losses.SparseCategoricalCrossentropy)
    x = np.zeros((4, 28, 28, 1), dtype=np.float32)
    assert set(constant.fit(x, np.arange(4), epochs=1, verbose=0).history) == {"loss", "accuracy"}


def test_make_callbacks(tmp_path: Path) -> None:
    folder = tmp_path / "run" / "artifacts"
    callbacks = make_callbacks(folder, patience=9, monitor="val_accuracy")
    assert folder.is_dir()
    types = [type(cb) for cb in callbacks]
    assert types == [
        keras.callbacks.ModelCheckpoint,
        keras.callbacks.EarlyStopping,
        keras.callbacks.ReduceLROnPlateau,
        EpochProgress,  # one line per epoch with the time left, for a log followed with tail -f
        keras.callbacks.CSVLogger,  # after ReduceLROnPlateau, so its rows include the learning rate
        keras.callbacks.BackupAndRestore,  # last: an epoch is backed up once everything about it is written
    ]
    checkpoint, early, reduce, _, csv, backup = callbacks
    assert Path(backup.backup_dir) == folder / "backup"
    assert Path(csv.filename) == folder / "history.csv" and csv.append is True
    assert Path(checkpoint.filepath) == folder / "best.keras" and checkpoint.save_best_only is True
    assert (early.monitor, early.patience, early.restore_best_weights) == ("val_accuracy", 9, True)
    assert (reduce.monitor, reduce.factor, reduce.patience) == ("val_accuracy", 0.5, 3)
    assert make_callbacks(folder, patience=2)[2].patience == 2  # at least 2
    without = make_callbacks(folder, reduce_lr=False)
    assert not any(isinstance(cb, keras.callbacks.ReduceLROnPlateau) for cb in without) and len(without) == 5
    assert (early.mode, checkpoint.mode, reduce.mode) == ("max", "max", "max")
    assert make_callbacks(folder, monitor="val_loss")[2].mode == "min"
    assert describe_callbacks(callbacks) == [
        "ModelCheckpoint(val_accuracy, best only)",
        "EarlyStopping(val_accuracy, patience 9, best weights restored)",
        "ReduceLROnPlateau(val_accuracy, factor 0.5, patience 3)",
        "CSVLogger",
        "BackupAndRestore",
    ]


def test_read_history_keeps_last_row_per_epoch(tmp_path: Path) -> None:
    csv = tmp_path / "history.csv"
    csv.write_text("epoch,loss,val_loss\n0,1.0,1.5\n1,0.9,1.4\n1,0.8,1.3\n2,0.7,1.2\n")
    assert read_history(csv) == {"loss": [1.0, 0.8, 0.7], "val_loss": [1.5, 1.3, 1.2]}


# ---------------------------------------------------------------- train()


def test_train_writes_artifacts(fashion: FashionData, tmp_path: Path) -> None:
    model = tiny_mlp(1)
    result = train(
        model,
        fashion.flow("train", batch_size=64),
        fashion.flow("validation", batch_size=64),
        epochs=2,
        artifacts_dir=tmp_path,
        verbose=0,
    )
    assert isinstance(result, TrainResult)
    assert result.epochs_run == 2
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(result.history)
    assert all(len(values) == 2 for values in result.history.values())
    assert result.best_epoch == int(np.argmin(result.history["val_loss"])) + 1
    assert result.history == read_history(tmp_path / "history.csv")
    assert list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == [0, 1]
    assert "learning_rate" in pd.read_csv(tmp_path / "history.csv").columns  # logged by ReduceLROnPlateau
    assert (tmp_path / "best.keras").is_file()
    assert not (tmp_path / "backup").exists()  # removed after a finished run
    assert result.train_time_s > 0 and result.images_per_s == pytest.approx(256 * 2 / result.train_time_s, rel=0.05)
    assert result.callbacks[1].startswith("EarlyStopping(val_loss, patience 10")
    assert result.callbacks[-2:] == ["ResumeState", "BackupAndRestore"]  # train() adds ResumeState before the backup
    assert result.history["loss"][1] < result.history["loss"][0]  # it learns
    assert result.history["accuracy"][1] > result.history["accuracy"][0]
    best = keras.saving.load_model(tmp_path / "best.keras")
    assert best.output_shape == (None, 10)


def test_train_resumes_after_interruption(fashion: FashionData, tmp_path: Path) -> None:
    def feeds():
        return fashion.flow("train", batch_size=64, seed=0), fashion.flow("validation", batch_size=64)

    first = tiny_mlp(2)
    with pytest.raises(KeyboardInterrupt):
        train(
            first,
            *feeds(),
            epochs=3,
            artifacts_dir=tmp_path,
            verbose=0,
            callbacks=[*make_callbacks(tmp_path), StopAtEpoch(1)],
        )
    assert list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == [0]  # epoch 1 of 3 finished
    assert (tmp_path / "backup").is_dir()
    # callback state after epoch 1, with EarlyStopping's best weights
    assert sorted(p.name for p in (tmp_path / "resume").iterdir()) == [
        "callback1-best-epoch00000.npz",
        "epoch00001.json",
    ]
    saved = first.get_weights()

    second, recorder = tiny_mlp(99), EpochRecorder()
    assert not np.array_equal(second.get_weights()[0], saved[0])
    result = train(
        second, *feeds(), epochs=3, artifacts_dir=tmp_path, verbose=0, callbacks=[*make_callbacks(tmp_path), recorder]
    )
    assert recorder.epochs == [1, 2]  # continued, not restarted
    for restored, backed_up in zip(recorder.start_weights, saved, strict=True):
        np.testing.assert_array_equal(restored, backed_up)  # from the weights of the finished epoch
    assert list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == [0, 1, 2]  # each epoch once
    assert result.epochs_run == 3 and all(len(v) == 3 for v in result.history.values())
    assert not (tmp_path / "backup").exists() and not (tmp_path / "resume").exists()

    # a finished run leaves no backup, so the next run starts afresh with a new history
    fresh = train(tiny_mlp(3), *feeds(), epochs=1, artifacts_dir=tmp_path, verbose=0)
    assert fresh.epochs_run == 1
    assert list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == [0]


# ---------------------------------------------------------------- saving


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_save_model_and_class_names_roundtrip(tmp_path: Path) -> None:
    model = tiny_mlp(4)
    path = tmp_path / "out" / "model.keras"
    names = [f"class {i}" for i in range(10)]
    assert save_model(model, path, names) == path
    assert path.is_file() and classes_path(path) == tmp_path / "out" / "model.classes.json"
    assert json.loads(classes_path(path).read_text()) == {"class_names": names}
    assert load_class_names(path) == names
    assert load_class_names(str(path)) == names
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.classes.json", "model.keras"]  # no temp files
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert load_class_names(tmp_path / "elsewhere.keras") is None
    assert classes_path("a/b/fer4.keras") == Path("a/b/fer4.classes.json")


@pytest.mark.parametrize(
    "imports",
    [
        "from fer_keras.models import build_fer_cnn",  # what the old card's snippet imported (finding 2)
        "from fer_keras.training import load_class_names",  # what the cards' snippets imported until issue 23
        "from fer_keras.saving import load_class_names",  # what they import now
        "import fer_keras.layers",
    ],
)
def test_keras_load_model_finds_random_affine_after_any_fer_keras_import(tmp_path: Path, imports: str) -> None:
    """Importing the layers, saving, training or model code registers RandomAffine, so plain
    ``keras.saving.load_model`` reads a training checkpoint; a bare ``import fer_keras`` has no such side effect
    (it imports nothing until a name is used), and the published models hold no RandomAffine at all."""
    import subprocess
    import sys

    from fer_keras.data.augment import augmentation_layer
    from fer_keras.models import build_fer_cnn

    model = build_fer_cnn(4, input_shape=(16, 16, 1), augmentation=augmentation_layer({"horizontal_flip": True}, 1))
    path = save_model(model, tmp_path / "model.keras", ["a", "b", "c", "d"])
    code = f"import keras; {imports}; print(type(keras.saving.load_model({str(path)!r}).layers[1]).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "RandomAffine"


def test_dtype_policy_is_scoped_to_the_build() -> None:
    """Finding 3: a mixed-precision build leaves the global policy as it was, also after an error."""
    from fer_keras.models import build_fashion_cnn
    from fer_keras.training import dtype_policy

    before = keras.config.dtype_policy().name
    with dtype_policy("mixed_bfloat16"):
        inside = build_fashion_cnn(10)
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    assert inside.dtype_policy.name == "mixed_bfloat16"
    assert inside.layers[1].compute_dtype == "bfloat16"
    assert keras.config.dtype_policy().name == before
    assert build_fashion_cnn(10).layers[1].compute_dtype == "float32"  # later models are not bf16
    with pytest.raises(RuntimeError), dtype_policy("mixed_bfloat16"):
        raise RuntimeError("build failed")
    assert keras.config.dtype_policy().name == before


def test_epoch_progress_prints_each_epoch_with_the_time_left(capsys: pytest.CaptureFixture[str]) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.zeros((8, 4), "float32"), np.zeros(8, "int32")
    model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[EpochProgress()])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all(re.search(r": \d+ s, about \d+ min left \(until \d\d:\d\d UTC\)$", line) for line in lines)
    assert lines[-1].split(", about ")[1].startswith("0 min left")
