"""Model cards written by code from a training run's result dict.

The card's text lives in one Jinja template, ``fer_keras/templates/model_card.md``,
rendered by ``huggingface_hub.ModelCard.from_template`` with metadata from
``ModelCardData`` (a ``model-index`` of test accuracy and macro-F1). This module only
prepares the values (formatted numbers and Markdown tables) the template shows. Cards
live at ``<base>/model_cards/<experiment>.md`` while ``result["figures"]`` holds paths
relative to ``<base>``, so figure links are rewritten relative to the card.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from fer_keras.io import atomic_write_text

__all__ = [
    "MODEL_CARD_SECTIONS",
    "TEMPLATE_PATH",
    "card_metadata",
    "make_model_card",
    "render_model_card",
    "write_model_card",
]

TEMPLATE_PATH = Path(__file__).parent / "templates" / "model_card.md"
"""The Jinja template of every card."""

MODEL_CARD_SECTIONS: tuple[str, ...] = (
    "Model Description",
    "Performance",
    "Analysis",
    "Training Details",
    "Evaluation Data",
    "Limitations",
    "Trade-offs",
    "How to Use",
)
"""The card's ``## `` headings, in the order they appear."""

CARD_DIR = "model_cards"
"""Folder, relative to the output base dir, in which cards are written."""

FIGURE_CAPTIONS: dict[str, str] = {
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


def _pct_range(bounds: Sequence[float]) -> str:
    """(0.70, 0.76) -> '70.0–76.0 %'."""
    return f"{float(bounds[0]) * 100:.1f}–{float(bounds[1]) * 100:.1f} %"


def _f3(value: float) -> str:
    """Three decimals, as used for precision, recall and F1."""
    return f"{float(value):.3f}"


def _f3_range(bounds: Sequence[float]) -> str:
    return f"{float(bounds[0]):.3f}–{float(bounds[1]):.3f}"


def _int(value: float) -> str:
    """Integer with thousands separators."""
    return f"{int(value):,}"


def _cell(value: Any) -> str:
    """Table cell text with pipes escaped and newlines flattened."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


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
        tags=["image-classification", "keras", dataset_id.replace("_", "-"), f"profile-{result['profile']}"],
        datasets=[dataset_id],
        metrics=["accuracy", "f1"],
        eval_results=evals,
    )


# ---------------------------------------------------------------- tables


def _layers_table(model: Mapping[str, Any]) -> str:
    rows = [(ly["name"], ly["type"], ly["output_shape"], _int(ly["params"])) for ly in model.get("layers", [])]
    return md_table(["Layer", "Type", "Output shape", "Params"], rows)


def _metrics_table(metrics: Mapping[str, Any]) -> str:
    ci = metrics.get("bootstrap") or {}
    rows = [
        ("Accuracy", _pct(metrics["accuracy"]), _pct_range(ci["accuracy"]) if ci else _NA),
        ("Macro F1", _f3(metrics["macro_f1"]), _f3_range(ci["macro_f1"]) if ci else _NA),
        ("Weighted F1", _f3(metrics["weighted_f1"]), _NA),
        ("Test images", _int(metrics["num_test"]), ""),
    ]
    if tta := metrics.get("flip_tta"):
        rows[3:3] = [
            ("Accuracy, flip-averaged", _pct(tta["accuracy"]), _NA),
            ("Macro F1, flip-averaged", _f3(tta["macro_f1"]), _NA),
        ]
    return md_table(["Metric", "Value", "95 % interval"], rows)


def _per_class_table(report: Mapping[str, Any], class_names: Sequence[str]) -> str:
    keys = [*class_names, "macro avg", "weighted avg"]
    rows = [
        (key, _f3(r["precision"]), _f3(r["recall"]), _f3(r["f1-score"]), _int(r["support"]))
        for key in keys
        if (r := report.get(key)) is not None
    ]
    return md_table(["Class", "Precision", "Recall", "F1", "Support"], rows)


def _counts_table(counts: Mapping[str, Mapping[str, int]], class_names: Sequence[str]) -> str:
    splits = list(counts)
    rows = [(name, *(_int(counts[s].get(name, 0)) for s in splits)) for name in class_names]
    rows.append(("**total**", *(_int(sum(counts[s].values())) for s in splits)))
    return md_table(["Class", *splits], rows)


def _tuning_table(tuning: Mapping[str, Any]) -> str:
    objective = tuning.get("objective", "val_accuracy")
    trials = sorted(tuning.get("trials", []), key=lambda t: float(t.get(objective) or 0.0), reverse=True)
    names: list[str] = []
    for trial in trials:
        names += [k for k in trial.get("hyperparameters", {}) if k not in names]
    workers = any(trial.get("tuner_id") for trial in trials)  # a distributed search records who ran each trial
    rows = [
        (
            trial.get("trial_id", _NA),
            *(trial.get("hyperparameters", {}).get(n, "") for n in names),
            _pct(trial[objective]) if trial.get(objective) is not None else _NA,
            *([trial.get("tuner_id") or _NA] if workers else []),
        )
        for trial in trials
    ]
    return md_table(["Trial", *names, objective, *(["Worker"] if workers else [])], rows)


def _augmentation_text(augmentation: Mapping[str, Any] | None) -> str:
    if not augmentation or augmentation.get("where") == "none":
        return "none"
    where = (
        f"in the model (`{augmentation['layer']}` layer, training only)"
        if augmentation["where"] == "model"
        else f"in the feed (`{augmentation['layer']}`, on the CPU)"
    )
    return f"{_kv(augmentation.get('settings'))} — {where}"


def _determinism_text(state: Mapping[str, Any] | None) -> str:
    if not state:
        return _NA
    if state.get("deterministic"):
        return f"deterministic ops on ({state.get('how', _NA)})"
    return "seeded only; deterministic ops off (`--deterministic` switches them on)"


def _training_table(result: Mapping[str, Any]) -> str:
    t = result["training"]
    optimizer, start = t["optimizer"], t.get("optimizer_at_start") or {}
    rows = [
        ("Optimizer (compiled)", optimizer["text"]),
    ]
    if start and start.get("text") != optimizer["text"]:
        rows = [("Optimizer at start", start["text"]), ("Optimizer at end (saved model)", optimizer["text"])]
    best = t.get("best_value")
    rows += [
        ("Loss", t["loss"]["text"]),
        ("Metrics", ", ".join(t.get("metrics") or []) or _NA),
        ("Dtype policy", f"{t['dtype_policy']['name']} (compute {t['dtype_policy']['compute_dtype']})"),
        ("Batch size", t["batch_size"]),
        ("Epochs (planned / run)", f"{t['epochs']} / {t['epochs_run']}"),
        (
            "Model selection",
            f"`{t['monitor']}` ({t['monitor_mode']}); best epoch {t['best_epoch']}"
            + (f" at {best:.4f}" if best is not None else ""),
        ),
        ("Callbacks", "; ".join(t.get("callbacks") or []) or "none"),
        ("Input pipeline", f"{t.get('pipeline', _NA)} (`{t.get('feed', _NA)}`)"),
        ("Augmentation", _augmentation_text(t.get("augmentation"))),
        ("Class weights", _kv(t.get("class_weight"), "{:.3f}")),
        ("Seed", f"{t['seed']}; {_determinism_text(t.get('deterministic'))}"),
        ("Profile", result["profile"]),
    ]
    return md_table(["Setting", "Value"], rows)


def _versions_text(run: Mapping[str, Any]) -> str:
    versions = run.get("versions") or {}
    if not versions:
        return f"keras {run.get('keras_version', _NA)}, Python {run.get('python', _NA)}"
    return ", ".join(f"{name} {version}" for name, version in versions.items()) + f", Python {run.get('python', _NA)}"


def _code_text(run: Mapping[str, Any]) -> str:
    commit = run.get("git_commit", _NA)
    if commit in (None, "unknown", _NA):
        return "not a git checkout (commit unknown)"
    return f"git commit `{commit}`" + (" with uncommitted changes" if run.get("git_dirty") is True else " (clean tree)")


ANALYSIS_TITLES: dict[str, str] = {
    "reliability": "How far to trust it: reliability diagram",
    "confident_mistakes": "Where it fails: the most confident mistakes",
    "occlusion": "Where it looks: occlusion sensitivity",
    "embedding": "How it separates classes: penultimate-layer embedding",
}


def _analysis_figures(analysis: Mapping[str, Any] | None) -> list[dict[str, str]]:
    if not analysis:
        return []
    figures, captions = analysis.get("figures") or {}, analysis.get("captions") or {}
    return [
        {"title": title, "link": _figure_link(figures[kind]), "caption": captions.get(kind, "")}
        for kind, title in ANALYSIS_TITLES.items()
        if kind in figures
    ]


def _mistakes_table(analysis: Mapping[str, Any] | None, rows: int = 5) -> str:
    mistakes = (analysis or {}).get("confident_mistakes") or []
    if not mistakes:
        return ""
    return md_table(
        ["Test image", "True", "Predicted", "Confidence"],
        [(m["index"], m["true"], m["predicted"], f"{m['confidence']:.3f}") for m in mistakes[:rows]],
    )


def card_context(result: Mapping[str, Any]) -> dict[str, Any]:
    """The values the template shows: the result's parts plus formatted tables and helpers."""
    figures = result.get("figures") or {}
    ordered = [k for k in FIGURE_CAPTIONS if k in figures] + [k for k in figures if k not in FIGURE_CAPTIONS]
    return {
        "title": result["title"],
        "profile": result["profile"],
        "experiment": result["experiment"],
        "dataset": result["dataset"],
        "class_names": list(result["class_names"]),
        "model": result["model"],
        "metrics": result["metrics"],
        "ci": result["metrics"].get("bootstrap"),
        "flip_tta": result["metrics"].get("flip_tta"),
        "reference": result.get("reference"),
        "uses": result.get("uses"),
        "comparison": result.get("comparison"),
        "readout": result.get("readout") or {"confusions": {"text": _NA}, "overfitting": {"text": _NA}},
        "run": result["run"],
        "training": result.get("training") or {},
        "tuning": result.get("tuning"),
        "analysis": result.get("analysis"),
        "distribution": result.get("distribution") or {"strategy": "none", "devices": 1, "processes": 1},
        "analysis_figures": _analysis_figures(result.get("analysis")),
        "mistakes_table": _mistakes_table(result.get("analysis")),
        "limitations": result.get("limitations") or [],
        "tradeoffs": result.get("tradeoffs") or [],
        "model_path": result.get("model_path") or f"{result['experiment']}.keras",
        "figures": [
            {"caption": FIGURE_CAPTIONS.get(k, k.replace("_", " ").capitalize()), "link": _figure_link(figures[k])}
            for k in ordered
        ],
        "layers_table": _layers_table(result["model"]),
        "metrics_table": _metrics_table(result["metrics"]),
        "per_class_table": _per_class_table(result["metrics"]["report"], result["class_names"]),
        "counts_table": _counts_table(result["dataset"]["counts"], result["class_names"]),
        "training_table": _training_table(result),
        "tuning_table": _tuning_table(result["tuning"]) if result.get("tuning") else "",
        "versions": _versions_text(result["run"]),
        "code_version": _code_text(result["run"]),
        "pct": _pct,
        "pct_range": _pct_range,
        "f3": _f3,
        "f3_range": _f3_range,
        "count": _int,
        "kv": _kv,
    }


def make_model_card(result: Mapping[str, Any]) -> ModelCard:
    """The run's card: ``ModelCard.from_template`` over :data:`TEMPLATE_PATH` with :func:`card_metadata`."""
    card = ModelCard.from_template(card_metadata(result), template_path=str(TEMPLATE_PATH), **card_context(result))
    card.content = re.sub(r"\n{3,}", "\n\n", card.content).rstrip() + "\n"  # blank lines left by template tags
    return card


def render_model_card(result: Mapping[str, Any]) -> str:
    """Markdown model card (YAML front matter, summary, then MODEL_CARD_SECTIONS)."""
    return str(make_model_card(result))


def write_model_card(result: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Render the card and write it atomically to ``path`` (normally ``<base>/model_cards/<exp>.md``)."""
    return atomic_write_text(path, render_model_card(result))
