"""Checks shared by the tests that make real runs: the card says what the saved model says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import keras

from fer_keras.describe import describe_dtype_policy, describe_loss, describe_optimizer


def card_section(card: str, name: str) -> str:
    """The text of the card's ``## name`` section."""
    start = card.index(f"\n## {name}\n")
    nxt = card.find("\n## ", start + 1)
    return card[start : nxt if nxt != -1 else len(card)]


def assert_card_matches_saved_model(out: Path, experiment: str) -> dict:
    """The metrics JSON and the card's Training Details agree with the saved model's optimizer, loss and policy."""
    metrics = json.loads((out / "metrics" / f"{experiment}.json").read_text())
    card = (out / "model_cards" / f"{experiment}.md").read_text()
    saved = keras.saving.load_model(out / metrics["model_path"])
    optimizer, loss, policy = describe_optimizer(saved), describe_loss(saved), describe_dtype_policy(saved)
    recorded = metrics["training"]
    assert recorded["optimizer"]["class_name"] == optimizer["class_name"] == type(saved.optimizer).__name__
    assert (
        recorded["optimizer"]["config"] == optimizer["config"] == json.loads(json.dumps(saved.optimizer.get_config()))
    )
    assert recorded["loss"]["class_name"] == loss["class_name"] == type(saved.loss).__name__
    assert recorded["loss"]["config"] == loss["config"]
    assert recorded["dtype_policy"] == policy
    details = card_section(card, "Training Details")
    assert f"| {optimizer['text']} |" in details
    assert f"| Loss | {loss['text']} |" in details
    assert f"| Dtype policy | {policy['name']} (compute {policy['compute_dtype']}) |" in details
    assert re.search(rf"`{re.escape(recorded['monitor'])}` \({recorded['monitor_mode']}\); best epoch", details)
    return metrics
