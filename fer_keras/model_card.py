"""Model cards written by code from a training run's result dict.

The card is Markdown with Hugging Face style YAML front matter (``model-index``
built by ``huggingface_hub.ModelCardData``). Cards live at
``<base>/model_cards/<experiment>.md`` while ``result["figures"]`` holds paths
relative to ``<base>``, so figure links are rewritten relative to the card.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCardData

from fer_keras.io import atomic_write_text

__all__ = ["MODEL_CARD_SECTIONS", "card_metadata", "render_model_card", "write_model_card"]

MODEL_CARD_SECTIONS: tuple[str, ...] = (
    "Model Description",
    "Performance",
    "Training Details",
    "Evaluation Data",
    "Limitations",
    "Trade-offs",
    "How to Use",
)
"""The card's ``## `` headings, in the order they appear."""

CARD_DIR = "model_cards"
"""Folder, relative to the output base dir, in which cards are written."""

_FIGURE_CAPTIONS: dict[str, str] = {
    "confusion_matrix": "Confusion matrix",
    "curves": "Training curves",
    "samples": "Sample images",
    "class_balance": "Class balance",
}
_NA = "n/a"


# ---------------------------------------------------------------- formatting


def _pct(value: float) -> str:
    """0.734 -> '73.4 %'."""
    return f"{float(value) * 100:.1f} %"


def _f3(value: float) -> str:
    """Three decimals, as used for precision, recall and F1."""
    return f"{float(value):.3f}"


def _int(value: float) -> str:
    """Integer with thousands separators."""
    return f"{int(value):,}"


def _cell(value: Any) -> str:
    """Table cell text with pipes escaped and newlines flattened."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _bullets(items: Iterable[Any], empty: str = "None recorded.") -> str:
    """Markdown bullet list; ``empty`` as a single bullet when there are no items."""
    lines = [f"- {item}" for item in items]
    return "\n".join(lines) if lines else f"- {empty}"


def _kv(mapping: Mapping[str, Any] | None, fmt: str = "{}") -> str:
    """'k=v, k=v' for a mapping, 'none' when empty or None."""
    if not mapping:
        return "none"
    return ", ".join(f"{k}={fmt.format(v)}" for k, v in mapping.items())


def _figure_link(path: str) -> str:
    """Link to a base-relative figure path from a card in ``<base>/model_cards/``."""
    if posixpath.isabs(path) or "://" in path:
        return path
    return posixpath.relpath(path, CARD_DIR)


# ---------------------------------------------------------------- metadata


def _dataset_tag(dataset_id: str) -> str:
    """Tag for a data set id: 'fashion_mnist' -> 'fashion-mnist'."""
    return dataset_id.replace("_", "-")


def card_metadata(result: Mapping[str, Any]) -> ModelCardData:
    """Hugging Face card metadata with a model-index of test accuracy and macro-F1."""
    dataset, metrics = result["dataset"], result["metrics"]
    dataset_id = str(dataset["id"])
    common = {
        "task_type": "image-classification",
        "task_name": "Image Classification",
        "dataset_type": dataset_id,
        "dataset_name": str(dataset["name"]),
        "dataset_split": "test",
    }
    evals = [
        EvalResult(metric_type="accuracy", metric_name="Accuracy", metric_value=float(metrics["accuracy"]), **common),
        EvalResult(
            metric_type="f1",
            metric_name="Macro F1",
            metric_config="macro",
            metric_value=float(metrics["macro_f1"]),
            **common,
        ),
    ]
    return ModelCardData(
        model_name=f"fer_keras-{result['experiment']}",
        library_name="keras",
        license="mit" if dataset_id.startswith("fashion") else "other",
        pipeline_tag="image-classification",
        tags=["image-classification", "keras", _dataset_tag(dataset_id), f"profile-{result['profile']}"],
        datasets=[dataset_id],
        metrics=["accuracy", "f1"],
        eval_results=evals,
    )


# ---------------------------------------------------------------- sections


def _header(result: Mapping[str, Any]) -> str:
    """Title, one-line summary and (for non-full profiles) a notice box."""
    m, profile = result["metrics"], result["profile"]
    lines = [
        f"# {result['title']}",
        "",
        (
            f"Test accuracy {_pct(m['accuracy'])}, macro-F1 {_f3(m['macro_f1'])} on {_int(m['num_test'])} "
            f"test images — profile {profile}"
        ),
    ]
    if profile != "full":
        detail = "tiny subset, few epochs, for CI" if profile == "smoke" else "reduced data and/or epochs"
        lines += [
            "",
            (
                f"> **{str(profile).capitalize()} profile**: {detail}; numbers are not the published results "
                "(reproduce them with `--profile full`)."
            ),
        ]
    return "\n".join(lines)


def _layers_table(model: Mapping[str, Any]) -> str:
    """Layer table plus parameter totals."""
    rows = [(ly["name"], ly["type"], ly["output_shape"], _int(ly["params"])) for ly in model.get("layers", [])]
    params = model["params"]
    totals = (
        f"Total params: {_int(params['total'])} · Trainable params: {_int(params['trainable'])} · "
        f"Non-trainable params: {_int(params['non_trainable'])}"
    )
    return _md_table(["Layer", "Type", "Output shape", "Params"], rows) + "\n\n" + totals


def _model_description(result: Mapping[str, Any]) -> str:
    """Input, output and architecture."""
    model, dataset = result["model"], result["dataset"]
    classes = ", ".join(f"{i} = {name}" for i, name in enumerate(result["class_names"]))
    shape = " × ".join(str(d) for d in model["input_shape"])
    return "\n".join(
        [
            (
                f"`{model['name']}`, built by `{model['builder']}`, trained on {dataset['name']} "
                f"({len(result['class_names'])} classes)."
            ),
            "",
            "### Input",
            "",
            f"Images of shape {shape} (height × width × channels); {dataset['preprocessing']}.",
            "",
            "### Output",
            "",
            f"{model['output']}; class indices: {classes}.",
            "",
            "### Model Architecture",
            "",
            _layers_table(model),
        ]
    )


def _per_class_table(report: Mapping[str, Any], class_names: Sequence[str]) -> str:
    """Precision/recall/F1/support per class, then the macro and weighted averages."""
    keys = [*class_names, "macro avg", "weighted avg"]
    rows = [
        (key, _f3(r["precision"]), _f3(r["recall"]), _f3(r["f1-score"]), _int(r["support"]))
        for key in keys
        if (r := report.get(key)) is not None
    ]
    return _md_table(["Class", "Precision", "Recall", "F1", "Support"], rows)


def _figures(figures: Mapping[str, str]) -> str:
    """Embedded images for the confusion matrix and curves (then any other figures)."""
    known = [k for k in _FIGURE_CAPTIONS if k in figures]
    ordered = known + [k for k in figures if k not in _FIGURE_CAPTIONS]
    images = [
        f"![{_FIGURE_CAPTIONS.get(k, k.replace('_', ' ').capitalize())}]({_figure_link(figures[k])})" for k in ordered
    ]
    return "\n\n".join(images)


def _tuning(tuning: Mapping[str, Any]) -> str:
    """Trials sorted by the objective (best first) and the best hyperparameters."""
    objective = tuning.get("objective", "val_accuracy")
    trials = sorted(tuning.get("trials", []), key=lambda t: float(t.get(objective) or 0.0), reverse=True)
    names: list[str] = []
    for trial in trials:
        names += [k for k in trial.get("hyperparameters", {}) if k not in names]
    rows = [
        (
            trial.get("trial_id", _NA),
            *(trial.get("hyperparameters", {}).get(n, "") for n in names),
            _pct(trial[objective]) if trial.get(objective) is not None else _NA,
        )
        for trial in trials
    ]
    return "\n".join(
        [
            "### Hyperparameter Search",
            "",
            (
                f"Objective `{objective}`, {tuning.get('max_trials', len(trials))} trials at most; "
                f"search space: {_kv(tuning.get('search_space'))}."
            ),
            "",
            _md_table(["Trial", *names, objective], rows),
            "",
            f"Best hyperparameters: {_kv(tuning.get('best_hyperparameters'))}.",
        ]
    )


def _performance(result: Mapping[str, Any]) -> str:
    """Headline metrics, per-class table, figures and (optional) tuning results."""
    m = result["metrics"]
    parts = [
        _md_table(
            ["Metric", "Value"],
            [
                ("Accuracy", _pct(m["accuracy"])),
                ("Macro F1", _f3(m["macro_f1"])),
                ("Weighted F1", _f3(m["weighted_f1"])),
                ("Test images", _int(m["num_test"])),
            ],
        ),
        "### Per-class Results",
        _per_class_table(m["report"], result["class_names"]),
    ]
    if figures := _figures(result.get("figures") or {}):
        parts += ["### Figures", figures]
    if result.get("tuning"):
        parts.append(_tuning(result["tuning"]))
    return "\n\n".join(parts)


def _counts_table(counts: Mapping[str, Mapping[str, int]], class_names: Sequence[str]) -> str:
    """Images per class (rows) and split (columns), with a total row."""
    splits = list(counts)
    rows = [(name, *(_int(counts[s].get(name, 0)) for s in splits)) for name in class_names]
    rows.append(("**total**", *(_int(sum(counts[s].values())) for s in splits)))
    return _md_table(["Class", *splits], rows)


def _run_block(run: Mapping[str, Any]) -> str:
    """Where and how the run happened."""
    wall = run.get("wall_time_s")
    speed = run.get("images_per_s")
    return _bullets(
        [
            f"Backend: {run.get('backend', _NA)} {run.get('backend_version', '')}".rstrip(),
            f"Device: {run.get('device', _NA)}",
            f"Keras: {run.get('keras_version', _NA)} (Python {run.get('python', _NA)})",
            f"Date: {run.get('date', _NA)}",
            f"Wall time: {_NA if wall is None else f'{float(wall):,.1f} s'}",
            f"Training throughput: {_NA if speed is None else f'{float(speed):,.1f} images/s'}",
            f"Command: `{run.get('command', _NA)}`",
        ]
    )


def _training_details(result: Mapping[str, Any]) -> str:
    """Data, preprocessing, optimisation settings and the run block."""
    t, dataset = result["training"], result["dataset"]
    settings = [
        ("Preprocessing", dataset["preprocessing"]),
        ("Augmentation", _kv(t.get("augmentation"))),
        ("Optimizer", t["optimizer"]),
        ("Learning rate", f"{float(t['learning_rate']):g}"),
        ("Loss", t["loss"]),
        ("Epochs (planned / run)", f"{t['epochs']} / {t['epochs_run']}"),
        ("Best epoch", t.get("best_epoch", _NA)),
        ("Batch size", t["batch_size"]),
        ("Class weights", _kv(t.get("class_weight"), "{:.2f}")),
        ("Seed", t["seed"]),
        ("Callbacks", "; ".join(t.get("callbacks") or []) or "none"),
        ("Input pipeline", t.get("pipeline", _NA)),
        ("Profile", result["profile"]),
    ]
    return "\n\n".join(
        [
            "### Data",
            _counts_table(dataset["counts"], result["class_names"]),
            "### Hyperparameters",
            _md_table(["Setting", "Value"], settings),
            "### Run",
            _run_block(result["run"]),
        ]
    )


def _evaluation_data(result: Mapping[str, Any]) -> str:
    """Test set description."""
    dataset = result["dataset"]
    test = dataset["counts"].get("test", {})
    per_class = ", ".join(f"{name} {_int(test.get(name, 0))}" for name in result["class_names"])
    return _bullets(
        [
            f"Dataset: {dataset['name']} (`{dataset['id']}`)",
            "Split: test",
            f"Images: {_int(result['metrics']['num_test'])} ({per_class})",
            f"Note: {dataset.get('note') or 'none'}",
        ]
    )


def _how_to_use(result: Mapping[str, Any]) -> str:
    """Python and CLI snippets to load, evaluate and reproduce the model."""
    module, _, builder = str(result["model"]["builder"]).rpartition(".")
    experiment, profile = result["experiment"], result["profile"]
    model_path = result.get("model_path") or f"{experiment}.keras"
    python = "\n".join(
        [
            "```python",
            "import keras",
            f"from {module or 'fer_keras.models'} import {builder}",
            "",
            f"# a fresh, untrained model with this architecture: {builder}(...)",
            f'model = keras.saving.load_model("{model_path}")',
            "probabilities = model.predict(images)  # images preprocessed as described above",
            "```",
        ]
    )
    shell = "\n".join(
        [
            "```bash",
            f"python -m fer_keras evaluate {model_path} --data DIR",
            f"python -m fer_keras train {experiment} --profile {profile}  # reproduce this card",
            "```",
        ]
    )
    return python + "\n\n" + shell


def _section_bodies(result: Mapping[str, Any]) -> dict[str, str]:
    """Body text of each ``## `` section, keyed by heading."""
    return {
        "Model Description": _model_description(result),
        "Performance": _performance(result),
        "Training Details": _training_details(result),
        "Evaluation Data": _evaluation_data(result),
        "Limitations": _bullets(result.get("limitations") or []),
        "Trade-offs": _bullets(result.get("tradeoffs") or []),
        "How to Use": _how_to_use(result),
    }


def render_model_card(result: Mapping[str, Any]) -> str:
    """Markdown model card (YAML front matter, summary, then MODEL_CARD_SECTIONS)."""
    front = card_metadata(result).to_yaml().strip()
    bodies = _section_bodies(result)
    parts = [f"---\n{front}\n---", _header(result)]
    parts += [f"## {name}\n\n{bodies[name]}" for name in MODEL_CARD_SECTIONS]
    return "\n\n".join(parts) + "\n"


def write_model_card(result: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Render the card and write it atomically to ``path`` (normally ``<base>/model_cards/<exp>.md``)."""
    return atomic_write_text(path, render_model_card(result))
