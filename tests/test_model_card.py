"""Tests for fer_keras.model_card with a result dict built from a real sklearn report."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml
from huggingface_hub import ModelCardData
from sklearn.metrics import classification_report, confusion_matrix, f1_score

from fer_keras.evaluation import bootstrap_intervals
from fer_keras.model_card import (
    MODEL_CARD_SECTIONS,
    TEMPLATE_PATH,
    card_metadata,
    make_model_card,
    render_model_card,
    write_model_card,
)

CLASSES = ["happy", "sad", "neutral", "surprise"]
Y_TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 0, 1]
Y_PRED = [0, 0, 1, 0, 1, 2, 1, 2, 2, 0, 2, 3, 3, 2, 0, 1]


def _result(profile: str = "smoke", tuning: bool = False) -> dict[str, Any]:
    report = classification_report(Y_TRUE, Y_PRED, target_names=CLASSES, output_dict=True, zero_division=0)
    result: dict[str, Any] = {
        "experiment": "fer4",
        "title": "FER-2013, 4 classes (happy, sad, neutral, surprise)",
        "profile": profile,
        "dataset": {
            "id": "fer2013",
            "name": "FER-2013",
            "root": "/abs/data/fer2013",
            "counts": {
                "train": {"happy": 1200, "sad": 900, "neutral": 950, "surprise": 600},
                "validation": {"happy": 120, "sad": 90, "neutral": 95, "surprise": 60},
                "test": {"happy": 5, "sad": 4, "neutral": 4, "surprise": 3},
            },
            "preprocessing": "grayscale, resized to 48x48, pixels rescaled to [0, 1]",
            "note": "test/ holds the PublicTest part of FER-2013",
            "fingerprint": {"sha256": "sha256:abc123", "images": 4031},
        },
        "class_names": CLASSES,
        "model": {
            "name": "fer_cnn",
            "builder": "fer_keras.models.build_fer_cnn",
            "input_shape": [48, 48, 1],
            "output": "softmax over 4 classes",
            "params": {"total": 7847108, "trainable": 7840708, "non_trainable": 6400},
            "layers": [
                {"name": "conv2d", "type": "Conv2D", "output_shape": "(None, 48, 48, 64)", "params": 640},
                {"name": "dense", "type": "Dense", "output_shape": "(None, 4)", "params": 1234567},
            ],
        },
        "training": {
            "optimizer": {
                "class_name": "Nadam",
                "config": {"name": "nadam", "learning_rate": 0.003},
                "text": "Nadam, learning rate 0.003",
            },
            "optimizer_at_start": {
                "class_name": "Nadam",
                "config": {"name": "nadam", "learning_rate": 0.003},
                "text": "Nadam, learning rate 0.003",
            },
            "loss": {
                "class_name": "CategoricalCrossentropy",
                "config": {"label_smoothing": 0.1},
                "label_smoothing": 0.1,
                "text": "CategoricalCrossentropy (label smoothing 0.1)",
            },
            "metrics": ["accuracy", "macro_f1"],
            "dtype_policy": {"name": "float32", "compute_dtype": "float32", "variable_dtype": "float32"},
            "epochs": 2,
            "epochs_run": 2,
            "batch_size": 64,
            "monitor": "val_macro_f1",
            "monitor_mode": "max",
            "best_epoch": 2,
            "best_value": 0.4321,
            "augmentation": {
                "where": "model",
                "layer": "random_affine",
                "settings": {"rotation_range": 10, "horizontal_flip": True},
            },
            "class_weight": {"happy": 0.8, "sad": 1.1, "neutral": 1.0, "surprise": 1.6},
            "seed": 1337,
            "deterministic": {"deterministic": False, "how": "seeded only"},
            "callbacks": ["EarlyStopping(val_macro_f1, patience 8)", "ReduceLROnPlateau(val_macro_f1)"],
            "pipeline": "fast",
            "feed": "ArrayDataset",
        },
        "history": {
            "loss": [1.3, 1.1],
            "accuracy": [0.4, 0.5],
            "val_loss": [1.2, 1.15],
            "val_accuracy": [0.45, 0.5],
        },
        "metrics": {
            "accuracy": report["accuracy"],
            "macro_f1": f1_score(Y_TRUE, Y_PRED, average="macro"),
            "weighted_f1": f1_score(Y_TRUE, Y_PRED, average="weighted"),
            "num_test": len(Y_TRUE),
            "report": report,
            "report_text": classification_report(Y_TRUE, Y_PRED, target_names=CLASSES, zero_division=0),
            "confusion_matrix": confusion_matrix(Y_TRUE, Y_PRED).tolist(),
            "bootstrap": bootstrap_intervals(Y_TRUE, Y_PRED, len(CLASSES), n_resamples=200, seed=3),
        },
        "readout": {
            "overfitting": {"text": "READOUT-OVERFITTING"},
            "confusions": {"text": "READOUT-CONFUSIONS"},
        },
        "run": {
            "backend": "tensorflow",
            "backend_version": "2.21.0",
            "device": "CPU (2 cores, x86_64)",
            "keras_version": "3.15.1",
            "python": "3.11.7",
            "date": "2026-11-23 14:00 UTC",
            "wall_time_s": 61.2,
            "train_time_s": 40.0,
            "images_per_s": 95.0,
            "command": f"python -m fer_keras train fer4 --profile {profile}",
            "versions": {"keras": "3.15.1", "tensorflow": "2.21.0", "numpy": "2.4.6"},
            "git_commit": "0123456789abcdef0123456789abcdef01234567",
            "git_dirty": False,
        },
        "figures": {
            "confusion_matrix": "figures/fer4_confusion_matrix.png",
            "curves": "figures/fer4_curves.png",
        },
        "limitations": ["Low resolution: 48x48 grayscale faces.", "Posed and web-scraped images."],
        "tradeoffs": ["Bigger CNN: better accuracy, slower CPU training."],
    }
    if tuning:
        result["tuning"] = {
            "objective": "val_accuracy",
            "max_trials": 3,
            "search_space": {"activation": ["relu", "tanh"], "units_1": [128, 256]},
            "trials": [
                {
                    "trial_id": "0",
                    "hyperparameters": {"activation": "relu", "units_1": 128},
                    "val_accuracy": 0.81,
                },
                {
                    "trial_id": "1",
                    "hyperparameters": {"activation": "tanh", "units_1": 256},
                    "val_accuracy": 0.87,
                },
                {
                    "trial_id": "2",
                    "hyperparameters": {"activation": "relu", "units_1": 256},
                    "val_accuracy": 0.84,
                },
            ],
            "best_hyperparameters": {"activation": "tanh", "units_1": 256},
        }
    return result


def _front_matter(card: str) -> dict[str, Any]:
    match = re.match(r"^---\n(.*?)\n---\n", card, flags=re.DOTALL)
    assert match, "card must start with YAML front matter"
    return yaml.safe_load(match.group(1))


def _section(card: str, name: str) -> str:
    start = card.index(f"\n## {name}\n")
    nxt = card.find("\n## ", start + 1)
    return card[start : nxt if nxt != -1 else len(card)]


def test_sections_in_order() -> None:
    card = render_model_card(_result())
    headings = re.findall(r"^## (.+)$", card, flags=re.MULTILINE)
    assert tuple(headings) == MODEL_CARD_SECTIONS
    assert MODEL_CARD_SECTIONS[0] == "Model Description" and MODEL_CARD_SECTIONS[-1] == "How to Use"
    description = _section(card, "Model Description")
    assert re.findall(r"^### (.+)$", description, flags=re.MULTILINE) == [
        "Input",
        "Output",
        "Model Architecture",
    ]
    assert card.splitlines()[0] == "---"
    assert "\n# FER-2013, 4 classes (happy, sad, neutral, surprise)\n" in card


def test_front_matter_model_index() -> None:
    result = _result()
    meta = _front_matter(render_model_card(result))
    assert meta["library_name"] == "keras"
    assert {"image-classification", "keras", "fer2013"} <= set(meta["tags"])
    (entry,) = meta["model-index"]
    (res,) = entry["results"]
    assert res["task"]["type"] == "image-classification"
    assert res["dataset"] == {"name": "FER-2013", "type": "fer2013", "split": "test"}
    values = {m["type"]: m["value"] for m in res["metrics"]}
    assert values["accuracy"] == pytest.approx(result["metrics"]["accuracy"])
    assert values["f1"] == pytest.approx(result["metrics"]["macro_f1"])


def test_card_metadata_types_and_license() -> None:
    meta = card_metadata(_result())
    assert isinstance(meta, ModelCardData)
    assert meta.license == "other"
    fashion = _result()
    fashion["dataset"].update(id="fashion_mnist", name="Fashion-MNIST")
    fmeta = card_metadata(fashion)
    assert fmeta.license == "mit"
    assert "fashion-mnist" in fmeta.tags
    assert [e.dataset_name for e in fmeta.eval_results] == ["Fashion-MNIST", "Fashion-MNIST"]


def test_summary_and_number_formatting() -> None:
    result = _result()
    card = render_model_card(result)
    acc, ci = result["metrics"]["accuracy"], result["metrics"]["bootstrap"]
    low, high = (f"{v * 100:.1f}" for v in ci["accuracy"])
    assert (
        f"Test accuracy {acc * 100:.1f} % (95 % CI {low}–{high} %), macro-F1 {result['metrics']['macro_f1']:.3f}"
        in card
    )
    assert "on 16 test images — profile smoke" in card
    assert "7,847,108" in card and "7,840,708" in card and "6,400" in card
    assert "| dense | Dense | (None, 4) | 1,234,567 |" in card
    assert "| happy | 1,200 | 120 | 5 |" in card  # counts per split
    assert "| **total** | 3,650 | 365 | 16 |" in card


def test_per_class_rows_carry_report_values() -> None:
    result = _result()
    report = result["metrics"]["report"]
    performance = _section(render_model_card(result), "Performance")
    for key in [*CLASSES, "macro avg", "weighted avg"]:
        r = report[key]
        scores = " | ".join(f"{r[k]:.3f}" for k in ("precision", "recall", "f1-score"))
        row = f"| {key} | {scores} | {int(r['support'])} |"
        assert row in performance, row


def test_figure_links_relative_to_card() -> None:
    card = render_model_card(_result())
    links = re.findall(r"!\[([^\]]+)\]\(([^)]+)\)", card)
    assert links == [
        ("Confusion matrix", "../figures/fer4_confusion_matrix.png"),
        ("Training curves", "../figures/fer4_curves.png"),
    ]


def test_smoke_notice_only_for_non_full_profiles() -> None:
    assert "**Smoke profile**" in render_model_card(_result("smoke"))
    assert "not the published results" in render_model_card(_result("quick"))
    full = render_model_card(_result("full"))
    assert "profile**" not in full
    assert "not the published results" not in full
    cpu = render_model_card(_result("cpu"))
    assert "**CPU profile**: the whole data set" in cpu and "not the published results" not in cpu


def test_tuning_table_only_with_tuning() -> None:
    assert "Hyperparameter Search" not in render_model_card(_result())
    card = render_model_card(_result(tuning=True))
    performance = _section(card, "Performance")
    assert "| Trial | activation | units_1 | val_accuracy |" in performance
    trial_ids = re.findall(r"^\| (\d) \| ", performance, flags=re.MULTILINE)
    assert trial_ids == ["1", "2", "0"]  # sorted by val_accuracy, best first
    assert "Best hyperparameters: activation=tanh, units_1=256." in performance


def test_training_and_usage_details() -> None:
    card = render_model_card(_result())
    training = _section(card, "Training Details")
    for text in (
        "| Optimizer (compiled) | Nadam, learning rate 0.003 |",
        "| Loss | CategoricalCrossentropy (label smoothing 0.1) |",
        "| Dtype policy | float32 (compute float32) |",
        "| Epochs (planned / run) | 2 / 2 |",
        "`val_macro_f1` (max); best epoch 2 at 0.4321",
        "1337; seeded only; deterministic ops off",
        "rotation_range=10, horizontal_flip=True — in the model (`random_affine` layer, training only)",
        "surprise=1.600",
        "fast (`ArrayDataset`)",
        "git commit `0123456789abcdef0123456789abcdef01234567` (clean tree)",
        "fingerprint `sha256:abc123`",
        "keras 3.15.1, tensorflow 2.21.0, numpy 2.4.6",
    ):
        assert text in training, text
    assert "EarlyStopping(val_macro_f1, patience 8)" in training
    assert "tensorflow 2.21.0" in training and "95.0 images/s" in training
    assert "Posed and web-scraped images." in _section(card, "Limitations")
    assert "- Bigger CNN" in _section(card, "Trade-offs")
    usage = _section(card, "How to Use")
    assert "from fer_keras.saving import load_class_names" in usage
    assert 'keras.saving.load_model("artifacts/fer4/model.keras")' not in usage  # no model_path in this result
    assert "keras.saving.load_model(" in usage
    assert "python -m fer_keras evaluate " in usage and "--data DIR" in usage
    assert "python -m fer_keras train fer4 --profile smoke" in usage


def test_card_rendered_from_the_package_template() -> None:
    """The card is huggingface_hub's ModelCard from our Jinja template; its metadata round-trips."""
    from huggingface_hub import ModelCard

    assert TEMPLATE_PATH.is_file() and "{{ layers_table }}" in TEMPLATE_PATH.read_text()
    result = _result()
    card = make_model_card(result)
    assert isinstance(card, ModelCard)
    reloaded = ModelCard(str(card))  # parses and validates the YAML metadata and model-index again
    assert [e.metric_type for e in reloaded.data.eval_results] == ["accuracy", "f1"]
    assert reloaded.data.eval_results[0].metric_value == pytest.approx(result["metrics"]["accuracy"])
    assert reloaded.data.to_dict() == card.data.to_dict()


def test_readouts_and_reference_come_from_the_result() -> None:
    result = _result()
    result["reference"] = {"accuracy": 0.73, "num_test": 128, "source": "the original card", "margin_95": 0.0769}
    performance = _section(render_model_card(result), "Performance")
    assert "READOUT-OVERFITTING" in performance and "READOUT-CONFUSIONS" in performance
    assert "reports 73.0 % accuracy on 128 test images" in performance
    assert "about ±8 points (±7.7, normal approximation)" in performance


def test_optimizer_change_during_training_is_shown() -> None:
    result = _result()
    result["training"]["optimizer_at_start"] = {"text": "Adam, learning rate 0.001"}
    result["training"]["optimizer"] = {"text": "Adam, learning rate 0.0005"}
    training = _section(render_model_card(result), "Training Details")
    assert "| Optimizer at start | Adam, learning rate 0.001 |" in training
    assert "| Optimizer at end (saved model) | Adam, learning rate 0.0005 |" in training


def test_a_resumed_run_says_which_epochs_its_times_cover() -> None:
    result = _result()
    assert "resumed" not in _section(render_model_card(result), "Training Details")
    result["run"]["epochs_timed"] = result["training"]["epochs_run"]  # an uninterrupted run: no note
    assert "resumed" not in _section(render_model_card(result), "Training Details")
    result["run"]["epochs_timed"] = 1
    training = _section(render_model_card(result), "Training Details")
    assert "resumed from the `BackupAndRestore` state of an interrupted run" in training
    assert "these times cover the last 1 of the 2 epochs" in training


def test_render_does_not_mutate_result() -> None:
    result = _result(tuning=True)
    before = copy.deepcopy(result)
    render_model_card(result)
    assert result == before


def test_write_model_card_atomic(tmp_path) -> None:
    result = _result()
    target = tmp_path / "model_cards" / "fer4.md"
    target.parent.mkdir()
    target.write_text("old card", encoding="utf-8")
    out = write_model_card(result, target)
    assert out == target
    assert target.read_text(encoding="utf-8") == render_model_card(result)
    assert [p.name for p in target.parent.iterdir()] == ["fer4.md"]


def test_distribution_and_distributed_search_in_the_card() -> None:
    result = _result(tuning=True)
    card = render_model_card(result)
    assert "- Distribution: single device (1 device, 1 process)" in card  # runs before issue 9 have no record
    result["distribution"] = {"strategy": "DataParallel", "devices": 2, "processes": 1}
    for trial, worker in zip(result["tuning"]["trials"], ["tuner0", "tuner1", "tuner0"], strict=True):
        trial["tuner_id"] = worker
    result["tuning"]["distributed"] = {
        "engine": "keras-tuner chief/worker",
        "trials_per_tuner": {"tuner0": 2, "tuner1": 1},
    }
    card = render_model_card(result)
    assert "- Distribution: DataParallel (2 devices, 1 process)" in card
    assert (
        "| Trial | activation | units_1 | val_accuracy | Worker |" in card
        and "| 1 | tanh | 256 | 87.0 % | tuner1 |" in card
    )
    assert "trials per worker: tuner0=2, tuner1=1" in card
