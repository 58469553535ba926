"""The committed FER and CIFAR-10 models: the card's own snippet loads them, and on this CPU they score within
0.3 points of the card's test accuracy on the test split provided.

The files come from the recorded runs (`make results PROFILE=cpu`); until they are committed these tests are
skipped, saying which file is missing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from card_checks import card_section

from fer_keras.export import MAX_MODEL_BYTES, check_published_model

REPO_ROOT = Path(__file__).resolve().parents[1]
TOLERANCE_POINTS = 0.3


def committed_files(experiment: str) -> dict[str, Path]:
    """The card, metrics and model files of ``experiment``; skips the test while any is not committed."""
    files = {
        "card": REPO_ROOT / "model_cards" / f"{experiment}.md",
        "metrics": REPO_ROOT / "metrics" / f"{experiment}.json",
        "model": REPO_ROOT / "models" / f"{experiment}.keras",
        "classes": REPO_ROOT / "models" / f"{experiment}.classes.json",
    }
    missing = [str(path.relative_to(REPO_ROOT)) for path in files.values() if not path.is_file()]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not committed yet: `make results PROFILE=cpu` produces them (README, "
            "'Make the published results')"
        )
    return files


@pytest.mark.parametrize("experiment", ["fer4", "fer7", "cifar10"])
def test_card_snippet_loads_the_committed_model(experiment: str, data_root: Path) -> None:
    files = committed_files(experiment)
    assert files["model"].stat().st_size <= MAX_MODEL_BYTES
    metrics = json.loads(files["metrics"].read_text())
    assert metrics["profile"] in ("cpu", "full") and metrics["model_path"] == f"models/{experiment}.keras"
    (snippet,) = re.findall(r"```python\n(.*?)```", card_section(files["card"].read_text(), "How to Use"), re.DOTALL)
    assert f'keras.saving.load_model("models/{experiment}.keras")' in snippet
    env = {**os.environ, "FER_KERAS_DATA": str(data_root), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", snippet], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1].startswith(f"true: {metrics['class_names'][0]}; predicted: [")


@pytest.mark.parametrize("experiment", ["fer4", "fer7", "cifar10"])
def test_committed_model_scores_as_its_card_on_this_cpu(experiment: str, data_root: Path) -> None:
    committed_files(experiment)
    check = check_published_model(REPO_ROOT, experiment, data_root)
    assert check["num_test"] == check["card_num_test"], "the card was scored on another test split"
    assert abs(check["difference_points"]) <= TOLERANCE_POINTS, check


def test_evaluate_scores_the_committed_cifar10_model_as_its_card(data_root: Path) -> None:
    """`fer-keras evaluate models/cifar10.keras --data <cifar10/test>`, as a user runs it, gives the card's accuracy."""
    files = committed_files("cifar10")
    metrics = json.loads(files["metrics"].read_text())
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "fer_keras", "evaluate", "models/cifar10.keras", "--data"]
    command.append(str(data_root / "cifar10" / "test"))
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout[done.stdout.index("{") :])
    assert result["num_test"] == metrics["metrics"]["num_test"] == 10_000
    assert abs(result["accuracy"] - metrics["metrics"]["accuracy"]) * 100 <= TOLERANCE_POINTS
