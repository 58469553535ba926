"""Evaluate a classifier: predictions, accuracy, scikit-learn report, confusion matrix, overfitting read-out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score


def predict_labels(model: keras.Model, data: Any, verbose: str | int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and predicted labels of ``model`` on an unshuffled iterator or array."""
    probabilities = np.asarray(model.predict(data, verbose=verbose))
    return probabilities, probabilities.argmax(axis=1)


def true_labels(data: Any) -> np.ndarray:
    """Integer labels of an unshuffled iterator, in prediction order (``.classes`` or ``.y``)."""
    for attribute in ("classes", "y"):
        labels = getattr(data, attribute, None)
        if labels is not None:
            return np.asarray(labels).astype(int)
    raise TypeError(f"{type(data).__name__} exposes neither .classes nor .y; pass the labels explicitly")


def classification_summary(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    class_names: Sequence[str],
    scored_labels: Sequence[int] | None = None,
) -> dict:
    """Accuracy, macro/weighted F1, the scikit-learn report (dict and text) and the confusion matrix.

    ``scored_labels`` (class indices, default all) limits the report and the F1 averages to those
    classes (scikit-learn's ``labels=``), e.g. to the classes present in a test folder; accuracy and
    the confusion matrix (all classes) still count every prediction.
    """
    all_labels = list(range(len(class_names)))
    labels = all_labels if scored_labels is None else [int(label) for label in scored_labels]
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    common = {"labels": labels, "target_names": [class_names[i] for i in labels], "zero_division": 0}
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "num_test": int(len(y_true)),
        "report": classification_report(y_true, y_pred, output_dict=True, **common),
        "report_text": classification_report(y_true, y_pred, digits=3, **common),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=all_labels).tolist(),
    }


def evaluate_model(
    model: keras.Model,
    data: Any,
    class_names: Sequence[str],
    labels: Sequence[int] | None = None,
    scored_labels: Sequence[int] | None = None,
) -> dict:
    """Predict on ``data`` (unshuffled) and summarise with :func:`classification_summary`.

    ``labels`` are the true labels when ``data`` does not carry them; ``scored_labels`` as in
    :func:`classification_summary`.
    """
    y_true = true_labels(data) if labels is None else np.asarray(labels)
    _, y_pred = predict_labels(model, data)
    return classification_summary(y_true, y_pred, class_names, scored_labels)


def report_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """A scikit-learn ``output_dict`` report as a DataFrame (rows: classes, then averages)."""
    rows = {name: values for name, values in report.items() if isinstance(values, Mapping)}
    return pd.DataFrame(rows).T[["precision", "recall", "f1-score", "support"]]


def normalized_confusion(cm: Sequence[Sequence[int]]) -> np.ndarray:
    """Row-normalised confusion matrix (each true class sums to 1; empty rows stay 0)."""
    cm = np.asarray(cm, dtype=float)
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)


def top_confusions(cm: Sequence[Sequence[int]], class_names: Sequence[str], k: int = 3) -> pd.DataFrame:
    """The ``k`` most frequent off-diagonal (true, predicted) pairs with count and share of the true class."""
    counts, rates = np.asarray(cm), normalized_confusion(cm)
    pairs = [
        (class_names[i], class_names[j], int(counts[i, j]), float(rates[i, j]))
        for i in range(len(class_names))
        for j in range(len(class_names))
        if i != j and counts[i, j] > 0
    ]
    pairs.sort(key=lambda p: (p[2], p[3]), reverse=True)
    return pd.DataFrame(pairs[:k], columns=["true", "predicted", "count", "share_of_true"])


def overfitting_gap(history: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Final train/validation accuracy and loss and their gaps: positive gaps mean the model fits train better."""
    out = {"epochs": len(history.get("loss", []))}
    for metric in ("accuracy", "loss"):
        if history.get(metric) and history.get(f"val_{metric}"):
            train, val = float(history[metric][-1]), float(history[f"val_{metric}"][-1])
            out[f"train_{metric}"], out[f"val_{metric}"] = train, val
            out[f"{metric}_gap"] = train - val if metric == "accuracy" else val - train
    return out
