"""Tests for fer_keras.model_card with a result dict built from a real sklearn report."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml
from huggingface_hub import ModelCardData
from sklearn.metrics import classification_report, confusion_matrix, f1_score

from fer_keras.model_card import MODEL_CARD_SECTIONS, card_metadata, render_model_card, write_model_card

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
            "optimizer": "Adam",
            "learning_rate": 0.001,
            "loss": "categorical_crossentropy",
            "epochs": 2,
            "epochs_run": 2,
            "batch_size": 64,
            "augmentation": {"rotation_range": 10, "horizontal_flip": True},
            "class_weight": {"happy": 0.8, "sad": 1.1, "neutral": 1.0, "surprise": 1.6},
            "seed": 1337,
            "callbacks": ["EarlyStopping(val_loss, patience 8)", "ReduceLROnPlateau(val_loss)"],
            "best_epoch": 2,
            "pipeline": "imagegenerator",
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
    acc = result["metrics"]["accuracy"]
    assert f"Test accuracy {acc * 100:.1f} %, macro-F1 {result['metrics']['macro_f1']:.3f} on 16 test images" in card
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
        "Adam",
        "0.001",
        "categorical_crossentropy",
        "2 / 2",
        "1337",
        "rotation_range=10",
        "surprise=1.60",
    ):
        assert text in training, text
    assert "EarlyStopping(val_loss, patience 8)" in training
    assert "tensorflow 2.21.0" in training and "95.0 images/s" in training
    assert "Posed and web-scraped images." in _section(card, "Limitations")
    assert "- Bigger CNN" in _section(card, "Trade-offs")
    usage = _section(card, "How to Use")
    assert "from fer_keras.models import build_fer_cnn" in usage
    assert "keras.saving.load_model(" in usage
    assert "python -m fer_keras evaluate " in usage and "--data DIR" in usage
    assert "python -m fer_keras train fer4 --profile smoke" in usage


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
