"""README's results table, generated from the recorded runs' ``metrics/<experiment>.json``.

``python -m fer_keras results-table`` prints it; ``--write README.md`` replaces the block between
:data:`START` and :data:`END` (a test fails when README and the metrics disagree).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fer_keras.io import atomic_write_text
from fer_keras.profiles import PUBLISHED_PROFILES

START = "<!-- results-table: generated from metrics/*.json by `python -m fer_keras results-table --write README.md` -->"
END = "<!-- end of results-table -->"

ROWS: tuple[tuple[str, str, str], ...] = (
    # experiment, what must be reached on its test split (issue 16), what it is compared with
    ("fer7", "≥ 62 %", "`fer` package 58.5 %; plain CNN on an H100, 40 epochs: 66.9 %"),
    ("fer4", "≥ 76 %", "original card 73 % on 128 images (±8 points); `fer` package 72.5 %"),
    ("fashion_mlp", "≥ 89.0 %", "tuned MLPs: 88–90 %"),
    ("fashion_cnn", "≥ 92.5 %", "—"),
    ("cifar10", "≥ 90.0 %", "original card's goal ≥ 90 % (ViT-Base pre-trained on ImageNet-21k, GPU); JPEG copy"),
)
"""The table's rows in order, with the target and the reference of each experiment."""

FIGURES: tuple[tuple[str, str], ...] = (
    ("figures/fer7_confusion_matrix.png", "FER-7 test confusion matrix"),
    ("figures/astronaut_fer7_annotated.png", "the published fer7 model on a photo (fer-keras predict --annotate)"),
)
"""Images shown under the table when the run has written them."""


def load_result(root: str | os.PathLike, experiment: str) -> dict[str, Any] | None:
    """The recorded run of ``experiment`` under ``root`` if it is of a published profile, else None."""
    path = Path(root) / "metrics" / f"{experiment}.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    return result if result.get("profile") in PUBLISHED_PROFILES else None


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def result_row(experiment: str, target: str, reference: str, result: Mapping[str, Any] | None) -> str:
    """One Markdown row: accuracy with its interval, macro-F1, flip-averaged accuracy, how it ran, card link."""
    if result is None:
        return f"| {experiment} | not run yet (`make results`) | | | | {target} | {reference} |"
    m, run, training = result["metrics"], result["run"], result["training"]
    low, high = m["bootstrap"]["accuracy"]
    tta = f"{m['flip_tta']['accuracy']:.1%}" if m.get("flip_tta") else "—"
    timed = run.get("epochs_timed") or training["epochs_run"]  # fewer when the fit resumed an interrupted run
    resumed = f" (the last {timed}, resumed)" if timed < training["epochs_run"] else ""
    how = (
        f"{result['profile']} profile, {training['epochs_run']} epochs, {_minutes(run['wall_time_s'])}{resumed} on "
        f"{run['device']}"
    )
    return (
        f"| [{experiment}](model_cards/{experiment}.md) | **{m['accuracy']:.1%}** ({low:.1%}–{high:.1%}) | "
        f"{m['macro_f1']:.3f} | {tta} | {how} | {target} | {reference} |"
    )


def results_table(root: str | os.PathLike = ".") -> str:
    """The README block (markers included): the table, then the figures that exist under ``root``."""
    lines = [
        START,
        "| experiment (card) | test accuracy (95 % CI) | macro-F1 | flip-averaged | run | must reach | reference |",
        "|---|---|---:|---:|---|---|---|",
    ]
    lines += [result_row(name, target, ref, load_result(root, name)) for name, target, ref in ROWS]
    shown = [(path, alt) for path, alt in FIGURES if (Path(root) / path).is_file()]
    if shown:
        lines.append("")
        lines.append(" ".join(f'<img src="{path}" alt="{alt}" width="420">' for path, alt in shown))
    lines.append(END)
    return "\n".join(lines)


def readme_block(readme: str) -> str:
    """The results block of a README's text (markers included); ValueError when the markers are missing."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no results block: add the lines {START!r} and {END!r} where it goes")
    return readme[start : end + len(END)]


def write_results_table(readme_path: str | os.PathLike, root: str | os.PathLike = ".") -> bool:
    """Replace the README's results block with :func:`results_table`; returns whether it changed."""
    path = Path(readme_path)
    text = path.read_text()
    new = text.replace(readme_block(text), results_table(root))
    if new != text:
        atomic_write_text(path, new)
    return new != text
