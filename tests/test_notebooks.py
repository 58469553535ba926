"""The committed notebooks: small, free of machine paths, and their read-outs come from the package."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))
MAX_BYTES = 300_000
ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/(?:work|home|root|tmp|Users|usr|opt|var|mnt)/[\w.@+-]+")


def _cells(path: Path) -> list[dict]:
    """The notebook's cells, with each ``source`` joined into one string."""
    cells = json.loads(path.read_text())["cells"]
    for cell in cells:
        cell["source"] = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return cells


def _outputs_text(cell: dict) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append("".join(output.get("text", "")))
        for kind, value in output.get("data", {}).items():
            if kind.startswith("text/"):
                parts.append("".join(value))
    return "\n".join(parts)


def test_four_numbered_notebooks() -> None:
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_small(path: Path) -> None:
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size:,} bytes"
    summaries = [c for c in _cells(path) if c["cell_type"] == "code" and "model.summary()" in c["source"]]
    assert len(summaries) == len({c["source"] for c in summaries})  # each model summarised once


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_hold_no_absolute_paths(path: Path) -> None:
    for index, cell in enumerate(_cells(path)):
        found = ABSOLUTE_PATH.findall(_outputs_text(cell))
        assert not found, f"{path.name} cell {index} prints machine paths: {found[:3]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_were_executed_top_to_bottom(path: Path) -> None:
    counts = [c.get("execution_count") for c in _cells(path) if c["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), counts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_read_outs_come_from_the_package(path: Path) -> None:
    """Finding 7: no read-out logic or fixed claims in the notebook; the package's read-outs are called."""
    source = "\n".join(c["source"] for c in _cells(path) if c["cell_type"] == "code")
    text = "\n".join(c["source"] for c in _cells(path))
    assert "evaluation.overfitting_readout(" in source and "evaluation.confusion_readout(" in source
    assert 'accuracy_gap"] >' not in source and "sign of overfitting" not in text
    assert "is the pair expected to be confused most" not in text
    # the data step: a loader (load_fer / load_fashion), or prepare_data, which calls it with a profile's settings
    assert "= load_" in source or re.search(r"=\s*(experiments\.)?prepare_data\(", source)
    keras_steps = ("= build_", ".summary(", ".compile(", "training.train(", "evaluation.evaluate_model(")
    for step in keras_steps:  # the Keras steps a reader wants to see are visible in cells
        assert step in source, step


NOTEBOOK_EXPERIMENTS = {"01_": ("fer4",), "02_": ("fer7",), "03_": ("fashion_mlp", "fashion_cnn"), "04_": ("cifar10",)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_published_cards_come_from_the_committed_notebooks(path: Path) -> None:
    """A published run (metrics/<exp>.json of the cpu or full profile) is the committed notebook's own
    execution: the notebook prints that profile and the same test accuracy and macro-F1."""
    root = path.parents[1]
    published = []
    for experiment in NOTEBOOK_EXPERIMENTS[path.name[:3]]:
        metrics_path = root / "metrics" / f"{experiment}.json"
        if metrics_path.is_file() and json.loads(metrics_path.read_text())["profile"] in ("cpu", "full"):
            published.append(json.loads(metrics_path.read_text()))
    if not published:
        pytest.skip(f"no published run of {NOTEBOOK_EXPERIMENTS[path.name[:3]]} yet (make results)")
    printed = "\n".join(_outputs_text(cell) for cell in _cells(path))
    for result in published:
        m = result["metrics"]
        assert f"Profile:  {result['profile']}" in printed
        assert f"{result['title']}: test accuracy {m['accuracy']:.1%}" in printed, result["experiment"]
        assert f"macro-F1 {m['macro_f1']:.3f}" in printed
        assert result["run"]["git_dirty"] is False, "a published run must come from committed code"
