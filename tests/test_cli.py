"""Command line and end-to-end experiments (two real training runs: fer4 by subprocess, fashion_mlp in-process)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from card_checks import assert_card_matches_saved_model, card_section
from PIL import Image

from fer_keras import cli
from fer_keras.constants import FASHION_CLASSES, FER4_CLASSES
from fer_keras.data import DataError, load_fashion
from fer_keras.data.fer import SMOKE_SIZES
from fer_keras.describe import describe_architecture
from fer_keras.experiments import (
    OutputPaths,
    class_weights,
    command_line,
    decay_steps_for,
    default_out_dir,
    resolve_pipeline,
)
from fer_keras.folder_eval import evaluate_folder, folder_frame, match_class_folders
from fer_keras.models import build_fer_cnn
from fer_keras.profiles import get_settings
from fer_keras.training import save_model

REPO_ROOT = Path(__file__).resolve().parents[1]
ALIAS_FOLDERS = {"Happiness": "happy", "sadness": "sad", "neutral": "neutral", "surprised": "surprise"}
EVAL_PER_CLASS = 5
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "fer_keras", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def last_json(stdout: str) -> dict:
    """The one-line JSON summary that ``train`` prints last."""
    return json.loads(stdout.strip().splitlines()[-1])


def test_version_help_and_exit_codes() -> None:
    version = run_cli("--version")
    from fer_keras import __version__

    assert version.returncode == 0 and version.stdout.strip() == f"fer_keras {__version__}"
    for args in (["--help"], ["predict", "--help"], ["evaluate", "--help"]):
        shown = run_cli(*args)
        assert shown.returncode == 0 and "exit status:" in shown.stdout and "2  bad input or usage" in shown.stdout
    usage = run_cli("train", "fer9")
    assert usage.returncode == 2 and "invalid choice: 'fer9'" in usage.stderr and "oneDNN" not in usage.stderr
    missing = run_cli("predict", "no-such-photo.jpg")
    assert missing.returncode == 2 and missing.stdout == ""
    assert "error: Image file(s) not found: no-such-photo.jpg" in missing.stderr


@pytest.fixture(scope="module")
def fer4_run(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """Real run 1: ``python -m fer_keras train fer4 --profile smoke --epochs 1 --pipeline fast`` into a temp folder.

    The fast path puts augmentation in the model (a ``RandomAffine`` layer), as on accelerators.
    """
    out = tmp_path_factory.mktemp("fer4_run")
    args = ["train", "fer4", "--profile", "smoke", "--epochs", "1", "--pipeline", "fast", "--out", str(out)]
    proc = run_cli(*args, "--data", str(data_root), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


@pytest.fixture(scope="module")
def alias_folder(copy_real_images, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real test images in folders named like another data set's classes (Happiness, sadness, ...)."""
    root = tmp_path_factory.mktemp("aliases")
    for folder, cls in ALIAS_FOLDERS.items():
        copy_real_images("test", cls, root / folder, EVAL_PER_CLASS)
    return root


@pytest.fixture(scope="module")
def tiny_rgb_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, small 4-class model on 32x32 RGB input, saved with its class names."""
    model = build_fer_cnn(4, (32, 32, 3), conv_blocks=((4, 1),), dense_units=(8,))
    return save_model(model, tmp_path_factory.mktemp("tiny") / "tiny.keras", FER4_CLASSES)


# ---------------------------------------------------------------- train fer4 (subprocess)


def test_train_fer4_outputs(fer4_run) -> None:
    out, proc = fer4_run
    printed = json.loads(proc.stdout)  # stdout: the result only; the summary line and progress on stderr
    assert "fer4 (smoke): test accuracy" in proc.stderr
    card, metrics_path = out / "model_cards" / "fer4.md", out / "metrics" / "fer4.json"
    assert Path(printed["card"]) == card and Path(printed["metrics"]) == metrics_path
    assert card.is_file() and metrics_path.is_file()
    metrics = json.loads(metrics_path.read_text())
    assert metrics["experiment"] == "fer4" and metrics["profile"] == "smoke"
    assert metrics["class_names"] == list(FER4_CLASSES)
    assert printed["accuracy"] == metrics["metrics"]["accuracy"]
    cm = np.array(metrics["metrics"]["confusion_matrix"])
    assert cm.shape == (4, 4) and cm.sum() == metrics["metrics"]["num_test"] == SMOKE_SIZES["test"]
    assert metrics["metrics"]["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert cm.sum(axis=1).tolist() == list(metrics["dataset"]["counts"]["test"].values())
    assert {k: sum(v.values()) for k, v in metrics["dataset"]["counts"].items()} == SMOKE_SIZES
    assert metrics["training"]["epochs_run"] == 1 and metrics["training"]["epochs"] == 1
    assert metrics["training"]["pipeline"] == "fast" and metrics["training"]["feed"] == "ArrayDataset"
    assert metrics["training"]["augmentation"]["where"] == "model"
    assert metrics["model"]["params"]["total"] == 7_847_108
    assert len(metrics["history"]["loss"]) == 1


def test_train_fer4_card_links_resolve(fer4_run) -> None:
    out, _ = fer4_run
    card = out / "model_cards" / "fer4.md"
    text = card.read_text()
    links = [link for link in LINK.findall(text) if not re.match(r"[a-z]+://|#|mailto:", link)]
    images = [link for link in links if link.endswith(".png")]
    assert len(images) == 8  # 4 run figures + 4 analysis figures
    for link in links:
        assert (card.parent / link).resolve().is_file(), f"card link {link} does not resolve"
    metrics = json.loads((out / "metrics" / "fer4.json").read_text())
    assert set(metrics["figures"]) == {"confusion_matrix", "curves", "samples", "class_balance"}
    assert set(metrics["analysis"]["figures"]) == {"reliability", "confident_mistakes", "occlusion", "embedding"}
    for relative in metrics["figures"].values():
        path = out / relative
        assert path.parent == out / "figures" and path.suffix == ".png"
        with Image.open(path) as image:
            assert image.size[0] > 100 and image.size[1] > 100
        assert f"../{relative}" in text


def test_train_fer4_saves_model_and_classes(fer4_run) -> None:
    out, _ = fer4_run
    model_path = out / "artifacts" / "fer4" / "model.keras"
    assert model_path.is_file() and (out / "artifacts" / "fer4" / "history.csv").is_file()
    classes = json.loads((out / "artifacts" / "fer4" / "model.classes.json").read_text())
    assert classes == {"class_names": list(FER4_CLASSES)}
    best = json.loads((out / "artifacts" / "fer4" / "best.classes.json").read_text())  # the checkpoint's too
    assert best == classes and (out / "artifacts" / "fer4" / "best.keras").is_file()
    model = keras.saving.load_model(model_path)
    assert model.output_shape == (None, 4) and model.input_shape == (None, 48, 48, 1)
    assert type(model.layers[1]).__name__ == "RandomAffine"


def test_train_fer4_card_records_what_trained(fer4_run) -> None:
    """Findings 1 and 4: Training Details come from the saved model; FER selects by validation macro-F1."""
    out, _ = fer4_run
    metrics = assert_card_matches_saved_model(out, "fer4")
    assert metrics["training"]["monitor"] == "val_macro_f1" and metrics["training"]["monitor_mode"] == "max"
    assert "val_macro_f1" in metrics["history"] and "macro_f1" in metrics["training"]["metrics"]
    assert metrics["training"]["dtype_policy"]["name"] == "float32"  # CPU: no mixed precision, whatever the profile
    assert "mixed_precision" not in metrics["training"]
    run = metrics["run"]
    assert re.fullmatch(r"[0-9a-f]{40}", run["git_commit"]) and isinstance(run["git_dirty"], bool)
    assert {"keras", "numpy", "scikit-learn", "pillow", run["backend"]} <= set(run["versions"])
    assert run["command"].startswith("python -m fer_keras train fer4")
    fingerprint = metrics["dataset"]["fingerprint"]
    assert fingerprint["sha256"].startswith("sha256:") and fingerprint["images"] == sum(SMOKE_SIZES.values())
    ci = metrics["metrics"]["bootstrap"]
    assert ci["accuracy"][0] <= metrics["metrics"]["accuracy"] <= ci["accuracy"][1]
    assert "±8 points" in (out / "model_cards" / "fer4.md").read_text()


def test_train_fer4_card_shows_the_analysis(fer4_run) -> None:
    """Issue 8: the smoke card gives the ECE, the analysis figures and their captions from the run's numbers."""
    out, _ = fer4_run
    metrics = json.loads((out / "metrics" / "fer4.json").read_text())
    analysis = card_section((out / "model_cards" / "fer4.md").read_text(), "Analysis")
    assert f"| Expected calibration error (ECE, 15 bins) | {metrics['analysis']['ece']:.3f} |" in analysis
    assert metrics["analysis"]["temperature"] > 0 and metrics["analysis"]["num_test"] == SMOKE_SIZES["test"]
    for kind, caption in metrics["analysis"]["captions"].items():
        if kind != "top_confusions":
            assert caption in analysis, kind
    for relative in metrics["analysis"]["figures"].values():
        assert (out / relative).is_file() and f"../{relative}" in analysis


def test_card_how_to_use_snippet_runs_in_a_fresh_process(fer4_run, data_root: Path) -> None:
    """Finding 2: the card's own Python block, extracted and run as is, loads the fast-path model and predicts."""
    out, _ = fer4_run
    usage = card_section((out / "model_cards" / "fer4.md").read_text(), "How to Use")
    (snippet,) = re.findall(r"```python\n(.*?)```", usage, flags=re.DOTALL)
    env = {**os.environ, "FER_KERAS_DATA": str(data_root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", snippet], cwd=out, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("true: happy; predicted: [")


def test_evaluate_cli_on_alias_folders(fer4_run, alias_folder: Path) -> None:
    out, _ = fer4_run
    model_path = out / "artifacts" / "fer4" / "model.keras"
    proc = run_cli("evaluate", str(model_path), "--data", str(alias_folder), "--batch-size", "8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(proc.stdout)  # JSON from the first byte: `evaluate ... | jq` works
    assert "Found 20 non-validated image filenames belonging to 4 classes." in proc.stderr  # Keras' message
    assert "oneDNN" not in proc.stderr and "absl::InitializeLog" not in proc.stderr  # no TensorFlow start-up lines
    assert metrics["class_names"] == list(FER4_CLASSES)
    assert metrics["model"] == str(model_path) and metrics["data"] == str(alias_folder)
    assert "report_text" not in metrics
    cm = np.array(metrics["confusion_matrix"])
    assert cm.sum() == metrics["num_test"] == 4 * EVAL_PER_CLASS
    assert cm.sum(axis=1).tolist() == [EVAL_PER_CLASS] * 4  # every alias folder landed on its class
    assert metrics["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert set(metrics["report"]) >= {*FER4_CLASSES, "macro avg", "weighted avg"}


# ---------------------------------------------------------------- evaluate: errors and other inputs (in-process)


def test_evaluate_unknown_folder_exit_2(tiny_rgb_model: Path, copy_real_images, tmp_path: Path, capsys) -> None:
    data = tmp_path / "eval"
    copy_real_images("test", "happy", data / "happy", 2)
    copy_real_images("test", "sad", data / "contempt", 2)
    assert cli.main(["evaluate", str(tiny_rgb_model), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "contempt" in err and "happy" not in err.split("match no class")[0]
    assert "--classes" in err


def test_evaluate_wrong_class_count(tiny_rgb_model: Path, alias_folder: Path, capsys) -> None:
    code = cli.main(["evaluate", str(tiny_rgb_model), "--data", str(alias_folder), "--classes", "happy", "sad"])
    assert code == 2
    err = capsys.readouterr().err
    assert "predicts 4 classes but 2 class names" in err and "exactly 4 names" in err


def test_evaluate_missing_paths(tiny_rgb_model: Path, alias_folder: Path, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.keras"
    assert cli.main(["evaluate", str(missing), "--data", str(alias_folder)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "does not exist" in err and "fer_keras train" in err
    assert cli.main(["evaluate", str(tiny_rgb_model), "--data", str(tmp_path / "no-folder")]) == 2
    assert "no-folder does not exist" in capsys.readouterr().err


def test_evaluate_folder_rgb_model_and_explicit_classes(tiny_rgb_model: Path, alias_folder: Path, tmp_path) -> None:
    metrics = evaluate_folder(tiny_rgb_model, alias_folder, batch_size=6)  # grayscale JPEGs fed as 32x32 RGB
    assert metrics["num_test"] == 4 * EVAL_PER_CLASS
    assert np.array(metrics["confusion_matrix"]).sum(axis=1).tolist() == [EVAL_PER_CLASS] * 4
    # without a sidecar, class names must be given
    bare = tmp_path / "bare.keras"
    keras.saving.load_model(tiny_rgb_model).save(bare)
    with pytest.raises(DataError, match="No class names") as info:
        evaluate_folder(bare, alias_folder)
    assert "bare.classes.json" in str(info.value)
    renamed = evaluate_folder(bare, alias_folder, classes=["Surprised", "Neutral", "Sadness", "Happiness"])
    assert renamed["class_names"] == ["Surprised", "Neutral", "Sadness", "Happiness"]
    assert np.array(renamed["confusion_matrix"]).sum(axis=1).tolist() == [EVAL_PER_CLASS] * 4


def test_match_class_folders_and_folder_frame(alias_folder: Path, tmp_path: Path) -> None:
    mapping = match_class_folders(["Happiness", "SAD", "Neutral", "Surprised"], FER4_CLASSES)
    assert mapping == {"Happiness": "happy", "SAD": "sad", "Neutral": "neutral", "Surprised": "surprise"}
    assert match_class_folders(["joy"], FER4_CLASSES) == {"joy": "happy"}
    with pytest.raises(DataError, match="contempt, fear match no class") as info:
        match_class_folders(["happy", "contempt", "fear"], FER4_CLASSES)
    assert "happy, sad, neutral, surprise" in str(info.value)
    frame = folder_frame(alias_folder, {"sadness": "sad", "Happiness": "happy"})
    assert list(frame["class"]) == ["sad"] * EVAL_PER_CLASS + ["happy"] * EVAL_PER_CLASS
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "readme.txt").write_text("no images")
    with pytest.raises(DataError, match="No images found"):
        folder_frame(tmp_path, {"happy": "happy"})


# ---------------------------------------------------------------- train: bad input and arguments


def test_train_empty_data_dir_exits_2_before_training(tmp_path: Path) -> None:
    empty, out = tmp_path / "empty", tmp_path / "out"
    empty.mkdir()
    proc = run_cli("train", "fer4", "--data", str(empty), "--out", str(out), "--quiet", timeout=120)
    assert proc.returncode == 2
    assert "Missing FER-2013 folder" in proc.stderr and str(empty) in proc.stderr
    assert "--data" in proc.stderr and "Traceback" not in proc.stderr
    assert not (out / "artifacts").exists() and not (out / "metrics").exists()  # nothing trained


def test_train_missing_data_dir_in_process(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing"
    assert cli.main(["train", "fashion_cnn", "--data", str(missing), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and str(missing) in err and "FER_KERAS_DATA" in err
    assert not (tmp_path / "o" / "artifacts").exists()


def test_parser_choices_and_defaults() -> None:
    args = cli.build_parser().parse_args(["train", "fer7"])
    assert (args.experiment, args.profile, args.data, args.out, args.epochs, args.quiet) == (
        "fer7",
        "smoke",
        None,
        None,
        None,
        False,
    )
    args = cli.build_parser().parse_args(["evaluate", "m.keras", "--data", "d", "--classes", "a", "b"])
    assert (args.model, args.data, args.classes, args.batch_size) == ("m.keras", "d", ["a", "b"], 64)
    assert args.allow_missing_classes is False
    for bad in (["train", "fer5"], ["train", "fer4", "--profile", "huge"], ["evaluate", "m.keras"], []):
        with pytest.raises(SystemExit) as info:
            cli.build_parser().parse_args(bad)
        assert info.value.code == 2


# ---------------------------------------------------------------- train fashion_mlp (in-process, with the tuner)


def test_train_fashion_mlp_in_process(data_root: Path, tmp_path: Path, capsys) -> None:
    """Real run 2: the tuned MLP through ``cli.main`` (3 tuner trials of 2 epochs, then 1 epoch)."""
    code = cli.main(
        ["train", "fashion_mlp", "--epochs", "1", "--out", str(tmp_path), "--data", str(data_root), "--quiet"]
    )
    assert code == 0
    printed = last_json(capsys.readouterr().out)
    metrics = json.loads((tmp_path / "metrics" / "fashion_mlp.json").read_text())
    assert printed["accuracy"] == metrics["metrics"]["accuracy"] > 0.5  # 10 classes: far above chance
    cm = np.array(metrics["metrics"]["confusion_matrix"])
    assert cm.sum() == 1000 and cm.sum(axis=1).tolist() == [100] * 10
    assert metrics["metrics"]["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    tuning = metrics["tuning"]
    assert len(tuning["trials"]) == 3 and all(t["status"] == "COMPLETED" for t in tuning["trials"])
    best = tuning["best_hyperparameters"]
    assert best == tuning["trials"][0]["hyperparameters"]
    model = keras.saving.load_model(tmp_path / "artifacts" / "fashion_mlp" / "model.keras")
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [best["units_1"], best["units_2"], 10]  # built from the best trial
    assert metrics["class_names"] == list(FASHION_CLASSES)
    assert_card_matches_saved_model(tmp_path, "fashion_mlp")
    optimizer = metrics["training"]["optimizer"]
    assert optimizer["class_name"].lower() == best["optimizer"]  # the tuned optimizer, not the profile's default
    assert optimizer["config"]["learning_rate"] == pytest.approx(best["learning_rate"])
    assert metrics["training"]["monitor"] == "val_accuracy"
    card = tmp_path / "model_cards" / "fashion_mlp.md"
    for link in LINK.findall(card.read_text()):
        if not re.match(r"[a-z]+://|#", link):
            assert (card.parent / link).resolve().is_file()


# ---------------------------------------------------------------- experiment helpers


def test_output_paths_and_default_out_dir(tmp_path: Path) -> None:
    out = OutputPaths(tmp_path, "fer7")
    assert out.card == tmp_path / "model_cards" / "fer7.md"
    assert out.metrics == tmp_path / "metrics" / "fer7.json"
    assert out.model == tmp_path / "artifacts" / "fer7" / "model.keras"
    assert out.figure("curves") == tmp_path / "figures" / "fer7_curves.png"
    assert default_out_dir("full") == Path("full") and default_out_dir("smoke", "x") == Path("x/runs/smoke")
    assert default_out_dir("cpu") == Path(".")  # the published profile writes the committed folders


def test_resolve_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    import fer_keras.experiments as experiments

    settings = get_settings("fer4", "smoke")
    assert settings.pipeline == "auto"
    monkeypatch.setattr(experiments, "has_accelerator", lambda: False)
    assert resolve_pipeline(settings) == "imagegenerator"
    monkeypatch.setattr(experiments, "has_accelerator", lambda: True)
    assert resolve_pipeline(settings) == "fast"
    assert resolve_pipeline(get_settings("fer4", "smoke", pipeline="imagegenerator")) == "imagegenerator"


def test_class_weights_model_description_sample_images(fashion_root: Path) -> None:
    data = load_fashion(fashion_root.parent, smoke=True)
    assert class_weights(get_settings("fashion_cnn", "smoke"), data) is None
    sqrt = class_weights(get_settings("fashion_cnn", "smoke", class_weight="sqrt"), data)
    assert sqrt == pytest.approx(dict.fromkeys(range(10), 1.0))  # balanced classes
    images, labels = data.sample_images(per_class=2)
    assert images.shape == (20, 28, 28) and np.bincount(labels).tolist() == [2] * 10
    description = describe_architecture(build_fer_cnn(4))
    non_trainable = 2 * (64 + 64 + 128 + 128 + 256 + 256 + 512 + 1024 + 768)  # BatchNorm moving statistics
    assert description["params"] == {
        "total": 7_847_108,
        "trainable": 7_847_108 - non_trainable,
        "non_trainable": non_trainable,
    }
    assert description["input_shape"] == [48, 48, 1] and description["name"] == "fer_cnn"
    assert sum(layer["params"] for layer in description["layers"]) == 7_847_108
    assert description["layers"][-1]["type"] == "Dense"


def test_decay_steps_count_the_training_feed(fashion_root: Path) -> None:
    settings = get_settings("fashion_cnn", "smoke", batch_size=300, schedule="cosine", epochs=3)
    data = load_fashion(fashion_root, batch_size=settings.batch_size, smoke=True)
    assert len(data.train) == 7  # ceil(2000 / 300)
    assert decay_steps_for(settings, data) == 21
    assert decay_steps_for(get_settings("fashion_cnn", "smoke"), data) is None  # plateau schedule


def test_command_line_as_typed() -> None:
    main = str(REPO_ROOT / "fer_keras" / "__main__.py")
    assert command_line([main, "train", "fer4", "--out", "a b"]) == "python -m fer_keras train fer4 --out 'a b'"
    assert command_line(["bench.py", "-x"]) == "bench.py -x"
