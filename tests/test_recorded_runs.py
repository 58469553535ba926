"""Real smoke runs of fer7 and fashion_cnn: what the card and metrics JSON say is what trained (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import pytest
from card_checks import assert_card_matches_saved_model, card_section

from fer_keras.constants import FER7_CLASSES
from fer_keras.data import load_fashion
from fer_keras.experiments import OutputPaths, evaluate, record_run, run_experiment
from fer_keras.models import build_fashion_mlp
from fer_keras.precision import mixed_precision_policy
from fer_keras.profiles import get_settings
from fer_keras.training import load_class_names, train


@pytest.fixture(scope="module")
def fer7_run(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fer7")
    run_experiment("fer7", "smoke", data_dir=data_root, out_dir=out, verbose=0, epochs=1, analysis=False)
    return out


@pytest.fixture(scope="module")
def fashion_cnn_run(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fashion_cnn asked for mixed precision (as the cpu/full profiles do): it must record the policy in effect."""
    out = tmp_path_factory.mktemp("fashion_cnn")
    run_experiment("fashion_cnn", "smoke", data_dir=data_root, out_dir=out, verbose=0, epochs=1, mixed_precision=True)
    return out


def test_fer7_card_matches_saved_model_and_selects_by_macro_f1(fer7_run: Path) -> None:
    """Findings 1 and 4: optimizer/loss from the model; selection by val_macro_f1 with class weights recorded."""
    metrics = assert_card_matches_saved_model(fer7_run, "fer7")
    training = metrics["training"]
    assert training["monitor"] == "val_macro_f1" and training["monitor_mode"] == "max"
    assert set(training["class_weight"]) == set(FER7_CLASSES)
    assert training["class_weight"]["disgust"] > training["class_weight"]["happy"]  # sqrt-balanced
    details = card_section((fer7_run / "model_cards" / "fer7.md").read_text(), "Training Details")
    assert "ModelCheckpoint(val_macro_f1, best only)" in details
    assert "EarlyStopping(val_macro_f1" in details
    assert training["augmentation"]["where"] == "feed" and training["augmentation"]["settings"]["horizontal_flip"]


def test_every_saved_model_has_its_class_names(fer7_run: Path) -> None:
    """Finding 5: best.keras (the checkpoint) gets class names like model.keras."""
    artifacts = fer7_run / "artifacts" / "fer7"
    for name in ("model.keras", "best.keras"):
        assert (artifacts / name).is_file()
        assert load_class_names(artifacts / name) == list(FER7_CLASSES)


def test_fashion_cnn_records_the_policy_in_effect(fashion_cnn_run: Path) -> None:
    """Finding 1 (mixed precision) and 3: the card says the policy in effect (bf16 only where the hardware
    executes it natively, fer_keras.precision) and the global policy is untouched."""
    metrics = assert_card_matches_saved_model(fashion_cnn_run, "fashion_cnn")
    assert metrics["training"]["dtype_policy"]["name"] == mixed_precision_policy(True)
    assert "mixed_precision" not in json.dumps(metrics["training"])
    assert keras.config.dtype_policy().name == "float32"
    assert metrics["training"]["monitor"] == "val_accuracy"
    assert metrics["dataset"]["fingerprint"]["sha256"].startswith("sha256:")


def test_fashion_cnn_card_shows_the_analysis(fashion_cnn_run: Path) -> None:
    """Issue 8: ECE, captions and the four figures in the card of a fashion_cnn smoke run."""
    metrics = json.loads((fashion_cnn_run / "metrics" / "fashion_cnn.json").read_text())
    analysis = card_section((fashion_cnn_run / "model_cards" / "fashion_cnn.md").read_text(), "Analysis")
    assert f"{metrics['analysis']['ece']:.3f}" in analysis and "ECE after temperature scaling" in analysis
    assert metrics["analysis"]["embedding"]["n"] == 500
    for kind in ("reliability", "confident_mistakes", "occlusion", "embedding"):
        assert metrics["analysis"]["captions"][kind] in analysis
        assert (fashion_cnn_run / metrics["analysis"]["figures"][kind]).is_file()


def test_analysis_can_be_switched_off(fer7_run: Path) -> None:
    card = (fer7_run / "model_cards" / "fer7.md").read_text()
    assert "Not computed for this run (the `analysis` setting was off)." in card_section(card, "Analysis")


def test_card_states_the_compiled_optimizer_not_the_profile(data_root: Path, tmp_path: Path) -> None:
    """Finding 1: a model compiled with Nadam 0.003 under settings that say Adam 0.001 gets a Nadam card."""
    settings = get_settings("fashion_mlp", "smoke", epochs=1)
    assert (settings.optimizer, settings.learning_rate) == ("adam", 1e-3)
    data = load_fashion(data_root, batch_size=settings.batch_size, seed=settings.seed, smoke=True)
    model = build_fashion_mlp(units_1=64, units_2=32, optimizer="nadam", learning_rate=0.003)
    out = OutputPaths(tmp_path, "fashion_mlp")
    result = train(model, data.train, data.validation, epochs=1, artifacts_dir=out.artifacts, verbose=0)
    metrics = evaluate(model, settings, data)
    model.save(out.model)
    record = record_run(settings, data, model, result, metrics, out, wall_time_s=1.0, data_dir=data_root)
    assert record["training"]["optimizer"]["class_name"] == "Nadam"
    assert record["training"]["optimizer"]["config"]["learning_rate"] == pytest.approx(0.003)
    details = card_section(out.card.read_text(), "Training Details")
    assert "Nadam, learning rate 0.003" in details and "Adam, learning rate 0.001" not in details


def test_notebook_steps_give_the_cli_numbers(data_root: Path, tmp_path: Path) -> None:
    """The Keras steps as notebook 03 writes them (loader, build, compile, train) reproduce the CLI's run."""
    from fer_keras import training
    from fer_keras.experiments import decay_steps_for, dtype_policy_for
    from fer_keras.models import build_fashion_cnn, make_optimizer

    cli = run_experiment(
        "fashion_cnn", "smoke", data_dir=data_root, out_dir=tmp_path / "cli", verbose=0, epochs=1, analysis=False
    )
    settings = get_settings("fashion_cnn", "smoke", epochs=1)
    training.set_seed(settings.seed)
    data = load_fashion(
        data_root,
        batch_size=settings.batch_size,
        validation_split=settings.validation_split,
        seed=settings.seed,
        augmentation=settings.augmentation,
        smoke=settings.smoke,
    )
    training.set_seed(settings.seed)
    with training.dtype_policy(dtype_policy_for(settings)):
        model = build_fashion_cnn(num_classes=len(data.class_names))
    model.compile(
        optimizer=make_optimizer(
            settings.optimizer, training.learning_rate_schedule(settings.learning_rate, decay_steps_for(settings, data))
        ),
        loss=training.make_loss(sparse_labels=data.sparse_labels, label_smoothing=settings.label_smoothing),
        metrics=training.make_metrics(len(data.class_names), sparse_labels=data.sparse_labels),
    )
    out = OutputPaths(tmp_path / "notebook", "fashion_cnn")
    callbacks = training.make_callbacks(
        out.artifacts, patience=settings.patience, reduce_lr=settings.schedule == "plateau", monitor=settings.monitor
    )
    result = train(
        model, data.train, data.validation, epochs=1, artifacts_dir=out.artifacts, callbacks=callbacks, verbose=0
    )
    assert result.history["loss"] == pytest.approx(cli["history"]["loss"], rel=1e-6)
    assert result.history["val_accuracy"] == pytest.approx(cli["history"]["val_accuracy"], rel=1e-6)
