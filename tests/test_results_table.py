"""README's results table is generated from metrics/*.json (fer_keras.results_table)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fer_keras import cli
from fer_keras.results_table import END, START, readme_block, results_table, write_results_table

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_agrees_with_the_committed_metrics() -> None:
    block = readme_block((REPO_ROOT / "README.md").read_text())
    assert block == results_table(REPO_ROOT), (
        "README's results table differs from metrics/*.json: run `python -m fer_keras results-table --write README.md`"
    )


def _metrics(profile: str, accuracy: float) -> dict:
    return {
        "profile": profile,
        "metrics": {
            "accuracy": accuracy,
            "macro_f1": 0.6123,
            "bootstrap": {"accuracy": [accuracy - 0.015, accuracy + 0.015]},
            "flip_tta": {"accuracy": accuracy + 0.01},
        },
        "training": {"epochs_run": 22},
        "run": {"wall_time_s": 5830.0, "device": "CPU (2 cores, x86_64)"},
    }


def test_table_rows_come_from_the_runs_of_published_profiles(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "fer7.json").write_text(json.dumps(_metrics("cpu", 0.6512)))
    (tmp_path / "metrics" / "fer4.json").write_text(json.dumps(_metrics("smoke", 0.4)))  # not a published run
    table = results_table(tmp_path)
    rows = {line.split(" | ")[0]: line for line in table.splitlines() if line.startswith("| ")}
    fer7 = rows["| [fer7](model_cards/fer7.md)"]
    assert "**65.1%** (63.6%–66.6%) | 0.612 | 66.1% | cpu profile, 22 epochs, 1.6 h on CPU (2 cores, x86_64)" in fer7
    assert "≥ 62 %" in fer7
    assert rows["| fer4"].startswith("| fer4 | not run yet (`make results`)")
    assert "<img" not in table  # no figures written yet
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "fer7_confusion_matrix.png").write_bytes(b"png")
    assert '<img src="figures/fer7_confusion_matrix.png"' in results_table(tmp_path)


def test_a_resumed_run_says_its_time_covers_the_last_epochs(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    resumed = _metrics("cpu", 0.779)
    resumed["run"]["epochs_timed"] = 21
    (tmp_path / "metrics" / "fer4.json").write_text(json.dumps(resumed))
    assert "22 epochs, 1.6 h (the last 21, resumed) on CPU" in results_table(tmp_path)


def test_write_replaces_only_the_block(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{START}\nold table\n{END}\n\nAfter.\n")
    assert cli.main(["results-table", "--root", str(tmp_path), "--write", str(readme)]) == 0
    assert "results table updated" in capsys.readouterr().out
    text = readme.read_text()
    assert text.startswith("# Title\n\n") and text.endswith("\n\nAfter.\n") and "old table" not in text
    assert readme_block(text) == results_table(tmp_path)
    assert write_results_table(readme, tmp_path) is False  # already up to date
    readme.write_text("# no block\n")
    with pytest.raises(ValueError, match="README has no results block"):
        write_results_table(readme, tmp_path)
