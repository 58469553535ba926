"""``evaluate`` on a folder never misleads: missing classes, merged folders, wrong aliases, checkpoint class names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from sklearn.metrics import f1_score

from fer_keras.constants import FER4_CLASSES
from fer_keras.data import DataError
from fer_keras.data.fer import flow_frame
from fer_keras.evaluation import classification_summary
from fer_keras.folder_eval import CLASS_ALIASES, evaluate_folder, folder_frame, match_class_folders
from fer_keras.models import build_fer_cnn
from fer_keras.training import compile_classifier, load_class_names, make_callbacks, save_model, train

REPO_ROOT = Path(__file__).resolve().parents[1]
PER_CLASS = 3
# The saved models are compiled but never trained, so their optimizer has no state to load.
pytestmark = pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")


def run_evaluate(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "fer_keras", "evaluate", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def fer4_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained ``build_fer_cnn(4)`` (48x48 grayscale), compiled and saved with its class names."""
    model = compile_classifier(build_fer_cnn(4))
    return save_model(model, tmp_path_factory.mktemp("model") / "fer4.keras", FER4_CLASSES)


@pytest.fixture(scope="module")
def without_surprise(copy_real_images, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real test images of happy, sad and neutral, and no ``surprise/`` folder."""
    root = tmp_path_factory.mktemp("three_classes")
    for cls in ("happy", "sad", "neutral"):
        copy_real_images("test", cls, root / cls, PER_CLASS)
    return root


def test_cli_missing_class_is_an_error_naming_it(fer4_model: Path, without_surprise: Path) -> None:
    proc = run_evaluate(str(fer4_model), "--data", str(without_surprise))
    assert proc.returncode == 2, proc.stderr[-3000:]
    error = proc.stderr.strip().splitlines()[-1]  # after the backend's own log lines
    assert error.startswith("error: ") and "Traceback" not in proc.stderr
    assert "surprise" in error and "--allow-missing-classes" in error
    assert str(without_surprise / "surprise") in error  # where the folder was expected
    assert proc.stdout.strip() == ""  # no metrics printed


def test_cli_allow_missing_classes_scores_present_classes(fer4_model: Path, without_surprise: Path) -> None:
    proc = run_evaluate(str(fer4_model), "--data", str(without_surprise), "--allow-missing-classes")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert result["classes_present"] == ["happy", "sad", "neutral"]
    assert result["classes_absent"] == ["surprise"]
    assert "surprise" in result["note"] and "3 classes present" in result["note"]
    assert result["class_names"] == list(FER4_CLASSES)
    cm = np.array(result["confusion_matrix"])
    assert cm.shape == (4, 4) and cm.sum(axis=1).tolist() == [PER_CLASS] * 3 + [0]
    # macro-F1 over the three present classes, recomputed from the confusion matrix
    y_true = np.repeat(np.arange(4), cm.sum(axis=1))
    y_pred = np.concatenate([np.repeat(np.arange(4), row) for row in cm])
    expected = f1_score(y_true, y_pred, labels=[0, 1, 2], average="macro", zero_division=0)
    assert result["macro_f1"] == pytest.approx(expected)
    assert set(result["report"]) >= {"happy", "sad", "neutral", "macro avg"} and "surprise" not in result["report"]


def test_empty_class_folder_counts_as_absent(fer4_model: Path, without_surprise: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for cls in ("happy", "sad", "neutral"):
        (data / cls).mkdir(parents=True)
        for image in (without_surprise / cls).iterdir():
            (data / cls / image.name).write_bytes(image.read_bytes())
    (data / "surprise").mkdir()
    (data / "surprise" / "README.txt").write_text("no images here")
    with pytest.raises(DataError, match="surprise of the model have no images"):
        evaluate_folder(fer4_model, data)
    result = evaluate_folder(fer4_model, data, allow_missing_classes=True)
    assert result["classes_absent"] == ["surprise"] and result["num_test"] == 3 * PER_CLASS


def test_complete_folder_reports_every_class_present(fer4_model: Path, without_surprise: Path, tmp_path) -> None:
    missing_then_added = tmp_path / "complete"
    for cls in FER4_CLASSES:
        source = without_surprise / cls if cls != "surprise" else without_surprise / "happy"
        (missing_then_added / cls).mkdir(parents=True)
        for image in source.iterdir():
            (missing_then_added / cls / image.name).write_bytes(image.read_bytes())
    result = evaluate_folder(fer4_model, missing_then_added)
    assert result["classes_present"] == list(FER4_CLASSES) and result["classes_absent"] == []
    assert "note" not in result
    assert result["folders"] == {cls: cls for cls in sorted(FER4_CLASSES)}


@pytest.mark.parametrize(
    ("folders", "named"),
    [
        (["happy", "happiness", "sad"], ("happiness", "happy")),
        (["Happy", "happy", "sad"], ("Happy", "happy")),
        (["joy", "Happiness"], ("joy", "Happiness")),
    ],
)
def test_two_folders_of_one_class_is_an_error(folders: list[str], named: tuple[str, str]) -> None:
    with pytest.raises(DataError, match="map to the same class") as info:
        match_class_folders(folders, FER4_CLASSES)
    message = str(info.value)
    assert all(folder in message for folder in named) and "class happy" in message


def test_two_folders_of_one_class_fail_evaluate(fer4_model: Path, copy_real_images, tmp_path: Path) -> None:
    for folder, cls in {"happy": "happy", "happiness": "happy", "sad": "sad", "neutral": "neutral"}.items():
        copy_real_images("test", cls, tmp_path / folder, 2)
    copy_real_images("test", "surprise", tmp_path / "surprised", 2)
    with pytest.raises(DataError, match="happiness and happy"):
        evaluate_folder(fer4_model, tmp_path)


def test_calm_is_not_neutral() -> None:
    assert "calm" not in CLASS_ALIASES  # RAVDESS has calm and neutral as two classes
    with pytest.raises(DataError, match="calm match no class"):
        match_class_folders(["calm", "neutral", "happy"], FER4_CLASSES)
    ravdess = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
    assert match_class_folders(ravdess, ravdess) == {name: name for name in ravdess}  # exact names win
    assert set(CLASS_ALIASES.values()) <= {"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}


def test_classification_summary_scored_labels() -> None:
    y_true, y_pred = [0, 0, 1, 1, 2, 2], [0, 3, 1, 0, 2, 2]
    full = classification_summary(y_true, y_pred, ["a", "b", "c", "d"])
    assert full["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=[0, 1, 2, 3], average="macro"))
    present = classification_summary(y_true, y_pred, ["a", "b", "c", "d"], scored_labels=[0, 1, 2])
    assert present["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=[0, 1, 2], average="macro"))
    assert present["macro_f1"] > full["macro_f1"]  # the absent class d no longer counts as F1 0
    assert present["accuracy"] == full["accuracy"] == pytest.approx(4 / 6)
    assert present["confusion_matrix"] == full["confusion_matrix"] and len(full["confusion_matrix"]) == 4
    assert "d" in full["report"] and "d" not in present["report"]


# ---------------------------------------------------------------- every saved model has its class names


def test_checkpoints_get_class_names(copy_real_images, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for cls in FER4_CLASSES:
        copy_real_images("test", cls, data / cls, PER_CLASS)
    frame = folder_frame(data, {cls: cls for cls in FER4_CLASSES})
    feed = flow_frame(frame, FER4_CLASSES, batch_size=4)
    tiny = compile_classifier(build_fer_cnn(4, conv_blocks=((4, 1),), dense_units=(8,)))

    artifacts = tmp_path / "artifacts"
    make_callbacks(artifacts, class_names=FER4_CLASSES)
    assert load_class_names(artifacts / "best.keras") == list(FER4_CLASSES)  # written before the first epoch

    other = keras.callbacks.ModelCheckpoint(str(tmp_path / "elsewhere" / "last.keras"))
    train(
        tiny,
        feed,
        feed,
        epochs=1,
        artifacts_dir=artifacts,
        verbose=0,
        callbacks=[*make_callbacks(artifacts), other],
        class_names=FER4_CLASSES,
    )
    assert (artifacts / "best.keras").is_file() and (tmp_path / "elsewhere" / "last.keras").is_file()
    assert load_class_names(tmp_path / "elsewhere" / "last.keras") == list(FER4_CLASSES)
    result = evaluate_folder(artifacts / "best.keras", data)  # no --classes needed for the checkpoint
    assert result["class_names"] == list(FER4_CLASSES) and result["num_test"] == 4 * PER_CLASS
